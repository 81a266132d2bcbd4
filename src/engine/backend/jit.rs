//! The compiling runtime: wasmtime, with Cranelift. Fast code, compiled before it runs; calls
//! are interrupted by epochs or Wasp's stop checks (see `sandbox.rs`, `stop.rs`).

use std::sync::Arc;

use wasmtime::{
    Config, Engine, Global, Inlining, Instance, Linker, Memory, Module, OptLevel, Store, TypedFunc,
};

use super::{
    call_typed, typed_as, typed_funcs, Args, Exports, Func, Glob, Machine, Mem, Sig, StartError,
    Stopped, Tier, Value,
};
use crate::engine::error::{LoadError, TrapKind};
use crate::engine::imports::{self, MathFn, IMPORT_MODULE};
use crate::engine::sandbox::{self, Credit, Deadline, HostState};
use crate::engine::types::ValType;

typed_funcs!(Typed, TypedFunc);

/// A wasmtime engine with Wasp's configuration, with or without epoch interruption, and a
/// linker holding the math imports and the WASI stubs.
pub(crate) fn configured(
    signals_based_traps: bool,
    epochs: bool,
) -> Result<(Engine, Linker<HostState>), LoadError> {
    let mut config = Config::new();
    config
        .signals_based_traps(signals_based_traps)
        .epoch_interruption(epochs)
        .max_wasm_stack(sandbox::WASM_STACK)
        .cranelift_opt_level(OptLevel::Speed)
        // Inline small functions inside a module (filters call their own helpers per
        // sample), measured in benches/dsp.rs.
        .compiler_inlining(Inlining::Yes)
        // A trap's WebAssembly backtrace is collected on the audio thread; skip it.
        .wasm_backtrace_max_frames(None)
        .wasm_multi_value(true);
    if !signals_based_traps {
        // Without signal handlers, memories need no guard regions, and reserving the cap up
        // front means growth never moves a memory.
        config
            .memory_reservation(sandbox::MEMORY_CAP)
            .memory_guard_size(0)
            .memory_reservation_for_growth(0);
        // SAFETY: wasmtime requires these Cranelift mitigations to be off when it cannot
        // use signals (they rely on faulting loads); its explicit bounds checks remain.
        unsafe {
            config.cranelift_flag_set("enable_heap_access_spectre_mitigation", "false");
            config.cranelift_flag_set("enable_table_access_spectre_mitigation", "false");
        }
    }
    let engine = Engine::new(&config).map_err(|e| LoadError::Compile(e.to_string()))?;
    let mut linker = Linker::new(&engine);
    let failed = |e: wasmtime::Error| LoadError::Compile(e.to_string());
    for (name, f) in imports::all() {
        match f {
            MathFn::Unary32(f) => linker.func_wrap(IMPORT_MODULE, &name, f),
            MathFn::Binary32(f) => linker.func_wrap(IMPORT_MODULE, &name, f),
            MathFn::Unary64(f) => linker.func_wrap(IMPORT_MODULE, &name, f),
            MathFn::Binary64(f) => linker.func_wrap(IMPORT_MODULE, &name, f),
        }
        .map_err(failed)?;
    }
    crate::engine::wasi::link_wasi!(wasmtime, &mut linker, wasmtime::Error::msg, charge)
        .map_err(failed)?;
    Ok((engine, linker))
}

/// What host functions pay for their work here: nothing. Compiled code is held to its budget
/// by the clock, and a host call's time is the caller's: it is stopped at its next check once
/// the host function returns.
fn charge(_: &mut wasmtime::Caller<'_, HostState>, _: u64) -> wasmtime::Result<()> {
    Ok(())
}

/// A module instantiated on wasmtime.
pub(crate) struct JitMachine {
    store: Store<HostState>,
    instance: Instance,
    funcs: Vec<Typed>,
    memories: Exports<Memory>,
    globals: Exports<Global>,
    /// Whether calls run under epoch deadlines.
    epochs: bool,
    /// How far the epoch lags the clock, added to every deadline; `None` without a ticker.
    credit: Option<Arc<Credit>>,
    /// The first error a call ended with: kept, not dropped, so it is freed with the machine
    /// on a worker rather than on the audio thread.
    error: Option<wasmtime::Error>,
}

impl JitMachine {
    /// Instantiates `module` (running its start function, if it has one, under `deadline`).
    /// With `epochs`, calls run under epoch deadlines, which lag the clock by `credit`.
    pub(crate) fn new(
        engine: &Engine,
        linker: &Linker<HostState>,
        module: &Module,
        host: HostState,
        epochs: bool,
        credit: Option<Arc<Credit>>,
        deadline: Deadline,
    ) -> Result<Self, StartError> {
        let mut store = Store::new(engine, host);
        store.limiter(|state| &mut state.limits);
        if epochs {
            store.set_epoch_deadline(sandbox::with_lag(deadline.ticks_left(), credit.as_deref()));
        }
        let instance = linker
            .instantiate(&mut store, module)
            .map_err(|e| StartError {
                kind: trap_kind(&e),
                message: format!("{e:#}"),
            })?;
        Ok(Self {
            store,
            instance,
            funcs: Vec::new(),
            memories: Exports::default(),
            globals: Exports::default(),
            epochs,
            credit,
            error: None,
        })
    }
}

/// The kind of trap an error is, `None` if it is no trap.
fn trap_kind(error: &wasmtime::Error) -> Stopped {
    let trap = *error.downcast_ref::<wasmtime::Trap>()?;
    Some(TrapKind::from_trap(trap))
}

fn val_type(ty: &wasmtime::ValType) -> ValType {
    match ty {
        wasmtime::ValType::I32 => ValType::I32,
        wasmtime::ValType::I64 => ValType::I64,
        wasmtime::ValType::F32 => ValType::F32,
        wasmtime::ValType::F64 => ValType::F64,
        wasmtime::ValType::V128 => ValType::V128,
        wasmtime::ValType::Ref(_) => ValType::Ref,
    }
}

impl Machine for JitMachine {
    fn tier(&self) -> Tier {
        Tier::Jit
    }

    fn func(&mut self, name: &str, sig: Sig) -> Result<Option<Func>, String> {
        let Some(func) = self.instance.get_func(&mut self.store, name) else {
            return Ok(None);
        };
        let store = &self.store;
        let typed = typed_as!(func, store, sig).map_err(|e| format!("{e:#}"))?;
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
            .map(|e| format!("{e:#}"))
            .unwrap_or_default()
    }

    #[inline]
    fn arm(&mut self, deadline: Deadline) {
        if self.epochs {
            // The ticker credits the epoch once per wake-up, so it lags the clock: without the
            // lag a healthy call could be stopped that much early.
            let ticks = sandbox::with_lag(deadline.ticks_left(), self.credit.as_deref());
            self.store.set_epoch_deadline(ticks);
        }
    }

    fn memory(&mut self, name: &str) -> Option<Mem> {
        let (instance, store) = (&self.instance, &mut self.store);
        let found = || instance.get_memory(&mut *store, name);
        self.memories.index(name, found).map(Mem)
    }

    fn export_names(&mut self, memories: bool) -> Vec<String> {
        self.instance
            .exports(&mut self.store)
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
            .map_err(|e| format!("{e:#}"))
    }

    fn global(&mut self, name: &str) -> Option<(Glob, ValType, bool)> {
        let (instance, store) = (&self.instance, &mut self.store);
        let index = self
            .globals
            .index(name, || instance.get_global(&mut *store, name))?;
        let ty = self.globals.get(index).ty(&self.store);
        let mutable = ty.mutability() == wasmtime::Mutability::Var;
        Some((Glob(index), val_type(ty.content()), mutable))
    }

    fn get(&mut self, global: Glob) -> Value {
        match self.globals.get(global.0).get(&mut self.store) {
            wasmtime::Val::I32(v) => Value::I32(v),
            wasmtime::Val::I64(v) => Value::I64(v),
            wasmtime::Val::F32(v) => Value::F32(v),
            wasmtime::Val::F64(v) => Value::F64(v),
            _ => Value::I32(0),
        }
    }

    fn set(&mut self, global: Glob, value: Value) -> bool {
        let value = match value {
            Value::I32(v) => wasmtime::Val::I32(v),
            Value::I64(v) => wasmtime::Val::I64(v),
            Value::F32(v) => wasmtime::Val::F32(v),
            Value::F64(v) => wasmtime::Val::F64(v),
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
