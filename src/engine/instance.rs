//! `DspInstance`: one instantiated module plus its block driver, in a store of their own, ready
//! to process audio.
//!
//! Created on a worker thread (instantiation allocates and runs module code), then moved to the
//! audio thread, where only [`DspInstance::process`] and [`DspInstance::reset`] are called.

use super::events::{ModuleEvent, Transport, TRANSPORT_BYTES};
use std::sync::Arc;
use std::time::Duration;

use super::backend::{AnyMachine, Args, Func, Glob, Machine, Mem, Sig, StartError, Stopped, Tier};
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
#[derive(Clone, Copy)]
enum Run {
    /// The driver's `run(frames, cap)` for the mono and multi-value stereo shapes (see
    /// `driver.rs`).
    Plain(Func),
    /// The driver's `run(frames, cap, frame_addr)` for the frame-buffer stereo shape.
    Frame(Func, i32),
    /// The module's own `wasp_process(frames)`.
    Block(Func),
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
    memory: Mem,
    in_l: usize,
    in_r: usize,
    out_l: usize,
    out_r: usize,
    /// Frames per buffer; longer blocks are processed in pieces.
    cap: usize,
}

/// An instantiated, initialised module. Owns its machine (the runtime's store), so it can move
/// between threads but is used by one at a time.
pub struct DspInstance {
    /// The stop word of a module with stop checks, registered with the ticker. Declared before
    /// `machine`, which owns its memory, so it is unregistered first.
    stop: Option<Stop>,
    machine: AnyMachine,
    run: Run,
    io: Io,
    /// The driver's frame global: index of the frame being processed, read after a trap. None
    /// for `wasp_process`, where a trap is reported at the piece's first frame.
    frame: Option<Glob>,
    shape: DspShape,
    /// Why the module's `wasp_process` is not used, if it has one that is not.
    entry_note: Option<String>,
    /// A block's time budget: multiple of its duration, and floor.
    budget: (f32, std::time::Duration),
    reset: Option<Func>,
    set_param: Option<Func>,
    note_on: Option<Func>,
    note_off: Option<Func>,
    midi: Option<Func>,
    /// The module's memory and the byte address of its transport block, if it asks for one.
    transport: Option<(Mem, usize)>,
    patch: Patch,
    config: ProcessConfig,
    /// The declared state, resolved for this instance; what a swap carries.
    state: StateLayout,
    /// Every memory the module exports, to touch before the audio thread writes to it.
    memories: Vec<Mem>,
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
}

/// What saving and loading a WCLAP's own state goes through (see `wclap.rs`).
#[derive(Clone, Copy)]
struct ClapState {
    save: Func,
    load: Func,
    block: usize,
    memory: Mem,
}

/// How a call into a module ended, if it trapped: a timeout if the runtime interrupted it, or
/// if the stop check trapped (`unreachable`) with its flag raised; any other trap is the
/// module's own, even if the ticker raised the flag just after it. `None` for an error that is
/// no trap. Realtime-safe.
fn trap_kind(stopped: Stopped, stop: Option<&Stop>) -> Stopped {
    let kind = stopped?;
    Some(
        if kind == TrapKind::Unreachable && stop.is_some_and(Stop::stopped) {
            TrapKind::Timeout
        } else {
            kind
        },
    )
}

/// A WCLAP's state functions and block, if the plugin has `clap.state` and its block fits in
/// its memory.
fn clap_state(machine: &mut dyn Machine) -> Option<ClapState> {
    use super::wclap::{names, STATE_CAP};
    let block = machine.global_i32(names::STATE)? as u32 as usize;
    let memory = machine.memory("memory")?;
    if block == 0 || block.saturating_add(STATE_CAP as usize) > machine.data(memory).len() {
        return None;
    }
    Some(ClapState {
        save: machine.func(names::SAVE, Sig::ToI32).ok()??,
        load: machine.func(names::LOAD, Sig::I32ToI32).ok()??,
        block,
        memory,
    })
}

/// Turns how a call ended while loading into a `LoadError` naming `export`; `message` is what
/// the runtime said.
fn load_trap(export: &'static str, stopped: Stopped, message: String) -> LoadError {
    match stopped {
        Some(TrapKind::Timeout) => LoadError::Timeout {
            export,
            seconds: LOAD_BUDGET.as_secs() as u32,
        },
        Some(_) => LoadError::Trap { export, message },
        None => LoadError::Instantiate(message),
    }
}

/// Looks up an export the contract checks found, with its signature.
fn export(machine: &mut dyn Machine, name: &str, sig: Sig) -> Result<Func, LoadError> {
    machine
        .func(name, sig)
        .map_err(LoadError::Abi)?
        .ok_or_else(|| LoadError::Abi(format!("the module exports no function `{name}`")))
}

/// Looks up an optional export, if `present`.
fn optional(
    machine: &mut dyn Machine,
    present: bool,
    name: &str,
    sig: Sig,
) -> Result<Option<Func>, LoadError> {
    present.then(|| export(machine, name, sig)).transpose()
}

/// Makes the next calls into `machine` end by `deadline`: its stop word (a module with stop
/// checks) and its runtime's own budget. Realtime-safe.
#[inline]
fn arm<M: Machine + ?Sized>(machine: &mut M, stop: Option<&Stop>, deadline: Deadline) {
    if let Some(stop) = stop {
        stop.arm(deadline.instant());
    }
    machine.arm(deadline);
}

/// A machine and the stop word of its instance while it is being loaded: calls under the load
/// budget, their errors named.
struct Loading<'a> {
    machine: &'a mut dyn Machine,
    stop: Option<&'a Stop>,
}

impl Loading<'_> {
    /// Calls `func` (export `name`) under the load budget.
    fn call(&mut self, name: &'static str, func: Func, args: Args) -> Result<i32, LoadError> {
        arm(&mut *self.machine, self.stop, Deadline::after(LOAD_BUDGET));
        self.machine.call(func, args).map_err(|stopped| {
            load_trap(
                name,
                trap_kind(stopped, self.stop),
                self.machine.error_text(),
            )
        })
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
    /// one plugin shares (see `sandbox.rs`). Runs on the runtime that should play the patch now
    /// (see [`Runtime::tier_for`]).
    pub fn with_account(
        runtime: &Runtime,
        patch: &Patch,
        config: ProcessConfig,
        account: Arc<MemoryAccount>,
    ) -> Result<Self, LoadError> {
        Self::on_tier(runtime, patch, config, account, runtime.tier_for(patch))
    }

    /// Like [`DspInstance::with_account`], on `tier`.
    pub(crate) fn on_tier(
        runtime: &Runtime,
        patch: &Patch,
        config: ProcessConfig,
        account: Arc<MemoryAccount>,
        tier: Tier,
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
        let stops = patch.watchdog() == Watchdog::StopChecks && tier == Tier::Jit;
        let mut host = HostState::new(Limits::new(account));
        host.limits.stop_page = stops;
        let mut machine = runtime
            .instantiate(patch, tier, host, Deadline::after(LOAD_BUDGET))
            .map_err(|StartError { kind, message }| load_trap("start function", kind, message))?;
        let stop = match (stops, runtime.watches()) {
            (true, Some(watches)) => {
                let memory = machine
                    .memory(stop::MEMORY)
                    .ok_or_else(|| LoadError::Compile("the module lost its stop memory".into()))?;
                let word = machine.data_mut(memory).as_mut_ptr();
                // SAFETY: the stop memory is one page that never grows or moves, owned by
                // `machine`, which the instance drops after `stop` (field order).
                Some(unsafe { Stop::register(word, watches) })
            }
            _ => None,
        };
        let mut loading = Loading {
            machine: &mut machine,
            stop: stop.as_ref(),
        };
        if let Some(start) = loading
            .machine
            .func(stop::START, Sig::Unit)
            .map_err(LoadError::Abi)?
        {
            // The module's start function, which the stop checks moved here (see `stop.rs`).
            loading.call("start function", start, Args::Unit)?;
        }
        let layout = patch.0.layout;
        let m = &mut *loading.machine;
        let init = optional(m, layout.has_init, names::INIT, Sig::F32I32)?;
        if let Some(init) = init {
            let max_frames = i32::try_from(config.max_frames).unwrap_or(i32::MAX);
            loading.call(
                names::INIT,
                init,
                Args::F32I32(config.sample_rate, max_frames),
            )?;
        }
        let m = &mut *loading.machine;
        let reset = optional(m, layout.has_reset, names::RESET, Sig::Unit)?;
        let set_param = optional(m, layout.has_set_param, names::SET_PARAM, Sig::I32F32)?;
        let note_on = optional(m, layout.has_note_on, names::NOTE_ON, Sig::I32F32)?;
        let note_off = optional(m, layout.has_note_off, names::NOTE_OFF, Sig::I32F32)?;
        let midi = optional(m, layout.has_midi, names::MIDI, Sig::I32x3)?;
        let transport = if layout.has_transport {
            let memory = m
                .memory(names::MEMORY)
                .ok_or_else(|| LoadError::Abi("the module exports no `memory`".into()))?;
            // Read after `wasp_init`, like `wasp_frame`.
            let addr = m
                .global_i32(names::TRANSPORT)
                .ok_or_else(|| LoadError::Abi("the module exports no `wasp_transport`".into()))?
                as u32 as usize;
            let len = m.data(memory).len();
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

        // `wasp_process` where it can be used; `dsp` otherwise, with the reason kept for the
        // editor (a module with unusable block exports still loads, as it always did).
        let mut entry_note = layout.process_issue.map(|i| i.message().to_owned());
        let block = if layout.has_process && runtime.options.block_processing {
            match block_entry(&mut loading, layout.shape) {
                Ok(block) => Some(block),
                Err(e) => {
                    entry_note = Some(e.to_string());
                    None
                }
            }
        } else {
            None
        };
        let m = &mut *loading.machine;
        let (run, io, frame) = match block {
            Some(block) => block,
            None => driver_entry(m, layout.shape, config.max_frames)?,
        };

        let state = StateLayout::resolve(&patch.0.meta, m)?;
        let memories = m
            .memories()
            .into_iter()
            .filter(|(name, _)| name != driver::IO && name != stop::MEMORY)
            .map(|(_, memory)| memory)
            .collect();
        let clap_state = if patch.is_wclap() {
            clap_state(m)
        } else {
            None
        };
        // Loading is over: from here on the instance may run on the audio thread, where growing
        // memory or tables would map memory. They fail instead (see `sandbox.rs`).
        machine.host_mut().limits.processing = true;

        Ok(Self {
            stop,
            machine,
            run,
            io,
            frame,
            shape: layout.shape,
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
            clap_state,
            clap_dirty: false,
            fault: None,
            fault_reported: false,
        })
    }

    /// An exported `i32` global's value. Worker side, while loading.
    pub fn global_i32(&mut self, name: &str) -> Option<i32> {
        self.machine.global_i32(name)
    }

    /// Calls an exported `(i32) -> i32` function under the load budget. Worker side, while
    /// loading.
    pub(crate) fn call_i32(&mut self, name: &'static str, arg: i32) -> Result<i32, LoadError> {
        let func = export(&mut self.machine, name, Sig::I32ToI32)?;
        Loading {
            machine: &mut self.machine,
            stop: self.stop.as_ref(),
        }
        .call(name, func, Args::I32(arg))
    }

    /// A copy of `len` bytes of the module's `memory` from `addr`, if they lie inside it.
    pub fn read_memory(&mut self, addr: u32, len: usize) -> Option<Vec<u8>> {
        let memory = self.machine.memory(names::MEMORY)?;
        let start = addr as usize;
        self.machine
            .data(memory)
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
        let Some(clap) = self.clap_state else {
            return Ok(false);
        };
        let deadline = self.own_deadline();
        self.arm(deadline);
        let len = match self.machine.call(clap.save, Args::Unit) {
            Ok(len) => len,
            Err(stopped) => return Err(self.record(super::status::CLAP_STATE_SAVE, 0, stopped)),
        };
        let Ok(len) = usize::try_from(len) else {
            return Ok(false);
        };
        let data = self.machine.data(clap.memory);
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
        let Some(clap) = self.clap_state else {
            return Ok(false);
        };
        if bytes.len() > super::wclap::STATE_CAP as usize {
            return Ok(false);
        }
        match self
            .machine
            .data_mut(clap.memory)
            .get_mut(clap.block..clap.block.saturating_add(bytes.len()))
        {
            Some(to) => to.copy_from_slice(bytes),
            None => return Ok(false),
        }
        let ok = Loading {
            machine: &mut self.machine,
            stop: self.stop.as_ref(),
        }
        .call("clap.state load", clap.load, Args::I32(bytes.len() as i32))?;
        Ok(ok != 0)
    }

    /// What the module printed (WASI's standard output and error), as far as Wasp keeps it.
    pub(crate) fn printed(&self) -> &[u8] {
        &self.machine.host().wasi.text
    }

    /// Which runtime runs this instance.
    pub fn tier(&self) -> Tier {
        self.machine.tier()
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
            (&old.state, &mut old.machine),
            (&self.state, &mut self.machine),
        );
        if plan.whole {
            // What else of the instance lives on the host's side.
            self.machine.host_mut().wasi.random = old.machine.host().wasi.random;
            self.clap_dirty = old.clap_dirty;
        }
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
            (&old.state, &mut old.machine),
            (&self.state, &mut self.machine),
            budget,
            frames,
        )
    }

    /// Touches every page of the module's exported memories and of the driver's I/O buffers,
    /// so the audio thread does not take the page faults (tens of microseconds each on some
    /// virtual machines). A memory the module does not export cannot be reached from here; its
    /// pages fault in when the module first touches them. Worker threads only.
    pub(crate) fn warm_up(&mut self) {
        let mut memories: Vec<(Mem, usize)> =
            self.memories.iter().map(|&m| (m, usize::MAX)).collect();
        if !matches!(self.run, Run::Block(_)) {
            memories.push((self.io.memory, 4 * 4 * self.io.cap));
        }
        for (memory, used) in memories {
            let data = self.machine.data_mut(memory);
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
        self.machine.host().limits.memory()
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

    /// Records a trap (the machine keeps the runtime's error, so it is not freed here).
    /// Realtime-safe.
    fn record(&mut self, export: &'static str, frame: usize, stopped: Stopped) -> Fault {
        let kind = trap_kind(stopped, self.stop.as_ref()).unwrap_or(TrapKind::Other);
        let fault = Fault {
            export,
            kind,
            frame: frame as u32,
        };
        self.fault = Some(fault);
        fault
    }

    /// Makes the next calls into the module end by `deadline`. Realtime-safe.
    #[inline]
    fn arm(&mut self, deadline: Deadline) {
        arm(&mut self.machine, self.stop.as_ref(), deadline);
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
        if let Some(set_param) = self.set_param {
            if let Err(e) = self
                .machine
                .call(set_param, Args::I32F32(index as i32, value))
            {
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
        let (export, func, args) = match event {
            ModuleEvent::NoteOn { key, velocity } => (
                names::NOTE_ON,
                self.note_on,
                Args::I32F32(i32::from(key), velocity),
            ),
            ModuleEvent::NoteOff { key, velocity } => (
                names::NOTE_OFF,
                self.note_off,
                Args::I32F32(i32::from(key), velocity),
            ),
            ModuleEvent::Midi {
                status,
                data1,
                data2,
            } => (
                names::MIDI,
                self.midi,
                Args::I32x3(i32::from(status), i32::from(data1), i32::from(data2)),
            ),
        };
        let Some(func) = func else {
            return Ok(());
        };
        self.arm(deadline);
        match self.machine.call(func, args) {
            Err(e) => Err(self.record(export, 0, e)),
            Ok(_) => Ok(()),
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
            if let Some(dst) = self
                .machine
                .data_mut(memory)
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
        if let Some(reset) = self.reset {
            if let Err(e) = self.machine.call(reset, Args::Unit) {
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
            let result = match self.run {
                Run::Plain(run) => self.machine.call(run, Args::I32x2(n as i32, cap_bytes)),
                Run::Frame(run, addr) => self
                    .machine
                    .call(run, Args::I32x3(n as i32, cap_bytes, addr)),
                Run::Block(process) => self.machine.call(process, Args::I32(n as i32)),
            };
            if let Err(e) = result {
                let (export, at) = match self.frame {
                    Some(frame) => match self.machine.get(frame) {
                        super::backend::Value::I32(at) => (names::DSP, at as u32 as usize),
                        _ => (names::DSP, 0),
                    },
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
        let data = self.machine.data_mut(io.memory);
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
        let data = self.machine.data(io.memory);
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
    m: &mut dyn Machine,
    shape: DspShape,
    max_frames: u32,
) -> Result<(Run, Io, Option<Glob>), LoadError> {
    let missing = |what: &str| LoadError::Instantiate(format!("the block driver has no {what}"));
    let memory = m.memory(driver::IO).ok_or_else(|| missing("memory"))?;
    let (frame, ..) = m
        .global(driver::FRAME)
        .ok_or_else(|| missing("frame global"))?;
    let cap = max_frames.clamp(1, 1 << 16) as usize;
    let needed = 4 * 4 * cap;
    let have = m.data(memory).len();
    // The I/O memory is Wasp's, not the module's: it has a cap of its own. Grown here, while
    // loading; processing never grows it.
    if needed > have {
        let pages = (needed - have).div_ceil(65536) as u64;
        m.host_mut().limits.driver = true;
        let grown = m.grow(memory, pages);
        m.host_mut().limits.driver = false;
        grown.map_err(|e| LoadError::Instantiate(format!("block driver memory: {e}")))?;
    }
    let wrong = |e: LoadError| LoadError::Instantiate(format!("block driver: {e}"));
    let run = match shape {
        DspShape::StereoFrame => {
            let module_memory = m
                .memory(names::MEMORY)
                .ok_or_else(|| LoadError::Abi("the module exports no `memory`".into()))?;
            // The address is read after `wasp_init`, so a module may set it up there.
            let addr = m
                .global_i32(names::FRAME)
                .ok_or_else(|| LoadError::Abi("the module exports no `wasp_frame`".into()))?
                as u32 as usize;
            let len = m.data(module_memory).len();
            if !sandbox::fits(addr, 8, len) {
                return Err(LoadError::Abi(format!(
                    "`wasp_frame` points at byte {addr}, but the output pair needs 8 bytes \
                     there and memory is only {len} bytes long"
                )));
            }
            Run::Frame(
                export(m, driver::RUN, Sig::I32x3).map_err(wrong)?,
                addr as i32,
            )
        }
        _ => Run::Plain(export(m, driver::RUN, Sig::I32x2).map_err(wrong)?),
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
    loading: &mut Loading<'_>,
    shape: DspShape,
) -> Result<(Run, Io, Option<Glob>), LoadError> {
    let m = &mut *loading.machine;
    let process = export(m, names::PROCESS, Sig::I32)?;
    let memory = m
        .memory(names::MEMORY)
        .ok_or_else(|| LoadError::Abi("the module exports no `memory`".into()))?;
    let read = |m: &mut dyn Machine, name: &str| -> Result<u32, LoadError> {
        m.global_i32(name)
            .map(|v| v as u32)
            .ok_or_else(|| LoadError::Abi(format!("the module exports no i32 global `{name}`")))
    };
    let block = match m.func(names::BLOCK, Sig::ToI32) {
        // The function form, for languages that export statics by address (Rust, C).
        Ok(Some(block)) => loading.call(names::BLOCK, block, Args::Unit)? as u32,
        _ => read(&mut *loading.machine, names::BLOCK)?,
    };
    let m = &mut *loading.machine;
    let input = read(m, names::IN)?;
    // No `wasp_out`: the module works in place.
    let output = match m.global(names::OUT) {
        Some(_) => read(m, names::OUT)?,
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
    let len = m.data(memory).len();
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
