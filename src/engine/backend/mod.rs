//! What the engine needs from a WebAssembly runtime ([`Machine`]), and the two runtimes that
//! provide it: wasmtime's Cranelift JIT (`jit.rs`) and the wasmi interpreter (`interp.rs`).
//!
//! A machine is one instantiated module in a store of its own. Above this file nothing knows
//! which runtime runs it: `instance.rs` looks the exports it calls up once, by name and
//! signature, into small handles, then calls them; `migrate.rs` reads and writes memories and
//! globals through the same handles, so state carries between instances of either runtime.
//!
//! The engine holds an [`AnyMachine`], so the audio path pays a predicted branch per call into
//! the module (a block, or a piece of one), no indirect call, and nothing per sample: the
//! per-sample loop is WebAssembly (`driver.rs`).

pub(crate) mod interp;
pub(crate) mod jit;

use super::error::TrapKind;
use super::sandbox::{Deadline, HostState};
use super::types::ValType;

/// Which runtime plays a module: a setting of the runtime, and of each plugin instance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tiering {
    /// Compile every module with wasmtime before it plays.
    #[default]
    Jit,
    /// Run every module on the interpreter: slower, but it starts at once, and its budgets
    /// are fuel, so a render stops a runaway module at the same instruction on every machine.
    Interpreter,
    /// Play a module on the interpreter at once while wasmtime compiles it, then switch to the
    /// compiled code at a block boundary, carrying the whole instance (see `worker.rs`). A
    /// module whose compiled code is at hand (in the compile cache or on disk) plays on it
    /// straight away.
    TierUp,
}

impl Tiering {
    /// Every choice, in the order the editor lists them.
    pub const ALL: [Tiering; 3] = [Tiering::Jit, Tiering::TierUp, Tiering::Interpreter];

    /// How the editor names it.
    pub fn label(self) -> &'static str {
        match self {
            Tiering::Jit => "Compiled",
            Tiering::TierUp => "Interpreted at once, then compiled",
            Tiering::Interpreter => "Interpreted, deterministic budgets",
        }
    }

    /// The choice the `WASP_TIERING` environment variable makes (`jit`, `interpreter`,
    /// `tier-up`), if it names one.
    pub fn from_env() -> Option<Self> {
        match std::env::var("WASP_TIERING").ok()?.as_str() {
            "jit" => Some(Tiering::Jit),
            "interpreter" => Some(Tiering::Interpreter),
            "tier-up" => Some(Tiering::TierUp),
            _ => None,
        }
    }
}

/// Which runtime runs a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// wasmtime: compiled to machine code by Cranelift before it runs.
    Jit,
    /// wasmi: interpreted, so it starts without compiling; budgets are fuel.
    Interpreter,
}

impl Tier {
    /// How the editor names it.
    pub fn label(self) -> &'static str {
        match self {
            Tier::Jit => "compiled (wasmtime)",
            Tier::Interpreter => "interpreter (wasmi)",
        }
    }
}

/// The value of a global, as migration carries it. Floats as bits, so a NaN keeps its
/// payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
}

/// The signatures of the exports the engine calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sig {
    /// `() -> ()`
    Unit,
    /// `(i32) -> ()`
    I32,
    /// `(i32, i32) -> ()`
    I32x2,
    /// `(i32, i32, i32) -> ()`
    I32x3,
    /// `(i32, f32) -> ()`
    I32F32,
    /// `(f32, i32) -> ()`
    F32I32,
    /// `() -> i32`
    ToI32,
    /// `(i32) -> i32`
    I32ToI32,
}

/// The arguments of one call; the variant must match the function's [`Sig`] (`ToI32` takes
/// `Unit`, `I32ToI32` takes `I32`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Args {
    Unit,
    I32(i32),
    I32x2(i32, i32),
    I32x3(i32, i32, i32),
    I32F32(i32, f32),
    F32I32(f32, i32),
}

/// An export function looked up on one machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Func(pub(crate) u32);

/// A memory looked up on one machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mem(pub(crate) u32);

/// A global looked up on one machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Glob(pub(crate) u32);

/// A machine's memories or globals, by export name: looking a name up again gives the handle
/// it gave before, so however often the worker asks, the table holds each export once.
pub(crate) struct Exports<T> {
    items: Vec<(Box<str>, T)>,
}

impl<T> Default for Exports<T> {
    fn default() -> Self {
        Self { items: Vec::new() }
    }
}

impl<T> Exports<T> {
    /// The index of export `name`, found by `find` the first time it is asked for.
    pub(crate) fn index(&mut self, name: &str, find: impl FnOnce() -> Option<T>) -> Option<u32> {
        if let Some(i) = self.items.iter().position(|(n, _)| &**n == name) {
            return Some(i as u32);
        }
        self.items.push((name.into(), find()?));
        Some(self.items.len() as u32 - 1)
    }

    /// The item behind a handle this table gave.
    #[inline]
    pub(crate) fn get(&self, index: u32) -> &T {
        &self.items[index as usize].1
    }
}

/// How a call ended without returning: the trap's kind, or `None` for an error raised by a
/// host function (a WCLAP calling `exit`), which is no trap of the module's.
pub(crate) type Stopped = Option<TrapKind>;

/// Why instantiation failed: a trap in the module's start function (with its kind), or a
/// linking or resource error (`kind` `None`), and what the runtime said.
#[derive(Debug)]
pub(crate) struct StartError {
    pub kind: Stopped,
    pub message: String,
}

/// One instantiated module. Made on a worker; then used by one thread at a time, the audio
/// thread among them. Every method the audio thread calls is realtime-safe unless the module
/// traps (runtimes allocate the trap's error); wasmi's calls take a spin lock that only this
/// machine's thread ever takes (see `interp.rs`).
pub(crate) trait Machine: Send {
    /// Which runtime this is.
    fn tier(&self) -> Tier;

    /// The exported function `name` with signature `sig`: `Ok(None)` if there is no such
    /// export, `Err` (what the runtime said) if its type differs. Worker side.
    fn func(&mut self, name: &str, sig: Sig) -> Result<Option<Func>, String>;

    /// Calls `func`, which must have been looked up with the signature `args` fits. Returns
    /// its `i32` result (0 for functions without one). A trap's error is kept until the
    /// machine is dropped, so it is not freed on the calling thread.
    fn call(&mut self, func: Func, args: Args) -> Result<i32, Stopped>;

    /// What the runtime said of the first error a call ended with. Worker side.
    fn error_text(&self) -> String;

    /// Makes the next calls end by `deadline`: on a fuel-counting machine, gives the
    /// deadline's fuel the first time it sees it, and the calls sharing it share the fuel.
    fn arm(&mut self, deadline: Deadline);

    /// The exported memory `name`. Worker side.
    fn memory(&mut self, name: &str) -> Option<Mem>;

    /// The names of the memories (`memories`) or else the globals the module exports. Worker
    /// side.
    fn export_names(&mut self, memories: bool) -> Vec<String>;

    /// Every exported memory, by name. Worker side.
    fn memories(&mut self) -> Vec<(String, Mem)> {
        let names = self.export_names(true);
        names
            .into_iter()
            .filter_map(|name| Some((name.clone(), self.memory(&name)?)))
            .collect()
    }

    /// A memory's bytes.
    fn data(&self, memory: Mem) -> &[u8];

    /// A memory's bytes, to write.
    fn data_mut(&mut self, memory: Mem) -> &mut [u8];

    /// Grows a memory by `pages` (its limits permitting). Worker side.
    fn grow(&mut self, memory: Mem, pages: u64) -> Result<(), String>;

    /// The exported global `name`, with its type and mutability. Worker side.
    fn global(&mut self, name: &str) -> Option<(Glob, ValType, bool)>;

    /// Every exported mutable global, by name. Worker side.
    fn globals(&mut self) -> Vec<(String, Glob)> {
        let names = self.export_names(false);
        names
            .into_iter()
            .filter_map(|name| match self.global(&name)? {
                (global, _, true) => Some((name, global)),
                _ => None,
            })
            .collect()
    }

    /// A global's value.
    fn get(&mut self, global: Glob) -> Value;

    /// Sets a mutable global; false if it is immutable or of another type.
    fn set(&mut self, global: Glob, value: Value) -> bool;

    /// The store's host data.
    fn host(&self) -> &HostState;

    /// The store's host data, to change.
    fn host_mut(&mut self) -> &mut HostState;

    /// The `i32` value of the exported global `name`. Worker side.
    fn global_i32(&mut self, name: &str) -> Option<i32> {
        match self.global(name) {
            Some((g, ValType::I32, _)) => match self.get(g) {
                Value::I32(v) => Some(v),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Either runtime's machine. The engine holds this rather than a `dyn Machine`: every call
/// through it is a match on a variant that never changes (a branch the processor predicts)
/// and a direct call that the runtime's method inlines into, no indirect call.
pub(crate) enum AnyMachine {
    Jit(Box<jit::JitMachine>),
    Interpreter(Box<interp::InterpMachine>),
}

/// `$body` with `$m` bound to the machine inside `$machine`, whichever runtime it is.
macro_rules! either {
    ($machine:expr, $m:ident => $body:expr) => {
        match $machine {
            AnyMachine::Jit($m) => $body,
            AnyMachine::Interpreter($m) => $body,
        }
    };
}

impl Machine for AnyMachine {
    fn tier(&self) -> Tier {
        either!(self, m => m.tier())
    }

    fn func(&mut self, name: &str, sig: Sig) -> Result<Option<Func>, String> {
        either!(self, m => m.func(name, sig))
    }

    #[inline]
    fn call(&mut self, func: Func, args: Args) -> Result<i32, Stopped> {
        either!(self, m => m.call(func, args))
    }

    fn error_text(&self) -> String {
        either!(self, m => m.error_text())
    }

    #[inline]
    fn arm(&mut self, deadline: Deadline) {
        either!(self, m => m.arm(deadline))
    }

    fn memory(&mut self, name: &str) -> Option<Mem> {
        either!(self, m => m.memory(name))
    }

    fn export_names(&mut self, memories: bool) -> Vec<String> {
        either!(self, m => m.export_names(memories))
    }

    #[inline]
    fn data(&self, memory: Mem) -> &[u8] {
        either!(self, m => m.data(memory))
    }

    #[inline]
    fn data_mut(&mut self, memory: Mem) -> &mut [u8] {
        either!(self, m => m.data_mut(memory))
    }

    fn grow(&mut self, memory: Mem, pages: u64) -> Result<(), String> {
        either!(self, m => m.grow(memory, pages))
    }

    fn global(&mut self, name: &str) -> Option<(Glob, ValType, bool)> {
        either!(self, m => m.global(name))
    }

    #[inline]
    fn get(&mut self, global: Glob) -> Value {
        either!(self, m => m.get(global))
    }

    #[inline]
    fn set(&mut self, global: Glob, value: Value) -> bool {
        either!(self, m => m.set(global, value))
    }

    #[inline]
    fn host(&self) -> &HostState {
        either!(self, m => m.host())
    }

    #[inline]
    fn host_mut(&mut self) -> &mut HostState {
        either!(self, m => m.host_mut())
    }
}

/// A function handle kept in a machine's table, typed for its runtime: one variant per
/// [`Sig`]. `$f` is the runtime's typed function; both runtimes' typed functions have the
/// same shape, so [`typed_as`] and [`call_typed`] serve both.
macro_rules! typed_funcs {
    ($name:ident, $f:ident) => {
        /// A typed export of this runtime, one variant per signature.
        #[derive(Clone)]
        pub(crate) enum $name {
            Unit($f<(), ()>),
            I32($f<i32, ()>),
            I32x2($f<(i32, i32), ()>),
            I32x3($f<(i32, i32, i32), ()>),
            I32F32($f<(i32, f32), ()>),
            F32I32($f<(f32, i32), ()>),
            ToI32($f<(), i32>),
            I32ToI32($f<i32, i32>),
        }
    };
}
pub(crate) use typed_funcs;

/// `$func` (an untyped function of the runtime) as the `Typed` variant of `$sig`, or the
/// runtime's error if its type differs.
macro_rules! typed_as {
    ($func:expr, $store:expr, $sig:expr) => {
        match $sig {
            Sig::Unit => $func.typed($store).map(Typed::Unit),
            Sig::I32 => $func.typed($store).map(Typed::I32),
            Sig::I32x2 => $func.typed($store).map(Typed::I32x2),
            Sig::I32x3 => $func.typed($store).map(Typed::I32x3),
            Sig::I32F32 => $func.typed($store).map(Typed::I32F32),
            Sig::F32I32 => $func.typed($store).map(Typed::F32I32),
            Sig::ToI32 => $func.typed($store).map(Typed::ToI32),
            Sig::I32ToI32 => $func.typed($store).map(Typed::I32ToI32),
        }
    };
}
pub(crate) use typed_as;

/// Calls a `Typed` function with `$args`: the runtime's result, its `i32` if it returns one
/// (else 0). Returns `Err(Some(TrapKind::BadCall))` from the enclosing function if the
/// arguments do not fit the signature.
macro_rules! call_typed {
    ($typed:expr, $args:expr, $store:expr) => {
        match ($typed, $args) {
            (Typed::Unit(f), Args::Unit) => f.call($store, ()).map(|()| 0),
            (Typed::I32(f), Args::I32(a)) => f.call($store, a).map(|()| 0),
            (Typed::I32x2(f), Args::I32x2(a, b)) => f.call($store, (a, b)).map(|()| 0),
            (Typed::I32x3(f), Args::I32x3(a, b, c)) => f.call($store, (a, b, c)).map(|()| 0),
            (Typed::I32F32(f), Args::I32F32(a, b)) => f.call($store, (a, b)).map(|()| 0),
            (Typed::F32I32(f), Args::F32I32(a, b)) => f.call($store, (a, b)).map(|()| 0),
            (Typed::ToI32(f), Args::Unit) => f.call($store, ()),
            (Typed::I32ToI32(f), Args::I32(a)) => f.call($store, a),
            _ => return Err(Some($crate::engine::error::TrapKind::BadCall)),
        }
    };
}
pub(crate) use call_typed;
