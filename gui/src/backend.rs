//! What the editor needs from the plugin: a [`Backend`] to read status from and send commands to.
//!
//! The editor knows nothing of wasmtime or of the audio thread. The plugin implements
//! [`Backend`] on top of its engine; the editor calls it from the GUI thread only, once per
//! frame, so every method must return quickly and never wait on a compile.

use std::path::PathBuf;

/// The plugin side of the editor. Implementations are shared between the GUI thread and
/// whichever thread opened the editor, hence `Send + Sync`.
pub trait Backend: Send + Sync + 'static {
    /// Fills `view` with the current status. Called once per frame; reuse `view`'s buffers.
    fn snapshot(&self, view: &mut View);

    /// Copies the most recent output samples (a mono mix, oldest first) into `out`, replacing
    /// its contents; at most `out.capacity()` or a backend-chosen length.
    fn scope(&self, out: &mut Vec<f32>);

    /// Sends a request. Never blocks on compilation: the result shows up in later snapshots.
    fn send(&self, command: Command);

    /// The plain `value` of the running module's parameter `index` as text, in its unit.
    fn param_text(&self, index: usize, value: f32) -> String {
        let _ = index;
        format!("{value:.2}")
    }

    /// The modules built into the plugin, which the editor lists under "Library". Called when
    /// the list is opened.
    fn library(&self) -> Vec<LibraryEntry> {
        Vec::new()
    }

    /// Reads a value typed for parameter `index`; `None` if it is not one.
    fn param_parse(&self, index: usize, text: &str) -> Option<f32> {
        let _ = index;
        text.trim().parse().ok()
    }
}

/// A request from the editor.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Load a `.wasm`, `.wat` or Faust `.dsp` file and swap it in.
    LoadFile(PathBuf),
    /// Load the built-in module of this name (one of [`Backend::library`]) and swap it in.
    LoadBuiltin(String),
    /// Load the running module's file again.
    Reload,
    /// Follow (or stop following) the running module's file: reload it when it changes.
    SetWatch(bool),
    /// The user starts changing parameter `index` (a drag begins): the host records the
    /// changes that follow as one gesture.
    BeginParam { index: usize },
    /// Set the plain value of the running module's parameter at `index`.
    SetParam { index: usize, value: f32 },
    /// The gesture on parameter `index` is over.
    EndParam { index: usize },
    /// Play another of the running WCLAP bundle's plugins (an index into
    /// [`ModuleView::plugins`]).
    PickPlugin(usize),
    /// Run modules on another runtime (an index into [`View::runtimes`]).
    SetRuntime(usize),
}

/// A module built into the plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct LibraryEntry {
    pub name: String,
    /// What it does, in a line.
    pub about: String,
    /// Whether it plays notes.
    pub instrument: bool,
}

/// Everything the editor draws, as of one snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct View {
    /// The module that plays now.
    pub module: Option<ModuleView>,
    /// The most recent successful swap.
    pub last_swap: Option<SwapView>,
    /// The last load error, cleared by the next successful load.
    pub error: Option<String>,
    /// The last crash of a running module.
    pub fault: Option<String>,
    pub faults: FaultView,
    /// Whether the running module's file is followed for changes.
    pub watching: bool,
    pub meters: MeterView,
    /// The running module's declared parameters, with their current values.
    pub params: Vec<ParamView>,
    /// Whether this is the instrument, which shows a keyboard strip.
    pub instrument: bool,
    /// Keys held now, one bit per MIDI key.
    pub held_notes: u128,
    /// Note-ons received so far.
    pub notes_seen: u64,
    /// The runtimes modules can run on, as the editor names them, and the one chosen.
    pub runtimes: Vec<String>,
    pub runtime: usize,
}

/// The running module, as its metadata and file describe it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModuleView {
    /// Bumps on every commit, so the editor can tell a reload of the same file apart.
    pub generation: u64,
    pub name: String,
    pub author: String,
    pub version: String,
    pub path: Option<PathBuf>,
    pub size: usize,
    /// Short hex hash of the module's bytes.
    pub hash: String,
    /// The contract version the module targets.
    pub contract: u32,
    /// "mono" or "stereo".
    pub channels: String,
    /// True for Wasp's built-in default module.
    pub builtin: bool,
    /// The entry point its audio goes through, as the editor shows it.
    pub entry: String,
    /// The runtime that plays it (compiled code or the interpreter), as the editor shows it.
    pub runtime: String,
    /// What a WCLAP logged and printed when it was first run; empty for other modules.
    pub log: String,
    /// The plugins a WCLAP bundle holds, by name, and which of them plays; empty for other
    /// modules.
    pub plugins: Vec<String>,
    pub plugin_index: usize,
}

/// What a swap did with the running state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SwapView {
    /// Generation of the module the swap committed.
    pub generation: u64,
    /// Milliseconds from the request to the prepared engine being handed to the audio thread.
    pub prepare_ms: Option<f64>,
    pub carried: Vec<String>,
    pub resized: Vec<String>,
    pub reset: Vec<String>,
    pub dropped: Vec<String>,
    /// True when the swap crossfaded between the old and the new module.
    pub crossfade: bool,
}

/// Counters from the sandbox.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FaultView {
    /// Traps (crashes) of running modules.
    pub traps: u64,
    /// Calls stopped for running past their time budget (a subset of `traps`).
    pub timeouts: u64,
    /// Automatic rollbacks to the previous module after a crash right after a swap.
    pub rollbacks: u64,
    /// NaN or infinite output samples replaced by silence.
    pub non_finite: u64,
    /// Subnormal output samples flushed to zero.
    pub subnormal: u64,
    /// Output samples clamped to the ceiling.
    pub clipped: u64,
}

/// Live levels, refreshed by the audio thread.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MeterView {
    /// Time spent in the module per block as a share of the block's real-time budget: mean
    /// over the last few hundred milliseconds, and the peak since the previous snapshot.
    pub cpu_average: f32,
    pub cpu_peak: f32,
    /// Peak absolute sample per channel (left, right) since the previous snapshot.
    pub input_peak: [f32; 2],
    pub output_peak: [f32; 2],
    pub sample_rate: f32,
}

/// One declared parameter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParamView {
    pub id: String,
    pub name: String,
    pub unit: String,
    pub min: f32,
    pub max: f32,
    pub default: f32,
    pub value: f32,
    /// Logarithmic scale (then `min > 0`).
    pub logarithmic: bool,
    /// The values it takes, named, for a parameter that takes only some (then a menu shows
    /// them instead of a slider).
    pub choices: Vec<(String, f32)>,
    /// What it does, in a sentence (may be empty).
    pub about: String,
}
