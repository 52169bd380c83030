//! Helpers shared by the integration tests: bounded waiting for jobs, and a look at which
//! threads are alive.

use std::sync::mpsc;
use std::time::Duration;

use tidewater::{JobError, JobHandle, JobReport};

/// Waits for `handle` at most `limit`; panics (failing the test) if the job does not end by
/// then, which is how a hang shows up instead of stalling the test run.
pub fn join_within(handle: JobHandle, limit: Duration) -> Result<JobReport, JobError> {
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(handle.join());
    });
    result
        .recv_timeout(limit)
        .unwrap_or_else(|_| panic!("the job did not end within {limit:?}"))
}

/// Waits until no thread whose name starts with `prefix` is alive, at most `limit`, and
/// returns the names still alive then. A job's executor threads are joined by its handle;
/// glommio's helper threads (which inherit the executor's name) exit on their own right after,
/// so they get a short grace period.
pub fn threads_left_after(prefix: &str, limit: Duration) -> Vec<String> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let alive = live_threads(prefix);
        if alive.is_empty() || std::time::Instant::now() >= deadline {
            return alive;
        }
        std::thread::yield_now();
    }
}

/// The names of this process's live threads that start with `prefix`.
pub fn live_threads(prefix: &str) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .filter(|name| name.starts_with(prefix))
        .collect()
}

/// The lines of the committed part files a transactional file sink wrote into `folder`
/// (`part-…`; pending files are hidden behind a dot and not read), sorted.
pub fn committed_lines(folder: &std::path::Path) -> Vec<String> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        let committed = path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with("part-"));
        if committed {
            let text = std::fs::read_to_string(&path).unwrap();
            lines.extend(text.lines().map(String::from));
        }
    }
    lines.sort();
    lines
}

/// Waits until `condition` holds, polling, at most a minute; panics (failing the test) naming
/// `what` otherwise.
pub fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The lines a keyed running count writes for records with the keys `keys` (each `key
/// count`, see [`count_line`]), sorted: what the checkpoint tests' counting jobs must commit.
pub fn running_count_lines(keys: impl IntoIterator<Item = u64>) -> Vec<String> {
    let mut counts = std::collections::HashMap::new();
    let mut lines: Vec<String> = keys
        .into_iter()
        .map(|key| {
            let count = counts.entry(key).or_insert(0u64);
            *count += 1;
            format!("{key} {count}")
        })
        .collect();
    lines.sort();
    lines
}

/// A `(key, count)` as the line `key count`: the output format of the checkpoint tests'
/// counting jobs (a `FileSink` encoder).
pub fn count_line((key, count): &(u64, u64), buffer: &mut Vec<u8>) {
    buffer.extend_from_slice(format!("{key} {count}\n").as_bytes());
}
