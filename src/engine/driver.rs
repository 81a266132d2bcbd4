//! The block driver: a small function Wasp adds to every module that calls the module's `dsp`
//! once per frame in a WebAssembly loop, so a whole block is one call from the host into
//! WebAssembly instead of one call per sample.
//!
//! Entering WebAssembly from the host costs tens of nanoseconds (the store is entered, trap
//! handling is set up, arguments are marshalled); a one-pole filter costs about three. The
//! driver is written into the module itself, before it is compiled, rather than linked as a
//! second instance: a call from the driver to `dsp` is then a direct call inside one module,
//! which the compiler may inline, so the per-frame cost is the `dsp` body and little else. The
//! module still sees exactly one `dsp` call per frame, in order: the contract does not change.
//!
//! What is added, all at the end of their index spaces (so no index the module uses moves):
//! - a memory `__wasp_io` (0 pages at first; Wasp grows it when it instantiates the module) for
//!   four planar `f32` buffers of `cap` bytes each: input left at 0, input right at `cap`,
//!   output left at `2 cap`, output right at `3 cap`;
//! - a mutable `i32` global `__wasp_frame`, which holds the frame being processed, so a trap can
//!   be reported at the sample it happened;
//! - a function `__wasp_run(frames, cap)` (with a third parameter, the output pair's address,
//!   for the frame-buffer shape).
//!
//! Export names starting with `__wasp_` are reserved for this (docs/ABI.md).

use std::ops::Range;

use wasm_encoder::{BlockType, Encode, Function, Instruction, MemArg, ValType};
use wasmparser::{ExternalKind, Payload, TypeRef};

use super::contract::{names, DspShape};
use super::error::LoadError;
use super::rewrite::{self, put_leb, sections, Edit, CODE, FUNCTION, GLOBAL, MEMORY, START, TYPE};
use super::stop;

/// The driver's exports.
pub(crate) const RUN: &str = "__wasp_run";
pub(crate) const IO: &str = "__wasp_io";
pub(crate) const FRAME: &str = "__wasp_frame";
/// Prefix of export names Wasp reserves.
pub(crate) const RESERVED: &str = "__wasp_";

/// Most 64 KiB pages the I/O memory may grow to: four buffers of 65,536 frames.
const IO_MAX_PAGES: u64 = 16;

/// What the driver needs to know about the module.
#[derive(Default)]
struct Facts {
    types: u32,
    /// The type index of every function, imported ones first.
    func_types: Vec<u32>,
    /// Parameter and result types of every function type (`None` for other kinds of type).
    signatures: Vec<Option<(Vec<wasmparser::ValType>, Vec<wasmparser::ValType>)>>,
    memories: u32,
    memory64: Vec<bool>,
    globals: u32,
    dsp: Option<u32>,
    memory: Option<u32>,
    start: Option<u32>,
    /// Per function body: its byte range in the binary (locals and code), and where stop
    /// checks go: the start of its code, then after every `loop` instruction.
    bodies: Vec<(Range<usize>, Vec<usize>)>,
}

fn facts(binary: &[u8]) -> Result<Facts, String> {
    let mut f = Facts::default();
    for payload in wasmparser::Parser::new(0).parse_all(binary) {
        match payload.map_err(|e| e.to_string())? {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for sub in group.map_err(|e| e.to_string())?.into_types() {
                        f.types += 1;
                        f.signatures.push(match &sub.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(func) => {
                                Some((func.params().to_vec(), func.results().to_vec()))
                            }
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    match import.map_err(|e| e.to_string())?.ty {
                        TypeRef::Func(t) => f.func_types.push(t),
                        TypeRef::Memory(m) => {
                            f.memories += 1;
                            f.memory64.push(m.memory64);
                        }
                        TypeRef::Global(_) => f.globals += 1,
                        _ => {}
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                for t in reader {
                    f.func_types.push(t.map_err(|e| e.to_string())?);
                }
            }
            Payload::MemorySection(reader) => {
                for m in reader {
                    f.memories += 1;
                    f.memory64.push(m.map_err(|e| e.to_string())?.memory64);
                }
            }
            Payload::GlobalSection(reader) => f.globals += reader.count(),
            Payload::StartSection { func, .. } => f.start = Some(func),
            Payload::CodeSectionEntry(body) => {
                let mut ops = body.get_operators_reader().map_err(|e| e.to_string())?;
                let mut checks = vec![ops.original_position()];
                while !ops.eof() {
                    if let wasmparser::Operator::Loop { .. } =
                        ops.read().map_err(|e| e.to_string())?
                    {
                        checks.push(ops.original_position());
                    }
                }
                f.bodies.push((body.range(), checks));
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(|e| e.to_string())?;
                    if export.name.starts_with(RESERVED) {
                        return Err(format!(
                            "the module exports `{}`, but export names starting with \
                             `{RESERVED}` are reserved for Wasp",
                            export.name
                        ));
                    }
                    match (export.kind, export.name) {
                        (ExternalKind::Func, names::DSP) => f.dsp = Some(export.index),
                        (ExternalKind::Memory, names::MEMORY) => f.memory = Some(export.index),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(f)
}

/// The shape of function `index`'s signature, if it is one of `dsp`'s.
fn shape_of(f: &Facts, index: u32) -> Option<DspShape> {
    use wasmparser::ValType::F32;
    let ty = *f.func_types.get(index as usize)?;
    let (params, results) = f.signatures.get(ty as usize)?.as_ref()?;
    match (params.as_slice(), results.as_slice()) {
        ([F32], [F32]) => Some(DspShape::Mono),
        ([F32, F32], [F32, F32]) => Some(DspShape::Stereo),
        ([F32, F32], []) => Some(DspShape::StereoFrame),
        _ => None,
    }
}

/// Adds the block driver to a validated module, and with `stops` the stop checks (see
/// `stop.rs`): the stop memory, a check at every function entry and loop head of the module's
/// code, and its start function turned into an export. `Ok(None)` when the module has no `dsp`
/// of a shape Wasp knows: it is left as it is, and the contract check says what is wrong.
pub(crate) fn inject(binary: &[u8], stops: bool) -> Result<Option<Vec<u8>>, LoadError> {
    let f = facts(binary).map_err(LoadError::Abi)?;
    let Some(dsp) = f.dsp else { return Ok(None) };
    let Some(shape) = shape_of(&f, dsp) else {
        return Ok(None);
    };
    let user_memory = match shape {
        DspShape::StereoFrame => {
            let Some(memory) = f.memory else {
                return Ok(None);
            };
            if f.memory64.get(memory as usize).copied().unwrap_or(false) {
                return Err(LoadError::Abi(
                    "`memory` is a 64-bit memory; a `dsp` that writes its output pair to \
                     `wasp_frame` needs a 32-bit one"
                        .into(),
                ));
            }
            Some(memory)
        }
        _ => None,
    };
    // The module was validated, so its sections split; if they somehow do not, say so
    // rather than load it without its driver.
    let broken = || LoadError::Compile("the module's sections could not be split".into());
    let sections = sections(binary).ok_or_else(broken)?;
    let io = f.memories;
    let stop = f.memories + 1;
    let frame = f.globals;
    let run = f.func_types.len() as u32;

    // The items to append, per section: id, count, encoded items.
    let mut added: Vec<(u8, u32, Vec<u8>)> = Vec::new();
    let mut ty = vec![0x60];
    let params: &[u8] = if user_memory.is_some() {
        &[0x7f, 0x7f, 0x7f]
    } else {
        &[0x7f, 0x7f]
    };
    put_leb(&mut ty, params.len() as u32);
    ty.extend_from_slice(params);
    ty.push(0);
    added.push((TYPE, 1, ty));
    let mut func = Vec::new();
    put_leb(&mut func, f.types);
    added.push((FUNCTION, 1, func));
    // Limits: flag 1 (has maximum), minimum 0, maximum.
    let mut mem = vec![0x01, 0x00];
    put_leb(&mut mem, IO_MAX_PAGES as u32);
    if stops {
        // One page, neither more nor less.
        mem.extend_from_slice(&[0x01, 0x01, 0x01]);
    }
    added.push((MEMORY, if stops { 2 } else { 1 }, mem));
    // Mutable i32, initialised by `i32.const 0`.
    added.push((GLOBAL, 1, vec![0x7f, 0x01, 0x41, 0x00, 0x0b]));
    let mut list = vec![(RUN, 0x00, run), (IO, 0x02, io), (FRAME, 0x03, frame)];
    if stops {
        list.push((stop::MEMORY, 0x02, stop));
        if let Some(start) = f.start {
            list.push((stop::START, 0x00, start));
        }
    }
    added.push(rewrite::exports(&list));
    let mut code = Vec::new();
    body(shape, dsp, io, frame, user_memory).encode(&mut code);
    added.push((CODE, 1, code));

    rewrite::rebuild(binary, sections, added, |id| match id {
        // Called by Wasp as `__wasp_start`, once the stop word is armed.
        START if stops => Edit::Drop,
        CODE if stops => match with_checks(binary, &f.bodies, stop) {
            Some(checked) => Edit::Replace(checked),
            None => Edit::Fail,
        },
        _ => Edit::Keep,
    })
    .map(Some)
    .ok_or_else(broken)
}

/// The module's code section with a stop check at each of `bodies`' check points: the count,
/// then every body with its new size. `None` if a range lies outside the binary.
fn with_checks(binary: &[u8], bodies: &[(Range<usize>, Vec<usize>)], stop: u32) -> Option<Vec<u8>> {
    use Instruction as I;
    let mut check = Vec::new();
    for instruction in [
        I::I32Const(0),
        // Atomic, so the compiler never reuses an earlier load of the flag: a plain load with
        // no store in between (`loop br 0`) could be hoisted out of the loop, and the flag
        // would never be seen.
        I::I32AtomicLoad(MemArg {
            offset: 0,
            align: 2,
            memory_index: stop,
        }),
        I::If(BlockType::Empty),
        I::Unreachable,
        I::End,
    ] {
        instruction.encode(&mut check);
    }
    let mut section = Vec::new();
    put_leb(&mut section, bodies.len() as u32);
    let mut content = Vec::new();
    for (range, checks) in bodies {
        content.clear();
        let mut from = range.start;
        for &at in checks {
            content.extend_from_slice(binary.get(from..at)?);
            content.extend_from_slice(&check);
            from = at;
        }
        content.extend_from_slice(binary.get(from..range.end)?);
        put_leb(&mut section, content.len() as u32);
        section.extend_from_slice(&content);
    }
    Some(section)
}

/// The driver's body: `run(frames, cap)` (plus the output pair's address for the frame-buffer
/// shape), looping over the frames and calling `dsp` once per frame.
fn body(shape: DspShape, dsp: u32, io: u32, frame: u32, user: Option<u32>) -> Function {
    use Instruction as I;
    const N: u32 = 0;
    const CAP: u32 = 1;
    const ADDR: u32 = 2;
    let first_local = if user.is_some() { 3 } else { 2 };
    // Locals: position, end, right input, left output, right output; two f32 for results.
    let (p, end, in_r, out_l, out_r) = (
        first_local,
        first_local + 1,
        first_local + 2,
        first_local + 3,
        first_local + 4,
    );
    let (l, r) = (first_local + 5, first_local + 6);
    let mut f = Function::new([(5, ValType::I32), (2, ValType::F32)]);
    let io_at = |offset: u64| MemArg {
        offset,
        align: 2,
        memory_index: io,
    };
    f.instruction(&I::LocalGet(N))
        .instruction(&I::I32Const(2))
        .instruction(&I::I32Shl)
        .instruction(&I::LocalSet(end))
        .instruction(&I::LocalGet(CAP))
        .instruction(&I::LocalSet(in_r))
        .instruction(&I::LocalGet(CAP))
        .instruction(&I::I32Const(1))
        .instruction(&I::I32Shl)
        .instruction(&I::LocalSet(out_l))
        .instruction(&I::LocalGet(CAP))
        .instruction(&I::I32Const(3))
        .instruction(&I::I32Mul)
        .instruction(&I::LocalSet(out_r))
        .instruction(&I::Block(BlockType::Empty))
        .instruction(&I::LocalGet(N))
        .instruction(&I::I32Eqz)
        .instruction(&I::BrIf(0))
        .instruction(&I::Loop(BlockType::Empty))
        // frame = p / 4
        .instruction(&I::LocalGet(p))
        .instruction(&I::I32Const(2))
        .instruction(&I::I32ShrU)
        .instruction(&I::GlobalSet(frame));
    // Arguments: the input samples of this frame.
    f.instruction(&I::LocalGet(p))
        .instruction(&I::F32Load(io_at(0)));
    if shape != DspShape::Mono {
        f.instruction(&I::LocalGet(p))
            .instruction(&I::LocalGet(in_r))
            .instruction(&I::I32Add)
            .instruction(&I::F32Load(io_at(0)));
    }
    f.instruction(&I::Call(dsp));
    match (shape, user) {
        (DspShape::Mono, _) => {
            f.instruction(&I::LocalSet(l));
        }
        (DspShape::Stereo, _) => {
            f.instruction(&I::LocalSet(r)).instruction(&I::LocalSet(l));
        }
        (DspShape::StereoFrame, user) => {
            let at = |offset: u64| MemArg {
                offset,
                align: 2,
                memory_index: user.unwrap_or(0),
            };
            f.instruction(&I::LocalGet(ADDR))
                .instruction(&I::F32Load(at(0)))
                .instruction(&I::LocalSet(l))
                .instruction(&I::LocalGet(ADDR))
                .instruction(&I::F32Load(at(4)))
                .instruction(&I::LocalSet(r));
        }
    }
    f.instruction(&I::LocalGet(p))
        .instruction(&I::LocalGet(out_l))
        .instruction(&I::I32Add)
        .instruction(&I::LocalGet(l))
        .instruction(&I::F32Store(io_at(0)));
    if shape != DspShape::Mono {
        f.instruction(&I::LocalGet(p))
            .instruction(&I::LocalGet(out_r))
            .instruction(&I::I32Add)
            .instruction(&I::LocalGet(r))
            .instruction(&I::F32Store(io_at(0)));
    }
    f.instruction(&I::LocalGet(p))
        .instruction(&I::I32Const(4))
        .instruction(&I::I32Add)
        .instruction(&I::LocalTee(p))
        .instruction(&I::LocalGet(end))
        .instruction(&I::I32LtU)
        .instruction(&I::BrIf(0))
        .instruction(&I::End)
        .instruction(&I::End)
        .instruction(&I::End);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(binary: &[u8]) {
        wasmparser::Validator::new()
            .validate_all(binary)
            .expect("the module with its driver is valid");
    }

    #[test]
    fn adds_a_driver_to_modules_with_and_without_the_sections_it_extends() {
        for text in [
            // Nothing but `dsp`: the memory, global and type sections are new.
            r#"(module (func (export "dsp") (param f32) (result f32) local.get 0))"#,
            // Everything present, an import and a start function in between.
            r#"(module
                 (import "env" "sinf" (func $sin (param f32) (result f32)))
                 (memory (export "memory") 1)
                 (global $g (mut f32) (f32.const 0))
                 (func $s)
                 (start $s)
                 (func (export "dsp") (param f32 f32) (result f32 f32)
                   local.get 0 call $sin local.get 1)
                 (data (i32.const 0) "x"))"#,
            // The frame-buffer shape reads the module's memory.
            r#"(module
                 (memory (export "memory") 1)
                 (global (export "wasp_frame") i32 (i32.const 16))
                 (func (export "dsp") (param f32 f32)))"#,
        ] {
            let binary = wat::parse_str(text).unwrap();
            let injected = inject(&binary, false).unwrap().expect("a driver");
            valid(&injected);
            // With stop checks too.
            let checked = inject(&binary, true).unwrap().expect("a driver");
            valid(&checked);
            assert!(checked.len() > injected.len());
            let exports: Vec<String> = wasmparser::Parser::new(0)
                .parse_all(&injected)
                .filter_map(|p| match p.unwrap() {
                    Payload::ExportSection(r) => Some(
                        r.into_iter()
                            .map(|e| e.unwrap().name.to_owned())
                            .collect::<Vec<_>>(),
                    ),
                    _ => None,
                })
                .flatten()
                .collect();
            for name in [RUN, IO, FRAME, names::DSP] {
                assert!(exports.iter().any(|e| e == name), "{name} in {exports:?}");
            }
        }
    }

    /// The export names and start function of a module.
    fn exports_and_start(binary: &[u8]) -> (Vec<String>, Option<u32>) {
        let (mut exports, mut start) = (Vec::new(), None);
        for payload in wasmparser::Parser::new(0).parse_all(binary) {
            match payload.unwrap() {
                Payload::ExportSection(r) => {
                    exports.extend(r.into_iter().map(|e| e.unwrap().name.to_owned()))
                }
                Payload::StartSection { func, .. } => start = Some(func),
                _ => {}
            }
        }
        (exports, start)
    }

    #[test]
    fn stop_checks_go_at_every_function_entry_and_loop_head() {
        let text = r#"(module
            (func $s (loop $l (br_if $l (i32.const 0))))
            (start $s)
            (func $twice (loop (nop)) (loop (nop)))
            (func (export "dsp") (param f32) (result f32) (call $twice) (local.get 0)))"#;
        let binary = wat::parse_str(text).unwrap();
        let checked = inject(&binary, true).unwrap().unwrap();
        valid(&checked);
        let (exports, start) = exports_and_start(&checked);
        assert_eq!(start, None, "the start function becomes an export");
        for name in [stop::MEMORY, stop::START] {
            assert!(exports.iter().any(|e| e == name), "{name} in {exports:?}");
        }
        // Count the flag loads: from memory 1 (the stop memory; 0 is the I/O memory).
        let mut loads = 0;
        for payload in wasmparser::Parser::new(0).parse_all(&checked) {
            if let Payload::CodeSectionEntry(body) = payload.unwrap() {
                let mut ops = body.get_operators_reader().unwrap();
                while !ops.eof() {
                    if let wasmparser::Operator::I32AtomicLoad { memarg } = ops.read().unwrap() {
                        assert_eq!(memarg.memory, 1);
                        loads += 1;
                    }
                }
            }
        }
        // Three functions, three loops; the driver adds neither.
        assert_eq!(loads, 6);
        // Without stop checks the start function stays.
        let plain = inject(&binary, false).unwrap().unwrap();
        assert!(exports_and_start(&plain).1.is_some());
    }

    #[test]
    fn leaves_modules_without_a_known_dsp_alone() {
        for text in [
            "(module)",
            r#"(module (func (export "dsp") (param i32)))"#,
            r#"(module (global (export "dsp") i32 (i32.const 0)))"#,
        ] {
            let binary = wat::parse_str(text).unwrap();
            assert!(inject(&binary, false).unwrap().is_none(), "{text}");
        }
    }

    #[test]
    fn refuses_reserved_export_names() {
        let binary = wat::parse_str(
            r#"(module (func (export "dsp") (param f32) (result f32) local.get 0)
                       (func (export "__wasp_run")))"#,
        )
        .unwrap();
        let err = inject(&binary, false).unwrap_err().to_string();
        assert!(err.contains("reserved"), "{err}");
    }
}
