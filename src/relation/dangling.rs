//! The dangling links of one `db_constraint(false)` relation: pairs of ids
//! of which at least one names no row, kept beside the junction.
//!
//! A dangling link is a row of the relation's auto-created through table,
//! so it has a key, and a key names its row while the row exists. Links
//! live in numbered places (`index`), the key's id is `-index - 1`, and a
//! removed link leaves its place empty for a later one to reuse, as a
//! table's slots do: removing one link never moves another. Dangling links
//! are the exception (a link naming a row not inserted yet), so lookups by
//! pair are linear scans.

/// A dangling link: (source id, target id).
pub(crate) type Pair = (i64, i64);

/// Numbered places of dangling links; see the module docs.
#[derive(Clone, Debug, Default)]
pub(crate) struct DanglingLinks {
    places: Vec<Option<Pair>>,
    /// Empty places, the next to reuse last.
    free: Vec<u32>,
}

impl DanglingLinks {
    /// The number of links. O(1).
    pub(crate) fn len(&self) -> usize {
        self.places.len() - self.free.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The link at `index`, `None` for an empty or unknown place. O(1).
    pub(crate) fn get(&self, index: u32) -> Option<Pair> {
        self.places.get(index as usize).copied().flatten()
    }

    /// Every link with its place, in place order. O(places).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, Pair)> + '_ {
        self.places.iter().enumerate().filter_map(|(i, p)| p.map(|p| (i as u32, p)))
    }

    /// Whether `pair` is stored. O(places).
    pub(crate) fn contains(&self, pair: Pair) -> bool {
        self.places.contains(&Some(pair))
    }

    /// Stores `pair` in the most recently emptied place, or a new one.
    /// Returns its place and whether the place is new. O(1) amortized.
    pub(crate) fn insert(&mut self, pair: Pair) -> (u32, bool) {
        match self.free.pop() {
            Some(index) => {
                self.places[index as usize] = Some(pair);
                (index, false)
            }
            None => {
                self.places.push(Some(pair));
                (self.places.len() as u32 - 1, true)
            }
        }
    }

    /// Empties the place `index`; returns the link it held. O(1).
    pub(crate) fn remove(&mut self, index: u32) -> Option<Pair> {
        let pair = self.places.get_mut(index as usize)?.take()?;
        self.free.push(index);
        Some(pair)
    }

    /// Undoes `insert` (the last change to this store): `index` and
    /// `fresh` are what it returned. O(1).
    pub(crate) fn undo_insert(&mut self, index: u32, fresh: bool) {
        if fresh {
            self.places.pop();
        } else if let Some(place) = self.places.get_mut(index as usize) {
            *place = None;
            self.free.push(index);
        }
    }

    /// Undoes `remove(index)` (the last change to this store). O(1).
    pub(crate) fn undo_remove(&mut self, index: u32, pair: Pair) {
        if self.free.last() == Some(&index) {
            self.free.pop();
            self.places[index as usize] = Some(pair);
        }
    }

    /// Checks that the free list names exactly the empty places, once each.
    pub(crate) fn verify(&self) -> Result<(), String> {
        let empty = self.places.iter().filter(|p| p.is_none()).count();
        let mut free = self.free.clone();
        free.sort_unstable();
        free.dedup();
        if free.len() != self.free.len() || empty != self.free.len() {
            return Err(format!("{} empty places but a free list of {:?}", empty, self.free));
        }
        match free.iter().find(|&&i| self.get(i).is_some() || i as usize >= self.places.len()) {
            Some(i) => Err(format!("free place {i} holds a link or does not exist")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_stable_and_reused_and_undo_restores_them() {
        let mut d = DanglingLinks::default();
        let (a, _) = d.insert((1, 100));
        let (b, _) = d.insert((2, 100));
        let (c, _) = d.insert((3, 100));
        assert_eq!(d.remove(a), Some((1, 100)));
        assert_eq!((d.get(b), d.get(c)), (Some((2, 100)), Some((3, 100))), "removing a link moves no other");
        assert_eq!(d.len(), 2);
        let before = (d.places.clone(), d.free.clone());
        let (reused, fresh) = d.insert((4, 100));
        assert_eq!((reused, fresh), (a, false), "an emptied place is reused");
        d.undo_insert(reused, fresh);
        assert_eq!((d.places.clone(), d.free.clone()), before);
        let pair = d.remove(c).unwrap();
        d.undo_remove(c, pair);
        assert_eq!((d.places.clone(), d.free.clone()), before);
        let (new, fresh) = d.insert((5, 100));
        let (newer, fresh2) = d.insert((6, 100));
        assert!(!fresh && fresh2 && newer == 3);
        d.undo_insert(newer, fresh2);
        d.undo_insert(new, fresh);
        assert_eq!((d.places.clone(), d.free.clone()), before);
        d.verify().unwrap();
        assert_eq!(d.iter().collect::<Vec<_>>(), vec![(b, (2, 100)), (c, (3, 100))]);
        assert!(d.contains((2, 100)) && !d.contains((1, 100)));
    }
}
