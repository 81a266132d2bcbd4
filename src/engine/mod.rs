//! The WebAssembly engine: loading, contract checks, instances, the worker and the audio side.
//!
//! This tree never imports the plugin framework or the editor, so everything in it runs and is
//! tested headless. The plugin crate root is a thin adapter around it.
//!
//! # A module's life, one name per stage
//!
//! 1. [`Source`]: the bytes as read (binary or text) and where they came from.
//! 2. [`Patch`]: validated, checked against the contract, the block driver added
//!    (`driver.rs`), compiled by the shared [`Runtime`] (once per process and content, and
//!    kept on disk).
//! 3. [`DspInstance`]: instantiated in a store of its own, `wasp_init` run, on a worker.
//! 4. [`Prepared`]: the instance with its commit plan, buffers and starting parameter values,
//!    in transit to the audio thread.
//! 5. Running, then previous (kept a second for a rollback), then retired: handed back to the
//!    worker to be dropped. The [`AudioEngine`] owns the first two.
//!
//! # Threads
//!
//! A [`Controller`] (any non-audio thread) asks its worker, which the [`Preparer`] runs on the
//! process's shared pool, to load or re-prepare a module; the worker makes a [`Prepared`] and
//! queues it; the [`AudioEngine`] on the audio thread commits it at the next block boundary and
//! hands the old instance back to be dropped on the worker.
//!
//! # Layers
//!
//! Each file imports only files of the layers below it:
//! 1. `error`, `events`, `params`, `stop` (stop words), `bounds`, `disk_cache`, `watch`,
//!    `rewrite` (adding items to a binary), `types` (a module's imports and exports),
//!    `expose` (exporting a module's whole state), then
//!    `sandbox` (limits, deadlines, the ticker, the store's data)
//! 2. `metadata`, `imports`, `wasi`, `slots`, then `backend` (the `Machine` trait and the two
//!    runtimes behind it, see docs/RUNTIMES.md)
//! 3. `contract`, `migrate` (state layouts, swap plans, crossfade choice, swap reports)
//! 4. `driver`, `patch`, `status` (the audio thread's lock-free counters)
//! 5. `faust` (Faust programs made Wasp modules), then `runtime` (engines, compile cache,
//!    ticker)
//! 6. `instance`
//! 7. `handoff` (what the worker gives the audio thread)
//! 8. `audio` (audio thread) and `controller` (any thread), then `pool`
//! 9. `worker` (worker side: the only file that knows both the audio engine's queues and the
//!    controller's requests)
//!
//! "Engine" alone names nothing here: [`AudioEngine`] is the audio side of one plugin
//! instance, wasmtime's `Engine` (compiler configuration) lives inside the [`Runtime`], and
//! each instance on the interpreter has a wasmi `Engine` of its own (`backend/interp.rs`).

mod audio;
mod backend;
mod bounds;
mod contract;
mod controller;
mod describe;
mod disk_cache;
mod driver;
mod error;
mod events;
mod expose;
mod faust;
mod handoff;
mod imports;
mod instance;
mod metadata;
mod migrate;
mod params;
mod patch;
mod pool;
mod rewrite;
mod runtime;
mod sandbox;
mod slots;
mod status;
mod stop;
mod types;
mod wasi;
mod watch;
mod wclap;
mod worker;

pub(crate) use audio::piece;
pub use audio::{
    AudioEngine, CallGuard, FaultOutput, Processed, BLEND_SECONDS, CROSSFADE_SECONDS,
    ROLLBACK_SECONDS,
};
pub use backend::{Tier, Tiering};
pub use contract::{DspShape, Layout, ProcessIssue};
pub use controller::{
    Bindings, Controller, LoadOptions, LoadOutcome, LoadStatus, ModuleInfo, SavedParams,
    CLAP_STATE_WAIT, MAIN_THREAD_WAIT,
};
pub use describe::pick_wclap_plugin;
pub use error::{Fault, LoadError, TrapKind};
pub use events::{valid as transport_valid, ModuleEvent, Transport, TRANSPORT_BYTES};
pub use handoff::Prepared;
pub use imports::IMPORT_MODULE;
pub use instance::{DspInstance, Entry, ProcessConfig};
pub use metadata::{
    Address, Channels, Choice, Endless, Metadata, ParamSpec, RegionKind, Scale, StateRegion, Tail,
    CONTRACT_VERSION, MAX_CHOICES, SECTION_NAME,
};
pub use migrate::{Crossfade, SwapReport, STAGE_BYTES};
pub use params::MAX_PARAMS;
pub use patch::{Patch, Source, Watchdog};
pub use runtime::{read_metadata, Runtime, RuntimeOptions, TIER_UP_MEMORY};
pub use sandbox::{
    fuel_for, Busy, Deadline, MemoryAccount, Policed, BLOCK_BUDGET, FUEL_PER_SECOND, LOAD_BUDGET,
    MAX_MEMORIES, MAX_TABLES, MEMORY_CAP, MIN_BLOCK_BUDGET, MODULE_SIZE_CAP, OFFLINE_BLOCK_BUDGET,
    OUTPUT_CEILING, PLUGIN_MEMORY_CAP, TABLE_CAP, TICK, WASM_STACK,
};
pub use slots::{HostValues, SlotMap, UNBOUND};
pub use status::{EngineShared, FaultCounters};
pub use worker::{Preparer, DEFAULT_MODULE};
