//! The WebAssembly engine: loading, contract checks, instances, the worker and the audio side.
//!
//! This tree never imports the plugin framework or the editor, so everything in it runs and is
//! tested headless. The plugin crate root is a thin adapter around it.
//!
//! Threads: a [`Controller`] (any non-audio thread) asks the [`Preparer`]'s worker thread to
//! load or re-prepare a module; the worker compiles a [`Patch`], instantiates a
//! [`DspInstance`] and queues it; the [`AudioEngine`] on the audio thread commits it at the next
//! block boundary and hands the old instance back to be dropped on the worker.

mod audio;
mod bounds;
mod contract;
mod disk_cache;
mod driver;
mod error;
mod events;
mod imports;
mod instance;
mod metadata;
mod migrate;
mod params;
mod patch;
mod pool;
mod preparer;
mod runtime;
mod sandbox;
mod slots;
mod status;

pub(crate) use audio::piece;
pub use audio::{
    AudioEngine, CallGuard, FaultOutput, Processed, CROSSFADE_SECONDS, ROLLBACK_SECONDS,
};
pub use contract::{DspShape, Layout};
pub use error::{Fault, LoadError, TrapKind};
pub use events::{valid as transport_valid, ModuleEvent, Transport, TRANSPORT_BYTES};
pub use imports::IMPORT_MODULE;
pub use instance::{DspInstance, Entry, ProcessConfig};
pub use metadata::{
    Address, Channels, Endless, Metadata, ParamSpec, RegionKind, Scale, StateRegion, Tail,
    CONTRACT_VERSION, SECTION_NAME,
};
pub use migrate::{SwapReport, STAGE_BYTES};
pub use params::MAX_PARAMS;
pub use patch::{Patch, Source};
pub use preparer::{
    Bindings, Controller, Crossfade, LoadOptions, LoadOutcome, Preparer, SavedParams,
    DEFAULT_MODULE, MAIN_THREAD_WAIT,
};
pub use runtime::{read_metadata, Runtime, RuntimeOptions};
pub use sandbox::{
    Busy, Deadline, MemoryAccount, Policed, BLOCK_BUDGET, LOAD_BUDGET, MAX_MEMORIES, MAX_TABLES,
    MEMORY_CAP, MIN_BLOCK_BUDGET, MODULE_SIZE_CAP, OFFLINE_BLOCK_BUDGET, OUTPUT_CEILING,
    PLUGIN_MEMORY_CAP, TABLE_CAP, TICK, WASM_STACK,
};
pub use slots::{HostValues, SlotMap, UNBOUND};
pub use status::{EngineShared, FaultCounters, LoadStatus, ModuleInfo};
