//! What the engine tells the rest of the plugin: lock-free counters from the audio thread
//! (`EngineShared`) and the worker's richer report (`LoadStatus`).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::error::Fault;
use super::metadata::Metadata;
use super::migrate::SwapReport;

/// Counters the audio thread publishes. Atomics only: the audio thread writes them without
/// locking, any thread reads them.
#[derive(Debug, Default)]
pub struct EngineShared {
    /// Generation of the instance the audio thread runs now (0 before the first commit).
    committed: AtomicU64,
    /// Number of commits so far.
    commits: AtomicU64,
    /// Number of process calls so far.
    blocks: AtomicU64,
    /// Swaps that crossfaded because the planned-against instance was no longer running.
    fallback_crossfades: AtomicU64,
    /// Prepared instances the worker dropped before delivery because a newer one replaced
    /// them while the audio thread's queue was full (written by the worker).
    superseded_in_queue: AtomicU64,
    /// Number of faults (traps) so far.
    faults: AtomicU32,
    /// Generation of the instance that last faulted, with the frame it faulted at.
    last_fault_generation: AtomicU64,
    last_fault_frame: AtomicU32,
}

impl EngineShared {
    /// Audio thread: records that `generation` is now running. Realtime-safe.
    pub(crate) fn publish_commit(&self, generation: u64) {
        // Release pairs with the Acquire in `committed()`: a reader that sees the new generation
        // also sees everything the audio thread did before committing it.
        self.committed.store(generation, Ordering::Release);
        // Relaxed: a statistic, ordered by nothing.
        self.commits.fetch_add(1, Ordering::Relaxed);
    }

    /// Audio thread: counts one process call. Realtime-safe.
    pub(crate) fn publish_block(&self) {
        // Relaxed: a statistic; readers only need an eventually current count.
        self.blocks.fetch_add(1, Ordering::Relaxed);
    }

    /// Audio thread: counts a swap that crossfaded instead of carrying state because its plan
    /// was made against another instance. Realtime-safe.
    pub(crate) fn publish_fallback_crossfade(&self) {
        // Relaxed: a statistic.
        self.fallback_crossfades.fetch_add(1, Ordering::Relaxed);
    }

    /// Worker: counts a prepared instance dropped before delivery.
    pub(crate) fn count_superseded_in_queue(&self) {
        // Relaxed: a statistic.
        self.superseded_in_queue.fetch_add(1, Ordering::Relaxed);
    }

    /// Prepared instances dropped before delivery because a newer one replaced them.
    pub fn superseded_in_queue(&self) -> u64 {
        self.superseded_in_queue.load(Ordering::Relaxed)
    }

    /// Number of swaps that fell back to a crossfade.
    pub fn fallback_crossfades(&self) -> u64 {
        self.fallback_crossfades.load(Ordering::Relaxed)
    }

    /// Audio thread: records a fault. Realtime-safe.
    pub(crate) fn publish_fault(&self, generation: u64, fault: Fault) {
        let frame = fault.frame;
        // Relaxed for the details, then Release on the counter: a reader that sees the counter
        // change with Acquire also sees the details written before it.
        self.last_fault_generation
            .store(generation, Ordering::Relaxed);
        self.last_fault_frame.store(frame, Ordering::Relaxed);
        self.faults.fetch_add(1, Ordering::Release);
    }

    /// Generation of the running instance.
    pub fn committed(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
    }

    /// Number of commits so far.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Number of process calls so far.
    pub fn blocks(&self) -> u64 {
        self.blocks.load(Ordering::Relaxed)
    }

    /// Number of faults so far, and the generation and frame of the last one.
    pub fn faults(&self) -> (u32, u64, u32) {
        let count = self.faults.load(Ordering::Acquire);
        (
            count,
            self.last_fault_generation.load(Ordering::Relaxed),
            self.last_fault_frame.load(Ordering::Relaxed),
        )
    }
}

/// Facts about a prepared module, for display.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleInfo {
    /// Generation number given to the instance when it was prepared.
    pub generation: u64,
    pub name: String,
    pub metadata: Metadata,
    pub path: Option<std::path::PathBuf>,
    pub size: usize,
    pub hash: u64,
    /// True for Wasp's built-in default module.
    pub builtin: bool,
}

/// The worker's report: what was prepared last and what went wrong. Guarded by a mutex that
/// only non-audio threads take.
#[derive(Debug, Clone, Default)]
pub struct LoadStatus {
    /// The module most recently handed to the audio thread.
    pub current: Option<ModuleInfo>,
    /// The last load error, cleared by the next successful load.
    pub last_error: Option<String>,
    /// What the most recent swap did with the declared state.
    pub last_swap: Option<SwapReport>,
    /// Whether the running module's file is watched for changes.
    pub watching: bool,
    /// Milliseconds from the most recent load request to its instance being queued.
    pub last_prepare_ms: Option<f64>,
}
