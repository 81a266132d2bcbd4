//! Checks a compiled module's exports and imports against the Wasp module contract (docs/ABI.md).

use super::types::{ExternType, FuncType, ModuleTypes, ValType};

use super::error::LoadError;
use super::imports::check_import;
use super::metadata::{Address, Channels, Metadata};
use super::wasi;

/// Export names defined by contract v1.
pub mod names {
    pub const DSP: &str = "dsp";
    pub const INIT: &str = "wasp_init";
    pub const RESET: &str = "wasp_reset";
    pub const SET_PARAM: &str = "wasp_set_param";
    pub const PROCESS: &str = "wasp_process";
    pub const FRAME: &str = "wasp_frame";
    pub const MEMORY: &str = "memory";
    pub const NOTE_ON: &str = "wasp_note_on";
    pub const NOTE_OFF: &str = "wasp_note_off";
    pub const MIDI: &str = "wasp_midi";
    pub const TRANSPORT: &str = "wasp_transport";
    pub const BLOCK: &str = "wasp_block";
    pub const IN: &str = "wasp_in";
    pub const OUT: &str = "wasp_out";
}

/// The shape of the module's per-sample `dsp` export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DspShape {
    /// `(f32) -> f32`
    Mono,
    /// `(f32, f32) -> (f32, f32)` with multi-value returns.
    Stereo,
    /// `(f32, f32) -> ()`, writing the output pair to the two `f32`s at the address held by the
    /// exported `wasp_frame` global (what Rust and clang can produce on wasm32).
    StereoFrame,
}

impl DspShape {
    /// How many channels the module processes.
    pub fn channels(self) -> Channels {
        match self {
            DspShape::Mono => Channels::Mono,
            DspShape::Stereo | DspShape::StereoFrame => Channels::Stereo,
        }
    }

    /// The signature as docs/ABI.md spells it.
    pub fn signature(self) -> &'static str {
        match self {
            DspShape::Mono => "(f32) -> f32",
            DspShape::Stereo => "(f32, f32) -> (f32, f32)",
            DspShape::StereoFrame => "(f32, f32) -> () with the `wasp_frame` global",
        }
    }
}

/// What a module offers, found by [`check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub shape: DspShape,
    pub has_init: bool,
    pub has_reset: bool,
    pub has_set_param: bool,
    pub has_memory: bool,
    /// `wasp_note_on` and `wasp_note_off`.
    pub has_note_on: bool,
    pub has_note_off: bool,
    /// `wasp_midi`: other MIDI channel messages (controllers, pitch bend, pressure).
    pub has_midi: bool,
    /// `wasp_transport`: where Wasp writes the song position and tempo before each block.
    pub has_transport: bool,
    /// `wasp_process` with its buffers: the module processes whole blocks.
    pub has_process: bool,
    /// Why a `wasp_process` export is not used, if it is not.
    pub process_issue: Option<ProcessIssue>,
}

/// What keeps a module's `wasp_process` from being used (its `dsp` runs instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessIssue {
    Block,
    In,
    Out,
    Memory,
}

impl ProcessIssue {
    /// What to fix, in the words of docs/ABI.md §5.
    pub fn message(self) -> &'static str {
        match self {
            ProcessIssue::Block => {
                "it needs `wasp_block`, the frames per buffer: an i32 global holding it, or a \
                 function () -> i32 returning it"
            }
            ProcessIssue::In => {
                "it needs `wasp_in`, an i32 global holding the address of the input buffers \
                 in `memory` (a static array exported by that name does this)"
            }
            ProcessIssue::Out => {
                "`wasp_out` must be an i32 global holding the address of the output buffers \
                 (or be left out, to process in place)"
            }
            ProcessIssue::Memory => "it needs its linear memory exported as `memory`",
        }
    }
}

/// Checks imports, exports and metadata of a compiled module, returning what it offers.
pub fn check(module: &ModuleTypes, meta: &Metadata) -> Result<Layout, LoadError> {
    // A WCLAP may import the WASI stubs (see `wasi.rs`); nothing else may.
    let wclap = module.get_export("clap_entry").is_some();
    for import in &module.imports {
        if wclap && import.module == wasi::MODULE {
            wasi::check(&import.name, &import.ty)?;
            continue;
        }
        check_import(&import.module, &import.name, &import.ty)?;
    }

    let func_export = |name: &str| -> Result<Option<FuncType>, LoadError> {
        match module.get_export(name) {
            None => Ok(None),
            Some(ExternType::Func(f)) => Ok(Some(f.clone())),
            Some(_) => Err(LoadError::Abi(format!(
                "the export `{name}` must be a function"
            ))),
        }
    };

    use ValType::{F32, I32};
    let dsp = func_export(names::DSP)?.ok_or_else(|| {
        let exported: Vec<_> = module
            .exports
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        LoadError::Abi(format!(
            "the module has no `dsp` export; it must export a function `dsp` of type \
             (f32) -> f32 (mono) or (f32, f32) -> (f32, f32) (stereo). It exports: {}",
            if exported.is_empty() {
                "nothing".to_owned()
            } else {
                exported.join(", ")
            }
        ))
    })?;
    let shape = if dsp.is(&[F32], &[F32]) {
        DspShape::Mono
    } else if dsp.is(&[F32, F32], &[F32, F32]) {
        DspShape::Stereo
    } else if dsp.is(&[F32, F32], &[]) {
        match module.get_export(names::FRAME) {
            Some(t) if t.is_i32_global() => DspShape::StereoFrame,
            _ => {
                return Err(LoadError::Abi(
                    "`dsp` has type (f32, f32) -> () so it must write its output to a frame \
                     buffer, but the module does not export an i32 global `wasp_frame` holding \
                     the buffer's address"
                        .into(),
                ))
            }
        }
    } else {
        return Err(LoadError::Abi(format!(
            "`dsp` has type {}, but it must be (f32) -> f32 (mono), \
             (f32, f32) -> (f32, f32) (stereo), or (f32, f32) -> () with a `wasp_frame` global",
            dsp.text()
        )));
    };

    let has_init = match func_export(names::INIT)? {
        None => false,
        Some(f) if f.is(&[F32, I32], &[]) => true,
        Some(f) => {
            return Err(LoadError::Abi(format!(
                "`wasp_init` has type {}, but it must be (f32, i32) -> () \
                 (sample rate in Hz, maximum block size in frames)",
                f.text()
            )))
        }
    };
    let has_reset = match func_export(names::RESET)? {
        None => false,
        Some(f) if f.is(&[], &[]) => true,
        Some(f) => {
            return Err(LoadError::Abi(format!(
                "`wasp_reset` has type {}, but it must be () -> ()",
                f.text()
            )))
        }
    };
    let has_set_param = match func_export(names::SET_PARAM)? {
        None => false,
        Some(f) if f.is(&[I32, F32], &[]) => true,
        Some(f) => {
            return Err(LoadError::Abi(format!(
                "`wasp_set_param` has type {}, but it must be (i32, f32) -> () \
                 (parameter index, plain value)",
                f.text()
            )))
        }
    };
    let has_process = match func_export(names::PROCESS)? {
        None => false,
        Some(f) if f.is(&[I32], &[]) => true,
        Some(f) => {
            return Err(LoadError::Abi(format!(
                "`wasp_process` has type {}, but it must be (i32) -> () (frames to process)",
                f.text()
            )))
        }
    };
    // Without its buffers (or `memory`), `wasp_process` is not used and `dsp` runs: such a
    // module loaded while block processing was reserved, and it keeps loading.
    let global_i32 = |name: &str| {
        module
            .get_export(name)
            .is_some_and(ExternType::is_i32_global)
    };
    let process_issue = if !has_process {
        None
    } else if !match module.get_export(names::BLOCK) {
        Some(ExternType::Global(g)) => g.content == I32,
        Some(ExternType::Func(f)) => f.is(&[], &[I32]),
        _ => false,
    } {
        Some(ProcessIssue::Block)
    } else if !global_i32(names::IN) {
        Some(ProcessIssue::In)
    } else if module.get_export(names::OUT).is_some() && !global_i32(names::OUT) {
        Some(ProcessIssue::Out)
    } else if !matches!(
        module.get_export(names::MEMORY),
        Some(ExternType::Memory { .. })
    ) {
        Some(ProcessIssue::Memory)
    } else {
        None
    };
    let has_process = has_process && process_issue.is_none();
    let note = |name: &str| -> Result<bool, LoadError> {
        match func_export(name)? {
            None => Ok(false),
            Some(f) if f.is(&[I32, F32], &[]) => Ok(true),
            Some(f) => Err(LoadError::Abi(format!(
                "`{name}` has type {}, but it must be (i32, f32) -> () (MIDI key 0-127, \
                 velocity 0-1)",
                f.text()
            ))),
        }
    };
    let has_note_on = note(names::NOTE_ON)?;
    let has_note_off = note(names::NOTE_OFF)?;
    let has_midi = match func_export(names::MIDI)? {
        None => false,
        Some(f) if f.is(&[I32, I32, I32], &[]) => true,
        Some(f) => {
            return Err(LoadError::Abi(format!(
                "`wasp_midi` has type {}, but it must be (i32, i32, i32) -> () (status byte \
                 and two data bytes of a MIDI message)",
                f.text()
            )))
        }
    };
    let has_transport = match module.get_export(names::TRANSPORT) {
        None => false,
        Some(t) if t.is_i32_global() => true,
        Some(_) => {
            return Err(LoadError::Abi(
                "the export `wasp_transport` must be an i32 global holding the address of the \
                 48-byte transport block in `memory`"
                    .into(),
            ))
        }
    };
    let has_memory = match module.get_export(names::MEMORY) {
        None => false,
        Some(ExternType::Memory {
            is_64: false,
            shared: false,
        }) => true,
        Some(_) => {
            return Err(LoadError::Abi(
                "the export `memory` must be a 32-bit, unshared linear memory".into(),
            ))
        }
    };
    if has_transport && !has_memory {
        return Err(LoadError::Abi(
            "the module exports `wasp_transport`, so it must export its linear memory as \
             `memory`, where Wasp writes the transport block"
                .into(),
        ));
    }
    if shape == DspShape::StereoFrame && !has_memory {
        return Err(LoadError::Abi(
            "`dsp` writes its output through `wasp_frame`, so the module must export its \
             linear memory as `memory`"
                .into(),
        ));
    }

    if let Some(declared) = meta.channels {
        if declared != shape.channels() {
            return Err(LoadError::Metadata(format!(
                "it declares {} channels, but `dsp` has type {}, which is {}",
                declared.count(),
                shape.signature(),
                match shape.channels() {
                    Channels::Mono => "mono",
                    Channels::Stereo => "stereo",
                }
            )));
        }
    }

    let needs_global = |name: &str, what: &str| -> Result<(), LoadError> {
        match module.get_export(name) {
            Some(t) if t.is_i32_global() => Ok(()),
            _ => Err(LoadError::Metadata(format!(
                "{what} refers to `{name}`, but the module exports no i32 global of that name"
            ))),
        }
    };
    if !meta.state.is_empty() && !has_memory {
        return Err(LoadError::Metadata(
            "it declares state regions in memory, but the module exports no `memory`".into(),
        ));
    }
    for region in &meta.state {
        for addr in [Some(&region.at), region.cursor.as_ref()]
            .into_iter()
            .flatten()
        {
            if let Address::Global(name) = addr {
                needs_global(name, &format!("state region \"{}\"", region.name))?;
            }
        }
    }
    for name in &meta.globals {
        match module.get_export(name) {
            Some(ExternType::Global(g))
                if g.mutable
                    && matches!(
                        g.content,
                        ValType::I32 | ValType::I64 | ValType::F32 | ValType::F64
                    ) => {}
            _ => {
                return Err(LoadError::Metadata(format!(
                    "state global \"{name}\" must be an exported mutable i32, i64, f32 or f64 \
                     global"
                )))
            }
        }
    }

    Ok(Layout {
        shape,
        has_init,
        has_reset,
        has_set_param,
        has_memory,
        has_note_on,
        has_note_off,
        has_midi,
        has_transport,
        has_process,
        process_issue,
    })
}
