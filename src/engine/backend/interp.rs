//! The interpreting runtime: wasmi. It translates a module to its own bytecode in a fraction
//! of the time Cranelift takes to compile it, so a module plays at once; it runs several
//! times slower. Its budgets are fuel, counted per instruction, so a runaway module stops at
//! the same instruction on every machine.
//!
//! Each instance has an engine of its own. wasmi hands each call a stack from its engine's
//! pool, behind a spin lock, and makes a new one (allocating) when the pool is empty: with one
//! engine per instance, only one thread ever calls in at a time, the lock is never contended,
//! and the stack made while loading is the one every later call reuses. That stack is grown
//! on the worker to the deepest nesting wasmi allows (see [`warm_stack`]), so no call on the
//! audio thread grows it.

use std::sync::OnceLock;

use wasmi::{
    CompilationMode, Config, Engine, Global, Instance, Linker, Memory, Module, Store, TrapCode,
    TypedFunc,
};

use super::{
    call_typed, typed_as, typed_funcs, Args, Exports, Func, Glob, Machine, Mem, Sig, StartError,
    Stopped, Tier, Value,
};
use crate::engine::error::TrapKind;
use crate::engine::imports::{self, MathFn, IMPORT_MODULE};
use crate::engine::sandbox::{Deadline, HostState};
use crate::engine::types::ValType;

typed_funcs!(Typed, TypedFunc);

/// Bytes of the interpreter's value stack, allocated whole when the instance is made.
const STACK_BYTES: usize = 256 << 10;

/// Nested calls the interpreter allows before a stack overflow trap.
const MAX_DEPTH: usize = 1000;

/// A module instantiated on wasmi.
pub(crate) struct InterpMachine {
    store: Store<HostState>,
    instance: Instance,
    funcs: Vec<Typed>,
    memories: Exports<Memory>,
    globals: Exports<Global>,
    /// The deadline whose fuel the store holds now: calls sharing a deadline share its fuel.
    armed: Option<Deadline>,
    /// Whether calls are held to their fuel; without, they get all the fuel there is (a
    /// runtime made without interruption, to measure what it costs).
    metered: bool,
    /// The first error a call ended with, kept so it is freed with the machine.
    error: Option<wasmi::Error>,
}

/// The engine configuration: fuel metering, eager translation (a lazily translated function
/// would be translated, allocating, on the audio thread at its first call), and a value stack
/// allocated whole.
fn config() -> Config {
    let mut config = Config::default();
    config
        .consume_fuel(true)
        .compilation_mode(CompilationMode::Eager)
        .set_max_recursion_depth(MAX_DEPTH)
        .set_max_stack_height(STACK_BYTES)
        .set_min_stack_height(STACK_BYTES)
        .set_max_cached_stacks(1);
    config
}

/// Fuel a call to a math import costs: what the interpreter burns in the 20 to 50 ns such a
/// call takes (a sine, a power), so a loop of them is held to its budget like any other code.
const MATH_FUEL: u64 = 40;

/// Takes `fuel` from the calling instance's tank, for work a host function does that the
/// interpreter does not count; traps as out of fuel if the tank holds less.
fn charge(caller: &mut wasmi::Caller<'_, HostState>, fuel: u64) -> Result<(), wasmi::Error> {
    let left = caller.get_fuel()?;
    caller.set_fuel(left.saturating_sub(fuel))?;
    if left < fuel {
        return Err(TrapCode::OutOfFuel.into());
    }
    Ok(())
}

/// A module whose `warm(n)` nests `n` calls deep.
const WARM: &str = r#"(module (func $warm (export "warm") (param i32)
    (if (local.get 0) (then (call $warm (i32.sub (local.get 0) (i32.const 1)))))))"#;

/// Makes the engine's stack, as deep as calls may nest, before the audio thread calls: wasmi
/// makes a call's stack at its first call, and grows its frame list as calls nest, both by
/// allocating. Runs a module of its own in `store`, never the user's code.
fn warm_stack(engine: &Engine, store: &mut Store<HostState>) -> Result<(), wasmi::Error> {
    // Encoded once per process, not once per instance.
    static BINARY: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    let binary = BINARY.get_or_init(|| {
        wast::parser::ParseBuffer::new(WARM)
            .and_then(|buf| wast::parser::parse::<wast::Wat>(&buf)?.encode())
            .map_err(|e| e.to_string())
    });
    let binary = binary.as_ref().map_err(wasmi::Error::new)?;
    let module = Module::new(engine, binary)?;
    let instance = Linker::<HostState>::new(engine).instantiate_and_start(&mut *store, &module)?;
    let warm = instance.get_typed_func::<i32, ()>(&mut *store, "warm")?;
    store.set_fuel(u64::MAX)?;
    // The deepest nesting that does not overflow, counting the root call.
    warm.call(&mut *store, MAX_DEPTH as i32 - 1)
}

/// What a wasmi error says, as a start error.
fn start_error(e: wasmi::Error) -> StartError {
    StartError {
        kind: trap_kind(&e),
        message: e.to_string(),
    }
}

impl InterpMachine {
    /// Translates and instantiates `binary` (running its start function, if it has one, on
    /// `deadline`'s fuel). Without `metered`, calls are never stopped.
    pub(crate) fn new(
        binary: &[u8],
        host: HostState,
        deadline: Deadline,
        metered: bool,
    ) -> Result<Self, StartError> {
        let engine = Engine::new(&config());
        let module = Module::new(&engine, binary).map_err(start_error)?;
        let mut linker = Linker::<HostState>::new(&engine);
        let link = |linker: &mut Linker<HostState>| -> Result<(), wasmi::Error> {
            type Caller<'a> = wasmi::Caller<'a, HostState>;
            type Out<T> = Result<T, wasmi::Error>;
            for (name, f) in imports::all() {
                // Each call pays for the host's work (see `MATH_FUEL`).
                match f {
                    MathFn::Unary32(f) => linker.func_wrap(
                        IMPORT_MODULE,
                        &name,
                        move |mut c: Caller, x| -> Out<f32> {
                            charge(&mut c, MATH_FUEL)?;
                            Ok(f(x))
                        },
                    ),
                    MathFn::Binary32(f) => linker.func_wrap(
                        IMPORT_MODULE,
                        &name,
                        move |mut c: Caller, x, y| -> Out<f32> {
                            charge(&mut c, MATH_FUEL)?;
                            Ok(f(x, y))
                        },
                    ),
                    MathFn::Unary64(f) => linker.func_wrap(
                        IMPORT_MODULE,
                        &name,
                        move |mut c: Caller, x| -> Out<f64> {
                            charge(&mut c, MATH_FUEL)?;
                            Ok(f(x))
                        },
                    ),
                    MathFn::Binary64(f) => linker.func_wrap(
                        IMPORT_MODULE,
                        &name,
                        move |mut c: Caller, x, y| -> Out<f64> {
                            charge(&mut c, MATH_FUEL)?;
                            Ok(f(x, y))
                        },
                    ),
                }?;
            }
            crate::engine::wasi::link_wasi!(wasmi, linker, wasmi::Error::new, charge)
        };
        link(&mut linker).map_err(start_error)?;
        let mut store = Store::new(&engine, host);
        store.limiter(|state| &mut state.limits);
        warm_stack(&engine, &mut store).map_err(start_error)?;
        let _ = store.set_fuel(if metered { deadline.fuel() } else { u64::MAX });
        let instance = linker
            .instantiate_and_start(&mut store, &module)
            .map_err(start_error)?;
        Ok(Self {
            store,
            instance,
            funcs: Vec::new(),
            memories: Exports::default(),
            globals: Exports::default(),
            armed: Some(deadline),
            metered,
            error: None,
        })
    }
}

/// The kind of trap an error is, `None` if it is no trap (a host function's error).
fn trap_kind(error: &wasmi::Error) -> Stopped {
    Some(match error.as_trap_code()? {
        TrapCode::OutOfFuel => TrapKind::Timeout,
        TrapCode::UnreachableCodeReached => TrapKind::Unreachable,
        TrapCode::IntegerDivisionByZero => TrapKind::DivideByZero,
        TrapCode::IntegerOverflow | TrapCode::BadConversionToInteger => TrapKind::IntegerOverflow,
        TrapCode::MemoryOutOfBounds => TrapKind::OutOfBounds,
        TrapCode::StackOverflow => TrapKind::StackOverflow,
        TrapCode::IndirectCallToNull | TrapCode::BadSignature | TrapCode::TableOutOfBounds => {
            TrapKind::BadCall
        }
        _ => TrapKind::Other,
    })
}

fn val_type(ty: wasmi::ValType) -> ValType {
    match ty {
        wasmi::ValType::I32 => ValType::I32,
        wasmi::ValType::I64 => ValType::I64,
        wasmi::ValType::F32 => ValType::F32,
        wasmi::ValType::F64 => ValType::F64,
        wasmi::ValType::V128 => ValType::V128,
        _ => ValType::Ref,
    }
}

impl Machine for InterpMachine {
    fn tier(&self) -> Tier {
        Tier::Interpreter
    }

    fn func(&mut self, name: &str, sig: Sig) -> Result<Option<Func>, String> {
        let Some(func) = self.instance.get_func(&self.store, name) else {
            return Ok(None);
        };
        let store = &self.store;
        let typed = typed_as!(func, store, sig).map_err(|e| e.to_string())?;
        self.funcs.push(typed);
        Ok(Some(Func(self.funcs.len() as u32 - 1)))
    }

    #[inline]
    fn call(&mut self, func: Func, args: Args) -> Result<i32, Stopped> {
        let store = &mut self.store;
        let result = call_typed!(&self.funcs[func.0 as usize], args, store);
        result.map_err(|e| {
            let kind = trap_kind(&e);
            if self.error.is_none() {
                self.error = Some(e);
            }
            kind
        })
    }

    fn error_text(&self) -> String {
        self.error
            .as_ref()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[inline]
    fn arm(&mut self, deadline: Deadline) {
        if self.armed != Some(deadline) {
            self.armed = Some(deadline);
            let fuel = if self.metered {
                deadline.fuel()
            } else {
                u64::MAX
            };
            // Fails only without fuel metering, which `config` turns on.
            let _ = self.store.set_fuel(fuel);
        }
    }

    fn memory(&mut self, name: &str) -> Option<Mem> {
        let (instance, store) = (&self.instance, &mut self.store);
        let found = || instance.get_memory(&*store, name);
        self.memories.index(name, found).map(Mem)
    }

    fn export_names(&mut self, memories: bool) -> Vec<String> {
        self.instance
            .exports(&self.store)
            .filter_map(|e| {
                let name = e.name().to_owned();
                let extern_ = e.into_extern();
                let wanted = if memories {
                    extern_.into_memory().is_some()
                } else {
                    extern_.into_global().is_some()
                };
                wanted.then_some(name)
            })
            .collect()
    }

    #[inline]
    fn data(&self, memory: Mem) -> &[u8] {
        self.memories.get(memory.0).data(&self.store)
    }

    #[inline]
    fn data_mut(&mut self, memory: Mem) -> &mut [u8] {
        self.memories.get(memory.0).data_mut(&mut self.store)
    }

    fn grow(&mut self, memory: Mem, pages: u64) -> Result<(), String> {
        self.memories
            .get(memory.0)
            .grow(&mut self.store, pages)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn global(&mut self, name: &str) -> Option<(Glob, ValType, bool)> {
        let (instance, store) = (&self.instance, &mut self.store);
        let index = self
            .globals
            .index(name, || instance.get_global(&*store, name))?;
        let ty = self.globals.get(index).ty(&self.store);
        let mutable = ty.mutability().is_mut();
        Some((Glob(index), val_type(ty.content()), mutable))
    }

    fn get(&mut self, global: Glob) -> Value {
        match self.globals.get(global.0).get(&self.store) {
            wasmi::Val::I32(v) => Value::I32(v),
            wasmi::Val::I64(v) => Value::I64(v),
            wasmi::Val::F32(v) => Value::F32(v.to_bits()),
            wasmi::Val::F64(v) => Value::F64(v.to_bits()),
            _ => Value::I32(0),
        }
    }

    fn set(&mut self, global: Glob, value: Value) -> bool {
        let value = match value {
            Value::I32(v) => wasmi::Val::I32(v),
            Value::I64(v) => wasmi::Val::I64(v),
            Value::F32(v) => wasmi::Val::F32(wasmi::F32::from_bits(v)),
            Value::F64(v) => wasmi::Val::F64(wasmi::F64::from_bits(v)),
        };
        self.globals
            .get(global.0)
            .set(&mut self.store, value)
            .is_ok()
    }

    fn host(&self) -> &HostState {
        self.store.data()
    }

    fn host_mut(&mut self) -> &mut HostState {
        self.store.data_mut()
    }
}
