//! Faust programs as the Faust compiler writes them (`faust -lang wasm`), loaded like any
//! module.
//!
//! Such a module exports Faust's own interface (`init(dsp, rate)`, `compute(dsp, frames,
//! inputs, outputs)`, `setParamValue(dsp, zone, value)`, `instanceClear(dsp)`...), keeps its
//! DSP structure at address 0 of its memory, and carries a JSON description of itself in a data
//! segment at address 0: name, channel counts, structure size and the UI (sliders, buttons,
//! with labels, ranges, units, scales and the byte offset of each control's *zone* in the
//! structure). Nothing in it follows Wasp's contract.
//!
//! Before anything else looks at such a module, [`adapt`] adds to it what the contract asks
//! for, written from that description, so the rest of Wasp (checks, block processing, swaps,
//! parameters, the editor) sees an ordinary Wasp module:
//! - `wasp_init` grows the memory by one page for the audio buffers (above everything Faust
//!   uses), points Faust's input and output arrays at them, and calls `init`;
//! - `wasp_process(frames)` calls `compute` over the buffers at `wasp_in` and `wasp_out`,
//!   [`BLOCK`] frames at most; `dsp` does the same for one frame;
//! - `wasp_set_param(i, value)` calls `setParamValue` with the zone of control `i`;
//! - `wasp_reset` calls `instanceClear`;
//! - a `wasp` metadata section: the program's name, its channels, a parameter per control
//!   (bargraphs, which are outputs, are left out) and its state.
//!
//! State: the DSP structure is the program's state (delay lines, filter memories, phases),
//! except the constants `instanceConstants` computes from the sample rate and the program's
//! own numbers. The adapter finds those fields from the stores in `instanceConstants`' code and
//! declares the rest of the structure as state regions, named after a hash of the structure's
//! size, UI and constant fields. A new version of the same program (a constant changed, say)
//! has the same names, so a swap carries all its state and keeps its own constants; a program
//! with another structure shares no name, so the swap crossfades. The swap report says which.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wasm_encoder::{BlockType, Encode, Function, Instruction as I, MemArg, ValType};
use wasmparser::{DataKind, ExternalKind, Operator, Payload, TypeRef};

use super::error::LoadError;
use super::metadata::{
    Address, Channels, Choice, Endless, Metadata, ParamSpec, RegionKind, Scale, StateRegion, Tail,
    MAX_CHOICES, SECTION_NAME,
};
use super::params::MAX_PARAMS;
use super::patch::fnv1a;
use super::rewrite::{self, put_leb, sections, Counts, Edit, CUSTOM, FUNCTION, GLOBAL, TYPE};
use super::sandbox::MEMORY_CAP;

/// Frames per `compute` call: the size of each audio buffer.
pub const BLOCK: u32 = 512;

/// Most state regions a Faust program's structure is split into (real programs have a few:
/// the constants sit together at the start of the structure).
const MAX_REGIONS: usize = 256;

/// What the adapter reads from a Faust module.
#[derive(Default)]
struct Facts {
    c: Counts,
    memory_imported: bool,
    json: Option<Vec<u8>>,
    has_wasp_section: bool,
    /// Byte offsets and sizes of the fields `instanceConstants` stores to.
    constants: Vec<(u32, u32)>,
}

fn facts(binary: &[u8]) -> Result<Facts, LoadError> {
    let mut f = Facts::default();
    let mut bodies = Vec::new();
    f.c = Counts::read(binary, |payload| {
        match payload {
            Payload::ImportSection(reader) => {
                for import in reader.clone().into_imports() {
                    if let TypeRef::Memory(_) = import.map_err(LoadError::malformed)?.ty {
                        f.memory_imported = true;
                    }
                }
            }
            Payload::DataSection(reader) => {
                for data in reader.clone() {
                    let data = data.map_err(LoadError::malformed)?;
                    if let DataKind::Active {
                        memory_index: 0,
                        offset_expr,
                    } = data.kind
                    {
                        let mut ops = offset_expr.get_operators_reader();
                        if let Ok(Operator::I32Const { value: 0 }) = ops.read() {
                            f.json = Some(data.data.to_vec());
                        }
                    }
                }
            }
            Payload::CodeSectionEntry(body) => bodies.push(body.clone()),
            Payload::CustomSection(section) if section.name() == SECTION_NAME => {
                f.has_wasp_section = true
            }
            _ => {}
        }
        Ok(())
    })?;
    if let Some(&(ExternalKind::Func, index)) = f.c.exports.get("instanceConstants") {
        if let Some(body) = index
            .checked_sub(f.c.imported_funcs)
            .and_then(|i| bodies.get(i as usize))
        {
            let mut ops = body.get_operators_reader().map_err(LoadError::malformed)?;
            while !ops.eof() {
                let (offset, bytes) = match ops.read().map_err(LoadError::malformed)? {
                    Operator::I32Store { memarg } | Operator::F32Store { memarg } => {
                        (memarg.offset, 4)
                    }
                    Operator::I64Store { memarg } | Operator::F64Store { memarg } => {
                        (memarg.offset, 8)
                    }
                    _ => continue,
                };
                f.constants
                    .push((u32::try_from(offset).unwrap_or(u32::MAX), bytes));
            }
        }
    }
    Ok(f)
}

/// Whether `binary` looks like the Faust compiler's output: Faust's exports and no `dsp`.
fn is_faust(f: &Facts) -> bool {
    let func = |name: &str| matches!(f.c.exports.get(name), Some((ExternalKind::Func, _)));
    func("compute") && func("init") && func("setParamValue") && !f.c.exports.contains_key("dsp")
}

/// One control of the Faust UI that becomes a parameter.
struct Control {
    spec: ParamSpec,
    zone: u32,
}

fn number(item: &Value, key: &str) -> Option<f32> {
    item.get(key).and_then(Value::as_f64).map(|v| v as f32)
}

/// A control's `[key:value]` metadata.
fn meta<'a>(item: &'a Value, key: &str) -> Option<&'a str> {
    item.get("meta")?
        .as_array()?
        .iter()
        .find_map(|m| m.get(key).and_then(Value::as_str))
}

/// A parameter id from a control's short name: lower case letters, digits and `_`.
fn id_of(name: &str) -> String {
    let id: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if id.is_empty() {
        "control".to_owned()
    } else {
        id
    }
}

/// Every input control of the UI tree, in order; stops one past [`MAX_PARAMS`] (enough to
/// refuse the program) however many it has.
fn controls(items: &[Value], out: &mut Vec<Control>) {
    for item in items {
        if out.len() > MAX_PARAMS {
            return;
        }
        let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
        if let Some(children) = item.get("items").and_then(Value::as_array) {
            controls(children, out);
            continue;
        }
        let (min, max, default) = match kind {
            "hslider" | "vslider" | "nentry" => (
                number(item, "min").unwrap_or(0.0),
                number(item, "max").unwrap_or(1.0),
                number(item, "init").unwrap_or(0.0),
            ),
            "button" | "checkbox" => (0.0, 1.0, 0.0),
            // Bargraphs are outputs; groups were handled above.
            _ => continue,
        };
        let Some(zone) = item.get("index").and_then(Value::as_u64) else {
            continue;
        };
        // `[hidden:1]`: the program keeps the control to itself; it stays at its `init`.
        if meta(item, "hidden").is_some_and(|h| h.trim() == "1") {
            continue;
        }
        let label = item.get("label").and_then(Value::as_str).unwrap_or("");
        let short = item
            .get("shortname")
            .and_then(Value::as_str)
            .unwrap_or(label);
        let base = id_of(short);
        let mut id = base.clone();
        let mut n = 1;
        while out.iter().any(|c| c.spec.id == id) {
            n += 1;
            id = format!("{base}_{n}");
        }
        let scale = match meta(item, "scale") {
            Some("log") if min > 0.0 => Scale::Log,
            _ => Scale::Linear,
        };
        let choices = match (kind, meta(item, "style")) {
            ("checkbox", _) => vec![choice("Off", 0.0), choice("On", 1.0)],
            (_, Some(style)) => menu(style, min, max),
            _ => Vec::new(),
        };
        let mut spec = ParamSpec {
            id,
            name: label.to_owned(),
            min,
            max,
            default: default.clamp(min.min(max), max.max(min)),
            unit: meta(item, "unit").unwrap_or("").to_owned(),
            scale,
            choices,
            about: meta(item, "tooltip").unwrap_or("").trim().to_owned(),
        };
        // Faust's `init` need not be one of a menu's values.
        spec.default = spec.limit(spec.default);
        out.push(Control {
            spec,
            zone: zone as u32,
        });
    }
}

fn choice(name: &str, value: f32) -> Choice {
    Choice {
        name: name.to_owned(),
        value,
    }
}

/// The entries of a `[style:menu{'Sine':0;'Saw':1}]` (or `radio{...}`) control. Nothing (a
/// plain slider) unless every entry is named, inside the range and of its own value, and
/// there are 2 to [`MAX_CHOICES`] of them.
fn menu(style: &str, min: f32, max: f32) -> Vec<Choice> {
    let Some(body) = ["menu{", "radio{"]
        .iter()
        .find_map(|prefix| style.trim().strip_prefix(prefix))
        .and_then(|rest| rest.strip_suffix('}'))
    else {
        return Vec::new();
    };
    let mut out: Vec<Choice> = Vec::new();
    for entry in body.split(';').filter(|e| !e.trim().is_empty()) {
        let Some((name, value)) = entry.rsplit_once(':') else {
            return Vec::new();
        };
        let name = name.trim().trim_matches('\'').trim();
        let Ok(value) = value.trim().parse::<f32>() else {
            return Vec::new();
        };
        let repeated = out
            .iter()
            .any(|c| c.value == value || c.name.eq_ignore_ascii_case(name));
        if name.is_empty() || !(min..=max).contains(&value) || repeated {
            return Vec::new();
        }
        out.push(choice(name, value));
    }
    if (2..=MAX_CHOICES).contains(&out.len()) {
        out
    } else {
        Vec::new()
    }
}

/// Pushes the frequency in Hz of MIDI key `local 0` (equal temperament, A4 = key 69 = 440 Hz):
/// C-1's 8.18 Hz times the semitone's ratio times two to the octave.
fn key_to_hz(func: &mut Function) {
    // key clamped to 0..=127, then octave and semitone.
    func.instruction(&I::LocalGet(0))
        .instruction(&I::I32Const(0))
        .instruction(&I::LocalGet(0))
        .instruction(&I::I32Const(0))
        .instruction(&I::I32GtS)
        .instruction(&I::Select)
        .instruction(&I::LocalTee(0))
        .instruction(&I::I32Const(127))
        .instruction(&I::LocalGet(0))
        .instruction(&I::I32Const(127))
        .instruction(&I::I32LtS)
        .instruction(&I::Select)
        .instruction(&I::LocalSet(0));
    func.instruction(&I::F32Const(8.175_799.into()));
    // The semitone's ratio: a chain of selects on key % 12, each keeping the ratio so far
    // unless the semitone is its own.
    func.instruction(&I::F32Const(1.0.into()));
    for semitone in 1..12 {
        func.instruction(&I::F32Const(2f32.powf(semitone as f32 / 12.0).into()))
            .instruction(&I::LocalGet(0))
            .instruction(&I::I32Const(12))
            .instruction(&I::I32RemU)
            .instruction(&I::I32Const(semitone))
            .instruction(&I::I32Ne)
            .instruction(&I::Select);
    }
    func.instruction(&I::F32Mul)
        .instruction(&I::I32Const(1))
        .instruction(&I::LocalGet(0))
        .instruction(&I::I32Const(12))
        .instruction(&I::I32DivU)
        .instruction(&I::I32Shl)
        .instruction(&I::F32ConvertI32U)
        .instruction(&I::F32Mul);
}

/// A value from the program's top-level `declare` metadata.
/// The program's `declare tail "2.5";` (seconds) or `declare tail "infinite";`, for hosts
/// that would otherwise cut a reverb's or a delay's tail. Anything else is no tail.
fn declared_tail(json: &Value) -> Tail {
    match declared(json, "tail").map(str::trim) {
        Some("infinite") => Tail::Endless(Endless::Infinite),
        Some(text) => match text.parse::<f32>() {
            Ok(s) if s.is_finite() && s >= 0.0 => Tail::Seconds(s),
            _ => Tail::default(),
        },
        None => Tail::default(),
    }
}

fn declared<'a>(json: &'a Value, key: &str) -> Option<&'a str> {
    json.get("meta")?
        .as_array()?
        .iter()
        .find_map(|m| m.get(key).and_then(Value::as_str))
}

/// Adds Wasp's contract to a module the Faust compiler wrote (see the module docs). `Ok(None)`
/// for any other module, which is left as it is.
pub(crate) fn adapt(binary: &[u8]) -> Result<Option<Vec<u8>>, LoadError> {
    let f = facts(binary)?;
    if !is_faust(&f) {
        return Ok(None);
    }
    let refuse = |why: String| Err(LoadError::Abi(format!("this Faust program {why}")));
    if f.has_wasp_section {
        // Someone wrote the contract by hand: respect it.
        return Ok(None);
    }
    if f.memory_imported || !matches!(f.c.exports.get("memory"), Some((ExternalKind::Memory, 0))) {
        return refuse(
            "imports its memory; compile it with `faust -lang wasm` (internal memory)".into(),
        );
    }
    let Some(raw) = f.json.as_deref() else {
        return refuse(
            "has no JSON description at address 0; was it compiled by `faust -lang wasm`?".into(),
        );
    };
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    let json: Value = serde_json::from_slice(&raw[..end]).map_err(|e| {
        LoadError::Abi(format!(
            "this Faust program's JSON description does not parse: {e}"
        ))
    })?;
    let options = json
        .get("compile_options")
        .and_then(Value::as_str)
        .unwrap_or("");
    if options
        .split_whitespace()
        .any(|o| o == "-double" || o == "-quad")
    {
        return refuse(format!(
            "was compiled with `{options}`; Wasp runs single-precision Faust (leave out -double)"
        ));
    }
    let count = |key: &str| json.get(key).and_then(Value::as_u64).unwrap_or(0);
    let (inputs, outputs) = (count("inputs"), count("outputs"));
    if inputs > 2 || !(1..=2).contains(&outputs) {
        return refuse(format!(
            "has {inputs} inputs and {outputs} outputs; Wasp plays Faust programs with 1 or 2 \
             outputs and at most 2 inputs"
        ));
    }
    let stereo = inputs == 2 || outputs == 2;
    let size = u32::try_from(count("size")).unwrap_or(u32::MAX);
    let mut list = Vec::new();
    if let Some(ui) = json.get("ui").and_then(Value::as_array) {
        controls(ui, &mut list);
    }
    if count("size") > MEMORY_CAP {
        return refuse(format!(
            "says its DSP structure is {} bytes, more than a module's memory may hold",
            count("size")
        ));
    }
    // A zone `setParamValue` writes (for a parameter or a note) must lie inside the structure,
    // or the first change would crash the program on the audio thread.
    if let Some(bad) = list
        .iter()
        .find(|c| c.zone % 4 != 0 || c.zone.saturating_add(4) > size)
    {
        return refuse(format!(
            "places the control \"{}\" at byte {}, outside its {size}-byte DSP structure",
            bad.spec.name, bad.zone
        ));
    }
    // Faust's voice convention: a program with a `gate` control is played with notes, which
    // drive `gate`, `freq` and `gain`; those three are then not parameters.
    let voice = |name: &str| list.iter().position(|c| c.spec.id == name);
    let notes = voice("gate").map(|gate| {
        let zone = |i: Option<usize>| i.map(|i| list[i].zone);
        (list[gate].zone, zone(voice("freq")), zone(voice("gain")))
    });
    if notes.is_some() {
        list.retain(|c| !matches!(c.spec.id.as_str(), "gate" | "freq" | "gain"));
    }
    if list.len() > MAX_PARAMS {
        return refuse(format!(
            "has more than {MAX_PARAMS} controls; Wasp maps at most {MAX_PARAMS} to parameters"
        ));
    }
    let func = |name: &str| match f.c.exports.get(name) {
        Some(&(ExternalKind::Func, index)) => Ok(index),
        _ => Err(LoadError::Abi(format!(
            "this Faust program does not export `{name}`; was it compiled by `faust -lang wasm`?"
        ))),
    };
    let (compute, init, set) = (func("compute")?, func("init")?, func("setParamValue")?);
    let clear = func("instanceClear")?;

    // State: the structure without the constant fields, in runs of whole f32s.
    let mut constant = vec![false; (size / 4) as usize];
    for &(offset, bytes) in &f.constants {
        for word in (offset / 4)..(offset.saturating_add(bytes)).div_ceil(4) {
            if let Some(c) = constant.get_mut(word as usize) {
                *c = true;
            }
        }
    }
    // The structure: its size, where the controls' zones are, which fields are constants.
    // Not the labels or ranges, nor the program's name (in every control's address).
    let mut key = format!("{size};");
    for control in &list {
        key += &format!("{},", control.zone);
    }
    key += ";";
    for (word, c) in constant.iter().enumerate() {
        if *c {
            key += &format!("{word},");
        }
    }
    let structure = fnv1a(key.as_bytes());
    let mut state = Vec::new();
    let mut word = 0;
    while word < constant.len() {
        if constant[word] {
            word += 1;
            continue;
        }
        let start = word;
        while word < constant.len() && !constant[word] {
            word += 1;
        }
        if state.len() == MAX_REGIONS {
            return refuse(format!(
                "has its constants scattered through its DSP structure in more than \
                 {MAX_REGIONS} pieces"
            ));
        }
        state.push(StateRegion {
            name: format!("faust-{structure:016x}-{start}"),
            kind: RegionKind::Array,
            at: Address::Bytes(4 * start as u32),
            len: (word - start) as u32,
            cursor: None,
        });
    }
    let name = json
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("Faust program");
    let meta = Metadata {
        name: name.to_owned(),
        author: declared(&json, "author").unwrap_or("").to_owned(),
        version: declared(&json, "version").unwrap_or("").to_owned(),
        channels: Some(if stereo {
            Channels::Stereo
        } else {
            Channels::Mono
        }),
        params: list.iter().map(|c| c.spec.clone()).collect(),
        state,
        tail: declared_tail(&json),
        latency: declared(&json, "latency")
            .and_then(|l| l.trim().parse::<u32>().ok())
            .unwrap_or(0),
        // Faust's filters are direct-form: their memory means something else under new
        // coefficients, so the new version takes the state and fades in over the old.
        blend: true,
        ..Metadata::default()
    };
    let payload = serde_json::to_vec(&meta).map_err(|e| LoadError::Metadata(e.to_string()))?;

    // New types, functions, globals and exports, at the end of their index spaces.
    const I32: u8 = 0x7f;
    const F32: u8 = 0x7d;
    let signature = |params: &[u8], results: &[u8]| {
        let mut t = vec![0x60];
        put_leb(&mut t, params.len() as u32);
        t.extend_from_slice(params);
        put_leb(&mut t, results.len() as u32);
        t.extend_from_slice(results);
        t
    };
    let dsp_type = if stereo {
        signature(&[F32, F32], &[F32, F32])
    } else {
        signature(&[F32], &[F32])
    };
    let types = [
        signature(&[F32, I32], &[]),
        signature(&[I32], &[]),
        signature(&[I32, F32], &[]),
        signature(&[], &[]),
        dsp_type,
    ];
    let t = f.c.types;
    let (t_init, t_process, t_set, t_reset, t_dsp) = (t, t + 1, t + 2, t + 3, t + 4);
    let first = f.c.imported_funcs + f.c.funcs;
    let (f_init, f_process, f_set, f_reset, f_dsp) =
        (first, first + 1, first + 2, first + 3, first + 4);
    let (f_note_on, f_note_off) = (first + 5, first + 6);
    let g = f.c.globals;
    let (g_base, g_in, g_out, g_block, g_key) = (g, g + 1, g + 2, g + 3, g + 4);

    let bytes_per_buffer = (BLOCK * 4) as i32;
    let at = |offset: u64| MemArg {
        offset,
        align: 2,
        memory_index: 0,
    };
    // Calls `compute(0, frames, base, base + 8)`: the input pointers at `base`, outputs after.
    let compute_call = |func: &mut Function, frames: &dyn Fn(&mut Function)| {
        func.instruction(&I::I32Const(0));
        frames(func);
        func.instruction(&I::GlobalGet(g_base))
            .instruction(&I::GlobalGet(g_base))
            .instruction(&I::I32Const(8))
            .instruction(&I::I32Add)
            .instruction(&I::Call(compute));
        if outputs == 1 && stereo {
            // One output for two channels: the right is a copy of the left.
            func.instruction(&I::GlobalGet(g_out))
                .instruction(&I::I32Const(bytes_per_buffer))
                .instruction(&I::I32Add)
                .instruction(&I::GlobalGet(g_out));
            frames(func);
            func.instruction(&I::I32Const(2))
                .instruction(&I::I32Shl)
                .instruction(&I::MemoryCopy {
                    src_mem: 0,
                    dst_mem: 0,
                });
        }
    };

    // wasp_init(rate, max_frames): a page for the buffers, the pointer arrays, then `init`.
    let mut wasp_init = Function::new([(1, ValType::I32)]);
    wasp_init
        .instruction(&I::I32Const(1))
        .instruction(&I::MemoryGrow(0))
        .instruction(&I::LocalTee(2))
        .instruction(&I::I32Const(-1))
        .instruction(&I::I32Eq)
        .instruction(&I::If(BlockType::Empty))
        .instruction(&I::Unreachable)
        .instruction(&I::End)
        .instruction(&I::LocalGet(2))
        .instruction(&I::I32Const(16))
        .instruction(&I::I32Shl)
        .instruction(&I::LocalTee(2))
        .instruction(&I::GlobalSet(g_base))
        .instruction(&I::LocalGet(2))
        .instruction(&I::I32Const(64))
        .instruction(&I::I32Add)
        .instruction(&I::GlobalSet(g_in))
        .instruction(&I::GlobalGet(g_in))
        .instruction(&I::I32Const(2 * bytes_per_buffer))
        .instruction(&I::I32Add)
        .instruction(&I::GlobalSet(g_out));
    for (slot, (global, channel)) in [(g_in, 0), (g_in, 1), (g_out, 0), (g_out, 1)]
        .into_iter()
        .enumerate()
    {
        wasp_init
            .instruction(&I::LocalGet(2))
            .instruction(&I::GlobalGet(global))
            .instruction(&I::I32Const(channel * bytes_per_buffer))
            .instruction(&I::I32Add)
            .instruction(&I::I32Store(at(4 * slot as u64)));
    }
    wasp_init
        .instruction(&I::I32Const(0))
        .instruction(&I::LocalGet(0))
        .instruction(&I::I32TruncSatF32S)
        .instruction(&I::Call(init))
        .instruction(&I::End);

    let mut wasp_process = Function::new([]);
    compute_call(&mut wasp_process, &|func| {
        func.instruction(&I::LocalGet(0));
    });
    wasp_process.instruction(&I::End);

    let mut wasp_set = Function::new([]);
    for (i, control) in list.iter().enumerate() {
        wasp_set
            .instruction(&I::LocalGet(0))
            .instruction(&I::I32Const(i as i32))
            .instruction(&I::I32Eq)
            .instruction(&I::If(BlockType::Empty))
            .instruction(&I::I32Const(0))
            .instruction(&I::I32Const(control.zone as i32))
            .instruction(&I::LocalGet(1))
            .instruction(&I::Call(set))
            .instruction(&I::End);
    }
    wasp_set.instruction(&I::End);

    let mut wasp_reset = Function::new([]);
    wasp_reset
        .instruction(&I::I32Const(0))
        .instruction(&I::Call(clear))
        .instruction(&I::End);

    // dsp: one frame through the same buffers.
    let mut dsp = Function::new([]);
    let channels: &[u32] = if stereo { &[0, 1] } else { &[0] };
    for &c in channels {
        dsp.instruction(&I::GlobalGet(g_in))
            .instruction(&I::LocalGet(c))
            .instruction(&I::F32Store(at(u64::from(c) * BLOCK as u64 * 4)));
    }
    compute_call(&mut dsp, &|func| {
        func.instruction(&I::I32Const(1));
    });
    for &c in channels {
        dsp.instruction(&I::GlobalGet(g_out))
            .instruction(&I::F32Load(at(u64::from(c) * BLOCK as u64 * 4)));
    }
    dsp.instruction(&I::End);

    // Notes: the last key held plays (monophonic); its release closes the gate.
    let zone_set = |func: &mut Function, zone: u32, value: &dyn Fn(&mut Function)| {
        func.instruction(&I::I32Const(0))
            .instruction(&I::I32Const(zone as i32));
        value(func);
        func.instruction(&I::Call(set));
    };
    let mut note_on = Function::new([]);
    let mut note_off = Function::new([]);
    if let Some((gate, freq, gain)) = notes {
        note_on
            .instruction(&I::LocalGet(0))
            .instruction(&I::GlobalSet(g_key));
        if let Some(freq) = freq {
            zone_set(&mut note_on, freq, &|func| key_to_hz(func));
        }
        if let Some(gain) = gain {
            zone_set(&mut note_on, gain, &|func| {
                func.instruction(&I::LocalGet(1));
            });
        }
        zone_set(&mut note_on, gate, &|func| {
            func.instruction(&I::F32Const(1.0.into()));
        });
        note_off
            .instruction(&I::LocalGet(0))
            .instruction(&I::GlobalGet(g_key))
            .instruction(&I::I32Eq)
            .instruction(&I::If(BlockType::Empty));
        zone_set(&mut note_off, gate, &|func| {
            func.instruction(&I::F32Const(0.0.into()));
        });
        note_off.instruction(&I::End);
    }
    note_on.instruction(&I::End);
    note_off.instruction(&I::End);

    let mut added: Vec<(u8, u32, Vec<u8>)> = Vec::new();
    added.push((TYPE, types.len() as u32, types.concat()));
    let mut funcs = Vec::new();
    let with_notes = notes.is_some();
    let mut func_types = vec![t_init, t_process, t_set, t_reset, t_dsp];
    if with_notes {
        func_types.extend([t_set, t_set]);
    }
    for &ty in &func_types {
        put_leb(&mut funcs, ty);
    }
    added.push((FUNCTION, func_types.len() as u32, funcs));
    let mut globals = Vec::new();
    for _ in 0..3 {
        globals.extend_from_slice(&[I32, 0x01]);
        I::I32Const(0).encode(&mut globals);
        I::End.encode(&mut globals);
    }
    globals.extend_from_slice(&[I32, 0x00]);
    I::I32Const(BLOCK as i32).encode(&mut globals);
    I::End.encode(&mut globals);
    globals.extend_from_slice(&[I32, 0x01]);
    I::I32Const(-1).encode(&mut globals);
    I::End.encode(&mut globals);
    added.push((GLOBAL, 5, globals));
    let mut list_of_exports = vec![
        ("wasp_init", 0x00, f_init),
        ("wasp_process", 0x00, f_process),
        ("wasp_set_param", 0x00, f_set),
        ("wasp_reset", 0x00, f_reset),
        ("dsp", 0x00, f_dsp),
        ("wasp_in", 0x03, g_in),
        ("wasp_out", 0x03, g_out),
        ("wasp_block", 0x03, g_block),
    ];
    if with_notes {
        list_of_exports.push(("wasp_note_on", 0x00, f_note_on));
        list_of_exports.push(("wasp_note_off", 0x00, f_note_off));
    }
    added.push(rewrite::exports(&list_of_exports));
    let mut code = Vec::new();
    let mut bodies = vec![&wasp_init, &wasp_process, &wasp_set, &wasp_reset, &dsp];
    if with_notes {
        bodies.extend([&note_on, &note_off]);
    }
    for body in &bodies {
        body.encode(&mut code);
    }
    added.push((rewrite::CODE, bodies.len() as u32, code));
    added.push((CUSTOM, 0, rewrite::custom(SECTION_NAME, &payload)));

    let broken = || LoadError::Compile("the Faust module's sections could not be split".into());
    let sections = sections(binary).ok_or_else(broken)?;
    rewrite::rebuild(binary, sections, added, |_| Edit::Keep)
        .map(Some)
        .ok_or_else(broken)
}

/// How long the Faust compiler may take before Wasp gives up on it.
pub const COMPILE_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether `path` names Faust source, which Wasp compiles with the Faust compiler.
pub fn is_source(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("dsp"))
}

/// Compiles Faust source (`text`, read from `path`) with the installed `faust` compiler to the
/// `.wasm` that `faust -lang wasm` writes. Runs the compiler as a separate process, on the
/// calling thread (the worker's), for at most [`COMPILE_TIMEOUT`]; its error messages come back
/// with the file's name and line numbers.
pub(crate) fn compile_source(text: &[u8], path: &Path) -> Result<Vec<u8>, LoadError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "program.dsp".to_owned());
    let failed = |why: String| LoadError::Faust(format!("could not compile {name}: {why}"));
    let dir = fresh_dir().map_err(|e| failed(format!("no temporary folder: {e}")))?;
    let cleanup = Cleanup(&dir);
    // The bytes Wasp read, not the file as it may be now, so the module matches its source.
    let copy = dir.join(&name);
    std::fs::write(&copy, text).map_err(|e| failed(e.to_string()))?;
    let wasm = dir.join("out.wasm");
    let errors = dir.join("errors.txt");
    let errors_file = std::fs::File::create(&errors).map_err(|e| failed(e.to_string()))?;
    let mut command = Command::new("faust");
    // `-ftz 2`: recursive signals flush subnormal numbers. WebAssembly has no flush-to-zero
    // mode, and a filter or reverb decaying into subnormals in silence is slow on x86.
    command.args(["-lang", "wasm", "-ftz", "2"]);
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        // `import` and `library` find files beside the original.
        command.arg("-I").arg(parent);
    }
    let spawned = command
        .arg(&copy)
        .arg("-o")
        .arg(&wasm)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(errors_file)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(LoadError::Faust(format!(
                "{name} is Faust source, and Wasp compiles it with the Faust compiler, which is \
                 not installed. Install it (Debian and Ubuntu: `sudo apt install faust`; macOS: \
                 `brew install faust`; or from faust.grame.fr), or drop the .wasm that \
                 `faust -lang wasm {name}` writes"
            )))
        }
        Err(e) => return Err(failed(format!("the Faust compiler did not start: {e}"))),
    };
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > COMPILE_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed(format!(
                    "the Faust compiler ran for over {} s and was stopped",
                    COMPILE_TIMEOUT.as_secs()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(failed(e.to_string())),
        }
    };
    if !status.success() {
        let text = std::fs::read_to_string(&errors).unwrap_or_default();
        // Name the file as the user knows it, not the copy.
        let text = text.replace(&copy.display().to_string(), &name);
        let text = text.trim();
        return Err(LoadError::Faust(if text.is_empty() {
            format!("the Faust compiler refused {name} ({status})")
        } else {
            format!("the Faust compiler refused {name}: {text}")
        }));
    }
    let bytes = std::fs::read(&wasm).map_err(|e| failed(e.to_string()));
    drop(cleanup);
    bytes
}

/// A new, empty folder of Wasp's own for one compile: never one that exists already (which
/// another compile, or another user, could be using), and private to this user.
fn fresh_dir() -> std::io::Result<std::path::PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let base = std::env::temp_dir();
    loop {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = base.join(format!(
            "wasp-faust-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        match builder.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Removes a temporary folder however the compile ends.
struct Cleanup<'a>(&'a Path);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module with Faust's exports and `json` at address 0, as a hostile file could fake.
    fn fake(json: &str) -> Vec<u8> {
        let escaped = json.replace('\\', "\\\\").replace('"', "\\\"");
        wat::parse_str(format!(
            r#"(module
                 (memory (export "memory") 1 100)
                 (data (i32.const 0) "{escaped}")
                 (func (export "compute") (param i32 i32 i32 i32))
                 (func (export "init") (param i32 i32))
                 (func (export "instanceClear") (param i32))
                 (func (export "setParamValue") (param i32 i32 f32)))"#
        ))
        .unwrap()
    }

    fn refusal(json: &str) -> String {
        adapt(&fake(json)).unwrap_err().to_string()
    }

    #[test]
    fn a_fake_description_cannot_crash_or_exhaust_wasp() {
        let slider = |index: u64| {
            format!(
                r#"{{"type":"hslider","label":"x","shortname":"x","index":{index},"init":0,"min":0,"max":1,"step":0.1}}"#
            )
        };
        let program = |size: u64, items: &str| {
            format!(
                r#"{{"name":"fake","size":{size},"inputs":1,"outputs":1,"ui":[{{"type":"vgroup","label":"g","items":[{items}]}}]}}"#
            )
        };
        // A zone outside the structure would trap on the audio thread at the first change.
        let m = refusal(&program(16, &slider(4096)));
        assert!(m.contains("outside its 16-byte DSP structure"), "{m}");
        let m = refusal(&program(16, &slider(2)));
        assert!(m.contains("at byte 2"), "{m}");
        // An absurd structure size is refused before anything is allocated for it.
        let m = refusal(&program(1 << 40, &slider(0)));
        assert!(m.contains("more than a module's memory may hold"), "{m}");
        // Thousands of controls: refused, after collecting no more than the cap.
        let many = vec![slider(0); 5000].join(",");
        let m = refusal(&program(16, &many));
        assert!(m.contains("more than 64 controls"), "{m}");
        // A sound description loads.
        let ok = adapt(&fake(&program(16, &slider(8)))).unwrap().unwrap();
        wasmparser::Validator::new().validate_all(&ok).unwrap();
    }

    #[test]
    fn repeated_control_names_get_ids_of_their_own() {
        let items: Vec<Value> = ["gain", "gain", "gain_2", "Gain!"]
            .iter()
            .enumerate()
            .map(|(i, name)| {
                serde_json::json!({"type": "hslider", "label": name, "shortname": name,
                                   "index": 4 * i, "init": 0, "min": 0, "max": 1})
            })
            .collect();
        let mut out = Vec::new();
        controls(&items, &mut out);
        let ids: Vec<&str> = out.iter().map(|c| c.spec.id.as_str()).collect();
        assert_eq!(ids, ["gain", "gain_2", "gain_2_2", "gain_"]);
    }

    /// A faked description with a slider upside down (the Faust compiler refuses to write
    /// one) is collected without a panic, and the metadata check refuses it afterwards.
    #[test]
    fn an_upside_down_control_does_not_panic() {
        let item = serde_json::json!({"type": "nentry", "label": "x", "shortname": "x",
            "index": 0, "init": 5, "min": 10, "max": 1,
            "meta": [{"style": "menu{'A':2;'B':5}"}]});
        let mut out = Vec::new();
        controls(&[item], &mut out);
        let meta = Metadata {
            params: vec![out[0].spec.clone()],
            ..Metadata::default()
        };
        let json = serde_json::to_vec(&meta).unwrap();
        let e = Metadata::parse(&json).unwrap_err().to_string();
        assert!(e.contains("min < max"), "{e}");
    }
}
