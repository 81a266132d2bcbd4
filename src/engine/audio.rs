//! `AudioEngine`: the audio thread's side of Wasp. Runs the current instance, commits prepared
//! replacements at block boundaries, carries state across or crossfades, rolls back a module
//! that crashes right after a swap, and polices what reaches the host.
//!
//! Every method here is realtime-safe: no allocation, no lock, no logging, no freeing. Prepared
//! instances arrive through a wait-free SPSC queue from the worker; the instances they replace
//! go back through another, to be dropped on the worker. A commit happens only while the return
//! queue has room for everything it may hand back, so when that queue is full the old instance
//! simply keeps playing and the commit is retried next block: nothing is ever freed here.
//!
//! The one exception is a module that traps: wasmtime allocates the trap's error inside the
//! call. [`AudioEngine::set_call_guard`] lets the plugin wrap calls into module code so its
//! allocation checker can tell that case apart; the error itself is kept by the instance and
//! freed with it on the worker.

use std::f32::consts::FRAC_PI_2;
use std::sync::Arc;

use super::error::Fault;
use super::instance::DspInstance;
use super::migrate::Plan;
use super::sandbox;
use super::status::EngineShared;

/// Length of the equal-power crossfade used when a swap cannot carry state.
pub const CROSSFADE_SECONDS: f32 = 0.020;

/// How long after a swap a crash of the new module rolls back to the previous one.
pub const ROLLBACK_SECONDS: f32 = 1.0;

/// Wraps a call into module code. The plugin passes nice-plug's `permit_alloc` here, because
/// wasmtime allocates when a module traps; everything outside the wrapped calls stays checked.
pub type CallGuard = fn(&mut dyn FnMut());

fn unguarded(call: &mut dyn FnMut()) {
    call()
}

/// What the plugin outputs once a module has crashed, until another module is loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FaultOutput {
    /// Silence.
    #[default]
    Silence,
    /// The dry input, unprocessed.
    Dry,
}

/// A prepared instance in transit to the audio thread, with everything its commit needs.
pub struct Prepared {
    pub(crate) instance: DspInstance,
    pub(crate) generation: u64,
    /// How to carry state from the instance it replaces.
    pub(crate) plan: Plan,
    /// Buffers for running the outgoing instance during a crossfade, `max_frames` long each,
    /// allocated on the worker.
    pub(crate) scratch: [Vec<f32>; 2],
    /// A copy of each block's input, `max_frames` long each: played back in the dry fault mode,
    /// and re-processed by the previous instance after a rollback.
    pub(crate) dry: [Vec<f32>; 2],
}

/// Copies the block's kept input back into the host buffers.
fn restore_dry(prepared: &Prepared, channels: &mut [&mut [f32]], frames: usize) {
    for (ch, dry) in channels.iter_mut().zip(prepared.dry.iter()) {
        ch[..frames].copy_from_slice(&dry[..frames]);
    }
}

/// The instance a swap replaced, kept for a crossfade and for a possible rollback.
struct Previous {
    prepared: Box<Prepared>,
    /// Frames of the crossfade done so far; the fade is over when `pos >= len`.
    pos: usize,
    len: usize,
    /// Frames processed since the swap.
    age: usize,
    /// Whether the engine may switch back to it (not for an instance that crashed).
    can_rollback: bool,
}

impl Previous {
    fn fading(&self) -> bool {
        self.pos < self.len
    }
}

/// The audio thread's engine. Owned by the plugin's process callback.
pub struct AudioEngine {
    /// The running instance; `None` until the first commit.
    current: Option<Box<Prepared>>,
    /// The instance the last swap replaced, while it fades out or may still be rolled back to.
    previous: Option<Previous>,
    /// Prepared instances from the worker, oldest first.
    incoming: rtrb::Consumer<Box<Prepared>>,
    /// Replaced instances going back to the worker to be dropped there.
    retired: rtrb::Producer<Box<Prepared>>,
    shared: Arc<EngineShared>,
    guard: CallGuard,
    fault_output: FaultOutput,
}

/// What one process call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processed {
    /// The module ran normally.
    Ran,
    /// No instance is committed yet; the input passed through unchanged.
    Bypassed,
    /// The module crashed and the engine switched back to the previous module.
    RolledBack(Fault),
    /// The instance has faulted; the block is silence or dry input.
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
            previous: None,
            incoming,
            retired,
            shared,
            guard: unguarded,
            fault_output: FaultOutput::Silence,
        }
    }

    /// Sets the wrapper for calls into module code (see [`CallGuard`]).
    pub fn set_call_guard(&mut self, guard: CallGuard) {
        self.guard = guard;
    }

    /// Chooses what to output after a crash. Realtime-safe.
    pub fn set_fault_output(&mut self, output: FaultOutput) {
        self.fault_output = output;
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
        self.previous.as_ref().is_some_and(Previous::fading)
    }

    /// Commits prepared instances, newest last, carrying state or starting a crossfade, and
    /// hands replaced ones back. Realtime-safe: moves boxes between queues and copies declared
    /// state; never allocates or frees.
    pub fn commit_pending(&mut self) {
        self.expire_previous();
        // Each commit may hand back two instances: the previous one and a crashed current one.
        while self.retired.slots() >= 2 {
            let Ok(mut next) = self.incoming.pop() else {
                break;
            };
            let generation = next.generation;
            if let Some(mut old) = self.current.take() {
                let matches = next.plan.from_generation == old.generation;
                let healthy = old.instance.fault().is_none();
                let carry = matches && !next.plan.crossfade && healthy;
                if carry {
                    next.instance.migrate_from(&mut old.instance, &next.plan);
                } else if !matches && !next.plan.crossfade {
                    self.shared.publish_fallback_crossfade();
                }
                if let Some(previous) = self.previous.take() {
                    self.hand_back(previous.prepared);
                }
                if healthy {
                    let fade = if carry {
                        0
                    } else {
                        (CROSSFADE_SECONDS * next.instance.config().sample_rate) as usize
                    };
                    self.previous = Some(Previous {
                        prepared: old,
                        pos: 0,
                        len: fade,
                        age: 0,
                        can_rollback: true,
                    });
                } else {
                    self.hand_back(old);
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

    /// Hands back the previous instance once its fade is over and it can no longer be rolled
    /// back to, if there is room.
    fn expire_previous(&mut self) {
        let window = self.current.as_ref().map_or(0, |c| {
            (ROLLBACK_SECONDS * c.instance.config().sample_rate) as usize
        });
        let done = self
            .previous
            .as_ref()
            .is_some_and(|p| !p.fading() && (!p.can_rollback || p.age >= window));
        if done && self.retired.slots() >= 1 {
            if let Some(previous) = self.previous.take() {
                self.hand_back(previous.prepared);
            }
        }
    }

    /// Processes one block in place (one slice per host channel, at most `max_frames` long),
    /// committing any prepared instance first. Realtime-safe, except inside the call guard
    /// when a module traps (see the module docs).
    pub fn process(&mut self, channels: &mut [&mut [f32]]) -> Processed {
        self.commit_pending();
        self.shared.publish_block();
        let Some(current) = self.current.as_mut() else {
            return Processed::Bypassed;
        };
        let frames = channels.iter().map(|c| c.len()).min().unwrap_or(0);
        let kept_dry = frames <= current.dry[0].len();
        if kept_dry {
            for (dry, ch) in current.dry.iter_mut().zip(channels.iter()) {
                dry[..frames].copy_from_slice(&ch[..frames]);
            }
        }

        self.apply_params();
        let mut outcome = match self.run(channels, frames) {
            Ok(()) => Processed::Ran,
            Err(fault) => self.on_fault(fault, channels, frames, kept_dry),
        };
        if let Processed::RolledBack(_) = outcome {
            // The restored instance processes the block again from the dry copy.
            if let Err(fault) = self.run(channels, frames) {
                outcome = self.on_fault(fault, channels, frames, kept_dry);
            }
        }

        let policed = sandbox::police(channels);
        self.shared.publish_policed(policed);
        if let Some(previous) = self.previous.as_mut() {
            previous.age = previous.age.saturating_add(frames);
        }
        outcome
    }

    /// Passes parameter values changed since the last block to the current instance, at the
    /// block boundary. Realtime-safe, except inside the call guard when the module traps.
    fn apply_params(&mut self) {
        let guard = self.guard;
        let Some(current) = self.current.as_mut() else {
            return;
        };
        let bank = &self.shared.params;
        let changed = bank.take_changed(current.generation);
        if changed == 0 {
            return;
        }
        guard(&mut || {
            let mut bits = changed;
            while bits != 0 {
                let index = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                // A trap marks the instance faulted; `run` then reports it like any other.
                if current
                    .instance
                    .set_param(index, bank.value(index))
                    .is_err()
                {
                    break;
                }
            }
        });
    }

    /// Runs the current instance (and a fading previous one) over the block.
    fn run(&mut self, channels: &mut [&mut [f32]], frames: usize) -> Result<(), Fault> {
        let guard = self.guard;
        let Some(current) = self.current.as_mut() else {
            return Ok(());
        };
        let previous = self
            .previous
            .as_mut()
            .filter(|p| p.fading() && frames <= current.scratch[0].len());
        let mut result = Ok(());
        match previous {
            None => guard(&mut || result = current.instance.process(channels)),
            Some(previous) => {
                // Run the outgoing instance on a copy of the input, then mix equal-power.
                let [s0, s1] = &mut current.scratch;
                let mut scratch: [&mut [f32]; 2] = [&mut s0[..frames], &mut s1[..frames]];
                let used = channels.len().min(2);
                for (dst, src) in scratch.iter_mut().zip(channels.iter()) {
                    dst.copy_from_slice(&src[..frames]);
                }
                let old = &mut previous.prepared.instance;
                guard(&mut || {
                    // A crash of the outgoing module only silences its half of the fade.
                    let _ = old.process(&mut scratch[..used]);
                    result = current.instance.process(channels);
                });
                for (ch, old) in channels.iter_mut().zip(scratch.iter()) {
                    for (i, (y, o)) in ch.iter_mut().zip(old.iter()).enumerate() {
                        let t = ((previous.pos + i) as f32 / previous.len as f32).min(1.0);
                        let angle = t * FRAC_PI_2;
                        *y = *y * angle.sin() + *o * angle.cos();
                    }
                }
                previous.pos += frames;
            }
        }
        result
    }

    /// Handles a crash of the current instance: roll back if the swap was recent, otherwise
    /// output silence or the dry input.
    fn on_fault(
        &mut self,
        fault: Fault,
        channels: &mut [&mut [f32]],
        frames: usize,
        kept_dry: bool,
    ) -> Processed {
        let Some(current) = self.current.as_mut() else {
            return Processed::Faulted(fault);
        };
        if current.instance.fault_is_new() {
            self.shared.publish_fault(current.generation, fault);
        }
        let window = (ROLLBACK_SECONDS * current.instance.config().sample_rate) as usize;
        let can_roll_back = self
            .previous
            .as_ref()
            .is_some_and(|p| p.can_rollback && p.age < window);
        if can_roll_back && kept_dry {
            if let (Some(crashed), Some(previous)) = (self.current.take(), self.previous.take()) {
                restore_dry(&crashed, channels, frames);
                self.shared
                    .publish_rollback(crashed.generation, previous.prepared.generation);
                self.current = Some(previous.prepared);
                self.previous = Some(Previous {
                    prepared: crashed,
                    pos: 0,
                    len: 0,
                    age: 0,
                    can_rollback: false,
                });
                return Processed::RolledBack(fault);
            }
        }
        if self.fault_output == FaultOutput::Dry && kept_dry {
            if let Some(current) = self.current.as_ref() {
                restore_dry(current, channels, frames);
            }
        }
        Processed::Faulted(fault)
    }

    /// The host reset the transport: clears the module's state through `wasp_reset`, and ends
    /// any crossfade. Realtime-safe unless the module traps.
    pub fn reset(&mut self) {
        if let Some(previous) = self.previous.as_mut() {
            previous.pos = previous.len;
        }
        let guard = self.guard;
        if let Some(current) = self.current.as_mut() {
            let mut result = Ok(());
            guard(&mut || result = current.instance.reset());
            if let Err(fault) = result {
                if current.instance.fault_is_new() {
                    self.shared.publish_fault(current.generation, fault);
                }
            }
        }
    }
}
