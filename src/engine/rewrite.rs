//! Adding items to a WebAssembly binary at the section level: Wasp's block driver and stop
//! checks (`driver.rs`) and the Faust adapter (`faust.rs`) append functions, memories, globals
//! and exports to a module without re-encoding what is already there. Appended items go at the
//! end of their index spaces, so no index the module uses moves.

use std::collections::HashMap;
use std::ops::Range;

use wasm_encoder::Encode;
use wasmparser::{ExternalKind, Parser, Payload, TypeRef};

use super::error::LoadError;

pub(crate) const CUSTOM: u8 = 0;
pub(crate) const TYPE: u8 = 1;
pub(crate) const FUNCTION: u8 = 3;
pub(crate) const MEMORY: u8 = 5;
pub(crate) const GLOBAL: u8 = 6;
pub(crate) const EXPORT: u8 = 7;
pub(crate) const START: u8 = 8;
pub(crate) const CODE: u8 = 10;

/// Section ids in the order a module must place them (custom sections, id 0, go anywhere).
const ORDER: [u8; 13] = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11];

fn rank(id: u8) -> usize {
    ORDER.iter().position(|&o| o == id).unwrap_or(usize::MAX)
}

/// The module's sections: id and content range.
pub(crate) fn sections(binary: &[u8]) -> Option<Vec<(u8, Range<usize>)>> {
    let mut at = 8;
    let mut out = Vec::new();
    while at < binary.len() {
        let id = binary[at];
        let (size, len) = leb(binary.get(at + 1..)?)?;
        let start = at + 1 + len;
        let end = start.checked_add(size as usize)?;
        if end > binary.len() {
            return None;
        }
        out.push((id, start..end));
        at = end;
    }
    Some(out)
}

/// Reads an unsigned LEB128 `u32`: value and length in bytes.
pub(crate) fn leb(bytes: &[u8]) -> Option<(u32, usize)> {
    let mut value = 0u32;
    for (i, &b) in bytes.iter().enumerate().take(5) {
        value |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

pub(crate) fn put_leb(out: &mut Vec<u8>, value: u32) {
    value.encode(out);
}

/// What [`rebuild`] does with one of the module's sections.
pub(crate) enum Edit {
    Keep,
    Drop,
    /// New content (count and items, for a section of items).
    Replace(Vec<u8>),
    /// The edit could not be made: [`rebuild`] returns `None`.
    Fail,
}

/// The module with `added` items appended: for each, a section id, how many items and their
/// encoding. Items for a section the module has go at its end (its count grows); for a section
/// it lacks, a new section goes where the order requires. Custom sections in `added` (id 0:
/// name and payload, already encoded) go at the end. `edit` may drop or replace a section of
/// the module first. `None` if the module's sections do not split.
pub(crate) fn rebuild(
    binary: &[u8],
    sections: Vec<(u8, Range<usize>)>,
    mut added: Vec<(u8, u32, Vec<u8>)>,
    mut edit: impl FnMut(u8) -> Edit,
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(binary.len() + 256);
    out.extend_from_slice(binary.get(..8)?);
    let emit = |out: &mut Vec<u8>, id: u8, content: &[u8]| {
        out.push(id);
        put_leb(out, content.len() as u32);
        out.extend_from_slice(content);
    };
    // A section the module lacks: the count, then the items.
    let emit_new = |out: &mut Vec<u8>, id: u8, count: u32, items: &[u8]| {
        if id == CUSTOM {
            emit(out, id, items);
            return;
        }
        let mut section = Vec::with_capacity(items.len() + 1);
        put_leb(&mut section, count);
        section.extend_from_slice(items);
        emit(out, id, &section);
    };
    for (id, range) in sections {
        let replaced;
        let content = match edit(id) {
            Edit::Keep => binary.get(range)?,
            Edit::Drop => continue,
            Edit::Replace(content) => {
                replaced = content;
                &replaced[..]
            }
            Edit::Fail => return None,
        };
        if id != CUSTOM {
            // Sections the module lacks go before the first section that follows them.
            let mut i = 0;
            while i < added.len() {
                if added[i].0 != CUSTOM && rank(added[i].0) < rank(id) {
                    let (pid, count, items) = added.remove(i);
                    emit_new(&mut out, pid, count, &items);
                } else {
                    i += 1;
                }
            }
        }
        match added
            .iter()
            .position(|(pid, _, _)| *pid == id && id != CUSTOM)
        {
            Some(i) => {
                let (_, extra, items) = added.remove(i);
                let (count, len) = leb(content)?;
                let mut section = Vec::with_capacity(content.len() + items.len() + 5);
                put_leb(&mut section, count.checked_add(extra)?);
                section.extend_from_slice(&content[len..]);
                section.extend_from_slice(&items);
                emit(&mut out, id, &section);
            }
            None => emit(&mut out, id, content),
        }
    }
    // Sections after the last the module has, in order, then custom sections.
    added.sort_by_key(|(id, _, _)| if *id == CUSTOM { usize::MAX } else { rank(*id) });
    for (pid, count, items) in added {
        emit_new(&mut out, pid, count, &items);
    }
    Some(out)
}

/// Items for an export section: name, kind (0 function, 2 memory, 3 global) and index of each.
pub(crate) fn exports(list: &[(&str, u8, u32)]) -> (u8, u32, Vec<u8>) {
    let mut items = Vec::new();
    for &(name, kind, index) in list {
        name.encode(&mut items);
        items.push(kind);
        put_leb(&mut items, index);
    }
    (EXPORT, list.len() as u32, items)
}

/// A custom section's content: its name, then `payload`.
pub(crate) fn custom(name: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + payload.len() + 5);
    name.encode(&mut out);
    out.extend_from_slice(payload);
    out
}

/// What an adapter that adds items to a module must know of it: the sizes of the index spaces
/// it appends to, and the module's exports by name.
#[derive(Default)]
pub(crate) struct Counts {
    pub types: u32,
    pub imported_funcs: u32,
    pub funcs: u32,
    pub globals: u32,
    pub exports: HashMap<String, (ExternalKind, u32)>,
}

impl Counts {
    /// Reads them from `binary`, handing every section to `more` too, for what else the caller
    /// needs to know.
    pub(crate) fn read<'a>(
        binary: &'a [u8],
        mut more: impl FnMut(&Payload<'a>) -> Result<(), LoadError>,
    ) -> Result<Self, LoadError> {
        let mut c = Counts::default();
        for payload in Parser::new(0).parse_all(binary) {
            let payload = payload.map_err(LoadError::malformed)?;
            more(&payload)?;
            match payload {
                Payload::TypeSection(reader) => {
                    for group in reader {
                        c.types += group.map_err(LoadError::malformed)?.types().len() as u32;
                    }
                }
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        match import.map_err(LoadError::malformed)?.ty {
                            TypeRef::Func(_) => c.imported_funcs += 1,
                            TypeRef::Global(_) => c.globals += 1,
                            _ => {}
                        }
                    }
                }
                Payload::FunctionSection(reader) => c.funcs += reader.count(),
                Payload::GlobalSection(reader) => c.globals += reader.count(),
                Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export.map_err(LoadError::malformed)?;
                        c.exports
                            .insert(export.name.to_owned(), (export.kind, export.index));
                    }
                }
                _ => {}
            }
        }
        Ok(c)
    }
}
