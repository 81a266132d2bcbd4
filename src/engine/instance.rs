//! `DspInstance`: one instantiated module plus its block driver, in a store of their own, ready
//! to process audio.
//!
//! Created on a worker thread (instantiation allocates and runs module code), then moved to the
//! audio thread, where only [`DspInstance::process`] and [`DspInstance::reset`] are called.

use super::events::{ModuleEvent, Transport, TRANSPORT_BYTES};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Global, Instance, Memory, Store, TypedFunc};

use super::contract::{names, DspShape};
use super::driver;
use super::error::{Fault, LoadError, TrapKind};
use super::migrate::{self, Plan, StateLayout};
use super::patch::{Patch, Watchdog};
use super::runtime::Runtime;
use super::sandbox::{self, Deadline, HostState, Limits, MemoryAccount, LOAD_BUDGET};
use super::stop::{self, Stop};

/// The host's audio settings a module is prepared for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessConfig {
    /// Sample rate in Hz, passed to `wasp_init`.
    pub sample_rate: f32,
    /// Largest block the host will ask for, passed to `wasp_init`.
    pub max_frames: u32,
}

impl Default for ProcessConfig {
    fn default() -> Self {
        Self {
            sample_rate: 48_000.0,
            max_frames: 1024,
        }
    }
}

/// How a block reaches the module.
enum Run {
    /// The driver's `run(frames, cap)` for the mono and multi-value stereo shapes (see
    /// `driver.rs`).
    Plain(TypedFunc<(i32, i32), ()>),
    /// The driver's `run(frames, cap, frame_addr)` for the frame-buffer stereo shape.
    Frame(TypedFunc<(i32, i32, i32), ()>, i32),
    /// The module's own `wasp_process(frames)`.
    Block(TypedFunc<i32, ()>),
}

/// Which entry point processes a module's audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// `dsp`, once per frame, from Wasp's block driver.
    PerSample,
    /// `wasp_process`, once per block (or per `wasp_block` frames).
    Block,
}

impl Entry {
    /// How the editor names it.
    pub fn label(self) -> &'static str {
        match self {
            Entry::PerSample => "per sample (dsp)",
            Entry::Block => "block (wasp_process)",
        }
    }
}

/// Where a block's samples go in and come out: four planar `f32` buffers in one memory (the
/// driver's I/O memory, or the module's own for `wasp_process`), as byte offsets. Checked when
/// the instance is made; a memory never shrinks, so they stay in bounds.
#[derive(Clone, Copy)]
struct Io {
    memory: Memory,
    in_l: usize,
    in_r: usize,
    out_l: usize,
    out_r: usize,
    /// Frames per buffer; longer blocks are processed in pieces.
    cap: usize,
}

/// An instantiated, initialised module. Owns its wasmtime store, so it can move between threads
/// but is used by one at a time.
pub struct DspInstance {
    /// The stop word of a module with stop checks, registered with the ticker. Declared before
    /// `store`, which owns its memory, so it is unregistered first.
    stop: Option<Stop>,
    store: Store<HostState>,
    run: Run,
    io: Io,
    /// The driver's frame global: index of the frame being processed, read after a trap. None
    /// for `wasp_process`, where a trap is reported at the piece's first frame.
    frame: Option<Global>,
    shape: DspShape,
    /// Whether calls run under epoch deadlines (the runtime's ticker is running).
    epochs: bool,
    /// Why the module's `wasp_process` is not used, if it has one that is not.
    entry_note: Option<String>,
    /// How far the epoch lags the clock, added to every deadline (see `arm`); `None` without
    /// a ticker.
    credit: Option<Arc<sandbox::Credit>>,
    /// A block's time budget: multiple of its duration, and floor.
    budget: (f32, std::time::Duration),
    reset: Option<TypedFunc<(), ()>>,
    set_param: Option<TypedFunc<(i32, f32), ()>>,
    note_on: Option<TypedFunc<(i32, f32), ()>>,
    note_off: Option<TypedFunc<(i32, f32), ()>>,
    midi: Option<TypedFunc<(i32, i32, i32), ()>>,
    /// The module's memory and the byte address of its transport block, if it asks for one.
    transport: Option<(Memory, usize)>,
    patch: Patch,
    config: ProcessConfig,
    /// The declared state, resolved for this instance; what a swap carries.
    state: StateLayout,
    /// Every memory the module exports, to touch before the audio thread writes to it.
    memories: Vec<Memory>,
    /// The instance, for what loading reads from it after `wasp_init` (see `describe.rs`).
    instance: Instance,
    /// A WCLAP's own state (`clap.state`): save and load, the state block's address, and the
    /// memory it is in. `None` for other modules and plugins without the extension.
    clap_state: Option<ClapState>,
    /// Set when a WCLAP with its own state receives events (see `clap_dirty`).
    clap_dirty: bool,
    /// Set on the first trap; a faulted instance outputs silence until it is replaced, because
    /// its memory may be in any state after the trap.
    fault: Option<Fault>,
    /// Whether the audio engine has already published `fault`.
    fault_reported: bool,
    /// The error wasmtime returned for the trap. Kept, not dropped, so it is freed with the
    /// instance on the worker thread rather than on the audio thread.
    trap_error: Option<wasmtime::Error>,
}

/// What saving and loading a WCLAP's own state goes through (see `wclap.rs`).
struct ClapState {
    save: TypedFunc<(), i32>,
    load: TypedFunc<i32, i32>,
    block: usize,
    memory: Memory,
}

/// How a call into a module ended, if it trapped: a timeout if epochs interrupted it, or if
/// the stop check trapped (`unreachable`) with its flag raised; any other trap is the module's
/// own, even if the ticker raised the flag just after it. `None` for an error that is no trap.
/// Realtime-safe.
fn trap_kind(error: &wasmtime::Error, stop: Option<&Stop>) -> Option<TrapKind> {
    let trap = *error.downcast_ref::<wasmtime::Trap>()?;
    let checked = matches!(trap, wasmtime::Trap::UnreachableCodeReached);
    Some(if checked && stop.is_some_and(Stop::stopped) {
        TrapKind::Timeout
    } else {
        TrapKind::from_trap(trap)
    })
}

/// A WCLAP's state functions and block, if the plugin has `clap.state` and its block fits in
/// its memory.
fn clap_state(user: &Instance, store: &mut Store<HostState>) -> Option<ClapState> {
    use super::wclap::{names, STATE_CAP};
    let block = user
        .get_global(&mut *store, names::STATE)?
        .get(&mut *store)
        .i32()? as u32;
    let memory = user.get_memory(&mut *store, "memory")?;
    let block = block as usize;
    if block == 0 || block.saturating_add(STATE_CAP as usize) > memory.data_size(&*store) {
        return None;
    }
    Some(ClapState {
        save: user.get_typed_func(&mut *store, names::SAVE).ok()?,
        load: user.get_typed_func(&mut *store, names::LOAD).ok()?,
        block,
        memory,
    })
}

/// Turns an error from running module code while loading into a `LoadError` naming `export`.
fn load_trap(export: &'static str, e: wasmtime::Error, stop: Option<&Stop>) -> LoadError {
    match trap_kind(&e, stop) {
        Some(TrapKind::Timeout) => LoadError::Timeout {
            export,
            seconds: LOAD_BUDGET.as_secs() as u32,
        },
        Some(_) => LoadError::Trap {
            export,
            message: format!("{e:#}"),
        },
        None => LoadError::Instantiate(format!("{e:#}")),
    }
}

impl DspInstance {
    /// Instantiates `patch` and its driver, and runs the module's `wasp_init`. Allocates and
    /// runs module code: worker threads only. Its memory counts against an account of its own;
    /// a plugin's instances share one (see [`DspInstance::with_account`]).
    pub fn new(runtime: &Runtime, patch: &Patch, config: ProcessConfig) -> Result<Self, LoadError> {
        Self::with_account(runtime, patch, config, Arc::default())
    }

    /// Like [`DspInstance::new`], drawing linear memory from `account`, which every instance of
    /// one plugin shares (see `sandbox.rs`).
    pub fn with_account(
        runtime: &Runtime,
        patch: &Patch,
        config: ProcessConfig,
        account: Arc<MemoryAccount>,
    ) -> Result<Self, LoadError> {
        let initial = patch.0.initial_memory;
        if account.used().saturating_add(initial) > sandbox::PLUGIN_MEMORY_CAP {
            return Err(LoadError::Limit(format!(
                "the module needs {:.1} MiB of memory, but this Wasp already holds {:.1} MiB \
                 (the playing module and the one before it, kept for a second in case the new \
                 one crashes); its limit is {} MiB. Try again in a moment",
                initial as f64 / (1u64 << 20) as f64,
                account.used() as f64 / (1u64 << 20) as f64,
                sandbox::PLUGIN_MEMORY_CAP >> 20
            )));
        }
        let mut store = Store::new(
            runtime.engine_for(patch).0,
            HostState::new(Limits::new(account)),
        );
        store.limiter(|state| &mut state.limits);
        let epochs = patch.watchdog() == Watchdog::Epochs;
        let stops = patch.watchdog() == Watchdog::StopChecks;
        store.data_mut().limits.stop_page = stops;
        let credit = runtime.credit();
        // Loading calls get the load budget, plus the epoch's lag (see `arm`).
        let arm_load = |store: &mut Store<HostState>, stop: Option<&Stop>| {
            if epochs {
                let ticks = sandbox::with_lag(sandbox::ticks(LOAD_BUDGET), credit.as_deref());
                store.set_epoch_deadline(ticks);
            }
            if let Some(stop) = stop {
                stop.arm(Deadline::after(LOAD_BUDGET).instant());
            }
        };
        arm_load(&mut store, None);
        let user = runtime
            .engine_for(patch)
            .1
            .instantiate(&mut store, &patch.0.module)
            .map_err(|e| load_trap("start function", e, None))?;
        // For host functions that read or write the module's memory (the WASI stubs).
        store.data_mut().memory = user.get_memory(&mut store, names::MEMORY);
        let stop = match (stops, runtime.watches()) {
            (true, Some(watches)) => {
                let memory = user
                    .get_memory(&mut store, stop::MEMORY)
                    .ok_or_else(|| LoadError::Compile("the module lost its stop memory".into()))?;
                // SAFETY: the stop memory is one page that never grows or moves, owned by
                // `store`, which the instance drops after `stop` (field order).
                Some(unsafe { Stop::register(memory.data_ptr(&store), watches) })
            }
            _ => None,
        };
        if let Some(start) = user.get_func(&mut store, stop::START) {
            // The module's start function, which the stop checks moved here (see `stop.rs`).
            arm_load(&mut store, stop.as_ref());
            start
                .typed::<(), ()>(&store)
                .and_then(|start| start.call(&mut store, ()))
                .map_err(|e| load_trap("start function", e, stop.as_ref()))?;
        }
        let layout = patch.0.layout;
        let wrong = |e: wasmtime::Error| LoadError::Abi(format!("{e:#}"));

        if layout.has_init {
            let init = user
                .get_typed_func::<(f32, i32), ()>(&mut store, names::INIT)
                .map_err(wrong)?;
            let max_frames = i32::try_from(config.max_frames).unwrap_or(i32::MAX);
            arm_load(&mut store, stop.as_ref());
            init.call(&mut store, (config.sample_rate, max_frames))
                .map_err(|e| load_trap(names::INIT, e, stop.as_ref()))?;
        }
        let reset = if layout.has_reset {
            Some(
                user.get_typed_func::<(), ()>(&mut store, names::RESET)
                    .map_err(wrong)?,
            )
        } else {
            None
        };

        let set_param = if layout.has_set_param {
            Some(
                user.get_typed_func::<(i32, f32), ()>(&mut store, names::SET_PARAM)
                    .map_err(wrong)?,
            )
        } else {
            None
        };

        let typed = |store: &mut Store<HostState>, present: bool, name: &str| {
            if present {
                user.get_typed_func::<(i32, f32), ()>(store, name)
                    .map(Some)
                    .map_err(wrong)
            } else {
                Ok(None)
            }
        };
        let note_on = typed(&mut store, layout.has_note_on, names::NOTE_ON)?;
        let note_off = typed(&mut store, layout.has_note_off, names::NOTE_OFF)?;
        let midi = if layout.has_midi {
            Some(
                user.get_typed_func::<(i32, i32, i32), ()>(&mut store, names::MIDI)
                    .map_err(wrong)?,
            )
        } else {
            None
        };
        let transport = if layout.has_transport {
            let memory = user
                .get_memory(&mut store, names::MEMORY)
                .ok_or_else(|| LoadError::Abi("the module exports no `memory`".into()))?;
            let global = user
                .get_global(&mut store, names::TRANSPORT)
                .ok_or_else(|| LoadError::Abi("the module exports no `wasp_transport`".into()))?;
            // Read after `wasp_init`, like `wasp_frame`.
            let addr = global.get(&mut store).i32().unwrap_or(-1) as u32 as usize;
            let len = memory.data_size(&store);
            if !sandbox::fits(addr, TRANSPORT_BYTES, len) {
                return Err(LoadError::Abi(format!(
                    "`wasp_transport` points at byte {addr}, but the transport block needs \
                     {TRANSPORT_BYTES} bytes there and memory is only {len} bytes long"
                )));
            }
            Some((memory, addr))
        } else {
            None
        };

        arm_load(&mut store, stop.as_ref());
        // `wasp_process` where it can be used; `dsp` otherwise, with the reason kept for the
        // editor (a module with unusable block exports still loads, as it always did).
        let mut entry_note = layout.process_issue.map(|i| i.message().to_owned());
        let block = if layout.has_process && runtime.options.block_processing {
            match block_entry(&user, &mut store, layout.shape, stop.as_ref()) {
                Ok(block) => Some(block),
                Err(e) => {
                    entry_note = Some(e.to_string());
                    None
                }
            }
        } else {
            None
        };
        let (run, io, frame) = match block {
            Some(block) => block,
            None => driver_entry(&user, &mut store, layout.shape, config.max_frames)?,
        };

        let state = StateLayout::resolve(&patch.0.meta, &user, &mut store)?;
        let memories = user
            .exports(&mut store)
            .filter(|e| e.name() != driver::IO && e.name() != stop::MEMORY)
            .filter_map(|e| e.into_memory())
            .collect();
        let clap_state = if patch.is_wclap() {
            clap_state(&user, &mut store)
        } else {
            None
        };
        // Loading is over: from here on the instance may run on the audio thread, where growing
        // memory or tables would map memory. They fail instead (see `sandbox.rs`).
        store.data_mut().limits.processing = true;

        Ok(Self {
            stop,
            store,
            run,
            io,
            frame,
            shape: layout.shape,
            epochs,
            credit,
            entry_note,
            budget: (
                runtime.options.block_budget,
                runtime.options.min_block_budget,
            ),
            reset,
            set_param,
            note_on,
            note_off,
            midi,
            transport,
            patch: patch.clone(),
            config,
            state,
            memories,
            instance: user,
            clap_state,
            clap_dirty: false,
            fault: None,
            fault_reported: false,
            trap_error: None,
        })
    }

    /// An exported `i32` global's value. Worker side, while loading.
    pub fn global_i32(&mut self, name: &str) -> Option<i32> {
        let global = self.instance.get_global(&mut self.store, name)?;
        global.get(&mut self.store).i32()
    }

    /// Calls an exported `(i32) -> i32` function under the load budget. Worker side, while
    /// loading.
    pub(crate) fn call_i32(&mut self, name: &'static str, arg: i32) -> Result<i32, LoadError> {
        let func = self
            .instance
            .get_typed_func::<i32, i32>(&mut self.store, name)
            .map_err(|e| LoadError::Abi(format!("{e:#}")))?;
        if self.epochs {
            let ticks = sandbox::with_lag(sandbox::ticks(LOAD_BUDGET), self.credit.as_deref());
            self.store.set_epoch_deadline(ticks);
        }
        if let Some(stop) = &self.stop {
            stop.arm(Deadline::after(LOAD_BUDGET).instant());
        }
        func.call(&mut self.store, arg)
            .map_err(|e| load_trap(name, e, self.stop.as_ref()))
    }

    /// A copy of `len` bytes of the module's `memory` from `addr`, if they lie inside it.
    pub(crate) fn read_memory(&mut self, addr: u32, len: usize) -> Option<Vec<u8>> {
        let memory = self.instance.get_memory(&mut self.store, names::MEMORY)?;
        let start = addr as usize;
        memory
            .data(&self.store)
            .get(start..start.checked_add(len)?)
            .map(<[u8]>::to_vec)
    }

    /// Whether the instance is a WCLAP whose own state (`clap.state`) Wasp can save and load.
    pub fn has_clap_state(&self) -> bool {
        self.clap_state.is_some()
    }

    /// Whether a WCLAP with its own state received events (parameter values, notes, MIDI)
    /// since its state was last saved: its state may have changed.
    pub(crate) fn clap_dirty(&self) -> bool {
        self.clap_dirty
    }

    /// Saves a WCLAP's own state (`clap.state`) and hands the bytes to `sink`: `Ok(false)` if
    /// the plugin has none to give. Under the block's time budget.
    ///
    /// Realtime-safe (`sink` gets a view of the module's memory; nothing is allocated) unless
    /// the plugin traps: then the instance is faulted, as in `process`.
    pub fn save_clap_state(&mut self, sink: impl FnOnce(&[u8])) -> Result<bool, Fault> {
        if self.fault.is_some() {
            return Ok(false);
        }
        let Some(clap) = &self.clap_state else {
            return Ok(false);
        };
        let save = clap.save.clone();
        let deadline = self.own_deadline();
        self.arm(deadline);
        let len = match save.call(&mut self.store, ()) {
            Ok(len) => len,
            Err(e) => return Err(self.record(super::status::CLAP_STATE_SAVE, 0, e)),
        };
        let (Some(clap), Ok(len)) = (&self.clap_state, usize::try_from(len)) else {
            return Ok(false);
        };
        let data = clap.memory.data(&self.store);
        match data.get(clap.block..clap.block.saturating_add(len)) {
            Some(bytes) => {
                sink(bytes);
                self.clap_dirty = false;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Loads a WCLAP's own state (`clap.state`) from `bytes`, as a saved project or the
    /// instance it replaces left it: `Ok(false)` if the plugin has no state, refused it, or it
    /// is larger than Wasp keeps. Worker side, under the load budget.
    pub(crate) fn load_clap_state(&mut self, bytes: &[u8]) -> Result<bool, LoadError> {
        let Some(clap) = &self.clap_state else {
            return Ok(false);
        };
        if bytes.len() > super::wclap::STATE_CAP as usize {
            return Ok(false);
        }
        let load = clap.load.clone();
        let (memory, block) = (clap.memory, clap.block);
        match memory
            .data_mut(&mut self.store)
            .get_mut(block..block.saturating_add(bytes.len()))
        {
            Some(to) => to.copy_from_slice(bytes),
            None => return Ok(false),
        }
        self.arm(Deadline::after(LOAD_BUDGET));
        let ok = load
            .call(&mut self.store, bytes.len() as i32)
            .map_err(|e| load_trap("clap.state load", e, self.stop.as_ref()))?;
        Ok(ok != 0)
    }

    /// What the module printed (WASI's standard output and error), as far as Wasp keeps it.
    pub(crate) fn printed(&self) -> &[u8] {
        &self.store.data().wasi.text
    }

    /// The patch this instance runs.
    pub fn patch(&self) -> &Patch {
        &self.patch
    }

    /// The audio settings this instance was initialised for.
    pub fn config(&self) -> ProcessConfig {
        self.config
    }

    /// The resolved declared state, for planning a swap (worker side).
    pub(crate) fn state(&self) -> &StateLayout {
        &self.state
    }

    /// Copies declared state from `old` into this instance following `plan`.
    /// Realtime-safe: bounded copies between existing memories.
    pub(crate) fn migrate_from(&mut self, old: &mut DspInstance, plan: &Plan) {
        migrate::apply(
            plan,
            (&old.state, &mut old.store),
            (&self.state, &mut self.store),
        );
    }

    /// Copies the next slice of a staged plan from `old`, which processed `frames` frames since
    /// the previous slice (see `migrate::stage`); true when the copy is complete.
    /// Realtime-safe: about `budget` bytes of copies.
    pub(crate) fn stage_from(
        &mut self,
        old: &mut DspInstance,
        plan: &mut Plan,
        budget: usize,
        frames: usize,
    ) -> bool {
        migrate::stage(
            plan,
            (&old.state, &mut old.store),
            (&self.state, &mut self.store),
            budget,
            frames,
        )
    }

    /// Touches every page of the module's exported memories and of the driver's I/O buffers,
    /// so the audio thread does not take the page faults (tens of microseconds each on some
    /// virtual machines). A memory the module does not export cannot be reached from here; its
    /// pages fault in when the module first touches them. Worker threads only.
    pub(crate) fn warm_up(&mut self) {
        let mut memories: Vec<(Memory, usize)> =
            self.memories.iter().map(|&m| (m, usize::MAX)).collect();
        if !matches!(self.run, Run::Block(_)) {
            memories.push((self.io.memory, 4 * 4 * self.io.cap));
        }
        for (memory, used) in memories {
            let data = memory.data_mut(&mut self.store);
            let used = used.min(data.len());
            for i in (0..used).step_by(4096) {
                // `black_box` hides the value from the optimiser, so the store is kept.
                data[i] = std::hint::black_box(data[i]);
            }
        }
    }

    /// Why the module's `wasp_process` is not used, if it exports one that is not.
    pub fn entry_note(&self) -> Option<&str> {
        self.entry_note.as_deref()
    }

    /// Which entry point processes this instance's audio.
    pub fn entry(&self) -> Entry {
        match self.run {
            Run::Block(_) => Entry::Block,
            _ => Entry::PerSample,
        }
    }

    /// Bytes of linear memory this instance holds (module and I/O buffers).
    pub fn memory_bytes(&self) -> u64 {
        self.store.data().limits.memory()
    }

    /// The time budget of a block of `frames` in real time. Realtime-safe.
    #[inline]
    pub(crate) fn block_budget(&self, frames: usize) -> Duration {
        let (factor, floor) = self.budget;
        sandbox::block_budget(frames, self.config.sample_rate, factor, floor)
    }

    /// The fault that stopped this instance, if any.
    pub fn fault(&self) -> Option<Fault> {
        self.fault
    }

    /// True exactly once after a fault, so it is reported once. Realtime-safe.
    pub(crate) fn fault_is_new(&mut self) -> bool {
        let new = self.fault.is_some() && !self.fault_reported;
        self.fault_reported |= new;
        new
    }

    /// Records a trap. Keeps wasmtime's error so it is not freed here. Realtime-safe.
    fn record(&mut self, export: &'static str, frame: usize, error: wasmtime::Error) -> Fault {
        let kind = trap_kind(&error, self.stop.as_ref()).unwrap_or(TrapKind::Other);
        let fault = Fault {
            export,
            kind,
            frame: frame as u32,
        };
        self.fault = Some(fault);
        if self.trap_error.is_none() {
            self.trap_error = Some(error);
        }
        fault
    }

    /// Makes the next call into the module end by `deadline`, if calls run under epoch
    /// deadlines. Realtime-safe.
    #[inline]
    fn arm(&mut self, deadline: Deadline) {
        if let Some(stop) = &self.stop {
            stop.arm(deadline.instant());
        }
        if self.epochs {
            // The ticker credits the epoch once per wake-up, so it lags the clock: without the
            // lag a healthy call could be stopped that much early.
            let ticks = sandbox::with_lag(deadline.ticks_left(), self.credit.as_deref());
            self.store.set_epoch_deadline(ticks);
        }
    }

    /// A deadline of one block of the largest size from now, for calls made outside a block.
    fn own_deadline(&self) -> Deadline {
        Deadline::after(self.block_budget(self.config.max_frames as usize))
    }

    /// Passes parameter `index`'s plain `value` to the module's `wasp_set_param`, if it has
    /// one, with the time budget of a block of the largest size.
    pub fn set_param(&mut self, index: usize, value: f32) -> Result<(), Fault> {
        let deadline = self.own_deadline();
        self.set_param_until(index, value, deadline)
    }

    /// Like [`DspInstance::set_param`], ending by `deadline`: the audio thread passes the
    /// deadline of the block the call belongs to.
    ///
    /// Realtime-safe unless the module traps: wasmtime allocates while reporting a trap.
    pub(crate) fn set_param_until(
        &mut self,
        index: usize,
        value: f32,
        deadline: Deadline,
    ) -> Result<(), Fault> {
        self.clap_dirty |= self.clap_state.is_some();
        if self.set_param.is_none() || self.fault.is_some() {
            return Ok(());
        }
        self.arm(deadline);
        if let Some(set_param) = &self.set_param {
            if let Err(e) = set_param.call(&mut self.store, (index as i32, value)) {
                return Err(self.record(names::SET_PARAM, 0, e));
            }
        }
        Ok(())
    }

    /// Passes a note or MIDI message to the module, if it has the export for it, with the time
    /// budget of a block of the largest size.
    pub fn event(&mut self, event: ModuleEvent) -> Result<(), Fault> {
        let deadline = self.own_deadline();
        self.event_until(event, deadline)
    }

    /// Passes a note or MIDI message to the module, if it has the export for it, ending by
    /// `deadline`. Realtime-safe unless the module traps.
    pub(crate) fn event_until(
        &mut self,
        event: ModuleEvent,
        deadline: Deadline,
    ) -> Result<(), Fault> {
        self.clap_dirty |= self.clap_state.is_some();
        if self.fault.is_some() {
            return Ok(());
        }
        let wanted = match event {
            ModuleEvent::NoteOn { .. } => self.note_on.is_some(),
            ModuleEvent::NoteOff { .. } => self.note_off.is_some(),
            ModuleEvent::Midi { .. } => self.midi.is_some(),
        };
        if !wanted {
            return Ok(());
        }
        self.arm(deadline);
        let (export, result) = match event {
            ModuleEvent::NoteOn { key, velocity } => (
                names::NOTE_ON,
                self.note_on
                    .as_ref()
                    .map(|f| f.call(&mut self.store, (i32::from(key), velocity))),
            ),
            ModuleEvent::NoteOff { key, velocity } => (
                names::NOTE_OFF,
                self.note_off
                    .as_ref()
                    .map(|f| f.call(&mut self.store, (i32::from(key), velocity))),
            ),
            ModuleEvent::Midi {
                status,
                data1,
                data2,
            } => (
                names::MIDI,
                self.midi.as_ref().map(|f| {
                    f.call(
                        &mut self.store,
                        (i32::from(status), i32::from(data1), i32::from(data2)),
                    )
                }),
            ),
        };
        match result {
            Some(Err(e)) => Err(self.record(export, 0, e)),
            _ => Ok(()),
        }
    }

    /// Whether the module reads the transport block.
    pub fn wants_transport(&self) -> bool {
        self.transport.is_some()
    }

    /// Writes the transport block into the module's memory. Realtime-safe: a 48-byte copy into
    /// memory that was checked at load and cannot shrink.
    pub(crate) fn write_transport(&mut self, transport: &Transport) {
        if let Some((memory, addr)) = self.transport {
            let bytes = transport.to_bytes();
            if let Some(dst) = memory
                .data_mut(&mut self.store)
                .get_mut(addr..addr + TRANSPORT_BYTES)
            {
                dst.copy_from_slice(&bytes);
            }
        }
    }

    /// Calls `wasp_reset` if the module has one (the host's transport reset), with the time
    /// budget of a block of the largest size.
    pub fn reset(&mut self) -> Result<(), Fault> {
        let deadline = self.own_deadline();
        self.reset_until(deadline)
    }

    /// Like [`DspInstance::reset`], ending by `deadline`.
    ///
    /// Realtime-safe unless the module traps: wasmtime allocates while reporting a trap.
    pub(crate) fn reset_until(&mut self, deadline: Deadline) -> Result<(), Fault> {
        if self.reset.is_none() || self.fault.is_some() {
            return Ok(());
        }
        self.arm(deadline);
        if let Some(reset) = &self.reset {
            if let Err(e) = reset.call(&mut self.store, ()) {
                return Err(self.record(names::RESET, 0, e));
            }
        }
        Ok(())
    }

    /// Processes one block in place: `channels` holds one slice per host channel (1 or 2, all of
    /// the same length). A mono module on a stereo host hears the average of both channels and
    /// feeds both; a stereo module on a mono host hears the channel twice and its two outputs
    /// are averaged. The block gets the time budget of its length.
    ///
    /// Realtime-safe (no allocation, lock, logging or freeing) unless the module traps: wasmtime
    /// allocates the trap's error. After a trap the block and every later block are silence.
    pub fn process(&mut self, channels: &mut [&mut [f32]]) -> Result<(), Fault> {
        let frames = channels.iter().map(|c| c.len()).min().unwrap_or(0);
        let deadline = Deadline::after(self.block_budget(frames));
        self.process_until(channels, deadline)
    }

    /// Like [`DspInstance::process`], ending by `deadline`: every call of one host block shares
    /// the block's deadline.
    pub(crate) fn process_until(
        &mut self,
        channels: &mut [&mut [f32]],
        deadline: Deadline,
    ) -> Result<(), Fault> {
        if let Some(fault) = self.fault {
            silence(channels);
            return Err(fault);
        }
        let frames = channels.iter().map(|c| c.len()).min().unwrap_or(0);
        let mut start = 0;
        while start < frames {
            let n = (frames - start).min(self.io.cap);
            self.write_inputs(channels, start, n);
            self.arm(deadline);
            let cap_bytes = (self.io.cap * 4) as i32;
            let result = match &self.run {
                Run::Plain(run) => run.call(&mut self.store, (n as i32, cap_bytes)),
                Run::Frame(run, addr) => run.call(&mut self.store, (n as i32, cap_bytes, *addr)),
                Run::Block(process) => process.call(&mut self.store, n as i32),
            };
            if let Err(e) = result {
                let (export, at) = match self.frame {
                    Some(frame) => (
                        names::DSP,
                        frame.get(&mut self.store).i32().unwrap_or(0) as usize,
                    ),
                    None => (names::PROCESS, 0),
                };
                let fault = self.record(export, start + at, e);
                silence(channels);
                return Err(fault);
            }
            self.read_outputs(channels, start, n);
            start += n;
        }
        Ok(())
    }

    /// Copies `n` frames from `start` of the host buffers into the module's input buffers.
    fn write_inputs(&mut self, channels: &[&mut [f32]], start: usize, n: usize) {
        let io = self.io;
        let bytes = 4 * n;
        let data = io.memory.data_mut(&mut self.store);
        let mut put_at = |at: usize, src: &[f32]| {
            if let Some(dst) = data.get_mut(at..at + bytes) {
                put(dst, src);
            }
        };
        match (channels, self.shape) {
            ([mono], DspShape::Mono) => put_at(io.in_l, &mono[start..start + n]),
            ([mono], _) => {
                put_at(io.in_l, &mono[start..start + n]);
                put_at(io.in_r, &mono[start..start + n]);
            }
            ([l, r, ..], DspShape::Mono) => {
                let (l, r) = (&l[start..start + n], &r[start..start + n]);
                if let Some(dst) = data.get_mut(io.in_l..io.in_l + bytes) {
                    for (dst, (a, b)) in dst.chunks_exact_mut(4).zip(l.iter().zip(r)) {
                        dst.copy_from_slice(&(0.5 * (a + b)).to_le_bytes());
                    }
                }
            }
            ([l, r, ..], _) => {
                put_at(io.in_l, &l[start..start + n]);
                put_at(io.in_r, &r[start..start + n]);
            }
            ([], _) => {}
        }
    }

    /// Copies `n` frames of the module's output buffers back into the host buffers at `start`.
    fn read_outputs(&mut self, channels: &mut [&mut [f32]], start: usize, n: usize) {
        let io = self.io;
        let bytes = 4 * n;
        let data = io.memory.data(&self.store);
        let (Some(out_l), Some(out_r)) = (
            data.get(io.out_l..io.out_l + bytes),
            data.get(io.out_r..io.out_r + bytes),
        ) else {
            return;
        };
        match (channels, self.shape) {
            ([mono], DspShape::Mono) => get(&mut mono[start..start + n], out_l),
            ([mono], _) => {
                for (i, y) in mono[start..start + n].iter_mut().enumerate() {
                    *y = 0.5 * (at(out_l, i) + at(out_r, i));
                }
            }
            ([l, r, ..], DspShape::Mono) => {
                get(&mut l[start..start + n], out_l);
                get(&mut r[start..start + n], out_l);
            }
            ([l, r, ..], _) => {
                get(&mut l[start..start + n], out_l);
                get(&mut r[start..start + n], out_r);
            }
            ([], _) => {}
        }
    }
}

/// The block driver's entry point, I/O buffers and frame global (see `driver.rs`); grows the
/// I/O memory to four buffers of `max_frames`.
fn driver_entry(
    user: &Instance,
    store: &mut Store<HostState>,
    shape: DspShape,
    max_frames: u32,
) -> Result<(Run, Io, Option<Global>), LoadError> {
    let missing = |what: &str| LoadError::Instantiate(format!("the block driver has no {what}"));
    let memory = user
        .get_memory(&mut *store, driver::IO)
        .ok_or_else(|| missing("memory"))?;
    let frame = user
        .get_global(&mut *store, driver::FRAME)
        .ok_or_else(|| missing("frame global"))?;
    let cap = max_frames.clamp(1, 1 << 16) as usize;
    let needed_pages = (4 * 4 * cap).div_ceil(65536) as u64;
    let have_pages = memory.size(&*store);
    // The I/O memory is Wasp's, not the module's: it has a cap of its own. Grown here, while
    // loading; processing never grows it.
    if needed_pages > have_pages {
        store.data_mut().limits.driver = true;
        let grown = memory.grow(&mut *store, needed_pages - have_pages);
        store.data_mut().limits.driver = false;
        grown.map_err(|e| LoadError::Instantiate(format!("block driver memory: {e:#}")))?;
    }
    let wrong = |e: wasmtime::Error| LoadError::Instantiate(format!("block driver: {e:#}"));
    let run = match shape {
        DspShape::StereoFrame => {
            let memory = user
                .get_memory(&mut *store, names::MEMORY)
                .ok_or_else(|| LoadError::Abi("the module exports no `memory`".into()))?;
            let global = user
                .get_global(&mut *store, names::FRAME)
                .ok_or_else(|| LoadError::Abi("the module exports no `wasp_frame`".into()))?;
            // The address is read after `wasp_init`, so a module may set it up there.
            let addr = global.get(&mut *store).i32().unwrap_or(-1) as u32 as usize;
            let len = memory.data_size(&*store);
            if !sandbox::fits(addr, 8, len) {
                return Err(LoadError::Abi(format!(
                    "`wasp_frame` points at byte {addr}, but the output pair needs 8 bytes \
                     there and memory is only {len} bytes long"
                )));
            }
            Run::Frame(
                user.get_typed_func(&mut *store, driver::RUN)
                    .map_err(wrong)?,
                addr as i32,
            )
        }
        _ => Run::Plain(
            user.get_typed_func(&mut *store, driver::RUN)
                .map_err(wrong)?,
        ),
    };
    let bytes = 4 * cap;
    let io = Io {
        memory,
        in_l: 0,
        in_r: bytes,
        out_l: 2 * bytes,
        out_r: 3 * bytes,
        cap,
    };
    Ok((run, io, Some(frame)))
}

/// The module's `wasp_process` and its buffers, read after `wasp_init` and checked to lie
/// inside `memory`.
fn block_entry(
    user: &Instance,
    store: &mut Store<HostState>,
    shape: DspShape,
    stop: Option<&Stop>,
) -> Result<(Run, Io, Option<Global>), LoadError> {
    let process = user
        .get_typed_func::<i32, ()>(&mut *store, names::PROCESS)
        .map_err(|e| LoadError::Abi(format!("{e:#}")))?;
    let memory = user
        .get_memory(&mut *store, names::MEMORY)
        .ok_or_else(|| LoadError::Abi("the module exports no `memory`".into()))?;
    let read = |store: &mut Store<HostState>, name: &str| -> Result<u32, LoadError> {
        user.get_global(&mut *store, name)
            .and_then(|g| g.get(&mut *store).i32())
            .map(|v| v as u32)
            .ok_or_else(|| LoadError::Abi(format!("the module exports no i32 global `{name}`")))
    };
    let block = match user.get_typed_func::<(), i32>(&mut *store, names::BLOCK) {
        // The function form, for languages that export statics by address (Rust, C).
        Ok(block) => block
            .call(&mut *store, ())
            .map_err(|e| load_trap(names::BLOCK, e, stop))? as u32,
        Err(_) => read(store, names::BLOCK)?,
    };
    let input = read(store, names::IN)?;
    // No `wasp_out`: the module works in place.
    let output = match user.get_global(&mut *store, names::OUT) {
        Some(_) => read(store, names::OUT)?,
        None => input,
    };
    if !(1..=1 << 16).contains(&block) {
        return Err(LoadError::Abi(format!(
            "`wasp_block` is {}, but it must be from 1 to 65536 frames",
            block as i32
        )));
    }
    let channels = shape.channels().count();
    let bytes = 4 * block as usize;
    let len = memory.data_size(&*store);
    for (name, at) in [(names::IN, input), (names::OUT, output)] {
        let at = at as usize;
        if !sandbox::fits(at, channels * bytes, len) {
            return Err(LoadError::Abi(format!(
                "`{name}` points at byte {at}, but {channels} buffer(s) of `wasp_block` = \
                 {block} frames need {} bytes there and memory is only {len} bytes long",
                channels * bytes
            )));
        }
    }
    let (input, output) = (input as usize, output as usize);
    // A mono module has one buffer each way; its "right" offsets are never used for it, but
    // point at the left buffer so they are in bounds too.
    let right = if channels == 2 { bytes } else { 0 };
    let io = Io {
        memory,
        in_l: input,
        in_r: input + right,
        out_l: output,
        out_r: output + right,
        cap: block as usize,
    };
    Ok((Run::Block(process), io, None))
}

/// Writes samples as little-endian `f32` bytes.
#[inline]
fn put(dst: &mut [u8], src: &[f32]) {
    #[cfg(target_endian = "little")]
    {
        let n = dst.len().min(4 * src.len());
        // SAFETY: `f32` has no invalid bit patterns and no padding, and on a little-endian
        // machine its in-memory bytes are its little-endian bytes; `src` outlives the view.
        let bytes = unsafe { std::slice::from_raw_parts(src.as_ptr().cast::<u8>(), 4 * src.len()) };
        dst[..n].copy_from_slice(&bytes[..n]);
    }
    #[cfg(not(target_endian = "little"))]
    for (d, s) in dst.chunks_exact_mut(4).zip(src) {
        d.copy_from_slice(&s.to_le_bytes());
    }
}

/// Reads little-endian `f32` bytes into samples.
#[inline]
fn get(dst: &mut [f32], src: &[u8]) {
    #[cfg(target_endian = "little")]
    {
        let n = src.len().min(4 * dst.len());
        // SAFETY: as in `put`: any four bytes are a valid `f32`, stored little-endian.
        let bytes =
            unsafe { std::slice::from_raw_parts_mut(dst.as_mut_ptr().cast::<u8>(), 4 * dst.len()) };
        bytes[..n].copy_from_slice(&src[..n]);
    }
    #[cfg(not(target_endian = "little"))]
    for (d, s) in dst.iter_mut().zip(src.chunks_exact(4)) {
        *d = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
    }
}

#[inline]
fn at(src: &[u8], i: usize) -> f32 {
    f32::from_le_bytes([src[4 * i], src[4 * i + 1], src[4 * i + 2], src[4 * i + 3]])
}

fn silence(channels: &mut [&mut [f32]]) {
    for ch in channels {
        ch.fill(0.0);
    }
}
