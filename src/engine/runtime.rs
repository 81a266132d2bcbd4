//! `Runtime`: the configured wasmtime engine and linker, and the bytes-to-`Patch` load pipeline.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, OnceLock};

use wasmtime::{Config, Engine, Inlining, Linker, Module, OptLevel};

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
    /// Recently compiled patches, most recent last, so that swapping back to a module (A/B
    /// comparisons, undo, a file saved unchanged) skips validation and compilation. Keyed by
    /// content: the bytes are compared, not just the hash.
    cache: Arc<Mutex<Vec<Patch>>>,
    /// The compiled block drivers, one per `dsp` shape, compiled on first use.
    drivers: Arc<[OnceLock<Module>; 3]>,
}

/// How many compiled modules the cache keeps.
const CACHE_ENTRIES: usize = 16;

impl Runtime {
    /// Creates a runtime with Wasp's engine configuration.
    pub fn new() -> Result<Self, LoadError> {
        let mut config = Config::new();
        config
            .cranelift_opt_level(OptLevel::Speed)
            // Inline small functions inside a module (filters call their own helpers per
            // sample), measured in benches/dsp.rs.
            .compiler_inlining(Inlining::Yes)
            // A trap's WebAssembly backtrace is collected on the audio thread; skip it.
            .wasm_backtrace_max_frames(None)
            .wasm_multi_value(true);
        let engine = Engine::new(&config).map_err(|e| LoadError::Compile(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        imports::define_all(&mut linker).map_err(|e| LoadError::Compile(e.to_string()))?;
        Ok(Self {
            engine,
            linker: Arc::new(linker),
            cache: Arc::new(Mutex::new(Vec::new())),
            drivers: Arc::new(Default::default()),
        })
    }

    /// The compiled block driver for a `dsp` shape (see `driver.rs`).
    pub(crate) fn driver(&self, shape: contract::DspShape) -> Result<Module, LoadError> {
        let slot = &self.drivers[shape as usize];
        if let Some(module) = slot.get() {
            return Ok(module.clone());
        }
        let binary = to_binary(super::driver::text(shape).as_bytes())?;
        let module = Module::from_binary(&self.engine, &binary)
            .map_err(|e| LoadError::Compile(format!("block driver: {e:#}")))?;
        Ok(slot.get_or_init(|| module).clone())
    }

    /// Looks a source up in the compiled-module cache.
    fn cached(&self, source: &Source, hash: u64) -> Option<Patch> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let i = cache
            .iter()
            .rposition(|p| p.0.hash == hash && p.0.source.bytes == source.bytes)?;
        let hit = cache.remove(i);
        cache.push(hit.clone());
        Some(hit)
    }

    /// Validates, checks and compiles a module. Slow (milliseconds to seconds): never call it on
    /// the audio thread.
    ///
    /// Recently compiled modules with the same bytes are reused from a cache.
    pub fn compile(&self, source: Source) -> Result<Patch, LoadError> {
        let hash = fnv1a(&source.bytes);
        if let Some(hit) = self.cached(&source, hash) {
            if hit.0.source.path == source.path {
                return Ok(hit);
            }
            // Same bytes from another file: share the compiled code, keep the new path.
            return Ok(Patch(Arc::new(PatchInner {
                module: hit.0.module.clone(),
                meta: hit.0.meta.clone(),
                layout: hit.0.layout,
                source,
                hash,
            })));
        }
        let binary = to_binary(&source.bytes)?;
        let meta = validate(&binary)?;
        let module = Module::from_binary(&self.engine, &binary)
            .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        let layout = contract::check(&module, &meta)?;
        let patch = Patch(Arc::new(PatchInner {
            module,
            meta,
            layout,
            source,
            hash,
        }));
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() == CACHE_ENTRIES {
            cache.remove(0);
        }
        cache.push(patch.clone());
        Ok(patch)
    }

    /// Compiles without consulting or filling the cache (for measuring cold compiles).
    pub fn compile_uncached(&self, source: Source) -> Result<Patch, LoadError> {
        let fresh = Runtime {
            engine: self.engine.clone(),
            linker: self.linker.clone(),
            cache: Arc::new(Mutex::new(Vec::new())),
            drivers: self.drivers.clone(),
        };
        fresh.compile(source)
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
