//! The reorder buffer: runs finish in any order, records are written in
//! input order. Each dispatched line gets the next sequence number; a
//! finished record waits here until every earlier one is out. Its size is
//! what the batch loop bounds so a slow head-of-line run cannot make memory
//! grow without limit.

use std::collections::BTreeMap;

/// Finished items waiting for their turn.
#[derive(Debug)]
pub struct Reorder<T> {
    next: u64,
    issued: u64,
    waiting: BTreeMap<u64, T>,
}

impl<T> Default for Reorder<T> {
    fn default() -> Self {
        Self {
            next: 0,
            issued: 0,
            waiting: BTreeMap::new(),
        }
    }
}

impl<T> Reorder<T> {
    /// The sequence number of the next dispatched item.
    pub fn issue(&mut self) -> u64 {
        self.issued += 1;
        self.issued - 1
    }

    /// Files finished item `seq`.
    pub fn finish(&mut self, seq: u64, item: T) {
        debug_assert!(
            seq >= self.next && seq < self.issued,
            "seq {seq} out of range"
        );
        self.waiting.insert(seq, item);
    }

    /// The next item in order, if it has finished.
    pub fn pop_ready(&mut self) -> Option<T> {
        let item = self.waiting.remove(&self.next)?;
        self.next += 1;
        Some(item)
    }

    /// Every finished item, in order, skipping those that never will
    /// (after a cancel).
    pub fn drain_finished(&mut self) -> impl Iterator<Item = T> {
        self.next = self.issued;
        std::mem::take(&mut self.waiting).into_values()
    }

    /// Items finished but waiting for an earlier one.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// True when every issued item has been popped.
    pub fn is_settled(&self) -> bool {
        self.next == self.issued && self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reorder_releases_in_sequence_and_drains_past_gaps() {
        let mut r = Reorder::default();
        let seqs: Vec<u64> = (0..5).map(|_| r.issue()).collect();
        assert_eq!(seqs, [0, 1, 2, 3, 4]);
        r.finish(1, "b");
        assert_eq!(r.pop_ready(), None, "0 has not finished");
        r.finish(0, "a");
        assert_eq!(
            (r.pop_ready(), r.pop_ready(), r.pop_ready()),
            (Some("a"), Some("b"), None)
        );
        r.finish(4, "e");
        r.finish(3, "d");
        assert_eq!(r.waiting(), 2);
        assert!(!r.is_settled());
        assert_eq!(r.drain_finished().collect::<Vec<_>>(), ["d", "e"]);
        assert!(r.is_settled());
    }
}
