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

use smallvec::SmallVec;

use hashbrown::HashTable;

/// The degree past which a list keeps a hash index of its positions.
pub(crate) const PROMOTE_AT: usize = 32;

/// One adjacency entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry<P> {
    /// The neighbour's slot.
    pub(crate) node: u32,
    /// The position of the mirror entry in the neighbour's list.
    pub(crate) back: u32,
    /// The through-table slot (custom through tables) or `()`.
    pub(crate) payload: P,
}

/// What an entry carries besides its node and back position, and so how
/// many entries a list keeps inline: as many as fit the 16 bytes the
/// spilled form uses for its pointer and length, which keeps every `Adj`
/// at 32 bytes.
pub(crate) trait Payload: Copy + std::fmt::Debug {
    /// The inline storage of a list.
    type Inline: smallvec::Array<Item = Entry<Self>> + Clone + std::fmt::Debug;
}

/// Auto-created through tables: no payload, two 8-byte entries inline.
impl Payload for () {
    type Inline = [Entry<()>; 2];
}

/// Custom through tables: the through row's slot, one 12-byte entry inline.
impl Payload for u32 {
    type Inline = [Entry<u32>; 1];
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
    list: SmallVec<P::Inline>,
    index: Option<Box<HashTable<u32>>>,
}

const _: () = assert!(std::mem::size_of::<Adj<()>>() == 32);
const _: () = assert!(std::mem::size_of::<Adj<u32>>() == 32);

impl<P: Payload> Default for Adj<P> {
    fn default() -> Self {
        Adj { list: SmallVec::new(), index: None }
    }
}

/// A cheap, well-mixed hash of a slot (a multiply, then the high half
/// folded into the low half, which hashbrown uses for the bucket).
fn node_hash(node: u32) -> u64 {
    let h = u64::from(node).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^ (h >> 29)
}

impl<P: Payload> Adj<P> {
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    #[inline]
    pub(crate) fn entries(&self) -> &[Entry<P>] {
        &self.list
    }

    #[inline]
    pub(crate) fn is_indexed(&self) -> bool {
        self.index.is_some()
    }

    pub(crate) fn set_back(&mut self, pos: u32, back: u32) {
        self.list[pos as usize].back = back;
    }

    /// A position holding `node`. O(1) expected when indexed, else a scan
    /// of at most `PROMOTE_AT` entries.
    #[inline(always)]
    pub(crate) fn find(&self, node: u32) -> Option<u32> {
        match &self.index {
            Some(index) => index.find(node_hash(node), |&p| self.list[p as usize].node == node).copied(),
            None => self.list.iter().position(|e| e.node == node).map(|p| p as u32),
        }
    }

    /// Every position holding `node` (several only in custom through tables
    /// with duplicate pairs). O(1 + matches) expected when indexed.
    pub(crate) fn find_all(&self, node: u32) -> SmallVec<[u32; 2]> {
        match &self.index {
            Some(index) => {
                index.iter_hash(node_hash(node)).copied().filter(|&p| self.list[p as usize].node == node).collect()
            }
            None => self.list.iter().enumerate().filter(|(_, e)| e.node == node).map(|(p, _)| p as u32).collect(),
        }
    }

    /// Appends an entry and returns its position. O(1) amortized.
    pub(crate) fn push(&mut self, entry: Entry<P>) -> u32 {
        let pos = self.list.len() as u32;
        self.list.push(entry);
        if let Some(index) = &mut self.index {
            let list = &self.list;
            index.insert_unique(node_hash(entry.node), pos, |&p| node_hash(list[p as usize].node));
        }
        pos
    }

    /// Builds the hash index if the list is long and has none. Called by
    /// writes before they search the list. O(len) once, then O(1).
    pub(crate) fn promote_if_long(&mut self) {
        if self.index.is_none() && self.list.len() > PROMOTE_AT {
            self.promote();
        }
    }

    /// Removes the entry at `pos` by moving the last entry into its place.
    /// Returns the removed entry and, if one moved, the entry now at `pos`.
    /// O(1) expected.
    pub(crate) fn swap_remove(&mut self, pos: u32) -> (Entry<P>, Option<Entry<P>>) {
        let last = self.list.len() as u32 - 1;
        if let Some(index) = &mut self.index {
            let list = &self.list;
            let hash = node_hash(list[pos as usize].node);
            if let Ok(e) = index.find_entry(hash, |&p| p == pos) {
                e.remove();
            }
            if last != pos {
                let moved_hash = node_hash(list[last as usize].node);
                if let Some(p) = index.find_mut(moved_hash, |&p| p == last) {
                    *p = pos;
                }
            }
        }
        let removed = self.list.swap_remove(pos as usize);
        let moved = (last != pos).then(|| self.list[pos as usize]);
        if self.list.len() < PROMOTE_AT / 2 {
            self.index = None;
        }
        if self.list.is_empty() && self.list.spilled() {
            self.list = SmallVec::new();
        }
        (removed, moved)
    }

    /// The inverse of `swap_remove(pos)`: puts `entry` back at `pos`, moving
    /// the entry there (if any) to the end. Returns that displaced entry,
    /// now at the last position. O(1) expected.
    pub(crate) fn insert_at(&mut self, pos: u32, entry: Entry<P>) -> Option<Entry<P>> {
        let len = self.list.len() as u32;
        if pos == len {
            self.push(entry);
            return None;
        }
        let displaced = self.list[pos as usize];
        self.list.push(displaced);
        self.list[pos as usize] = entry;
        if let Some(index) = &mut self.index {
            let list = &self.list;
            if let Some(p) = index.find_mut(node_hash(displaced.node), |&p| p == pos) {
                *p = len;
            }
            index.insert_unique(node_hash(entry.node), pos, |&p| node_hash(list[p as usize].node));
        }
        Some(displaced)
    }

    fn promote(&mut self) {
        let mut index = HashTable::with_capacity(self.list.len() * 2);
        for (p, e) in self.list.iter().enumerate() {
            let list = &self.list;
            index.insert_unique(node_hash(e.node), p as u32, |&q| node_hash(list[q as usize].node));
        }
        self.index = Some(Box::new(index));
    }

    /// Checks that the hash index (if any) holds exactly the positions.
    pub(crate) fn verify_index(&self) -> Result<(), String> {
        let Some(index) = &self.index else {
            return Ok(());
        };
        if index.len() != self.list.len() {
            return Err(format!("index holds {} positions for {} entries", index.len(), self.list.len()));
        }
        for (p, e) in self.list.iter().enumerate() {
            if index.find(node_hash(e.node), |&q| q as usize == p).is_none() {
                return Err(format!("position {p} (node {}) missing from the index", e.node));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(node: u32) -> Entry<()> {
        Entry { node, back: 0, payload: () }
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
        for len in [1u32, 2, 5, PROMOTE_AT as u32 + 3] {
            for pos in 0..len {
                let mut a = Adj::default();
                for n in 0..len {
                    a.push(e(n * 10));
                }
                a.promote_if_long();
                let before = a.entries().to_vec();
                let (removed, _) = a.swap_remove(pos);
                a.insert_at(pos, removed);
                assert_eq!(a.entries(), &before[..]);
                a.verify_index().unwrap();
            }
        }
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
