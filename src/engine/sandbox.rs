//! The sandbox's limits: time (epoch ticks and deadlines), memory, tables, stack, module size,
//! and the policing of what a module outputs.
//!
//! # Time
//!
//! Every call into a module runs under a wasmtime epoch deadline. A ticker thread per
//! [`Runtime`](super::Runtime) advances the engine's epoch every [`TICK`]. Each block gets a
//! deadline of [`BLOCK_BUDGET`] times its real-time duration, and at least
//! [`MIN_BLOCK_BUDGET`], so a module that runs away is interrupted after a couple of blocks
//! rather than seconds, while a host thread preempted for a moment does not get a healthy
//! module killed. Loading (start function, `wasp_init`) gets [`LOAD_BUDGET`]. An interrupted
//! call traps with [`TrapKind::Timeout`](super::TrapKind).
//!
//! # Memory
//!
//! A module may start with at most [`MEMORY_CAP`] of linear memory and grow up to it while it is
//! being loaded (start function and `wasp_init`, on the worker). Once it is processing audio,
//! `memory.grow` and `table.grow` fail (return -1) instead of growing: growing would map memory
//! on the audio thread. Modules that need buffers allocate them in `wasp_init`.
//!
//! # Stack
//!
//! WebAssembly runs on the host's audio thread stack. [`WASM_STACK`] bounds how much of it a
//! module may use; deeper recursion traps with `StackOverflow` instead of overflowing the
//! host's stack. Together with Wasp's own frames, a host audio thread needs about
//! `WASM_STACK` + 64 KiB of free stack, far below any platform's default thread stack.
//!
//! # Output
//!
//! Whatever a module returns, the plugin outputs finite samples within ±[`OUTPUT_CEILING`]:
//! NaN and infinity become silence, subnormals become zero, larger samples are clamped. Each
//! correction is counted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::Engine;

/// How often the epoch ticker advances the engine's epoch.
pub const TICK: Duration = Duration::from_millis(1);
/// A block's time budget, in multiples of the block's real-time duration.
pub const BLOCK_BUDGET: f32 = 2.0;
/// The smallest time budget of any block.
pub const MIN_BLOCK_BUDGET: Duration = Duration::from_millis(20);
/// Time a module may spend in its start function or in `wasp_init`.
pub const LOAD_BUDGET: Duration = Duration::from_secs(2);
/// Largest linear memory (and table, in elements) a module may have.
pub const MEMORY_CAP: u64 = 64 << 20;
/// Largest table a module may have, in elements.
pub const TABLE_CAP: usize = 10_000;
/// Largest module file Wasp loads. Larger modules would also bloat every saved project.
pub const MODULE_SIZE_CAP: usize = 16 << 20;
/// Stack a module may use, on top of the host thread's current depth.
pub const WASM_STACK: usize = 128 << 10;
/// Largest output sample magnitude (+12 dBFS); beyond it samples are clamped.
pub const OUTPUT_CEILING: f32 = 4.0;

/// Epoch ticks for a deadline of `budget`.
pub(crate) fn ticks(budget: Duration) -> u64 {
    (budget.as_nanos() / TICK.as_nanos()) as u64 + 1
}

/// Epoch ticks a block of `frames` at `sample_rate` may take: `factor` times its real-time
/// duration, at least `floor`, plus one tick for the partial tick already under way.
#[inline]
pub(crate) fn block_ticks(frames: usize, sample_rate: f32, factor: f32, floor: Duration) -> u64 {
    let block_ns = frames as f64 / sample_rate.max(1.0) as f64 * 1e9;
    let budget_ns = (factor as f64 * block_ns).max(floor.as_nanos() as f64);
    (budget_ns / TICK.as_nanos() as f64).ceil() as u64 + 1
}

/// The store's resource limiter: caps memory and tables, and refuses all growth once the
/// instance is processing audio.
#[derive(Debug, Default)]
pub(crate) struct Limits {
    /// Set when loading is done: from then on the instance runs on the audio thread.
    pub processing: bool,
}

impl wasmtime::ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(!self.processing && desired as u64 <= MEMORY_CAP)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(!self.processing && desired <= TABLE_CAP)
    }
}

/// Advances an engine's epoch every [`TICK`] until dropped.
pub(crate) struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    pub fn start(engine: Engine) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("wasp-epoch".into())
            .spawn(move || {
                // Relaxed: the flag carries no data; the join in `drop` orders the rest.
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        // Relaxed: see the loop above; joining waits for the thread to see it.
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // Joined so no thread of ours outlives the plugin library if the host unloads it.
            let _ = thread.join();
        }
    }
}

/// Counts of output corrections in one block.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Policed {
    /// NaN or infinite samples replaced by silence.
    pub non_finite: u32,
    /// Subnormal samples flushed to zero.
    pub subnormal: u32,
    /// Samples clamped to ±[`OUTPUT_CEILING`].
    pub clipped: u32,
}

/// Makes every sample finite, normal (or zero) and within the ceiling. Realtime-safe.
#[inline]
pub(crate) fn police(channels: &mut [&mut [f32]]) -> Policed {
    let mut p = Policed::default();
    for ch in channels.iter_mut() {
        for x in ch.iter_mut() {
            let v = *x;
            if !v.is_finite() {
                *x = 0.0;
                p.non_finite += 1;
            } else if v.is_subnormal() {
                *x = 0.0;
                p.subnormal += 1;
            } else if v.abs() > OUTPUT_CEILING {
                *x = OUTPUT_CEILING.copysign(v);
                p.clipped += 1;
            }
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_deadline_is_twice_the_block_with_a_floor() {
        // 2048 frames at 48 kHz last 42.7 ms: 86 ticks, plus one for the partial tick.
        assert_eq!(block_ticks(2048, 48_000.0, 2.0, MIN_BLOCK_BUDGET), 87);
        // Short blocks get the floor.
        assert_eq!(block_ticks(64, 48_000.0, 2.0, MIN_BLOCK_BUDGET), 21);
        assert_eq!(block_ticks(64, 48_000.0, 2.0, Duration::ZERO), 4);
    }

    #[test]
    fn policing_fixes_every_bad_sample_and_counts_it() {
        let mut a = [f32::NAN, 1e-40, 1e30, -1e30, 0.5, f32::NEG_INFINITY];
        let p = police(&mut [&mut a[..]]);
        assert_eq!(a, [0.0, 0.0, 4.0, -4.0, 0.5, 0.0]);
        assert_eq!(
            p,
            Policed {
                non_finite: 2,
                subnormal: 1,
                clipped: 2
            }
        );
    }
}
