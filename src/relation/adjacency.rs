//! A degree-adaptive adjacency list.
//!
//! Entries are `(node, back, payload)`: `node` is the neighbour's slot,
//! `back` the position of the mirror entry in the neighbour's list of the
//! other direction, and `payload` the through-table slot for custom through
//! tables (`()` for auto-created ones, so an entry is 8 bytes). Keeping
//! `back` makes removal O(1) from both ends without any search: the entry
//! at a known position is swap-removed, and the one entry that moved into
//! its place has its mirror's `back` fixed.
//!
//! The entries are stored column-wise: first every `node`, then every
//! `back`, then (custom throughs) every payload. A read of a row's
//! neighbours, the hot path, walks a plain `&[u32]` of nodes and touches
//! no `back`, which only writes read. A list's header is 64 bytes, one
//! cache line. It keeps 60 bytes of room inline: seven entries of an
//! auto-created through, five of a custom one, so rows with few links
//! allocate nothing. A list that outgrows that room keeps its entries in a
//! block of its junction's [`Pool`], whose chunks put the nodes of many
//! lists side by side, moving up the pool's size classes as it grows; past
//! 256 entries it gets a buffer of its own, with a column of `cap` words
//! each. A list that a removal leaves at a quarter of its room or less
//! gives room back ([`Adj::shrink`]): a pooled one moves down the classes,
//! a buffer is reallocated at twice its length (no less than its first
//! capacity), and one shorter than half of [`PROMOTE_AT`] returns to the
//! pool; an emptied list is inline again. Inline and near lists keep
//! their form. Either way, entry `p`'s column `c` is at
//! `words[c * stride + p]`, `stride` being the chunk's column length or
//! the buffer's capacity, so one code path reads and writes all forms,
//! but for the near form's nodes.
//!
//! A list that leaves the inline room keeps its nodes in its header, not
//! in its block's node column, until it first grows past [`NEAR_CAP`]
//! entries (the *near* form): a read of a row's neighbours, a search for
//! one, and so a `contains`, read the header's one line and nothing else,
//! where a pooled list's nodes are a second, dependent miss. An inline or
//! near header's node words past its length hold [`VACANT`], so a search
//! compares all of them at once instead of looping to a length it has
//! just loaded (see `docs/design.md`, tenth session). An auto-created
//! through's near list keeps the backs of its entries past the eighth in
//! its block's node column, which holds no nodes, so it stays in the
//! smallest class up to `NEAR_CAP` entries (see [`FOLD_AT`]).
//!
//! A pooled list (one that has grown past the near form, or a short
//! buffer given back to the pool), or a heap list
//! without a hash index, keeps a 64-bit filter of its nodes in its header
//! ([`filter_bit`]), so that searching it for a node it does not hold (a
//! `contains` miss, a `remove` of a pair that is not linked, the duplicate
//! check of a new link) usually reads the header alone.
//!
//! Finding a neighbour by value is a linear scan while the list is short.
//! A list longer than [`PROMOTE_AT`] keeps a hash table of its positions
//! (hashed by the node stored at each position, so no second copy of the
//! node), making `find` O(1) at any degree. The table is built lazily, the
//! first time a write has to search the list while it is long
//! ([`Adj::promote_if_long`]; a long list in a pool block moves to a buffer
//! of its own first, since only that form has room for the table's
//! pointer): the junction always searches the *shorter*
//! of the two lists of a pair and removes by position, so the long list of
//! a hub (or of every group in a users/groups relation) is normally never
//! searched and never pays the table's memory or its upkeep on `push`. It
//! is dropped again below `PROMOTE_AT / 2`, so a list at the threshold does
//! not flip. See `docs/design.md` for the measurements behind the numbers.

use std::marker::PhantomData;

use hashbrown::HashTable;
use smallvec::SmallVec;

use super::pool::{Block, Pool, POOL_CAPS};

/// The degree past which a list keeps a hash index of its positions.
pub(crate) const PROMOTE_AT: usize = 32;

/// One adjacency entry, as read from or written to a list (lists store the
/// fields column-wise; see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry<P> {
    /// The neighbour's slot.
    pub(crate) node: u32,
    /// The position of the mirror entry in the neighbour's list.
    pub(crate) back: u32,
    /// The through-table slot (custom through tables) or `()`.
    pub(crate) payload: P,
}

/// What an entry carries besides its node and back position: nothing for
/// auto-created throughs, the through row's slot for custom ones.
pub(crate) trait Payload: Copy + std::fmt::Debug + PartialEq {
    /// Words (`u32`s) per entry in a list's entries (inline, block or
    /// buffer): node, back, payload.
    const WIDTH: usize;
    /// The payload stored as `word`.
    fn from_word(word: u32) -> Self;
    /// The word that stores the payload.
    fn to_word(self) -> u32;
}

/// Auto-created through tables: node and back only.
impl Payload for () {
    const WIDTH: usize = 2;
    #[inline(always)]
    fn from_word(_: u32) -> Self {}
    #[inline(always)]
    fn to_word(self) -> u32 {
        0
    }
}

/// Custom through tables: the through row's slot is the third word.
impl Payload for u32 {
    const WIDTH: usize = 3;
    #[inline(always)]
    fn from_word(word: u32) -> Self {
        word
    }
    #[inline(always)]
    fn to_word(self) -> u32 {
        self
    }
}

/// Words of entries kept inline in the header: all the header's 64 bytes
/// but the enum's tag and the length.
const INLINE_WORDS: usize = 15;

/// The most nodes a [`Store::Near`] header holds: all its 64 bytes but the
/// enum's tag, the class, the length and the block.
const NEAR_CAP: usize = 13;

/// What an inline or near header holds in its node words past its length:
/// no slot is this (slots are below `MAX_SLOTS`), so a search compares
/// every node word of the header, a fixed-size compare the compiler
/// vectorizes without a loop, instead of a scan to a length loaded with
/// the header (callgrind, peers `contains` at size S: 83.1 -> 52.2
/// instructions per probe; see `docs/design.md`).
const VACANT: u32 = u32::MAX;
const _: () = assert!(crate::storage::MAX_SLOTS <= VACANT as usize);
// `padded_position`'s mask has a bit per node word.
const _: () = assert!(NEAR_CAP <= 32 && INLINE_WORDS / 2 <= 32);

/// Where a list's entries are (see the module docs).
///
/// Only a heap form has room for the hash index of positions (a long
/// pooled list is moved to one to get it); the inline and near forms use
/// those bytes for entries or nodes. A pooled or heap list without an
/// index uses them for a filter of its nodes instead (see [`filter_bit`]),
/// so that a search for a node it does not hold usually ends at the
/// header, without loading the entries.
#[derive(Clone, Debug)]
enum Store {
    Inline {
        len: u8,
        words: [u32; INLINE_WORDS],
    },
    /// A short pooled list (1 to [`NEAR_CAP`] entries, never empty) whose
    /// nodes are in its header: `nodes[..len]`, and `nodes[len..]` are
    /// [`VACANT`]. Its block, of class `class`, holds the other columns
    /// (backs, payloads). An auto-created through's list keeps its class
    /// 0 block up to `NEAR_CAP` entries and the backs past the eighth in
    /// the block's node column (see [`FOLD_AT`]); a custom through's does
    /// not use that column, and fills it when the list becomes a plain
    /// pooled one in the same block. A read of the nodes, or a search for
    /// one, reads the header alone, and a write touches the header and
    /// the block's back words, not a third line.
    Near {
        class: u8,
        len: u8,
        block: Block,
        nodes: [u32; NEAR_CAP],
    },
    /// A block of class `class` (an index into [`POOL_CAPS`]) of the
    /// junction's pool. `filter` has the bit of every node, and exactly
    /// those bits while the list is at most [`FILTER_REFRESH`] long (a
    /// removal that leaves it that short recomputes it). A list longer
    /// than [`PROMOTE_AT`] is *long*: it is not scanned for a node (see
    /// [`Adj::find_short`]), and a write that must search it first moves
    /// it to an indexed buffer ([`Adj::promote_if_long`]).
    Pooled {
        class: u8,
        len: u32,
        block: Block,
        filter: u64,
    },
    /// `filter` has the bit of every node in the list (and may have more).
    Heap {
        len: u32,
        words: Box<[u32]>,
        filter: u64,
    },
    Indexed {
        len: u32,
        words: Box<[u32]>,
        index: Box<HashTable<u32>>,
    },
}

impl Default for Store {
    fn default() -> Self {
        Store::Inline { len: 0, words: [VACANT; INLINE_WORDS] }
    }
}

/// An adjacency list; see the module docs.
///
/// Aligned to its 64 bytes so that a header is exactly one cache line in
/// the `Vec` of a junction's lists: a read of a random row's neighbours
/// then misses on one line for the header, not two. (When headers were 32
/// bytes, aligning them took callgrind's cache simulation of `forward` at
/// size S from 3.86 first-level data misses per read to 3.32; see
/// `docs/design.md`.)
///
/// A pooled list's entries are in its junction's pool: every method that
/// reads or writes entries takes that pool. A clone of a pooled list names
/// the same block, so lists are cloned only with their pool (a whole
/// `Junction`).
#[derive(Clone, Debug)]
#[repr(align(64))]
pub(crate) struct Adj<P: Payload> {
    store: Store,
    payload: PhantomData<P>,
}

const _: () = assert!(std::mem::size_of::<Adj<()>>() == 64);
const _: () = assert!(std::mem::size_of::<Adj<u32>>() == 64);
// A list leaving the inline form fits the near form; one outgrowing the
// near form still fits the pool.
const _: () = assert!(INLINE_WORDS / 2 < NEAR_CAP && NEAR_CAP < POOL_CAPS[POOL_CAPS.len() - 1] as usize);
const _: () = assert!(POOL_CAPS[0] as usize > INLINE_WORDS / 2);
// The short pooled lists are those of the first five classes.
const _: () = assert!(POOL_CAPS[4] as usize == PROMOTE_AT);

impl<P: Payload> Default for Adj<P> {
    fn default() -> Self {
        Adj { store: Store::default(), payload: PhantomData }
    }
}

/// The entry at `pos` of the entries starting at `words`, whose columns are
/// `stride` words apart (an inline or heap list's capacity, a pool chunk's
/// column length).
#[inline(always)]
fn read_entry<P: Payload>(words: &[u32], stride: usize, pos: usize) -> Entry<P> {
    let payload = if P::WIDTH < 3 { 0 } else { words[2 * stride + pos] };
    Entry { node: words[pos], back: words[stride + pos], payload: P::from_word(payload) }
}

/// The entry at `pos` of a near list's block (`words`, columns `stride`
/// apart) whose node, `node`, is in the header: the block's node column is
/// read only for a folded back (see [`near_back_word`]).
#[inline(always)]
fn read_near<P: Payload>(words: &[u32], stride: usize, pos: usize, node: u32) -> Entry<P> {
    let payload = if P::WIDTH < 3 { 0 } else { words[2 * stride + pos] };
    Entry { node, back: words[near_back_word::<P>(stride, pos)], payload: P::from_word(payload) }
}

/// The entries of an auto-created through's near list whose backs are in
/// its block's back column; the backs of the entries after them are
/// *folded* into the block's node column, which the near form does not
/// otherwise use: entry `FOLD_AT + i`'s back is node word `i`. So the
/// smallest class holds a near list of any length up to [`NEAR_CAP`]: a
/// row with 9 to 13 links keeps a block of 64 bytes, not one of 96 or 128
/// of the next classes, and leaves no freed block of the smallest class
/// behind when it passes 8 links. The peers size L (rows of 10 links)
/// grew the resident set by 23.33 bytes per link, against 24.15. That is
/// less than the blocks' sizes predict (3.2 bytes): before, a near list
/// never wrote its node column, and the pages of a zeroed chunk that
/// nothing writes need not become resident (see `docs/design.md`,
/// fourteenth session). A custom
/// through's near list has a payload column too, which does not leave the
/// node column room for its entries' rest, so it does not fold: it moves
/// up the classes.
const FOLD_AT: usize = POOL_CAPS[0] as usize;
const _: () = assert!(NEAR_CAP <= 2 * FOLD_AT);

/// The class a full near list that folds moves to when it becomes a plain
/// pooled one: the first with room past [`NEAR_CAP`] (where a near list
/// that does not fold already is).
const UNFOLDED_CLASS: u8 = 2;
const _: () = assert!(POOL_CAPS[UNFOLDED_CLASS as usize - 1] as usize <= NEAR_CAP);
const _: () = assert!(POOL_CAPS[UNFOLDED_CLASS as usize] as usize > NEAR_CAP);

/// Whether near lists of this payload fold their backs (see [`FOLD_AT`]).
const fn folds<P: Payload>() -> bool {
    P::WIDTH == 2
}

/// The word of a near list's block (columns `stride` apart) that holds the
/// back of entry `pos`: in the back column, or, past [`FOLD_AT`] entries
/// of a folding list, in the node column. O(1), without a branch.
#[inline(always)]
fn near_back_word<P: Payload>(stride: usize, pos: usize) -> usize {
    if folds::<P>() {
        pos.wrapping_add(if pos < FOLD_AT { stride } else { FOLD_AT.wrapping_neg() })
    } else {
        stride + pos
    }
}

/// Reads the backs of a near list's first `to.len()` entries, in order,
/// from its block (`words`, columns `stride` apart) into `to`, wherever
/// [`near_back_word`] keeps them. O(`to.len()`).
fn read_near_backs<P: Payload>(words: &[u32], stride: usize, to: &mut [u32]) {
    for (p, back) in to.iter_mut().enumerate() {
        *back = words[near_back_word::<P>(stride, p)];
    }
}

/// The word of a list's entries (columns `stride` apart, as `Adj::raw`
/// gives them) that holds the back of entry `pos`: where
/// [`near_back_word`] says for a near list (`near`), else in the back
/// column.
#[inline(always)]
fn back_word<P: Payload>(near: bool, stride: usize, pos: usize) -> usize {
    if near {
        near_back_word::<P>(stride, pos)
    } else {
        stride + pos
    }
}

/// The entries a near list's block of class `class` has room for: twice
/// the class's capacity when the list folds (see [`FOLD_AT`]), at most
/// [`NEAR_CAP`].
fn near_room<P: Payload>(class: u8) -> usize {
    let cap = POOL_CAPS[usize::from(class)] as usize;
    NEAR_CAP.min(if folds::<P>() { 2 * cap } else { cap })
}

/// Writes `entry` at `pos` of the entries starting at `words`, whose
/// columns are `stride` words apart.
#[inline(always)]
fn write_entry<P: Payload>(words: &mut [u32], stride: usize, pos: usize, entry: Entry<P>) {
    words[pos] = entry.node;
    words[stride + pos] = entry.back;
    if P::WIDTH >= 3 {
        words[2 * stride + pos] = entry.payload.to_word();
    }
}

/// [`write_entry`] but for the node, into a near list's block: the back
/// (folded past [`FOLD_AT`]) and the payload (a near list keeps its nodes
/// in its header).
#[inline(always)]
fn write_near<P: Payload>(words: &mut [u32], stride: usize, pos: usize, entry: Entry<P>) {
    words[near_back_word::<P>(stride, pos)] = entry.back;
    if P::WIDTH >= 3 {
        words[2 * stride + pos] = entry.payload.to_word();
    }
}

/// Moves the entry at `last` (the last of the entries starting at `words`,
/// whose columns are `stride` words apart) to `pos`, unless `pos` is the
/// last; returns the entry moved.
#[inline(always)]
fn move_last<P: Payload>(words: &mut [u32], stride: usize, pos: u32, last: u32) -> Option<Entry<P>> {
    (last != pos).then(|| {
        let m = read_entry::<P>(words, stride, last as usize);
        write_entry(words, stride, pos as usize, m);
        m
    })
}

/// [`move_last`] for a list whose length `len` and superset `filter` live
/// beside its words (the pooled and heap forms): the length drops by one,
/// and the filter is recomputed from the nodes left when they are few
/// enough to scan (a long list's filter stays a superset). Returns the
/// entry moved and the old last position.
#[inline(always)]
fn pop_into_filtered<P: Payload>(
    words: &mut [u32],
    stride: usize,
    len: &mut u32,
    filter: &mut u64,
    pos: u32,
) -> (Option<Entry<P>>, u32) {
    let last = *len - 1;
    let moved = move_last::<P>(words, stride, pos, last);
    *len = last;
    if (last as usize) <= FILTER_REFRESH {
        *filter = filter_of(&words[..last as usize]);
    }
    (moved, last)
}

/// The position of `node` among `nodes`, looked up in their hash index of
/// positions. O(1) expected.
#[inline(always)]
fn probe(index: &HashTable<u32>, nodes: &[u32], node: u32) -> Option<u32> {
    index.find(node_hash(node), |&p| nodes[p as usize] == node).copied()
}

/// Whether `nodes` holds `node`: a scan to the end with no branch on where
/// the match is, which the compiler vectorizes (see `docs/design.md`,
/// "the branch-free scan again"). O(len).
#[inline(always)]
fn holds(nodes: &[u32], node: u32) -> bool {
    nodes.iter().fold(false, |hit, &n| hit | (n == node))
}

/// Whether the node words of an inline or near header (`nodes`, of a
/// constant length) hold `node`: every word compared, the [`VACANT`] ones
/// past the length included, which only `VACANT` itself (an id past every
/// slot, as `identity_slot` may give) could match. O(1).
#[inline(always)]
fn padded_holds(nodes: &[u32], node: u32) -> bool {
    (node != VACANT) & holds(nodes, node)
}

/// The position of `node` among the node words of an inline or near header
/// (`nodes`, of a constant length, at most 32), as [`padded_holds`]: the
/// matching words as a bit mask, built without a branch per word, and its
/// lowest bit. O(1).
#[inline(always)]
fn padded_position(nodes: &[u32], node: u32) -> Option<u32> {
    debug_assert!(nodes.len() <= 32);
    let hits = nodes.iter().enumerate().fold(0u32, |hits, (p, &n)| hits | (u32::from(n == node) << p));
    (hits != 0 && node != VACANT).then(|| hits.trailing_zeros())
}

/// A cheap, well-mixed hash of a slot (a multiply, then the high half
/// folded into the low half, which hashbrown uses for the bucket).
fn node_hash(node: u32) -> u64 {
    let h = u64::from(node).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^ (h >> 29)
}

/// The bit of `node` in a pooled or heap list's 64-bit filter: one of 64,
/// picked by the top six bits of a multiplicative hash. With `n` distinct
/// nodes in a list, a node it does not hold finds its bit set with
/// probability `1 - (63/64)^n`: 12% at 8 entries, 40% at 32. Only a clear
/// bit is an answer (the node is not there); a set bit sends the search on
/// to the entries (block or buffer).
#[inline(always)]
fn filter_bit(node: u32) -> u64 {
    1 << (node.wrapping_mul(0x9E37_79B1) >> 26)
}

/// Whether `filter` lets `node` through: `false` proves the list does not
/// hold it. O(1).
#[inline(always)]
fn admits(filter: u64, node: u32) -> bool {
    filter & filter_bit(node) != 0
}

/// The filter of `nodes`: the union of their bits. O(len).
fn filter_of(nodes: &[u32]) -> u64 {
    nodes.iter().fold(0, |filter, &n| filter | filter_bit(n))
}

/// The capacity of a list's buffer of its own once it outgrows `cap`
/// entries (the pool's largest class, or its buffer's capacity): half as
/// much again, rounded up to 16 entries (see [`Adj::grow`]).
fn grown_capacity(cap: usize) -> usize {
    (cap + cap / 2).next_multiple_of(16)
}

/// The capacity of a list's first buffer of its own, grown from the
/// pool's largest class: the least a shrinking buffer keeps (see
/// [`Adj::shrink`]).
const HEAP_FIRST_CAP: usize = (POOL_CAPS[POOL_CAPS.len() - 1] as usize * 3 / 2).next_multiple_of(16);

/// Whether a pooled list of class `class` holding `len` entries should
/// move down a class (see `Adj::shrink`). O(1).
#[inline(always)]
fn pooled_sparse(class: u8, len: u32) -> bool {
    class > 0 && len as usize * 4 <= POOL_CAPS[usize::from(class)] as usize
}

/// Whether a buffer with room for `cap` entries holding `len` should give
/// room back (see `Adj::shrink`): shorter than half of [`PROMOTE_AT`]
/// (back to the pool), or larger than [`HEAP_FIRST_CAP`] and at a quarter
/// of its room or less (reallocated). An indexed list that short has
/// just been demoted. O(1).
#[inline(always)]
fn heap_sparse(len: u32, cap: usize) -> bool {
    (len as usize) < PROMOTE_AT / 2 || (cap > HEAP_FIRST_CAP && len as usize * 4 <= cap)
}

/// The class of the smallest pool block with room for `n` entries (the
/// largest class for more). O(classes).
fn class_for(n: usize) -> usize {
    POOL_CAPS.iter().position(|&cap| cap as usize >= n).unwrap_or(POOL_CAPS.len() - 1)
}

/// Lists this short (or shorter) recompute their filter on a removal, so
/// that it stays exact; longer ones keep the removed node's bit (a
/// superset is still a correct filter), since recomputing would read their
/// whole node column. Two cache lines of nodes.
const FILTER_REFRESH: usize = 32;

impl<P: Payload> Adj<P> {
    /// Entries the header holds inline.
    const INLINE_CAP: usize = INLINE_WORDS / P::WIDTH;

    /// The words from the list's first entry on, the number of entries,
    /// and the column stride (entry `p`'s column `c` is at
    /// `[c * stride + p]`). One match on the store. A near list's node
    /// column there is not its nodes (they are in the header), and its
    /// backs are where [`near_back_word`] says.
    #[inline(always)]
    fn raw<'a>(&'a self, pool: &'a Pool<P>) -> (&'a [u32], usize, usize) {
        match &self.store {
            Store::Inline { len, words } => (words, usize::from(*len), Self::INLINE_CAP),
            Store::Near { len, block, .. } => {
                let (words, stride) = pool.words(*block);
                (words, usize::from(*len), stride)
            }
            Store::Pooled { len, block, .. } => {
                let (words, stride) = pool.words(*block);
                (words, *len as usize, stride)
            }
            Store::Heap { len, words, .. } | Store::Indexed { len, words, .. } => {
                (words, *len as usize, words.len() / P::WIDTH)
            }
        }
    }

    /// [`raw`](Self::raw), mutably.
    #[inline(always)]
    fn raw_mut<'a>(&'a mut self, pool: &'a mut Pool<P>) -> (&'a mut [u32], usize, usize) {
        match &mut self.store {
            Store::Inline { len, words } => (words, usize::from(*len), Self::INLINE_CAP),
            Store::Near { len, block, .. } => {
                let (words, stride) = pool.words_mut(*block);
                (words, usize::from(*len), stride)
            }
            Store::Pooled { len, block, .. } => {
                let (words, stride) = pool.words_mut(*block);
                (words, *len as usize, stride)
            }
            Store::Heap { len, words, .. } | Store::Indexed { len, words, .. } => {
                let stride = words.len() / P::WIDTH;
                (words, *len as usize, stride)
            }
        }
    }

    /// The entries the list has room for before it must grow.
    fn capacity(&self) -> usize {
        match &self.store {
            Store::Inline { .. } => Self::INLINE_CAP,
            Store::Near { class, .. } => near_room::<P>(*class),
            Store::Pooled { class, .. } => POOL_CAPS[usize::from(*class)] as usize,
            Store::Heap { words, .. } | Store::Indexed { words, .. } => words.len() / P::WIDTH,
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        match &self.store {
            Store::Inline { len, .. } | Store::Near { len, .. } => usize::from(*len),
            Store::Pooled { len, .. } | Store::Heap { len, .. } | Store::Indexed { len, .. } => *len as usize,
        }
    }

    /// The neighbours' slots, in list order. O(1).
    #[inline(always)]
    pub(crate) fn nodes<'a>(&'a self, pool: &'a Pool<P>) -> &'a [u32] {
        match &self.store {
            Store::Inline { len, words } => &words[..usize::from(*len)],
            Store::Near { len, nodes, .. } => &nodes[..usize::from(*len)],
            Store::Pooled { len, block, .. } => pool.nodes(*block, *len),
            Store::Heap { len, words, .. } | Store::Indexed { len, words, .. } => &words[..*len as usize],
        }
    }

    /// The nodes of a list out of its inline room (never empty: a near
    /// list's from its header, a pooled, heap or indexed list's from its
    /// entries), `None` for an inline list (which may be empty, and the
    /// read path must tell that from a missing row). O(1). The read path's
    /// own [`nodes`](Self::nodes): one match over every form inlined into
    /// `Relation::ids` became a jump table that the whole read waited on,
    /// and its registers spilled the ids iterator to the stack. The heap
    /// forms are answered here too, not by the out-of-line general path
    /// (callgrind, peers `reverse` at size S, where groups' lists are on
    /// the heap: 563.7 -> 514.7 instructions per read).
    #[inline(always)]
    pub(crate) fn listed_nodes<'a>(&'a self, pool: &'a Pool<P>) -> Option<&'a [u32]> {
        match &self.store {
            Store::Near { len, nodes, .. } => Some(&nodes[..usize::from(*len)]),
            Store::Pooled { len, block, .. } => Some(pool.nodes(*block, *len)),
            Store::Heap { len, words, .. } | Store::Indexed { len, words, .. } => Some(&words[..*len as usize]),
            Store::Inline { .. } => None,
        }
    }

    /// The payload words, in list order (empty for auto-created throughs).
    /// O(1).
    pub(crate) fn payload_words<'a>(&'a self, pool: &'a Pool<P>) -> &'a [u32] {
        if P::WIDTH < 3 {
            return &[];
        }
        let (words, len, stride) = self.raw(pool);
        &words[2 * stride..2 * stride + len]
    }

    /// The entry at `pos`, which must be below `len`. O(1).
    #[inline]
    pub(crate) fn entry(&self, pos: u32, pool: &Pool<P>) -> Entry<P> {
        let (words, _, stride) = self.raw(pool);
        match &self.store {
            Store::Near { nodes, .. } => read_near(words, stride, pos as usize, nodes[pos as usize]),
            _ => read_entry(words, stride, pos as usize),
        }
    }

    /// The last entry, `None` when the list is empty. O(1).
    #[inline]
    pub(crate) fn last(&self, pool: &Pool<P>) -> Option<Entry<P>> {
        self.get(self.len().checked_sub(1)? as u32, pool)
    }

    /// The entry at `pos`, `None` past the end. O(1).
    #[inline]
    pub(crate) fn get(&self, pos: u32, pool: &Pool<P>) -> Option<Entry<P>> {
        ((pos as usize) < self.len()).then(|| self.entry(pos, pool))
    }

    /// The mirror position stored at `pos`. O(1).
    #[inline]
    pub(crate) fn back(&self, pos: u32, pool: &Pool<P>) -> u32 {
        let near = matches!(self.store, Store::Near { .. });
        let (words, _, stride) = self.raw(pool);
        words[back_word::<P>(near, stride, pos as usize)]
    }

    #[inline]
    pub(crate) fn is_indexed(&self) -> bool {
        matches!(self.store, Store::Indexed { .. })
    }

    /// For `Junction::warm_unlink`: reads a pooled list's first and last
    /// back, so that the line a removal reads after searching the nodes
    /// (the pool keeps backs apart from nodes) is loading meanwhile; 0 for
    /// other forms, whose backs are in the header or too far apart to
    /// guess. O(1).
    #[inline(always)]
    pub(crate) fn warm_backs(&self, pool: &Pool<P>) -> u32 {
        match self.store {
            Store::Near { len, block, .. } if len > 0 => {
                let (words, stride) = pool.words(block);
                words[stride] ^ words[near_back_word::<P>(stride, usize::from(len) - 1)]
            }
            Store::Pooled { len, block, .. } if len > 0 => {
                let (words, stride) = pool.words(block);
                words[stride] ^ words[stride + len as usize - 1]
            }
            _ => 0,
        }
    }

    /// The pool block the list holds, with its class, if it is pooled.
    pub(crate) fn pooled_block(&self) -> Option<(usize, Block)> {
        match self.store {
            Store::Near { class, block, .. } | Store::Pooled { class, block, .. } => Some((usize::from(class), block)),
            _ => None,
        }
    }

    /// Sets the mirror position stored at `pos`. Inlined: the removal
    /// path's fix-ups call it twice, and as a call it cost a removal 16
    /// more instructions (callgrind, peers `remove` at size S). O(1).
    #[inline(always)]
    pub(crate) fn set_back(&mut self, pos: u32, back: u32, pool: &mut Pool<P>) {
        let near = matches!(self.store, Store::Near { .. });
        let (words, _, stride) = self.raw_mut(pool);
        words[back_word::<P>(near, stride, pos as usize)] = back;
    }

    /// Writes `entry` at `pos` (below the capacity, and below the length
    /// of a near list), leaving `len` and the index alone; a filtered list
    /// gets the node's bit, a near list's header the node.
    fn write(&mut self, pos: usize, entry: Entry<P>, pool: &mut Pool<P>) {
        debug_assert_ne!(entry.node, VACANT, "a slot is below MAX_SLOTS");
        match &mut self.store {
            Store::Pooled { filter, .. } | Store::Heap { filter, .. } => *filter |= filter_bit(entry.node),
            Store::Near { nodes, block, .. } => {
                nodes[pos] = entry.node;
                let (words, stride) = pool.words_mut(*block);
                write_near(words, stride, pos, entry);
                return;
            }
            Store::Inline { .. } | Store::Indexed { .. } => {}
        }
        let (words, _, stride) = self.raw_mut(pool);
        write_entry(words, stride, pos, entry);
    }

    /// Makes room for more entries: the inline form moves to the pool's
    /// smallest class as a near list, a pooled list (or a near one that
    /// does not fold) to the next class (its block goes back to the pool),
    /// a near list holding [`NEAR_CAP`] entries becomes a plain pooled one
    /// (in the same block, or, if it folds, in one of [`UNFOLDED_CLASS`],
    /// its backs unfolded), and past the
    /// largest class a list moves to a buffer of its own of 1.5 times that
    /// capacity, which then grows by half again each time (rounded up to
    /// 16 entries), with `realloc` (which may extend it in place). Growth
    /// by half rather than double took the memory of the peers size L
    /// (groups of about 500, which passed 512 a third of the time and then
    /// held 1024) from 25.8 to 24.2 bytes per link. The words past a
    /// column's entries are never read. O(new capacity), amortized O(1)
    /// per entry.
    #[cold]
    fn grow(&mut self, pool: &mut Pool<P>) {
        let (len, cap) = (self.len(), self.capacity());
        // A near list's block copies from its back column on: its node
        // column is not read or written (a near list that folds never
        // moves up a class).
        let first_column = usize::from(matches!(self.store, Store::Near { .. }));
        // Each arm changes the list in place, or writes a new store over
        // it; none moves the 64-byte store out and back.
        match &mut self.store {
            Store::Inline { words, .. } => {
                let block = pool.alloc(0);
                let (to, stride) = pool.words_mut(block);
                // The whole inline room, a constant size: no `memcpy` call.
                // The nodes go to the header, not the block.
                for column in 1..P::WIDTH {
                    let from = &words[column * Self::INLINE_CAP..][..Self::INLINE_CAP];
                    to[column * stride..][..Self::INLINE_CAP].copy_from_slice(from);
                }
                let mut nodes = [VACANT; NEAR_CAP];
                nodes[..len].copy_from_slice(&words[..len]);
                self.store = Store::Near { class: 0, len: len as u8, block, nodes };
            }
            Store::Near { class, len: n, block, nodes } if usize::from(*n) == NEAR_CAP => {
                if folds::<P>() {
                    (*class, *block) = (UNFOLDED_CLASS, Self::unfold(*class, *block, pool));
                }
                pool.words_mut(*block).0[..NEAR_CAP].copy_from_slice(&nodes[..]);
                let filter = filter_of(&nodes[..]);
                self.store = Store::Pooled { class: *class, len: u32::from(*n), block: *block, filter };
            }
            Store::Near { class, block, .. } | Store::Pooled { class, block, .. }
                if usize::from(*class) + 1 < POOL_CAPS.len() =>
            {
                debug_assert!(first_column == 0 || !folds::<P>(), "a folding near list stays in class 0");
                let next = pool.alloc(usize::from(*class) + 1);
                pool.copy(*block, next, usize::from(*class), first_column);
                pool.release(usize::from(*class), *block);
                (*class, *block) = (*class + 1, next);
            }
            Store::Near { .. } | Store::Pooled { .. } => self.move_to_heap(grown_capacity(cap), pool),
            Store::Heap { words, .. } | Store::Indexed { words, .. } => {
                let new_cap = grown_capacity(cap);
                let mut grown = Adj::<P>::reserved(std::mem::take(words), new_cap);
                grown.resize(new_cap * P::WIDTH, 0);
                for column in (1..P::WIDTH).rev() {
                    grown.copy_within(column * cap..column * cap + len, column * new_cap);
                }
                *words = grown.into_boxed_slice();
            }
        }
    }

    /// Copies the backs of a full near list that folds, from its block of
    /// class `class`, to the back column of a new block of
    /// [`UNFOLDED_CLASS`]; gives the old block back and returns the new
    /// one. O(`NEAR_CAP`).
    fn unfold(class: u8, from: Block, pool: &mut Pool<P>) -> Block {
        let to = pool.alloc(usize::from(UNFOLDED_CLASS));
        let (words, stride) = pool.words(from);
        let mut backs = [0; NEAR_CAP];
        read_near_backs::<P>(words, stride, &mut backs);
        let (words, stride) = pool.words_mut(to);
        words[stride..][..NEAR_CAP].copy_from_slice(&backs);
        pool.release(usize::from(class), from);
        to
    }

    /// Moves a near or pooled list's entries into a buffer of its own with
    /// room for `cap` entries (at least its length) and gives its block
    /// back; the filter is recomputed, so it is exact again. Any other
    /// form is left as it is. O(cap).
    fn move_to_heap(&mut self, cap: usize, pool: &mut Pool<P>) {
        let (class, block) = match self.store {
            Store::Near { class, block, .. } | Store::Pooled { class, block, .. } => (usize::from(class), block),
            _ => return,
        };
        let (len, near) = (self.len(), matches!(self.store, Store::Near { .. }));
        let mut heap = vec![0; cap * P::WIDTH];
        heap[..len].copy_from_slice(self.nodes(pool));
        let (from, stride) = pool.words(block);
        for column in 1..P::WIDTH {
            if column == 1 && near {
                read_near_backs::<P>(from, stride, &mut heap[cap..][..len]);
            } else {
                heap[column * cap..][..len].copy_from_slice(&from[column * stride..][..len]);
            }
        }
        let filter = filter_of(&heap[..len]);
        pool.release(class, block);
        self.store = Store::Heap { len: len as u32, words: heap.into_boxed_slice(), filter };
    }

    /// A heap buffer as a `Vec` with room for `cap` entries.
    fn reserved(words: Box<[u32]>, cap: usize) -> Vec<u32> {
        let mut heap = words.into_vec();
        heap.reserve_exact(cap * P::WIDTH - heap.len());
        heap
    }

    /// Gives a pooled list's block back to the pool and empties the list.
    /// O(1).
    pub(crate) fn release(&mut self, pool: &mut Pool<P>) {
        if let Store::Near { class, block, .. } | Store::Pooled { class, block, .. } = self.store {
            pool.release(usize::from(class), block);
        }
        self.store = Store::default();
    }

    /// Appends `entry` without touching the index; returns its position.
    /// O(1) amortized.
    fn push_raw(&mut self, entry: Entry<P>, pool: &mut Pool<P>) -> usize {
        self.append(entry, false, pool)
    }

    /// A position holding `node`. O(1) expected when indexed, else a scan
    /// (O(len); lists longer than `PROMOTE_AT` get an index the first time
    /// a write searches them).
    #[inline(always)]
    pub(crate) fn find(&self, node: u32, pool: &Pool<P>) -> Option<u32> {
        if let Some(found) = self.find_short(node, pool) {
            return found;
        }
        let nodes = match &self.store {
            Store::Indexed { len, words, index } => return probe(index, &words[..*len as usize], node),
            Store::Heap { filter, .. } if !admits(*filter, node) => return None,
            _ => self.nodes(pool),
        };
        nodes.iter().position(|&n| n == node).map(|p| p as u32)
    }

    /// [`find`](Self::find) for a short list (inline, near, or pooled and
    /// no longer than `PROMOTE_AT`: a search of the pair searches this
    /// list), and for a pooled list whose filter rules the node out;
    /// `None` for the other forms. One match on the store, where a
    /// write's search went through three (the length, whether indexed,
    /// then the search): callgrind, the peers `friends_add` load at
    /// 1,552M -> 1,498M instructions.
    #[inline(always)]
    pub(crate) fn find_short(&self, node: u32, pool: &Pool<P>) -> Option<Option<u32>> {
        match &self.store {
            Store::Inline { words, .. } => Some(padded_position(&words[..Self::INLINE_CAP], node)),
            Store::Near { nodes, .. } => Some(padded_position(nodes, node)),
            Store::Pooled { filter, .. } if !admits(*filter, node) => Some(None),
            Store::Pooled { len, block, .. } if *len as usize <= PROMOTE_AT => {
                Some(pool.nodes(*block, *len).iter().position(|&n| n == node).map(|p| p as u32))
            }
            Store::Pooled { .. } | Store::Heap { .. } | Store::Indexed { .. } => None,
        }
    }

    /// Whether some entry holds `node`: `find` without the position, which
    /// lets an unindexed list be scanned without a branch per entry (the
    /// compiler vectorizes the scan). [`contains_if_cheap`]'s answer, and
    /// for the one list it leaves open (long, unindexed, its filter
    /// letting the node through) a scan of every node. O(1) expected when
    /// indexed, else O(len), as `find`.
    ///
    /// [`contains_if_cheap`]: Self::contains_if_cheap
    #[inline(always)]
    pub(crate) fn contains(&self, node: u32, pool: &Pool<P>) -> bool {
        self.contains_if_cheap(node, pool).unwrap_or_else(|| holds(self.nodes(pool), node))
    }

    /// Whether the list may hold `node`: `false` only when the filter rules
    /// it out, or an inline or near list's nodes do not have it. Reads the
    /// header alone. O(1).
    #[inline(always)]
    pub(crate) fn might_hold(&self, node: u32) -> bool {
        match &self.store {
            Store::Inline { words, .. } => padded_holds(&words[..Self::INLINE_CAP], node),
            Store::Near { nodes, .. } => padded_holds(nodes, node),
            Store::Pooled { filter, .. } | Store::Heap { filter, .. } => admits(*filter, node),
            Store::Indexed { .. } => true,
        }
    }

    /// Whether some entry holds `node`, when this list alone answers it
    /// cheaply: it is short (a scan), indexed (a probe), or its filter
    /// rules the node out. `None` for a long list without an index whose
    /// filter cannot tell, whose caller may look in the other list of the
    /// pair instead. The short forms (inline, near, pooled up to
    /// `PROMOTE_AT`) inline, the others out of line. O(1) expected.
    #[inline(always)]
    pub(crate) fn contains_if_cheap(&self, node: u32, pool: &Pool<P>) -> Option<bool> {
        match self.short_contains(node, pool) {
            Some(hit) => Some(hit),
            None => self.contains_if_cheap_buffered(node, pool),
        }
    }

    /// Whether a short list (inline, near, or pooled and no longer than
    /// `PROMOTE_AT`) holds `node`; `None` for the other forms. The common
    /// case of [`contains_if_cheap`](Self::contains_if_cheap), inline,
    /// where one match over every form was a jump table (the peers `contains` at
    /// size S: 88.6 -> 85.7 instructions per probe).
    #[inline(always)]
    pub(crate) fn short_contains(&self, node: u32, pool: &Pool<P>) -> Option<bool> {
        match &self.store {
            Store::Inline { words, .. } => Some(padded_holds(&words[..Self::INLINE_CAP], node)),
            Store::Near { nodes, .. } => Some(padded_holds(nodes, node)),
            Store::Pooled { len, block, filter, .. } if *len as usize <= PROMOTE_AT => {
                Some(admits(*filter, node) && holds(pool.nodes(*block, *len), node))
            }
            _ => None,
        }
    }

    /// [`contains_if_cheap`](Self::contains_if_cheap) out of line, for
    /// every form; its callers answer for a short list inline first (see
    /// [`short_contains`](Self::short_contains)), so the short arm is there
    /// only to keep the answer total.
    #[inline(never)]
    pub(crate) fn contains_if_cheap_buffered(&self, node: u32, pool: &Pool<P>) -> Option<bool> {
        match &self.store {
            Store::Inline { .. } | Store::Near { .. } => self.short_contains(node, pool),
            Store::Pooled { filter, .. } | Store::Heap { filter, .. } if !admits(*filter, node) => Some(false),
            Store::Pooled { .. } | Store::Heap { .. } => {
                let nodes = self.nodes(pool);
                (nodes.len() <= PROMOTE_AT).then(|| holds(nodes, node))
            }
            Store::Indexed { len, words, index } => Some(probe(index, &words[..*len as usize], node).is_some()),
        }
    }

    /// Every position holding `node` (several only in custom through tables
    /// with duplicate pairs). O(1 + matches) expected when indexed.
    pub(crate) fn find_all(&self, node: u32, pool: &Pool<P>) -> SmallVec<[u32; 2]> {
        let nodes = self.nodes(pool);
        match &self.store {
            Store::Indexed { index, .. } => {
                index.iter_hash(node_hash(node)).copied().filter(|&p| nodes[p as usize] == node).collect()
            }
            Store::Pooled { filter, .. } | Store::Heap { filter, .. } if !admits(*filter, node) => SmallVec::new(),
            _ => nodes.iter().enumerate().filter(|(_, &n)| n == node).map(|(p, _)| p as u32).collect(),
        }
    }

    /// Appends an entry and returns its position. O(1) amortized.
    pub(crate) fn push(&mut self, entry: Entry<P>, pool: &mut Pool<P>) -> u32 {
        self.append(entry, true, pool) as u32
    }

    /// Appends `entry` (and its position to the index, if `indexed` and
    /// the list has one; a filtered list gets the node's bit either way);
    /// returns its position. O(1) amortized.
    ///
    /// The bulk load's hottest path: a list with room is matched once,
    /// and its length, buffer and index are all taken from that match.
    /// Against a version that matched the store three times (for the
    /// capacity, the write, then the index), callgrind counted the peers
    /// `add` load at size S at 929.7M -> 809.9M instructions and
    /// `friends_add` at 1,749M -> 1,511M.
    #[inline(always)]
    fn append(&mut self, entry: Entry<P>, indexed: bool, pool: &mut Pool<P>) -> usize {
        debug_assert_ne!(entry.node, VACANT, "a slot is below MAX_SLOTS");
        loop {
            match &mut self.store {
                Store::Inline { len, words } => {
                    let n = usize::from(*len);
                    if n < Self::INLINE_CAP {
                        write_entry(words, Self::INLINE_CAP, n, entry);
                        *len += 1;
                        return n;
                    }
                }
                Store::Near { class, len, block, nodes } => {
                    let n = usize::from(*len);
                    if n < near_room::<P>(*class) {
                        let (words, stride) = pool.words_mut(*block);
                        write_near(words, stride, n, entry);
                        nodes[n] = entry.node;
                        *len += 1;
                        return n;
                    }
                }
                Store::Pooled { class, len, block, filter } => {
                    let n = *len as usize;
                    if n < POOL_CAPS[usize::from(*class)] as usize {
                        let (words, stride) = pool.words_mut(*block);
                        write_entry(words, stride, n, entry);
                        *len += 1;
                        *filter |= filter_bit(entry.node);
                        return n;
                    }
                }
                Store::Heap { len, words, filter } => {
                    let (n, cap) = (*len as usize, words.len() / P::WIDTH);
                    if n < cap {
                        write_entry(words, cap, n, entry);
                        *len += 1;
                        *filter |= filter_bit(entry.node);
                        return n;
                    }
                }
                Store::Indexed { len, words, index } => {
                    let (n, cap) = (*len as usize, words.len() / P::WIDTH);
                    if n < cap {
                        write_entry(words, cap, n, entry);
                        *len += 1;
                        if indexed {
                            let nodes = &words[..=n];
                            index.insert_unique(node_hash(entry.node), n as u32, |&p| node_hash(nodes[p as usize]));
                        }
                        return n;
                    }
                }
            }
            self.grow(pool);
        }
    }

    /// Builds the hash index if the list is long and has none (a long
    /// pooled list moves to a buffer of its own first, which only a buffer
    /// has room for the index beside). Called by writes before they search
    /// the list. O(len) once, then O(1).
    pub(crate) fn promote_if_long(&mut self, pool: &mut Pool<P>) {
        if !self.is_indexed() && self.len() > PROMOTE_AT {
            if let Store::Pooled { .. } = self.store {
                // A buffer for the entries, not the block's capacity: a
                // list moves down a class only once it has lost three
                // quarters of its room (see `shrink`).
                self.move_to_heap(self.len().next_power_of_two().max(2 * PROMOTE_AT), pool);
            }
            self.promote();
        }
    }

    /// Removes the entry at `pos` by moving the last entry into its place,
    /// when the caller knows it is `removed` (read already to log the
    /// removal, or the mirror of an entry just removed from the other
    /// list): the entry is not read back, which spares the two lines of a
    /// long list's node and back columns at `pos` a load each on the path
    /// of every remove. Returns the moved entry, if any. O(1) expected.
    ///
    /// The caller must pass the entry that is at `pos`: a wrong node
    /// would leave its position in the hash index (checked in debug
    /// builds only). `Junction::remove_unlinked` is the one caller (the
    /// tests' harness aside): the forward entry it passes is the one
    /// `Junction::unlinked_at` read, and junction invariant 1 (a mirror
    /// carries its entry's node, position and payload) makes the reverse
    /// one right. An emptied list gives its pool block or buffer back,
    /// and a sparse one room (see [`shrink`](Self::shrink): O(len) then,
    /// amortized O(1)).
    pub(super) fn swap_remove_known(&mut self, pos: u32, removed: Entry<P>, pool: &mut Pool<P>) -> Option<Entry<P>> {
        debug_assert_eq!(self.entry(pos, pool), removed, "the entry at {pos} is the one the caller names");
        // One match on the store for the entries, the length and the
        // index.
        // The match also tells whether the list is left sparse (see
        // `is_sparse`), from the length and room it has at hand.
        let (moved, last, sparse) = match &mut self.store {
            Store::Inline { len, words } => {
                let last = u32::from(*len) - 1;
                let moved = move_last::<P>(words, Self::INLINE_CAP, pos, last);
                words[last as usize] = VACANT;
                *len -= 1;
                (moved, last, false)
            }
            Store::Near { len, block, nodes, .. } => {
                let last = u32::from(*len) - 1;
                let (words, stride) = pool.words_mut(*block);
                let moved = (last != pos).then(|| {
                    let m = read_near::<P>(words, stride, last as usize, nodes[last as usize]);
                    write_near(words, stride, pos as usize, m);
                    nodes[pos as usize] = m.node;
                    m
                });
                nodes[last as usize] = VACANT;
                *len -= 1;
                (moved, last, false)
            }
            Store::Pooled { class, len, block, filter } => {
                let (words, stride) = pool.words_mut(*block);
                let (moved, last) = pop_into_filtered(words, stride, len, filter, pos);
                (moved, last, pooled_sparse(*class, last))
            }
            Store::Heap { len, words, filter } => {
                let stride = words.len() / P::WIDTH;
                let (moved, last) = pop_into_filtered(words, stride, len, filter, pos);
                (moved, last, heap_sparse(last, stride))
            }
            Store::Indexed { len, words, index } => {
                let last = *len - 1;
                let stride = words.len() / P::WIDTH;
                let moved = move_last::<P>(words, stride, pos, last);
                *len = last;
                if let Ok(e) = index.find_entry(node_hash(removed.node), |&p| p == pos) {
                    e.remove();
                }
                if let Some(m) = moved {
                    if let Some(p) = index.find_mut(node_hash(m.node), |&p| p == last) {
                        *p = pos;
                    }
                }
                if (last as usize) < PROMOTE_AT / 2 {
                    self.demote();
                }
                (moved, last, heap_sparse(last, stride))
            }
        };
        debug_assert_eq!(last != 0 && sparse, last != 0 && self.is_sparse(), "the match and is_sparse agree");
        if last == 0 {
            self.release(pool);
        } else if sparse {
            self.shrink(pool);
        }
        moved
    }

    /// Whether a removal left this list with room it should give back
    /// (see [`shrink`](Self::shrink)): a pooled list past the smallest
    /// class at a quarter of its class's room or less; a buffer larger
    /// than [`HEAP_FIRST_CAP`] at a quarter of its capacity or less; an
    /// unindexed buffer shorter than half of [`PROMOTE_AT`].
    /// `swap_remove_known` tells the same from what its arms have at hand
    /// (checked in debug builds). O(1).
    fn is_sparse(&self) -> bool {
        match &self.store {
            Store::Pooled { class, len, .. } => pooled_sparse(*class, *len),
            Store::Heap { len, words, .. } | Store::Indexed { len, words, .. } => {
                heap_sparse(*len, words.len() / P::WIDTH)
            }
            Store::Inline { .. } | Store::Near { .. } => false,
        }
    }

    /// Gives back the room of a list that [`is_sparse`](Self::is_sparse):
    /// its entries keep their positions, so no mirror's back changes.
    ///
    /// - A pooled list moves down to the smallest class with room for
    ///   twice its length (its block goes back to the pool).
    /// - An unindexed buffer shorter than half of [`PROMOTE_AT`] moves to
    ///   the pool the same way, with its filter made exact: it is short,
    ///   so it is scanned, and has to grow past `PROMOTE_AT` before a
    ///   write's search moves it to an indexed buffer again. A longer
    ///   buffer does not go back to the pool, whose long lists have no
    ///   index: a list removed from and searched in turn would be moved
    ///   and indexed again each time.
    /// - Any other buffer is reallocated with twice its length, but no
    ///   less than [`HEAP_FIRST_CAP`], and its hash index (if any) keeps
    ///   room for that.
    ///
    /// Growth takes half as much room again at the top, so a list is
    /// shrunk only after it lost three quarters of its room's entries and
    /// grows again only after it doubled: O(len) here, amortized O(1) per
    /// removal. O(len).
    #[cold]
    #[inline(never)]
    fn shrink(&mut self, pool: &mut Pool<P>) {
        let len = self.len();
        match &mut self.store {
            Store::Pooled { class, block, .. } => {
                let to = class_for(2 * len);
                let moved = pool.alloc(to);
                pool.copy_entries(*block, moved, len);
                pool.release(usize::from(*class), *block);
                (*class, *block) = (to as u8, moved);
            }
            Store::Heap { words, .. } if len < PROMOTE_AT / 2 => {
                let (to, cap) = (class_for(2 * len), words.len() / P::WIDTH);
                let block = pool.alloc(to);
                let (target, stride) = pool.words_mut(block);
                for column in 0..P::WIDTH {
                    target[column * stride..][..len].copy_from_slice(&words[column * cap..][..len]);
                }
                let filter = filter_of(&words[..len]);
                self.store = Store::Pooled { class: to as u8, len: len as u32, block, filter };
            }
            Store::Heap { words, .. } | Store::Indexed { words, .. } => {
                let (cap, new_cap) = (words.len() / P::WIDTH, (2 * len).next_multiple_of(16).max(HEAP_FIRST_CAP));
                let mut shrunk = std::mem::take(words).into_vec();
                for column in 1..P::WIDTH {
                    shrunk.copy_within(column * cap..column * cap + len, column * new_cap);
                }
                shrunk.truncate(new_cap * P::WIDTH);
                *words = shrunk.into_boxed_slice();
                if let Store::Indexed { words, index, .. } = &mut self.store {
                    let nodes = &words[..len];
                    index.shrink_to(2 * len, |&p| node_hash(nodes[p as usize]));
                }
            }
            Store::Inline { .. } | Store::Near { .. } => {}
        }
    }

    /// The inverse of `swap_remove_known(pos, ..)`: puts `entry` back at `pos`, moving
    /// the entry there (if any) to the end. Returns that displaced entry,
    /// now at the last position. O(1) expected.
    pub(crate) fn insert_at(&mut self, pos: u32, entry: Entry<P>, pool: &mut Pool<P>) -> Option<Entry<P>> {
        let len = self.len() as u32;
        if pos == len {
            self.push(entry, pool);
            return None;
        }
        let displaced = self.entry(pos, pool);
        self.push_raw(displaced, pool);
        self.write(pos as usize, entry, pool);
        if let Store::Indexed { len, words, index } = &mut self.store {
            let nodes = &words[..*len as usize];
            if let Some(p) = index.find_mut(node_hash(displaced.node), |&p| p == pos) {
                *p = *len - 1;
            }
            index.insert_unique(node_hash(entry.node), pos, |&p| node_hash(nodes[p as usize]));
        }
        Some(displaced)
    }

    /// Builds the hash index of a heap list's positions (its filter goes).
    /// O(len). (Any other form is left as it is.)
    fn promote(&mut self) {
        self.store = match std::mem::take(&mut self.store) {
            Store::Heap { len, words, .. } => {
                let nodes = &words[..len as usize];
                let mut index = HashTable::with_capacity(nodes.len() * 2);
                for (p, &n) in nodes.iter().enumerate() {
                    index.insert_unique(node_hash(n), p as u32, |&q| node_hash(nodes[q as usize]));
                }
                Store::Indexed { len, words, index: Box::new(index) }
            }
            other => other,
        };
    }

    /// Drops the hash index of a list grown short again, giving it back a
    /// filter. O(len). (Any other form is left as it is.)
    fn demote(&mut self) {
        self.store = match std::mem::take(&mut self.store) {
            Store::Indexed { len, words, .. } => {
                let filter = filter_of(&words[..len as usize]);
                Store::Heap { len, words, filter }
            }
            other => other,
        };
    }

    /// Checks the buffer's shape, that the hash index (if any) holds
    /// exactly the positions, that the filter (if any) has every node's
    /// bit (exactly those bits, for a pooled list no longer than
    /// [`FILTER_REFRESH`]), that no list out of its inline room (near,
    /// pooled, heap) is empty, that none is sparse (see
    /// [`is_sparse`](Self::is_sparse)), that a near one holds at most [`NEAR_CAP`],
    /// and that an inline or near header's node words past its length are
    /// [`VACANT`].
    pub(crate) fn verify_index(&self, pool: &Pool<P>) -> Result<(), String> {
        if let Store::Near { len, class, .. } = self.store {
            if usize::from(len) > NEAR_CAP {
                return Err(format!("a near list of {len} entries"));
            }
            // The folded layout is that of the smallest class alone.
            if folds::<P>() && class != 0 {
                return Err(format!("a folding near list in class {class}"));
            }
        }
        let (len, cap) = (self.len(), self.capacity());
        if len > cap {
            return Err(format!("{len} entries with room for {cap}"));
        }
        if let Store::Heap { words, .. } | Store::Indexed { words, .. } = &self.store {
            if words.len() % P::WIDTH != 0 {
                return Err(format!("a buffer of {} words for entries of {} words", words.len(), P::WIDTH));
            }
        }
        // What `shrink` gives back is given back (an emptied list is
        // checked below).
        if len > 0 && self.is_sparse() {
            return Err(format!("{len} entries keep room for {cap} ({:?})", std::mem::discriminant(&self.store)));
        }
        let nodes = self.nodes(pool);
        match self.store {
            // An emptied list gives its block or buffer back and is inline
            // again: the read fast path (`listed_nodes`) takes any other
            // form as a list with links.
            Store::Near { len: 0, .. } | Store::Pooled { len: 0, .. } => {
                return Err("a pooled list with no entries".to_owned())
            }
            Store::Heap { len: 0, .. } | Store::Indexed { len: 0, .. } => {
                return Err("a heap list with no entries".to_owned())
            }
            Store::Near { len, nodes: all, .. } if all[usize::from(len)..].iter().any(|&n| n != VACANT) => {
                return Err(format!("a near list of {len} entries holds more nodes"));
            }
            Store::Inline { len, words } if words[usize::from(len)..Self::INLINE_CAP].iter().any(|&n| n != VACANT) => {
                return Err(format!("an inline list of {len} entries holds more nodes"));
            }
            Store::Pooled { filter, len, .. } if len as usize <= FILTER_REFRESH && filter != filter_of(nodes) => {
                return Err(format!("filter {filter:#x} is not exactly its nodes' {:#x}", filter_of(nodes)));
            }
            Store::Pooled { filter, .. } | Store::Heap { filter, .. } => {
                if let Some(n) = nodes.iter().find(|&&n| !admits(filter, n)) {
                    return Err(format!("node {n} missing from the filter {filter:#x}"));
                }
            }
            _ => {}
        }
        let Store::Indexed { index, .. } = &self.store else {
            return Ok(());
        };
        if index.len() != len {
            return Err(format!("index holds {} positions for {len} entries", index.len()));
        }
        for (p, &n) in nodes.iter().enumerate() {
            if index.find(node_hash(n), |&q| q as usize == p).is_none() {
                return Err(format!("position {p} (node {n}) missing from the index"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(node: u32) -> Entry<()> {
        Entry { node, back: node + 1, payload: () }
    }

    /// The shortest list in a buffer of its own (unpromoted: `Heap`).
    const HEAP: u32 = POOL_CAPS[POOL_CAPS.len() - 1] + 1;
    /// A long list in a pool block: past `PROMOTE_AT`, within the classes.
    const LONG_POOLED: u32 = PROMOTE_AT as u32 + 8;

    /// One list with a pool of its own, for tests of a single list.
    struct Solo<P: Payload> {
        adj: Adj<P>,
        pool: Pool<P>,
    }

    impl<P: Payload> Default for Solo<P> {
        fn default() -> Self {
            Solo { adj: Adj::default(), pool: Pool::default() }
        }
    }

    impl<P: Payload> Solo<P> {
        fn to_vec(&self) -> Vec<Entry<P>> {
            (0..self.len() as u32).map(|p| self.entry(p)).collect()
        }
        fn len(&self) -> usize {
            self.adj.len()
        }
        fn is_indexed(&self) -> bool {
            self.adj.is_indexed()
        }
        fn push(&mut self, entry: Entry<P>) -> u32 {
            self.adj.push(entry, &mut self.pool)
        }
        fn entry(&self, pos: u32) -> Entry<P> {
            self.adj.entry(pos, &self.pool)
        }
        fn nodes(&self) -> &[u32] {
            self.adj.nodes(&self.pool)
        }
        fn payload_words(&self) -> &[u32] {
            self.adj.payload_words(&self.pool)
        }
        fn back(&self, pos: u32) -> u32 {
            self.adj.back(pos, &self.pool)
        }
        fn set_back(&mut self, pos: u32, back: u32) {
            self.adj.set_back(pos, back, &mut self.pool);
        }
        /// Removes the entry at `pos` by moving the last one into its
        /// place, as the junction does (reading the entry first): the
        /// removed entry and, if one moved, the entry now at `pos`.
        fn swap_remove(&mut self, pos: u32) -> (Entry<P>, Option<Entry<P>>) {
            let removed = self.adj.entry(pos, &self.pool);
            (removed, self.adj.swap_remove_known(pos, removed, &mut self.pool))
        }
        fn insert_at(&mut self, pos: u32, entry: Entry<P>) -> Option<Entry<P>> {
            self.adj.insert_at(pos, entry, &mut self.pool)
        }
        fn find(&self, node: u32) -> Option<u32> {
            self.adj.find(node, &self.pool)
        }
        fn contains(&self, node: u32) -> bool {
            self.adj.contains(node, &self.pool)
        }
        fn contains_if_cheap(&self, node: u32) -> Option<bool> {
            self.adj.contains_if_cheap(node, &self.pool)
        }
        fn find_all(&self, node: u32) -> SmallVec<[u32; 2]> {
            self.adj.find_all(node, &self.pool)
        }
        fn promote_if_long(&mut self) {
            self.adj.promote_if_long(&mut self.pool);
        }
        fn verify_index(&self) -> Result<(), String> {
            self.adj.verify_index(&self.pool)?;
            self.pool.verify(self.adj.pooled_block().into_iter())
        }
    }

    /// A list that loses most of its entries gives its room back: an
    /// indexed buffer shrinks (its index too), is demoted, returns to the
    /// pool and moves down its classes, with every entry (node, back,
    /// payload) where the removals left it, for both payloads. After every
    /// removal the list holds at least a quarter of its room, or its room
    /// is at most a first buffer's; a slab of a long class goes back to
    /// the allocator with its last block.
    #[test]
    fn a_list_that_loses_most_of_its_entries_gives_its_room_back() {
        fn shrink<P: Payload>(payload: impl Fn(u32) -> P) {
            let mut a = Solo::<P>::default();
            for n in 0..20_000 {
                a.push(Entry { node: n, back: n + 1, payload: payload(n) });
            }
            a.promote_if_long();
            assert!(a.is_indexed() && a.adj.capacity() >= 20_000);
            let mut expected = a.to_vec();
            let mut forms = Vec::new();
            while a.len() > 1 {
                let pos = (a.len() / 3) as u32;
                a.swap_remove(pos);
                expected.swap_remove(pos as usize);
                let (len, cap) = (a.len(), a.adj.capacity());
                assert!(cap < 4 * len || cap <= HEAP_FIRST_CAP, "{len} entries keep room for {cap}");
                let form = std::mem::discriminant(&a.adj.store);
                if forms.last() != Some(&(form, cap)) {
                    forms.push((form, cap));
                    assert_eq!(a.to_vec(), expected, "at {len} entries");
                    a.verify_index().unwrap();
                }
            }
            assert_eq!(a.to_vec(), expected);
            assert!(matches!(a.adj.store, Store::Pooled { class: 0, .. }), "{:?}", a.adj.store);
            assert!(forms.len() >= 8, "the room shrank step by step: {} steps", forms.len());
            assert!(a.pool.capacity() < 20_000 / 4, "the pool gave its long classes' slabs back");
            a.verify_index().unwrap();
        }
        shrink::<()>(|_| ());
        shrink::<u32>(|n| n ^ 0xABCD);

        // A long pooled list (never searched, so never indexed) moves down
        // the classes, its filter kept a superset, then exact.
        let mut a = Solo::<u32>::default();
        for n in 0..200 {
            a.push(Entry { node: n, back: n + 1, payload: n * 3 });
        }
        assert!(matches!(a.adj.store, Store::Pooled { class: 10, .. }));
        let mut expected = a.to_vec();
        let mut classes = vec![10];
        while a.len() > 1 {
            a.swap_remove(0);
            expected.swap_remove(0);
            a.verify_index().unwrap();
            let Store::Pooled { class, .. } = a.adj.store else { panic!("a pooled list stays pooled") };
            if classes.last() != Some(&class) {
                classes.push(class);
                assert_eq!(a.to_vec(), expected);
            }
        }
        assert_eq!(classes, [10, 8, 6, 4, 2, 0]);
        assert_eq!(a.to_vec(), expected);
    }

    #[test]
    fn verify_rejects_an_empty_list_out_of_its_inline_room() {
        let filled = |len: u32| {
            let mut a: Solo<()> = Solo::default();
            for n in 0..len {
                a.push(e(n));
            }
            a.verify_index().unwrap();
            a
        };
        let mut pooled = filled(20);
        let Store::Pooled { len, filter, .. } = &mut pooled.adj.store else { panic!("20 entries are pooled") };
        (*len, *filter) = (0, 0);
        assert_eq!(pooled.adj.verify_index(&pooled.pool), Err("a pooled list with no entries".to_owned()));
        let mut near = filled(8);
        let Store::Near { len, .. } = &mut near.adj.store else { panic!("8 entries are near") };
        *len = 0;
        assert_eq!(near.adj.verify_index(&near.pool), Err("a pooled list with no entries".to_owned()));
        let mut long = filled(LONG_POOLED);
        let Store::Pooled { len, filter, .. } = &mut long.adj.store else { panic!("a long list is pooled") };
        (*len, *filter) = (0, 0);
        assert_eq!(long.adj.verify_index(&long.pool), Err("a pooled list with no entries".to_owned()));
        // The read path's `listed_nodes` takes a heap list as one with links too.
        let mut heap = filled(LONG_POOLED);
        heap.adj.promote_if_long(&mut heap.pool);
        let Store::Indexed { len, index, .. } = &mut heap.adj.store else {
            panic!("a long list, promoted, is indexed")
        };
        (*len, **index) = (0, HashTable::new());
        assert_eq!(heap.adj.verify_index(&heap.pool), Err("a heap list with no entries".to_owned()));
        let mut heap = filled(HEAP);
        let Store::Heap { len, .. } = &mut heap.adj.store else { panic!("past the classes, a list is on the heap") };
        *len = 0;
        assert_eq!(heap.adj.verify_index(&heap.pool), Err("a heap list with no entries".to_owned()));
        // Emptying any form gives the inline form back.
        for len in [8, 20, LONG_POOLED, HEAP] {
            let mut a = filled(len);
            for _ in 0..len {
                a.swap_remove(0);
            }
            assert!(matches!(a.adj.store, Store::Inline { len: 0, .. }), "{len} entries removed");
            assert_eq!(a.adj.listed_nodes(&a.pool), None);
        }
    }

    #[test]
    fn a_near_list_keeps_its_nodes_in_its_header_alone() {
        let mut a: Solo<u32> = Solo::default();
        let entry = |n: u32| Entry { node: n, back: n + 100, payload: n + 200 };
        for n in 0..10 {
            a.push(entry(n));
        }
        a.verify_index().unwrap();
        let Store::Near { nodes, block, .. } = a.adj.store else { panic!("10 entries are near") };
        assert_eq!(&nodes[..10], (0..10).collect::<Vec<_>>());
        // The block's node column is not written while the list is near:
        // entries read their nodes from the header.
        assert!(a.pool.nodes(block, 10).iter().zip(0..10).any(|(&n, m)| n != m), "node column written");
        assert_eq!(a.to_vec(), (0..10).map(entry).collect::<Vec<_>>());
        let (removed, moved) = a.swap_remove(2);
        assert_eq!((removed, moved), (entry(2), Some(entry(9))));
        assert_eq!(a.nodes(), &[0, 1, 9, 3, 4, 5, 6, 7, 8]);
        a.insert_at(2, entry(2));
        assert_eq!(a.to_vec()[2..], [entry(2), entry(3), entry(4), entry(5), entry(6), entry(7), entry(8), entry(9)]);
        // Past `NEAR_CAP` the nodes go to the block's column, for good.
        for n in 10..=NEAR_CAP as u32 {
            a.push(entry(n));
        }
        assert!(matches!(a.adj.store, Store::Pooled { .. }));
        assert_eq!(a.to_vec(), (0..=NEAR_CAP as u32).map(entry).collect::<Vec<_>>());
        a.verify_index().unwrap();
    }

    #[test]
    fn a_folded_near_list_keeps_every_back_across_its_fold() {
        let mut a: Solo<()> = Solo::default();
        let entry = |n: u32| Entry { node: n, back: n + 100, payload: () };
        for n in 0..NEAR_CAP as u32 {
            a.push(entry(n));
            a.verify_index().unwrap();
        }
        let Store::Near { class: 0, block, .. } = a.adj.store else { panic!("{:?}", a.adj.store) };
        // The backs past `FOLD_AT` are the block's node words.
        let folded: Vec<u32> = (FOLD_AT as u32..NEAR_CAP as u32).map(|n| n + 100).collect();
        assert_eq!(a.pool.nodes(block, (NEAR_CAP - FOLD_AT) as u32), &folded[..]);
        assert_eq!(a.to_vec(), (0..NEAR_CAP as u32).map(entry).collect::<Vec<_>>());
        // Across the fold: a back set, an entry moved from past it to
        // before it and back again, one from before it to past it.
        a.set_back(10, 7);
        assert_eq!((a.back(10), a.back(2)), (7, 102));
        a.set_back(10, 110);
        let last = NEAR_CAP as u32 - 1;
        assert_eq!(a.swap_remove(3), (entry(3), Some(entry(last))));
        assert_eq!(a.entry(3), entry(last));
        a.verify_index().unwrap();
        assert_eq!(a.insert_at(3, entry(3)), Some(entry(last)));
        assert_eq!(a.to_vec(), (0..NEAR_CAP as u32).map(entry).collect::<Vec<_>>());
        assert_eq!(a.adj.warm_backs(&a.pool), 100 ^ (last + 100));
        // Unfolded into a pooled list: every entry where it was.
        a.push(entry(NEAR_CAP as u32));
        assert!(matches!(a.adj.store, Store::Pooled { class: UNFOLDED_CLASS, .. }));
        assert_eq!(a.to_vec(), (0..=NEAR_CAP as u32).map(entry).collect::<Vec<_>>());
        a.verify_index().unwrap();
        // A pooled list shrunk below `NEAR_CAP` keeps its form and block,
        // and grows again in place.
        let pooled = a.adj.pooled_block();
        for n in (5..=NEAR_CAP as u32).rev() {
            assert_eq!(a.swap_remove(n), (entry(n), None));
        }
        a.push(entry(5));
        assert_eq!(a.adj.pooled_block(), pooled);
        assert_eq!(a.to_vec(), (0..=5).map(entry).collect::<Vec<_>>());
        a.verify_index().unwrap();
        // `insert_at` on a full folded list: its push unfolds it.
        let full = || {
            let mut f: Solo<()> = Solo::default();
            for n in 0..NEAR_CAP as u32 {
                f.push(entry(n));
            }
            f
        };
        let mut f = full();
        assert_eq!(f.insert_at(10, entry(99)), Some(entry(10)));
        assert!(matches!(f.adj.store, Store::Pooled { class: UNFOLDED_CLASS, .. }));
        let mut expected: Vec<_> = (0..NEAR_CAP as u32).map(entry).collect();
        expected[10] = entry(99);
        expected.push(entry(10));
        assert_eq!(f.to_vec(), expected);
        f.verify_index().unwrap();
        // Emptied from the front, each removal moving a folded back (while
        // there is one) before the fold.
        let mut f = full();
        let mut model: Vec<_> = (0..NEAR_CAP as u32).map(entry).collect();
        while let Some(last) = model.pop() {
            let moved = (!model.is_empty()).then(|| std::mem::replace(&mut model[0], last));
            assert_eq!(f.swap_remove(0), moved.map_or((last, None), |removed| (removed, Some(last))));
            assert_eq!(f.to_vec(), model);
            f.verify_index().unwrap();
        }
        assert!(matches!(f.adj.store, Store::Inline { len: 0, .. }));
        // A folded near list moved to a buffer of its own unfolds too.
        let mut b: Solo<()> = Solo::default();
        for n in 0..11 {
            b.push(entry(n));
        }
        b.adj.move_to_heap(16, &mut b.pool);
        assert!(matches!(b.adj.store, Store::Heap { len: 11, .. }));
        assert_eq!(b.to_vec(), (0..11).map(entry).collect::<Vec<_>>());
        // (No list this short is left in a buffer: `verify_index` calls it
        // sparse, and a removal would move it back to the pool. Only the
        // move itself is checked here.)
        assert!(b.adj.is_sparse());
    }

    #[test]
    fn vacant_is_never_found_in_an_inline_list() {
        for len in [0, 1, 3, 7] {
            let mut a: Solo<()> = Solo::default();
            for n in 0..len {
                a.push(e(n));
            }
            assert!(matches!(a.adj.store, Store::Inline { .. }));
            a.verify_index().unwrap();
            assert_eq!((a.find(VACANT), a.adj.find_short(VACANT, &a.pool)), (None, Some(None)), "len {len}");
            assert_eq!((a.contains(VACANT), a.contains_if_cheap(VACANT)), (false, Some(false)), "len {len}");
            for n in 0..len {
                assert_eq!((a.find(n), a.adj.find_short(n, &a.pool)), (Some(n), Some(Some(n))), "len {len}");
            }
        }
    }

    #[test]
    fn verify_rejects_a_near_header_holding_more_nodes() {
        let mut a: Solo<()> = Solo::default();
        for n in 0..10 {
            a.push(e(n));
        }
        a.verify_index().unwrap();
        let Store::Near { nodes, .. } = &mut a.adj.store else { panic!("10 entries are near") };
        nodes[11] = 4;
        assert_eq!(a.adj.verify_index(&a.pool), Err("a near list of 10 entries holds more nodes".to_owned()));
        // A vacant word is never found, even by the id past every slot.
        let Store::Near { nodes, .. } = &mut a.adj.store else { unreachable!() };
        nodes[11] = VACANT;
        a.verify_index().unwrap();
        assert_eq!((a.contains(VACANT), a.find(VACANT), a.adj.might_hold(VACANT)), (false, None, false));
        assert_eq!((a.contains(9), a.adj.might_hold(9), a.contains(10)), (true, true, false));
        let Store::Near { len, .. } = &mut a.adj.store else { unreachable!() };
        *len = NEAR_CAP as u8 + 1;
        assert_eq!(a.adj.verify_index(&a.pool), Err(format!("a near list of {} entries", NEAR_CAP + 1)));
        // An auto-created through's near list folds in the smallest class
        // alone.
        let Store::Near { len, class, .. } = &mut a.adj.store else { unreachable!() };
        (*len, *class) = (10, 1);
        assert_eq!(a.adj.verify_index(&a.pool), Err("a folding near list in class 1".to_owned()));
    }

    #[test]
    fn columns_survive_growth_and_removal() {
        let mut a: Solo<u32> = Solo::default();
        let total = HEAP + 10;
        for n in 0..total {
            assert_eq!(a.push(Entry { node: n, back: 10_000 + n, payload: 20_000 + n }), n);
            a.verify_index().unwrap();
            // Five custom entries inline, then the pool's classes (with
            // the nodes in the header up to `NEAR_CAP`), then a buffer of
            // its own.
            match (n + 1, &a.adj.store) {
                (..=5, Store::Inline { .. }) => {}
                (len @ HEAP.., Store::Heap { .. }) => assert!(len > POOL_CAPS[POOL_CAPS.len() - 1]),
                (len @ 6..=13, Store::Near { class, .. }) | (len @ 14.., Store::Pooled { class, .. }) => {
                    let cap = POOL_CAPS[usize::from(*class)];
                    assert!(cap >= len && (*class == 0 || POOL_CAPS[usize::from(*class) - 1] < len));
                }
                (len, store) => panic!("{len} entries in {store:?}"),
            }
        }
        assert_eq!(a.nodes(), (0..total).collect::<Vec<_>>());
        assert_eq!(a.payload_words(), (20_000..20_000 + total).collect::<Vec<_>>());
        assert_eq!(a.entry(17), Entry { node: 17, back: 10_017, payload: 20_017 });
        a.set_back(17, 7);
        assert_eq!(a.back(17), 7);
        let (removed, moved) = a.swap_remove(3);
        let last = total - 1;
        assert_eq!(removed, Entry { node: 3, back: 10_003, payload: 20_003 });
        assert_eq!(moved, Some(Entry { node: last, back: 10_000 + last, payload: 20_000 + last }));
        assert_eq!(a.entry(3), Entry { node: last, back: 10_000 + last, payload: 20_000 + last });
        while a.len() > 0 {
            a.swap_remove(0);
        }
        assert!(matches!(a.adj.store, Store::Inline { len: 0, .. }), "an emptied list frees its buffer");
        // A list growing through the pool's classes, and an emptied one,
        // give their blocks back; the same list grown again gets them.
        let mut d: Solo<()> = Solo::default();
        let blocks_by_len = |d: &mut Solo<()>| -> Vec<Option<(usize, Block)>> {
            (0..16)
                .map(|n| {
                    d.push(e(n));
                    d.verify_index().unwrap();
                    d.adj.pooled_block()
                })
                .collect()
        };
        let first = blocks_by_len(&mut d);
        assert!(first[..7].iter().all(Option::is_none), "seven entries inline");
        // A near list of an auto-created through folds: one block of the
        // smallest class from 8 entries to `NEAR_CAP`, then the next
        // entry unfolds it into the first class with room past it.
        assert!(first[7..NEAR_CAP].iter().all(|b| *b == first[7] && matches!(b, Some((0, _)))), "{first:?}");
        let unfolded = Some(usize::from(UNFOLDED_CLASS));
        assert!(first[NEAR_CAP..].iter().all(|b| b.map(|(class, _)| class) == unfolded), "{first:?}");
        while d.len() > 0 {
            d.swap_remove(0);
            d.verify_index().unwrap();
        }
        assert!(matches!(d.adj.store, Store::Inline { len: 0, .. }));
        assert_eq!(blocks_by_len(&mut d), first, "the freed blocks are reused");
        let mut b: Solo<()> = Solo::default();
        for n in 5..12 {
            b.push(e(n));
        }
        assert!(matches!(b.adj.store, Store::Inline { len: 7, .. }), "seven auto entries stay inline");
        assert_eq!(b.back(2), 8);
        b.push(e(12));
        assert!(matches!(b.adj.store, Store::Near { len: 8, class: 0, .. }));
        assert_eq!(b.to_vec(), (5..13).map(e).collect::<Vec<_>>());
        assert_eq!(b.payload_words(), &[] as &[u32]);
        // Past `NEAR_CAP` the backs unfold into a pooled list's block, which
        // has a filter.
        for n in 13..=18 {
            b.push(e(n));
            b.verify_index().unwrap();
        }
        assert!(matches!(b.adj.store, Store::Pooled { len: 14, class: 2, .. }));
        assert_eq!(b.nodes(), (5..19).collect::<Vec<_>>());
        let mut c: Solo<u32> = Solo::default();
        for n in 0..5 {
            c.push(Entry { node: 3 * n + 1, back: 3 * n + 2, payload: 3 * n + 3 });
        }
        assert!(matches!(c.adj.store, Store::Inline { len: 5, .. }), "five custom entries stay inline");
        assert_eq!((c.nodes(), c.payload_words()), (&[1, 4, 7, 10, 13][..], &[3, 6, 9, 12, 15][..]));
        c.push(Entry { node: 16, back: 17, payload: 18 });
        assert!(matches!(c.adj.store, Store::Near { len: 6, .. }));
        assert_eq!(c.to_vec()[5], Entry { node: 16, back: 17, payload: 18 });
        assert_eq!(c.entry(1), Entry { node: 4, back: 5, payload: 6 });
        assert_eq!((c.nodes(), c.payload_words()), (&[1, 4, 7, 10, 13, 16][..], &[3, 6, 9, 12, 15, 18][..]));
    }

    #[test]
    fn promotes_and_demotes_with_hysteresis() {
        let mut a = Solo::default();
        for n in 0..=PROMOTE_AT as u32 {
            a.push(e(n));
        }
        assert!(!a.is_indexed(), "promotion is lazy");
        a.promote_if_long();
        assert!(a.is_indexed());
        a.push(e(1000));
        a.verify_index().unwrap();
        assert_eq!(a.find(7), Some(7));
        while a.len() >= PROMOTE_AT / 2 {
            a.swap_remove(0);
            a.verify_index().unwrap();
        }
        assert!(!a.is_indexed());
    }

    #[test]
    fn insert_at_inverts_swap_remove() {
        fn check<P: Payload>(entry: impl Fn(u32) -> Entry<P>) {
            for len in [1u32, 5, 7, 8, 9, 12, 13, 14, 16, 20, 32, PROMOTE_AT as u32 + 3] {
                for pos in 0..len {
                    let mut a = Solo::default();
                    for n in 0..len {
                        a.push(entry(n * 10));
                    }
                    a.promote_if_long();
                    let before = a.to_vec();
                    let (removed, _) = a.swap_remove(pos);
                    a.verify_index().unwrap();
                    a.insert_at(pos, removed);
                    assert_eq!(a.to_vec(), before);
                    a.verify_index().unwrap();
                    assert!((0..len).all(|n| a.find(n * 10).map(|p| a.entry(p)) == Some(entry(n * 10))));
                }
            }
        }
        check(e);
        check(|n| Entry { node: n, back: n + 1, payload: n + 2 });
    }

    #[test]
    fn contains_agrees_with_find() {
        for len in [0u32, 1, 3, 4, 7, 8, 9, PROMOTE_AT as u32, PROMOTE_AT as u32 + 1, 70, HEAP] {
            let mut a = Solo::default();
            for n in 0..len {
                a.push(e(n * 3));
            }
            for indexed in [false, true] {
                if indexed {
                    a.promote_if_long();
                }
                assert_eq!(a.is_indexed(), indexed && len > PROMOTE_AT as u32, "len {len}");
                for probe in 0..len * 3 + 2 {
                    assert_eq!(a.contains(probe), a.find(probe).is_some(), "len {len}, probe {probe}");
                }
            }
        }
    }

    #[test]
    fn the_filter_rules_out_absent_nodes_and_stays_a_superset() {
        let mut a = Solo::default();
        let held: Vec<u32> = (0..16).map(|n| n * 7919).collect();
        for &n in &held {
            a.push(e(n));
        }
        let Store::Pooled { filter, .. } = a.adj.store else { panic!("sixteen entries are pooled") };
        assert_eq!(filter, filter_of(&held));
        let absent: Vec<u32> = (0..10_000).filter(|n| !held.contains(n)).collect();
        let ruled_out = absent.iter().filter(|&&n| !admits(filter, n)).count();
        assert!(ruled_out > absent.len() / 2, "{ruled_out} of {} absent nodes ruled out", absent.len());
        for &n in &absent {
            assert_eq!((a.find(n), a.contains(n), a.contains_if_cheap(n)), (None, false, Some(false)));
            assert!(a.find_all(n).is_empty());
        }
        // A short list recomputes its filter on removal; a long one (pooled
        // or in a buffer) keeps the removed node's bit, which `verify_index`
        // accepts, until a removal leaves it `FILTER_REFRESH` long.
        a.swap_remove(0);
        assert!(matches!(a.adj.store, Store::Pooled { filter, .. } if filter == filter_of(a.nodes())));
        let filter = |a: &Solo<()>| match a.adj.store {
            Store::Pooled { filter, .. } | Store::Heap { filter, .. } => filter,
            _ => panic!("a long list has a filter"),
        };
        for len in [FILTER_REFRESH as u32 + 2, HEAP] {
            let mut long = Solo::default();
            for n in 0..len {
                long.push(e(n));
            }
            let before = filter(&long);
            long.swap_remove(0);
            assert_eq!(filter(&long), before, "len {len}");
            long.verify_index().unwrap();
            assert_eq!((long.find(0), long.find(5)), (None, Some(5)));
            // `insert_at` (a rollback) sets the bit of the node it puts back.
            long.insert_at(0, e(0));
            long.verify_index().unwrap();
            if len == FILTER_REFRESH as u32 + 2 {
                long.swap_remove(0);
                long.swap_remove(0);
                assert_eq!(filter(&long), filter_of(long.nodes()), "refreshed at FILTER_REFRESH");
                long.verify_index().unwrap();
                long.push(e(0));
                long.push(e(1));
            }
            // A promoted list drops its filter (a pooled one moves to a
            // buffer); demoted, it gets an exact one back, and, this short,
            // goes back to the pool.
            long.promote_if_long();
            assert!(long.is_indexed());
            while long.len() >= PROMOTE_AT / 2 {
                long.swap_remove(0);
            }
            assert!(matches!(long.adj.store, Store::Pooled { filter, .. } if filter == filter_of(long.nodes())));
            long.verify_index().unwrap();
        }
    }

    #[test]
    fn promote_and_demote_leave_other_forms_alone() {
        let filled = |len: u32| {
            let mut a = Solo::default();
            for n in 0..len {
                a.push(e(n));
            }
            a
        };
        let (mut inline, mut near, mut pooled) = (filled(2), filled(8), filled(20));
        let (mut long, mut heap, mut indexed) = (filled(LONG_POOLED), filled(HEAP), filled(HEAP));
        indexed.promote_if_long();
        inline.adj.promote();
        near.adj.promote();
        near.adj.demote();
        pooled.adj.promote();
        pooled.adj.demote();
        long.adj.promote();
        long.adj.demote();
        heap.adj.demote();
        indexed.adj.promote();
        assert!(matches!(inline.adj.store, Store::Inline { len: 2, .. }));
        assert!(matches!(near.adj.store, Store::Near { len: 8, .. }));
        assert!(matches!(pooled.adj.store, Store::Pooled { len: 20, .. }));
        assert!(matches!(long.adj.store, Store::Pooled { len: LONG_POOLED, .. }));
        assert!(matches!(heap.adj.store, Store::Heap { len: HEAP, .. }));
        assert!(matches!(indexed.adj.store, Store::Indexed { len: HEAP, .. }));
        let forms = [(&inline, 2), (&near, 8), (&pooled, 20), (&long, LONG_POOLED), (&heap, HEAP), (&indexed, HEAP)];
        for (a, len) in forms {
            assert_eq!(a.nodes(), (0..len).collect::<Vec<_>>());
            a.verify_index().unwrap();
        }
    }

    #[test]
    fn verify_index_reports_a_filter_missing_a_node() {
        for len in [20, LONG_POOLED, HEAP] {
            let mut a = Solo::default();
            for n in 0..len {
                a.push(e(n));
            }
            if let Store::Pooled { filter, .. } | Store::Heap { filter, .. } = &mut a.adj.store {
                *filter &= !filter_bit(3);
            }
            let err = a.verify_index().unwrap_err();
            let expected = if len == 20 { "is not exactly its nodes'" } else { "node 3 missing from the filter" };
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn find_all_sees_duplicates() {
        let mut a = Solo::default();
        for n in [1, 2, 1, 3, 1] {
            a.push(Entry { node: n, back: 0, payload: 9u32 });
        }
        assert_eq!(a.find_all(1).len(), 3);
        for n in 0..100 {
            a.push(Entry { node: 100 + n, back: 0, payload: 9u32 });
        }
        a.promote_if_long();
        assert!(a.is_indexed());
        assert_eq!(a.find_all(1).len(), 3);
        assert_eq!(a.find_all(4).len(), 0);
    }
}
