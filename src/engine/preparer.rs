//! The worker thread that prepares engines, and the `Controller` handle other threads use to
//! ask it for work.
//!
//! Every slow step happens here: reading, validating, compiling, instantiating, running
//! `wasp_init`. The result is a fully prepared [`DspInstance`] pushed to the audio thread's
//! queue. The worker also drops the instances the audio thread hands back, so no instance is
//! ever freed on the audio thread.
//!
//! Requests are handled newest-first: when several loads are waiting, only the newest runs and
//! the others are answered [`LoadOutcome::Superseded`].

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::audio::{AudioEngine, Prepared, ROLLBACK_SECONDS};
use super::error::LoadError;
use super::instance::{DspInstance, ProcessConfig};
use super::migrate::{self, StateLayout, SwapReport};
use super::patch::{Patch, Source};
use super::runtime::Runtime;
use super::status::{EngineShared, LoadStatus, ModuleInfo};

/// Capacity of the queue of prepared instances. Latest-wins means more than a few in flight is
/// never useful.
const INCOMING_CAPACITY: usize = 4;
/// Capacity of the queue of replaced instances; larger than `INCOMING_CAPACITY` so the audio
/// thread can always hand back every instance it may commit in one block.
const RETIRED_CAPACITY: usize = 8;
/// How often the idle worker wakes to drop retired instances and retry a full queue.
const POLL: Duration = Duration::from_millis(5);
/// How long blocking calls wait for the worker before giving up.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a watched file is checked for changes.
const WATCH_POLL: Duration = Duration::from_millis(100);
/// How long a changed file must stay unchanged before it is reloaded, so an editor's burst of
/// writes during one save becomes one reload.
const WATCH_SETTLE: Duration = Duration::from_millis(250);
/// How many swap reports are kept for lookup by generation.
const REPORTS_KEPT: usize = 32;

/// The source of the built-in default module: a transparent stereo pass-through.
pub const DEFAULT_MODULE: &str = include_str!("default.wat");

/// How a load request ended.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadOutcome {
    /// The module was prepared and queued for the audio thread.
    Prepared(ModuleInfo),
    /// The module could not be loaded; what was running keeps running.
    Failed(LoadError),
    /// A newer request replaced this one before it was prepared.
    Superseded,
}

/// Why a request is being made; decides what is kept when it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// The user chose a module: on failure the running module and the saved module stay.
    User,
    /// The host restored a state: the state's module becomes the saved module whatever happens
    /// (so re-saving the project never loses it), and on failure the default module runs.
    Restore,
}

/// What to load.
#[derive(Debug, Clone)]
enum What {
    /// The built-in default module.
    Default,
    /// Bytes already in memory.
    Source(Source),
    /// A file, read by the worker.
    File(PathBuf),
}

/// When a swap crossfades between the running module and the new one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Crossfade {
    /// Carry declared state; crossfade only when none can be carried (the default for loads
    /// the user asks for).
    #[default]
    Auto,
    /// Always crossfade, starting the new module fresh.
    Always,
    /// Switch at the block boundary, carrying what can be carried. Used for state restores and
    /// sample-rate changes, so that rendering a project is deterministic.
    Never,
}

/// Options for a load request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    pub crossfade: Crossfade,
}

impl LoadOptions {
    /// Hard switch at the block boundary: no crossfade.
    pub const HARD: Self = Self {
        crossfade: Crossfade::Never,
    };
}

enum Request {
    Load {
        what: What,
        origin: Origin,
        options: LoadOptions,
        reply: Option<Sender<LoadOutcome>>,
    },
    Watch(bool),
    Configure {
        config: ProcessConfig,
        reply: Option<Sender<LoadOutcome>>,
    },
    Shutdown,
}

/// State shared by the worker and every controller. Only non-audio threads lock it.
#[derive(Default)]
struct Slots {
    /// The module the plugin state should save: `None` is the default module.
    saved: Option<Source>,
    status: LoadStatus,
    /// Recent swap reports by generation, with the module's name, newest last.
    reports: VecDeque<(u64, String, SwapReport)>,
}

/// A handle for non-audio threads (editor, state restore, tests) to request work. Cheap to
/// clone. Requests never block on compilation unless the method says so.
#[derive(Clone)]
pub struct Controller {
    requests: Sender<Request>,
    slots: Arc<Mutex<Slots>>,
    shared: Arc<EngineShared>,
}

/// Owns the worker thread; dropping it stops and joins the thread.
pub struct Preparer {
    controller: Controller,
    thread: Option<JoinHandle<()>>,
}

impl Preparer {
    /// Starts the worker. Returns the worker's owner and the audio thread's engine, which
    /// starts empty: call [`Controller::configure`] to prepare the first instance.
    pub fn spawn(runtime: Runtime) -> std::io::Result<(Preparer, AudioEngine)> {
        let (incoming_tx, incoming_rx) = rtrb::RingBuffer::new(INCOMING_CAPACITY);
        let (retired_tx, retired_rx) = rtrb::RingBuffer::new(RETIRED_CAPACITY);
        let (requests, requests_rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(EngineShared::default());
        let slots = Arc::new(Mutex::new(Slots::default()));
        let worker = Worker {
            runtime,
            requests: requests_rx,
            incoming: incoming_tx,
            retired: retired_rx,
            waiting: None,
            slots: slots.clone(),
            shared: shared.clone(),
            config: ProcessConfig::default(),
            running: None,
            previous: None,
            rollbacks_seen: 0,
            default: None,
            next_generation: 1,
            watch: Watch::default(),
        };
        let thread = std::thread::Builder::new()
            .name("wasp-preparer".into())
            .spawn(move || worker.run())?;
        let controller = Controller {
            requests,
            slots,
            shared: shared.clone(),
        };
        let audio = AudioEngine::new(incoming_rx, retired_tx, shared);
        Ok((
            Preparer {
                controller,
                thread: Some(thread),
            },
            audio,
        ))
    }

    /// A handle to send requests to this worker.
    pub fn controller(&self) -> &Controller {
        &self.controller
    }
}

impl Drop for Preparer {
    fn drop(&mut self) {
        let _ = self.controller.requests.send(Request::Shutdown);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Controller {
    fn slots(&self) -> MutexGuard<'_, Slots> {
        // A panic while holding the lock leaves plain data behind; keep using it.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send_and_wait(&self, make: impl FnOnce(Sender<LoadOutcome>) -> Request) -> LoadOutcome {
        let (tx, rx) = crossbeam_channel::bounded(1);
        if self.requests.send(make(tx)).is_err() {
            return LoadOutcome::Failed(LoadError::Instantiate(
                "the Wasp worker has stopped".into(),
            ));
        }
        rx.recv_timeout(REPLY_TIMEOUT).unwrap_or_else(|_| {
            LoadOutcome::Failed(LoadError::Instantiate(
                "the Wasp worker did not answer in time".into(),
            ))
        })
    }

    /// Asks the worker to load a module chosen by the user, without waiting. On success it is
    /// committed at the next block and becomes the saved module; on failure nothing changes
    /// except [`LoadStatus::last_error`].
    pub fn load(&self, source: Source) {
        self.request(What::Source(source), LoadOptions::default());
    }

    /// Like [`Controller::load`] for a file, which the worker reads.
    pub fn load_file(&self, path: impl Into<PathBuf>) {
        self.request(What::File(path.into()), LoadOptions::default());
    }

    /// Like [`Controller::load`] with options.
    pub fn load_with(&self, source: Source, options: LoadOptions) {
        self.request(What::Source(source), options);
    }

    fn request(&self, what: What, options: LoadOptions) {
        let _ = self.requests.send(Request::Load {
            what,
            origin: Origin::User,
            options,
            reply: None,
        });
    }

    /// Like [`Controller::load`], but waits until the module is prepared (or fails, or is
    /// superseded by a newer request).
    pub fn load_blocking(&self, source: Source) -> LoadOutcome {
        self.load_blocking_with(source, LoadOptions::default())
    }

    /// Like [`Controller::load_with`], but waits.
    pub fn load_blocking_with(&self, source: Source, options: LoadOptions) -> LoadOutcome {
        self.send_and_wait(|reply| Request::Load {
            what: What::Source(source),
            origin: Origin::User,
            options,
            reply: Some(reply),
        })
    }

    /// Like [`Controller::load_with`], returning a receiver that gets the outcome once the
    /// worker has handled the request. For callers that fire many requests and check later.
    pub fn load_tracked(
        &self,
        source: Source,
        options: LoadOptions,
    ) -> crossbeam_channel::Receiver<LoadOutcome> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let request = Request::Load {
            what: What::Source(source),
            origin: Origin::User,
            options,
            reply: Some(tx),
        };
        if let Err(crossbeam_channel::SendError(Request::Load {
            reply: Some(reply), ..
        })) = self.requests.send(request)
        {
            let _ = reply.send(LoadOutcome::Failed(LoadError::Instantiate(
                "the Wasp worker has stopped".into(),
            )));
        }
        rx
    }

    /// Like [`Controller::load_file`], but waits.
    pub fn load_file_blocking(&self, path: impl Into<PathBuf>) -> LoadOutcome {
        self.send_and_wait(|reply| Request::Load {
            what: What::File(path.into()),
            origin: Origin::User,
            options: LoadOptions::default(),
            reply: Some(reply),
        })
    }

    /// Follows the running module's file: when it changes on disk it is reloaded (once the
    /// writes settle). A failed rebuild keeps the old sound and reports the error.
    pub fn set_watch(&self, enabled: bool) {
        let _ = self.requests.send(Request::Watch(enabled));
    }

    /// Sets parameter `index` of the newest module to the plain `value`, clamped to its range.
    /// The audio thread passes it to the module's `wasp_set_param` at the next block boundary;
    /// a module prepared later starts from it (matched by parameter id). Returns false if the
    /// newest module has no such parameter or `value` is not a number.
    pub fn set_param(&self, index: usize, value: f32) -> bool {
        let slots = self.slots();
        let bank = &self.shared.params;
        let Some(module) = slots.status.current.as_ref() else {
            return false;
        };
        let Some(p) = module.metadata.params.get(index) else {
            return false;
        };
        if module.generation != bank.generation() || value.is_nan() {
            return false;
        }
        bank.set(index, value.clamp(p.min, p.max));
        true
    }

    /// The newest module's parameter values, by index (empty if it declares none).
    pub fn param_values(&self) -> Vec<f32> {
        let slots = self.slots();
        let bank = &self.shared.params;
        match slots.status.current.as_ref() {
            Some(m) if m.generation == bank.generation() => (0..m.metadata.params.len())
                .map(|i| bank.value(i))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The report of the swap that committed `generation`, if it is recent.
    pub fn swap_report(&self, generation: u64) -> Option<SwapReport> {
        let slots = self.slots();
        slots
            .reports
            .iter()
            .find(|(g, ..)| *g == generation)
            .map(|(.., r)| r.clone())
    }

    /// Restores a saved module (`None`: the default module) and waits until it is prepared, so
    /// the next processed block already uses it. The restored module becomes the saved module
    /// even if it fails to load; the default module then runs and the error is reported.
    pub fn restore(&self, source: Option<Source>) -> LoadOutcome {
        self.slots().saved = source.clone();
        self.send_and_wait(|reply| Request::Load {
            what: source.map_or(What::Default, What::Source),
            origin: Origin::Restore,
            options: LoadOptions::HARD,
            reply: Some(reply),
        })
    }

    /// Prepares the running module (or the default module) again for new audio settings, and
    /// waits until it is queued for the audio thread.
    pub fn configure(&self, config: ProcessConfig) -> LoadOutcome {
        self.send_and_wait(|reply| Request::Configure {
            config,
            reply: Some(reply),
        })
    }

    /// Records an error found outside the worker (such as a damaged saved state) so it is shown
    /// like a load error.
    pub fn report_error(&self, message: String) {
        self.slots().status.last_error = Some(message);
    }

    /// The module the plugin state should save (`None`: the default module).
    pub fn saved(&self) -> Option<Source> {
        self.slots().saved.clone()
    }

    /// The worker's latest report.
    pub fn status(&self) -> LoadStatus {
        let counters = self.shared.fault_counters();
        let slots = self.slots();
        let mut status = slots.status.clone();
        status.last_fault = counters.last.map(|(generation, fault)| {
            let name = slots
                .reports
                .iter()
                .find(|(g, ..)| *g == generation)
                .map_or("the module", |(_, name, _)| name.as_str());
            format!("\"{name}\": {fault}")
        });
        status
    }

    /// Lock-free counters published by the audio thread.
    pub fn shared(&self) -> &Arc<EngineShared> {
        &self.shared
    }
}

/// The file behind the running module, as last seen on disk.
#[derive(Debug, Clone, PartialEq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
}

impl FileStamp {
    fn of(path: &std::path::Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        Some(Self {
            modified: meta.modified().ok(),
            len: meta.len(),
        })
    }
}

/// File-watching state of the worker.
#[derive(Default)]
struct Watch {
    enabled: bool,
    /// The stamp of the file when it was last loaded (or last failed to load).
    loaded: Option<FileStamp>,
    /// A change seen but not yet settled: the newest stamp and when it was first seen.
    pending: Option<(FileStamp, Instant)>,
    last_poll: Option<Instant>,
}

/// The running instance as the worker knows it: what the next swap is planned against.
struct Running {
    generation: u64,
    patch: Patch,
    builtin: bool,
    state: StateLayout,
}

/// The worker thread's state.
struct Worker {
    runtime: Runtime,
    requests: Receiver<Request>,
    incoming: rtrb::Producer<Box<Prepared>>,
    retired: rtrb::Consumer<Box<Prepared>>,
    /// A prepared instance that did not fit in `incoming` yet.
    waiting: Option<Box<Prepared>>,
    slots: Arc<Mutex<Slots>>,
    shared: Arc<EngineShared>,
    config: ProcessConfig,
    /// The instance most recently handed to the audio thread.
    running: Option<Running>,
    /// The one before it: what the audio thread returns to when it rolls back.
    previous: Option<Running>,
    /// Rollbacks already accounted for.
    rollbacks_seen: u64,
    /// The compiled default module, compiled on first use.
    default: Option<Patch>,
    next_generation: u64,
    watch: Watch,
}

impl Worker {
    fn run(mut self) {
        loop {
            self.housekeeping();
            let first = match self.requests.recv_timeout(POLL) {
                Ok(request) => request,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            // Gather everything queued so the newest load wins.
            let mut batch = vec![first];
            batch.extend(self.requests.try_iter());
            if batch.iter().any(|r| matches!(r, Request::Shutdown)) {
                return;
            }
            let newest_load = batch
                .iter()
                .rposition(|r| matches!(r, Request::Load { .. }));
            for (i, request) in batch.into_iter().enumerate() {
                match request {
                    Request::Load { reply, .. } if Some(i) != newest_load => {
                        if let Some(reply) = reply {
                            let _ = reply.send(LoadOutcome::Superseded);
                        }
                    }
                    Request::Load {
                        what,
                        origin,
                        options,
                        reply,
                    } => {
                        let outcome = self.load(what, origin, options);
                        if let Some(reply) = reply {
                            let _ = reply.send(outcome);
                        }
                    }
                    Request::Configure { config, reply } => {
                        self.config = config;
                        let outcome = match &self.running {
                            Some(running) => {
                                let (patch, builtin) = (running.patch.clone(), running.builtin);
                                self.prepare(&patch, builtin, LoadOptions::HARD)
                            }
                            None => self.load(What::Default, Origin::User, LoadOptions::HARD),
                        };
                        if let Some(reply) = reply {
                            let _ = reply.send(outcome);
                        }
                    }
                    Request::Watch(enabled) => {
                        self.watch.enabled = enabled;
                        self.watch.pending = None;
                        self.watch.loaded = self.running_path().and_then(|p| FileStamp::of(&p));
                        self.slots().status.watching = enabled;
                    }
                    Request::Shutdown => return,
                }
            }
        }
    }

    /// Drops instances the audio thread handed back, retries a delivery that found the queue
    /// full, and checks a watched file.
    fn housekeeping(&mut self) {
        while let Ok(old) = self.retired.pop() {
            drop(old);
        }
        if let Some(waiting) = self.waiting.take() {
            if let Err(rtrb::PushError::Full(waiting)) = self.incoming.push(waiting) {
                self.waiting = Some(waiting);
            }
        }
        self.poll_watched_file();
        self.notice_rollback();
    }

    /// Follows an automatic rollback on the audio thread: the previous module is running
    /// again, so it is what the next swap plans against and what the state saves.
    fn notice_rollback(&mut self) {
        let counters = self.shared.fault_counters();
        if counters.rollbacks == self.rollbacks_seen {
            return;
        }
        self.rollbacks_seen = counters.rollbacks;
        let Some((from, to)) = counters.last_rollback else {
            return;
        };
        if self.previous.as_ref().is_some_and(|p| p.generation == to) {
            let crashed = std::mem::replace(&mut self.running, self.previous.take());
            let restored = self.running.as_ref().map(|r| {
                (
                    r.patch.display_name(),
                    (!r.builtin).then(|| r.patch.source().clone()),
                )
            });
            let crashed_name = crashed.map_or_else(String::new, |c| c.patch.display_name());
            let fault = counters
                .last
                .filter(|(g, _)| *g == from)
                .map_or_else(String::new, |(_, f)| format!(" ({f})"));
            let mut slots = self.slots();
            if let Some((name, saved)) = restored {
                slots.saved = saved;
                slots.status.last_error = Some(format!(
                    "\"{crashed_name}\" crashed within {ROLLBACK_SECONDS} s of being loaded{fault}; \
                     Wasp went back to \"{name}\""
                ));
            }
        }
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
                    self.load(What::File(path), Origin::User, LoadOptions::default());
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
        let patch = self
            .runtime
            .compile(Source::from_bytes(DEFAULT_MODULE.as_bytes()))?;
        self.default = Some(patch.clone());
        Ok(patch)
    }

    fn load(&mut self, what: What, origin: Origin, options: LoadOptions) -> LoadOutcome {
        let started = Instant::now();
        let is_default = matches!(what, What::Default);
        let compiled = match what {
            What::Default => self.default_patch(),
            What::Source(source) => self.runtime.compile(source),
            What::File(path) => {
                if self.watch.enabled {
                    self.watch.loaded = FileStamp::of(&path);
                }
                Source::from_file(path).and_then(|source| self.runtime.compile(source))
            }
        };
        let outcome = match compiled {
            Ok(patch) => self.prepare(&patch, is_default, options),
            Err(e) => {
                self.slots().status.last_error = Some(e.to_string());
                LoadOutcome::Failed(e)
            }
        };
        match (&outcome, origin) {
            (LoadOutcome::Prepared(info), Origin::User) => {
                let saved = if info.builtin {
                    None
                } else {
                    self.running.as_ref().map(|r| r.patch.source().clone())
                };
                let mut slots = self.slots();
                slots.saved = saved;
                slots.status.last_prepare_ms = Some(started.elapsed().as_secs_f64() * 1e3);
            }
            (LoadOutcome::Failed(_), Origin::Restore) if !is_default => {
                // The state's module is broken: run the default, keep the error visible.
                let error = self.slots().status.last_error.clone();
                let fallback = self.load(What::Default, Origin::Restore, LoadOptions::HARD);
                if let LoadOutcome::Prepared(_) = fallback {
                    self.slots().status.last_error = error;
                }
            }
            _ => {}
        }
        outcome
    }

    /// Starting values for `patch`'s parameters: the value of the newest module's parameter
    /// with the same id (clamped to the new range), else the default.
    fn initial_params(&self, patch: &Patch) -> Vec<f32> {
        let slots = self.slots();
        self.initial_params_locked(&slots, patch)
    }

    fn initial_params_locked(&self, slots: &Slots, patch: &Patch) -> Vec<f32> {
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
                    .map_or(p.default, |j| bank.value(j).clamp(p.min, p.max))
            })
            .collect()
    }

    /// Instantiates `patch` for the current config, plans how to carry the running instance's
    /// state into it, and queues it for the audio thread.
    fn prepare(&mut self, patch: &Patch, builtin: bool, options: LoadOptions) -> LoadOutcome {
        let mut instance = match DspInstance::new(&self.runtime, patch, self.config) {
            Ok(instance) => instance,
            Err(e) => {
                self.slots().status.last_error = Some(e.to_string());
                return LoadOutcome::Failed(e);
            }
        };
        // Parameters start where the previous module's parameter of the same id stood, else
        // at their default; the module hears every value once, right after `wasp_init`.
        let params = self.initial_params(patch);
        for (index, value) in params.iter().enumerate() {
            if let Err(fault) = instance.set_param(index, *value) {
                let e = LoadError::Trap {
                    export: fault.export,
                    message: format!(
                        "{} while receiving parameter {index}",
                        fault.kind.describe()
                    ),
                };
                self.slots().status.last_error = Some(e.to_string());
                return LoadOutcome::Failed(e);
            }
        }
        instance.warm_up();
        let generation = self.next_generation;
        self.next_generation += 1;
        let (plan, report) = match &self.running {
            Some(running) => migrate::plan(
                &running.state,
                running.generation,
                instance.state(),
                options.crossfade,
            ),
            // The first instance replaces nothing.
            None => Default::default(),
        };
        let frames = self.config.max_frames as usize;
        let state = instance.state().clone();
        let prepared = Box::new(Prepared {
            instance,
            generation,
            plan,
            scratch: [vec![0.0; frames], vec![0.0; frames]],
            dry: [vec![0.0; frames], vec![0.0; frames]],
        });
        // Latest wins: an older instance still waiting for room is superseded.
        if self.waiting.take().is_some() {
            self.shared.count_superseded_in_queue();
        }
        if let Err(rtrb::PushError::Full(prepared)) = self.incoming.push(prepared) {
            self.waiting = Some(prepared);
        }
        self.previous = self.running.take();
        self.running = Some(Running {
            generation,
            patch: patch.clone(),
            builtin,
            state,
        });
        let info = ModuleInfo {
            generation,
            name: patch.display_name(),
            metadata: patch.metadata().clone(),
            path: patch.source().path.clone(),
            size: patch.source().bytes.len(),
            hash: patch.hash(),
            builtin,
        };
        let mut slots = self.slots();
        // Under the lock that `Controller::set_param` takes: point the bank at the new
        // module, then re-mark values the user moved while it was being prepared.
        let latest = self.initial_params_locked(&slots, patch);
        self.shared.params.retarget(generation, &params);
        for (index, (now, sent)) in latest.iter().zip(&params).enumerate() {
            if now != sent {
                self.shared.params.set(index, *now);
            }
        }
        slots.status.current = Some(info.clone());
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
