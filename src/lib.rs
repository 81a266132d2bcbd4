//! Wasp: a CLAP and VST3 plugin that runs sandboxed WebAssembly DSP and swaps it live.
//!
//! The crate root re-exports the engine's core types (which know nothing of the plugin
//! framework) and exports the plugin, a thin adapter over them, to CLAP and VST3 hosts.

mod editor;
mod engine;
mod host_params;
mod library;
mod meters;
mod params;
mod plugin;

pub use engine::*;
pub use host_params::slot_id;
pub use library::{builtin, Builtin, LIBRARY};
pub use meters::MeterShared;
pub use params::{SavedModule, WaspParams};
pub use plugin::{Effect, Flavor, Instrument, Wasp, WaspInstrument, WaspPlugin, INSTRUMENT_MODULE};

nice_plug::nice_export_clap!(Wasp, WaspInstrument);
nice_plug::nice_export_vst3!(Wasp, WaspInstrument);
