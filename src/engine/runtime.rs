//! `Runtime`: the configured wasmtime engine and linker, and the bytes-to-`Patch` load pipeline.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use wasmtime::{Engine, Linker, Module};

use super::backend::interp::InterpMachine;
use super::backend::jit::{self, JitMachine};
use super::backend::{AnyMachine, StartError, Tier, Tiering};
use super::contract;
use super::disk_cache::DiskCache;
use super::error::LoadError;
use super::metadata::{Metadata, SECTION_NAME};
use super::patch::{fnv1a, Code, Kind, Patch, PatchInner, Source, Watchdog};
use super::sandbox::{self, Busy, Deadline, HostState, Ticker};
use super::types::ModuleTypes;

/// Engine settings that trade speed for isolation. [`RuntimeOptions::default`] is what the
/// plugin ships; the other combinations exist so `benches/dsp.rs` can measure what each costs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RuntimeOptions {
    /// Let wasmtime catch out-of-bounds accesses and divisions by zero with process-wide signal
    /// handlers instead of explicit checks in the generated code.
    pub signals_based_traps: bool,
    /// Interrupt modules that overrun their time budget (epoch interruption).
    pub epoch_interruption: bool,
    /// A block's time budget, in multiples of its real-time duration.
    pub block_budget: f32,
    /// The smallest time budget of a block, however short the block: a host thread preempted
    /// for a few milliseconds must not get a healthy module killed.
    pub min_block_budget: std::time::Duration,
    /// Run modules whose every call provably ends quickly (see `bounds.rs`) without epoch
    /// checks, which cost more than anything else in the sandbox.
    pub skip_epochs_when_bounded: bool,
    /// Interrupt every other module through Wasp's own stop checks (see `stop.rs`) rather than
    /// epoch checks, which cost more.
    pub stop_checks: bool,
    /// Process whole blocks through `wasp_process` where a module offers it. Off, such a
    /// module runs through its `dsp`, once per frame (to compare the two).
    pub block_processing: bool,
    /// Which runtime plays a module.
    pub tiering: Tiering,
}

impl Default for RuntimeOptions {
    /// Explicit checks and epoch interruption. A plugin shares its process with the host and
    /// other plugins: installing process-wide signal handlers would displace theirs, and
    /// handlers left behind when a host unloads Wasp's library would point into unmapped code.
    /// The explicit checks cost little (measured in `benches/dsp.rs`, see docs/SANDBOX.md).
    fn default() -> Self {
        Self {
            signals_based_traps: false,
            epoch_interruption: true,
            block_budget: sandbox::BLOCK_BUDGET,
            min_block_budget: sandbox::MIN_BLOCK_BUDGET,
            skip_epochs_when_bounded: true,
            stop_checks: true,
            block_processing: true,
            tiering: Tiering::from_env().unwrap_or(Tiering::Jit),
        }
    }
}

/// The shared compilation context. Cheap to clone; every clone compiles for the same engine, so
/// patches and instances made from any clone work together.
#[derive(Clone)]
pub struct Runtime(Arc<RuntimeInner>);

impl std::ops::Deref for Runtime {
    type Target = RuntimeInner;

    fn deref(&self) -> &RuntimeInner {
        &self.0
    }
}

/// What a [`Runtime`] holds. Nothing in it belongs to one module or one plugin instance:
/// compiled modules are immutable, and every instance gets a store, memories and tables of its
/// own, so sharing a runtime lets no module see another's state.
pub struct RuntimeInner {
    pub(crate) engine: Engine,
    pub(crate) linker: Arc<Linker<HostState>>,
    /// Recently compiled patches, most recent last, so that swapping back to a module (A/B
    /// comparisons, undo, a file saved unchanged) skips validation and compilation, and the
    /// same module on several tracks compiles once. Keyed by content: the bytes are compared,
    /// not just the hash.
    cache: Mutex<Vec<Patch>>,
    /// Hashes of modules being compiled now, so another instance asking for the same module
    /// waits for that compile instead of starting its own.
    compiling: Mutex<Vec<(u64, Arc<Flight>)>>,
    /// Modules compiled (cache misses), for tests and measurements.
    compiles: std::sync::atomic::AtomicU64,
    /// Compiled modules on disk, shared by every process (see `disk_cache.rs`).
    disk: Option<DiskCache>,
    /// Modules loaded from `disk` instead of compiled.
    disk_loads: std::sync::atomic::AtomicU64,
    /// Advances the epoch while any clone of this runtime lives; `None` without epoch
    /// interruption.
    ticker: Option<Arc<Ticker>>,
    /// An engine without epoch interruption, for modules proven to end every call quickly and
    /// modules with stop checks; `None` when every module runs on `engine`.
    free: Option<Free>,
    pub(crate) options: RuntimeOptions,
}

/// The engine and linker for modules that need no epoch checks.
#[derive(Clone)]
pub(crate) struct Free {
    engine: Engine,
    linker: Arc<Linker<HostState>>,
}

/// The most memory a module may declare and still start on the interpreter and tier up: the
/// audio thread copies all of it at the switch (see `bench backends -- tier_up`).
pub const TIER_UP_MEMORY: u64 = 4 << 20;

/// How many compiled modules the cache keeps.
const CACHE_ENTRIES: usize = 16;

/// The process's shared runtime, while some instance holds it.
static SHARED: Mutex<Option<std::sync::Weak<RuntimeInner>>> = Mutex::new(None);

impl Runtime {
    /// Creates a runtime with Wasp's engine configuration.
    pub fn new() -> Result<Self, LoadError> {
        Self::with_options(RuntimeOptions::default())
    }

    /// The runtime every Wasp instance in this process shares: one wasmtime engine, one epoch
    /// ticker thread and one compiled-module cache, so a module used on 32 tracks compiles
    /// once and 32 instances run one ticker. Made by the first instance; it goes (and its
    /// ticker thread is joined) when the last handle to it is dropped.
    pub fn shared() -> Result<Self, LoadError> {
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(inner) = shared.as_ref().and_then(std::sync::Weak::upgrade) {
            return Ok(Runtime(inner));
        }
        let runtime = Self::build(RuntimeOptions::default(), true, DiskCache::default_dir())?;
        *shared = Some(Arc::downgrade(&runtime.0));
        Ok(runtime)
    }

    /// Keeps module calls under deadlines while the guard lives. The shared runtime's ticker
    /// sleeps while nobody holds one, and while only activated instances hold one but no audio
    /// runs it merely watches for audio (see `sandbox.rs`), so idle instances cost almost no
    /// wake-ups; other runtimes tick always and the guard does nothing. Take one before
    /// calling into modules outside the audio thread (`always`: a worker loading a module),
    /// and from activation to deactivation (not `always`). Never on the audio thread (it
    /// locks).
    pub fn busy(&self, always: bool) -> Option<Busy> {
        self.ticker.as_ref().map(|t| t.busy(always))
    }

    /// Whether two handles share one runtime.
    pub fn same(&self, other: &Runtime) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Creates a runtime with other isolation settings (for measuring their cost).
    pub fn with_options(options: RuntimeOptions) -> Result<Self, LoadError> {
        Self::build(options, false, None)
    }

    /// Creates a runtime that keeps compiled modules in `dir` (see `disk_cache.rs`).
    pub fn with_disk_cache(options: RuntimeOptions, dir: PathBuf) -> Result<Self, LoadError> {
        Self::build(options, false, Some(dir))
    }

    /// Creates a runtime whose ticker sleeps while no [`Busy`] guard is held (`idle`), with
    /// compiled modules kept in `disk`.
    fn build(
        options: RuntimeOptions,
        idle: bool,
        disk: Option<PathBuf>,
    ) -> Result<Self, LoadError> {
        let (engine, linker) =
            jit::configured(options.signals_based_traps, options.epoch_interruption)?;
        let ticker = if options.epoch_interruption {
            let period = sandbox::tick_period(options.min_block_budget);
            let ticker = Ticker::start(engine.clone(), idle, period)
                .map_err(|e| LoadError::Instantiate(format!("cannot start a thread: {e}")))?;
            Some(Arc::new(ticker))
        } else {
            None
        };
        let free = if options.epoch_interruption
            && (options.skip_epochs_when_bounded || options.stop_checks)
        {
            let (engine, linker) = jit::configured(options.signals_based_traps, false)?;
            Some(Free {
                engine,
                linker: Arc::new(linker),
            })
        } else {
            None
        };
        Ok(Self(Arc::new(RuntimeInner {
            engine,
            linker: Arc::new(linker),
            cache: Mutex::new(Vec::new()),
            compiling: Mutex::new(Vec::new()),
            compiles: Default::default(),
            disk: disk.map(DiskCache::new),
            disk_loads: Default::default(),
            ticker,
            free,
            options,
        })))
    }
}

impl Runtime {
    /// How this runtime interrupts a module with the code of `binary`.
    fn watchdog(&self, binary: &[u8], tiering: Tiering) -> Watchdog {
        let o = &self.options;
        if self.ticker.is_none() {
            Watchdog::Off
        } else if o.skip_epochs_when_bounded && super::bounds::analyse(binary).is_ok() {
            Watchdog::Proven
        } else if o.stop_checks && tiering == Tiering::Jit {
            // The interpreter cannot run stop checks (they load their flag atomically, and it
            // has no threads), so a module it may run is interrupted by epochs once compiled.
            Watchdog::StopChecks
        } else {
            Watchdog::Epochs
        }
    }

    /// The engine and linker for a module interrupted by `watchdog`: epochs need an engine of
    /// their own.
    fn engines(&self, watchdog: Watchdog) -> (&Engine, &Linker<HostState>) {
        match &self.free {
            Some(free) if watchdog != Watchdog::Epochs => (&free.engine, &free.linker),
            _ => (&self.engine, &self.linker),
        }
    }

    /// The stop words the ticker checks; `None` without a ticker.
    pub(crate) fn watches(&self) -> Option<&Arc<super::stop::Watches>> {
        self.ticker.as_ref().map(|t| t.watches())
    }

    /// How far the epoch lags the clock (see `sandbox::Credit`); `None` without a ticker.
    pub(crate) fn credit(&self) -> Option<Arc<sandbox::Credit>> {
        self.ticker.as_ref().map(|t| t.credit())
    }

    /// Whether the epoch ticker got real-time scheduling (see `sandbox.rs`).
    pub fn realtime_ticker(&self) -> bool {
        self.ticker.as_ref().is_some_and(|t| t.realtime())
    }

    /// Looks a source up in the compiled-module cache, compiled for `tiering`.
    fn cached(&self, source: &Source, hash: u64, tiering: Tiering) -> Option<Patch> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let i = cache.iter().rposition(|p| {
            p.0.hash == hash && p.0.tiering == tiering && p.0.source.bytes == source.bytes
        })?;
        let hit = cache.remove(i);
        cache.push(hit.clone());
        Some(hit)
    }

    /// Validates, checks and compiles a module (a Faust `.dsp` file through the Faust compiler
    /// first). [`Runtime::compile`] (in `describe.rs`) then adds to a WCLAP's metadata what
    /// only running it tells.
    ///
    /// Recently compiled modules with the same bytes are reused from a cache.
    pub(crate) fn compile_module(
        &self,
        source: Source,
        tiering: Tiering,
    ) -> Result<Patch, LoadError> {
        // Faust source becomes the module the Faust compiler writes; the patch keeps that
        // module as its source bytes, so a saved project reopens without the compiler.
        let source = match &source.path {
            Some(path) if super::faust::is_source(path) && !source.bytes.starts_with(b"\0asm") => {
                Source {
                    bytes: super::faust::compile_source(&source.bytes, path)?.into(),
                    path: source.path.clone(),
                }
            }
            _ => source,
        };
        if source.bytes.len() > sandbox::MODULE_SIZE_CAP {
            return Err(LoadError::Limit(format!(
                "the module is {:.1} MiB; Wasp loads modules up to {} MiB",
                source.bytes.len() as f64 / (1 << 20) as f64,
                sandbox::MODULE_SIZE_CAP >> 20
            )));
        }
        let hash = fnv1a(&source.bytes);
        // One compile per module at a time: others wait for it and take it from the cache.
        let _claim = loop {
            if self.cached(&source, hash, tiering).is_some() {
                break None;
            }
            match self.claim(hash) {
                Ok(claim) => break Some(claim),
                Err(flight) => flight.wait(),
            }
        };
        if let Some(hit) = self.cached(&source, hash, tiering) {
            if hit.0.source.path == source.path {
                return Ok(hit);
            }
            // Same bytes from another file: share the compiled code, keep the new path.
            return Ok(Patch(Arc::new(PatchInner {
                code: hit.0.code.clone(),
                meta: hit.0.meta.clone(),
                layout: hit.0.layout,
                source,
                hash,
                initial_memory: hit.0.initial_memory,
                watchdog: hit.0.watchdog,
                kind: hit.0.kind,
                log: hit.0.log.clone(),
                plugin_id: hit.0.plugin_id.clone(),
                plugins: hit.0.plugins.clone(),
                plugin_index: hit.0.plugin_index,
                tiering,
            })));
        }
        let binary = to_binary(&source.bytes)?;
        let kind = if super::wclap::is_wclap(&binary) {
            Kind::Wclap { described: false }
        } else {
            Kind::Module
        };
        let binary = adapted(binary)?;
        let (meta, initial_memory) = validate(&binary)?;
        let mut watchdog = self.watchdog(&binary, tiering);
        // The block driver (and stop checks) go into the module before it is compiled (see
        // `driver.rs`); the disk cache is keyed by the bytes compiled, driver included.
        let stops = watchdog == Watchdog::StopChecks;
        let binary = match super::driver::inject(&binary, stops)? {
            Some(with_driver) => Cow::Owned(with_driver),
            None => {
                // Nothing added (the contract check will say why): no stop checks either.
                if stops {
                    watchdog = Watchdog::Epochs;
                }
                binary
            }
        };
        // For a tier-up, every memory and mutable global is exported, so the interpreter's
        // instance can hand all of its state to the compiled one (see `expose.rs`).
        let (binary, exact) = match tiering {
            Tiering::TierUp => match super::expose::expose_state(&binary)? {
                Some(exposed) => (Cow::Owned(exposed), initial_memory <= TIER_UP_MEMORY),
                None => (binary, false),
            },
            _ => (binary, false),
        };
        let types = ModuleTypes::read(&binary)?;
        let layout = contract::check(&types, &meta)?;
        let code = Arc::new(Code {
            binary: binary.into_owned().into(),
            types,
            jit: std::sync::OnceLock::new(),
            exact,
        });
        match tiering {
            Tiering::Interpreter => {}
            // Compiled code on disk loads in a moment: then there is nothing to tier up from.
            Tiering::TierUp if exact => {
                if let Some(module) = self.load_from_disk(&code, watchdog) {
                    let _ = code.jit.set(module);
                }
            }
            Tiering::Jit | Tiering::TierUp => {
                self.jit_module(&code, watchdog)?;
            }
        }
        let patch = Patch(Arc::new(PatchInner {
            code,
            meta,
            layout,
            source,
            hash,
            initial_memory,
            watchdog,
            kind,
            log: String::new(),
            plugin_id: String::new(),
            plugins: Vec::new(),
            plugin_index: 0,
            tiering,
        }));
        self.remember(patch.clone());
        Ok(patch)
    }

    /// The code compiled by wasmtime, compiling it (or loading it from the disk cache) if
    /// nobody has yet. Slow: worker threads only.
    fn jit_module<'a>(&self, code: &'a Code, watchdog: Watchdog) -> Result<&'a Module, LoadError> {
        if let Some(module) = code.jit.get() {
            return Ok(module);
        }
        let module = match self.load_from_disk(code, watchdog) {
            Some(module) => module,
            None => {
                let (engine, _) = self.engines(watchdog);
                self.compiles
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let module = Module::from_binary(engine, &code.binary)
                    .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
                if let Some(disk) = &self.disk {
                    disk.store(&code.binary, engine, &module);
                }
                module
            }
        };
        // Two threads may compile at once (a tier-up and a second instance); either result
        // is the same code.
        Ok(code.jit.get_or_init(|| module))
    }

    /// The code compiled for `code` from the disk cache, if it is there.
    fn load_from_disk(&self, code: &Code, watchdog: Watchdog) -> Option<Module> {
        let (engine, _) = self.engines(watchdog);
        let module = self.disk.as_ref()?.load(&code.binary, engine)?;
        self.disk_loads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(module)
    }

    /// Compiles `patch` with wasmtime if it is not yet (for a tier-up). Slow: worker threads
    /// only.
    pub(crate) fn compile_jit(&self, patch: &Patch) -> Result<(), LoadError> {
        self.jit_module(&patch.0.code, patch.0.watchdog).map(|_| ())
    }

    /// The runtime that should play `patch` now, by the tiering it was compiled for: for a
    /// tier-up, the compiled code if it is at hand, else the interpreter.
    pub(crate) fn tier_for(&self, patch: &Patch) -> Tier {
        match patch.0.tiering {
            Tiering::Jit => Tier::Jit,
            Tiering::Interpreter => Tier::Interpreter,
            Tiering::TierUp if patch.0.code.exact && patch.0.code.jit.get().is_none() => {
                Tier::Interpreter
            }
            Tiering::TierUp => Tier::Jit,
        }
    }

    /// Instantiates `patch` on `tier` with `host` as its store's data, running its start
    /// function under `deadline`. Worker threads only.
    pub(crate) fn instantiate(
        &self,
        patch: &Patch,
        tier: Tier,
        host: HostState,
        deadline: Deadline,
    ) -> Result<AnyMachine, StartError> {
        let failed = |e: LoadError| StartError {
            kind: None,
            message: e.to_string(),
        };
        Ok(match tier {
            Tier::Jit => {
                let watchdog = patch.0.watchdog;
                let module = self.jit_module(&patch.0.code, watchdog).map_err(failed)?;
                let (engine, linker) = self.engines(watchdog);
                let epochs = watchdog == Watchdog::Epochs;
                let credit = if epochs { self.credit() } else { None };
                AnyMachine::Jit(Box::new(JitMachine::new(
                    engine, linker, module, host, epochs, credit, deadline,
                )?))
            }
            Tier::Interpreter => {
                let metered = patch.0.watchdog != Watchdog::Off;
                AnyMachine::Interpreter(Box::new(InterpMachine::new(
                    &patch.0.code.binary,
                    host,
                    deadline,
                    metered,
                )?))
            }
        })
    }

    /// Keeps `patch` in the cache of recent compiles.
    pub(crate) fn remember(&self, patch: Patch) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() == CACHE_ENTRIES {
            cache.remove(0);
        }
        cache.retain(|p| {
            !(p.0.hash == patch.0.hash
                && p.0.tiering == patch.0.tiering
                && p.0.source.bytes == patch.0.source.bytes)
        });
        cache.push(patch);
    }

    /// How many modules this runtime has compiled (cache misses).
    pub fn compiles(&self) -> u64 {
        self.compiles.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many modules this runtime loaded compiled from its disk cache.
    pub fn disk_loads(&self) -> u64 {
        self.disk_loads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Claims the compile of `hash`, or returns the compile under way.
    fn claim(&self, hash: u64) -> Result<Claim<'_>, Arc<Flight>> {
        let mut compiling = self.compiling.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, flight)) = compiling.iter().find(|(h, _)| *h == hash) {
            return Err(flight.clone());
        }
        let flight = Arc::new(Flight::default());
        compiling.push((hash, flight.clone()));
        Ok(Claim {
            runtime: self,
            hash,
            flight,
        })
    }

    /// Compiles without consulting or filling the cache (for measuring cold compiles), for the
    /// runtime's own tiering.
    pub fn compile_uncached(&self, source: Source) -> Result<Patch, LoadError> {
        let fresh = Runtime(Arc::new(RuntimeInner {
            engine: self.engine.clone(),
            linker: self.linker.clone(),
            cache: Mutex::new(Vec::new()),
            compiling: Mutex::new(Vec::new()),
            compiles: Default::default(),
            disk: None,
            disk_loads: Default::default(),
            ticker: self.ticker.clone(),
            free: self.free.clone(),
            options: self.options,
        }));
        fresh.compile(source)
    }
}

/// A compile under way, which other threads can wait for.
#[derive(Default)]
struct Flight {
    done: Mutex<bool>,
    finished: std::sync::Condvar,
}

impl Flight {
    fn wait(&self) {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        while !*done {
            done = self.finished.wait(done).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// The claim on a compile; ends it (and wakes whoever waits) however the compile ends.
struct Claim<'a> {
    runtime: &'a RuntimeInner,
    hash: u64,
    flight: Arc<Flight>,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut compiling = self
            .runtime
            .compiling
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        compiling.retain(|(h, f)| !(*h == self.hash && Arc::ptr_eq(f, &self.flight)));
        *self.flight.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.flight.finished.notify_all();
    }
}

/// Turns the user's bytes into a WebAssembly binary, parsing text if that is what they are.
pub(crate) fn to_binary(bytes: &[u8]) -> Result<Cow<'_, [u8]>, LoadError> {
    if bytes.is_empty() {
        return Err(LoadError::Empty);
    }
    if bytes.starts_with(b"\0asm") {
        return Ok(Cow::Borrowed(bytes));
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(LoadError::NotWasm);
    };
    let trimmed = text.trim_start();
    if !(trimmed.starts_with('(') || trimmed.starts_with(";;")) {
        return Err(LoadError::NotWasm);
    }
    let syntax = |e: wast::Error| {
        let (line, col) = e.span().linecol_in(text);
        LoadError::Syntax {
            line: line + 1,
            column: col + 1,
            message: e.message(),
        }
    };
    let buf = wast::parser::ParseBuffer::new(text).map_err(syntax)?;
    let mut wat = wast::parser::parse::<wast::Wat>(&buf).map_err(syntax)?;
    Ok(Cow::Owned(wat.encode().map_err(syntax)?))
}

/// The module with Wasp's contract added if it is a WCLAP (see `wclap.rs`) or the Faust
/// compiler wrote it (see `faust.rs`).
fn adapted(binary: Cow<'_, [u8]>) -> Result<Cow<'_, [u8]>, LoadError> {
    if let Some(adapted) = super::wclap::adapt(&binary)? {
        return Ok(Cow::Owned(adapted));
    }
    Ok(match super::faust::adapt(&binary)? {
        Some(adapted) => Cow::Owned(adapted),
        None => binary,
    })
}

/// Reads a module's `wasp` metadata (binary or text) without validating or compiling it, for
/// showing a module's parameters before it can be prepared. A module without the section
/// gets the default metadata.
pub fn read_metadata(bytes: &[u8]) -> Result<Metadata, LoadError> {
    let binary = adapted(to_binary(bytes)?)?;
    for payload in wasmparser::Parser::new(0).parse_all(&binary) {
        if let wasmparser::Payload::CustomSection(section) =
            payload.map_err(LoadError::malformed)?
        {
            if section.name() == SECTION_NAME {
                return Metadata::parse(section.data());
            }
        }
    }
    Ok(Metadata::default())
}

/// A module the validator refused: threads get a message of their own, since a module built
/// with them is well formed and its author can rebuild it without.
fn invalid(e: wasmparser::BinaryReaderError) -> LoadError {
    let message = e.message();
    if message.contains("threads support is not enabled")
        || message.contains("threads must be enabled")
        || message.contains("shared-everything-threads")
    {
        return LoadError::Abi(format!(
            "the module uses WebAssembly threads (atomic instructions or a shared memory, at \
             offset {}); Wasp runs a module on one thread: build it without the `atomics` \
             target feature",
            e.offset()
        ));
    }
    LoadError::malformed(e)
}

/// Validates a binary and extracts its `wasp` metadata section and the bytes of memory it
/// declares at start.
fn validate(binary: &[u8]) -> Result<(Metadata, u64), LoadError> {
    // Threads are Wasp's alone (its stop checks load the flag atomically): a module runs on
    // one thread, and a shared memory could be seen by another instance.
    let features = wasmparser::WasmFeatures::default()
        - wasmparser::WasmFeatures::THREADS
        - wasmparser::WasmFeatures::SHARED_EVERYTHING_THREADS;
    let mut validator = wasmparser::Validator::new_with_features(features);
    let mut meta = None;
    let mut totals = Totals::default();
    for payload in wasmparser::Parser::new(0).parse_all(binary) {
        let payload = payload.map_err(LoadError::malformed)?;
        totals.add(&payload)?;
        if let wasmparser::Payload::CustomSection(section) = &payload {
            if section.name() == SECTION_NAME {
                if meta.is_some() {
                    return Err(LoadError::Metadata(
                        "the module has more than one `wasp` section".into(),
                    ));
                }
                meta = Some(Metadata::parse(section.data())?);
            }
        }
        if let wasmparser::ValidPayload::Func(func, body) =
            validator.payload(&payload).map_err(invalid)?
        {
            let mut func = func.into_validator(Default::default());
            func.validate(&body).map_err(invalid)?;
        }
    }
    Ok((meta.unwrap_or_default(), totals.memory_bytes))
}

/// What a module declares, summed over all its memories and tables, checked against the
/// sandbox's caps as the sections are read.
#[derive(Default)]
struct Totals {
    memories: usize,
    memory_bytes: u64,
    tables: usize,
    table_elements: u64,
}

impl Totals {
    /// Adds one section's memories or tables and refuses the module, with the totals, once
    /// they pass a cap.
    fn add(&mut self, payload: &wasmparser::Payload<'_>) -> Result<(), LoadError> {
        match payload {
            wasmparser::Payload::MemorySection(reader) => {
                for memory in reader.clone() {
                    let memory = memory.map_err(LoadError::malformed)?;
                    let page = 1u64 << memory.page_size_log2.unwrap_or(16);
                    self.memories += 1;
                    self.memory_bytes = self
                        .memory_bytes
                        .saturating_add(memory.initial.saturating_mul(page));
                }
            }
            wasmparser::Payload::TableSection(reader) => {
                for table in reader.clone() {
                    let table = table.map_err(LoadError::malformed)?;
                    self.tables += 1;
                    self.table_elements = self.table_elements.saturating_add(table.ty.initial);
                }
            }
            _ => return Ok(()),
        }
        let mib = |bytes: u64| bytes as f64 / (1u64 << 20) as f64;
        if self.memories > sandbox::MAX_MEMORIES {
            return Err(LoadError::Limit(format!(
                "the module declares {} memories; Wasp allows at most {}",
                self.memories,
                sandbox::MAX_MEMORIES
            )));
        }
        if self.tables > sandbox::MAX_TABLES {
            return Err(LoadError::Limit(format!(
                "the module declares {} tables; Wasp allows at most {}",
                self.tables,
                sandbox::MAX_TABLES
            )));
        }
        if self.memory_bytes > sandbox::MEMORY_CAP {
            let what = if self.memories == 1 {
                "the module asks for".to_owned()
            } else {
                format!("the module's {} memories ask for", self.memories)
            };
            return Err(LoadError::Limit(format!(
                "{what} {:.1} MiB of memory at start; Wasp allows at most {} MiB for all of a \
                 module's memory",
                mib(self.memory_bytes),
                sandbox::MEMORY_CAP >> 20
            )));
        }
        if self.table_elements > sandbox::TABLE_CAP as u64 {
            return Err(LoadError::Limit(format!(
                "the module asks for {} table entries at start ({} tables); Wasp allows at \
                 most {} in all",
                self.table_elements,
                self.tables,
                sandbox::TABLE_CAP
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_text_and_binary() {
        assert_eq!(to_binary(b"").unwrap_err(), LoadError::Empty);
        assert_eq!(to_binary(b"hello").unwrap_err(), LoadError::NotWasm);
        assert_eq!(to_binary(&[0xff, 0xfe, 0]).unwrap_err(), LoadError::NotWasm);
        let bin = to_binary(b"  ;; comment\n(module)").unwrap();
        assert!(bin.starts_with(b"\0asm"));
        assert!(matches!(to_binary(&bin).unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn threads_are_refused_with_a_message_of_their_own() {
        for text in [
            r#"(module (memory 1) (func (export "dsp") (param f32) (result f32)
                 (drop (i32.atomic.load (i32.const 0))) (local.get 0)))"#,
            r#"(module (memory 1 1 shared)
                 (func (export "dsp") (param f32) (result f32) (local.get 0)))"#,
        ] {
            let binary = wat::parse_str(text).unwrap();
            match validate(&binary) {
                Err(LoadError::Abi(m)) => assert!(m.contains("WebAssembly threads"), "{m}"),
                other => panic!("{:?}", other.map(|_| ())),
            }
        }
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let err = to_binary(b"(module\n  (func $f (result f32)\n    f32.cnst 1))").unwrap_err();
        match err {
            LoadError::Syntax { line, column, .. } => assert_eq!((line, column), (3, 5)),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }
}
