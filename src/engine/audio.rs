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
//!
//! Nothing here may panic: a panic would cross the plugin boundary and abort the host. Slices
//! are cut to the lengths of the buffers they index, and blocks longer than the buffers the
//! worker allocated are processed in pieces.
//!
//! # Time
//!
//! Each host block gets one [`Deadline`]: its parameter changes, both instances of a crossfade
//! and the re-run after a rollback all share it.

use std::cell::Cell;
use std::f32::consts::{FRAC_PI_2, PI};
use std::sync::Arc;

use super::error::Fault;
use super::events::{ModuleEvent, Transport};
use super::handoff::{restore, Prepared};
use super::metadata::Metadata;
use super::migrate::STAGE_BYTES;
use super::params::MAX_PARAMS;
use super::sandbox::{self, Deadline, OFFLINE_BLOCK_BUDGET};
use super::status::{EngineShared, SNAPSHOT_SECONDS};

/// Length of the equal-power crossfade used when a swap cannot carry state.
pub const CROSSFADE_SECONDS: f32 = 0.020;
/// Length of the fade when a module carries its state and blends (metadata `blend`): both
/// sides play the same sound, so the fade is equal-gain, and long and S-shaped so the new side's
/// first milliseconds (its memory meeting new coefficients) weigh almost nothing.
pub const BLEND_SECONDS: f32 = 0.100;

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

/// The instance a swap replaced, kept for a crossfade and for a possible rollback.
struct Previous {
    prepared: Box<Prepared>,
    /// Frames of the crossfade done so far; the fade is over when `pos >= len`.
    pos: usize,
    len: usize,
    /// Frames processed since the swap.
    age: usize,
    /// Whether the engine may switch back to it (not for an instance that crashed, nor across
    /// a restore or new audio settings).
    can_rollback: bool,
    /// The fade is a blend (see [`BLEND_SECONDS`]), not an equal-power crossfade.
    blend: bool,
}

impl Previous {
    fn fading(&self) -> bool {
        self.pos < self.len
    }
}

thread_local! {
    /// Whether wasmtime's per-thread state is set up on this thread (see
    /// [`AudioEngine::prepare_thread`]). Const-initialised with no destructor: reading it
    /// never allocates.
    static THREAD_READY: Cell<bool> = const { Cell::new(false) };
}

/// The audio thread's engine. Owned by the plugin's process callback.
pub struct AudioEngine {
    /// The running instance; `None` until the first commit.
    current: Option<Box<Prepared>>,
    /// The instance the last swap replaced, while it fades out or may still be rolled back to.
    previous: Option<Previous>,
    /// The next instance, receiving the current one's state a slice per block (see
    /// `migrate.rs`); it replaces the current one once the copy is complete.
    staging: Option<Box<Prepared>>,
    /// Prepared instances from the worker, oldest first.
    incoming: rtrb::Consumer<Box<Prepared>>,
    /// Replaced instances going back to the worker to be dropped there.
    retired: rtrb::Producer<Box<Prepared>>,
    shared: Arc<EngineShared>,
    guard: CallGuard,
    fault_output: FaultOutput,
    /// Whether the host renders offline: blocks then get [`OFFLINE_BLOCK_BUDGET`].
    offline: bool,
    /// Length of the last block, for the budget of calls made between blocks.
    last_frames: usize,
    /// Frames processed since the running WCLAP's state was last saved unasked.
    since_snapshot: usize,
    /// Whether the previous instance processed the current piece into the current instance's
    /// scratch buffers (during a crossfade), so a rollback can play that instead of running it
    /// over the piece a second time.
    previous_ran: bool,
    /// Set when this block rolled back: the restored instance runs in this block only while
    /// at least half the block's budget is left (see `on_fault`).
    rolled_back: bool,
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

/// The slices `start..end` of up to two host channels, and how many there are.
pub(crate) fn piece<'a>(
    channels: &'a mut [&mut [f32]],
    start: usize,
    end: usize,
) -> ([&'a mut [f32]; 2], usize) {
    let count = channels.len().min(2);
    let mut iter = channels.iter_mut();
    let mut cut = || {
        iter.next()
            .and_then(|c| c.get_mut(start..end))
            .unwrap_or_default()
    };
    ([cut(), cut()], count)
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
            staging: None,
            incoming,
            retired,
            shared,
            guard: unguarded,
            fault_output: FaultOutput::Silence,
            offline: false,
            last_frames: 0,
            since_snapshot: usize::MAX / 2,
            previous_ran: false,
            rolled_back: false,
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

    /// Tells the engine whether the host renders offline: blocks then get
    /// [`OFFLINE_BLOCK_BUDGET`], so a module slower than real time is not stopped while an
    /// endless loop still is. Realtime-safe.
    pub fn set_offline(&mut self, offline: bool) {
        self.offline = offline;
    }

    /// Sets up wasmtime's per-thread state on the calling thread: with native signal support
    /// compiled in, wasmtime maps an alternate signal stack for each thread that calls into
    /// WebAssembly and registers a thread-exit destructor for it (a system call, a mapping and
    /// a lock in the C library). Call it on the audio thread before processing starts (the
    /// plugin does, from the host's start-of-processing and reset callbacks) so the first
    /// block does not pay for it. Not realtime-safe; calling it again on a thread does nothing.
    pub fn prepare_thread() {
        if !THREAD_READY.get() {
            wasmtime::Engine::tls_eager_initialize();
            THREAD_READY.set(true);
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
        self.previous.as_ref().is_some_and(Previous::fading)
    }

    /// True while a commit is copying state over several blocks.
    pub fn is_staging(&self) -> bool {
        self.staging.is_some()
    }

    /// Ends any crossfade and hands back the instance kept for a rollback, for when the host is
    /// about to change the audio settings (the plugin calls it from `activate`, before the new
    /// instance is prepared, so its memory is free again). Never allocates or frees.
    pub fn release_previous(&mut self) {
        if self.retired.slots() >= 1 {
            if let Some(previous) = self.previous.take() {
                self.hand_back(previous.prepared);
            }
        }
    }

    /// Commits prepared instances, newest last, carrying all their state at once or starting a
    /// crossfade, and hands replaced ones back. For when the host is not processing (the
    /// plugin calls it from `activate`): the copies are not bounded per block. Never
    /// allocates or frees.
    pub fn commit_pending(&mut self) {
        self.commit(None);
    }

    /// Commits prepared instances as the start of a block does: at most
    /// [`STAGE_BYTES`](super::migrate::STAGE_BYTES) of declared state is copied, larger plans
    /// are staged over several blocks. Realtime-safe.
    pub fn commit_block(&mut self) {
        self.commit(Some(STAGE_BYTES));
    }

    fn commit(&mut self, budget: Option<usize>) {
        self.expire_previous();
        if let Some(mut next) = self.staging.take() {
            let done = match self.current.as_mut() {
                // Still the instance the plan was made against, and healthy.
                Some(old)
                    if old.instance.fault().is_none()
                        && old.generation == next.plan.from_generation =>
                {
                    let Prepared { instance, plan, .. } = &mut *next;
                    let budget = budget.unwrap_or(usize::MAX);
                    instance.stage_from(&mut old.instance, plan, budget, self.last_frames)
                }
                // The old instance crashed, or a rollback replaced it, while its state was being
                // copied: what was copied stays, and the new instance takes over now (fading in
                // over whatever plays).
                _ => true,
            };
            if !done || self.retired.slots() < 2 {
                self.staging = Some(next);
                return;
            }
            let carried = self
                .current
                .as_ref()
                .is_some_and(|c| c.generation == next.plan.from_generation);
            self.install(next, carried);
        }
        // Each commit may hand back two instances: the previous one and a crashed current one.
        while self.retired.slots() >= 2 {
            let Ok(mut next) = self.incoming.pop() else {
                break;
            };
            if next.plan.whole {
                // A tier-up: the same module, now compiled, takes over exactly where the
                // running instance is. Only from that instance, and only while it is healthy.
                match self.current.as_mut() {
                    Some(old)
                        if old.generation == next.plan.from_generation
                            && old.instance.fault().is_none() =>
                    {
                        let Prepared { instance, plan, .. } = &mut *next;
                        instance.migrate_from(&mut old.instance, plan);
                        next.values = old.values;
                        next.slot_params = old.slot_params;
                        // The instance before this module, fading out or kept for a rollback,
                        // stays as it is: only the running one is replaced.
                        let generation = next.generation;
                        let tier = next.instance.tier();
                        if let Some(interpreted) = self.current.replace(next) {
                            self.hand_back(interpreted);
                        }
                        self.shared.publish_commit(generation, tier, false);
                        self.shared.count_tier_up();
                    }
                    _ => self.hand_back(next),
                }
                continue;
            }
            let mut carried = false;
            if let Some(old) = self.current.as_mut() {
                let matches = next.plan.from_generation == old.generation;
                let healthy = old.instance.fault().is_none();
                let Prepared { instance, plan, .. } = &mut *next;
                let too_big = budget.is_some_and(|budget| {
                    plan.needs_staging(old.instance.state(), instance.state())
                        || (plan.rate_ratio != 1.0
                            && plan.bytes(old.instance.state(), instance.state()) > budget)
                });
                if matches && !plan.crossfade && healthy && plan.rate_ratio != 1.0 && too_big {
                    // Resampling is not staged: more than a block's share of it starts the new
                    // instance fresh instead (this only happens when new audio settings arrive
                    // while the host processes; normally they are committed in `activate`).
                } else if matches && !plan.crossfade && healthy {
                    if too_big {
                        // Copy this block's share now and the rest over the next blocks.
                        let budget = budget.unwrap_or(usize::MAX);
                        if !instance.stage_from(&mut old.instance, plan, budget, 0) {
                            self.staging = Some(next);
                            return;
                        }
                    } else {
                        instance.migrate_from(&mut old.instance, plan);
                    }
                    carried = true;
                } else if !matches && !next.plan.crossfade {
                    self.shared.publish_fallback_crossfade();
                }
            }
            self.install(next, carried);
        }
    }

    /// Makes `next` the running instance; the one it replaces fades out (unless its state was
    /// carried without a blend) and stays available for a rollback. Callers check there is
    /// room to hand back two instances.
    fn install(&mut self, next: Box<Prepared>, carried: bool) {
        let generation = next.generation;
        if let Some(old) = self.current.take() {
            if let Some(previous) = self.previous.take() {
                self.hand_back(previous.prepared);
            }
            if old.instance.fault().is_none() {
                // A blend only where the state was copied; otherwise the usual crossfade.
                let blend = next.plan.blend && carried;
                let seconds = match (carried, blend) {
                    (true, true) => BLEND_SECONDS,
                    (true, false) => 0.0,
                    (false, _) => CROSSFADE_SECONDS,
                };
                self.previous = Some(Previous {
                    prepared: old,
                    pos: 0,
                    len: (seconds * next.instance.config().sample_rate) as usize,
                    age: 0,
                    can_rollback: next.rollback,
                    blend,
                });
            } else {
                self.hand_back(old);
            }
        }
        let tier = next.instance.tier();
        self.current = Some(next);
        self.shared.publish_commit(generation, tier, true);
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

    /// The time budget of a block of `frames` for the running instance.
    fn block_deadline(&self, frames: usize) -> Deadline {
        let budget = match self.current.as_ref() {
            _ if self.offline => OFFLINE_BLOCK_BUDGET,
            Some(current) => current.instance.block_budget(frames),
            None => OFFLINE_BLOCK_BUDGET,
        };
        Deadline::after(budget)
    }

    /// Processes one block in place (one slice per host channel), committing any prepared
    /// instance first. A block longer than the buffers the worker prepared is processed in
    /// pieces. Realtime-safe, except inside the call guard when a module traps (see the module
    /// docs).
    pub fn process(&mut self, channels: &mut [&mut [f32]]) -> Processed {
        if !THREAD_READY.get() {
            // The host did not announce this thread: set it up inside the guard, so only the
            // first block on it pays (see `prepare_thread`).
            let guard = self.guard;
            guard(&mut || Self::prepare_thread());
            self.shared.count_late_thread_setup();
        }
        self.commit_block();
        self.shared.publish_block();
        let _call = sandbox::AudioCall::enter();
        if self.current.is_none() {
            return Processed::Bypassed;
        }
        let frames = channels.iter().map(|c| c.len()).min().unwrap_or(0);
        self.last_frames = frames;
        let deadline = self.block_deadline(frames);
        self.rolled_back = false;
        self.apply_params(deadline);

        let mut outcome = Processed::Ran;
        let mut start = 0;
        while start < frames {
            let Some(size) = self.current.as_ref().map(|c| c.frames().max(1)) else {
                break;
            };
            let end = frames.min(start + size);
            let (mut pieces, count) = piece(channels, start, end);
            let result = self.process_piece(&mut pieces[..count], end - start, deadline);
            if outcome == Processed::Ran {
                outcome = result;
            }
            start = end;
        }

        self.save_clap_state(frames);
        let policed = sandbox::police(channels);
        self.shared.publish_policed(policed);
        if let Some(previous) = self.previous.as_mut() {
            previous.age = previous.age.saturating_add(frames);
        }
        outcome
    }

    /// After a block: saves the running WCLAP's own state if a project being saved or a new
    /// instance of the same plugin asked for it, or, unasked, if the plugin received events
    /// and the last unasked save is [`SNAPSHOT_SECONDS`] old (see `ClapSnapshots`).
    /// Realtime-safe unless the plugin traps (inside the call guard, as module calls are).
    fn save_clap_state(&mut self, frames: usize) {
        let guard = self.guard;
        let (shared, current) = (&self.shared, &mut self.current);
        let Some(current) = current.as_mut() else {
            return;
        };
        let generation = current.generation;
        let mut fault = Ok(());
        guard(&mut || {
            shared.clap.answer(|buffer| {
                buffer.clear();
                // A state larger than the buffer (never, the plugin's block being no larger)
                // is no answer rather than a cut one.
                let mut fits = false;
                match current.instance.save_clap_state(|bytes| {
                    fits = bytes.len() <= buffer.capacity();
                    if fits {
                        buffer.extend_from_slice(bytes);
                    }
                }) {
                    Ok(true) if fits => Some(generation),
                    Ok(_) => None,
                    Err(f) => {
                        fault = Err(f);
                        None
                    }
                }
            });
        });
        self.since_snapshot = self.since_snapshot.saturating_add(frames);
        let due = current.instance.config().sample_rate * SNAPSHOT_SECONDS;
        if current.instance.clap_dirty() && self.since_snapshot as f32 >= due && fault.is_ok() {
            self.since_snapshot = 0;
            guard(&mut || {
                if let Err(f) = current
                    .instance
                    .save_clap_state(|bytes| shared.clap.publish_latest(generation, bytes))
                {
                    fault = Err(f);
                }
            });
        }
        self.publish_new_fault(fault);
    }

    /// Processes a piece no longer than the running instance's buffers.
    fn process_piece(
        &mut self,
        channels: &mut [&mut [f32]],
        frames: usize,
        deadline: Deadline,
    ) -> Processed {
        if self.rolled_back && !self.time_for_restored(frames, deadline) {
            self.skip(channels, frames);
            return Processed::Ran;
        }
        let Some(current) = self.current.as_mut() else {
            return Processed::Bypassed;
        };
        for (dry, ch) in current.dry.iter_mut().zip(channels.iter()) {
            let n = frames.min(dry.len()).min(ch.len());
            dry[..n].copy_from_slice(&ch[..n]);
        }
        match self.run(channels, frames, deadline) {
            Ok(()) => Processed::Ran,
            Err(fault) => self.on_fault(fault, channels, frames, deadline),
        }
    }

    /// Passes parameter values changed since the last block to the current instance, at the
    /// block boundary. Realtime-safe, except inside the call guard when the module traps.
    fn apply_params(&mut self, deadline: Deadline) {
        let guard = self.guard;
        let Some(current) = self.current.as_mut() else {
            return;
        };
        let mut values = [0.0f32; MAX_PARAMS];
        // A second handle on the instance's patch (a reference count, no allocation; the
        // instance keeps its own, so dropping this one frees nothing).
        let patch = current.instance.patch().clone();
        let declared = patch.metadata().params.as_slice();
        // Only the module's own parameters: bits given back by a torn snapshot may name others.
        let mask = u64::MAX
            .checked_shr(64 - declared.len() as u32)
            .unwrap_or(0);
        let changed = self
            .shared
            .params
            .take_changed(current.generation, &mut values)
            & mask;
        if changed == 0 {
            return;
        }
        guard(&mut || {
            let mut bits = changed;
            while bits != 0 {
                let index = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                // A trap marks the instance faulted; `run` then reports it like any other.
                let Some(spec) = declared.get(index) else {
                    break;
                };
                let value = spec.limit(values.get(index).copied().unwrap_or(spec.default));
                if let Some(v) = current.values.get_mut(index) {
                    *v = value;
                }
                if current
                    .instance
                    .set_param_until(index, value, deadline)
                    .is_err()
                {
                    break;
                }
            }
        });
    }

    /// The host moved host parameter `slot` to `normalized` (0 to 1): passes the plain value to
    /// the running module's parameter bound to that slot, now, so a block split at the event's
    /// frame hears it from exactly there. A slot the module does not use is ignored.
    /// Realtime-safe unless the module traps.
    pub fn set_host_param(&mut self, slot: usize, normalized: f32) {
        let _call = sandbox::AudioCall::enter();
        let deadline = self.block_deadline(self.last_frames.max(1));
        let guard = self.guard;
        let Some(current) = self.current.as_mut() else {
            return;
        };
        let Some(&index) = current.slot_params.get(slot) else {
            return;
        };
        let index = index as usize;
        // A second handle on the patch (a reference count, see `apply_params`).
        let patch = current.instance.patch().clone();
        let Some(spec) = patch.metadata().params.get(index) else {
            return;
        };
        let value = spec.denormalize(normalized);
        if let Some(v) = current.values.get_mut(index) {
            *v = value;
        }
        let mut result = Ok(());
        guard(&mut || result = current.instance.set_param_until(index, value, deadline));
        self.publish_new_fault(result);
    }

    /// Passes a note or MIDI message to the running module now (between two pieces of a
    /// block split at the event's frame). Realtime-safe unless the module traps.
    pub fn send_event(&mut self, event: ModuleEvent) {
        let _call = sandbox::AudioCall::enter();
        let deadline = self.block_deadline(self.last_frames.max(1));
        let guard = self.guard;
        let Some(current) = self.current.as_mut() else {
            return;
        };
        let mut result = Ok(());
        guard(&mut || result = current.instance.event_until(event, deadline));
        self.publish_new_fault(result);
    }

    /// Publishes a fault from a call made between pieces; the next piece then reports it like
    /// any other (silence or dry, rollback).
    fn publish_new_fault(&mut self, result: Result<(), Fault>) {
        if let (Err(fault), Some(current)) = (result, self.current.as_mut()) {
            if current.instance.fault_is_new() {
                self.shared.publish_fault(current.generation, fault);
            }
        }
    }

    /// Writes the song's transport into the running module, if it asks for it (and into the
    /// one fading out), before the next piece. A module staged for a swap gets it once it
    /// runs. Realtime-safe.
    pub fn set_transport(&mut self, transport: &Transport) {
        if let Some(current) = self.current.as_mut() {
            current.instance.write_transport(transport);
        }
        if let Some(previous) = self.previous.as_mut().filter(|p| p.fading()) {
            previous.prepared.instance.write_transport(transport);
        }
    }

    /// Calls `f(slot, normalized)` for each host slot the running module's parameters are
    /// bound to, with the value the parameter last received: after a commit, the plugin writes
    /// these into the host's parameters. Realtime-safe.
    pub fn bound_values(&self, mut f: impl FnMut(usize, f32)) {
        let Some(current) = self.current.as_ref() else {
            return;
        };
        let params = current.instance.patch().metadata().params.as_slice();
        for (slot, &index) in current.slot_params.iter().enumerate() {
            let index = index as usize;
            if let (Some(spec), Some(value)) = (params.get(index), current.values.get(index)) {
                f(slot, spec.normalize(*value));
            }
        }
    }

    /// The running module's metadata (latency, tail, parameters). Realtime-safe.
    pub fn metadata(&self) -> Option<&Metadata> {
        self.current.as_ref().map(|c| c.instance.patch().metadata())
    }

    /// Runs the current instance (and a fading previous one) over a piece of `frames`.
    fn run(
        &mut self,
        channels: &mut [&mut [f32]],
        frames: usize,
        deadline: Deadline,
    ) -> Result<(), Fault> {
        let guard = self.guard;
        self.previous_ran = false;
        let Some(current) = self.current.as_mut() else {
            return Ok(());
        };
        let previous = self
            .previous
            .as_mut()
            .filter(|p| p.fading() && frames <= current.frames());
        let mut result = Ok(());
        match previous {
            None => guard(&mut || result = current.instance.process_until(channels, deadline)),
            Some(previous) => {
                // Run the outgoing instance on a copy of the input, then mix equal-power.
                let [s0, s1] = &mut current.scratch;
                let mut scratch: [&mut [f32]; 2] = [&mut s0[..frames], &mut s1[..frames]];
                let used = channels.len().min(2);
                for (dst, src) in scratch.iter_mut().zip(channels.iter()) {
                    let n = dst.len().min(src.len());
                    dst[..n].copy_from_slice(&src[..n]);
                }
                let old = &mut previous.prepared.instance;
                let mut old_result = Ok(());
                guard(&mut || {
                    old_result = old.process_until(&mut scratch[..used], deadline);
                    result = current.instance.process_until(channels, deadline);
                });
                match old_result {
                    // A crash of the outgoing module only silences its half of the fade, and it
                    // is no longer anything to go back to.
                    Err(_) => previous.can_rollback = false,
                    Ok(()) => self.previous_ran = true,
                }
                if result.is_ok() {
                    for (ch, old) in channels.iter_mut().zip(scratch.iter()) {
                        for (i, (y, o)) in ch.iter_mut().zip(old.iter()).enumerate() {
                            let t = ((previous.pos + i) as f32 / previous.len as f32).min(1.0);
                            if previous.blend {
                                let new = 0.5 - 0.5 * (t * PI).cos();
                                *y = *y * new + *o * (1.0 - new);
                            } else {
                                let angle = t * FRAC_PI_2;
                                *y = *y * angle.sin() + *o * angle.cos();
                            }
                        }
                    }
                }
                previous.pos += frames;
            }
        }
        result
    }

    /// Whether the instance restored by a rollback in this block has time to run a piece of
    /// `frames` before `deadline`: at least half of its own budget for it.
    fn time_for_restored(&self, frames: usize, deadline: Deadline) -> bool {
        self.current
            .as_ref()
            .is_some_and(|c| deadline.remaining() >= c.instance.block_budget(frames) / 2)
    }

    /// Outputs a piece without running a module: the dry input or silence, as after a crash.
    fn skip(&self, channels: &mut [&mut [f32]], frames: usize) {
        if self.fault_output == FaultOutput::Silence {
            for ch in channels.iter_mut() {
                let n = frames.min(ch.len());
                ch[..n].fill(0.0);
            }
        }
    }

    /// Handles a crash of the current instance: roll back if the swap was recent, otherwise
    /// output silence or the dry input.
    fn on_fault(
        &mut self,
        fault: Fault,
        channels: &mut [&mut [f32]],
        frames: usize,
        deadline: Deadline,
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
        if can_roll_back {
            if let (Some(crashed), Some(mut previous)) = (self.current.take(), self.previous.take())
            {
                self.shared
                    .publish_rollback(crashed.generation, previous.prepared.generation);
                let mut outcome = Processed::RolledBack(fault);
                self.rolled_back = true;
                let enough_time = previous.prepared.instance.block_budget(frames) / 2;
                if self.previous_ran {
                    // It already processed this piece during the fade: play its output.
                    restore(&crashed.scratch, channels, frames);
                } else if deadline.remaining() < enough_time {
                    // The crashed module used up the block (it was stopped for taking too
                    // long): re-running the restored one now would get it stopped too. It
                    // misses this block and plays from the next, with a budget of its own.
                    restore(&crashed.dry, channels, frames);
                    self.skip(channels, frames);
                } else {
                    restore(&crashed.dry, channels, frames);
                    let guard = self.guard;
                    let restored = &mut previous.prepared.instance;
                    let mut result = Ok(());
                    guard(&mut || result = restored.process_until(channels, deadline));
                    if let Err(again) = result {
                        if restored.fault_is_new() {
                            self.shared
                                .publish_fault(previous.prepared.generation, again);
                        }
                        if self.fault_output == FaultOutput::Dry {
                            restore(&crashed.dry, channels, frames);
                        }
                        outcome = Processed::Faulted(again);
                    }
                }
                self.current = Some(previous.prepared);
                self.previous = Some(Previous {
                    prepared: crashed,
                    pos: 0,
                    len: 0,
                    age: 0,
                    can_rollback: false,
                    blend: false,
                });
                return outcome;
            }
        }
        if self.fault_output == FaultOutput::Dry {
            if let Some(current) = self.current.as_ref() {
                restore(&current.dry, channels, frames);
            }
        }
        Processed::Faulted(fault)
    }

    /// The host reset the transport: clears the module's state through `wasp_reset`, and ends
    /// any crossfade. Runs with the budget of the last block. Realtime-safe unless the module
    /// traps.
    pub fn reset(&mut self) {
        let _call = sandbox::AudioCall::enter();
        if let Some(previous) = self.previous.as_mut() {
            previous.pos = previous.len;
        }
        let frames = self.last_frames;
        let deadline = self.block_deadline(frames);
        let guard = self.guard;
        if let Some(current) = self.current.as_mut() {
            let mut result = Ok(());
            guard(&mut || result = current.instance.reset_until(deadline));
            if let Err(fault) = result {
                if current.instance.fault_is_new() {
                    self.shared.publish_fault(current.generation, fault);
                }
            }
        }
    }
}
