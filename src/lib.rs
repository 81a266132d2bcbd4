//! Wasp: a CLAP and VST3 plugin that runs sandboxed WebAssembly DSP and swaps it live.
//!
//! The crate root re-exports the engine's core types (which know nothing of the plugin
//! framework) and exports the plugin, a thin adapter over them, to CLAP and VST3 hosts.

mod editor;
mod engine;
mod meters;
mod params;
mod plugin;

pub use engine::*;
pub use meters::MeterShared;
pub use params::{SavedModule, WaspParams};
pub use plugin::Wasp;

nice_plug::nice_export_clap!(Wasp);
nice_plug::nice_export_vst3!(Wasp);
