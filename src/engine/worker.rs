//! The worker: prepares instances for one plugin instance, a round at a time on the shared pool
//! (see `pool.rs`), and the [`Preparer`] that owns it.
//!
//! Every slow step happens here: reading, validating, compiling, instantiating, running
//! `wasp_init`. The result is a fully prepared [`DspInstance`] pushed to the audio thread's
//! queue. The worker also drops the instances the audio thread hands back, so no instance is
//! ever freed on the audio thread.
//!
//! Requests are handled newest-first: when several loads are waiting, only the newest runs and
//! the others are answered [`LoadOutcome::Superseded`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::audio::{AudioEngine, ROLLBACK_SECONDS};
use super::backend::{Tier, Tiering};
use super::controller::{
    host_values, Controller, LoadOptions, LoadOutcome, ModuleInfo, Request, Slots, What,
    CLAP_STATE_WAIT,
};
use super::error::LoadError;
use super::handoff::Prepared;
use super::instance::{DspInstance, ProcessConfig};
use super::migrate::{self, Crossfade, StateLayout};
use super::params::MAX_PARAMS;
use super::patch::{Patch, Source};
use super::pool::{Job, Pool, Step};
use super::runtime::Runtime;
use super::sandbox::{self, MemoryAccount};
use super::slots::UNBOUND;
use super::status::EngineShared;
use super::watch::{FileStamp, Watch, WATCH_POLL, WATCH_SETTLE};

/// Capacity of the queue of prepared instances. Latest-wins means more than a few in flight is
/// never useful.
const INCOMING_CAPACITY: usize = 4;

/// Capacity of the queue of replaced instances; larger than `INCOMING_CAPACITY` so the audio
/// thread can always hand back every instance it may commit in one block.
const RETIRED_CAPACITY: usize = 8;

/// How often the worker wakes to drop retired instances and retry a full queue while the audio
/// thread holds more than the instance it plays (a swap is under way, or an instance is kept
/// for a rollback).
const POLL: Duration = Duration::from_millis(5);

/// Returned by `poll_interval` when nothing is in flight and no file is watched: the worker is
/// not scheduled again until a request arrives, so idle instances cost no wake-ups.
const IDLE_WAIT: Duration = Duration::from_secs(3600);

/// How long dropping the plugin waits for the worker to stop before leaving it to finish (a
/// compile cannot be interrupted); see `Preparer::drop`.
const STOP_WAIT: Duration = Duration::from_millis(100);

/// How many swap reports are kept for lookup by generation.
const REPORTS_KEPT: usize = 32;

/// The source of the built-in default module: a transparent stereo pass-through.
pub const DEFAULT_MODULE: &str = include_str!("default.wat");

/// Owns this instance's worker; dropping it stops the worker.
pub struct Preparer {
    controller: Controller,
}

impl Preparer {
    /// Starts the worker, on the pool every instance of the process shares (see `pool.rs`).
    /// Returns the worker's owner and the audio thread's engine, which
    /// starts empty: call [`Controller::configure`] to prepare the first instance.
    pub fn spawn(runtime: Runtime) -> std::io::Result<(Preparer, AudioEngine)> {
        Self::spawn_with_default(runtime, DEFAULT_MODULE)
    }

    /// Like [`Preparer::spawn`], with `default` (WAT or binary) as the module that plays when
    /// nothing else is loaded: Wasp Instrument's is a synthesizer.
    pub fn spawn_with_default(
        runtime: Runtime,
        default: &'static str,
    ) -> std::io::Result<(Preparer, AudioEngine)> {
        let (incoming_tx, incoming_rx) = rtrb::RingBuffer::new(INCOMING_CAPACITY);
        let (retired_tx, retired_rx) = rtrb::RingBuffer::new(RETIRED_CAPACITY);
        let (requests, requests_rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(EngineShared::default());
        let tiering = runtime.options.tiering;
        let slots = Arc::new(Mutex::new(Slots {
            tiering,
            ..Slots::default()
        }));
        let stopping = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            runtime,
            tiering,
            requests: requests_rx,
            incoming: incoming_tx,
            retired: retired_rx,
            waiting: None,
            slots: slots.clone(),
            shared: shared.clone(),
            account: Arc::default(),
            config: None,
            deferred: None,
            running: None,
            previous: None,
            rollbacks_seen: 0,
            default: None,
            default_source: default,
            next_generation: 1,
            watch: Watch::default(),
            stopping: stopping.clone(),
            handed: 0,
            returned: 0,
            tier_up: None,
        };
        let pool = Pool::join();
        let task = match pool.add(Box::new(worker)) {
            Ok(task) => task,
            Err(e) => {
                for thread in pool.leave(STOP_WAIT) {
                    orphan(thread);
                }
                return Err(e);
            }
        };
        let controller = Controller {
            requests,
            slots,
            shared: shared.clone(),
            stopping,
            task,
            pool,
        };
        let audio = AudioEngine::new(incoming_rx, retired_tx, shared);
        Ok((Preparer { controller }, audio))
    }

    /// A handle to send requests to this worker.
    pub fn controller(&self) -> &Controller {
        &self.controller
    }
}

/// Pool threads that were still busy (compiling) when the last instance went away. They finish
/// on their own; the library joins them before it is unloaded, so no thread runs its code
/// after that.
static ORPHANS: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

/// Leaves a busy thread to finish, to be joined at unload (elsewhere than Linux, joined now).
fn orphan(thread: JoinHandle<()>) {
    if cfg!(target_os = "linux") {
        ORPHANS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(thread);
    } else {
        let _ = thread.join();
    }
}

/// Joins orphaned workers. Runs when the library is unloaded (or the process exits).
extern "C" fn join_orphans() {
    let orphans = std::mem::take(&mut *ORPHANS.lock().unwrap_or_else(|e| e.into_inner()));
    for thread in orphans {
        let _ = thread.join();
    }
}

// Registered as a destructor of the shared library: the C runtime calls it from `dlclose` (and
// at exit), before the library's code is unmapped.
#[cfg(target_os = "linux")]
#[used]
#[link_section = ".fini_array"]
static JOIN_ORPHANS_AT_UNLOAD: extern "C" fn() = join_orphans;

impl Drop for Preparer {
    /// Asks the worker to stop and waits at most [`STOP_WAIT`]: a worker in the middle of a
    /// compile finishes it first, and the host's thread must not wait for that. The last
    /// instance stops the pool; a pool thread still compiling then is joined when the library
    /// is unloaded (on Linux; elsewhere it is joined here).
    fn drop(&mut self) {
        // Relaxed: a hint the worker polls; the Shutdown request below is what it acts on.
        self.controller.stopping.store(true, Ordering::Relaxed);
        let _ = self.controller.send(Request::Shutdown);
        self.controller.task.wait_finished(STOP_WAIT);
        for thread in self.controller.pool.leave(STOP_WAIT) {
            orphan(thread);
        }
    }
}

/// The running instance as the worker knows it: what the next swap is planned against.
struct Running {
    generation: u64,
    patch: Patch,
    builtin: bool,
    state: StateLayout,
    config: ProcessConfig,
    info: ModuleInfo,
    /// Its parameter values when a newer instance replaced it in the bank, so a rollback can
    /// give them back.
    values: Vec<f32>,
}

/// A restored module waiting for the host's audio configuration.
struct Deferred {
    patch: Patch,
    builtin: bool,
    values: Vec<f32>,
}

/// How an instance is prepared: its parameter values and what its commit may do.
struct Preparation {
    /// Starting parameter values, by index.
    values: Vec<f32>,
    crossfade: Crossfade,
    /// Whether the instance it replaces stays a rollback target.
    rollback: bool,
}

/// A buffer of `frames` zeros whose pages are all mapped: fresh zeroed allocations are mapped
/// lazily, and the first write to each page would fault on the audio thread.
fn touched(frames: usize) -> Vec<f32> {
    let mut buffer = vec![0.0f32; frames];
    for i in (0..frames).step_by(1024) {
        // SAFETY: `i` is in bounds; a volatile write keeps the store the optimiser would drop.
        unsafe { std::ptr::write_volatile(buffer.as_mut_ptr().add(i), 0.0) };
    }
    buffer
}

/// One instance's worker: its state, run a round at a time by the pool (see `pool.rs`).
pub(crate) struct Worker {
    runtime: Runtime,
    /// Which runtime plays this instance's modules (see [`Controller::set_tiering`]).
    tiering: Tiering,
    requests: Receiver<Request>,
    incoming: rtrb::Producer<Box<Prepared>>,
    retired: rtrb::Consumer<Box<Prepared>>,
    /// A prepared instance that did not fit in `incoming` yet.
    waiting: Option<Box<Prepared>>,
    slots: Arc<Mutex<Slots>>,
    shared: Arc<EngineShared>,
    /// The linear memory every instance of this plugin draws from.
    account: Arc<MemoryAccount>,
    /// The host's audio settings; `None` until the host first sets them.
    config: Option<ProcessConfig>,
    /// A module restored before the first configuration.
    deferred: Option<Deferred>,
    /// The instance most recently handed to the audio thread.
    running: Option<Running>,
    /// The one before it: what the audio thread returns to when it rolls back.
    previous: Option<Running>,
    /// Rollbacks already accounted for.
    rollbacks_seen: u64,
    /// The compiled default module, compiled on first use.
    default: Option<Patch>,
    /// Its source.
    default_source: &'static str,
    next_generation: u64,
    watch: Watch,
    stopping: Arc<AtomicBool>,
    /// Instances handed to the audio thread, and those it gave back.
    handed: u64,
    returned: u64,
    /// The generation of an instance playing on the interpreter that should move to compiled
    /// code (see [`Worker::tier_up`]).
    tier_up: Option<u64>,
}

impl Job for Worker {
    fn step(&mut self) -> Step {
        self.round()
    }
}

impl Worker {
    /// One round: housekeeping, then every request queued, newest load winning. Says when
    /// to run the next round.
    pub(crate) fn round(&mut self) -> Step {
        self.housekeeping();
        let batch: Vec<Request> = self.requests.try_iter().collect();
        if batch.is_empty() && self.tier_up.is_some() {
            return self.tier_up();
        }
        if batch.is_empty() {
            let wait = self.poll_interval();
            return if wait >= IDLE_WAIT {
                Step::Idle
            } else {
                Step::After(wait)
            };
        }
        if batch.iter().any(|r| matches!(r, Request::Shutdown)) {
            return Step::Stop;
        }
        // Module code may run while the batch is handled (start functions, `wasp_init`,
        // first parameter values): keep the epoch advancing meanwhile.
        let _busy = self.runtime.busy(true);
        let is_load = |r: &Request| matches!(r, Request::Load { .. } | Request::Restore { .. });
        let newest_load = batch.iter().rposition(is_load);
        for (i, request) in batch.into_iter().enumerate() {
            match request {
                Request::Load { reply, .. } | Request::Restore { reply, .. }
                    if Some(i) != newest_load =>
                {
                    if let Some(reply) = reply {
                        let _ = reply.send(LoadOutcome::Superseded);
                    }
                }
                Request::Load {
                    what,
                    options,
                    reply,
                } => {
                    let outcome = self.load(what, options);
                    if let Some(reply) = reply {
                        let _ = reply.send(outcome);
                    }
                }
                Request::Restore {
                    what,
                    params,
                    reply,
                } => {
                    let outcome = self.restore(what, &params);
                    if let Some(reply) = reply {
                        let _ = reply.send(outcome);
                    }
                }
                Request::Configure { config, reply } => {
                    let outcome = self.configure(config);
                    if let Some(reply) = reply {
                        let _ = reply.send(outcome);
                    }
                }
                Request::SetTiering(tiering) => {
                    // A module loaded later in the batch is compiled for it anyway.
                    let reload = newest_load.is_none_or(|load| load < i);
                    self.set_tiering(tiering, reload);
                }
                Request::Watch(enabled) => {
                    self.watch.enabled = enabled;
                    self.watch.pending = None;
                    self.watch.loaded = self.running_path().and_then(|p| FileStamp::of(&p));
                    self.slots().status.watching = enabled;
                }
                Request::Ping | Request::Shutdown => {}
            }
        }
        // Requests may have come meanwhile, and what was prepared needs housekeeping soon.
        Step::Again
    }

    /// Moves the running instance from the interpreter to compiled code: compiles its module
    /// with wasmtime (the slow part, while the interpreter plays), makes an instance of the
    /// compiled code with the same audio settings, and hands it to the audio thread, which
    /// copies the whole running instance into it at a block boundary (`Plan::whole`) and
    /// plays on without a seam. Runs when no request waits; a newer module cancels it. Says
    /// when to run the next round.
    fn tier_up(&mut self) -> Step {
        let Some(generation) = self.tier_up.take() else {
            return Step::Again;
        };
        let Some(running) = self.running.as_ref().filter(|r| r.generation == generation) else {
            return Step::Again;
        };
        if self.waiting.is_some() || self.incoming.slots() == 0 {
            // The audio thread has not taken what it was given yet: try again later.
            self.tier_up = Some(generation);
            return Step::After(POLL);
        }
        let (patch, config, builtin) = (running.patch.clone(), running.config, running.builtin);
        // What the audio thread would copy at the switch, if it grew while loading.
        let bytes: usize = running.state.every_memory.iter().map(|m| m.2).sum();
        let _busy = self.runtime.busy(true);
        // On failure the interpreter plays on, and the editor says why.
        let failed = |worker: &Self, e: LoadError| {
            worker.slots().status.last_error = Some(format!(
                "{} keeps playing on the interpreter: {e}",
                patch.display_name()
            ));
        };
        if let Err(e) = self.runtime.compile_jit(&patch) {
            failed(self, e);
            return Step::Again;
        }
        if !self.requests.is_empty() {
            // A request came while it compiled: it goes first (it may replace the module).
            self.tier_up = Some(generation);
            return Step::Again;
        }
        if bytes as u64 > super::runtime::TIER_UP_MEMORY {
            // Too much to copy in one block: the compiled code takes over as it does for new
            // audio settings, with the declared state carried.
            self.reprepare(&patch, builtin);
            return Step::Again;
        }
        let account = self.account.clone();
        let instance = DspInstance::on_tier(&self.runtime, &patch, config, account, Tier::Jit);
        let mut instance = match instance {
            Ok(instance) => instance,
            Err(LoadError::Limit(_)) => {
                // The plugin's memory is held by the instance kept for a rollback, for a
                // second at most: try again then.
                self.tier_up = Some(generation);
                return Step::After(POLL);
            }
            Err(e) => {
                failed(self, e);
                return Step::Again;
            }
        };
        let Some(running) = self.running.as_mut().filter(|r| r.generation == generation) else {
            return Step::Again;
        };
        if !instance.state().same_shape(&running.state) {
            // Its memories did not come out the same sizes: a copy would not be exact.
            drop(instance);
            self.reprepare(&patch, builtin);
            return Step::Again;
        }
        instance.warm_up();
        let frames = config.max_frames.clamp(1, 1 << 16) as usize;
        let prepared = Box::new(Prepared {
            instance,
            // The same module at the same point: the bank, reports and rollbacks know it by
            // this generation already.
            generation,
            plan: migrate::Plan::whole(generation),
            rollback: false,
            // Taken from the running instance at the switch.
            slot_params: [UNBOUND; MAX_PARAMS],
            values: [0.0; MAX_PARAMS],
            scratch: [touched(frames), touched(frames)],
            dry: [touched(frames), touched(frames)],
        });
        if self.incoming.push(prepared).is_err() {
            // Unreachable: there was a slot and only this thread pushes.
            self.tier_up = Some(generation);
            return Step::After(POLL);
        }
        // The module's report says "compiled" once the audio thread has switched (see
        // `notice_tier_up`).
        self.handed += 1;
        Step::Again
    }

    /// Once the audio thread has committed a tier-up, says so in the running module's report.
    fn notice_tier_up(&mut self) {
        let Some(running) = self.running.as_mut() else {
            return;
        };
        if running.info.tier != Some(Tier::Interpreter)
            || self.shared.committed() != running.generation
            || self.shared.playing_tier() != Some(Tier::Jit)
        {
            return;
        }
        running.info.tier = Some(Tier::Jit);
        let (generation, info) = (running.generation, running.info.clone());
        let mut slots = self.slots();
        if slots.status.current.as_ref().map(|c| c.generation) == Some(generation) {
            slots.status.current = Some(info.clone());
        }
        if let Some(kept) = slots.infos.iter_mut().find(|i| i.generation == generation) {
            *kept = info;
        }
    }

    /// Prepares `patch` again, as for new audio settings: a new instance takes over with the
    /// running one's parameter values and declared state.
    fn reprepare(&mut self, patch: &Patch, builtin: bool) {
        let values = self.initial_params(patch);
        let how = Preparation {
            values,
            crossfade: Crossfade::Never,
            rollback: false,
        };
        self.prepare(patch, builtin, how);
    }

    /// Drops instances the audio thread handed back, retries a delivery that found the queue
    /// full, and checks a watched file.
    fn housekeeping(&mut self) {
        self.drop_retired();
        self.notice_tier_up();
        if let Some(waiting) = self.waiting.take() {
            match self.incoming.push(waiting) {
                Ok(()) => self.handed += 1,
                Err(rtrb::PushError::Full(waiting)) => self.waiting = Some(waiting),
            }
        }
        self.poll_watched_file();
        self.notice_rollback();
    }

    fn drop_retired(&mut self) {
        while let Ok(old) = self.retired.pop() {
            self.returned += 1;
            drop(old);
        }
    }

    /// How long to wait for a request before the next housekeeping round.
    fn poll_interval(&self) -> Duration {
        // The audio thread keeps the instance it plays; anything more comes back to be dropped.
        if self.waiting.is_some() || self.handed.saturating_sub(self.returned) > 1 {
            POLL
        } else if self.watch.enabled {
            WATCH_POLL
        } else {
            IDLE_WAIT
        }
    }

    /// Follows an automatic rollback on the audio thread: the previous module is running
    /// again, so it is what the next swap plans against, what the state saves, what the
    /// editor shows and what its parameters drive.
    fn notice_rollback(&mut self) {
        let counters = self.shared.fault_counters();
        if counters.rollbacks == self.rollbacks_seen {
            return;
        }
        self.rollbacks_seen = counters.rollbacks;
        let Some((from, to)) = counters.last_rollback else {
            return;
        };
        if self.previous.as_ref().is_none_or(|p| p.generation != to) {
            return;
        }
        let crashed = std::mem::replace(&mut self.running, self.previous.take());
        let Some(restored) = self.running.as_ref() else {
            return;
        };
        // A module restored onto the interpreter moves to compiled code as it would have.
        self.tier_up = (restored.info.tier == Some(Tier::Interpreter)
            && restored.patch.tiering() == Tiering::TierUp)
            .then_some(restored.generation);
        let crashed_name = crashed.map_or_else(String::new, |c| c.patch.display_name());
        let fault = counters
            .last
            .filter(|(g, _)| *g == from)
            .map_or_else(String::new, |(_, f)| format!(" ({f})"));
        let name = restored.patch.display_name();
        let saved = (!restored.builtin).then(|| restored.patch.source().clone());
        let mut slots = self.slots();
        slots.set_saved(saved, None);
        // Under the lock `Controller::set_param` takes: the sliders now drive the restored
        // module, starting from the values it had.
        self.shared
            .params
            .retarget(restored.generation, &restored.values);
        slots.status.current = Some(restored.info.clone());
        slots.status.last_error = Some(format!(
            "\"{crashed_name}\" crashed within {ROLLBACK_SECONDS} s of being loaded{fault}; \
             Wasp went back to \"{name}\""
        ));
    }

    fn running_path(&self) -> Option<PathBuf> {
        self.running
            .as_ref()
            .and_then(|r| r.patch.source().path.clone())
    }

    fn poll_watched_file(&mut self) {
        if !self.watch.enabled {
            return;
        }
        let now = Instant::now();
        if self
            .watch
            .last_poll
            .is_some_and(|t| now.duration_since(t) < WATCH_POLL)
        {
            return;
        }
        self.watch.last_poll = Some(now);
        let Some(path) = self.running_path() else {
            return;
        };
        let Some(stamp) = FileStamp::of(&path) else {
            // Deleted or mid-rename: wait for it to come back.
            return;
        };
        if Some(&stamp) == self.watch.loaded.as_ref() {
            self.watch.pending = None;
            return;
        }
        match &self.watch.pending {
            Some((seen, since)) if *seen == stamp => {
                if now.duration_since(*since) >= WATCH_SETTLE {
                    self.watch.pending = None;
                    self.watch.loaded = Some(stamp);
                    self.load(What::File(path), LoadOptions::default());
                }
            }
            _ => self.watch.pending = Some((stamp, now)),
        }
    }

    fn slots(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn default_patch(&mut self) -> Result<Patch, LoadError> {
        if let Some(patch) = &self.default {
            return Ok(patch.clone());
        }
        let patch = self.runtime.compile_for(
            Source::from_bytes(self.default_source.as_bytes()),
            self.tiering,
        )?;
        self.default = Some(patch.clone());
        Ok(patch)
    }

    /// Reads, checks and compiles what a request names.
    fn compile(&mut self, what: What) -> Result<Patch, LoadError> {
        match what {
            What::Default => self.default_patch(),
            What::Source(source) => self.runtime.compile_for(source, self.tiering),
            What::File(path) => {
                if self.watch.enabled {
                    self.watch.loaded = FileStamp::of(&path);
                }
                let source = Source::from_file(path)?;
                let source = self.keep_plugin_choice(source)?;
                self.runtime.compile_for(source, self.tiering)
            }
        }
    }

    /// The running module's file read again (a reload, a watched save): if it is a WCLAP
    /// bundle playing another plugin than its first, the same choice, written into the new
    /// bytes as the editor's menu wrote it into the old.
    fn keep_plugin_choice(&self, source: Source) -> Result<Source, LoadError> {
        let Some(running) = &self.running else {
            return Ok(source);
        };
        let (_, index) = running.patch.plugins();
        if index == 0 || running.patch.source().path != source.path {
            return Ok(source);
        }
        Ok(Source {
            bytes: super::describe::pick_wclap_plugin(&source.bytes, index)?.into(),
            path: source.path,
        })
    }

    /// Records an error for the editor.
    fn report(&self, e: &LoadError) {
        self.slots().status.last_error = Some(e.to_string());
    }

    /// A module the user chose: on success it plays and becomes the saved module; on failure
    /// nothing changes but the error shown.
    fn load(&mut self, what: What, options: LoadOptions) -> LoadOutcome {
        let started = Instant::now();
        let is_default = matches!(what, What::Default);
        let patch = match self.compile(what) {
            Ok(patch) => patch,
            Err(e) => {
                self.report(&e);
                return LoadOutcome::Failed(e);
            }
        };
        if self.config.is_none() {
            // Nothing can be instantiated before the host's configuration: keep it for then.
            let saved = (!is_default).then(|| patch.source().clone());
            self.slots().set_saved(saved, None);
            self.deferred = Some(Deferred {
                values: self.initial_params(&patch),
                patch,
                builtin: is_default,
            });
            return LoadOutcome::Deferred;
        }
        let preparation = Preparation {
            values: self.initial_params(&patch),
            crossfade: options.crossfade,
            rollback: true,
        };
        let outcome = self.prepare(&patch, is_default, preparation);
        if let LoadOutcome::Prepared(info) = &outcome {
            let saved = (!info.builtin).then(|| patch.source().clone());
            let mut slots = self.slots();
            slots.set_saved(saved, None);
            slots.status.last_prepare_ms = Some(started.elapsed().as_secs_f64() * 1e3);
        }
        outcome
    }

    /// A module from a saved state, with exactly its saved parameter values. The saved module
    /// and values stay what the state saves whatever happens (`Controller::restore` set them);
    /// if the module cannot run, the default module plays and the error stays visible.
    fn restore(&mut self, what: What, params: &[(String, f32)]) -> LoadOutcome {
        let is_default = matches!(what, What::Default);
        let patch = match self.compile(what) {
            Ok(patch) => patch,
            Err(e) => {
                self.report(&e);
                self.fall_back_to_default(&e);
                return LoadOutcome::Failed(e);
            }
        };
        let values = saved_values(&patch, params);
        if self.config.is_none() {
            // The host sees the restored module's parameters before it activates the plugin.
            self.slots()
                .preview(patch.display_name(), patch.metadata().clone(), is_default);
            self.deferred = Some(Deferred {
                patch,
                builtin: is_default,
                values,
            });
            return LoadOutcome::Deferred;
        }
        self.prepare_restored(patch, is_default, values)
    }

    /// Prepares a restored module: a hard switch that the old instance cannot be rolled back
    /// from. On success the bank drives it; on failure the default module plays.
    fn prepare_restored(&mut self, patch: Patch, builtin: bool, values: Vec<f32>) -> LoadOutcome {
        let outcome = self.prepare_or_fall_back(&patch, builtin, values);
        if let LoadOutcome::Prepared(_) = outcome {
            // It plays: its values are in the bank from now on.
            self.slots().saved_params = None;
        }
        outcome
    }

    /// Prepares `patch` with `values` as a hard switch that cannot be rolled back from (a
    /// restore, new audio settings). If a module of the user's fails, it stays the saved one
    /// with these values and the default module plays instead.
    fn prepare_or_fall_back(
        &mut self,
        patch: &Patch,
        builtin: bool,
        values: Vec<f32>,
    ) -> LoadOutcome {
        let preparation = Preparation {
            values: values.clone(),
            crossfade: Crossfade::Never,
            rollback: false,
        };
        let outcome = self.prepare(patch, builtin, preparation);
        if let LoadOutcome::Failed(e) = &outcome {
            if !builtin {
                self.keep_saved_values(patch, &values);
                self.fall_back_to_default(e);
            }
        }
        outcome
    }

    /// Plays the default module after `error`, which stays the error shown. The saved module
    /// is left as it is.
    fn fall_back_to_default(&mut self, error: &LoadError) {
        if self.config.is_none() {
            // Nothing plays yet; the default module is prepared at the first configuration.
            self.deferred = None;
            return;
        }
        let Ok(patch) = self.default_patch() else {
            return;
        };
        let preparation = Preparation {
            values: Vec::new(),
            crossfade: Crossfade::Never,
            rollback: false,
        };
        if let LoadOutcome::Prepared(_) = self.prepare(&patch, true, preparation) {
            self.report(error);
        }
    }

    /// New audio settings from the host. Prepares the module restored before the first
    /// configuration, or the running one again (carrying its state, rings resampled to the new
    /// rate), or the default module. Does nothing if the running instance already has these
    /// settings. An instance prepared for other settings is never rolled back to, and if the
    /// running module fails at the new settings the default module plays instead (the saved
    /// module stays).
    fn configure(&mut self, config: ProcessConfig) -> LoadOutcome {
        self.config = Some(config);
        self.drop_retired();
        self.notice_rollback();
        let unchanged = self.deferred.is_none()
            && self.waiting.is_none()
            && self.running.as_ref().is_some_and(|r| r.config == config);
        if let Some(running) = self.running.as_ref().filter(|_| unchanged) {
            return LoadOutcome::Prepared(running.info.clone());
        }
        if let Some(deferred) = self.deferred.take() {
            return self.prepare_restored(deferred.patch, deferred.builtin, deferred.values);
        }
        let (patch, builtin) = match &self.running {
            Some(running) => (running.patch.clone(), running.builtin),
            None => match self.default_patch() {
                Ok(patch) => (patch, true),
                Err(e) => return LoadOutcome::Failed(e),
            },
        };
        let values = self.initial_params(&patch);
        self.prepare_or_fall_back(&patch, builtin, values)
    }

    /// Plays this instance's modules on `tiering` from now on; with `reload`, the running
    /// module (or one restored before the host's configuration) is compiled for it and takes
    /// over like new audio settings do, its declared state carried.
    fn set_tiering(&mut self, tiering: Tiering, reload: bool) {
        if tiering == self.tiering {
            return;
        }
        self.tiering = tiering;
        self.default = None;
        self.tier_up = None;
        if !reload {
            return;
        }
        if let Some(deferred) = self.deferred.as_mut() {
            match self
                .runtime
                .compile_for(deferred.patch.source().clone(), tiering)
            {
                Ok(patch) => deferred.patch = patch,
                Err(e) => self.report(&e),
            }
            return;
        }
        let Some(running) = self.running.as_ref() else {
            return;
        };
        let (source, builtin) = (running.patch.source().clone(), running.builtin);
        let patch = match self.runtime.compile_for(source, tiering) {
            Ok(patch) => patch,
            Err(e) => {
                self.report(&e);
                return;
            }
        };
        self.reprepare(&patch, builtin);
    }

    /// Makes the plugin state save `values` for `patch`'s parameters, for when the saved
    /// module does not play and the bank no longer holds its values.
    fn keep_saved_values(&self, patch: &Patch, values: &[f32]) {
        let params = patch
            .metadata()
            .params
            .iter()
            .zip(values)
            .map(|(p, v)| (p.id.clone(), *v))
            .collect();
        self.slots().saved_params = Some(params);
    }

    /// Starting values for `patch`'s parameters: the value of the newest module's parameter
    /// with the same id (clamped to the new range), else the default.
    fn initial_params(&self, patch: &Patch) -> Vec<f32> {
        let slots = self.slots();
        self.initial_params_locked(&slots, patch)
    }

    fn initial_params_locked(&self, slots: &Slots, patch: &Patch) -> Vec<f32> {
        if let Some(host) = slots.host() {
            let old = slots.host_module(self.shared.committed());
            let values = old.map(|m| host_values(&*host, m)).unwrap_or_default();
            return patch
                .metadata()
                .params
                .iter()
                .map(|p| {
                    old.and_then(|m| m.metadata.params.iter().position(|q| q.id == p.id))
                        .and_then(|j| values.get(j))
                        .map_or(p.default, |v| p.limit(*v))
                })
                .collect();
        }
        let bank = &self.shared.params;
        let old = slots
            .status
            .current
            .as_ref()
            .filter(|m| m.generation == bank.generation());
        patch
            .metadata()
            .params
            .iter()
            .map(|p| {
                old.and_then(|m| m.metadata.params.iter().position(|q| q.id == p.id))
                    .map_or(p.default, |j| p.limit(bank.value(j)))
            })
            .collect()
    }

    /// The state a new instance of the WCLAP `patch` starts from (see `prepare`).
    fn clap_state_for(&self, patch: &Patch) -> Option<Arc<[u8]>> {
        if let Some(running) = &self.running {
            let same = running.patch.is_wclap()
                && !patch.plugin_id().is_empty()
                && running.patch.plugin_id() == patch.plugin_id();
            if same {
                let fresh = self
                    .shared
                    .ask_clap_state(CLAP_STATE_WAIT)
                    .or_else(|| self.shared.clap.latest());
                if let Some((generation, state)) = fresh {
                    if generation == running.generation {
                        let state: Arc<[u8]> = state.into();
                        self.slots().saved_clap = Some((running.patch.hash(), state.clone()));
                        return Some(state);
                    }
                }
            }
        }
        let slots = self.slots();
        slots
            .saved_clap
            .as_ref()
            .filter(|(hash, _)| *hash == patch.hash())
            .map(|(_, state)| state.clone())
    }

    /// Instantiates `patch` for the current config, plans how to carry the running instance's
    /// state into it, and queues it for the audio thread.
    fn prepare(&mut self, patch: &Patch, builtin: bool, how: Preparation) -> LoadOutcome {
        // Module code runs here (start function, `wasp_init`, first parameter values), also
        // for reloads of a watched file outside any request: keep the epoch advancing.
        let _busy = self.runtime.busy(true);
        let Some(config) = self.config else {
            return LoadOutcome::Deferred;
        };
        // Relaxed: see `Preparer::drop`.
        if self.stopping.load(Ordering::Relaxed) {
            return LoadOutcome::Failed(LoadError::Stopped);
        }
        // Instances the audio thread is done with give their memory back first, and a
        // rollback that happened meanwhile is followed before planning against `running`.
        self.drop_retired();
        self.notice_rollback();
        let mut instance =
            match DspInstance::with_account(&self.runtime, patch, config, self.account.clone()) {
                Ok(instance) => instance,
                Err(e) => {
                    self.report(&e);
                    return LoadOutcome::Failed(e);
                }
            };
        // The module hears every starting value once, right after `wasp_init`, all within the
        // budget of one block.
        let deadline = sandbox::Deadline::after(instance.block_budget(config.max_frames as usize));
        for (index, value) in how.values.iter().enumerate() {
            if let Err(fault) = instance.set_param_until(index, *value, deadline) {
                let e = LoadError::Trap {
                    export: fault.export,
                    message: format!(
                        "{} while receiving parameter {index}",
                        fault.kind.describe()
                    ),
                };
                self.report(&e);
                return LoadOutcome::Failed(e);
            }
        }
        // A WCLAP's own state: the running instance's if it is the same plugin (a new build,
        // new audio settings), else a restored project's. Loaded after the starting values,
        // which the plugin hears at its first block, so the bank's values win.
        if instance.has_clap_state() {
            self.shared.clap.ensure_latest();
            if let Some(state) = self.clap_state_for(patch) {
                if let Err(e) = instance.load_clap_state(&state) {
                    self.report(&e);
                    return LoadOutcome::Failed(e);
                }
            }
        }
        instance.warm_up();
        let ids: Vec<&str> = patch
            .metadata()
            .params
            .iter()
            .map(|p| p.id.as_str())
            .collect();
        let bound = self.slots().slot_map.bind(&ids);
        let mut slot_params = [UNBOUND; MAX_PARAMS];
        for (index, &slot) in bound.iter().enumerate() {
            if let Some(entry) = slot_params.get_mut(slot as usize) {
                *entry = index as u8;
            }
        }
        let mut values = [0.0f32; MAX_PARAMS];
        for (value, v) in values.iter_mut().zip(&how.values) {
            *value = *v;
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        // Latest wins: an instance still waiting for room in the queue never reached the audio
        // thread, so what plays is the one before it.
        if self.waiting.take().is_some() {
            self.shared.count_superseded_in_queue();
            self.running = self.previous.take();
        }
        let (plan, report) = match &self.running {
            Some(running) => migrate::plan(
                &running.state,
                running.generation,
                instance.state(),
                how.crossfade,
                config.sample_rate as f64 / running.config.sample_rate.max(1.0) as f64,
            ),
            // The first instance replaces nothing.
            None => Default::default(),
        };
        // Blocks longer than the driver's largest are processed in pieces of this size.
        let frames = config.max_frames.clamp(1, 1 << 16) as usize;
        let state = instance.state().clone();
        let entry = instance.entry();
        let tier = instance.tier();
        let entry_note = instance.entry_note().map(str::to_owned);
        let prepared = Box::new(Prepared {
            instance,
            generation,
            plan,
            rollback: how.rollback,
            slot_params,
            values,
            scratch: [touched(frames), touched(frames)],
            dry: [touched(frames), touched(frames)],
        });
        match self.incoming.push(prepared) {
            Ok(()) => self.handed += 1,
            Err(rtrb::PushError::Full(prepared)) => self.waiting = Some(prepared),
        }
        let info = ModuleInfo {
            generation,
            name: patch.display_name(),
            metadata: patch.metadata().clone(),
            path: patch.source().path.clone(),
            size: patch.source().bytes.len(),
            hash: patch.hash(),
            builtin,
            slots: bound,
            entry: Some(entry),
            entry_note,
            wclap: patch.is_wclap(),
            log: patch.load_log().trim().to_owned(),
            plugins: patch.plugins().0.to_vec(),
            plugin_index: patch.plugins().1,
            tier: Some(tier),
        };
        let slots = self.slots.clone();
        let mut slots = slots.lock().unwrap_or_else(|e| e.into_inner());
        // Under the lock that `Controller::set_param` takes: keep the replaced module's values
        // for a rollback, point the bank at the new module, then re-mark values the user moved
        // while it was being prepared (a restore sets exactly the saved values).
        if let Some(mut running) = self.running.take() {
            if self.shared.params.generation() == running.generation {
                running.values = (0..running.patch.metadata().params.len())
                    .map(|i| self.shared.params.value(i))
                    .collect();
            }
            self.previous = Some(running);
        }
        let latest = self.initial_params_locked(&slots, patch);
        self.shared.params.retarget(generation, &how.values);
        if how.rollback {
            for (index, (now, sent)) in latest.iter().zip(&how.values).enumerate() {
                if now != sent {
                    self.shared.params.set(index, *now);
                }
            }
        }
        slots.starting = Some((
            generation,
            patch
                .metadata()
                .params
                .iter()
                .zip(&how.values)
                .map(|(p, v)| (p.id.clone(), *v))
                .collect(),
        ));
        self.tier_up =
            (tier == Tier::Interpreter && patch.tiering() == Tiering::TierUp).then_some(generation);
        self.running = Some(Running {
            generation,
            patch: patch.clone(),
            builtin,
            state,
            config,
            info: info.clone(),
            values: how.values,
        });
        slots.status.current = Some(info.clone());
        if slots.infos.len() == REPORTS_KEPT {
            slots.infos.pop_front();
        }
        slots.infos.push_back(info.clone());
        slots.status.last_error = None;
        slots.status.last_swap = Some(report.clone());
        if slots.reports.len() == REPORTS_KEPT {
            slots.reports.pop_front();
        }
        slots
            .reports
            .push_back((generation, patch.display_name(), report));
        LoadOutcome::Prepared(info)
    }
}

/// A restored module's parameter values: the saved value of each parameter id (clamped to its
/// range), else its default. Nothing from the module that played before.
fn saved_values(patch: &Patch, saved: &[(String, f32)]) -> Vec<f32> {
    patch
        .metadata()
        .params
        .iter()
        .map(|p| {
            saved
                .iter()
                .find(|(id, v)| *id == p.id && !v.is_nan())
                .map_or(p.default, |(_, v)| p.limit(*v))
        })
        .collect()
}
