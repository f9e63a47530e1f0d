//! Replaying recorded inputs through a candidate pipeline, hermetically:
//! the book of the recordings' model calls answers every call whose node
//! and request match one recorded; the candidate's hub asks it first.
//! Runs keep their recorded ids and `expect` labels, and are recorded
//! whole, so the replay can be compared and replayed in turn.

use futures::stream::{self, StreamExt};

use super::format::RecordedRun;
use crate::models::{ReplayBook, Unrecorded};
use crate::pipeline::{Pipeline, RunInput, RunRecord};

/// The book of every model call in `runs`; calls whose attempts or
/// error this version cannot read are left out (and counted).
pub fn book_of(runs: &[RecordedRun], unrecorded: Unrecorded) -> (ReplayBook, usize) {
    let book = ReplayBook::new(unrecorded);
    let mut unreadable = 0;
    for call in runs.iter().flat_map(|r| &r.calls) {
        match call.to_replay() {
            Some(c) => book.insert(&call.node, &call.request_hash, c),
            None => unreadable += 1,
        }
    }
    (book, unreadable)
}

/// Runs every recorded input through `pipeline` (whose hub answers from
/// the book), `concurrency` at a time; records come back in the
/// recording's order, each with its content kept.
pub async fn replay(
    pipeline: &Pipeline,
    runs: &[RecordedRun],
    concurrency: usize,
) -> Vec<RunRecord> {
    // Owned inputs, so the run futures borrow nothing of `runs` (and the
    // command that awaits them can be a task of its own).
    let inputs: Vec<_> = runs
        .iter()
        .enumerate()
        .map(|(i, run)| {
            let input = RunInput {
                capture: true,
                ..RunInput::new(run.id.clone(), run.input.clone())
            };
            (i, input, run.expect.clone())
        })
        .collect();
    let mut records: Vec<(usize, RunRecord)> = stream::iter(inputs)
        .map(|(i, input, expect)| async move {
            let mut record = RunRecord::from_outcome(pipeline.run(input).await);
            record.expect = expect;
            (i, record)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    records.sort_by_key(|(i, _)| *i);
    records.into_iter().map(|(_, r)| r).collect()
}
