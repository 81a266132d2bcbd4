//! What the engine tells the rest of the plugin: lock-free counters from the audio thread
//! (`EngineShared`) and the worker's richer report (`LoadStatus`).

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};

use super::contract::names;
use super::error::{Fault, TrapKind};
use super::sandbox::Policed;

/// Exports a fault can happen in; a fault's export is stored in an atomic as its index here.
const FAULT_EXPORTS: [&str; 7] = [
    names::DSP,
    names::RESET,
    names::SET_PARAM,
    names::PROCESS,
    names::NOTE_ON,
    names::NOTE_OFF,
    names::MIDI,
];

/// The code of `export` (0, `dsp`, for any other).
fn export_code(export: &str) -> u8 {
    FAULT_EXPORTS.iter().position(|&e| e == export).unwrap_or(0) as u8
}

fn export_name(code: u8) -> &'static str {
    FAULT_EXPORTS
        .get(usize::from(code))
        .copied()
        .unwrap_or(names::DSP)
}

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
    /// How many of those were time-outs (runaway code interrupted).
    timeouts: AtomicU64,
    /// Generation of the instance that last faulted, with the frame it faulted at, what
    /// happened and where (codes of `TrapKind` and of the export).
    last_fault_generation: AtomicU64,
    last_fault_frame: AtomicU32,
    last_fault_kind: AtomicU8,
    last_fault_export: AtomicU8,
    /// Automatic rollbacks after a crash right after a swap, with the last one's generations.
    rollbacks: AtomicU64,
    last_rollback_from: AtomicU64,
    last_rollback_to: AtomicU64,
    /// Output samples corrected by the policing, by kind.
    non_finite: AtomicU64,
    subnormal: AtomicU64,
    clipped: AtomicU64,
    /// Process calls that were the first on a thread the host had not prepared through
    /// `AudioEngine::prepare_thread` (its start-of-processing or reset callback).
    late_thread_setups: AtomicU64,
    /// Parameter values for the newest module, and which changed.
    pub(crate) params: super::params::ParamBank,
}

/// A snapshot of the fault counters, for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultCounters {
    /// Crashes so far (traps and timeouts).
    pub faults: u32,
    /// How many of `faults` were time-outs.
    pub timeouts: u64,
    /// The last crash, if any.
    pub last: Option<(u64, Fault)>,
    /// Automatic rollbacks so far, and the last one's (from, to) generations.
    pub rollbacks: u64,
    pub last_rollback: Option<(u64, u64)>,
    /// NaN or infinite output samples replaced by silence.
    pub non_finite: u64,
    /// Subnormal output samples flushed to zero.
    pub subnormal: u64,
    /// Output samples clamped to the ceiling.
    pub clipped: u64,
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

    /// Audio thread: counts a first process call on an unprepared thread. Realtime-safe.
    pub(crate) fn count_late_thread_setup(&self) {
        // Relaxed: a statistic.
        self.late_thread_setups.fetch_add(1, Ordering::Relaxed);
    }

    /// Process calls that had to set up wasmtime's per-thread state themselves.
    pub fn late_thread_setups(&self) -> u64 {
        self.late_thread_setups.load(Ordering::Relaxed)
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
        // Relaxed for the details, then Release on the counter: a reader that sees the counter
        // change with Acquire also sees the details written before it (a second fault racing
        // the reader may mix details; the counters stay exact).
        self.last_fault_generation
            .store(generation, Ordering::Relaxed);
        self.last_fault_frame.store(fault.frame, Ordering::Relaxed);
        self.last_fault_kind
            .store(fault.kind.code(), Ordering::Relaxed);
        self.last_fault_export
            .store(export_code(fault.export), Ordering::Relaxed);
        if fault.kind == TrapKind::Timeout {
            // Relaxed: a statistic, published by the Release below.
            self.timeouts.fetch_add(1, Ordering::Relaxed);
        }
        self.faults.fetch_add(1, Ordering::Release);
    }

    /// Audio thread: records an automatic rollback. Realtime-safe.
    pub(crate) fn publish_rollback(&self, from: u64, to: u64) {
        // Same pattern as `publish_fault`: details Relaxed, counter Release.
        self.last_rollback_from.store(from, Ordering::Relaxed);
        self.last_rollback_to.store(to, Ordering::Relaxed);
        self.rollbacks.fetch_add(1, Ordering::Release);
    }

    /// Audio thread: adds one block's output corrections. Realtime-safe.
    pub(crate) fn publish_policed(&self, p: Policed) {
        // Relaxed: statistics; skip the atomic writes in the common clean case.
        if p.non_finite > 0 {
            self.non_finite
                .fetch_add(p.non_finite as u64, Ordering::Relaxed);
        }
        if p.subnormal > 0 {
            self.subnormal
                .fetch_add(p.subnormal as u64, Ordering::Relaxed);
        }
        if p.clipped > 0 {
            self.clipped.fetch_add(p.clipped as u64, Ordering::Relaxed);
        }
    }

    /// A snapshot of every fault counter.
    pub fn fault_counters(&self) -> FaultCounters {
        let faults = self.faults.load(Ordering::Acquire);
        let last = (faults > 0).then(|| {
            (
                self.last_fault_generation.load(Ordering::Relaxed),
                Fault {
                    export: export_name(self.last_fault_export.load(Ordering::Relaxed)),
                    kind: TrapKind::from_code(self.last_fault_kind.load(Ordering::Relaxed)),
                    frame: self.last_fault_frame.load(Ordering::Relaxed),
                },
            )
        });
        let rollbacks = self.rollbacks.load(Ordering::Acquire);
        let last_rollback = (rollbacks > 0).then(|| {
            (
                self.last_rollback_from.load(Ordering::Relaxed),
                self.last_rollback_to.load(Ordering::Relaxed),
            )
        });
        FaultCounters {
            faults,
            timeouts: self.timeouts.load(Ordering::Relaxed),
            last,
            rollbacks,
            last_rollback,
            non_finite: self.non_finite.load(Ordering::Relaxed),
            subnormal: self.subnormal.load(Ordering::Relaxed),
            clipped: self.clipped.load(Ordering::Relaxed),
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_export_a_fault_can_happen_in_keeps_its_name() {
        for export in [
            names::DSP,
            names::PROCESS,
            names::RESET,
            names::SET_PARAM,
            names::NOTE_ON,
            names::NOTE_OFF,
            names::MIDI,
        ] {
            assert_eq!(export_name(export_code(export)), export);
        }
    }
}
