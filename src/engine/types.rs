//! What a module imports and exports, with their types, read from its binary: the contract
//! checks (`contract.rs`) work from this, so they run the same whichever runtime compiles the
//! module, and before either has.

use super::error::LoadError;

/// A value type, as the contract speaks of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValType {
    I32,
    I64,
    F32,
    F64,
    V128,
    Ref,
}

impl ValType {
    fn from(ty: wasmparser::ValType) -> Self {
        match ty {
            wasmparser::ValType::I32 => ValType::I32,
            wasmparser::ValType::I64 => ValType::I64,
            wasmparser::ValType::F32 => ValType::F32,
            wasmparser::ValType::F64 => ValType::F64,
            wasmparser::ValType::V128 => ValType::V128,
            wasmparser::ValType::Ref(_) => ValType::Ref,
        }
    }

    /// How docs/ABI.md writes it.
    pub fn name(self) -> &'static str {
        match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
            ValType::V128 => "v128",
            ValType::Ref => "ref",
        }
    }
}

/// A function's parameters and results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncType {
    params: Vec<ValType>,
    results: Vec<ValType>,
}

impl FuncType {
    pub fn params(&self) -> impl ExactSizeIterator<Item = ValType> + '_ {
        self.params.iter().copied()
    }

    pub fn results(&self) -> impl ExactSizeIterator<Item = ValType> + '_ {
        self.results.iter().copied()
    }

    /// Whether the function has exactly these parameters and results.
    pub fn is(&self, params: &[ValType], results: &[ValType]) -> bool {
        self.params == params && self.results == results
    }

    /// The signature as docs/ABI.md writes it: `(f32, f32) -> (f32, f32)`.
    pub fn text(&self) -> String {
        let params: Vec<_> = self.params().map(ValType::name).collect();
        let results: Vec<_> = self.results().map(ValType::name).collect();
        let results = match results.len() {
            0 => "()".to_owned(),
            1 => results[0].to_owned(),
            _ => format!("({})", results.join(", ")),
        };
        format!("({}) -> {}", params.join(", "), results)
    }
}

/// A global's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GlobalType {
    pub content: ValType,
    pub mutable: bool,
}

/// The type of an import or export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternType {
    Func(FuncType),
    Global(GlobalType),
    /// A linear memory: whether it is 64-bit, whether it is shared.
    Memory {
        is_64: bool,
        shared: bool,
    },
    Table,
    Tag,
}

impl ExternType {
    /// Whether this is an `i32` global.
    pub fn is_i32_global(&self) -> bool {
        matches!(self, ExternType::Global(g) if g.content == ValType::I32)
    }
}

/// One import.
#[derive(Debug, Clone)]
pub struct Import {
    pub module: String,
    pub name: String,
    pub ty: ExternType,
}

/// What a module imports and exports, in declaration order.
#[derive(Debug, Clone, Default)]
pub struct ModuleTypes {
    pub imports: Vec<Import>,
    pub exports: Vec<(String, ExternType)>,
}

impl ModuleTypes {
    /// Reads them from a binary the validator accepted.
    pub fn read(binary: &[u8]) -> Result<Self, LoadError> {
        use wasmparser::{ExternalKind, Payload, TypeRef};
        let mut types: Vec<FuncType> = Vec::new();
        // The index spaces, imports first: type of each function, global, memory.
        let mut funcs: Vec<u32> = Vec::new();
        let mut globals: Vec<GlobalType> = Vec::new();
        let mut memories: Vec<ExternType> = Vec::new();
        let mut out = ModuleTypes::default();
        let global = |g: wasmparser::GlobalType| GlobalType {
            content: ValType::from(g.content_type),
            mutable: g.mutable,
        };
        let memory = |m: wasmparser::MemoryType| ExternType::Memory {
            is_64: m.memory64,
            shared: m.shared,
        };
        for payload in wasmparser::Parser::new(0).parse_all(binary) {
            match payload.map_err(LoadError::malformed)? {
                Payload::TypeSection(reader) => {
                    for ty in reader.into_iter_err_on_gc_types() {
                        let ty = ty.map_err(LoadError::malformed)?;
                        types.push(FuncType {
                            params: ty.params().iter().map(|&t| ValType::from(t)).collect(),
                            results: ty.results().iter().map(|&t| ValType::from(t)).collect(),
                        });
                    }
                }
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        let import = import.map_err(LoadError::malformed)?;
                        let ty = match import.ty {
                            TypeRef::Func(t) | TypeRef::FuncExact(t) => {
                                funcs.push(t);
                                ExternType::Func(func_type(&types, t)?)
                            }
                            TypeRef::Global(g) => {
                                globals.push(global(g));
                                ExternType::Global(global(g))
                            }
                            TypeRef::Memory(m) => {
                                memories.push(memory(m));
                                memory(m)
                            }
                            TypeRef::Table(_) => ExternType::Table,
                            TypeRef::Tag(_) => ExternType::Tag,
                        };
                        out.imports.push(Import {
                            module: import.module.to_owned(),
                            name: import.name.to_owned(),
                            ty,
                        });
                    }
                }
                Payload::FunctionSection(reader) => {
                    for t in reader {
                        funcs.push(t.map_err(LoadError::malformed)?);
                    }
                }
                Payload::GlobalSection(reader) => {
                    for g in reader {
                        globals.push(global(g.map_err(LoadError::malformed)?.ty));
                    }
                }
                Payload::MemorySection(reader) => {
                    for m in reader {
                        memories.push(memory(m.map_err(LoadError::malformed)?));
                    }
                }
                Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export.map_err(LoadError::malformed)?;
                        let i = export.index as usize;
                        let missing = || LoadError::Abi(format!("bad export `{}`", export.name));
                        let ty = match export.kind {
                            ExternalKind::Func | ExternalKind::FuncExact => {
                                let t = *funcs.get(i).ok_or_else(missing)?;
                                ExternType::Func(func_type(&types, t)?)
                            }
                            ExternalKind::Global => {
                                ExternType::Global(*globals.get(i).ok_or_else(missing)?)
                            }
                            ExternalKind::Memory => memories.get(i).ok_or_else(missing)?.clone(),
                            ExternalKind::Table => ExternType::Table,
                            ExternalKind::Tag => ExternType::Tag,
                        };
                        out.exports.push((export.name.to_owned(), ty));
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The type of the export `name`, if there is one.
    pub fn get_export(&self, name: &str) -> Option<&ExternType> {
        self.exports.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

fn func_type(types: &[FuncType], index: u32) -> Result<FuncType, LoadError> {
    types
        .get(index as usize)
        .cloned()
        .ok_or_else(|| LoadError::Abi(format!("no function type {index}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_imports_and_exports_through_the_index_spaces() {
        let binary = wat::parse_str(
            r#"(module
                 (import "env" "sinf" (func (param f32) (result f32)))
                 (import "env" "g" (global i64))
                 (memory (export "memory") 1)
                 (global $m (mut f32) (f32.const 0))
                 (func $dsp (param f32 f32) (result f32 f32) local.get 0 local.get 1)
                 (export "dsp" (func $dsp))
                 (export "imported" (func 0))
                 (export "g" (global $m))
                 (export "h" (global 0)))"#,
        )
        .unwrap();
        let types = ModuleTypes::read(&binary).unwrap();
        assert_eq!(types.imports.len(), 2);
        assert_eq!(types.imports[0].name, "sinf");
        use ValType::*;
        match types.get_export("dsp") {
            Some(ExternType::Func(f)) => {
                assert!(f.is(&[F32, F32], &[F32, F32]));
                assert_eq!(f.text(), "(f32, f32) -> (f32, f32)");
            }
            other => panic!("{other:?}"),
        }
        match types.get_export("imported") {
            Some(ExternType::Func(f)) => assert_eq!(f.text(), "(f32) -> f32"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            types.get_export("g"),
            Some(&ExternType::Global(GlobalType {
                content: F32,
                mutable: true
            }))
        );
        assert_eq!(
            types.get_export("h"),
            Some(&ExternType::Global(GlobalType {
                content: I64,
                mutable: false
            }))
        );
        assert_eq!(
            types.get_export("memory"),
            Some(&ExternType::Memory {
                is_64: false,
                shared: false
            })
        );
    }
}
