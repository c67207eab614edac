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
//! The entries are stored column-wise, in one buffer: first every `node`,
//! then every `back`, then (custom throughs) every payload. A read of a
//! row's neighbours, the hot path, walks a plain `&[u32]` of nodes, and
//! touches half the bytes (a third for custom throughs) that a buffer of
//! whole entries would make it touch; `back` is read only by writes. The
//! header keeps 28 bytes of room inline: three entries of an auto-created
//! through, two of a custom one, so rows with few links allocate nothing.
//! A heap list without a hash index keeps a 64-bit filter of its nodes in
//! the 8 header bytes an indexed list spends on its table's pointer
//! ([`filter_bit`]), so that searching it for a
//! node it does not hold (a `contains` miss, a `remove` of a pair that is
//! not linked, the duplicate check of a new link) usually reads the header
//! alone.
//!
//! Finding a neighbour by value is a linear scan while the list is short.
//! A list longer than [`PROMOTE_AT`] keeps a hash table of its positions
//! (hashed by the node stored at each position, so no second copy of the
//! node), making `find` O(1) at any degree. The table is built lazily, the
//! first time a write has to search the list while it is long
//! ([`Adj::promote_if_long`]): the junction always searches the *shorter*
//! of the two lists of a pair and removes by position, so the long list of
//! a hub (or of every group in a users/groups relation) is normally never
//! searched and never pays the table's memory or its upkeep on `push`. It
//! is dropped again below `PROMOTE_AT / 2`, so a list at the threshold does
//! not flip. See `docs/design.md` for the measurements behind the numbers.

use std::marker::PhantomData;

use hashbrown::HashTable;
use smallvec::SmallVec;

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
    /// Words (`u32`s) per entry in a list's buffer: node, back, payload.
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

/// The capacity of a list's first heap buffer. Growing from the inline
/// form straight to 8 entries, rather than doubling to 4 or 6, saves a
/// reallocation per list that passes that size (with a 2-entry inline
/// form, the reallocations at 4 were a fifth of the instructions of the
/// peers `friends_add` load, by callgrind), at the price of unused room in
/// lists of up to 7 entries.
const MIN_HEAP_CAP: usize = 8;

/// Words of entries kept inline in the header: all the header's 32 bytes
/// but the enum's tag and the length.
const INLINE_WORDS: usize = 7;

/// A list's buffer: `cap` nodes, then `cap` backs, then (custom throughs)
/// `cap` payloads, of which the first `len` of each are entries. The
/// inline form holds `INLINE_WORDS / WIDTH` entries; the heap form's
/// capacity is `words.len() / WIDTH`.
///
/// Only a heap form can be long, so only it has room for the hash index of
/// positions; the inline form uses those 8 bytes for more entries. A heap
/// list without an index uses them for a filter of its nodes instead (see
/// [`filter_bit`]), so that a search for a node it does not hold usually
/// ends at the header, without loading the buffer.
#[derive(Clone, Debug)]
enum Store {
    Inline {
        len: u8,
        words: [u32; INLINE_WORDS],
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
        Store::Inline { len: 0, words: [0; INLINE_WORDS] }
    }
}

impl Store {
    /// The buffer, the number of entries and the capacity, for entries of
    /// `width` words.
    #[inline(always)]
    fn parts(&self, width: usize) -> (&[u32], usize, usize) {
        match self {
            Store::Inline { len, words } => (words, usize::from(*len), INLINE_WORDS / width),
            Store::Heap { len, words, .. } | Store::Indexed { len, words, .. } => {
                (words, *len as usize, words.len() / width)
            }
        }
    }

    #[inline(always)]
    fn parts_mut(&mut self, width: usize) -> (&mut [u32], usize, usize) {
        match self {
            Store::Inline { len, words } => (words, usize::from(*len), INLINE_WORDS / width),
            Store::Heap { len, words, .. } | Store::Indexed { len, words, .. } => {
                let cap = words.len() / width;
                (words, *len as usize, cap)
            }
        }
    }

    /// The hash index of positions, if the list has one.
    #[inline(always)]
    fn index(&self) -> Option<&HashTable<u32>> {
        match self {
            Store::Indexed { index, .. } => Some(index),
            _ => None,
        }
    }

    /// The nodes, and the index to update, if any.
    #[inline(always)]
    fn nodes_and_index(&mut self) -> (&[u32], Option<&mut HashTable<u32>>) {
        match self {
            Store::Inline { len, words } => (&words[..usize::from(*len)], None),
            Store::Heap { len, words, .. } => (&words[..*len as usize], None),
            Store::Indexed { len, words, index } => (&words[..*len as usize], Some(index)),
        }
    }

    /// The first `len` words: the nodes.
    #[inline(always)]
    fn nodes(&self) -> &[u32] {
        let (words, len) = match self {
            Store::Inline { len, words } => (&words[..], usize::from(*len)),
            Store::Heap { len, words, .. } | Store::Indexed { len, words, .. } => (&words[..], *len as usize),
        };
        &words[..len]
    }
}

/// An adjacency list; see the module docs.
///
/// Aligned to 32 bytes so that a header never straddles two cache lines in
/// the `Vec` of a junction's lists: a read of a random row's neighbours
/// then misses on one line for the header instead of 1.5 on average
/// (callgrind's cache simulation of `forward` at size S: 3.86 first-level
/// data misses per read before, 3.32 after; see `docs/design.md`).
#[derive(Clone, Debug)]
#[repr(align(32))]
pub(crate) struct Adj<P: Payload> {
    store: Store,
    payload: PhantomData<P>,
}

const _: () = assert!(std::mem::size_of::<Adj<()>>() == 32);
const _: () = assert!(std::mem::size_of::<Adj<u32>>() == 32);

impl<P: Payload> Default for Adj<P> {
    fn default() -> Self {
        Adj { store: Store::default(), payload: PhantomData }
    }
}

/// The entry at `pos` of a buffer of capacity `cap`.
#[inline(always)]
fn read_entry<P: Payload>(words: &[u32], cap: usize, pos: usize) -> Entry<P> {
    let payload = if P::WIDTH < 3 { 0 } else { words[2 * cap + pos] };
    Entry { node: words[pos], back: words[cap + pos], payload: P::from_word(payload) }
}

/// Writes `entry` at `pos` of a buffer of capacity `cap`.
#[inline(always)]
fn write_entry<P: Payload>(words: &mut [u32], cap: usize, pos: usize, entry: Entry<P>) {
    words[pos] = entry.node;
    words[cap + pos] = entry.back;
    if P::WIDTH >= 3 {
        words[2 * cap + pos] = entry.payload.to_word();
    }
}

/// Moves the entry at `last` (the last of a buffer of capacity `cap`) to
/// `pos`, unless `pos` is the last; returns the entry moved.
#[inline(always)]
fn move_last<P: Payload>(words: &mut [u32], cap: usize, pos: u32, last: u32) -> Option<Entry<P>> {
    (last != pos).then(|| {
        let m = read_entry::<P>(words, cap, last as usize);
        write_entry(words, cap, pos as usize, m);
        m
    })
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

/// A cheap, well-mixed hash of a slot (a multiply, then the high half
/// folded into the low half, which hashbrown uses for the bucket).
fn node_hash(node: u32) -> u64 {
    let h = u64::from(node).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^ (h >> 29)
}

/// The bit of `node` in a heap list's 64-bit filter: one of 64, picked by
/// the top six bits of a multiplicative hash. With `n` distinct nodes in a
/// list, a node it does not hold finds its bit set with probability
/// `1 - (63/64)^n`: 12% at 8 entries, 39% at 32. Only a clear bit is an
/// answer (the node is not there); a set bit sends the search on to the
/// buffer.
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

/// Lists this short (or shorter) recompute their filter on a removal, so
/// that it stays exact; longer ones keep the removed node's bit (a
/// superset is still a correct filter), since recomputing would read their
/// whole node column. Two cache lines of nodes.
const FILTER_REFRESH: usize = 32;

impl<P: Payload> Adj<P> {
    /// The buffer, the number of entries and the capacity.
    #[inline(always)]
    fn raw(&self) -> (&[u32], usize, usize) {
        self.store.parts(P::WIDTH)
    }

    #[inline(always)]
    fn raw_mut(&mut self) -> (&mut [u32], usize, usize) {
        self.store.parts_mut(P::WIDTH)
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        match &self.store {
            Store::Inline { len, .. } => usize::from(*len),
            Store::Heap { len, .. } | Store::Indexed { len, .. } => *len as usize,
        }
    }

    /// The neighbours' slots, in list order. O(1).
    #[inline(always)]
    pub(crate) fn nodes(&self) -> &[u32] {
        self.store.nodes()
    }

    /// The payload words, in list order (empty for auto-created throughs).
    /// O(1).
    pub(crate) fn payload_words(&self) -> &[u32] {
        if P::WIDTH < 3 {
            return &[];
        }
        let (words, len, cap) = self.raw();
        &words[2 * cap..2 * cap + len]
    }

    /// The entry at `pos`, which must be below `len`. O(1).
    #[inline]
    pub(crate) fn entry(&self, pos: u32) -> Entry<P> {
        let (words, _, cap) = self.raw();
        read_entry(words, cap, pos as usize)
    }

    /// The last entry, `None` when the list is empty. O(1).
    pub(crate) fn last(&self) -> Option<Entry<P>> {
        self.get(self.len().checked_sub(1)? as u32)
    }

    /// The entry at `pos`, `None` past the end. O(1).
    pub(crate) fn get(&self, pos: u32) -> Option<Entry<P>> {
        ((pos as usize) < self.len()).then(|| self.entry(pos))
    }

    /// The mirror position stored at `pos`. O(1).
    #[inline]
    pub(crate) fn back(&self, pos: u32) -> u32 {
        let (words, _, cap) = self.raw();
        words[cap + pos as usize]
    }

    #[inline]
    pub(crate) fn is_indexed(&self) -> bool {
        self.store.index().is_some()
    }

    pub(crate) fn set_back(&mut self, pos: u32, back: u32) {
        let (words, _, cap) = self.raw_mut();
        words[cap + pos as usize] = back;
    }

    /// Writes `entry` at `pos` (below the capacity), leaving `len` and the
    /// index alone; a filtered list gets the node's bit.
    fn write(&mut self, pos: usize, entry: Entry<P>) {
        if let Store::Heap { filter, .. } = &mut self.store {
            *filter |= filter_bit(entry.node);
        }
        let (words, _, cap) = self.raw_mut();
        write_entry(words, cap, pos, entry);
    }

    /// Doubles the capacity (to at least `MIN_HEAP_CAP` entries), moving the
    /// columns apart. Leaving the inline form allocates the buffer; a heap
    /// buffer grows with `realloc`, which may extend it in place. The words
    /// past a column's entries are never read. O(new capacity).
    #[cold]
    fn grow(&mut self) {
        let (_, len, cap) = self.raw();
        let new_cap = (2 * cap).max(MIN_HEAP_CAP);
        let old = std::mem::take(&mut self.store);
        let (mut words, index, filter) = match old {
            Store::Inline { words, .. } => {
                let mut heap = Vec::with_capacity(new_cap * P::WIDTH);
                heap.extend_from_slice(&words);
                (heap, None, filter_of(&words[..len]))
            }
            Store::Heap { words, filter, .. } => (Adj::<P>::reserved(words, new_cap), None, filter),
            Store::Indexed { words, index, .. } => (Adj::<P>::reserved(words, new_cap), Some(index), 0),
        };
        words.resize(new_cap * P::WIDTH, 0);
        for column in (1..P::WIDTH).rev() {
            words.copy_within(column * cap..column * cap + len, column * new_cap);
        }
        let (len, words) = (len as u32, words.into_boxed_slice());
        self.store = match index {
            Some(index) => Store::Indexed { len, words, index },
            None => Store::Heap { len, words, filter },
        };
    }

    /// A heap buffer as a `Vec` with room for `cap` entries.
    fn reserved(words: Box<[u32]>, cap: usize) -> Vec<u32> {
        let mut heap = words.into_vec();
        heap.reserve_exact(cap * P::WIDTH - heap.len());
        heap
    }

    /// Appends `entry` without touching the index; returns its position.
    /// O(1) amortized.
    fn push_raw(&mut self, entry: Entry<P>) -> usize {
        self.append(entry, false)
    }

    /// A position holding `node`. O(1) expected when indexed, else a scan
    /// (O(len); lists longer than `PROMOTE_AT` get an index the first time
    /// a write searches them).
    #[inline(always)]
    pub(crate) fn find(&self, node: u32) -> Option<u32> {
        let nodes = match &self.store {
            Store::Indexed { len, words, index } => return probe(index, &words[..*len as usize], node),
            Store::Heap { filter, .. } if !admits(*filter, node) => return None,
            _ => self.nodes(),
        };
        nodes.iter().position(|&n| n == node).map(|p| p as u32)
    }

    /// Whether some entry holds `node`: `find` without the position, which
    /// lets an unindexed list be scanned without a branch per entry (the
    /// compiler vectorizes the scan). O(1) expected when indexed, else
    /// O(len), as `find`.
    #[inline(always)]
    pub(crate) fn contains(&self, node: u32) -> bool {
        match &self.store {
            Store::Inline { len, words } => holds(&words[..usize::from(*len)], node),
            Store::Heap { len, words, filter } => admits(*filter, node) && holds(&words[..*len as usize], node),
            Store::Indexed { len, words, index } => probe(index, &words[..*len as usize], node).is_some(),
        }
    }

    /// Whether the list may hold `node`: `false` only when the filter rules
    /// it out. Reads the header alone. O(1).
    #[inline(always)]
    pub(crate) fn might_hold(&self, node: u32) -> bool {
        !matches!(self.store, Store::Heap { filter, .. } if !admits(filter, node))
    }

    /// Whether some entry holds `node`, when this list alone answers it
    /// cheaply: it is short (a scan), indexed (a probe), or its filter
    /// rules the node out. `None` for a long list without an index whose
    /// filter cannot tell, whose caller may look in the other list of the
    /// pair instead. One match on the store. O(1) expected.
    #[inline(always)]
    pub(crate) fn contains_if_cheap(&self, node: u32) -> Option<bool> {
        match &self.store {
            Store::Inline { len, words } => Some(holds(&words[..usize::from(*len)], node)),
            Store::Heap { filter, .. } if !admits(*filter, node) => Some(false),
            Store::Heap { len, words, .. } => {
                let nodes = &words[..*len as usize];
                (nodes.len() <= PROMOTE_AT).then(|| holds(nodes, node))
            }
            Store::Indexed { len, words, index } => Some(probe(index, &words[..*len as usize], node).is_some()),
        }
    }

    /// Every position holding `node` (several only in custom through tables
    /// with duplicate pairs). O(1 + matches) expected when indexed.
    pub(crate) fn find_all(&self, node: u32) -> SmallVec<[u32; 2]> {
        let nodes = self.nodes();
        match &self.store {
            Store::Indexed { index, .. } => {
                index.iter_hash(node_hash(node)).copied().filter(|&p| nodes[p as usize] == node).collect()
            }
            Store::Heap { filter, .. } if !admits(*filter, node) => SmallVec::new(),
            _ => nodes.iter().enumerate().filter(|(_, &n)| n == node).map(|(p, _)| p as u32).collect(),
        }
    }

    /// Appends an entry and returns its position. O(1) amortized.
    pub(crate) fn push(&mut self, entry: Entry<P>) -> u32 {
        self.append(entry, true) as u32
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
    fn append(&mut self, entry: Entry<P>, indexed: bool) -> usize {
        loop {
            match &mut self.store {
                Store::Inline { len, words } => {
                    let n = usize::from(*len);
                    if n < INLINE_WORDS / P::WIDTH {
                        write_entry(words, INLINE_WORDS / P::WIDTH, n, entry);
                        *len += 1;
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
            self.grow();
        }
    }

    /// Builds the hash index if the list is long and has none. Called by
    /// writes before they search the list. O(len) once, then O(1).
    pub(crate) fn promote_if_long(&mut self) {
        if !self.is_indexed() && self.len() > PROMOTE_AT {
            self.promote();
        }
    }

    /// Removes the entry at `pos` by moving the last entry into its place.
    /// Returns the removed entry and, if one moved, the entry now at `pos`.
    /// O(1) expected.
    pub(crate) fn swap_remove(&mut self, pos: u32) -> (Entry<P>, Option<Entry<P>>) {
        let removed = self.entry(pos);
        (removed, self.swap_remove_known(pos, removed))
    }

    /// `swap_remove` of the entry at `pos` when the caller knows it is
    /// `removed` (the mirror of an entry just removed from the other
    /// list): the entry is not read back, which spares the two lines of a
    /// long list's node and back columns at `pos` a load each on the path
    /// of every remove. Returns the moved entry, if any. O(1) expected.
    ///
    /// The caller must pass the entry that is at `pos`: a wrong node
    /// would leave its position in the hash index (checked in debug
    /// builds only). `Junction::unlink` is the one caller, and junction
    /// invariant 1 (a mirror carries its entry's node, position and
    /// payload) is what makes its `removed` right.
    pub(super) fn swap_remove_known(&mut self, pos: u32, removed: Entry<P>) -> Option<Entry<P>> {
        debug_assert_eq!(self.entry(pos), removed, "the entry at {pos} is the one the caller names");
        // One match on the store for the entries, the length and the
        // index.
        let (moved, last) = match &mut self.store {
            Store::Inline { len, words } => {
                let last = u32::from(*len) - 1;
                let moved = move_last::<P>(words, INLINE_WORDS / P::WIDTH, pos, last);
                *len -= 1;
                (moved, last)
            }
            Store::Heap { len, words, filter } => {
                let last = *len - 1;
                let moved = move_last::<P>(words, words.len() / P::WIDTH, pos, last);
                *len = last;
                if (last as usize) <= FILTER_REFRESH {
                    *filter = filter_of(&words[..last as usize]);
                }
                (moved, last)
            }
            Store::Indexed { len, words, index } => {
                let last = *len - 1;
                let moved = move_last::<P>(words, words.len() / P::WIDTH, pos, last);
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
                (moved, last)
            }
        };
        if last == 0 {
            *self = Adj::default();
        }
        moved
    }

    /// The inverse of `swap_remove(pos)`: puts `entry` back at `pos`, moving
    /// the entry there (if any) to the end. Returns that displaced entry,
    /// now at the last position. O(1) expected.
    pub(crate) fn insert_at(&mut self, pos: u32, entry: Entry<P>) -> Option<Entry<P>> {
        let len = self.len() as u32;
        if pos == len {
            self.push(entry);
            return None;
        }
        let displaced = self.entry(pos);
        self.push_raw(displaced);
        self.write(pos as usize, entry);
        if let (nodes, Some(index)) = self.store.nodes_and_index() {
            if let Some(p) = index.find_mut(node_hash(displaced.node), |&p| p == pos) {
                *p = len;
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
    /// exactly the positions, and that the filter (if any) has every
    /// node's bit.
    pub(crate) fn verify_index(&self) -> Result<(), String> {
        let (words, len, cap) = self.raw();
        let heap = !matches!(self.store, Store::Inline { .. });
        if len > cap || (heap && words.len() % P::WIDTH != 0) {
            return Err(format!("{len} entries in a buffer of {} words for capacity {cap}", words.len()));
        }
        if let Store::Heap { filter, .. } = self.store {
            if let Some(n) = self.nodes().iter().find(|&&n| !admits(filter, n)) {
                return Err(format!("node {n} missing from the filter {filter:#x}"));
            }
        }
        let Some(index) = self.store.index() else {
            return Ok(());
        };
        if index.len() != len {
            return Err(format!("index holds {} positions for {len} entries", index.len()));
        }
        for (p, &n) in self.nodes().iter().enumerate() {
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

    impl<P: Payload> Adj<P> {
        fn to_vec(&self) -> Vec<Entry<P>> {
            (0..self.len() as u32).map(|p| self.entry(p)).collect()
        }
    }

    #[test]
    fn columns_survive_growth_and_removal() {
        let mut a: Adj<u32> = Adj::default();
        for n in 0..40 {
            assert_eq!(a.push(Entry { node: n, back: 100 + n, payload: 200 + n }), n);
            a.verify_index().unwrap();
        }
        assert_eq!(a.nodes(), (0..40).collect::<Vec<_>>());
        assert_eq!(a.payload_words(), (200..240).collect::<Vec<_>>());
        assert_eq!(a.entry(17), Entry { node: 17, back: 117, payload: 217 });
        a.set_back(17, 7);
        assert_eq!(a.back(17), 7);
        let (removed, moved) = a.swap_remove(3);
        assert_eq!(removed, Entry { node: 3, back: 103, payload: 203 });
        assert_eq!(moved, Some(Entry { node: 39, back: 139, payload: 239 }));
        assert_eq!(a.entry(3), Entry { node: 39, back: 139, payload: 239 });
        while a.len() > 0 {
            a.swap_remove(0);
        }
        assert!(matches!(a.store, Store::Inline { len: 0, .. }), "an emptied list frees its buffer");
        let mut b: Adj<()> = Adj::default();
        for n in 5..8 {
            b.push(e(n));
        }
        assert!(matches!(b.store, Store::Inline { len: 3, .. }), "three auto entries stay inline");
        assert_eq!(b.back(2), 8);
        b.push(e(8));
        assert!(matches!(b.store, Store::Heap { len: 4, .. }));
        assert_eq!(b.to_vec(), vec![e(5), e(6), e(7), e(8)]);
        assert_eq!(b.payload_words(), &[] as &[u32]);
        let mut c: Adj<u32> = Adj::default();
        c.push(Entry { node: 1, back: 2, payload: 3 });
        c.push(Entry { node: 4, back: 5, payload: 6 });
        assert!(matches!(c.store, Store::Inline { len: 2, .. }), "two custom entries stay inline");
        assert_eq!((c.nodes(), c.payload_words()), (&[1, 4][..], &[3, 6][..]));
        c.push(Entry { node: 7, back: 8, payload: 9 });
        assert_eq!(c.to_vec()[2], Entry { node: 7, back: 8, payload: 9 });
        assert_eq!(c.entry(1), Entry { node: 4, back: 5, payload: 6 });
    }

    #[test]
    fn promotes_and_demotes_with_hysteresis() {
        let mut a = Adj::default();
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
            for len in [1u32, 2, 3, 4, 5, PROMOTE_AT as u32 + 3] {
                for pos in 0..len {
                    let mut a = Adj::default();
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
        for len in [0u32, 1, 3, 4, 7, 8, 9, PROMOTE_AT as u32, PROMOTE_AT as u32 + 1, 70] {
            let mut a = Adj::default();
            for n in 0..len {
                a.push(e(n * 3));
            }
            for indexed in [false, true] {
                if indexed {
                    a.promote_if_long();
                }
                for probe in 0..len * 3 + 2 {
                    assert_eq!(a.contains(probe), a.find(probe).is_some(), "len {len}, probe {probe}");
                }
            }
        }
    }

    #[test]
    fn the_filter_rules_out_absent_nodes_and_stays_a_superset() {
        let mut a = Adj::default();
        let held: Vec<u32> = (0..8).map(|n| n * 7919).collect();
        for &n in &held {
            a.push(e(n));
        }
        let Store::Heap { filter, .. } = a.store else { panic!("eight entries are on the heap") };
        assert_eq!(filter, filter_of(&held));
        let absent: Vec<u32> = (0..10_000).filter(|n| !held.contains(n)).collect();
        let ruled_out = absent.iter().filter(|&&n| !admits(filter, n)).count();
        assert!(ruled_out > absent.len() / 2, "{ruled_out} of {} absent nodes ruled out", absent.len());
        for &n in &absent {
            assert_eq!((a.find(n), a.contains(n), a.contains_if_cheap(n)), (None, false, Some(false)));
            assert!(a.find_all(n).is_empty());
        }
        // A short list recomputes its filter on removal; a long one keeps
        // the removed node's bit, which `verify_index` accepts.
        a.swap_remove(0);
        assert!(matches!(a.store, Store::Heap { filter, .. } if filter == filter_of(a.nodes())));
        let mut long = Adj::default();
        for n in 0..=FILTER_REFRESH as u32 + 1 {
            long.push(e(n));
        }
        let Store::Heap { filter: before, .. } = long.store else { panic!("a long list is on the heap") };
        long.swap_remove(0);
        assert!(matches!(long.store, Store::Heap { filter, .. } if filter == before));
        long.verify_index().unwrap();
        assert_eq!((long.find(0), long.find(5)), (None, Some(5)));
        // `insert_at` (a rollback) sets the bit of the node it puts back.
        long.insert_at(0, e(0));
        long.verify_index().unwrap();
        // A promoted list drops its filter; demoted, it gets it back.
        long.promote_if_long();
        assert!(long.is_indexed());
        while long.len() >= PROMOTE_AT / 2 {
            long.swap_remove(0);
        }
        assert!(matches!(long.store, Store::Heap { filter, .. } if filter == filter_of(long.nodes())));
        long.verify_index().unwrap();
    }

    #[test]
    fn promote_and_demote_leave_other_forms_alone() {
        let filled = |len: u32| {
            let mut a = Adj::default();
            for n in 0..len {
                a.push(e(n));
            }
            a
        };
        let (mut inline, mut heap, mut indexed) = (filled(2), filled(8), filled(40));
        indexed.promote_if_long();
        inline.promote();
        heap.demote();
        indexed.promote();
        assert!(matches!(inline.store, Store::Inline { len: 2, .. }));
        assert!(matches!(heap.store, Store::Heap { len: 8, .. }));
        assert!(matches!(indexed.store, Store::Indexed { len: 40, .. }));
        for (a, len) in [(&inline, 2), (&heap, 8), (&indexed, 40)] {
            assert_eq!(a.nodes(), (0..len).collect::<Vec<_>>());
            a.verify_index().unwrap();
        }
    }

    #[test]
    fn verify_index_reports_a_node_missing_from_the_filter() {
        let mut a = Adj::default();
        for n in 0..8 {
            a.push(e(n));
        }
        if let Store::Heap { filter, .. } = &mut a.store {
            *filter &= !filter_bit(3);
        }
        assert!(a.verify_index().unwrap_err().contains("node 3 missing from the filter"));
    }

    #[test]
    fn find_all_sees_duplicates() {
        let mut a = Adj::default();
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
