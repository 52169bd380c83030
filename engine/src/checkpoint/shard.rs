//! What a shard's stages need to take part in checkpoints.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::sync::Arc;

use super::coordinator::{Ack, AckKind, BarrierRequest, SourceRange};
use super::restore::RestorePoint;
use super::StageSnapshot;

/// A shard's link to the job's checkpoint coordinator.
pub(crate) struct ShardCheckpoints {
    /// The barrier the sources should inject.
    pub(crate) request: Arc<BarrierRequest>,
    acks: Sender<Ack>,
    /// The checkpoint the job resumed from, if any.
    pub(crate) restore: Option<Arc<RestorePoint>>,
    /// The global positions this run's sources read.
    pub(crate) range: SourceRange,
    /// Files the shard's transactional sinks closed at the end of their input, to commit with
    /// the final checkpoint.
    final_commits: RefCell<Vec<PathBuf>>,
}

impl ShardCheckpoints {
    pub(crate) fn new(
        request: Arc<BarrierRequest>,
        acks: Sender<Ack>,
        restore: Option<Arc<RestorePoint>>,
        range: SourceRange,
    ) -> Self {
        Self {
            request,
            acks,
            restore,
            range,
            final_commits: RefCell::default(),
        }
    }

    /// Hands `snapshot` of `stage` to the coordinator (which ignores it if the job is ending).
    pub(crate) fn ack(&self, shard: usize, stage: usize, snapshot: StageSnapshot) {
        let _ = self.acks.send(Ack {
            shard,
            stage,
            kind: AckKind::Snapshot,
            snapshot,
        });
    }

    /// Tells the coordinator that this source stage stands at the cut the job stops at.
    pub(crate) fn at_cut(&self, shard: usize, stage: usize) {
        let _ = self.acks.send(Ack {
            shard,
            stage,
            kind: AckKind::AtCut,
            snapshot: StageSnapshot::default(),
        });
    }

    /// Tells the coordinator that `stage` reached the end of its input, with the sinks'
    /// last files and `snapshot`'s parts (a source stage's split offset at its end), which
    /// the checkpoints taken while other stages run on save for it.
    pub(crate) fn finished(&self, shard: usize, stage: usize, mut snapshot: StageSnapshot) {
        snapshot.commits = self.final_commits.take();
        let _ = self.acks.send(Ack {
            shard,
            stage,
            kind: AckKind::Finished,
            snapshot,
        });
    }

    /// A sink closed `pending` at the end of its input: commit it with the final checkpoint.
    pub(crate) fn commit_at_end(&self, pending: PathBuf) {
        self.final_commits.borrow_mut().push(pending);
    }
}
