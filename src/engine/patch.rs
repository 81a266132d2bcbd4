//! `Patch`: a validated, compiled module with its metadata and source, ready to instantiate.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use super::contract::Layout;
use super::metadata::Metadata;
use super::types::ModuleTypes;

/// Where a module came from: its exact bytes (as the user supplied them, text or binary) and,
/// when it was loaded from disk, the path. Persisted in the plugin state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub bytes: Arc<[u8]>,
    pub path: Option<PathBuf>,
}

impl Source {
    /// A module given as bytes, with no file behind it.
    pub fn from_bytes(bytes: impl Into<Arc<[u8]>>) -> Self {
        Self {
            bytes: bytes.into(),
            path: None,
        }
    }

    /// Reads a module from a file, or a WCLAP from its `.wclap` folder. The size is checked
    /// before anything is read, and the read stops past
    /// [`MODULE_SIZE_CAP`](super::MODULE_SIZE_CAP) even where the size cannot be known
    /// beforehand (a pipe, a device).
    pub fn from_file(path: impl Into<PathBuf>) -> Result<Self, super::LoadError> {
        use std::io::Read;
        let path = path.into();
        let io = |e: std::io::Error| super::LoadError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        let cap = super::MODULE_SIZE_CAP as u64;
        let too_big = |len: u64| {
            super::LoadError::Limit(format!(
                "the module is {}; Wasp loads modules up to {} MiB",
                if len > cap + 1 {
                    format!("{:.1} MiB", len as f64 / (1 << 20) as f64)
                } else {
                    format!("more than {} MiB", cap >> 20)
                },
                cap >> 20
            ))
        };
        // A `.wclap` bundle is a folder holding the plugin's `module.wasm`.
        let module = path.join("module.wasm");
        let file_path = if path.is_dir() && module.is_file() {
            &module
        } else {
            &path
        };
        let file = std::fs::File::open(file_path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len > cap {
            return Err(too_big(len));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        file.take(cap + 1).read_to_end(&mut bytes).map_err(io)?;
        if bytes.len() as u64 > cap {
            return Err(too_big(bytes.len() as u64));
        }
        Ok(Self {
            bytes: bytes.into(),
            path: Some(path),
        })
    }

    /// A short, stable content hash (FNV-1a, 64 bit) for display and caching.
    pub fn hash(&self) -> u64 {
        fnv1a(&self.bytes)
    }
}

/// FNV-1a over bytes: stable across Rust versions, unlike `DefaultHasher`.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= b as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// A compiled module that passed every contract check. Cheap to clone; share it freely between
/// threads. Instantiating it is the worker's job (see [`crate::DspInstance`]).
#[derive(Clone)]
pub struct Patch(pub(crate) Arc<PatchInner>);

pub(crate) struct PatchInner {
    /// What runs: the bytes, and their compiled code once there is some. Shared by every
    /// patch of the same bytes (a renamed file, a WCLAP's described patch).
    pub code: Arc<Code>,
    pub meta: Metadata,
    pub layout: Layout,
    pub source: Source,
    pub hash: u64,
    /// Bytes of linear memory the module declares at start, all memories together.
    pub initial_memory: u64,
    /// How calls into the module are kept to their deadlines.
    pub watchdog: Watchdog,
    /// A Wasp module, or a WCLAP (see `wclap.rs`).
    pub kind: Kind,
    /// What the module printed or logged while it was first run (a WCLAP's description).
    pub log: String,
    /// A WCLAP's plugin id (from its descriptor); empty for other modules.
    pub plugin_id: String,
    /// The names of the plugins a WCLAP's factory holds, and which of them runs.
    pub plugins: Vec<String>,
    pub plugin_index: usize,
    /// The tiering it was compiled for: which runtime plays it (see `runtime.rs`).
    pub tiering: super::backend::Tiering,
}

/// The module as the runtimes take it, Wasp's additions (block driver, stop checks, adapters)
/// made, and its compiled code.
pub(crate) struct Code {
    /// The binary: what the interpreter translates and Cranelift compiles.
    pub binary: Arc<[u8]>,
    /// What it imports and exports, for the contract checks.
    pub types: ModuleTypes,
    /// Compiled by wasmtime, once: at once by a runtime that only compiles, on demand
    /// (tier-up) by the others (see `runtime.rs`).
    pub jit: OnceLock<wasmtime::Module>,
    /// Whether an instance can hand all of its state to another instance of the same code
    /// (see `expose.rs`), and is small enough to: then a tier-up starts it on the interpreter.
    pub exact: bool,
}

/// What kind of module a patch runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A module written to Wasp's contract (Faust's output included, once adapted).
    Module,
    /// A CLAP plugin compiled to WebAssembly, with Wasp's host added. `described` once its
    /// name and parameters, which only running it tells, are in the metadata.
    Wclap { described: bool },
}

/// How a runaway call into a module is interrupted. See docs/SANDBOX.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watchdog {
    /// Not at all: the runtime was made without interruption (to measure what it costs).
    Off,
    /// No need: every call provably ends quickly (see `bounds.rs`), so the module runs
    /// without any check.
    Proven,
    /// Wasp's stop checks at every loop head and function entry (see `stop.rs`).
    StopChecks,
    /// wasmtime's epoch interruption.
    Epochs,
}

impl Patch {
    /// What the module says about itself.
    pub fn metadata(&self) -> &Metadata {
        &self.0.meta
    }

    /// What the module exports, as found by the contract checks.
    pub fn layout(&self) -> &Layout {
        &self.0.layout
    }

    /// The bytes and path the module was loaded from.
    pub fn source(&self) -> &Source {
        &self.0.source
    }

    /// Content hash of the source bytes.
    pub fn hash(&self) -> u64 {
        self.0.hash
    }

    /// Whether every call into the module provably ends quickly, so it runs without any
    /// interruption check (see docs/SANDBOX.md).
    pub fn bounded(&self) -> bool {
        self.0.watchdog == Watchdog::Proven
    }

    /// Whether the module is a CLAP plugin compiled to WebAssembly (a WCLAP).
    pub fn is_wclap(&self) -> bool {
        matches!(self.0.kind, Kind::Wclap { .. })
    }

    /// What the module printed or logged while Wasp first ran it to read its description (a
    /// WCLAP's `clap.log` messages and standard output); empty for other modules.
    pub fn load_log(&self) -> &str {
        &self.0.log
    }

    /// A WCLAP's CLAP plugin id; empty for other modules. A new build of the same plugin keeps
    /// it, and a swap between the two carries the plugin's own state.
    pub fn plugin_id(&self) -> &str {
        &self.0.plugin_id
    }

    /// The names of the plugins a WCLAP's factory holds (empty for other modules), and the
    /// index of the one that runs. [`crate::pick_wclap_plugin`] chooses another.
    pub fn plugins(&self) -> (&[String], usize) {
        (&self.0.plugins, self.0.plugin_index)
    }

    /// The tiering it was compiled for.
    pub fn tiering(&self) -> super::backend::Tiering {
        self.0.tiering
    }

    /// How a runaway call into the module is interrupted.
    pub fn watchdog(&self) -> Watchdog {
        self.0.watchdog
    }

    /// A display name: the metadata name, else the file name, else "untitled module".
    pub fn display_name(&self) -> String {
        if !self.0.meta.name.is_empty() {
            return self.0.meta.name.clone();
        }
        self.0
            .source
            .path
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "untitled module".to_owned())
    }
}

impl std::fmt::Debug for Patch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Patch")
            .field("name", &self.display_name())
            .field("hash", &format_args!("{:016x}", self.0.hash))
            .field("layout", &self.0.layout)
            .finish()
    }
}
