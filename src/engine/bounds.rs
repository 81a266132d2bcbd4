//! Proving that every call into a module ends quickly, from its code alone.
//!
//! A module whose code has no loops, no indirect calls and no recursion (its call graph is
//! acyclic) finishes every call: the only loop left is Wasp's block driver, bounded by the
//! block length. Finishing is not enough: straight-line code can be huge, and an acyclic call
//! graph can multiply (f calls g twice, g calls h twice...). So each function gets a
//! worst-case cost, counting one per instruction executed, where a call costs its callee's
//! whole cost, and the module qualifies only if its costs are small:
//!
//! - `dsp` at most [`DSP_COST`] per frame, so a block costs at most that times its frames,
//!   a small fraction of the block's real time even at 192 kHz (a few nanoseconds per
//!   instruction, on a slow machine);
//! - every other function Wasp may call (`wasp_init`, `wasp_reset`, `wasp_set_param`, notes)
//!   and the start function at most [`CALL_COST`].
//!
//! Bulk memory and table instructions (whose cost grows with their operands) and exception
//! handling also disqualify a module. Such modules run without epoch checks (see
//! `runtime.rs`); every other module keeps them.

use std::collections::HashMap;

use wasmparser::{ExternalKind, Operator, Parser, Payload, TypeRef};

/// Most instructions `dsp` may execute per frame.
pub const DSP_COST: u64 = 256;
/// Most instructions any other call may execute.
pub const CALL_COST: u64 = 100_000;
/// What a call to an imported (host) function counts as: Wasp's math functions.
const IMPORT_COST: u64 = 64;

/// Why a module keeps epoch checks; `Ok` with its worst `dsp` cost per frame if it need not.
pub fn analyse(binary: &[u8]) -> Result<u64, &'static str> {
    let mut imported = 0u32;
    let mut bodies: Vec<(u64, Vec<u32>)> = Vec::new();
    let mut exports: HashMap<String, u32> = HashMap::new();
    let mut start = None;
    for payload in Parser::new(0).parse_all(binary) {
        match payload.map_err(|_| "malformed")? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    if matches!(import.map_err(|_| "malformed")?.ty, TypeRef::Func(_)) {
                        imported += 1;
                    }
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(|_| "malformed")?;
                    if export.kind == ExternalKind::Func {
                        exports.insert(export.name.to_owned(), export.index);
                    }
                }
            }
            Payload::StartSection { func, .. } => start = Some(func),
            Payload::CodeSectionEntry(body) => {
                let mut ops = body.get_operators_reader().map_err(|_| "malformed")?;
                let (mut count, mut calls) = (0u64, Vec::new());
                while !ops.eof() {
                    count += 1;
                    match ops.read().map_err(|_| "malformed")? {
                        Operator::Loop { .. } => return Err("it has a loop"),
                        Operator::Call { function_index }
                        | Operator::ReturnCall { function_index } => calls.push(function_index),
                        Operator::CallIndirect { .. }
                        | Operator::ReturnCallIndirect { .. }
                        | Operator::CallRef { .. }
                        | Operator::ReturnCallRef { .. } => return Err("it calls indirectly"),
                        Operator::MemoryFill { .. }
                        | Operator::MemoryCopy { .. }
                        | Operator::MemoryInit { .. }
                        | Operator::TableFill { .. }
                        | Operator::TableCopy { .. }
                        | Operator::TableInit { .. }
                        | Operator::MemoryGrow { .. }
                        | Operator::TableGrow { .. } => {
                            return Err("it has bulk memory operations")
                        }
                        Operator::Try { .. }
                        | Operator::TryTable { .. }
                        | Operator::Throw { .. }
                        | Operator::ThrowRef
                        | Operator::Rethrow { .. } => return Err("it uses exceptions"),
                        _ => {}
                    }
                }
                bodies.push((count, calls));
            }
            _ => {}
        }
    }
    let mut costs = Costs {
        imported,
        bodies: &bodies,
        memo: vec![State::Unvisited; bodies.len()],
    };
    let dsp = match exports.get("dsp") {
        Some(&f) => costs.of(f)?,
        None => 0,
    };
    if dsp > DSP_COST {
        return Err("its dsp is too long");
    }
    let others = exports
        .iter()
        .filter(|(name, _)| *name != "dsp")
        .map(|(_, &f)| f)
        .chain(start);
    for f in others {
        if costs.of(f)? > CALL_COST {
            return Err("a function is too long");
        }
    }
    Ok(dsp)
}

#[derive(Clone, Copy)]
enum State {
    Unvisited,
    Visiting,
    Done(u64),
}

struct Costs<'a> {
    imported: u32,
    bodies: &'a [(u64, Vec<u32>)],
    memo: Vec<State>,
}

impl Costs<'_> {
    /// Worst-case instructions of a call to function `f` (imports included in the index
    /// space), or why it has none.
    fn of(&mut self, f: u32) -> Result<u64, &'static str> {
        let Some(index) = f.checked_sub(self.imported) else {
            return Ok(IMPORT_COST);
        };
        let index = index as usize;
        match self.memo.get(index).copied() {
            None => Err("malformed"),
            Some(State::Done(cost)) => Ok(cost),
            Some(State::Visiting) => Err("it is recursive"),
            Some(State::Unvisited) => {
                self.memo[index] = State::Visiting;
                let (own, calls) = &self.bodies[index];
                let mut cost = *own;
                for &callee in calls {
                    // Saturating: a doubling chain overflows long before it is small enough.
                    cost = cost.saturating_add(self.of(callee)?);
                }
                self.memo[index] = State::Done(cost);
                Ok(cost)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(wat: &str) -> Result<u64, &'static str> {
        analyse(&wat::parse_str(wat).unwrap())
    }

    #[test]
    fn straight_line_modules_qualify() {
        let onepole = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/modules/onepole.wat"
        ))
        .unwrap();
        let cost = check(&onepole).unwrap();
        assert!(cost > 10 && cost <= DSP_COST, "{cost}");
    }

    #[test]
    fn loops_recursion_indirection_and_size_keep_epochs() {
        let looped = r#"(module (func (export "dsp") (param f32) (result f32)
            (loop $l (br_if $l (i32.const 0))) (local.get 0)))"#;
        assert_eq!(check(looped), Err("it has a loop"));
        let recursive = r#"(module
            (func $a (param f32) (result f32) (call $b (local.get 0)))
            (func $b (param f32) (result f32) (call $a (local.get 0)))
            (func (export "dsp") (param f32) (result f32) (call $a (local.get 0))))"#;
        assert_eq!(check(recursive), Err("it is recursive"));
        let indirect = r#"(module (type $t (func (param f32) (result f32)))
            (table 1 funcref)
            (func (export "dsp") (param f32) (result f32)
              (call_indirect (type $t) (local.get 0) (i32.const 0))))"#;
        assert_eq!(check(indirect), Err("it calls indirectly"));
        let looping_start = r#"(module
            (func $s (loop $l (br $l)))
            (start $s)
            (func (export "dsp") (param f32) (result f32) (local.get 0)))"#;
        assert_eq!(check(looping_start), Err("it has a loop"));
        // Each level calls the next twice: 2^40 calls of the last.
        let mut doubling = String::from("(module (func $f0 (result i32) (i32.const 1))\n");
        for i in 1..=40 {
            doubling += &format!(
                "(func $f{i} (result i32) (i32.add (call $f{p}) (call $f{p})))\n",
                p = i - 1
            );
        }
        doubling +=
            "(func (export \"dsp\") (param f32) (result f32) (drop (call $f40)) (local.get 0)))";
        assert_eq!(check(&doubling), Err("its dsp is too long"));
        let mut huge = String::from("(module (func (export \"dsp\") (param f32) (result f32)\n");
        for _ in 0..300 {
            huge += "(local.set 0 (f32.add (local.get 0) (f32.const 1)))\n";
        }
        huge += "(local.get 0)))";
        assert_eq!(check(&huge), Err("its dsp is too long"));
        // Other exports are held to their own limit.
        let long_init = format!(
            "(module (func (export \"wasp_init\") (param f32 i32) {}) \
             (func (export \"dsp\") (param f32) (result f32) (local.get 0)))",
            "(drop (i32.const 0))".repeat(60_000)
        );
        assert_eq!(check(&long_init), Err("a function is too long"));
    }
}
