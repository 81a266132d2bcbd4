//! Making a module's whole running state reachable from outside, for the tier-up (see
//! `worker.rs`): an instance on the interpreter hands its state to an instance of the same
//! module compiled by wasmtime, and the copy must be exact.
//!
//! Once a module is instantiated and initialised, what changes as it runs lives in its
//! memories, its mutable globals and its tables. Memories and globals can be read and written
//! through exports, so every one the module does not export is exported here under a name of
//! Wasp's. Tables, passive segments and globals of vectors or references cannot be copied
//! between runtimes; a module whose code changes them (`table.set`, `table.grow`,
//! `memory.init`, a mutable `v128` global...) is left alone and is compiled before it plays.
//! Code from C, Rust, AssemblyScript and Faust does neither.

use wasmparser::{ExternalKind, Operator, Parser, Payload, TypeRef};

use super::error::LoadError;
use super::rewrite;

/// The prefix of the names Wasp exports a module's memories and globals under.
pub(crate) const PREFIX: &str = "wasp:state:";

/// `binary` with every memory and mutable global exported, or `None` if the module changes
/// its tables or passive segments as it runs, so copying memories and globals would not carry
/// all of its state.
pub(crate) fn expose_state(binary: &[u8]) -> Result<Option<Vec<u8>>, LoadError> {
    let mut memories = 0u32;
    let mut globals: Vec<bool> = Vec::new();
    let mut exported: Vec<(ExternalKind, u32)> = Vec::new();
    for payload in Parser::new(0).parse_all(binary) {
        match payload.map_err(LoadError::malformed)? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    match import.map_err(LoadError::malformed)?.ty {
                        TypeRef::Memory(_) => memories += 1,
                        TypeRef::Global(g) if g.mutable && !numeric(g.content_type) => {
                            return Ok(None)
                        }
                        TypeRef::Global(g) => globals.push(g.mutable),
                        _ => {}
                    }
                }
            }
            Payload::MemorySection(reader) => memories += reader.count(),
            Payload::GlobalSection(reader) => {
                for global in reader {
                    let ty = global.map_err(LoadError::malformed)?.ty;
                    if ty.mutable && !numeric(ty.content_type) {
                        return Ok(None);
                    }
                    globals.push(ty.mutable);
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(LoadError::malformed)?;
                    exported.push((export.kind, export.index));
                }
            }
            Payload::CodeSectionEntry(body) => {
                let mut ops = body.get_operators_reader().map_err(LoadError::malformed)?;
                while !ops.eof() {
                    if changes_tables(&ops.read().map_err(LoadError::malformed)?) {
                        return Ok(None);
                    }
                }
            }
            _ => {}
        }
    }
    let names: Vec<(String, u8, u32)> = (0..memories)
        .filter(|&i| !exported.contains(&(ExternalKind::Memory, i)))
        .map(|i| (format!("{PREFIX}memory{i}"), 2, i))
        .chain(
            (0..globals.len() as u32)
                .filter(|&i| globals[i as usize] && !exported.contains(&(ExternalKind::Global, i)))
                .map(|i| (format!("{PREFIX}global{i}"), 3, i)),
        )
        .collect();
    if names.is_empty() {
        return Ok(Some(binary.to_vec()));
    }
    let list: Vec<(&str, u8, u32)> = names.iter().map(|(n, k, i)| (n.as_str(), *k, *i)).collect();
    let sections =
        rewrite::sections(binary).ok_or_else(|| LoadError::Abi("bad sections".into()))?;
    rewrite::rebuild(binary, sections, vec![rewrite::exports(&list)], |_| {
        rewrite::Edit::Keep
    })
    .map(Some)
    .ok_or_else(|| LoadError::Abi("the module's sections do not split".into()))
}

/// Whether a global of this type can be read and written as a number (migration carries
/// `i32`, `i64`, `f32` and `f64`; not `v128` or references).
fn numeric(ty: wasmparser::ValType) -> bool {
    use wasmparser::ValType::{F32, F64, I32, I64};
    matches!(ty, I32 | I64 | F32 | F64)
}

/// Whether an instruction changes a table or a passive segment.
fn changes_tables(op: &Operator<'_>) -> bool {
    matches!(
        op,
        Operator::TableSet { .. }
            | Operator::TableGrow { .. }
            | Operator::TableFill { .. }
            | Operator::TableCopy { .. }
            | Operator::TableInit { .. }
            | Operator::ElemDrop { .. }
            | Operator::MemoryInit { .. }
            | Operator::DataDrop { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exports(binary: &[u8]) -> Vec<String> {
        let mut names = Vec::new();
        for payload in Parser::new(0).parse_all(binary) {
            if let Payload::ExportSection(reader) = payload.unwrap() {
                for export in reader {
                    names.push(export.unwrap().name.to_owned());
                }
            }
        }
        names
    }

    #[test]
    fn exports_what_is_hidden_and_only_that() {
        let binary = wat::parse_str(
            r#"(module
                 (memory 1) (memory (export "m1") 1)
                 (global $sp (mut i32) (i32.const 0))
                 (global $k i32 (i32.const 4))
                 (global $g (export "g") (mut f32) (f32.const 0))
                 (func (export "dsp") (param f32) (result f32) (local.get 0)))"#,
        )
        .unwrap();
        let exposed = expose_state(&binary).unwrap().unwrap();
        wasmparser::validate(&exposed).unwrap();
        assert_eq!(
            exports(&exposed),
            ["m1", "g", "dsp", "wasp:state:memory0", "wasp:state:global0"]
        );
    }

    #[test]
    fn a_module_with_a_vector_global_is_left_alone() {
        let binary = wat::parse_str(
            r#"(module (global $v (mut v128) (v128.const i64x2 0 0))
                 (func (export "dsp") (param f32) (result f32) (local.get 0)))"#,
        )
        .unwrap();
        assert!(expose_state(&binary).unwrap().is_none());
    }

    #[test]
    fn a_module_that_changes_its_tables_is_left_alone() {
        let binary = wat::parse_str(
            r#"(module (table 1 funcref)
                 (func $f (export "dsp") (param f32) (result f32)
                   (table.set (i32.const 0) (ref.func $f)) (local.get 0)))"#,
        )
        .unwrap();
        assert!(expose_state(&binary).unwrap().is_none());
    }
}
