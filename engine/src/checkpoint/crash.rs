//! Named crash points, for the crash tests: with `TIDEWATER_CRASH_AT=<point>@<n>` in the
//! environment, the process aborts (as abruptly as a `SIGKILL`) the `n`-th time it reaches
//! `<point>` (`@<n>` may be left out: the first time). Unset, a crash point costs one load.
//!
//! The points: `after-barrier-alignment` (a stage has snapshotted, before it acknowledges),
//! `mid-state-write` (half of a state file written), `before-manifest-fsync`,
//! `after-manifest-fsync`, `after-manifest-rename` (before the folder's fsync),
//! `before-sink-commit` (manifest durable, sinks' files still pending) and
//! `during-recovery` (a checkpoint chosen, its commits not yet redone).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The names of every crash point.
pub const CRASH_POINTS: [&str; 7] = [
    "after-barrier-alignment",
    "mid-state-write",
    "before-manifest-fsync",
    "after-manifest-fsync",
    "after-manifest-rename",
    "before-sink-commit",
    "during-recovery",
];

struct Armed {
    point: String,
    at: u64,
    reached: AtomicU64,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let value = std::env::var("TIDEWATER_CRASH_AT").ok()?;
            let (point, at) = match value.split_once('@') {
                Some((point, at)) => (point.to_string(), at.parse().ok()?),
                None => (value, 1),
            };
            Some(Armed {
                point,
                at,
                reached: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Counts a visit of `point`; whether it is the armed one (the caller then sets up what the
/// crash should leave behind, such as a torn write, and calls [`crash_now`]).
pub(crate) fn visit_is_armed(point: &str) -> bool {
    armed().is_some_and(|armed| {
        armed.point == point && armed.reached.fetch_add(1, Ordering::Relaxed) + 1 == armed.at
    })
}

/// Aborts the process at `point`.
pub(crate) fn crash_now(point: &str) -> ! {
    eprintln!("tidewater: crashing at {point} as TIDEWATER_CRASH_AT asks");
    std::process::abort();
}

/// Aborts the process if this is the armed visit of `point`.
pub(crate) fn crash_point(point: &str) {
    if visit_is_armed(point) {
        crash_now(point);
    }
}
