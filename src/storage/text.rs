//! A text column's cell: a short string kept in the cell itself, a longer
//! one in a box of its own.
//!
//! A boxed string is a second, dependent cache miss behind its cell on
//! every read of a scattered row (a join's gather of the usernames of a
//! group's members), and an allocation of its own: 16 bytes of cell plus
//! a 32-byte `malloc` chunk for a name of up to 24 bytes. A cell of 24
//! bytes holds up to [`INLINE_TEXT`] bytes in place, so such a read loads
//! one line (two for the 2 cells in 8 that straddle a line) and such a
//! row allocates nothing. Longer strings cost 8 bytes
//! more than a bare box. See `docs/design.md`, fifteenth session, for the
//! measurements.

/// The longest string a cell keeps in place: the cell's 24 bytes but the
/// representation's tag and the length.
pub(crate) const INLINE_TEXT: usize = 22;

/// A text value as a column stores it. Built only by [`TextCell::new`]
/// from a `String`, so an inline cell's bytes are always a whole `str`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TextCell(Repr);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Repr {
    /// The first `len` bytes of `bytes` (`len <= INLINE_TEXT`), copied
    /// from a `str`, so valid UTF-8; the rest are zero.
    Inline { len: u8, bytes: [u8; INLINE_TEXT] },
    /// A string longer than [`INLINE_TEXT`] bytes.
    Boxed(Box<str>),
}

const _: () = assert!(std::mem::size_of::<TextCell>() == 24);
const _: () = assert!(INLINE_TEXT <= u8::MAX as usize);

impl TextCell {
    /// The empty string (a free slot's placeholder). Allocates nothing.
    pub(crate) const EMPTY: TextCell = TextCell(Repr::Inline { len: 0, bytes: [0; INLINE_TEXT] });

    /// The cell of `text`: in place if it fits, else boxed (reusing the
    /// `String`'s buffer). O(len).
    pub(crate) fn new(text: String) -> TextCell {
        if text.len() > INLINE_TEXT {
            return TextCell(Repr::Boxed(text.into_boxed_str()));
        }
        let mut bytes = [0; INLINE_TEXT];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        TextCell(Repr::Inline { len: text.len() as u8, bytes })
    }

    /// The string. O(1).
    #[inline]
    pub(crate) fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, bytes } => {
                let bytes = bytes.get(..usize::from(*len)).unwrap_or_default();
                debug_assert!(std::str::from_utf8(bytes).is_ok() && usize::from(*len) <= INLINE_TEXT);
                #[allow(unsafe_code)]
                // SAFETY: `TextCell`'s field and `Repr` are private to this
                // module, and nothing here writes an inline cell's `len` or
                // `bytes` or lends them mutably: only `new` (and `EMPTY`)
                // build one, copying exactly the bytes of a whole `String`
                // of at most `INLINE_TEXT` bytes, and the derived `Clone`
                // copies both fields together. So `bytes[..len]` are always
                // a whole `str`'s bytes: valid UTF-8. (Code outside the
                // module can only replace a cell whole.)
                unsafe {
                    std::str::from_utf8_unchecked(bytes)
                }
            }
            Repr::Boxed(text) => text,
        }
    }

    /// The string's first byte when it lies outside the cell (to prefetch
    /// it), `None` when it is in place.
    #[inline]
    pub(crate) fn outside(&self) -> Option<&u8> {
        match &self.0 {
            Repr::Inline { .. } => None,
            Repr::Boxed(text) => text.as_bytes().first(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length round-trips, in place up to the limit and boxed past
    /// it, including multi-byte characters that end on the limit.
    #[test]
    fn round_trips_in_place_and_boxed() {
        for len in 0..=INLINE_TEXT + 2 {
            let text: String = "x".repeat(len);
            let cell = TextCell::new(text.clone());
            assert_eq!(cell.as_str(), text);
            assert_eq!(matches!(cell.0, Repr::Inline { .. }), len <= INLINE_TEXT, "length {len}");
            assert_eq!(cell.outside().is_some(), len > INLINE_TEXT);
        }
        // 7 characters of 3 bytes: 21 bytes in place; two more box it.
        for text in ["€".repeat(7), format!("{}ab", "€".repeat(7)), "ü".repeat(11), "😀".repeat(6)] {
            let cell = TextCell::new(text.clone());
            assert_eq!(cell.as_str(), text);
            assert_eq!(matches!(cell.0, Repr::Inline { .. }), text.len() <= INLINE_TEXT);
        }
        assert_eq!(TextCell::EMPTY.as_str(), "");
        assert_eq!(TextCell::EMPTY, TextCell::new(String::new()));
    }
}
