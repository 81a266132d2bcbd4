//! What the engine tells the rest of the plugin: lock-free counters from the audio thread
//! (`EngineShared`) and the worker's richer report (`LoadStatus`).

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};

use super::backend::Tier;
use super::contract::names;
use super::error::{Fault, TrapKind};
use super::sandbox::Policed;

/// Where a fault in a WCLAP's own state save happens, as the fault names it.
pub(crate) const CLAP_STATE_SAVE: &str = "clap.state save";

/// Exports a fault can happen in; a fault's export is stored in an atomic as its index here.
const FAULT_EXPORTS: [&str; 8] = [
    names::DSP,
    names::RESET,
    names::SET_PARAM,
    names::PROCESS,
    names::NOTE_ON,
    names::NOTE_OFF,
    names::MIDI,
    CLAP_STATE_SAVE,
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
    /// Instances that moved from the interpreter to compiled code (see `worker.rs`).
    tier_ups: AtomicU64,
    /// The runtime of the instance the audio thread runs now: 0 none, 1 compiled, 2
    /// interpreter.
    playing_tier: AtomicU8,
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
    /// The running WCLAP's own state, saved on the audio thread when asked.
    pub(crate) clap: ClapSnapshots,
}

/// Hands a WCLAP's own state (`clap.state`) from the audio thread, which owns the running
/// instance, to a thread that asks for it: a project being saved, or a new instance of the same
/// plugin being prepared.
///
/// An asker (one at a time) bumps `asked` and waits; at its next block boundary the audio
/// thread, seeing `asked` ahead of `answered`, saves the plugin's state into the buffer and
/// stores `answered`. The buffer is allocated once, by the first asker, with room for
/// [`STATE_CAP`](super::sandbox::CLAP_STATE_CAP) bytes, so the audio thread never allocates.
#[derive(Debug, Default)]
pub(crate) struct ClapSnapshots {
    asked: AtomicU64,
    answered: AtomicU64,
    /// Bytes saved for the last answer, or -1 if the plugin gave none.
    len: std::sync::atomic::AtomicI64,
    /// Generation of the instance that gave the last answer.
    generation: AtomicU64,
    buffer: std::sync::OnceLock<Box<SnapshotBuffer>>,
    askers: std::sync::Mutex<()>,
    /// The latest state the audio thread saved unasked (after the plugin received events, at
    /// most every [`SNAPSHOT_SECONDS`]), for when no answer can come (the host is not running
    /// audio). A sequence lock: odd while the audio thread writes.
    latest: std::sync::OnceLock<Box<[std::sync::atomic::AtomicU8]>>,
    latest_seq: AtomicU64,
    latest_len: AtomicU64,
    latest_generation: AtomicU64,
}

/// How often, at most, the audio thread saves a WCLAP's state unasked (in seconds of audio).
pub const SNAPSHOT_SECONDS: f32 = 0.1;

/// The snapshot's bytes. Between an ask and its answer only the audio thread touches them;
/// otherwise only the asker holding `askers`.
#[derive(Debug)]
struct SnapshotBuffer(std::cell::UnsafeCell<Vec<u8>>);

// SAFETY: access is handed over through `asked`/`answered` (Release/Acquire), as described on
// `ClapSnapshots`; the two sides never touch the buffer at the same time.
unsafe impl Sync for SnapshotBuffer {}

impl ClapSnapshots {
    /// Asks the audio thread for the running instance's state and waits for it: at most
    /// `wait`, and only a few milliseconds if no block is processed meanwhile (the host is
    /// not running audio). The state and the generation of the instance it came from;
    /// `None` if no answer came or the plugin gave none. Not on the audio thread.
    pub(crate) fn ask(
        &self,
        blocks: &AtomicU64,
        wait: std::time::Duration,
    ) -> Option<(u64, Vec<u8>)> {
        let _one_at_a_time = self.askers.lock().unwrap_or_else(|e| e.into_inner());
        self.buffer.get_or_init(|| {
            Box::new(SnapshotBuffer(std::cell::UnsafeCell::new(
                Vec::with_capacity(super::sandbox::CLAP_STATE_CAP as usize),
            )))
        });
        // Release: the buffer exists before the audio thread is asked to fill it.
        let n = self.asked.fetch_add(1, Ordering::Release) + 1;
        let start = std::time::Instant::now();
        let first_block = blocks.load(Ordering::Relaxed);
        loop {
            // Acquire pairs with the audio thread's Release in `answer`.
            if self.answered.load(Ordering::Acquire) == n {
                break;
            }
            let waited = start.elapsed();
            let idle = waited > std::time::Duration::from_millis(30)
                && blocks.load(Ordering::Relaxed) == first_block;
            if waited > wait || idle {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let len = usize::try_from(self.len.load(Ordering::Relaxed)).ok()?;
        let buffer = self.buffer.get()?;
        // SAFETY: answered == n, and nothing is asked again before `_one_at_a_time` is
        // released, so the audio thread does not touch the buffer now.
        let bytes = unsafe { &*buffer.0.get() };
        Some((
            self.generation.load(Ordering::Relaxed),
            bytes.get(..len)?.to_vec(),
        ))
    }

    /// Makes room for unasked snapshots (see `latest`). Worker side, before an instance that
    /// can give its state plays.
    pub(crate) fn ensure_latest(&self) {
        self.latest.get_or_init(|| {
            (0..super::sandbox::CLAP_STATE_CAP)
                .map(|_| std::sync::atomic::AtomicU8::new(0))
                .collect()
        });
    }

    /// Audio thread: publishes `bytes` as the latest state of instance `generation`, if there
    /// is room. Realtime-safe.
    pub(crate) fn publish_latest(&self, generation: u64, bytes: &[u8]) {
        let Some(latest) = self.latest.get() else {
            return;
        };
        if bytes.len() > latest.len() {
            return;
        }
        let seq = self.latest_seq.load(Ordering::Relaxed);
        self.latest_seq.store(seq + 1, Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Release);
        for (to, from) in latest.iter().zip(bytes) {
            to.store(*from, Ordering::Relaxed);
        }
        self.latest_len.store(bytes.len() as u64, Ordering::Relaxed);
        self.latest_generation.store(generation, Ordering::Relaxed);
        self.latest_seq.store(seq + 2, Ordering::Release);
    }

    /// The latest unasked snapshot and its instance's generation. Not on the audio thread.
    pub(crate) fn latest(&self) -> Option<(u64, Vec<u8>)> {
        let latest = self.latest.get()?;
        for _ in 0..100 {
            let before = self.latest_seq.load(Ordering::Acquire);
            if before == 0 {
                return None;
            }
            if before % 2 == 1 {
                std::thread::sleep(std::time::Duration::from_micros(100));
                continue;
            }
            let len = (self.latest_len.load(Ordering::Relaxed) as usize).min(latest.len());
            let generation = self.latest_generation.load(Ordering::Relaxed);
            let bytes: Vec<u8> = latest[..len]
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect();
            std::sync::atomic::fence(Ordering::Acquire);
            if self.latest_seq.load(Ordering::Relaxed) == before {
                return Some((generation, bytes));
            }
        }
        None
    }

    /// Audio thread, at a block boundary: if asked, saves the running instance's state with
    /// `save` (which fills the buffer and returns the instance's generation, or `None` if
    /// there is no state) and answers. Realtime-safe if `save` is.
    pub(crate) fn answer(&self, save: impl FnOnce(&mut Vec<u8>) -> Option<u64>) {
        // Acquire pairs with the asker's Release: the buffer is there.
        let asked = self.asked.load(Ordering::Acquire);
        if asked == self.answered.load(Ordering::Relaxed) {
            return;
        }
        let Some(buffer) = self.buffer.get() else {
            return;
        };
        // SAFETY: asked is ahead of answered, so the asker waits and does not touch it.
        let bytes = unsafe { &mut *buffer.0.get() };
        match save(bytes) {
            Some(generation) => {
                self.len.store(bytes.len() as i64, Ordering::Relaxed);
                self.generation.store(generation, Ordering::Relaxed);
            }
            None => self.len.store(-1, Ordering::Relaxed),
        }
        // Release: the bytes and their length are written before the answer is seen.
        self.answered.store(asked, Ordering::Release);
    }
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
    /// Audio thread: publishes a commit of generation `generation`, playing on `tier`; a
    /// tier-up is the same instance going on (`new_instance` false), not counted as a commit.
    /// Realtime-safe.
    pub(crate) fn publish_commit(&self, generation: u64, tier: Tier, new_instance: bool) {
        let code = match tier {
            Tier::Jit => 1,
            Tier::Interpreter => 2,
        };
        // Relaxed: shown to the user, ordered by nothing.
        self.playing_tier.store(code, Ordering::Relaxed);
        // Release pairs with the Acquire in `committed()`: a reader that sees the new generation
        // also sees everything the audio thread did before committing it.
        self.committed.store(generation, Ordering::Release);
        if new_instance {
            // Relaxed: a statistic, ordered by nothing.
            self.commits.fetch_add(1, Ordering::Relaxed);
        }
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

    /// Audio thread: counts a tier-up committed. Realtime-safe.
    pub(crate) fn count_tier_up(&self) {
        // Relaxed: a statistic.
        self.tier_ups.fetch_add(1, Ordering::Relaxed);
    }

    /// The runtime the audio thread plays the module on now; `None` before the first commit.
    pub fn playing_tier(&self) -> Option<Tier> {
        match self.playing_tier.load(Ordering::Relaxed) {
            1 => Some(Tier::Jit),
            2 => Some(Tier::Interpreter),
            _ => None,
        }
    }

    /// Number of instances that moved from the interpreter to compiled code.
    pub fn tier_ups(&self) -> u64 {
        self.tier_ups.load(Ordering::Relaxed)
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

    /// Asks the audio thread for the running WCLAP's own state (see [`ClapSnapshots`]).
    pub(crate) fn ask_clap_state(&self, wait: std::time::Duration) -> Option<(u64, Vec<u8>)> {
        self.clap.ask(&self.blocks, wait)
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
