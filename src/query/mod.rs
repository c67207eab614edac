//! Queries across relations.
