//! Typed errors at the engine boundary: what went wrong loading a module, and what went wrong running one.

use std::fmt;

/// Why a module could not be loaded. Every variant renders as a message a musician can act on:
/// what is wrong, where, and what Wasp expected instead.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadError {
    /// The file was empty.
    Empty,
    /// The bytes are neither a WebAssembly binary nor WebAssembly text.
    NotWasm,
    /// WebAssembly text (`.wat`) with a syntax error at a 1-based line and column.
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// A WebAssembly binary that is malformed or invalid at a byte offset.
    Malformed { offset: usize, message: String },
    /// The module is valid WebAssembly but breaks the Wasp module contract (see `docs/ABI.md`).
    Abi(String),
    /// The `wasp` metadata section could not be read or contradicts the module.
    Metadata(String),
    /// The module imports something Wasp does not provide.
    Import {
        module: String,
        field: String,
        reason: String,
    },
    /// Compilation to native code failed.
    Compile(String),
    /// Instantiation failed (start function trapped, memory could not be created, ...).
    Instantiate(String),
    /// Module code trapped while the module was being loaded (start function, `wasp_init`).
    Trap {
        export: &'static str,
        message: String,
    },
    /// The start function or `wasp_init` ran past its time budget.
    Timeout { export: &'static str, seconds: u32 },
    /// The module exceeds one of the sandbox's limits (size, memory, table).
    Limit(String),
    /// The file could not be read from disk.
    Io { path: String, message: String },
    /// The worker did not finish within the time a host's main thread may wait; the request
    /// goes on, and its module plays once it is ready.
    Busy { seconds: u32 },
    /// The worker has stopped (the plugin is being removed).
    Stopped,
    /// A Faust (`.dsp`) file could not be compiled: the compiler's own message (with line
    /// numbers), or why the compiler could not run.
    Faust(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Empty => write!(
                f,
                "the file is empty: choose a .wasm binary or a .wat text module"
            ),
            LoadError::NotWasm => write!(
                f,
                "this is not a WebAssembly module: a .wasm file starts with the bytes \\0asm \
                 and a .wat file is text starting with `(module`"
            ),
            LoadError::Syntax {
                line,
                column,
                message,
            } => write!(
                f,
                "WAT syntax error at line {line}, column {column}: {message}"
            ),
            LoadError::Malformed { offset, message } => write!(
                f,
                "malformed WebAssembly binary at offset {offset} (0x{offset:x}): {message}; \
                 the file may be truncated or not a module"
            ),
            LoadError::Abi(message) => {
                write!(f, "{message} (see docs/ABI.md for the module contract)")
            }
            LoadError::Metadata(message) => write!(f, "bad `wasp` metadata section: {message}"),
            LoadError::Import {
                module,
                field,
                reason,
            } => write!(f, "import `{module}.{field}` is not allowed: {reason}"),
            LoadError::Compile(message) => write!(f, "could not compile the module: {message}"),
            LoadError::Instantiate(message) => {
                write!(f, "could not start the module: {message}")
            }
            LoadError::Trap { export, message } => {
                write!(
                    f,
                    "the module crashed in `{export}` while loading: {message}"
                )
            }
            LoadError::Timeout { export, seconds } => write!(
                f,
                "the module ran for over {seconds} s in `{export}` while loading and was stopped; \
                 it probably loops forever there"
            ),
            LoadError::Limit(message) => write!(f, "{message}"),
            LoadError::Io { path, message } => write!(f, "could not read `{path}`: {message}"),
            LoadError::Busy { seconds } => write!(
                f,
                "the module is still being prepared after {seconds} s (a large module takes a \
                 while to compile); it starts playing as soon as it is ready"
            ),
            LoadError::Stopped => write!(f, "Wasp is shutting down and loads nothing more"),
            LoadError::Faust(message) => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for LoadError {}

impl LoadError {
    /// A binary the parser or validator rejected, with the offset it stopped at.
    pub(crate) fn malformed(e: wasmparser::BinaryReaderError) -> Self {
        LoadError::Malformed {
            offset: e.offset(),
            message: e.message().to_owned(),
        }
    }
}

/// How a module crashed. `Copy`, so the audio thread can record it without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrapKind {
    /// It ran past its time budget and was interrupted.
    Timeout,
    /// `unreachable` was executed.
    Unreachable,
    /// Integer division or remainder by zero.
    DivideByZero,
    /// Integer overflow (such as `i32::MIN / -1`) or a float-to-integer conversion out of range.
    IntegerOverflow,
    /// A load or store outside linear memory.
    OutOfBounds,
    /// Recursion too deep for the WebAssembly stack.
    StackOverflow,
    /// An indirect call through a null or mistyped table entry, or an out-of-bounds table access.
    BadCall,
    /// Any other trap.
    Other,
}

impl TrapKind {
    pub(crate) fn from_trap(trap: wasmtime::Trap) -> Self {
        use wasmtime::Trap as T;
        match trap {
            T::Interrupt => TrapKind::Timeout,
            T::UnreachableCodeReached => TrapKind::Unreachable,
            T::IntegerDivisionByZero => TrapKind::DivideByZero,
            T::IntegerOverflow | T::BadConversionToInteger => TrapKind::IntegerOverflow,
            T::MemoryOutOfBounds | T::HeapMisaligned => TrapKind::OutOfBounds,
            T::StackOverflow => TrapKind::StackOverflow,
            T::IndirectCallToNull | T::BadSignature | T::TableOutOfBounds => TrapKind::BadCall,
            _ => TrapKind::Other,
        }
    }

    /// A small code for storing the kind in an atomic.
    pub(crate) fn code(self) -> u8 {
        self as u8
    }

    /// The kind stored by [`TrapKind::code`].
    pub(crate) fn from_code(code: u8) -> Self {
        [
            TrapKind::Timeout,
            TrapKind::Unreachable,
            TrapKind::DivideByZero,
            TrapKind::IntegerOverflow,
            TrapKind::OutOfBounds,
            TrapKind::StackOverflow,
            TrapKind::BadCall,
        ]
        .get(code as usize)
        .copied()
        .unwrap_or(TrapKind::Other)
    }

    /// A short description for messages.
    pub fn describe(self) -> &'static str {
        match self {
            TrapKind::Timeout => "took too long and was stopped",
            TrapKind::Unreachable => "reached `unreachable`",
            TrapKind::DivideByZero => "divided an integer by zero",
            TrapKind::IntegerOverflow => "overflowed an integer",
            TrapKind::OutOfBounds => "accessed memory out of bounds",
            TrapKind::StackOverflow => "overflowed its stack (recursion too deep)",
            TrapKind::BadCall => "made an invalid indirect call",
            TrapKind::Other => "crashed",
        }
    }
}

/// What stopped a running engine. `Copy` and allocation-free so the audio thread can record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// The export that was running.
    pub export: &'static str,
    /// What happened.
    pub kind: TrapKind,
    /// Zero-based index of the frame within the block being processed.
    pub frame: u32,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the module {} in `{}` at frame {} of a block; its output is silenced",
            self.kind.describe(),
            self.export,
            self.frame
        )
    }
}
