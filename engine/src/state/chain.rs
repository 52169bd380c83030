//! When an incremental store saves a delta and when a full image: the one policy both
//! backends follow, so that a restore reads a bounded amount whatever the number of
//! checkpoints.
//!
//! A store saves a *delta* (what changed since the newest completed checkpoint, its base) at
//! a barrier unless: it has never saved (or was just restored, its base files belonging to
//! another run: a restored store is a new one), no checkpoint has completed, [`MAX_CHAIN`]
//! deltas follow the last full image, or the deltas since the last full image would add up
//! to half the store or more (an empty store always saves whole).

/// After this many deltas in a row, a checkpoint saves everything again (this bounds the
/// files a restore opens; the bytes are bounded by half the store).
pub const MAX_CHAIN: u32 = 64;

/// A store's place in its chain of deltas.
#[derive(Debug, Clone)]
pub(crate) struct DeltaChain {
    /// Deltas saved since the last full image.
    deltas: u32,
    /// The items (pages, entries) those deltas held.
    items: usize,
    /// Whether the next save must be full: the store has not saved yet.
    full_next: bool,
}

impl Default for DeltaChain {
    fn default() -> Self {
        Self {
            deltas: 0,
            items: 0,
            full_next: true,
        }
    }
}

impl DeltaChain {
    /// Decides the save at hand, which has `changed` items changed since checkpoint
    /// `completed`, of `total` in the store, and records it: the base checkpoint of a delta,
    /// or `None` for a full image.
    pub(crate) fn next_save(
        &mut self,
        completed: u64,
        changed: usize,
        total: usize,
    ) -> Option<u64> {
        let full = self.full_next
            || completed == 0
            || self.deltas >= MAX_CHAIN
            || (self.items + changed) * 2 >= total;
        self.full_next = false;
        if full {
            (self.deltas, self.items) = (0, 0);
            None
        } else {
            (self.deltas, self.items) = (self.deltas + 1, self.items + changed);
            Some(completed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_until_they_add_up_to_half_the_store() {
        let mut chain = DeltaChain::default();
        assert_eq!(chain.next_save(4, 1, 100), None, "the first save is full");
        assert_eq!(chain.next_save(0, 1, 100), None, "no base completed");
        assert_eq!(chain.next_save(5, 20, 100), Some(5));
        assert_eq!(chain.next_save(6, 20, 100), Some(6));
        assert_eq!(
            chain.next_save(7, 20, 100),
            None,
            "60 of 100 would be saved in deltas"
        );
        assert_eq!(chain.next_save(8, 1, 100), Some(8));
        assert_eq!(chain.next_save(9, 0, 0), None, "an empty store saves whole");
    }

    #[test]
    fn at_most_max_chain_deltas_in_a_row() {
        let mut chain = DeltaChain::default();
        assert_eq!(chain.next_save(1, 0, 1_000), None);
        for id in 2..2 + u64::from(MAX_CHAIN) {
            assert_eq!(chain.next_save(id, 0, 1_000), Some(id));
        }
        assert_eq!(chain.next_save(100, 0, 1_000), None);
    }
}
