//! `Runtime`: the configured wasmtime engine and linker, and the bytes-to-`Patch` load pipeline.

use std::borrow::Cow;
use std::sync::Arc;

use wasmtime::{Config, Engine, Linker, Module, OptLevel};

use super::contract;
use super::error::LoadError;
use super::imports;
use super::instance::HostState;
use super::metadata::{Metadata, SECTION_NAME};
use super::patch::{fnv1a, Patch, PatchInner, Source};

/// The shared compilation context. Cheap to clone; every clone compiles for the same engine, so
/// patches and instances made from any clone work together.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Arc<Linker<HostState>>,
}

impl Runtime {
    /// Creates a runtime with Wasp's engine configuration.
    pub fn new() -> Result<Self, LoadError> {
        let mut config = Config::new();
        config
            .cranelift_opt_level(OptLevel::Speed)
            .wasm_multi_value(true);
        let engine = Engine::new(&config).map_err(|e| LoadError::Compile(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        imports::define_all(&mut linker).map_err(|e| LoadError::Compile(e.to_string()))?;
        Ok(Self {
            engine,
            linker: Arc::new(linker),
        })
    }

    /// Validates, checks and compiles a module. Slow (milliseconds to seconds): never call it on
    /// the audio thread.
    pub fn compile(&self, source: Source) -> Result<Patch, LoadError> {
        let binary = to_binary(&source.bytes)?;
        let meta = validate(&binary)?;
        let module = Module::from_binary(&self.engine, &binary)
            .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        let layout = contract::check(&module, &meta)?;
        let hash = fnv1a(&source.bytes);
        Ok(Patch(Arc::new(PatchInner {
            module,
            meta,
            layout,
            source,
            hash,
        })))
    }
}

/// Turns the user's bytes into a WebAssembly binary, parsing text if that is what they are.
pub(crate) fn to_binary(bytes: &[u8]) -> Result<Cow<'_, [u8]>, LoadError> {
    if bytes.is_empty() {
        return Err(LoadError::Empty);
    }
    if bytes.starts_with(b"\0asm") {
        return Ok(Cow::Borrowed(bytes));
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(LoadError::NotWasm);
    };
    let trimmed = text.trim_start();
    if !(trimmed.starts_with('(') || trimmed.starts_with(";;")) {
        return Err(LoadError::NotWasm);
    }
    let syntax = |e: wast::Error| {
        let (line, col) = e.span().linecol_in(text);
        LoadError::Syntax {
            line: line + 1,
            column: col + 1,
            message: e.message(),
        }
    };
    let buf = wast::parser::ParseBuffer::new(text).map_err(syntax)?;
    let mut wat = wast::parser::parse::<wast::Wat>(&buf).map_err(syntax)?;
    Ok(Cow::Owned(wat.encode().map_err(syntax)?))
}

/// Validates a binary and extracts its `wasp` metadata section.
fn validate(binary: &[u8]) -> Result<Metadata, LoadError> {
    let malformed = |e: wasmparser::BinaryReaderError| LoadError::Malformed {
        offset: e.offset(),
        message: e.message().to_owned(),
    };
    let mut validator = wasmparser::Validator::new();
    let mut meta = None;
    for payload in wasmparser::Parser::new(0).parse_all(binary) {
        let payload = payload.map_err(malformed)?;
        if let wasmparser::Payload::CustomSection(section) = &payload {
            if section.name() == SECTION_NAME {
                if meta.is_some() {
                    return Err(LoadError::Metadata(
                        "the module has more than one `wasp` section".into(),
                    ));
                }
                meta = Some(Metadata::parse(section.data())?);
            }
        }
        if let wasmparser::ValidPayload::Func(func, body) =
            validator.payload(&payload).map_err(malformed)?
        {
            let mut func = func.into_validator(Default::default());
            func.validate(&body).map_err(malformed)?;
        }
    }
    Ok(meta.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_text_and_binary() {
        assert_eq!(to_binary(b"").unwrap_err(), LoadError::Empty);
        assert_eq!(to_binary(b"hello").unwrap_err(), LoadError::NotWasm);
        assert_eq!(to_binary(&[0xff, 0xfe, 0]).unwrap_err(), LoadError::NotWasm);
        let bin = to_binary(b"  ;; comment\n(module)").unwrap();
        assert!(bin.starts_with(b"\0asm"));
        assert!(matches!(to_binary(&bin).unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let err = to_binary(b"(module\n  (func $f (result f32)\n    f32.cnst 1))").unwrap_err();
        match err {
            LoadError::Syntax { line, column, .. } => assert_eq!((line, column), (3, 5)),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }
}
