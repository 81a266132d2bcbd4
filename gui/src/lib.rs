//! Wasp's editor: an egui UI in a baseview window, with its own egui↔baseview glue so files
//! can be dragged onto it. It knows nothing of wasmtime or of the plugin framework: the plugin
//! implements [`Backend`] and opens the window with [`open`].

mod app;
mod backend;
mod browser;
mod pin;
mod renderer;
mod state;
mod translate;
mod window;

pub use backend::{
    Backend, Command, FaultView, LibraryEntry, MeterView, ModuleView, ParamView, SwapView, View,
};
pub use browser::is_module_file;
pub use state::{EditorState, SavedEditor, DEFAULT_SIZE, MIN_SIZE, RECENTS};
pub use window::{open, OpenOptions};

/// Re-exported so the plugin can build parent handles and host callbacks of the same version.
pub use baseview;
