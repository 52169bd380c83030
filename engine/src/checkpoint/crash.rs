//! Named crash points, for the crash tests: with `TIDEWATER_CRASH_AT=<point>@<n>` in the
//! environment, the process aborts (as abruptly as a `SIGKILL`) the `n`-th time it reaches
//! `<point>` (`@<n>` may be left out: the first time). Unset, a crash point costs one load.
//!
//! The points: `after-barrier-alignment` (a stage has snapshotted, before it acknowledges),
//! `mid-state-write` (half of a state file written), `before-manifest-fsync`,
//! `after-manifest-fsync`, `after-manifest-rename` (before the folder's fsync),
//! `before-sink-commit` (manifest durable, sinks' files still pending) and
//! `during-recovery` (a checkpoint chosen, its commits not yet redone).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

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
    let visit = |armed: &Armed| {
        armed.point == point && armed.reached.fetch_add(1, Ordering::Relaxed) + 1 == armed.at
    };
    armed().is_some_and(visit) || in_process().as_ref().is_some_and(visit)
}

/// Aborts the process at `point` — or, armed in process, panics there (see
/// [`arm_in_process`]).
pub(crate) fn crash_now(point: &str) -> ! {
    if in_process().is_some() {
        CRASHED.store(true, Ordering::Release);
        panic!("crash point {point} reached (armed in process)");
    }
    eprintln!("tidewater: crashing at {point} as TIDEWATER_CRASH_AT asks");
    std::process::abort();
}

/// The crash point armed in process, if any.
static IN_PROCESS: Mutex<Option<Armed>> = Mutex::new(None);

/// Whether an in-process crash point was reached since it was armed.
static CRASHED: AtomicBool = AtomicBool::new(false);

fn in_process() -> std::sync::MutexGuard<'static, Option<Armed>> {
    IN_PROCESS.lock().unwrap_or_else(|e| e.into_inner())
}

/// For tests of the simulated power-loss model, which must stay in one process (the
/// storage that loses power is in memory): the `at`-th visit of `point` panics the thread it
/// runs on (the coordinator, a shard, or the one starting the job) instead of aborting the
/// process; [`crashed`] then says so, and the test stops the job and cuts the power. One
/// point at a time in the whole process: a test arming points must run alone in its binary.
/// `None` disarms.
pub fn arm_in_process(point: Option<(&str, u64)>) {
    CRASHED.store(false, Ordering::Release);
    *in_process() = point.map(|(point, at)| Armed {
        point: point.to_string(),
        at,
        reached: AtomicU64::new(0),
    });
}

/// Whether the point armed with [`arm_in_process`] has been reached.
pub fn crashed() -> bool {
    CRASHED.load(Ordering::Acquire)
}

/// Aborts the process if this is the armed visit of `point`.
pub(crate) fn crash_point(point: &str) {
    if visit_is_armed(point) {
        crash_now(point);
    }
}
