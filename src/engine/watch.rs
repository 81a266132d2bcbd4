//! Watching the running module's file: the worker reloads it once a change has settled.

use std::time::{Duration, Instant, SystemTime};

/// How often a watched file is checked for changes.
pub(crate) const WATCH_POLL: Duration = Duration::from_millis(100);

/// How long a changed file must stay unchanged before it is reloaded, so an editor's burst of
/// writes during one save becomes one reload.
pub(crate) const WATCH_SETTLE: Duration = Duration::from_millis(250);

/// The file behind the running module, as last seen on disk.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
}

impl FileStamp {
    pub(crate) fn of(path: &std::path::Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        Some(Self {
            modified: meta.modified().ok(),
            len: meta.len(),
        })
    }
}

/// File-watching state of the worker.
#[derive(Default)]
pub(crate) struct Watch {
    pub(crate) enabled: bool,
    /// The stamp of the file when it was last loaded (or last failed to load).
    pub(crate) loaded: Option<FileStamp>,
    /// A change seen but not yet settled: the newest stamp and when it was first seen.
    pub(crate) pending: Option<(FileStamp, Instant)>,
    pub(crate) last_poll: Option<Instant>,
}
