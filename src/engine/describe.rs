//! [`Runtime::compile`]: the compile, then, for a WCLAP, what only running it tells.
//!
//! A Wasp module describes itself in its `wasp` section; a CLAP plugin describes itself at run
//! time, through its descriptor and its `clap.params` extension. So a WCLAP's first compile is
//! followed by one instance made on the worker, under the load budget, from which its name,
//! vendor, version, parameters, latency and tail are read. The patch then carries them as its
//! metadata, like any module's, and goes back into the compile cache: the next instance of the
//! same bytes is not run twice.
//!
//! Every address the plugin hands over (its descriptor, its strings, its parameter infos) is
//! read through bounds-checked copies of its memory: a plugin that points anywhere gets a
//! refusal, never a read outside its sandbox.

use std::sync::Arc;

use serde_json::{json, Value};

use super::backend::Tiering;
use super::contract;
use super::error::LoadError;
use super::instance::{DspInstance, ProcessConfig};
use super::metadata::Metadata;
use super::patch::{Kind, Patch, PatchInner, Source};
use super::runtime::Runtime;
use super::wclap::{self, names};

/// The longest string read from a plugin (CLAP's names are 256 bytes at most).
const STRING_CAP: usize = 256;
/// Offsets in `clap_param_info` on wasm32.
const INFO_ID: u32 = 0;
const INFO_NAME: u32 = 12;
const INFO_MIN: u32 = 1296;
const INFO_BYTES: usize = 1320;
/// The rate the description is read at (a plugin's tail is in samples).
const RATE: f32 = 48_000.0;

impl Runtime {
    /// Validates, checks and compiles a module (a Faust `.dsp` file through the Faust compiler
    /// first; a WCLAP is then run once to read its description). Slow (milliseconds to
    /// seconds): never call it on the audio thread.
    ///
    /// Recently compiled modules with the same bytes are reused from a cache.
    pub fn compile(&self, source: Source) -> Result<Patch, LoadError> {
        self.compile_for(source, self.options.tiering)
    }

    /// Like [`Runtime::compile`], for `tiering` rather than the runtime's own: each plugin
    /// instance chooses its own (see [`crate::Controller::set_tiering`]).
    pub fn compile_for(&self, source: Source, tiering: Tiering) -> Result<Patch, LoadError> {
        let patch = self.compile_module(source, tiering)?;
        if patch.0.kind != (Kind::Wclap { described: false }) {
            return Ok(patch);
        }
        let Description {
            meta,
            log,
            plugin_id,
            plugins,
            plugin_index,
        } = describe(self, &patch)?;
        let layout = contract::check(&patch.0.code.types, &meta)?;
        let described = Patch(Arc::new(PatchInner {
            code: patch.0.code.clone(),
            meta,
            layout,
            source: patch.0.source.clone(),
            hash: patch.0.hash,
            initial_memory: patch.0.initial_memory,
            watchdog: patch.0.watchdog,
            kind: Kind::Wclap { described: true },
            log,
            plugin_id,
            plugins,
            plugin_index,
            tiering,
        }));
        self.remember(described.clone());
        Ok(described)
    }
}

/// Reads a NUL-terminated string of at most [`STRING_CAP`] bytes at `addr`; `None` if it does
/// not lie in memory.
fn string(inst: &mut DspInstance, addr: u32) -> Option<String> {
    if addr == 0 {
        return Some(String::new());
    }
    let size = (0..=STRING_CAP)
        .rev()
        .find(|&n| inst.read_memory(addr, n).is_some())?;
    let bytes = inst.read_memory(addr, size)?;
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or_default())
}

fn f64_at(bytes: &[u8], at: usize) -> f64 {
    f64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default())
}

/// What a first run of a WCLAP tells.
struct Description {
    /// Its name, parameters, latency and tail, as Wasp metadata.
    meta: Metadata,
    /// What it logged and printed meanwhile.
    log: String,
    /// The CLAP id of the plugin that runs.
    plugin_id: String,
    /// The names of the factory's plugins (64 at most), and which of them runs.
    plugins: Vec<String>,
    plugin_index: usize,
}

/// The WCLAP in `bytes` (binary or text) set to run its factory's plugin `index` (see
/// [`Patch::plugins`]): the same module with the choice written into it, so it is saved with
/// a project.
pub fn pick_wclap_plugin(bytes: &[u8], index: usize) -> Result<Vec<u8>, LoadError> {
    let binary = super::runtime::to_binary(bytes)?;
    let index = u32::try_from(index).map_err(|_| LoadError::Abi("no such plugin".into()))?;
    wclap::pick(&binary, index)
}

/// Runs a WCLAP once and reads what it says about itself.
fn describe(runtime: &Runtime, patch: &Patch) -> Result<Description, LoadError> {
    let wild = |what: &str| {
        LoadError::Abi(format!(
            "this WCLAP points outside its memory for its {what}, so Wasp cannot read it"
        ))
    };
    let mut inst = DspInstance::new(
        runtime,
        patch,
        ProcessConfig {
            sample_rate: RATE,
            max_frames: wclap::BLOCK,
        },
    )?;
    let code = inst.global_i32(names::ERROR).unwrap_or(-1);
    if let Some(why) = wclap::failure(code) {
        return Err(LoadError::Abi(format!("this WCLAP did not start: {why}")));
    }
    let desc = inst.global_i32(names::DESCRIPTOR).unwrap_or(0) as u32;
    let fields = inst
        .read_memory(desc, 48)
        .ok_or_else(|| wild("descriptor"))?;
    let mut text = |offset: usize, what: &str| {
        string(&mut inst, u32_at(&fields, offset)).ok_or_else(|| wild(what))
    };
    let id = text(12, "id")?;
    let name = text(16, "name")?;
    let vendor = text(20, "vendor")?;
    let version = text(36, "version")?;

    let count = inst.global_i32(names::PARAM_COUNT).unwrap_or(0).max(0);
    let mut params = Vec::new();
    let mut taken = std::collections::HashSet::new();
    for i in 0..count {
        let at = inst.call_i32(names::PARAM_INFO, i)? as u32;
        if at == 0 {
            return Err(LoadError::Abi(format!(
                "this WCLAP has {count} parameters but gives no information on number {i}"
            )));
        }
        let info = inst
            .read_memory(at, INFO_BYTES)
            .ok_or_else(|| wild("parameter information"))?;
        let clap_id = u32_at(&info, INFO_ID as usize);
        let name_bytes = &info[INFO_NAME as usize..INFO_NAME as usize + STRING_CAP];
        let end = name_bytes
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(STRING_CAP);
        let label = String::from_utf8_lossy(&name_bytes[..end]).into_owned();
        let min = f64_at(&info, INFO_MIN as usize) as f32;
        let max = f64_at(&info, INFO_MIN as usize + 8) as f32;
        let default = f64_at(&info, INFO_MIN as usize + 16) as f32;
        // Keyed by the plugin's own id, which a rebuilt plugin keeps, so automation and saved
        // values follow it (see the parameter bank).
        let key = format!("clap_{clap_id}");
        if !taken.insert(key.clone()) {
            return Err(LoadError::Abi(format!(
                "this WCLAP declares parameter id {clap_id} twice"
            )));
        }
        if !(min.is_finite() && max.is_finite() && min < max) {
            return Err(LoadError::Abi(format!(
                "this WCLAP's parameter \"{label}\" has the range {min} to {max}, which Wasp \
                 cannot offer the host"
            )));
        }
        params.push(json!({
            "id": key,
            "name": if label.is_empty() { format!("Parameter {}", i + 1) } else { label },
            "min": min,
            "max": max,
            "default": default.clamp(min, max),
        }));
    }
    let latency = inst.call_i32(names::EXT_VALUE, 0)? as u32;
    let tail = inst.call_i32(names::EXT_VALUE, 1)? as u32;
    let tail: Value = if tail == u32::MAX {
        json!("infinite")
    } else {
        json!(tail as f32 / RATE)
    };
    // A plugin without a name is shown by its id.
    let shown = if name.is_empty() { id.clone() } else { name };
    let meta = json!({
        "name": shown,
        "author": vendor,
        "version": version,
        "channels": "stereo",
        "latency": latency,
        "tail": tail,
        "params": params,
    });
    let mut log = String::new();
    let block = inst.global_i32(names::BLOCK).unwrap_or(0) as u32;
    let len = inst
        .global_i32(names::LOG_LEN)
        .unwrap_or(0)
        .clamp(0, wclap::LOG_CAP as i32);
    if let Some(bytes) = inst.read_memory(block.wrapping_add(wclap::LOG), len as usize) {
        log.push_str(&String::from_utf8_lossy(&bytes));
    }
    log.push_str(&String::from_utf8_lossy(inst.printed()));
    // The factory's plugins, by name, and which of them this is.
    let mut plugins = Vec::new();
    let mut plugin_index = 0;
    let count = inst
        .global_i32(names::PLUGIN_COUNT)
        .unwrap_or(0)
        .clamp(0, 64);
    for i in 0..count {
        let at = inst.call_i32(names::DESCRIPTOR_AT, i)? as u32;
        if at == desc {
            plugin_index = i as usize;
        }
        let name = inst
            .read_memory(at, 48)
            .and_then(|d| string(&mut inst, u32_at(&d, 16)))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("Plugin {}", i + 1));
        plugins.push(name);
    }
    Ok(Description {
        meta: Metadata::parse(meta.to_string().as_bytes())?,
        log,
        plugin_id: id,
        plugins,
        plugin_index,
    })
}
