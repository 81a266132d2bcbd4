//! WCLAPs: CLAP plugins compiled to wasm32, loaded like any module.
//!
//! A WCLAP exports `clap_entry`, a global holding the address of a `clap_plugin_entry` in its
//! memory, a `malloc` for the host to place its structures with, and a function table the host
//! grows to hand the plugin its own functions (a function pointer on wasm32 is a table index).
//!
//! Wasp hosts it from inside the sandbox. [`adapt`] writes a small CLAP host into the module
//! itself, in WebAssembly, and exposes it through Wasp's contract:
//! - `wasp_init(rate, max_frames)` allocates the host's structures with the plugin's `malloc`,
//!   grows the table by the host's callbacks, then calls the entry's `init` and `get_factory`,
//!   creates the factory's plugin (the first, unless a [`PICK_SECTION`] chooses another), and
//!   runs its `init`, `activate` and `start_processing`. A step that fails leaves a code in
//!   `wasp_clap_error` (see [`failure`]) and the plugin silent, never a trap;
//! - `wasp_process(frames)` calls the plugin's `process` with the block's audio (stereo, at
//!   `wasp_in` and `wasp_out`), the song's transport (from Wasp's block at `wasp_transport`)
//!   and the events queued since the last block;
//! - `wasp_set_param(i, value)` queues a `CLAP_EVENT_PARAM_VALUE` for the plugin's `i`-th
//!   parameter; `wasp_note_on`/`wasp_note_off` queue note events, `wasp_midi` a MIDI event;
//! - `wasp_reset` calls the plugin's `reset`; `dsp` runs one frame through the same path.
//!
//! - `wasp_clap_save` and `wasp_clap_load` save and load the plugin's own state (`clap.state`)
//!   through a block of its memory (see `DspInstance::save_clap_state`).
//!
//! The host the plugin sees answers `get_extension` for `clap.log`, `clap.thread-check`,
//! `clap.params`, `clap.state`, `clap.latency`, `clap.tail`, `clap.audio-ports` and
//! `clap.note-ports`. Its callbacks are WebAssembly
//! too: every pointer the plugin hands over is read with the module's own bounds-checked loads,
//! so a wild pointer is a trap in the sandbox, never a read of the host's memory. Everything
//! runs under the same budgets, stop checks and fault handling as any module.
//!
//! What cannot be known without running the plugin (its name, its parameters) is read after a
//! first instance has been made: see `describe.rs`.

use wasm_encoder::{BlockType, Encode, Function, Instruction as I, MemArg, ValType};
use wasmparser::{ExternalKind, Parser, Payload, TypeRef};

use super::error::LoadError;
use super::rewrite::{self, put_leb, sections, Counts, Edit, FUNCTION, GLOBAL, TYPE};

/// Frames per `process` call: the size of each audio buffer.
pub const BLOCK: u32 = 512;
/// Events queued for one `process` call at most; more are dropped.
const EVENT_CAP: u32 = 128;
/// Bytes per queued event: the largest event Wasp sends (a parameter value) on wasm32.
const EVENT_STRIDE: u32 = 48;
/// Parameters the host keeps ids for (Wasp's bank holds 64).
const PARAM_CAP: u32 = 64;
/// The largest state (`clap.state`) Wasp saves and loads for a plugin. The plugin's `malloc`
/// gives a block this size once, at start, if the plugin has the extension.
pub const STATE_CAP: u32 = super::sandbox::CLAP_STATE_CAP;

/// Audio ports per direction the host connects (a main port and one more, a sidechain say).
const PORTS: u32 = 2;
/// Channels per port the host connects; the first two of the main ports carry the audio.
const PORT_CHANNELS: u32 = 8;

// Offsets in the host's block of the plugin's memory (`malloc`ed once, 16-byte aligned).
const HOST: u32 = 0; // clap_host, 48 bytes
const PROCESS: u32 = 48; // clap_process, 40
const AUDIO_IN: u32 = 88; // PORTS clap_audio_buffers, 24 bytes each
const AUDIO_OUT: u32 = AUDIO_IN + 24 * PORTS;
const IN_PTRS: u32 = AUDIO_OUT + 24 * PORTS; // PORT_CHANNELS float* per port
const OUT_PTRS: u32 = IN_PTRS + 4 * PORT_CHANNELS * PORTS;
const IN_EVENTS: u32 = OUT_PTRS + 4 * PORT_CHANNELS * PORTS; // clap_input_events, 12
const OUT_EVENTS: u32 = IN_EVENTS + 12; // clap_output_events, 8
const EXT_LOG: u32 = OUT_EVENTS + 8; // clap_host_log, 4
const EXT_THREAD: u32 = EXT_LOG + 4; // clap_host_thread_check, 8
const EXT_PARAMS: u32 = EXT_THREAD + 8; // clap_host_params, 12
const EXT_STATE: u32 = EXT_PARAMS + 12; // clap_host_state, 4
const EXT_LATENCY: u32 = EXT_STATE + 4; // clap_host_latency, 4
const EXT_TAIL: u32 = EXT_LATENCY + 4; // clap_host_tail, 4
const EXT_AUDIO_PORTS: u32 = EXT_TAIL + 4; // clap_host_audio_ports, 8
const EXT_NOTE_PORTS: u32 = EXT_AUDIO_PORTS + 8; // clap_host_note_ports, 8
const STRINGS: u32 = EXT_NOTE_PORTS + 8; // the strings below, 512 bytes at most
/// A `clap_param_info` (1320 bytes on wasm32) or `clap_audio_port_info` for the plugin to
/// fill.
const PARAM_INFO: u32 = STRINGS + 512;
const PARAM_IDS: u32 = PARAM_INFO + 1328; // PARAM_CAP u32s
const EVENTS: u32 = PARAM_IDS + 4 * PARAM_CAP;
/// What the plugin logs through `clap.log`, one message per line, [`LOG_CAP`] bytes at most.
pub const LOG: u32 = EVENTS + EVENT_CAP * EVENT_STRIDE;
pub const LOG_CAP: u32 = 1024;
/// The `clap_ostream` and `clap_istream` the plugin saves its state to and loads it from.
const OSTREAM: u32 = LOG + LOG_CAP;
const ISTREAM: u32 = OSTREAM + 8;
/// Wasp's transport block, which Wasp writes before each block (`wasp_transport`, 48 bytes;
/// see `events.rs`), and the `clap_event_transport` made from it for `process` (104 bytes).
const TRANSPORT: u32 = ISTREAM + 8;
const CLAP_TRANSPORT: u32 = TRANSPORT + 48;
/// Six buffers of `BLOCK` floats: input left and right, output left and right, then silence
/// for the inputs the host does not feed and a sink for the outputs it does not play.
const BUFFERS: u32 = CLAP_TRANSPORT + 104;
const SCRATCH: u32 = BUFFERS + 6 * 4 * BLOCK;
// The host's block: each part ends before the next begins, and the strings fit their room.
const _: () = {
    assert!(PROCESS >= HOST + 48 && AUDIO_IN >= PROCESS + 40);
    assert!(IN_EVENTS >= OUT_PTRS + 4 * PORT_CHANNELS * PORTS);
    assert!(STRINGS >= EXT_NOTE_PORTS + 8 && PARAM_INFO >= STRINGS + 512);
    assert!(PARAM_IDS >= PARAM_INFO + 1320 && PARAM_INFO.is_multiple_of(8));
    assert!(CLAP_TRANSPORT.is_multiple_of(8) && BUFFERS >= CLAP_TRANSPORT + 104);
    let mut len = 0;
    let mut i = 0;
    while i < STRING_LIST.len() {
        len += STRING_LIST[i].len() + 1;
        i += 1;
    }
    assert!(len <= 512);
};

/// Where `clap_audio_port_info.channel_count` is on wasm32.
const PORT_INFO_CHANNELS: u32 = 264;

/// The strings the host needs in the plugin's memory, NUL-terminated, in this order.
const STRING_LIST: [&str; 12] = [
    "",
    "Wasp",
    "0.1.0",
    "clap.plugin-factory",
    "clap.params",
    "clap.log",
    "clap.thread-check",
    "clap.state",
    "clap.latency",
    "clap.tail",
    "clap.audio-ports",
    "clap.note-ports",
];
const S_EMPTY: usize = 0;
const S_NAME: usize = 1;
const S_VERSION: usize = 2;
const S_FACTORY: usize = 3;
const S_PARAMS: usize = 4;
const S_LOG: usize = 5;
const S_THREAD: usize = 6;
const S_STATE: usize = 7;
const S_LATENCY: usize = 8;
const S_TAIL: usize = 9;
const S_AUDIO_PORTS: usize = 10;
const S_NOTE_PORTS: usize = 11;

/// Why a WCLAP could not start, from the code its `wasp_init` leaves in `wasp_clap_error`.
pub fn failure(code: i32) -> Option<&'static str> {
    Some(match code {
        0 => return None,
        1 => "its malloc gave no memory for the host's structures",
        2 => "its entry's init returned false",
        3 => "it offers no plugin factory",
        4 => "its factory holds no plugin",
        5 => "its factory did not create the plugin",
        6 => "the plugin's init returned false",
        7 => "the plugin refused to activate",
        8 => "the plugin refused to start processing",
        9 => "the chosen plugin is not in its factory",
        _ => "it failed to start",
    })
}

/// Export names of what `describe.rs` reads.
pub mod names {
    pub const ERROR: &str = "wasp_clap_error";
    pub const LOGS: &str = "wasp_clap_logs";
    pub const DESCRIPTOR: &str = "wasp_clap_descriptor";
    pub const PARAM_COUNT: &str = "wasp_clap_param_count";
    pub const PARAM_INFO: &str = "wasp_clap_param_info";
    pub const EXT_VALUE: &str = "wasp_clap_ext_value";
    /// What the plugin's last `process` returned (`CLAP_PROCESS_ERROR` is 0).
    pub const STATUS: &str = "wasp_clap_status";
    /// The address of the host's block in the plugin's memory.
    pub const BLOCK: &str = "wasp_clap_host_block";
    /// Bytes of log text at `LOG` in the host's block.
    pub const LOG_LEN: &str = "wasp_clap_log_len";
    /// `() -> len`: the plugin's state saved to the state block (-1: none, or too big).
    pub const SAVE: &str = "wasp_clap_save";
    /// `(len) -> ok`: the plugin's state loaded from the first `len` bytes of the state block.
    pub const LOAD: &str = "wasp_clap_load";
    /// The address of the state block ([`super::STATE_CAP`] bytes), 0 without one.
    pub const STATE: &str = "wasp_clap_state";
    /// How many plugins the factory holds.
    pub const PLUGIN_COUNT: &str = "wasp_clap_plugin_count";
    /// `(i) -> address`: the factory's `i`-th plugin descriptor, 0 if there is none.
    pub const DESCRIPTOR_AT: &str = "wasp_clap_descriptor_at";
}

/// The custom section that says which of the factory's plugins to run: its index, a
/// little-endian `u32`. Without it, the first. See [`pick`].
pub const PICK_SECTION: &str = "wasp.clap-plugin";

/// The WCLAP in `binary` set to run its factory's plugin `index`: the same module with a
/// [`PICK_SECTION`] saying so (any earlier one dropped). The choice travels with the bytes, so
/// a project saves it and the compile cache keeps the two apart.
pub fn pick(binary: &[u8], index: u32) -> Result<Vec<u8>, LoadError> {
    let broken = || LoadError::Compile("the WCLAP's sections could not be split".into());
    let mut out = binary.get(..8).ok_or_else(broken)?.to_vec();
    for (id, range) in sections(binary).ok_or_else(broken)? {
        let content = &binary[range];
        if id == rewrite::CUSTOM && custom_name(content) == Some(PICK_SECTION) {
            continue;
        }
        out.push(id);
        put_leb(&mut out, content.len() as u32);
        out.extend_from_slice(content);
    }
    let section = rewrite::custom(PICK_SECTION, &index.to_le_bytes());
    out.push(rewrite::CUSTOM);
    put_leb(&mut out, section.len() as u32);
    out.extend_from_slice(&section);
    Ok(out)
}

/// A custom section's name, from its content.
fn custom_name(content: &[u8]) -> Option<&str> {
    let (len, at) = rewrite::leb(content)?;
    std::str::from_utf8(content.get(at..at.checked_add(len as usize)?)?).ok()
}

/// What the adapter needs to know of a WCLAP beyond [`Counts`].
#[derive(Default)]
struct Facts {
    /// Element type (funcref or not) and maximum of each table, imported ones first.
    tables: Vec<(bool, Option<u64>)>,
    shared_memory: bool,
    /// Which of the factory's plugins to run (see [`PICK_SECTION`]).
    pick: u32,
}

fn facts(binary: &[u8]) -> Result<(Counts, Facts), LoadError> {
    let mut f = Facts::default();
    let counts = Counts::read(binary, |payload| {
        match payload {
            Payload::ImportSection(reader) => {
                for import in reader.clone().into_imports() {
                    match import.map_err(LoadError::malformed)?.ty {
                        TypeRef::Memory(m) => f.shared_memory |= m.shared,
                        TypeRef::Table(t) => {
                            f.tables.push((t.element_type.is_func_ref(), t.maximum))
                        }
                        _ => {}
                    }
                }
            }
            Payload::TableSection(reader) => {
                for table in reader.clone() {
                    let t = table.map_err(LoadError::malformed)?.ty;
                    f.tables.push((t.element_type.is_func_ref(), t.maximum));
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader.clone() {
                    f.shared_memory |= memory.map_err(LoadError::malformed)?.shared;
                }
            }
            Payload::CustomSection(section) if section.name() == PICK_SECTION => {
                if let Ok(index) = <[u8; 4]>::try_from(section.data()) {
                    f.pick = u32::from_le_bytes(index);
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok((counts, f))
}

/// Early returns, said once: `cond; if { [value;] return }`.
trait Returns {
    /// Returns from the function if the `i32` on the stack is not 0.
    fn return_if(&mut self) -> &mut Self;
    /// Returns `value` from the function if the `i32` on the stack is not 0.
    fn return_value_if(&mut self, value: i32) -> &mut Self;
}

impl Returns for Function {
    fn return_if(&mut self) -> &mut Self {
        self.instruction(&I::If(BlockType::Empty))
            .instruction(&I::Return)
            .instruction(&I::End)
    }

    fn return_value_if(&mut self, value: i32) -> &mut Self {
        self.instruction(&I::If(BlockType::Empty))
            .instruction(&I::I32Const(value))
            .instruction(&I::Return)
            .instruction(&I::End)
    }
}

/// Whether `binary` is a WCLAP: it exports `clap_entry` as a global and has no `dsp`.
pub fn is_wclap(binary: &[u8]) -> bool {
    let mut entry = false;
    let mut dsp = false;
    for payload in Parser::new(0).parse_all(binary) {
        if let Ok(Payload::ExportSection(reader)) = payload {
            for export in reader.into_iter().flatten() {
                entry |= export.name == "clap_entry" && export.kind == ExternalKind::Global;
                dsp |= export.name == "dsp";
            }
        }
    }
    entry && !dsp
}

fn refuse(why: String) -> LoadError {
    LoadError::Abi(format!("this WCLAP cannot run in Wasp: {why}"))
}

/// The WCLAP in `binary` with Wasp's contract added, or `None` if it is not a WCLAP.
pub(crate) fn adapt(binary: &[u8]) -> Result<Option<Vec<u8>>, LoadError> {
    if !is_wclap(binary) {
        return Ok(None);
    }
    let (c, f) = facts(binary)?;
    let export = |name: &str, kind: ExternalKind| match c.exports.get(name) {
        Some(&(k, index)) if k == kind => Some(index),
        _ => None,
    };
    let entry = export("clap_entry", ExternalKind::Global)
        .ok_or_else(|| refuse("its clap_entry is not a global".into()))?;
    if f.shared_memory {
        return Err(refuse(
            "its memory is shared (built with threads); Wasp runs WCLAPs on one thread, so \
             build it without the atomics and bulk-memory threads features"
                .into(),
        ));
    }
    if export("memory", ExternalKind::Memory) != Some(0) {
        return Err(refuse(
            "it does not export its memory as `memory` (link with --export-memory)".into(),
        ));
    }
    let malloc = export("malloc", ExternalKind::Func).ok_or_else(|| {
        refuse("it does not export `malloc`, which the host needs to place its structures".into())
    })?;
    // The first exported function table: where function pointers point.
    let table = c
        .exports
        .values()
        .filter(|(k, _)| *k == ExternalKind::Table)
        .map(|&(_, i)| i)
        .filter(|&i| f.tables.get(i as usize).is_some_and(|t| t.0))
        .min()
        .ok_or_else(|| {
            refuse(
                "it exports no function table (link with --export-table --growable-table)".into(),
            )
        })?;
    if f.tables[table as usize].1.is_some() {
        return Err(refuse(
            "its function table cannot grow, so the host cannot hand it functions (link with \
             --growable-table)"
                .into(),
        ));
    }
    let initialize =
        export("_initialize", ExternalKind::Func).or_else(|| export("_start", ExternalKind::Func));
    // A call through a function pointer of the plugin's (an index into its table).
    let indirect = |type_index: u32| I::CallIndirect {
        type_index,
        table_index: table,
    };

    // Types.
    use ValType::{F32, F64, I32, I64};
    let mut types: Vec<Vec<u8>> = Vec::new();
    let mut signature = |params: &[ValType], results: &[ValType]| {
        let mut t = vec![0x60];
        put_leb(&mut t, params.len() as u32);
        for p in params {
            p.encode(&mut t);
        }
        put_leb(&mut t, results.len() as u32);
        for r in results {
            r.encode(&mut t);
        }
        types.push(t);
        c.types + types.len() as u32 - 1
    };
    let t_init = signature(&[F32, I32], &[]);
    let t_i_v = signature(&[I32], &[]);
    let t_if_v = signature(&[I32, F32], &[]);
    let t_v_v = signature(&[], &[]);
    let t_dsp = signature(&[F32, F32], &[F32, F32]);
    let t_iii_v = signature(&[I32, I32, I32], &[]);
    let t_ii_i = signature(&[I32, I32], &[I32]);
    let t_i_i = signature(&[I32], &[I32]);
    let t_ii_v = signature(&[I32, I32], &[]);
    let t_iii_i = signature(&[I32, I32, I32], &[I32]);
    let t_act = signature(&[I32, F64, I32, I32], &[I32]);
    let t_iiii_i = signature(&[I32, I32, I32, I32], &[I32]);
    let t_v_i = signature(&[], &[I32]);
    let t_stream = signature(&[I32, I32, I64], &[I64]);

    // Functions, in this order.
    let first = c.imported_funcs + c.funcs;
    let fs: [(u32, &str); 21] = [
        (t_init, "wasp_init"),
        (t_i_v, "wasp_process"),
        (t_if_v, "wasp_set_param"),
        (t_v_v, "wasp_reset"),
        (t_dsp, "dsp"),
        (t_if_v, "wasp_note_on"),
        (t_if_v, "wasp_note_off"),
        (t_iii_v, "wasp_midi"),
        // The host's callbacks: exported so the module may take references to them.
        (t_ii_i, "wasp_clap_host_get_extension"),
        (t_i_v, "wasp_clap_host_request"),
        (t_ii_v, "wasp_clap_host_two"),
        (t_iii_v, "wasp_clap_host_three"),
        (t_iii_v, "wasp_clap_host_log"),
        (t_i_i, "wasp_clap_host_is_main_thread"),
        (t_i_i, "wasp_clap_host_is_audio_thread"),
        (t_i_i, "wasp_clap_events_size"),
        (t_ii_i, "wasp_clap_events_get"),
        (t_ii_i, "wasp_clap_events_try_push"),
        (t_ii_i, "wasp_clap_streq"),
        (t_ii_i, "wasp_clap_push_event"),
        (t_i_i, names::PARAM_INFO),
    ];
    let fs_more: [(u32, &str); 8] = [
        (t_i_i, names::EXT_VALUE),
        (t_v_i, names::SAVE),
        (t_i_i, names::LOAD),
        (t_stream, "wasp_clap_stream_write"),
        (t_stream, "wasp_clap_stream_read"),
        (t_i_i, names::DESCRIPTOR_AT),
        (t_ii_i, "wasp_clap_host_no"),
        (t_i_i, "wasp_clap_host_dialects"),
    ];
    let idx = |name: &str| {
        fs.iter()
            .chain(fs_more.iter())
            .position(|(_, n)| *n == name)
            .map(|i| first + i as u32)
            .expect("a function the adapter adds")
    };

    // Globals.
    let g = c.globals;
    let g_base = g;
    let g_plugin = g + 1;
    let g_params = g + 2;
    let g_count = g + 3;
    let g_in = g + 4;
    let g_out = g + 5;
    let g_block = g + 6;
    let g_audio = g + 7;
    let g_nparams = g + 8;
    let g_error = g + 9;
    let g_steady = g + 10;
    let g_logs = g + 11;
    let g_desc = g + 12;
    let g_status = g + 13;
    let g_mono = g + 14;
    let g_log = g + 15;
    let g_state = g + 16;
    let g_state_ext = g + 17;
    let g_cursor = g + 18;
    let g_state_len = g + 19;
    let g_factory = g + 20;
    let g_plugins = g + 21;
    let g_transport = g + 22;

    let at = |offset: u32, align: u32| MemArg {
        offset: u64::from(offset),
        align,
        memory_index: 0,
    };
    let w32 = |offset: u32| at(offset, 2);
    // `base + offset` on the stack.
    let addr = |func: &mut Function, offset: u32| {
        func.instruction(&I::GlobalGet(g_base))
            .instruction(&I::I32Const(offset as i32))
            .instruction(&I::I32Add);
    };
    // Stores the i32 that `value` pushes at `base + offset`.
    let store_at = |func: &mut Function, offset: u32, value: &dyn Fn(&mut Function)| {
        func.instruction(&I::GlobalGet(g_base));
        value(func);
        func.instruction(&I::I32Store(w32(offset)));
    };
    let mut string_at = Vec::new();
    let mut strings = Vec::new();
    for s in STRING_LIST {
        string_at.push(STRINGS + strings.len() as u32);
        strings.extend_from_slice(s.as_bytes());
        strings.push(0);
    }
    debug_assert!(strings.len() <= 512);
    while strings.len() % 4 != 0 {
        strings.push(0);
    }
    // The value on the stack, or `cap` if it is larger (unsigned), through local `local`.
    let at_most = |func: &mut Function, local: u32, cap: u32| {
        func.instruction(&I::LocalTee(local))
            .instruction(&I::I32Const(cap as i32))
            .instruction(&I::LocalGet(local))
            .instruction(&I::I32Const(cap as i32))
            .instruction(&I::I32LtU)
            .instruction(&I::Select);
    };
    // Loads a field of the struct whose address `ptr` pushes.
    let field = |func: &mut Function, ptr: I<'static>, offset: u32| {
        func.instruction(&ptr).instruction(&I::I32Load(w32(offset)));
    };

    // wasp_init(rate: f32, max_frames: i32); locals: 2 entry, 3 factory, 4 ok/tmp, 5 i, 6 ports
    let mut init = Function::new([(5, ValType::I32)]);
    {
        // If the value on the stack is 0 (false, null): the step failed, so the plugin is not
        // used, `code` says why, and `wasp_init` returns.
        let fail_if_zero = |func: &mut Function, code: i32| {
            func.instruction(&I::I32Eqz)
                .instruction(&I::If(BlockType::Empty))
                .instruction(&I::I32Const(0))
                .instruction(&I::GlobalSet(g_plugin))
                .instruction(&I::I32Const(code))
                .instruction(&I::GlobalSet(g_error))
                .instruction(&I::Return)
                .instruction(&I::End);
        };
        // Only once per instance.
        init.instruction(&I::GlobalGet(g_base)).return_if();
        if let Some(initialize) = initialize {
            init.instruction(&I::Call(initialize));
        }
        init.instruction(&I::I32Const(SCRATCH as i32))
            .instruction(&I::Call(malloc))
            .instruction(&I::GlobalSet(g_base))
            .instruction(&I::GlobalGet(g_base));
        fail_if_zero(&mut init, 1);
        // The block is the host's alone: clear it, then write the strings.
        addr(&mut init, 0);
        init.instruction(&I::I32Const(0))
            .instruction(&I::I32Const(SCRATCH as i32))
            .instruction(&I::MemoryFill(0));
        for (i, word) in strings.chunks(4).enumerate() {
            let value = i32::from_le_bytes([word[0], word[1], word[2], word[3]]);
            if value != 0 {
                store_at(&mut init, STRINGS + 4 * i as u32, &|func| {
                    func.instruction(&I::I32Const(value));
                });
            }
        }
        // Grows the table by one callback and leaves its index (the function pointer) in local 4.
        let grow = |func: &mut Function, callback: u32| {
            func.instruction(&I::RefFunc(callback))
                .instruction(&I::I32Const(1))
                .instruction(&I::TableGrow(table))
                .instruction(&I::LocalTee(4))
                .instruction(&I::I32Const(-1))
                .instruction(&I::I32Eq)
                .instruction(&I::If(BlockType::Empty))
                .instruction(&I::Unreachable)
                .instruction(&I::End);
        };
        let string = |func: &mut Function, s: usize| addr(func, string_at[s]);
        // clap_host: version 1.2.0, no host data, name, vendor, url, version, four callbacks.
        store_at(&mut init, HOST, &|func| {
            func.instruction(&I::I32Const(1));
        });
        store_at(&mut init, HOST + 4, &|func| {
            func.instruction(&I::I32Const(2));
        });
        for (offset, s) in [(16, S_NAME), (20, S_NAME), (24, S_EMPTY), (28, S_VERSION)] {
            store_at(&mut init, HOST + offset, &|func| string(func, s));
        }
        grow(&mut init, idx("wasp_clap_host_get_extension"));
        store_at(&mut init, HOST + 32, &|func| {
            func.instruction(&I::LocalGet(4));
        });
        // One callback for every request and notification Wasp takes note of later, if at all:
        // request_restart, request_process, request_callback, params.request_flush,
        // state.mark_dirty, latency.changed, tail.changed.
        grow(&mut init, idx("wasp_clap_host_request"));
        for offset in [
            HOST + 36,
            HOST + 40,
            HOST + 44,
            EXT_PARAMS + 8,
            EXT_STATE,
            EXT_LATENCY,
            EXT_TAIL,
        ] {
            store_at(&mut init, offset, &|func| {
                func.instruction(&I::LocalGet(4));
            });
        }
        // params.rescan, audio_ports.rescan, note_ports.rescan: taken note of, nothing to do.
        grow(&mut init, idx("wasp_clap_host_two"));
        for offset in [EXT_PARAMS, EXT_AUDIO_PORTS + 4, EXT_NOTE_PORTS + 4] {
            store_at(&mut init, offset, &|func| {
                func.instruction(&I::LocalGet(4));
            });
        }
        grow(&mut init, idx("wasp_clap_host_three"));
        store_at(&mut init, EXT_PARAMS + 4, &|func| {
            func.instruction(&I::LocalGet(4));
        });
        grow(&mut init, idx("wasp_clap_host_log"));
        store_at(&mut init, EXT_LOG, &|func| {
            func.instruction(&I::LocalGet(4));
        });
        for (offset, callback) in [
            (EXT_THREAD, "wasp_clap_host_is_main_thread"),
            (EXT_THREAD + 4, "wasp_clap_host_is_audio_thread"),
            (IN_EVENTS + 4, "wasp_clap_events_size"),
            (IN_EVENTS + 8, "wasp_clap_events_get"),
            (OUT_EVENTS + 4, "wasp_clap_events_try_push"),
            (EXT_AUDIO_PORTS, "wasp_clap_host_no"),
            (EXT_NOTE_PORTS, "wasp_clap_host_dialects"),
        ] {
            grow(&mut init, idx(callback));
            store_at(&mut init, offset, &|func| {
                func.instruction(&I::LocalGet(4));
            });
        }
        // Audio: planar buffers of BLOCK floats. Every channel of every port the host
        // connects points somewhere: the main ports' first two at the audio, the rest at
        // silence (inputs) or a sink (outputs). How many ports and channels the plugin gets is
        // set once it says what it has (below).
        let buffer = |c: u32| BUFFERS + 4 * BLOCK * c;
        for port in 0..PORTS {
            for channel in 0..PORT_CHANNELS {
                let main = port == 0 && channel < 2;
                let (input, output) = if main {
                    (buffer(channel), buffer(2 + channel))
                } else {
                    (buffer(4), buffer(5))
                };
                let slot = 4 * (PORT_CHANNELS * port + channel);
                store_at(&mut init, IN_PTRS + slot, &|func| addr(func, input));
                store_at(&mut init, OUT_PTRS + slot, &|func| addr(func, output));
            }
            let ptrs = 4 * PORT_CHANNELS * port;
            store_at(&mut init, AUDIO_IN + 24 * port, &|func| {
                addr(func, IN_PTRS + ptrs)
            });
            store_at(&mut init, AUDIO_OUT + 24 * port, &|func| {
                addr(func, OUT_PTRS + ptrs)
            });
        }
        for (offset, target) in [
            (PROCESS + 16, AUDIO_IN),
            (PROCESS + 20, AUDIO_OUT),
            (PROCESS + 32, IN_EVENTS),
            (PROCESS + 36, OUT_EVENTS),
        ] {
            store_at(&mut init, offset, &|func| addr(func, target));
        }
        addr(&mut init, TRANSPORT);
        init.instruction(&I::GlobalSet(g_transport));
        addr(&mut init, buffer(0));
        init.instruction(&I::GlobalSet(g_in));
        addr(&mut init, buffer(2));
        init.instruction(&I::GlobalSet(g_out));

        // entry->init(""), entry->get_factory(CLAP_PLUGIN_FACTORY_ID)
        init.instruction(&I::GlobalGet(entry))
            .instruction(&I::LocalSet(2));
        string(&mut init, S_EMPTY);
        field(&mut init, I::LocalGet(2), 12);
        init.instruction(&indirect(t_i_i));
        fail_if_zero(&mut init, 2);
        string(&mut init, S_FACTORY);
        field(&mut init, I::LocalGet(2), 20);
        init.instruction(&indirect(t_i_i))
            .instruction(&I::LocalTee(3));
        fail_if_zero(&mut init, 3);
        init.instruction(&I::LocalGet(3))
            .instruction(&I::GlobalSet(g_factory));
        // factory->get_plugin_count(factory), which must hold the chosen plugin
        init.instruction(&I::LocalGet(3));
        field(&mut init, I::LocalGet(3), 0);
        init.instruction(&indirect(t_i_i))
            .instruction(&I::GlobalSet(g_plugins))
            .instruction(&I::GlobalGet(g_plugins));
        fail_if_zero(&mut init, 4);
        init.instruction(&I::GlobalGet(g_plugins))
            .instruction(&I::I32Const(f.pick as i32))
            .instruction(&I::I32GtU);
        fail_if_zero(&mut init, 9);
        // desc = factory->get_plugin_descriptor(factory, pick)
        init.instruction(&I::LocalGet(3))
            .instruction(&I::I32Const(f.pick as i32));
        field(&mut init, I::LocalGet(3), 4);
        init.instruction(&indirect(t_ii_i))
            .instruction(&I::GlobalSet(g_desc))
            .instruction(&I::GlobalGet(g_desc));
        fail_if_zero(&mut init, 4);
        // plugin = factory->create_plugin(factory, host, desc->id)
        init.instruction(&I::LocalGet(3));
        addr(&mut init, HOST);
        init.instruction(&I::GlobalGet(g_desc))
            .instruction(&I::I32Load(w32(12)));
        field(&mut init, I::LocalGet(3), 8);
        init.instruction(&indirect(t_iii_i))
            .instruction(&I::GlobalSet(g_plugin))
            .instruction(&I::GlobalGet(g_plugin));
        fail_if_zero(&mut init, 5);
        let plugin = |func: &mut Function| {
            func.instruction(&I::GlobalGet(g_plugin));
        };
        // A call through one of the plugin's methods, the plugin first.
        let method = |func: &mut Function, offset: u32, ty: u32, args: &dyn Fn(&mut Function)| {
            plugin(func);
            args(func);
            field(func, I::GlobalGet(g_plugin), offset);
            func.instruction(&indirect(ty));
        };
        method(&mut init, 8, t_i_i, &|_| {});
        fail_if_zero(&mut init, 6);
        // The parameters' ids, in the plugin's order, PARAM_CAP at most.
        method(&mut init, 40, t_ii_i, &|func| string(func, S_PARAMS));
        init.instruction(&I::GlobalSet(g_params))
            .instruction(&I::GlobalGet(g_params))
            .instruction(&I::If(BlockType::Empty));
        {
            plugin(&mut init);
            field(&mut init, I::GlobalGet(g_params), 0);
            init.instruction(&indirect(t_i_i));
            at_most(&mut init, 4, PARAM_CAP);
            init.instruction(&I::GlobalSet(g_nparams))
                .instruction(&I::I32Const(0))
                .instruction(&I::LocalSet(5))
                .instruction(&I::Block(BlockType::Empty))
                .instruction(&I::Loop(BlockType::Empty))
                .instruction(&I::LocalGet(5))
                .instruction(&I::GlobalGet(g_nparams))
                .instruction(&I::I32GeU)
                .instruction(&I::BrIf(1));
            // ids[i] = get_info(plugin, i, info) ? info.id : -1
            addr(&mut init, PARAM_IDS);
            init.instruction(&I::LocalGet(5))
                .instruction(&I::I32Const(4))
                .instruction(&I::I32Mul)
                .instruction(&I::I32Add);
            plugin(&mut init);
            init.instruction(&I::LocalGet(5));
            addr(&mut init, PARAM_INFO);
            field(&mut init, I::GlobalGet(g_params), 4);
            init.instruction(&indirect(t_iii_i))
                .instruction(&I::If(BlockType::Result(ValType::I32)));
            init.instruction(&I::GlobalGet(g_base))
                .instruction(&I::I32Load(w32(PARAM_INFO)))
                .instruction(&I::Else)
                .instruction(&I::I32Const(-1))
                .instruction(&I::End)
                .instruction(&I::I32Store(w32(0)))
                .instruction(&I::LocalGet(5))
                .instruction(&I::I32Const(1))
                .instruction(&I::I32Add)
                .instruction(&I::LocalSet(5))
                .instruction(&I::Br(0))
                .instruction(&I::End)
                .instruction(&I::End);
        }
        init.instruction(&I::End);
        // State: the streams, and a block for the plugin's state if it has `clap.state`.
        for (offset, callback) in [
            (OSTREAM + 4, "wasp_clap_stream_write"),
            (ISTREAM + 4, "wasp_clap_stream_read"),
        ] {
            grow(&mut init, idx(callback));
            store_at(&mut init, offset, &|func| {
                func.instruction(&I::LocalGet(4));
            });
        }
        method(&mut init, 40, t_ii_i, &|func| string(func, S_STATE));
        init.instruction(&I::GlobalSet(g_state_ext))
            .instruction(&I::GlobalGet(g_state_ext))
            .instruction(&I::If(BlockType::Empty))
            .instruction(&I::I32Const(STATE_CAP as i32))
            .instruction(&I::Call(malloc))
            .instruction(&I::GlobalSet(g_state))
            .instruction(&I::End);
        // Audio ports: as many as the plugin has (PORTS at most), each with its channel count
        // (PORT_CHANNELS at most). Without the extension: one stereo port each way.
        method(&mut init, 40, t_ii_i, &|func| string(func, S_AUDIO_PORTS));
        init.instruction(&I::LocalSet(6));
        for (is_input, buffers, count_at) in
            [(1, AUDIO_IN, PROCESS + 24), (0, AUDIO_OUT, PROCESS + 28)]
        {
            // local 4: the number of ports
            init.instruction(&I::LocalGet(6))
                .instruction(&I::If(BlockType::Result(ValType::I32)));
            plugin(&mut init);
            init.instruction(&I::I32Const(is_input));
            field(&mut init, I::LocalGet(6), 0);
            init.instruction(&indirect(t_ii_i))
                .instruction(&I::Else)
                .instruction(&I::I32Const(1))
                .instruction(&I::End);
            at_most(&mut init, 4, PORTS);
            init.instruction(&I::LocalSet(4));
            store_at(&mut init, count_at, &|func| {
                func.instruction(&I::LocalGet(4));
            });
            for port in 0..PORTS {
                // channel_count = get(plugin, port, is_input, info) ? info.channel_count : 2
                addr(&mut init, buffers + 24 * port + 8);
                init.instruction(&I::LocalGet(6))
                    .instruction(&I::If(BlockType::Result(ValType::I32)));
                plugin(&mut init);
                init.instruction(&I::I32Const(port as i32))
                    .instruction(&I::I32Const(is_input));
                addr(&mut init, PARAM_INFO);
                field(&mut init, I::LocalGet(6), 4);
                init.instruction(&indirect(t_iiii_i))
                    .instruction(&I::If(BlockType::Result(ValType::I32)))
                    .instruction(&I::GlobalGet(g_base))
                    .instruction(&I::I32Load(w32(PARAM_INFO + PORT_INFO_CHANNELS)))
                    .instruction(&I::Else)
                    .instruction(&I::I32Const(2))
                    .instruction(&I::End)
                    .instruction(&I::Else)
                    .instruction(&I::I32Const(2))
                    .instruction(&I::End);
                at_most(&mut init, 5, PORT_CHANNELS);
                init.instruction(&I::I32Store(w32(0)));
                if port == 0 && is_input == 0 {
                    // A mono main output: its channel is copied to the right after `process`.
                    init.instruction(&I::LocalGet(5))
                        .instruction(&I::I32Const(1))
                        .instruction(&I::I32Eq)
                        .instruction(&I::GlobalSet(g_mono));
                }
            }
        }
        // activate(plugin, rate, 1, BLOCK): Wasp never hands it more than BLOCK frames.
        method(&mut init, 16, t_act, &|func| {
            func.instruction(&I::LocalGet(0))
                .instruction(&I::F64PromoteF32)
                .instruction(&I::I32Const(1))
                .instruction(&I::I32Const(BLOCK as i32));
        });
        fail_if_zero(&mut init, 7);
        method(&mut init, 24, t_i_i, &|_| {});
        fail_if_zero(&mut init, 8);
        init.instruction(&I::End);
    }

    // wasp_process(frames)
    let mut process = Function::new([]);
    {
        let silence = |func: &mut Function| {
            func.instruction(&I::GlobalGet(g_out))
                .instruction(&I::I32Const(0))
                .instruction(&I::I32Const((2 * 4 * BLOCK) as i32))
                .instruction(&I::MemoryFill(0));
        };
        process
            .instruction(&I::GlobalGet(g_plugin))
            .instruction(&I::I32Eqz)
            .instruction(&I::If(BlockType::Empty));
        silence(&mut process);
        process.instruction(&I::Return).instruction(&I::End);
        store_at(&mut process, PROCESS + 8, &|func| {
            func.instruction(&I::LocalGet(0));
        });
        // Outputs start silent: a plugin with no output port, or a mono one, writes less.
        silence(&mut process);
        // The song's transport, if the host gave one: Wasp's block made a CLAP event.
        // Wasp's `valid` bits 1, 2, 4, 8 (tempo, beats, seconds, time signature) are CLAP's
        // HAS_TEMPO, HAS_BEATS_TIMELINE, HAS_SECONDS_TIMELINE and HAS_TIME_SIGNATURE.
        let t = |field: u32| TRANSPORT + field;
        let c = |field: u32| CLAP_TRANSPORT + field;
        let fixed = |func: &mut Function, from: u32, to: u32| {
            // A position as CLAP's fixed point: value × 2^31, as an i64.
            func.instruction(&I::GlobalGet(g_base))
                .instruction(&I::GlobalGet(g_base))
                .instruction(&I::F64Load(at(from, 3)))
                .instruction(&I::F64Const(2147483648.0.into()))
                .instruction(&I::F64Mul)
                .instruction(&I::I64TruncSatF64S)
                .instruction(&I::I64Store(at(to, 3)));
        };
        process
            .instruction(&I::GlobalGet(g_base))
            .instruction(&I::I32Load(w32(t(36))))
            .instruction(&I::I32Const(15))
            .instruction(&I::I32And)
            .instruction(&I::If(BlockType::Empty));
        {
            addr(&mut process, CLAP_TRANSPORT);
            process
                .instruction(&I::I32Const(0))
                .instruction(&I::I32Const(104))
                .instruction(&I::MemoryFill(0));
            // header: size 104, time 0, core space, CLAP_EVENT_TRANSPORT (9)
            store_at(&mut process, c(0), &|func| {
                func.instruction(&I::I32Const(104));
            });
            process
                .instruction(&I::GlobalGet(g_base))
                .instruction(&I::I32Const(9))
                .instruction(&I::I32Store16(at(c(10), 1)));
            store_at(&mut process, c(16), &|func| {
                func.instruction(&I::GlobalGet(g_base))
                    .instruction(&I::I32Load(w32(t(36))))
                    .instruction(&I::I32Const(15))
                    .instruction(&I::I32And)
                    .instruction(&I::GlobalGet(g_base))
                    .instruction(&I::I32Load(w32(t(24))))
                    .instruction(&I::I32Const(0))
                    .instruction(&I::I32Ne)
                    .instruction(&I::I32Const(4))
                    .instruction(&I::I32Shl)
                    .instruction(&I::I32Or);
            });
            fixed(&mut process, t(8), c(24));
            fixed(&mut process, t(16), c(32));
            process
                .instruction(&I::GlobalGet(g_base))
                .instruction(&I::GlobalGet(g_base))
                .instruction(&I::F64Load(at(t(0), 3)))
                .instruction(&I::F64Store(at(c(40), 3)));
            fixed(&mut process, t(40), c(88));
            // bar_number: the bar's start over the beats in a bar (numerator × 4 / denominator)
            store_at(&mut process, c(96), &|func| {
                func.instruction(&I::GlobalGet(g_base))
                    .instruction(&I::F64Load(at(t(40), 3)))
                    .instruction(&I::GlobalGet(g_base))
                    .instruction(&I::I32Load(w32(t(28))))
                    .instruction(&I::F64ConvertI32S)
                    .instruction(&I::F64Const(4.0.into()))
                    .instruction(&I::F64Mul)
                    .instruction(&I::GlobalGet(g_base))
                    .instruction(&I::I32Load(w32(t(32))))
                    .instruction(&I::F64ConvertI32S)
                    .instruction(&I::F64Div)
                    .instruction(&I::F64Div)
                    .instruction(&I::I32TruncSatF64S);
            });
            for (from, to) in [(t(28), c(100)), (t(32), c(102))] {
                process
                    .instruction(&I::GlobalGet(g_base))
                    .instruction(&I::GlobalGet(g_base))
                    .instruction(&I::I32Load(w32(from)))
                    .instruction(&I::I32Store16(at(to, 1)));
            }
            store_at(&mut process, PROCESS + 12, &|func| {
                addr(func, CLAP_TRANSPORT)
            });
        }
        process.instruction(&I::Else);
        store_at(&mut process, PROCESS + 12, &|func| {
            func.instruction(&I::I32Const(0));
        });
        process.instruction(&I::End);
        process
            .instruction(&I::GlobalGet(g_base))
            .instruction(&I::GlobalGet(g_steady))
            .instruction(&I::I64Store(at(PROCESS, 3)))
            .instruction(&I::I32Const(1))
            .instruction(&I::GlobalSet(g_audio))
            .instruction(&I::GlobalGet(g_plugin));
        addr(&mut process, PROCESS);
        process
            .instruction(&I::GlobalGet(g_plugin))
            .instruction(&I::I32Load(w32(36)))
            .instruction(&indirect(t_ii_i))
            .instruction(&I::GlobalSet(g_status))
            .instruction(&I::GlobalGet(g_status))
            .instruction(&I::I32Const(0))
            .instruction(&I::GlobalSet(g_audio))
            .instruction(&I::I32Const(0))
            .instruction(&I::GlobalSet(g_count))
            .instruction(&I::GlobalGet(g_steady))
            .instruction(&I::LocalGet(0))
            .instruction(&I::I64ExtendI32U)
            .instruction(&I::I64Add)
            .instruction(&I::GlobalSet(g_steady))
            // CLAP_PROCESS_ERROR: the block is not valid output.
            .instruction(&I::I32Eqz)
            .instruction(&I::If(BlockType::Empty));
        silence(&mut process);
        process
            .instruction(&I::End)
            .instruction(&I::GlobalGet(g_mono))
            .instruction(&I::If(BlockType::Empty))
            .instruction(&I::GlobalGet(g_out))
            .instruction(&I::I32Const((4 * BLOCK) as i32))
            .instruction(&I::I32Add)
            .instruction(&I::GlobalGet(g_out))
            .instruction(&I::LocalGet(0))
            .instruction(&I::I32Const(2))
            .instruction(&I::I32Shl)
            .instruction(&I::MemoryCopy {
                src_mem: 0,
                dst_mem: 0,
            })
            .instruction(&I::End)
            .instruction(&I::End);
    }

    // push_event(type, size) -> address of a cleared event with its header written, or 0.
    let mut push = Function::new([(1, ValType::I32)]);
    push.instruction(&I::GlobalGet(g_count))
        .instruction(&I::I32Const(EVENT_CAP as i32))
        .instruction(&I::I32GeU)
        .return_value_if(0);
    addr(&mut push, EVENTS);
    push.instruction(&I::GlobalGet(g_count))
        .instruction(&I::I32Const(EVENT_STRIDE as i32))
        .instruction(&I::I32Mul)
        .instruction(&I::I32Add)
        .instruction(&I::LocalTee(2))
        .instruction(&I::I32Const(0))
        .instruction(&I::I32Const(EVENT_STRIDE as i32))
        .instruction(&I::MemoryFill(0))
        .instruction(&I::LocalGet(2))
        .instruction(&I::LocalGet(1))
        .instruction(&I::I32Store(w32(0)))
        // time 0, space 0 (core), type
        .instruction(&I::LocalGet(2))
        .instruction(&I::LocalGet(0))
        .instruction(&I::I32Store16(at(10, 1)))
        .instruction(&I::GlobalGet(g_count))
        .instruction(&I::I32Const(1))
        .instruction(&I::I32Add)
        .instruction(&I::GlobalSet(g_count))
        .instruction(&I::LocalGet(2))
        .instruction(&I::End);
    let f_push = idx("wasp_clap_push_event");

    // wasp_set_param(i, value): CLAP_EVENT_PARAM_VALUE (48 bytes).
    let mut set = Function::new([(1, ValType::I32)]);
    set.instruction(&I::LocalGet(0))
        .instruction(&I::GlobalGet(g_nparams))
        .instruction(&I::I32GeU)
        .return_if()
        .instruction(&I::I32Const(5))
        .instruction(&I::I32Const(48))
        .instruction(&I::Call(f_push))
        .instruction(&I::LocalTee(2))
        .instruction(&I::I32Eqz)
        .return_if()
        .instruction(&I::LocalGet(2));
    addr(&mut set, PARAM_IDS);
    set.instruction(&I::LocalGet(0))
        .instruction(&I::I32Const(4))
        .instruction(&I::I32Mul)
        .instruction(&I::I32Add)
        .instruction(&I::I32Load(w32(0)))
        .instruction(&I::I32Store(w32(16)))
        // note_id -1, port, channel and key -1 (i16 each): all of them at once.
        .instruction(&I::LocalGet(2))
        .instruction(&I::I32Const(-1))
        .instruction(&I::I32Store(w32(24)))
        .instruction(&I::LocalGet(2))
        .instruction(&I::I64Const(-1))
        .instruction(&I::I64Store(at(28, 2)))
        .instruction(&I::LocalGet(2))
        .instruction(&I::LocalGet(1))
        .instruction(&I::F64PromoteF32)
        .instruction(&I::F64Store(at(40, 3)))
        .instruction(&I::End);

    // Notes: CLAP_EVENT_NOTE_ON / OFF (40 bytes), key on port 0, channel 0, any note id.
    let note = |kind: i32| {
        let mut func = Function::new([(1, ValType::I32)]);
        func.instruction(&I::I32Const(kind))
            .instruction(&I::I32Const(40))
            .instruction(&I::Call(f_push))
            .instruction(&I::LocalTee(2))
            .instruction(&I::I32Eqz)
            .return_if()
            .instruction(&I::LocalGet(2))
            .instruction(&I::I32Const(-1))
            .instruction(&I::I32Store(w32(16)))
            .instruction(&I::LocalGet(2))
            .instruction(&I::LocalGet(0))
            .instruction(&I::I32Store16(at(24, 1)))
            .instruction(&I::LocalGet(2))
            .instruction(&I::LocalGet(1))
            .instruction(&I::F64PromoteF32)
            .instruction(&I::F64Store(at(32, 3)))
            .instruction(&I::End);
        func
    };
    let note_on = note(0);
    let note_off = note(1);

    // wasp_midi(status, data1, data2): CLAP_EVENT_MIDI (24 bytes) on port 0.
    let mut midi = Function::new([(1, ValType::I32)]);
    midi.instruction(&I::I32Const(10))
        .instruction(&I::I32Const(24))
        .instruction(&I::Call(f_push))
        .instruction(&I::LocalTee(3))
        .instruction(&I::I32Eqz)
        .return_if();
    for (arg, offset) in [(0, 18), (1, 19), (2, 20)] {
        midi.instruction(&I::LocalGet(3))
            .instruction(&I::LocalGet(arg))
            .instruction(&I::I32Store8(at(offset, 0)));
    }
    midi.instruction(&I::End);

    // wasp_reset: the plugin's reset. Queued events stay: parameter values set before a reset
    // (a restored project's) must still reach the plugin.
    let mut reset = Function::new([]);
    reset
        .instruction(&I::GlobalGet(g_plugin))
        .instruction(&I::If(BlockType::Empty))
        .instruction(&I::GlobalGet(g_plugin))
        .instruction(&I::GlobalGet(g_plugin))
        .instruction(&I::I32Load(w32(32)))
        .instruction(&indirect(t_i_v))
        .instruction(&I::End)
        .instruction(&I::End);

    // dsp(l, r): one frame through wasp_process.
    let mut dsp = Function::new([]);
    for c in 0..2u32 {
        dsp.instruction(&I::GlobalGet(g_in))
            .instruction(&I::LocalGet(c))
            .instruction(&I::F32Store(at(4 * BLOCK * c, 2)));
    }
    dsp.instruction(&I::I32Const(1))
        .instruction(&I::Call(idx("wasp_process")));
    for c in 0..2u32 {
        dsp.instruction(&I::GlobalGet(g_out))
            .instruction(&I::F32Load(at(4 * BLOCK * c, 2)));
    }
    dsp.instruction(&I::End);

    // streq(a, b): whether two NUL-terminated strings are equal.
    let mut streq = Function::new([(1, ValType::I32)]);
    streq
        .instruction(&I::Loop(BlockType::Empty))
        .instruction(&I::LocalGet(0))
        .instruction(&I::I32Load8U(at(0, 0)))
        .instruction(&I::LocalTee(2))
        .instruction(&I::LocalGet(1))
        .instruction(&I::I32Load8U(at(0, 0)))
        .instruction(&I::I32Ne)
        .return_value_if(0)
        .instruction(&I::LocalGet(2))
        .instruction(&I::I32Eqz)
        .return_value_if(1)
        .instruction(&I::LocalGet(0))
        .instruction(&I::I32Const(1))
        .instruction(&I::I32Add)
        .instruction(&I::LocalSet(0))
        .instruction(&I::LocalGet(1))
        .instruction(&I::I32Const(1))
        .instruction(&I::I32Add)
        .instruction(&I::LocalSet(1))
        .instruction(&I::Br(0))
        .instruction(&I::End)
        .instruction(&I::Unreachable)
        .instruction(&I::End);

    // host.get_extension(host, id)
    let mut get_extension = Function::new([]);
    for (s, ext) in [
        (S_LOG, EXT_LOG),
        (S_THREAD, EXT_THREAD),
        (S_PARAMS, EXT_PARAMS),
        (S_STATE, EXT_STATE),
        (S_LATENCY, EXT_LATENCY),
        (S_TAIL, EXT_TAIL),
        (S_AUDIO_PORTS, EXT_AUDIO_PORTS),
        (S_NOTE_PORTS, EXT_NOTE_PORTS),
    ] {
        get_extension.instruction(&I::LocalGet(1));
        addr(&mut get_extension, string_at[s]);
        get_extension
            .instruction(&I::Call(idx("wasp_clap_streq")))
            .instruction(&I::If(BlockType::Empty));
        addr(&mut get_extension, ext);
        get_extension.instruction(&I::Return).instruction(&I::End);
    }
    get_extension
        .instruction(&I::I32Const(0))
        .instruction(&I::End);

    let mut request = Function::new([]);
    request.instruction(&I::End);
    let mut two = Function::new([]);
    two.instruction(&I::End);
    // params.clear(host, id, flags): nothing to clear.
    let mut three = Function::new([]);
    three.instruction(&I::End);
    // log(host, severity, message): counted, and the message appended to the log while it has
    // room, one line each. The message is read with the module's own loads: a wild pointer
    // traps here, in the sandbox.
    let mut log = Function::new([(1, ValType::I32)]);
    log.instruction(&I::GlobalGet(g_logs))
        .instruction(&I::I32Const(1))
        .instruction(&I::I32Add)
        .instruction(&I::GlobalSet(g_logs))
        .instruction(&I::Block(BlockType::Empty))
        .instruction(&I::Loop(BlockType::Empty))
        // Room for this byte and the line's end?
        .instruction(&I::GlobalGet(g_log))
        .instruction(&I::I32Const(LOG_CAP as i32 - 1))
        .instruction(&I::I32GeU)
        .instruction(&I::BrIf(1))
        .instruction(&I::LocalGet(2))
        .instruction(&I::I32Load8U(at(0, 0)))
        .instruction(&I::LocalTee(3))
        .instruction(&I::I32Eqz)
        .instruction(&I::BrIf(1));
    addr(&mut log, LOG);
    log.instruction(&I::GlobalGet(g_log))
        .instruction(&I::I32Add)
        .instruction(&I::LocalGet(3))
        .instruction(&I::I32Store8(at(0, 0)))
        .instruction(&I::GlobalGet(g_log))
        .instruction(&I::I32Const(1))
        .instruction(&I::I32Add)
        .instruction(&I::GlobalSet(g_log))
        .instruction(&I::LocalGet(2))
        .instruction(&I::I32Const(1))
        .instruction(&I::I32Add)
        .instruction(&I::LocalSet(2))
        .instruction(&I::Br(0))
        .instruction(&I::End)
        .instruction(&I::End)
        .instruction(&I::GlobalGet(g_log))
        .instruction(&I::I32Const(LOG_CAP as i32))
        .instruction(&I::I32LtU)
        .instruction(&I::If(BlockType::Empty));
    addr(&mut log, LOG);
    log.instruction(&I::GlobalGet(g_log))
        .instruction(&I::I32Add)
        .instruction(&I::I32Const(b'\n' as i32))
        .instruction(&I::I32Store8(at(0, 0)))
        .instruction(&I::GlobalGet(g_log))
        .instruction(&I::I32Const(1))
        .instruction(&I::I32Add)
        .instruction(&I::GlobalSet(g_log))
        .instruction(&I::End)
        .instruction(&I::End);
    let mut is_main = Function::new([]);
    is_main
        .instruction(&I::GlobalGet(g_audio))
        .instruction(&I::I32Eqz)
        .instruction(&I::End);
    let mut is_audio = Function::new([]);
    is_audio
        .instruction(&I::GlobalGet(g_audio))
        .instruction(&I::End);
    let mut size = Function::new([]);
    size.instruction(&I::GlobalGet(g_count))
        .instruction(&I::End);
    let mut get = Function::new([]);
    get.instruction(&I::LocalGet(1))
        .instruction(&I::GlobalGet(g_count))
        .instruction(&I::I32GeU)
        .return_value_if(0);
    addr(&mut get, EVENTS);
    get.instruction(&I::LocalGet(1))
        .instruction(&I::I32Const(EVENT_STRIDE as i32))
        .instruction(&I::I32Mul)
        .instruction(&I::I32Add)
        .instruction(&I::End);
    // Output events (gestures, parameter changes from the plugin) are accepted and dropped.
    let mut try_push = Function::new([]);
    try_push.instruction(&I::I32Const(1)).instruction(&I::End);
    // audio_ports.is_rescan_flag_supported(host, flag): Wasp rescans nothing while playing.
    let mut no = Function::new([]);
    no.instruction(&I::I32Const(0)).instruction(&I::End);
    // note_ports.supported_dialects(host): CLAP notes and MIDI.
    let mut dialects = Function::new([]);
    dialects.instruction(&I::I32Const(3)).instruction(&I::End);

    // wasp_clap_param_info(i): the plugin's info for parameter i at `base + PARAM_INFO`, or 0.
    let mut info = Function::new([]);
    info.instruction(&I::GlobalGet(g_params))
        .instruction(&I::I32Eqz)
        .return_value_if(0)
        .instruction(&I::GlobalGet(g_plugin))
        .instruction(&I::LocalGet(0));
    addr(&mut info, PARAM_INFO);
    info.instruction(&I::GlobalGet(g_params))
        .instruction(&I::I32Load(w32(4)))
        .instruction(&indirect(t_iii_i))
        .instruction(&I::If(BlockType::Result(ValType::I32)));
    addr(&mut info, PARAM_INFO);
    info.instruction(&I::Else)
        .instruction(&I::I32Const(0))
        .instruction(&I::End)
        .instruction(&I::End);

    // wasp_clap_ext_value(which): the plugin's latency (0) or tail (1), 0 without the extension.
    let mut ext_value = Function::new([(1, ValType::I32)]);
    ext_value
        .instruction(&I::GlobalGet(g_plugin))
        .instruction(&I::I32Eqz)
        .return_value_if(0)
        .instruction(&I::GlobalGet(g_plugin))
        .instruction(&I::LocalGet(0))
        .instruction(&I::If(BlockType::Result(ValType::I32)));
    addr(&mut ext_value, string_at[S_TAIL]);
    ext_value.instruction(&I::Else);
    addr(&mut ext_value, string_at[S_LATENCY]);
    ext_value
        .instruction(&I::End)
        .instruction(&I::GlobalGet(g_plugin))
        .instruction(&I::I32Load(w32(40)))
        .instruction(&indirect(t_ii_i))
        .instruction(&I::LocalTee(1))
        .instruction(&I::I32Eqz)
        .return_value_if(0)
        .instruction(&I::GlobalGet(g_plugin))
        .instruction(&I::LocalGet(1))
        .instruction(&I::I32Load(w32(0)))
        .instruction(&indirect(t_i_i))
        .instruction(&I::End);

    // wasp_clap_save() -> len: state.save(plugin, ostream) into the state block.
    let mut save = Function::new([]);
    save.instruction(&I::GlobalGet(g_state))
        .instruction(&I::I32Eqz)
        .instruction(&I::GlobalGet(g_plugin))
        .instruction(&I::I32Eqz)
        .instruction(&I::I32Or)
        .return_value_if(-1)
        .instruction(&I::I32Const(0))
        .instruction(&I::GlobalSet(g_cursor))
        .instruction(&I::I32Const(STATE_CAP as i32))
        .instruction(&I::GlobalSet(g_state_len))
        .instruction(&I::GlobalGet(g_plugin));
    addr(&mut save, OSTREAM);
    save.instruction(&I::GlobalGet(g_state_ext))
        .instruction(&I::I32Load(w32(0)))
        .instruction(&indirect(t_ii_i))
        .instruction(&I::If(BlockType::Result(ValType::I32)))
        .instruction(&I::GlobalGet(g_cursor))
        .instruction(&I::Else)
        .instruction(&I::I32Const(-1))
        .instruction(&I::End)
        .instruction(&I::End);

    // wasp_clap_load(len) -> ok: state.load(plugin, istream) from the state block.
    let mut load = Function::new([]);
    load.instruction(&I::GlobalGet(g_state))
        .instruction(&I::I32Eqz)
        .instruction(&I::GlobalGet(g_plugin))
        .instruction(&I::I32Eqz)
        .instruction(&I::I32Or)
        .instruction(&I::LocalGet(0))
        .instruction(&I::I32Const(STATE_CAP as i32))
        .instruction(&I::I32GtU)
        .instruction(&I::I32Or)
        .return_value_if(0)
        .instruction(&I::I32Const(0))
        .instruction(&I::GlobalSet(g_cursor))
        .instruction(&I::LocalGet(0))
        .instruction(&I::GlobalSet(g_state_len))
        .instruction(&I::GlobalGet(g_plugin));
    addr(&mut load, ISTREAM);
    load.instruction(&I::GlobalGet(g_state_ext))
        .instruction(&I::I32Load(w32(4)))
        .instruction(&indirect(t_ii_i))
        .instruction(&I::End);

    // write(stream, buffer, size) / read(stream, buffer, size): between the plugin's buffer and
    // the state block, at the cursor; at most what is left of `g_state_len`. A write that does
    // not fit whole fails (-1), so a state too big is never saved cut short.
    let stream = |writing: bool| {
        let mut func = Function::new([(1, ValType::I32)]);
        // local 3: what is left
        func.instruction(&I::GlobalGet(g_state_len))
            .instruction(&I::GlobalGet(g_cursor))
            .instruction(&I::I32Sub)
            .instruction(&I::LocalTee(3))
            .instruction(&I::I64ExtendI32U)
            .instruction(&I::LocalGet(2))
            .instruction(&I::I64LtU)
            .instruction(&I::If(BlockType::Empty));
        if writing {
            func.instruction(&I::I64Const(-1)).instruction(&I::Return);
        } else {
            func.instruction(&I::LocalGet(3))
                .instruction(&I::I64ExtendI32U)
                .instruction(&I::LocalSet(2));
        }
        func.instruction(&I::End);
        // (to, from, n)
        let at_cursor = |func: &mut Function| {
            func.instruction(&I::GlobalGet(g_state))
                .instruction(&I::GlobalGet(g_cursor))
                .instruction(&I::I32Add);
        };
        if writing {
            at_cursor(&mut func);
            func.instruction(&I::LocalGet(1));
        } else {
            func.instruction(&I::LocalGet(1));
            at_cursor(&mut func);
        }
        func.instruction(&I::LocalGet(2))
            .instruction(&I::I32WrapI64)
            .instruction(&I::MemoryCopy {
                src_mem: 0,
                dst_mem: 0,
            })
            .instruction(&I::GlobalGet(g_cursor))
            .instruction(&I::LocalGet(2))
            .instruction(&I::I32WrapI64)
            .instruction(&I::I32Add)
            .instruction(&I::GlobalSet(g_cursor))
            .instruction(&I::LocalGet(2))
            .instruction(&I::End);
        func
    };
    let write = stream(true);
    let read = stream(false);

    // wasp_clap_descriptor_at(i): the factory's i-th descriptor, 0 if there is none.
    let mut descriptor_at = Function::new([]);
    descriptor_at
        .instruction(&I::LocalGet(0))
        .instruction(&I::GlobalGet(g_plugins))
        .instruction(&I::I32GeU)
        .return_value_if(0)
        .instruction(&I::GlobalGet(g_factory))
        .instruction(&I::LocalGet(0));
    field(&mut descriptor_at, I::GlobalGet(g_factory), 4);
    descriptor_at
        .instruction(&indirect(t_ii_i))
        .instruction(&I::End);

    let bodies: Vec<&Function> = vec![
        &init,
        &process,
        &set,
        &reset,
        &dsp,
        &note_on,
        &note_off,
        &midi,
        &get_extension,
        &request,
        &two,
        &three,
        &log,
        &is_main,
        &is_audio,
        &size,
        &get,
        &try_push,
        &streq,
        &push,
        &info,
        &ext_value,
        &save,
        &load,
        &write,
        &read,
        &descriptor_at,
        &no,
        &dialects,
    ];

    let mut added: Vec<(u8, u32, Vec<u8>)> = Vec::new();
    added.push((TYPE, types.len() as u32, types.concat()));
    let mut funcs = Vec::new();
    for (ty, _) in fs.iter().chain(fs_more.iter()) {
        put_leb(&mut funcs, *ty);
    }
    added.push((FUNCTION, bodies.len() as u32, funcs));
    let mut globals = Vec::new();
    let global = |out: &mut Vec<u8>, ty: ValType, mutable: bool, init: I| {
        ty.encode(out);
        out.push(u8::from(mutable));
        init.encode(out);
        I::End.encode(out);
    };
    for i in 0..23u32 {
        if i == g_steady - g {
            global(&mut globals, I64, true, I::I64Const(0));
        } else if i == g_block - g {
            global(&mut globals, I32, false, I::I32Const(BLOCK as i32));
        } else {
            global(&mut globals, I32, true, I::I32Const(0));
        }
    }
    added.push((GLOBAL, 23, globals));
    let mut list: Vec<(&str, u8, u32)> = fs
        .iter()
        .chain(fs_more.iter())
        .filter(|(_, name)| *name != "wasp_clap_streq" && *name != "wasp_clap_push_event")
        .map(|&(_, name)| (name, 0x00, idx(name)))
        .collect();
    list.extend([
        ("wasp_in", 0x03, g_in),
        ("wasp_out", 0x03, g_out),
        ("wasp_block", 0x03, g_block),
        (names::ERROR, 0x03, g_error),
        (names::LOGS, 0x03, g_logs),
        (names::DESCRIPTOR, 0x03, g_desc),
        (names::PLUGIN_COUNT, 0x03, g_plugins),
        (names::PARAM_COUNT, 0x03, g_nparams),
        (names::STATUS, 0x03, g_status),
        (names::BLOCK, 0x03, g_base),
        (names::LOG_LEN, 0x03, g_log),
        (names::STATE, 0x03, g_state),
        ("wasp_transport", 0x03, g_transport),
    ]);
    added.push(rewrite::exports(&list));
    let mut code = Vec::new();
    for body in &bodies {
        body.encode(&mut code);
    }
    added.push((rewrite::CODE, bodies.len() as u32, code));

    let broken = || LoadError::Compile("the WCLAP's sections could not be split".into());
    let sections = sections(binary).ok_or_else(broken)?;
    rewrite::rebuild(binary, sections, added, |_| Edit::Keep)
        .map(Some)
        .ok_or_else(broken)
}
