//! The [`Controller`]: the handle the plugin's other threads (editor, host main thread, state
//! restore, tests) use to ask the worker for work and read what it reports. Cheap to clone;
//! nothing here runs module code or blocks on a compile unless a method says so.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender};

use super::backend::Tiering;
use super::error::LoadError;
use super::instance::ProcessConfig;
use super::metadata::Metadata;
use super::migrate::{Crossfade, SwapReport};
use super::patch::Source;
use super::pool::{Pool, Task};
use super::slots::{HostValues, HostValuesRef, SlotMap, UNBOUND};
use super::status::EngineShared;

/// The longest a host's main thread waits for the worker (state restore, activation): past
/// it, the call returns and the module starts playing when it is ready.
pub const MAIN_THREAD_WAIT: Duration = Duration::from_secs(3);

/// How a load request ended.
// Made once per load request, off the audio thread: the size of its largest variant costs
// nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum LoadOutcome {
    /// The module was prepared and queued for the audio thread.
    Prepared(ModuleInfo),
    /// The module could not be loaded; what was running keeps running.
    Failed(LoadError),
    /// A newer request replaced this one before it was prepared.
    Superseded,
    /// A restored module passed its checks and was compiled; it is instantiated once the host
    /// sets the audio configuration (see [`Controller::configure`]).
    Deferred,
}

/// What to load.
#[derive(Debug, Clone)]
pub(crate) enum What {
    /// The built-in default module.
    Default,
    /// Bytes already in memory.
    Source(Source),
    /// A file, read by the worker.
    File(PathBuf),
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

/// Parameter values by parameter id, as a saved state holds them.
pub type SavedParams = Vec<(String, f32)>;

pub(crate) enum Request {
    Load {
        what: What,
        options: LoadOptions,
        reply: Option<Sender<LoadOutcome>>,
    },
    Restore {
        what: What,
        params: SavedParams,
        reply: Option<Sender<LoadOutcome>>,
    },
    Watch(bool),
    SetTiering(Tiering),
    /// Nothing to do: sent to learn whether the worker still runs.
    Ping,
    Configure {
        config: ProcessConfig,
        reply: Option<Sender<LoadOutcome>>,
    },
    Shutdown,
}

/// State shared by the worker and every controller. Only non-audio threads lock it.
#[derive(Default)]
pub(crate) struct Slots {
    /// Which runtime plays this instance's modules, as last set.
    pub(crate) tiering: Tiering,
    /// The module the plugin state should save: `None` is the default module.
    pub(crate) saved: Option<Source>,
    /// A WCLAP's own state (`clap.state`) for the module with this content hash: restored from
    /// a project, or the latest the running instance gave (see `Controller::saved_clap_state`).
    pub(crate) saved_clap: Option<(u64, Arc<[u8]>)>,
    /// The parameter values to save when they cannot be read from the bank because the saved
    /// module is not playing (it failed to load from a restored state): the restored values,
    /// kept as they were. `None`: read them from the bank.
    pub(crate) saved_params: Option<SavedParams>,
    pub(crate) status: LoadStatus,
    /// Recent swap reports by generation, with the module's name, newest last.
    pub(crate) reports: VecDeque<(u64, String, SwapReport)>,
    /// Counts changes of `saved` (see `Controller::saved_revision`).
    pub(crate) saved_revision: u64,
    /// Host parameter slot of each module parameter id.
    pub(crate) slot_map: SlotMap,
    /// The host's parameter values, once the plugin installs them; until then (and in
    /// engine-only use) values live in the bank.
    pub(crate) host: Option<HostValuesRef>,
    /// Recently prepared modules, newest last, so the module of the committed generation can
    /// be found (it may be older than `status.current` for a moment, or after a rollback).
    pub(crate) infos: VecDeque<ModuleInfo>,
    /// The module that will play once the host sets its audio configuration (generation 0),
    /// so the host sees its parameters before that.
    pub(crate) preview: Option<ModuleInfo>,
    /// The newest prepared module's starting values, by id: what a state saved before it
    /// takes over must hold (the host's parameters still hold the playing module's values).
    pub(crate) starting: Option<(u64, SavedParams)>,
}

impl Slots {
    pub(crate) fn host(&self) -> Option<Arc<dyn HostValues>> {
        self.host.as_ref().and_then(|h| h.upgrade())
    }

    /// The module of `generation`, if it is recent.
    fn info(&self, generation: u64) -> Option<&ModuleInfo> {
        self.infos.iter().rev().find(|m| m.generation == generation)
    }

    /// The module whose values the host's parameters hold: the committed one, or the newest
    /// prepared before anything was committed.
    pub(crate) fn host_module(&self, committed: u64) -> Option<&ModuleInfo> {
        self.info(committed)
            .or(self.status.current.as_ref())
            .or(self.preview.as_ref())
    }

    /// Binds a module that cannot be prepared yet to host slots, and shows it to the host.
    pub(crate) fn preview(
        &mut self,
        patch_name: String,
        metadata: Metadata,
        builtin: bool,
    ) -> ModuleInfo {
        let ids: Vec<&str> = metadata.params.iter().map(|p| p.id.as_str()).collect();
        let slots = self.slot_map.bind(&ids);
        let info = ModuleInfo {
            generation: 0,
            name: patch_name,
            metadata,
            path: None,
            size: 0,
            hash: 0,
            builtin,
            slots,
            entry: None,
            entry_note: None,
            wclap: false,
            log: String::new(),
            plugins: Vec::new(),
            plugin_index: 0,
            tier: None,
        };
        self.preview = Some(info.clone());
        info
    }
}

impl Slots {
    /// Sets what the plugin state saves.
    pub(crate) fn set_saved(&mut self, saved: Option<Source>, params: Option<SavedParams>) {
        self.saved = saved;
        self.saved_params = params;
        self.saved_revision += 1;
    }
}

/// How long a thread asking for a WCLAP's own state waits for the audio thread to save it.
pub const CLAP_STATE_WAIT: Duration = Duration::from_millis(200);

/// A handle for non-audio threads (editor, state restore, tests) to request work. Cheap to
/// clone. Requests never block on compilation unless the method says so.
#[derive(Clone)]
pub struct Controller {
    pub(crate) requests: Sender<Request>,
    pub(crate) slots: Arc<Mutex<Slots>>,
    pub(crate) shared: Arc<EngineShared>,
    /// Set when the plugin goes away: a worker finishing a compile then stops instead of
    /// instantiating it.
    pub(crate) stopping: Arc<AtomicBool>,
    /// The worker, as the shared pool schedules it: sending a request wakes it.
    pub(crate) task: Arc<Task>,
    pub(crate) pool: Arc<Pool>,
}

impl Controller {
    /// Queues a request for the worker and wakes it.
    pub(crate) fn send(
        &self,
        request: Request,
    ) -> Result<(), crossbeam_channel::SendError<Request>> {
        self.requests.send(request)?;
        self.pool.wake(&self.task);
        Ok(())
    }

    fn slots(&self) -> MutexGuard<'_, Slots> {
        // A panic while holding the lock leaves plain data behind; keep using it.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send_and_wait(&self, make: impl FnOnce(Sender<LoadOutcome>) -> Request) -> LoadOutcome {
        self.send_and_wait_for(make, None)
    }

    /// Sends a request and waits for its answer, at most `limit` (`None`: until it comes).
    fn send_and_wait_for(
        &self,
        make: impl FnOnce(Sender<LoadOutcome>) -> Request,
        limit: Option<Duration>,
    ) -> LoadOutcome {
        let (tx, rx) = crossbeam_channel::bounded(1);
        if self.send(make(tx)).is_err() {
            return LoadOutcome::Failed(LoadError::Stopped);
        }
        let answer = match limit {
            Some(limit) => rx.recv_timeout(limit).map_err(|e| match e {
                RecvTimeoutError::Timeout => LoadError::Busy {
                    seconds: limit.as_secs() as u32,
                },
                RecvTimeoutError::Disconnected => LoadError::Stopped,
            }),
            None => rx.recv().map_err(|_| LoadError::Stopped),
        };
        answer.unwrap_or_else(LoadOutcome::Failed)
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
        let _ = self.send(Request::Load {
            what,
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
            options,
            reply: Some(tx),
        };
        if let Err(crossbeam_channel::SendError(Request::Load {
            reply: Some(reply), ..
        })) = self.send(request)
        {
            let _ = reply.send(LoadOutcome::Failed(LoadError::Stopped));
        }
        rx
    }

    /// Like [`Controller::load_file`], but waits.
    pub fn load_file_blocking(&self, path: impl Into<PathBuf>) -> LoadOutcome {
        self.send_and_wait(|reply| Request::Load {
            what: What::File(path.into()),
            options: LoadOptions::default(),
            reply: Some(reply),
        })
    }

    /// Follows the running module's file: when it changes on disk it is reloaded (once the
    /// writes settle). A failed rebuild keeps the old sound and reports the error.
    pub fn set_watch(&self, enabled: bool) {
        // Recorded here too, so a state saved right after sees it.
        self.slots().status.watching = enabled;
        let _ = self.send(Request::Watch(enabled));
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
        bank.set(index, p.limit(value));
        true
    }

    /// Makes the host's parameters the home of module parameter values: the worker carries
    /// values across swaps from them and saved states read them (see `slots.rs`). Held weakly.
    pub fn set_host_values(&self, host: std::sync::Weak<dyn HostValues>) {
        self.slots().host = Some(host);
    }

    /// The host parameter slot of each parameter id, as a project saves it.
    pub fn slot_map(&self) -> SlotMap {
        self.slots().slot_map.clone()
    }

    /// Replaces the slot map, for a project being restored: call it before
    /// [`Controller::restore`], so the restored module binds its ids to the saved slots.
    pub fn set_slot_map(&self, map: SlotMap) {
        self.slots().slot_map = map;
    }

    /// Plays this instance's modules on `tiering` from now on (see [`Tiering`]): the running
    /// module is compiled for it and takes over, carrying its declared state. Returns at once.
    pub fn set_tiering(&self, tiering: Tiering) {
        self.slots().tiering = tiering;
        let _ = self.send(Request::SetTiering(tiering));
    }

    /// The runtime setting of this instance, as last set.
    pub fn tiering(&self) -> Tiering {
        self.slots().tiering
    }

    /// Shows `metadata`'s parameters to the host before anything is prepared (the built-in
    /// module of a plugin the host has not activated yet), bound to their slots. Returns the
    /// binding.
    pub fn preview(&self, metadata: Metadata, builtin: bool) -> ModuleInfo {
        let name = metadata.name.clone();
        self.slots().preview(name, metadata, builtin)
    }

    /// The module the audio thread plays now (the newest prepared one until a first commit).
    pub fn committed_module(&self) -> Option<ModuleInfo> {
        let committed = self.shared.committed();
        self.slots().host_module(committed).cloned()
    }

    /// A narrow handle for reading the playing module's parameter bindings (the host's
    /// parameter names and texts come from it), which keeps no worker alive.
    pub fn bindings(&self) -> Bindings {
        Bindings {
            slots: self.slots.clone(),
            shared: self.shared.clone(),
        }
    }

    /// The newest module's parameter values, by index (empty if it declares none).
    pub fn param_values(&self) -> Vec<f32> {
        let slots = self.slots();
        if let (Some(host), Some(m)) = (slots.host(), slots.status.current.as_ref()) {
            return host_values(&*host, m);
        }
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

    /// Restores a saved module (`None`: the default module) with exactly the saved parameter
    /// values (by id; a parameter not in `params` starts at its default), and waits until it
    /// is prepared, at most [`MAIN_THREAD_WAIT`]. Before the host has set an audio
    /// configuration the module is only checked and compiled ([`LoadOutcome::Deferred`]), and
    /// instantiated by [`Controller::configure`].
    ///
    /// The restored module and its values become what the plugin state saves, even if it fails
    /// to load; the default module then runs and the error is reported. A restore is not a live
    /// swap: if the module crashes, Wasp does not go back to what played before.
    pub fn restore(&self, source: Option<Source>, params: SavedParams) -> LoadOutcome {
        self.slots().set_saved(source.clone(), Some(params.clone()));
        self.send_and_wait_for(
            |reply| Request::Restore {
                what: source.map_or(What::Default, What::Source),
                params,
                reply: Some(reply),
            },
            Some(MAIN_THREAD_WAIT),
        )
    }

    /// Prepares the module for new audio settings and waits until it is queued for the audio
    /// thread, at most [`MAIN_THREAD_WAIT`]: the module restored before the first
    /// configuration, else the running module (or the default module). Nothing is done if the
    /// running instance was prepared for exactly these settings.
    pub fn configure(&self, config: ProcessConfig) -> LoadOutcome {
        self.send_and_wait_for(
            |reply| Request::Configure {
                config,
                reply: Some(reply),
            },
            Some(MAIN_THREAD_WAIT),
        )
    }

    /// Plays another of the running WCLAP bundle's plugins (an index into
    /// [`ModuleInfo::plugins`]): the running module's bytes with the choice written into them
    /// (see [`crate::pick_wclap_plugin`]), loaded like any module. Returns at once.
    pub fn pick_wclap_plugin(&self, index: usize) {
        let current = self.status().current.filter(|m| m.wclap).map(|m| m.hash);
        let Some(source) = self.saved().filter(|s| Some(s.hash()) == current) else {
            return;
        };
        match super::describe::pick_wclap_plugin(&source.bytes, index) {
            Ok(bytes) => self.load(Source {
                bytes: bytes.into(),
                path: source.path,
            }),
            Err(e) => self.report_error(e.to_string()),
        }
    }

    /// Like [`Controller::restore`], with the WCLAP's own state (`clap.state`) the project saved
    /// beside it: loaded into the plugin once it is prepared.
    pub fn restore_with_state(
        &self,
        source: Option<Source>,
        params: SavedParams,
        clap_state: Option<Vec<u8>>,
    ) -> LoadOutcome {
        self.slots().saved_clap = match (&source, clap_state) {
            (Some(source), Some(state)) => Some((source.hash(), state.into())),
            _ => None,
        };
        self.restore(source, params)
    }

    /// The saved module's own state, if it is a WCLAP with `clap.state`: asked from the
    /// running instance (the audio thread saves it between two blocks; this waits at most
    /// [`CLAP_STATE_WAIT`], less if no audio runs), else the latest the audio thread saved
    /// unasked, else the last one known (what the project was restored with). Not on the
    /// audio thread.
    pub fn saved_clap_state(&self) -> Option<Vec<u8>> {
        let saved = self.slots().saved.as_ref().map(Source::hash)?;
        if let Some(running) = self.committed_module() {
            if running.wclap && running.hash == saved {
                let fresh = self
                    .shared
                    .ask_clap_state(CLAP_STATE_WAIT)
                    .or_else(|| self.shared.clap.latest())
                    .filter(|(generation, _)| *generation == running.generation);
                if let Some((_, bytes)) = fresh {
                    self.slots().saved_clap = Some((saved, bytes.into()));
                }
            }
        }
        let slots = self.slots();
        slots
            .saved_clap
            .as_ref()
            .filter(|(hash, _)| *hash == saved)
            .map(|(_, state)| state.to_vec())
    }

    /// The module and parameter values the plugin state should save, read together.
    pub fn saved_state(&self) -> (Option<Source>, SavedParams) {
        let slots = self.slots();
        (slots.saved.clone(), self.saved_params_locked(&slots))
    }

    /// The parameter values the plugin state should save, by parameter id.
    pub fn saved_params(&self) -> SavedParams {
        self.saved_params_locked(&self.slots())
    }

    fn saved_params_locked(&self, slots: &Slots) -> SavedParams {
        if let Some(params) = &slots.saved_params {
            return params.clone();
        }
        if let Some(host) = slots.host() {
            let committed = self.shared.committed();
            if let (Some(newest), Some((generation, values))) =
                (slots.status.current.as_ref(), slots.starting.as_ref())
            {
                if newest.generation == *generation && *generation != committed {
                    // Prepared, not playing yet: save what it will start from.
                    return if newest.builtin {
                        Vec::new()
                    } else {
                        values.clone()
                    };
                }
            }
            return match slots.host_module(committed) {
                Some(m) if !m.builtin => m
                    .metadata
                    .params
                    .iter()
                    .zip(host_values(&*host, m))
                    .map(|(p, v)| (p.id.clone(), v))
                    .collect(),
                _ => Vec::new(),
            };
        }
        let bank = &self.shared.params;
        match slots.status.current.as_ref() {
            Some(m) if m.generation == bank.generation() && !m.builtin => m
                .metadata
                .params
                .iter()
                .enumerate()
                .map(|(i, p)| (p.id.clone(), bank.value(i)))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// A number that changes whenever the module the plugin state saves changes, so the plugin
    /// can tell whether what it read from a state is still what should be saved.
    pub fn saved_revision(&self) -> u64 {
        self.slots().saved_revision
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

    /// Whether the worker thread still runs. It outlives its [`Preparer`](super::Preparer) while it finishes a
    /// compile that was under way when the plugin was removed.
    pub fn worker_running(&self) -> bool {
        self.send(Request::Ping).is_ok()
    }
}

/// The plain values of `module`'s parameters as the host's parameters hold them.
pub(crate) fn host_values(host: &dyn HostValues, module: &ModuleInfo) -> Vec<f32> {
    module
        .metadata
        .params
        .iter()
        .zip(&module.slots)
        .map(|(p, &slot)| {
            if slot == UNBOUND {
                p.default
            } else {
                p.denormalize(host.normalized(slot as usize))
            }
        })
        .collect()
}

/// Reads which module parameter each host slot drives, for the host's parameter names and
/// value texts. Main-thread and editor use (it takes the controller's lock).
#[derive(Clone)]
pub struct Bindings {
    slots: Arc<Mutex<Slots>>,
    shared: Arc<EngineShared>,
}

impl Bindings {
    /// The parameter of the playing module bound to `slot`, if any.
    pub fn param(&self, slot: usize) -> Option<crate::engine::ParamSpec> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots
            .host_module(self.shared.committed())
            .and_then(|m| m.param_in_slot(slot).map(|(_, p)| p.clone()))
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
    /// The host parameter slot each of its parameters is bound to, by parameter index.
    pub slots: Vec<u8>,
    /// The entry point its audio goes through; `None` until an instance is prepared.
    pub entry: Option<super::Entry>,
    /// Why its `wasp_process` is not used, if it exports one that is not.
    pub entry_note: Option<String>,
    /// Whether it is a CLAP plugin compiled to WebAssembly (a WCLAP).
    pub wclap: bool,
    /// What it logged and printed when Wasp first ran it (a WCLAP), trimmed.
    pub log: String,
    /// The plugins a WCLAP's factory holds, by name, and which of them plays.
    pub plugins: Vec<String>,
    pub plugin_index: usize,
    /// The runtime that plays it; `None` until an instance is prepared.
    pub tier: Option<super::Tier>,
}

impl ModuleInfo {
    /// The parameter bound to host slot `slot`, with its index.
    pub fn param_in_slot(&self, slot: usize) -> Option<(usize, &super::ParamSpec)> {
        let index = self.slots.iter().position(|&s| s as usize == slot)?;
        self.metadata.params.get(index).map(|p| (index, p))
    }
}

/// The worker's report: what was prepared last and what went wrong. Guarded by a mutex that
/// only non-audio threads take.
#[derive(Debug, Clone, Default)]
pub struct LoadStatus {
    /// The module most recently handed to the audio thread.
    pub current: Option<ModuleInfo>,
    /// The last load error, cleared by the next successful load.
    pub last_error: Option<String>,
    /// The last crash of a running module, as a message.
    pub last_fault: Option<String>,
    /// What the most recent swap did with the declared state.
    pub last_swap: Option<SwapReport>,
    /// Whether the running module's file is watched for changes.
    pub watching: bool,
    /// Milliseconds from the most recent load request to its instance being queued.
    pub last_prepare_ms: Option<f64>,
}
