//! Complex event processing (Flink CEP): patterns over each key's events, compiled to an
//! automaton that runs on keyed state, so that it is checkpointed with the rest of the job.
//!
//! Build a [`Pattern`], then either run it in event time on a keyed stream with
//! [`KeyedStream::pattern`](crate::KeyedStream::pattern) (events are buffered until the
//! watermark passes them and fed in time order, as Flink does), or drive an [`Nfa`] yourself
//! from a process function, in arrival order, keeping its [`NfaState`] in keyed state (what a
//! low-latency scorer does: it cannot wait for the watermark).

mod nfa;
mod operator;
mod pattern;

pub use nfa::{Match, Nfa, NfaState, TimedOut};
pub use operator::PatternStream;
pub use pattern::{Contiguity, Pattern};
