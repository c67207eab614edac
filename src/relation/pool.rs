//! The pool of the entries of a junction's adjacency lists up to 256
//! entries long.
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
//! calls. The same holds for long lists (a group's members): their nodes
//! in a block lie next to other lists' nodes, where a buffer of their own
//! would put its unread back column between them. See `docs/design.md`.
//!
//! A list in the adjacency's *near* form (short, just out of its inline
//! room) keeps its nodes in its header; its block's node column holds
//! some of its backs (auto-created throughs) or nothing (custom ones). The
//! pool does not tell the forms apart.
//!
//! A block is the same column layout as a heap buffer with the column
//! stride widened to the chunk's: entry `p`'s column `c` is at
//! `words[c * stride + p]` of the slice that starts at the block. So every
//! reader and writer of entries serves both with one code path.
//!
//! The classes of up to 32 entries share chunks, as follows; the longer
//! classes have slabs of their own, given back to the allocator with their
//! last block (see [`SHARED_CLASSES`]).
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
///
/// The first five classes (up to [`PROMOTE_AT`](super::adjacency::PROMOTE_AT))
/// are the short lists'; the classes past them hold long lists up to 256
/// entries, so that their nodes lie next to other lists' nodes rather
/// than at the head of a buffer of their own, followed by its back column
/// that a read never touches. With buffers, the peers `reverse` at size S
/// (a group's 160 members, 640 bytes of nodes in every 2 KiB buffer) ran
/// at 81.9 ns against `dense`'s 53.9 (medians of six alternating runs;
/// `dense`'s 1 KiB buffers hold nodes alone); pooled, at 55.8. A `dense`
/// made to leave its buffers as sparse as ours (twice the capacity) read
/// as slowly: 77.5 ns against 48.1, with or without huge pages, so it is
/// not the TLB. Classes up to 1024 (size L's groups of 500) made `reverse`
/// at L 8% faster and cost 1.3 bytes per link there, so they stop at 256.
/// See `docs/design.md`, twelfth session.
pub(crate) const POOL_CAPS: [u32; 11] = [8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256];

// `Pool::copy` has an arm per class up to 32 entries, with these capacities.
const _: () =
    assert!(POOL_CAPS[0] == 8 && POOL_CAPS[1] == 12 && POOL_CAPS[2] == 16 && POOL_CAPS[3] == 24 && POOL_CAPS[4] == 32);

/// The classes below this index are the *shared* ones (up to 32 entries):
/// their blocks are cut anywhere from chunks that all of them share, and a
/// freed block of one can be cut again for a smaller class. The classes
/// from it on (long lists) have *slabs*: chunks of blocks of one class
/// (one block in a class's first slab, two in its second, then four,
/// eight, and [`SLAB_BLOCKS`]: a relation with a few long rows spends a
/// block's room on each, not a full slab's), whose memory goes back to the
/// allocator as soon as their last block is freed. A long list passes
/// through every class on its way up, and lists of a relation grow
/// together (every group gains members at the same rate), so each class's
/// blocks are freed in bulk once the lists have outgrown it; cut for
/// smaller classes instead, the blocks of the class a size-S load had just
/// left (128 entries, for groups of 160) stayed free, and the load took
/// 38.2 bytes per link against 31.5 (at L, 30.8 against 25.8).
const SHARED_CLASSES: usize = 5;

/// The most blocks a slab has: a slab is released only when all of them
/// are free, so one list left behind in a class keeps up to this many
/// blocks' room.
const SLAB_BLOCKS: u32 = 16;

/// The blocks of a new slab of a class that has `slabs` slabs: 1, 2, 4,
/// ... up to [`SLAB_BLOCKS`]. O(1).
fn slab_blocks(slabs: u32) -> u32 {
    1u32.checked_shl(slabs).unwrap_or(SLAB_BLOCKS).min(SLAB_BLOCKS)
}

/// Entries per column of the first chunk; each later chunk doubles, up to
/// [`LAST_CHUNK`]. A relation with a handful of short rows spends 2 KB (3
/// KB with a custom through), not the 512 KB (768 KB) of a full chunk.
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

/// What a chunk holds.
#[derive(Clone, Debug)]
enum Chunk {
    /// Blocks of the shared classes, anywhere.
    Shared,
    /// Blocks of class `class` (the chunk's length over the class's
    /// block size, at most [`SLAB_BLOCKS`]); `free` holds the first
    /// positions of those no list holds.
    Slab { class: u8, free: Vec<u32> },
    /// A slab whose blocks were all freed: its memory went back to the
    /// allocator, and its index waits for the next chunk.
    Released,
}

/// The blocks of one junction (both directions share them); see the
/// module docs.
#[derive(Clone, Debug)]
pub(crate) struct Pool<P: Payload> {
    /// Each chunk holds `P::WIDTH` columns of `len / P::WIDTH` words (none,
    /// once released).
    chunks: Vec<Box<[u32]>>,
    /// What each chunk holds, by index.
    kinds: Vec<Chunk>,
    /// The shared chunk being filled, if any, and its next unused position.
    open: Option<u32>,
    fill: u32,
    /// Freed blocks of the shared classes, by class.
    free: [Vec<Block>; SHARED_CLASSES],
    /// Per slab class (from [`SHARED_CLASSES`] on), slabs that may have a
    /// free block: a slab is added when one of its blocks is freed while
    /// it had none, and an entry that turns out full, released or reused
    /// for another class is dropped when `alloc` comes to it.
    partial: [Vec<u32>; POOL_CAPS.len() - SHARED_CLASSES],
    /// Indexes of released chunks, for new chunks to take.
    released: Vec<u32>,
    /// Slabs of each slab class, released ones not counted.
    slabs: [u32; POOL_CAPS.len() - SHARED_CLASSES],
    /// Entries of filled room in no block: remainders too small for any
    /// class. Only `verify` reads it.
    stranded: usize,
    payload: PhantomData<P>,
}

impl<P: Payload> Default for Pool<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Payload> Pool<P> {
    /// A pool with no chunks. O(1).
    const fn new() -> Self {
        Pool {
            chunks: Vec::new(),
            kinds: Vec::new(),
            open: None,
            fill: 0,
            free: [const { Vec::new() }; SHARED_CLASSES],
            partial: [const { Vec::new() }; POOL_CAPS.len() - SHARED_CLASSES],
            released: Vec::new(),
            slabs: [0; POOL_CAPS.len() - SHARED_CLASSES],
            stranded: 0,
            payload: PhantomData,
        }
    }
}

impl Pool<()> {
    /// A pool with no blocks, for a read handle that has no junction to
    /// read. O(1).
    pub(crate) fn empty() -> &'static Pool<()> {
        static EMPTY: Pool<()> = Pool::new();
        &EMPTY
    }
}

impl<P: Payload> Pool<P> {
    /// A block of class `class`. For a shared class: a freed one of that
    /// class, else the head of the smallest larger freed block (the rest
    /// is freed again), else the next room of the open shared chunk (a new
    /// one when it has none; the old one's tail is freed). For a slab
    /// class: a free block of one of its slabs, else the first block of a
    /// new slab. O(1) amortized; a new chunk is O(its size).
    pub(crate) fn alloc(&mut self, class: usize) -> Block {
        if class >= SHARED_CLASSES {
            return self.alloc_slab(class);
        }
        if let Some(block) = self.free[class].pop() {
            return block;
        }
        let cap = POOL_CAPS[class];
        if let Some(larger) = (class + 1..SHARED_CLASSES).find(|&c| !self.free[c].is_empty()) {
            if let Some(block) = self.free[larger].pop() {
                self.free_room(block.chunk, block.at + cap, POOL_CAPS[larger] - cap);
                return block;
            }
        }
        let stride = self.open.map_or(0, |c| self.chunks[c as usize].len() / P::WIDTH);
        let chunk = match self.open {
            Some(open) if (self.fill + cap) as usize <= stride => open,
            open => {
                if let Some(open) = open {
                    self.free_room(open, self.fill, stride as u32 - self.fill);
                }
                let chunk = self.new_chunk((2 * stride).clamp(FIRST_CHUNK, LAST_CHUNK), Chunk::Shared);
                (self.open, self.fill) = (Some(chunk), 0);
                chunk
            }
        };
        let block = Block { chunk, at: self.fill };
        self.fill += cap;
        block
    }

    /// [`alloc`](Self::alloc) for a slab class. O(1) amortized (entries of
    /// the class's list of slabs with room are dropped at most once each).
    fn alloc_slab(&mut self, class: usize) -> Block {
        let slab_class = class - SHARED_CLASSES;
        let partial = &mut self.partial[slab_class];
        while let Some(&chunk) = partial.last() {
            if let Chunk::Slab { class: c, free } = &mut self.kinds[chunk as usize] {
                if usize::from(*c) == class {
                    if let Some(at) = free.pop() {
                        if free.is_empty() {
                            partial.pop();
                        }
                        return Block { chunk, at };
                    }
                }
            }
            partial.pop();
        }
        let cap = POOL_CAPS[class];
        let blocks = slab_blocks(self.slabs[slab_class]);
        // Blocks are handed out from the slab's start.
        let free: Vec<u32> = (1..blocks).rev().map(|b| b * cap).collect();
        let chunk = self.new_chunk((blocks * cap) as usize, Chunk::Slab { class: class as u8, free });
        if blocks > 1 {
            self.partial[slab_class].push(chunk);
        }
        self.slabs[slab_class] += 1;
        Block { chunk, at: 0 }
    }

    /// The words of one block of class `class`, all columns counted: a
    /// slab of that class is a whole number of them.
    fn block_words(class: usize) -> usize {
        POOL_CAPS[class] as usize * P::WIDTH
    }

    /// A zeroed chunk of `entries` entries per column holding `kind`, at a
    /// released index if there is one. O(entries).
    fn new_chunk(&mut self, entries: usize, kind: Chunk) -> u32 {
        let words = vec![0; entries * P::WIDTH].into_boxed_slice();
        match self.released.pop() {
            Some(i) => {
                (self.chunks[i as usize], self.kinds[i as usize]) = (words, kind);
                i
            }
            None => {
                self.chunks.push(words);
                self.kinds.push(kind);
                self.chunks.len() as u32 - 1
            }
        }
    }

    /// Gives back a block of class `class`; a slab whose last block it was
    /// goes back to the allocator. O(1).
    pub(crate) fn release(&mut self, class: usize, block: Block) {
        if class < SHARED_CLASSES {
            self.free[class].push(block);
            return;
        }
        let i = block.chunk as usize;
        let blocks = self.chunks[i].len() / Self::block_words(class);
        let Chunk::Slab { free, .. } = &mut self.kinds[i] else {
            debug_assert!(false, "a block of class {class} in a chunk that is no slab");
            return;
        };
        free.push(block.at);
        if free.len() == blocks {
            (self.chunks[i], self.kinds[i]) = (Box::default(), Chunk::Released);
            self.released.push(block.chunk);
            self.slabs[class - SHARED_CLASSES] -= 1;
        } else if free.len() == 1 {
            self.partial[class - SHARED_CLASSES].push(block.chunk);
        }
    }

    /// Frees `len` entries of room from `at` in shared chunk `chunk` as
    /// blocks of the largest shared classes that fit; a remainder smaller
    /// than the smallest class is stranded. O(1): `len` is below the
    /// largest shared class.
    fn free_room(&mut self, chunk: u32, mut at: u32, mut len: u32) {
        for class in (0..SHARED_CLASSES).rev() {
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
    /// `to`, column by column from column `first` on (1 for a custom
    /// through's near list, whose node column is unused): the whole block.
    /// A small class's size is then a constant of its arm, so the copy is
    /// a few vector moves rather than a `memmove` call per column (words
    /// past a list's entries are never read); a larger class's is a
    /// `memmove` per column. O(the class's capacity).
    pub(crate) fn copy(&mut self, from: Block, to: Block, class: usize, first: usize) {
        match class {
            0 => self.copy_block::<8>(from, to, first),
            1 => self.copy_block::<12>(from, to, first),
            2 => self.copy_block::<16>(from, to, first),
            3 => self.copy_block::<24>(from, to, first),
            4 => self.copy_block::<32>(from, to, first),
            _ => self.copy_columns(from, to, POOL_CAPS[class] as usize, first),
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

    /// Copies the first `n` entries of block `from` into the start of
    /// block `to`, every column (a list moving down to a smaller class).
    /// O(n).
    pub(crate) fn copy_entries(&mut self, from: Block, to: Block, n: usize) {
        self.copy_columns(from, to, n, 0);
    }

    /// [`copy`](Self::copy) of `n` entries a column, for the classes past
    /// 32 entries: the blocks may share a chunk or not.
    fn copy_columns(&mut self, from: Block, to: Block, n: usize, first: usize) {
        let (source, target) = (from.chunk as usize, to.chunk as usize);
        for column in first..P::WIDTH {
            if source == target {
                let chunk = &mut self.chunks[source];
                let stride = chunk.len() / P::WIDTH;
                let at = column * stride + from.at as usize;
                chunk.copy_within(at..at + n, column * stride + to.at as usize);
            } else {
                let (read, write) = if source < target {
                    let (head, tail) = self.chunks.split_at_mut(target);
                    (&head[source], &mut tail[0])
                } else {
                    let (head, tail) = self.chunks.split_at_mut(source);
                    (&tail[0], &mut head[target])
                };
                let (read_stride, write_stride) = (read.len() / P::WIDTH, write.len() / P::WIDTH);
                let words = &read[column * read_stride + from.at as usize..][..n];
                write[column * write_stride + to.at as usize..][..n].copy_from_slice(words);
            }
        }
    }

    /// Checks that `blocks` (the blocks lists hold, with their classes) and
    /// the free blocks lie inside the filled part of the chunks, each in a
    /// chunk of its kind (a slab's at a block boundary of its class), that
    /// no two overlap, and that together with the stranded remainders they
    /// cover all of it (no block leaked), and that no slab is wholly free
    /// (it would have been released). O(blocks log blocks).
    pub(crate) fn verify(&self, blocks: impl Iterator<Item = (usize, Block)>) -> Result<(), String> {
        let free = self.free.iter().enumerate().flat_map(|(class, v)| v.iter().map(move |&b| (class, b)));
        let slab_free = self.kinds.iter().enumerate().flat_map(|(chunk, kind)| match kind {
            Chunk::Slab { class, free } => {
                free.iter().map(|&at| (usize::from(*class), Block { chunk: chunk as u32, at })).collect::<Vec<_>>()
            }
            _ => Vec::new(),
        });
        let mut spans: Vec<(u32, u32, u32)> = Vec::new();
        for (class, b) in blocks.chain(free).chain(slab_free) {
            let Some(kind) = self.kinds.get(b.chunk as usize) else {
                return Err(format!("block at {}:{} names a chunk the pool does not have", b.chunk, b.at));
            };
            let cap = POOL_CAPS[class];
            match kind {
                Chunk::Shared if class < SHARED_CLASSES => {}
                Chunk::Slab { class: c, .. } if usize::from(*c) == class && b.at % cap == 0 => {}
                _ => {
                    return Err(format!("a block of class {class} at {}:{} in a chunk holding {kind:?}", b.chunk, b.at))
                }
            }
            spans.push((b.chunk, b.at, b.at + cap));
        }
        spans.sort_unstable();
        for (i, &(chunk, at, end)) in spans.iter().enumerate() {
            let filled = self.filled(chunk as usize);
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
        let filled = (0..self.chunks.len()).map(|c| self.filled(c)).sum::<usize>();
        if covered != filled {
            return Err(format!("{filled} entries filled, {covered} held, free or stranded: a block leaked"));
        }
        self.verify_chunks()
    }

    /// The chunks' own bookkeeping: the open chunk is a shared one; a
    /// slab's length is a whole number of its class's blocks, at most
    /// [`SLAB_BLOCKS`], not all of them free (it would have been
    /// released), and with a free one it is on its class's list of slabs
    /// with room; each class counts its slabs; the released indexes are
    /// exactly the released chunks, once each, and hold no room. O(chunks
    /// + the lists' entries).
    fn verify_chunks(&self) -> Result<(), String> {
        if let Some(open) = self.open {
            if !matches!(self.kinds.get(open as usize), Some(Chunk::Shared)) {
                return Err(format!("the open chunk {open} is not a shared one"));
            }
        }
        let with_room: hashbrown::HashSet<(usize, u32)> =
            self.partial.iter().enumerate().flat_map(|(c, list)| list.iter().map(move |&chunk| (c, chunk))).collect();
        let mut slabs = [0u32; POOL_CAPS.len() - SHARED_CLASSES];
        let mut released: Vec<u32> = Vec::new();
        for (chunk, kind) in self.kinds.iter().enumerate() {
            match kind {
                Chunk::Shared => {}
                Chunk::Slab { class, free } => {
                    let class = usize::from(*class);
                    let block_words = Self::block_words(class);
                    let blocks = self.chunks[chunk].len() / block_words;
                    if class < SHARED_CLASSES
                        || self.chunks[chunk].len() % block_words != 0
                        || !(1..=SLAB_BLOCKS as usize).contains(&blocks)
                    {
                        return Err(format!("slab {chunk} of class {class} is {} words", self.chunks[chunk].len()));
                    }
                    if free.len() >= blocks {
                        return Err(format!("slab {chunk} is wholly free but not released"));
                    }
                    if !free.is_empty() && !with_room.contains(&(class - SHARED_CLASSES, chunk as u32)) {
                        return Err(format!("slab {chunk} has a free block but is not listed as having room"));
                    }
                    slabs[class - SHARED_CLASSES] += 1;
                }
                Chunk::Released => {
                    if !self.chunks[chunk].is_empty() {
                        return Err(format!("released chunk {chunk} still holds room"));
                    }
                    released.push(chunk as u32);
                }
            }
        }
        if slabs != self.slabs {
            return Err(format!("slabs per class {slabs:?}, counted {:?}", self.slabs));
        }
        let mut listed = self.released.clone();
        listed.sort_unstable();
        if listed != released {
            return Err(format!("released chunks {released:?}, listed {listed:?}"));
        }
        Ok(())
    }

    /// Entries per column of chunk `chunk` that blocks have taken: all of
    /// them but in the open shared chunk, whose are up to `fill`, and none
    /// in a released one (or a chunk the pool does not have).
    fn filled(&self, chunk: usize) -> usize {
        match self.kinds.get(chunk) {
            Some(Chunk::Shared) if self.open == Some(chunk as u32) => self.fill as usize,
            Some(Chunk::Shared | Chunk::Slab { .. }) => self.chunks[chunk].len() / P::WIDTH,
            Some(Chunk::Released) | None => 0,
        }
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
        // Chunk tails and cut blocks strand remainders of 4 entries (a
        // difference of two classes, 12 - 8 or 16 - 12, is the one that no
        // class fits): a sliver of the pool.
        assert!(pool.stranded % 4 == 0 && pool.stranded * 100 < pool.capacity(), "{} stranded", pool.stranded);
        // A freed block of a shared class comes back for that class.
        let (class, block) = held.swap_remove(3);
        assert!(class < SHARED_CLASSES);
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
    fn a_large_class_copies_every_column_within_and_across_chunks() {
        let mut pool: Pool<u32> = Pool::default();
        let class = POOL_CAPS.iter().position(|&c| c == 256).expect("a class of 256");
        let n = POOL_CAPS[class] as usize;
        // A class's slabs hold 1, 2, 4, ... blocks: the first block is a
        // slab alone, the next two share one.
        let all: Vec<Block> = (0..3).map(|_| pool.alloc(class)).collect();
        let blocks = [all[0], all[1], all[2]];
        assert_eq!(blocks.iter().map(|b| b.chunk).collect::<Vec<_>>(), [0, 1, 1]);
        // Within a chunk, from an earlier chunk, and from a later one.
        for (from, to) in [(blocks[1], blocks[2]), (blocks[0], blocks[1]), (blocks[2], blocks[0])] {
            for first in [0, 1] {
                let (words, stride) = pool.words_mut(from);
                for column in 0..3 {
                    for p in 0..n {
                        words[column * stride + p] = (column * 1000 + p) as u32;
                    }
                }
                let (words, stride) = pool.words_mut(to);
                for column in 0..3 {
                    words[column * stride..][..n].fill(u32::MAX);
                }
                pool.copy(from, to, class, first);
                let (words, stride) = pool.words(to);
                for column in 0..3 {
                    let expected: Vec<u32> = if column < first {
                        vec![u32::MAX; n]
                    } else {
                        (0..n).map(|p| (column * 1000 + p) as u32).collect()
                    };
                    assert_eq!(&words[column * stride..][..n], &expected[..], "{from:?} -> {to:?}, first {first}");
                }
            }
        }
        pool.verify(all.iter().map(|&b| (class, b))).unwrap();
    }

    #[test]
    fn a_slab_goes_back_to_the_allocator_with_its_last_block() {
        let mut pool: Pool<()> = Pool::default();
        let (small, large) = (3, SHARED_CLASSES + 2);
        let mut held: Vec<(usize, Block)> = vec![(small, pool.alloc(small))];
        // Slabs of 1, 2, 4, 8, 16 and 16 blocks.
        for _ in 0..47 {
            held.push((large, pool.alloc(large)));
        }
        pool.verify(held.iter().copied()).unwrap();
        let slab_sizes: Vec<usize> =
            pool.chunks.iter().filter(|c| !c.is_empty()).map(|c| c.len() / (2 * POOL_CAPS[large] as usize)).collect();
        assert!(slab_sizes.ends_with(&[1, 2, 4, 8, 16, 16]), "{slab_sizes:?}");
        let before = pool.capacity();
        // Freeing all but one block of the slab of 8 keeps it; the last
        // one releases it, and its room leaves the pool.
        let chunk = held[1 + 1 + 2 + 4].1.chunk;
        let first: Vec<(usize, Block)> = held.iter().copied().filter(|&(_, b)| b.chunk == chunk).collect();
        assert_eq!(first.len(), 8);
        held.retain(|h| !first.contains(h));
        for (i, &(class, block)) in first.iter().enumerate().skip(1) {
            pool.release(class, block);
            let still = held.iter().chain(&first[..1]).chain(&first[i + 1..]);
            pool.verify(still.copied()).unwrap();
        }
        assert_eq!(pool.capacity(), before);
        pool.release(first[0].0, first[0].1);
        pool.verify(held.iter().copied()).unwrap();
        assert_eq!(pool.capacity(), before - 8 * POOL_CAPS[large] as usize);
        // A block in a released chunk, or of the wrong class, is an error.
        let err = pool.verify(held.iter().copied().chain([first[0]])).unwrap_err();
        assert!(err.contains("in a chunk holding Released"), "{err}");
        let mislabelled = held.iter().map(|&(c, b)| (if c == large { large + 1 } else { c }, b));
        assert!(pool.verify(mislabelled).is_err());
        // The released index serves the next chunk, a first slab of its
        // class (one block); its stale entry in the list of slabs with
        // room is dropped when an allocation comes to it.
        let again = pool.alloc(large + 1);
        assert_eq!(again.chunk, chunk);
        held.push((large + 1, again));
        pool.verify(held.iter().copied()).unwrap();
        for _ in 0..20 {
            held.push((large, pool.alloc(large)));
            pool.verify(held.iter().copied()).unwrap();
        }
        // A freed block of a full slab serves the next allocation of its
        // class.
        let (class, block) = held[3];
        pool.release(class, block);
        assert_eq!(pool.alloc(class), block);
        pool.verify(held.iter().copied()).unwrap();
        // Broken bookkeeping is reported: a wholly free slab not released,
        // a slab with room not listed, a live chunk listed as released.
        let mut stale = pool.clone();
        let Chunk::Slab { free, .. } = &mut stale.kinds[again.chunk as usize] else { panic!("a slab") };
        free.push(again.at);
        let rest: Vec<(usize, Block)> = held.iter().copied().filter(|&(c, _)| c != large + 1).collect();
        assert!(stale.verify(rest.iter().copied()).unwrap_err().contains("wholly free"), "a free slab");
        let mut unlisted = pool.clone();
        for list in &mut unlisted.partial {
            list.clear();
        }
        let (class, block) = held[3];
        unlisted.release(class, block);
        unlisted.partial[class - SHARED_CLASSES].clear();
        let rest: Vec<(usize, Block)> = held.iter().copied().filter(|&h| h != (class, block)).collect();
        assert!(unlisted.verify(rest.iter().copied()).unwrap_err().contains("not listed"));
        let mut twice = pool.clone();
        twice.release(large, held[5].1);
        let extra = twice.alloc(large);
        assert_eq!(extra, held[5].1);
        twice.released.push(0);
        assert!(twice.verify(held.iter().copied()).is_err());
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
        // At most 200 blocks of the largest class are held at once.
        let most = 200 * POOL_CAPS[POOL_CAPS.len() - 1] as usize;
        assert!(pool.capacity() <= 4 * most, "the pool grew to {} entries", pool.capacity());
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
