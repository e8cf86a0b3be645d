//! The op budget: a generated trace has exactly the number of operations asked for.

use super::dice::Dice;
use crate::trace::{Header, Op, Trace};

/// The set of live ids, with O(1) insert, remove and uniform choice. Its order depends
/// only on the sequence of operations, never on addresses or hashing.
#[derive(Default)]
struct LiveSet {
    ids: Vec<usize>,
    /// `slot[id]` is the position of `id` in `ids`, or `ABSENT`.
    slot: Vec<usize>,
}

const ABSENT: usize = usize::MAX;

impl LiveSet {
    fn insert(&mut self, id: usize) {
        if id >= self.slot.len() {
            self.slot.resize(id + 1, ABSENT);
        }
        debug_assert_eq!(self.slot[id], ABSENT);
        self.slot[id] = self.ids.len();
        self.ids.push(id);
    }

    fn remove(&mut self, id: usize) {
        let pos = self.slot[id];
        assert_ne!(pos, ABSENT, "generator bug: id {id} is not live");
        self.ids.swap_remove(pos);
        if let Some(&moved) = self.ids.get(pos) {
            self.slot[moved] = pos;
        }
        self.slot[id] = ABSENT;
    }

    fn contains(&self, id: usize) -> bool {
        self.slot.get(id).is_some_and(|&pos| pos != ABSENT)
    }

    fn len(&self) -> usize {
        self.ids.len()
    }
}

/// Accumulates a trace's operations within a fixed budget.
///
/// The budget rule that makes the op count exact: the generator may only allocate
/// while, afterwards, the operations left still cover one free for every live block.
/// `slack()` is that margin. An allocation costs two units of slack (one op now, one
/// free owed later), a resize one, and a free none (it spends an op it already owed).
/// Workloads run until an allocation is refused, and [`Builder::finish`] spends the
/// last unit or two and the owed frees.
pub(super) struct Builder {
    budget: usize,
    ops: Vec<Op>,
    /// The current requested size of every id ever allocated.
    size: Vec<usize>,
    live: LiveSet,
    pub(super) live_bytes: usize,
    peak_bytes: usize,
    /// Whether any `r` with a non-zero size was written.
    resized: bool,
}

impl Builder {
    pub(super) fn new(budget: usize) -> Builder {
        Builder {
            budget,
            // A silly budget must not reserve silly memory up front.
            ops: Vec::with_capacity(budget.min(1 << 20)),
            size: Vec::new(),
            live: LiveSet::default(),
            live_bytes: 0,
            peak_bytes: 0,
            resized: false,
        }
    }

    pub(super) fn slack(&self) -> usize {
        self.budget - self.ops.len() - self.live.len()
    }

    pub(super) fn can_alloc(&self) -> bool {
        self.slack() >= 2
    }

    pub(super) fn clock(&self) -> usize {
        self.ops.len()
    }

    pub(super) fn live_count(&self) -> usize {
        self.live.len()
    }

    pub(super) fn is_live(&self, id: usize) -> bool {
        self.live.contains(id)
    }

    pub(super) fn size_of(&self, id: usize) -> usize {
        self.size[id]
    }

    pub(super) fn random_live(&self, dice: &mut Dice) -> usize {
        dice.pick(&self.live.ids)
    }

    fn account(&mut self, old: usize, new: usize) {
        self.live_bytes = self.live_bytes - old + new;
        self.peak_bytes = self.peak_bytes.max(self.live_bytes);
    }

    /// Allocates a new id of `size` bytes, or returns `None` when the budget cannot
    /// also cover its free.
    pub(super) fn alloc(&mut self, size: usize) -> Option<usize> {
        if !self.can_alloc() {
            return None;
        }
        let id = self.push_alloc(size);
        self.live.insert(id);
        Some(id)
    }

    fn push_alloc(&mut self, size: usize) -> usize {
        let id = self.size.len();
        self.size.push(size);
        self.account(0, size);
        self.ops.push(Op::Alloc { id, size });
        id
    }

    pub(super) fn free(&mut self, id: usize) {
        self.live.remove(id);
        self.account(self.size[id], 0);
        self.ops.push(Op::Free { id });
    }

    /// Resizes a live block to `size > 0`; false when the budget is spent.
    pub(super) fn resize(&mut self, id: usize, size: usize) -> bool {
        debug_assert!(size > 0 && self.is_live(id));
        if self.slack() == 0 {
            return false;
        }
        self.account(self.size[id], size);
        self.size[id] = size;
        self.ops.push(Op::Realloc { id, size });
        self.resized = true;
        true
    }

    /// Frees a live block with `r id 0`.
    pub(super) fn free_by_realloc(&mut self, id: usize) {
        self.live.remove(id);
        self.account(self.size[id], 0);
        self.ops.push(Op::Realloc { id, size: 0 });
    }

    /// Spends what is left of the budget and builds the trace.
    pub(super) fn finish(mut self, name: String, dice: &mut Dice) -> Trace {
        // Workloads stop when an allocation is refused, which leaves at most a unit of
        // slack, but some stop a little earlier at a round boundary: top up with small
        // blocks, freed below with the rest.
        while self.can_alloc() {
            self.alloc(dice.between(1, 64));
        }
        if self.slack() == 1 {
            // One op more than the owed frees. A trace that already resizes spends it
            // growing a block; an `a`/`f`-only trace leaves one block live rather than
            // gain an op kind it never had.
            if self.resized && self.live.len() > 0 {
                let id = self.random_live(dice);
                self.resize(id, self.size[id] + dice.between(1, 64));
            } else {
                self.push_alloc(dice.between(1, 64));
            }
        }
        let mut owed = self.live.ids.clone();
        dice.shuffle(&mut owed);
        for id in owed {
            self.free(id);
        }
        assert_eq!(self.ops.len(), self.budget, "generator bug: the budget rule was broken");
        let header = Header::Classic { sugg_heapsize: self.peak_bytes, weight: 1 };
        Trace { name, header, num_ids: self.size.len(), ops: self.ops }
    }
}
