//! The errors a job reports.

/// Why a job did not finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// A user function (or a source or sink) panicked; the job was stopped on every shard.
    #[error("operator `{operator}` failed on shard {shard}: {message}")]
    OperatorFailed {
        /// The operator's name (see `DataStream::name`).
        operator: String,
        /// The shard it ran on.
        shard: usize,
        /// The panic message.
        message: String,
    },
    /// The job was cancelled through its handle.
    #[error("the job was cancelled")]
    Cancelled,
    /// A shard lost a peer it exchanges records with. This is a consequence, never the root
    /// cause: the shard that failed first reports the cause, which takes precedence.
    #[error("shard {shard} lost a peer shard it exchanges records with")]
    Disconnected {
        /// The shard that noticed.
        shard: usize,
    },
    /// The job's configuration cannot run.
    #[error("invalid job configuration: {0}")]
    Config(String),
    /// Checkpointing failed (and the job is configured to fail with it), or a checkpoint
    /// could not be restored.
    #[error("checkpoint failure: {0}")]
    Checkpoint(String),
    /// The runtime could not start or run a shard.
    #[error("runtime failure on shard {shard}: {message}")]
    Runtime {
        /// The shard.
        shard: usize,
        /// What went wrong.
        message: String,
    },
}

impl JobError {
    /// Whether this error is only the echo of another shard's failure.
    pub(crate) fn is_consequence(&self) -> bool {
        matches!(self, JobError::Disconnected { .. })
    }
}
