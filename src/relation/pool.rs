//! The pool of a junction's short adjacency lists' entries.
//!
//! A list that outgrows its header's inline room, up to [`POOL_CAPS`]'
//! largest capacity, keeps its entries in a block of this pool rather than
//! in a buffer of its own. A chunk stores its blocks column-wise across
//! blocks: every block's nodes in the chunk's first region, every block's
//! backs in the second (and payloads in a third), each region `stride`
//! words long. So the nodes of the many short lists of a relation sit next
//! to each other, and a read of a row's neighbours, which loads nodes only,
//! keeps nothing else in the cache: at size S of the peers benchmark the
//! `forward` read touches 12.8 MB (headers and nodes) where buffers of
//! their own, each a `malloc` chunk holding nodes then backs, made it touch
//! 22.4 MB (measured with 32-byte headers and no near form). The pool also
//! saves each short list the allocator's 16 bytes of bookkeeping and its
//! calls. See `docs/design.md`.
//!
//! A list in the adjacency's *near* form (short, just out of its inline
//! room) keeps its nodes in its header and leaves its block's node column
//! unused; the pool does not tell the two apart.
//!
//! A block is the same column layout as a heap buffer with the column
//! stride widened to the chunk's: entry `p`'s column `c` is at
//! `words[c * stride + p]` of the slice that starts at the block. So every
//! reader and writer of entries serves both with one code path.
//!
//! Freed blocks (of a list that grew out of its class, or emptied) go on
//! their class's free list. An allocation takes a block of its class
//! if one is free, else cuts the smallest larger free block, giving the
//! rest back as blocks of the largest classes that fit; only then does it
//! take fresh room. So the blocks a long list outgrows on its way up serve
//! the short lists that come after it, and a row whose degree rises and
//! falls again and again reuses the same room. A remainder smaller than
//! the smallest class (always 4 entries, since classes and chunk sizes are
//! multiples of 4) is counted as stranded, so that `verify` can check that
//! no block leaked.

use std::marker::PhantomData;

use super::adjacency::Payload;

/// The block capacities (entries), smallest first: the size classes of a
/// list between its header's inline room and a buffer of its own. Each is
/// a multiple of four entries, so a block's node column starts on a
/// 16-byte boundary. Growth by about 1.5x keeps the slack of a list of ten
/// (size L's users) at two entries rather than six. The smallest is 8, not
/// 4: when the inline form held two entries, growing to 4 and reallocating
/// again was a fifth of the peers `friends_add` load's instructions
/// (callgrind).
pub(crate) const POOL_CAPS: [u32; 5] = [8, 12, 16, 24, 32];

// `Pool::copy` has an arm per class, with these capacities.
const _: () =
    assert!(POOL_CAPS[0] == 8 && POOL_CAPS[1] == 12 && POOL_CAPS[2] == 16 && POOL_CAPS[3] == 24 && POOL_CAPS[4] == 32);

/// Entries per column of the first chunk; each later chunk doubles, up to
/// [`LAST_CHUNK`]. A relation with a handful of long rows spends 2 KB (3 KB
/// with a custom through), not the 512 KB (768 KB) of a full chunk.
const FIRST_CHUNK: usize = 256;

/// Entries per column of a chunk once the pool is large.
const LAST_CHUNK: usize = 1 << 16;

/// Where a block is: its chunk, and its first entry's position in each of
/// the chunk's columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Block {
    pub(crate) chunk: u32,
    pub(crate) at: u32,
}

/// The blocks of one junction (both directions share them); see the
/// module docs.
#[derive(Clone, Debug)]
pub(crate) struct Pool<P: Payload> {
    /// Each chunk holds `P::WIDTH` columns of `len / P::WIDTH` words.
    chunks: Vec<Box<[u32]>>,
    /// The next unused position of the last chunk's columns.
    fill: u32,
    /// Freed blocks, by class (an index into [`POOL_CAPS`]).
    free: [Vec<Block>; POOL_CAPS.len()],
    /// Entries of filled room in no block: remainders too small for any
    /// class. Only `verify` reads it.
    stranded: usize,
    payload: PhantomData<P>,
}

impl<P: Payload> Default for Pool<P> {
    fn default() -> Self {
        Pool { chunks: Vec::new(), fill: 0, free: Default::default(), stranded: 0, payload: PhantomData }
    }
}

impl Pool<()> {
    /// A pool with no blocks, for a read handle that has no junction to
    /// read. O(1).
    pub(crate) fn empty() -> &'static Pool<()> {
        static EMPTY: Pool<()> = Pool {
            chunks: Vec::new(),
            fill: 0,
            free: [const { Vec::new() }; POOL_CAPS.len()],
            stranded: 0,
            payload: PhantomData,
        };
        &EMPTY
    }
}

impl<P: Payload> Pool<P> {
    /// A block of class `class`: a freed one of that class, else the head
    /// of the smallest larger freed block (the rest is freed again), else
    /// the next room of the last chunk (a new chunk when it has none; the
    /// old chunk's tail is freed). O(1) amortized; a new chunk is O(its
    /// size).
    pub(crate) fn alloc(&mut self, class: usize) -> Block {
        if let Some(block) = self.free[class].pop() {
            return block;
        }
        let cap = POOL_CAPS[class];
        if let Some(larger) = (class + 1..POOL_CAPS.len()).find(|&c| !self.free[c].is_empty()) {
            if let Some(block) = self.free[larger].pop() {
                self.free_room(block.chunk, block.at + cap, POOL_CAPS[larger] - cap);
                return block;
            }
        }
        let stride = self.chunks.last().map_or(0, |c| c.len() / P::WIDTH);
        if (self.fill + cap) as usize > stride {
            if let Some(last) = self.chunks.len().checked_sub(1) {
                self.free_room(last as u32, self.fill, stride as u32 - self.fill);
            }
            let entries = (2 * stride).clamp(FIRST_CHUNK, LAST_CHUNK);
            self.chunks.push(vec![0; entries * P::WIDTH].into_boxed_slice());
            self.fill = 0;
        }
        let block = Block { chunk: self.chunks.len() as u32 - 1, at: self.fill };
        self.fill += cap;
        block
    }

    /// Gives back a block of class `class`. O(1).
    pub(crate) fn release(&mut self, class: usize, block: Block) {
        self.free[class].push(block);
    }

    /// Frees `len` entries of room from `at` in chunk `chunk` as blocks of
    /// the largest classes that fit; a remainder smaller than the smallest
    /// class is stranded. O(1): `len` is below the largest class.
    fn free_room(&mut self, chunk: u32, mut at: u32, mut len: u32) {
        for class in (0..POOL_CAPS.len()).rev() {
            while len >= POOL_CAPS[class] {
                self.free[class].push(Block { chunk, at });
                at += POOL_CAPS[class];
                len -= POOL_CAPS[class];
            }
        }
        self.stranded += len as usize;
    }

    /// The words from `block` to the end of its chunk, and the chunk's
    /// column stride: entry `p`'s column `c` is at `[c * stride + p]`.
    #[inline(always)]
    pub(crate) fn words(&self, block: Block) -> (&[u32], usize) {
        let chunk = &self.chunks[block.chunk as usize];
        (&chunk[block.at as usize..], chunk.len() / P::WIDTH)
    }

    /// The first `len` nodes of `block`: one bounds check, no stride.
    #[inline(always)]
    pub(crate) fn nodes(&self, block: Block, len: u32) -> &[u32] {
        let at = block.at as usize;
        &self.chunks[block.chunk as usize][at..at + len as usize]
    }

    /// [`words`](Self::words), mutably.
    #[inline(always)]
    pub(crate) fn words_mut(&mut self, block: Block) -> (&mut [u32], usize) {
        let chunk = &mut self.chunks[block.chunk as usize];
        let stride = chunk.len() / P::WIDTH;
        (&mut chunk[block.at as usize..], stride)
    }

    /// Copies block `from`, of class `class`, into the start of block
    /// `to`, column by column from column `first` on (1 for a near list,
    /// whose node column is unused): the whole block, whose size is then a
    /// constant of each arm, so the copy is a few vector moves rather than
    /// a `memmove` call per column (words past a list's entries are never
    /// read). O(the class's capacity).
    pub(crate) fn copy(&mut self, from: Block, to: Block, class: usize, first: usize) {
        match class {
            0 => self.copy_block::<8>(from, to, first),
            1 => self.copy_block::<12>(from, to, first),
            2 => self.copy_block::<16>(from, to, first),
            3 => self.copy_block::<24>(from, to, first),
            _ => self.copy_block::<32>(from, to, first),
        }
    }

    fn copy_block<const N: usize>(&mut self, from: Block, to: Block, first: usize) {
        for column in first..P::WIDTH {
            let mut entries = [0; N];
            let (words, stride) = self.words(from);
            entries.copy_from_slice(&words[column * stride..][..N]);
            let (words, stride) = self.words_mut(to);
            words[column * stride..][..N].copy_from_slice(&entries);
        }
    }

    /// Checks that `blocks` (the blocks lists hold, with their classes) and
    /// the free blocks lie inside the filled part of the chunks, that no
    /// two overlap, and that together with the stranded remainders they
    /// cover all of it (no block leaked). O(blocks log blocks).
    pub(crate) fn verify(&self, blocks: impl Iterator<Item = (usize, Block)>) -> Result<(), String> {
        let free = self.free.iter().enumerate().flat_map(|(class, v)| v.iter().map(move |&b| (class, b)));
        let mut spans: Vec<(u32, u32, u32)> =
            blocks.chain(free).map(|(class, b)| (b.chunk, b.at, b.at + POOL_CAPS[class])).collect();
        spans.sort_unstable();
        for (i, &(chunk, at, end)) in spans.iter().enumerate() {
            let Some(filled) = self.filled(chunk as usize) else {
                return Err(format!("block at {chunk}:{at} names a chunk the pool does not have"));
            };
            if end as usize > filled {
                return Err(format!("block {chunk}:{at}..{end} runs past the filled {filled} entries"));
            }
            if let Some(&(next_chunk, next_at, _)) = spans.get(i + 1) {
                if next_chunk == chunk && next_at < end {
                    return Err(format!("blocks {chunk}:{at}..{end} and {chunk}:{next_at} overlap"));
                }
            }
        }
        let covered = spans.iter().map(|&(_, at, end)| (end - at) as usize).sum::<usize>() + self.stranded;
        let filled = (0..self.chunks.len()).filter_map(|c| self.filled(c)).sum::<usize>();
        if covered != filled {
            return Err(format!("{filled} entries filled, {covered} held, free or stranded: a block leaked"));
        }
        Ok(())
    }

    /// Entries per column of chunk `chunk` that blocks have taken: all of
    /// them but in the last chunk, whose are up to `fill`. `None` for a
    /// chunk the pool does not have.
    fn filled(&self, chunk: usize) -> Option<usize> {
        let c = self.chunks.get(chunk)?;
        Some(if chunk + 1 == self.chunks.len() { self.fill as usize } else { c.len() / P::WIDTH })
    }

    /// Entries per column over all chunks.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.chunks.iter().map(|c| c.len() / P::WIDTH).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_disjoint_and_freed_ones_are_reused() {
        let mut pool: Pool<()> = Pool::default();
        let mut held: Vec<(usize, Block)> = Vec::new();
        for i in 0..2000 {
            let class = i % POOL_CAPS.len();
            held.push((class, pool.alloc(class)));
        }
        pool.verify(held.iter().copied()).unwrap();
        assert!(pool.chunks.len() > 2, "the pool grew by chunks");
        assert!(pool.chunks.iter().all(|c| c.len() / 2 <= LAST_CHUNK));
        assert!(pool.stranded < 4 * pool.chunks.len(), "at most a remainder per chunk tail");
        // A freed block of a class comes back for that class.
        let (class, block) = held.swap_remove(7);
        pool.release(class, block);
        pool.verify(held.iter().copied()).unwrap();
        assert_eq!(pool.alloc(class), block);
        held.push((class, block));
        pool.verify(held.iter().copied()).unwrap();
        // A freed 24-entry block serves three 8-entry ones when no 8 is
        // free: its head each time, the rest freed as the largest classes.
        let mut fresh: Pool<()> = Pool::default();
        let big = fresh.alloc(3);
        let after = fresh.alloc(1);
        fresh.release(3, big);
        let small: Vec<Block> = (0..3).map(|_| fresh.alloc(0)).collect();
        assert_eq!(small.iter().map(|b| b.at).collect::<Vec<_>>(), [big.at, big.at + 8, big.at + 16]);
        let all = small.iter().map(|&b| (0, b)).chain([(1, after)]);
        fresh.verify(all).unwrap();
        // A copy moves every column, within a chunk and across chunks.
        let (words, stride) = pool.words_mut(held[1].1);
        words[..3].copy_from_slice(&[1, 2, 3]);
        words[stride..stride + 3].copy_from_slice(&[4, 5, 6]);
        let last = held.iter().map(|h| h.1).max_by_key(|b| b.chunk).expect("blocks");
        for to in [held[2].1, last] {
            pool.copy(held[1].1, to, 1, 0);
            let (words, stride) = pool.words(to);
            assert_eq!((&words[..3], &words[stride..stride + 3]), (&[1, 2, 3][..], &[4, 5, 6][..]));
        }
        // From column 1 on, the first column is left as it was.
        let (words, stride) = pool.words_mut(held[1].1);
        words[..3].copy_from_slice(&[7, 8, 9]);
        words[stride..stride + 3].copy_from_slice(&[10, 11, 12]);
        pool.copy(held[1].1, held[2].1, 1, 1);
        let (words, stride) = pool.words(held[2].1);
        assert_eq!((&words[..3], &words[stride..stride + 3]), (&[1, 2, 3][..], &[10, 11, 12][..]));
        assert_ne!(held[1].1.chunk, last.chunk);
        pool.verify(held.iter().copied()).unwrap();
        // Writes through one block stay inside it, in each column.
        let (words, stride) = pool.words_mut(held[0].1);
        words[0] = 7;
        words[stride] = 9;
        let (words, stride) = pool.words(held[0].1);
        assert_eq!((words[0], words[stride]), (7, 9));
    }

    #[test]
    fn churn_reuses_room_and_verify_counts_every_entry() {
        let mut pool: Pool<u32> = Pool::default();
        let mut held: Vec<(usize, Block)> = Vec::new();
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut capacity_after_warmup = 0;
        for step in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if held.len() < 200 && state % 3 != 0 {
                let class = (state >> 8) as usize % POOL_CAPS.len();
                held.push((class, pool.alloc(class)));
            } else if !held.is_empty() {
                let (class, block) = held.swap_remove((state >> 16) as usize % held.len());
                pool.release(class, block);
            }
            if step % 500 == 0 {
                pool.verify(held.iter().copied()).unwrap();
            }
            if step == 5_000 {
                capacity_after_warmup = pool.capacity();
            }
        }
        pool.verify(held.iter().copied()).unwrap();
        // At most 200 blocks of 32 are held at once.
        assert!(pool.capacity() <= 4 * 200 * 32, "the pool grew to {} entries", pool.capacity());
        assert!(pool.capacity() <= 2 * capacity_after_warmup.max(FIRST_CHUNK));
        // A block that is neither held nor free is a leak `verify` reports.
        let (_, leaked) = held.pop().expect("blocks are held");
        let err = pool.verify(held.iter().copied()).unwrap_err();
        assert!(err.contains("a block leaked"), "{err} ({leaked:?})");
    }

    #[test]
    fn verify_reports_overlapping_blocks() {
        let mut pool: Pool<u32> = Pool::default();
        let a = pool.alloc(2);
        let b = Block { chunk: a.chunk, at: a.at + 4 };
        assert!(pool.verify([(2, a), (0, b)].into_iter()).unwrap_err().contains("overlap"));
        assert!(pool.verify([(0, Block { chunk: 5, at: 0 })].into_iter()).unwrap_err().contains("chunk"));
    }
}
