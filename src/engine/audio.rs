//! `AudioEngine`: the audio thread's side of Wasp. Runs the current instance, commits prepared
//! replacements at block boundaries, carries state across or crossfades.
//!
//! Every method here is realtime-safe: no allocation, no lock, no logging, no freeing. Prepared
//! instances arrive through a wait-free SPSC queue from the worker; the instances they replace
//! go back through another, to be dropped on the worker. A commit happens only while the return
//! queue has room for everything it may hand back, so when that queue is full the old instance
//! simply keeps playing and the commit is retried next block: nothing is ever freed here.

use std::f32::consts::FRAC_PI_2;
use std::sync::Arc;

use super::error::Fault;
use super::instance::DspInstance;
use super::migrate::Plan;
use super::status::EngineShared;

/// Length of the equal-power crossfade used when a swap cannot carry state.
pub const CROSSFADE_SECONDS: f32 = 0.020;

/// A prepared instance in transit to the audio thread, with everything its commit needs.
pub struct Prepared {
    pub(crate) instance: DspInstance,
    pub(crate) generation: u64,
    /// How to carry state from the instance it replaces.
    pub(crate) plan: Plan,
    /// Buffers for running the outgoing instance during a crossfade, `max_frames` long each,
    /// allocated on the worker.
    pub(crate) scratch: [Vec<f32>; 2],
}

/// An outgoing instance still sounding during a crossfade.
struct Fade {
    old: Box<Prepared>,
    /// Frames of the fade done so far.
    pos: usize,
    /// Total frames of the fade.
    len: usize,
}

/// The audio thread's engine. Owned by the plugin's process callback.
pub struct AudioEngine {
    /// The running instance; `None` until the first commit.
    current: Option<Box<Prepared>>,
    /// The instance being faded out, if a crossfade is under way (or finished but not yet
    /// handed back because the return queue was full).
    fading: Option<Fade>,
    /// Prepared instances from the worker, oldest first.
    incoming: rtrb::Consumer<Box<Prepared>>,
    /// Replaced instances going back to the worker to be dropped there.
    retired: rtrb::Producer<Box<Prepared>>,
    shared: Arc<EngineShared>,
}

/// What one process call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processed {
    /// The module ran normally.
    Ran,
    /// No instance is committed yet; the input passed through unchanged.
    Bypassed,
    /// The instance has faulted; the block is silence.
    Faulted(Fault),
}

impl AudioEngine {
    pub(crate) fn new(
        incoming: rtrb::Consumer<Box<Prepared>>,
        retired: rtrb::Producer<Box<Prepared>>,
        shared: Arc<EngineShared>,
    ) -> Self {
        Self {
            current: None,
            fading: None,
            incoming,
            retired,
            shared,
        }
    }

    /// Lock-free counters this engine publishes.
    pub fn shared(&self) -> &Arc<EngineShared> {
        &self.shared
    }

    /// Generation of the running instance, if any.
    pub fn generation(&self) -> Option<u64> {
        self.current.as_ref().map(|c| c.generation)
    }

    /// True while a crossfade is sounding.
    pub fn is_crossfading(&self) -> bool {
        self.fading.as_ref().is_some_and(|f| f.pos < f.len)
    }

    /// Commits prepared instances, newest last, carrying state or starting a crossfade, and
    /// hands replaced ones back. Realtime-safe: moves boxes between queues and copies declared
    /// state; never allocates or frees.
    pub fn commit_pending(&mut self) {
        self.finish_fade();
        // Each commit may hand back two instances: the one it replaces and one still fading.
        while self.retired.slots() >= 2 {
            let Ok(mut next) = self.incoming.pop() else {
                break;
            };
            let generation = next.generation;
            if let Some(mut old) = self.current.take() {
                let matches = next.plan.from_generation == old.generation;
                let carry = matches && !next.plan.crossfade && old.instance.fault().is_none();
                if carry {
                    next.instance.migrate_from(&mut old.instance, &next.plan);
                }
                if let Some(fade) = self.fading.take() {
                    self.hand_back(fade.old);
                }
                if carry || old.instance.fault().is_some() {
                    self.hand_back(old);
                } else {
                    if !matches {
                        self.shared.publish_fallback_crossfade();
                    }
                    let len = (CROSSFADE_SECONDS * next.instance.config().sample_rate) as usize;
                    self.fading = Some(Fade {
                        old,
                        pos: 0,
                        len: len.max(1),
                    });
                }
            }
            self.current = Some(next);
            self.shared.publish_commit(generation);
        }
    }

    /// Hands an instance back to the worker. Callers check for room first.
    fn hand_back(&mut self, old: Box<Prepared>) {
        if let Err(rtrb::PushError::Full(old)) = self.retired.push(old) {
            // Unreachable while callers check `slots()` first. Should it ever happen, leaking
            // the instance is the lesser evil: freeing it here could stall the audio thread.
            debug_assert!(false, "retired queue full despite the slot check");
            std::mem::forget(old);
        }
    }

    /// Hands back a finished fade's instance, if there is room.
    fn finish_fade(&mut self) {
        if self
            .fading
            .as_ref()
            .is_some_and(|f| f.pos >= f.len && self.retired.slots() >= 1)
        {
            if let Some(fade) = self.fading.take() {
                self.hand_back(fade.old);
            }
        }
    }

    /// Processes one block in place (one slice per host channel, at most `max_frames` long),
    /// committing any prepared instance first. Realtime-safe, except that wasmtime allocates
    /// when a module traps.
    pub fn process(&mut self, channels: &mut [&mut [f32]]) -> Processed {
        self.commit_pending();
        self.shared.publish_block();
        let Some(current) = self.current.as_mut() else {
            return Processed::Bypassed;
        };

        let frames = channels.first().map_or(0, |c| c.len());
        let fading = match self.fading.as_mut() {
            Some(fade) if fade.pos < fade.len && frames <= current.scratch[0].len() => Some(fade),
            _ => None,
        };
        if let Some(fade) = fading {
            // Run the outgoing instance on a copy of the input.
            let [s0, s1] = &mut current.scratch;
            let mut scratch: [&mut [f32]; 2] = [&mut s0[..frames], &mut s1[..frames]];
            let used = channels.len().min(2);
            for (dst, src) in scratch.iter_mut().zip(channels.iter()) {
                dst.copy_from_slice(src);
            }
            let _ = fade.old.instance.process(&mut scratch[..used]);
            let result = current.instance.process(channels);
            for (ch, old) in channels.iter_mut().zip(scratch.iter()) {
                for (i, (y, o)) in ch.iter_mut().zip(old.iter()).enumerate() {
                    let t = ((fade.pos + i) as f32 / fade.len as f32).min(1.0) * FRAC_PI_2;
                    *y = *y * t.sin() + *o * t.cos();
                }
            }
            fade.pos += frames;
            return self.outcome(result);
        }

        let result = current.instance.process(channels);
        self.outcome(result)
    }

    fn outcome(&mut self, result: Result<(), Fault>) -> Processed {
        let Some(current) = self.current.as_mut() else {
            return Processed::Bypassed;
        };
        match result {
            Ok(()) => Processed::Ran,
            Err(fault) => {
                // Publish only the first fault of an instance; later blocks are plain silence.
                if current.instance.fault_is_new() {
                    self.shared.publish_fault(current.generation, fault);
                }
                Processed::Faulted(fault)
            }
        }
    }

    /// The host reset the transport: clears the module's state through `wasp_reset`, and ends
    /// any crossfade. Realtime-safe unless the module traps.
    pub fn reset(&mut self) {
        if let Some(fade) = self.fading.as_mut() {
            fade.pos = fade.len;
        }
        if let Some(current) = self.current.as_mut() {
            if let Err(fault) = current.instance.reset() {
                self.shared.publish_fault(current.generation, fault);
            }
        }
    }
}
