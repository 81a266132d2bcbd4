//! The few WASI functions a WCLAP may import, as stubs that keep the sandbox shut.
//!
//! WCLAPs built against wasi-libc (C, C++) import a handful of `wasi_snapshot_preview1`
//! functions even when they never touch a file: the C runtime's start-up asks for the
//! environment and the open directories, `printf` writes to standard output, `rand` may ask for
//! entropy. Wasp answers them without giving anything of the machine away:
//! - no environment, no arguments, no open directories, no files (`EBADF` for every descriptor
//!   but standard output and error);
//! - what is written to standard output or error is kept, up to [`TEXT_CAP`] bytes per
//!   instance, without allocating (the audio thread may print), for the load report;
//! - the clock reads 0 and `random_get` gives a fixed pseudo-random sequence, so neither leaks
//!   anything about the host, and a render is the same every time;
//! - `proc_exit` stops the module with a trap; `sched_yield` returns at once.
//!
//! Only WCLAPs may import these (see `contract.rs`); any other WASI function is refused by name.

use super::error::LoadError;
use super::sandbox::{HostState, TEXT_CAP};
use super::types::{ExternType, ValType};

/// The WASI module name.
pub const MODULE: &str = "wasi_snapshot_preview1";

pub(crate) const ESUCCESS: i32 = 0;
pub(crate) const EBADF: i32 = 8;
const EINVAL: i32 = 28;

use ValType::{I32, I64};

/// The functions provided: name, parameters, results.
pub const FUNCTIONS: &[(&str, &[ValType], &[ValType])] = &[
    ("fd_write", &[I32, I32, I32, I32], &[I32]),
    ("fd_close", &[I32], &[I32]),
    ("fd_seek", &[I32, I64, I32, I32], &[I32]),
    ("fd_read", &[I32, I32, I32, I32], &[I32]),
    ("fd_fdstat_get", &[I32, I32], &[I32]),
    ("fd_prestat_get", &[I32, I32], &[I32]),
    ("fd_prestat_dir_name", &[I32, I32, I32], &[I32]),
    ("environ_sizes_get", &[I32, I32], &[I32]),
    ("environ_get", &[I32, I32], &[I32]),
    ("args_sizes_get", &[I32, I32], &[I32]),
    ("args_get", &[I32, I32], &[I32]),
    ("clock_time_get", &[I32, I64, I32], &[I32]),
    ("clock_res_get", &[I32, I32], &[I32]),
    ("random_get", &[I32, I32], &[I32]),
    ("proc_exit", &[I32], &[]),
    ("sched_yield", &[], &[I32]),
];

/// What a stub is given: the module's exported memory, as bytes, with the host state beside
/// it; `None` if the module exports no memory.
pub(crate) type Memory<'a> = Option<(&'a mut [u8], &'a mut HostState)>;

fn put_u32(mem: &mut [u8], at: i32, value: u32) -> bool {
    let at = at as u32 as usize;
    match mem.get_mut(at..at.saturating_add(4)) {
        Some(slot) if slot.len() == 4 => {
            slot.copy_from_slice(&value.to_le_bytes());
            true
        }
        _ => false,
    }
}

fn get_u32(mem: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        mem.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// `fd_write`: standard output and error are kept (up to [`TEXT_CAP`]); other descriptors do
/// not exist. Allocation-free.
pub(crate) fn fd_write(memory: Memory<'_>, fd: i32, iovs: i32, count: i32, written: i32) -> i32 {
    if fd != 1 && fd != 2 {
        return EBADF;
    }
    let Some((mem, state)) = memory else {
        return EINVAL;
    };
    let mut total: u32 = 0;
    for i in 0..count.clamp(0, 1024) as usize {
        let at = (iovs as u32 as usize).saturating_add(8 * i);
        let (Some(ptr), Some(len)) = (get_u32(mem, at), get_u32(mem, at + 4)) else {
            return EINVAL;
        };
        let Some(bytes) = mem.get(ptr as usize..(ptr as usize).saturating_add(len as usize)) else {
            return EINVAL;
        };
        let text = &mut state.wasi.text;
        let room = (TEXT_CAP - text.len()).min(bytes.len());
        text.extend_from_slice(&bytes[..room]);
        state.wasi.dropped += (bytes.len() - room) as u64;
        total = total.saturating_add(len);
    }
    if put_u32(mem, written, total) {
        ESUCCESS
    } else {
        EINVAL
    }
}

/// `fd_fdstat_get`: standard output and error are write-only character devices (so the C
/// runtime buffers them by line); no other descriptor exists.
pub(crate) fn fd_fdstat_get(memory: Memory<'_>, fd: i32, at: i32) -> i32 {
    if fd != 1 && fd != 2 {
        return EBADF;
    }
    let Some((mem, _)) = memory else {
        return EINVAL;
    };
    let at = at as u32 as usize;
    let Some(stat) = mem.get_mut(at..at.saturating_add(24)) else {
        return EINVAL;
    };
    if stat.len() < 24 {
        return EINVAL;
    }
    stat.fill(0);
    // fs_filetype: character device; fs_rights_base: fd_write.
    stat[0] = 2;
    stat[8..16].copy_from_slice(&(1u64 << 6).to_le_bytes());
    ESUCCESS
}

/// Writes two `u32`s into the module's memory.
fn put_pair(memory: Memory<'_>, (a, x): (i32, u32), (b, y): (i32, u32)) -> i32 {
    let Some((mem, _)) = memory else {
        return EINVAL;
    };
    if put_u32(mem, a, x) && put_u32(mem, b, y) {
        ESUCCESS
    } else {
        EINVAL
    }
}

/// Writes zero to two `u32`s (counts and sizes of an empty environment or argument list).
pub(crate) fn empty(memory: Memory<'_>, count: i32, size: i32) -> i32 {
    put_pair(memory, (count, 0), (size, 0))
}

pub(crate) fn random_get(memory: Memory<'_>, buf: i32, len: i32) -> i32 {
    let Some((mem, state)) = memory else {
        return EINVAL;
    };
    let start = buf as u32 as usize;
    let Some(out) = mem.get_mut(start..start.saturating_add(len as u32 as usize)) else {
        return EINVAL;
    };
    for byte in out {
        // xorshift64*
        let x = &mut state.wasi.random;
        *x ^= *x >> 12;
        *x ^= *x << 25;
        *x ^= *x >> 27;
        *byte = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8;
    }
    ESUCCESS
}

/// `clock_time_get`: the clock always reads 0.
pub(crate) fn clock_time_get(memory: Memory<'_>, at: i32) -> i32 {
    let Some((mem, _)) = memory else {
        return EINVAL;
    };
    let at = at as u32 as usize;
    match mem.get_mut(at..at.saturating_add(8)) {
        Some(slot) if slot.len() == 8 => {
            slot.fill(0);
            ESUCCESS
        }
        _ => EINVAL,
    }
}

/// `clock_res_get`: a resolution of 1 ns.
pub(crate) fn clock_res_get(memory: Memory<'_>, at: i32) -> i32 {
    put_pair(memory, (at, 1), (at.wrapping_add(4), 0))
}

/// What `proc_exit` ends the call with.
pub(crate) const EXIT: &str = "the WCLAP called exit";

/// Adds the stubs to a linker of either runtime: `$rt` names the runtime's crate (its
/// `Linker`, `Caller` and `Extern` have the same shape in both), `$exit` turns [`EXIT`] into
/// its error type, and `$charge(caller, fuel)` makes a stub whose work grows with its
/// arguments pay for it where budgets are fuel. Evaluates to the first error.
macro_rules! link_wasi {
    ($rt:ident, $linker:expr, $exit:expr, $charge:path) => {{
        use $crate::engine::sandbox::HostState;
        use $crate::engine::wasi::{self, MODULE};
        type Caller<'a> = $rt::Caller<'a, HostState>;
        fn mem<'a>(caller: &'a mut Caller<'_>) -> wasi::Memory<'a> {
            let memory = caller.get_export("memory")?.into_memory()?;
            Some(memory.data_and_store_mut(caller))
        }
        let linker: &mut $rt::Linker<HostState> = $linker;
        (|| {
            linker.func_wrap(MODULE, "fd_write", |mut c: Caller<'_>, a, b, n, w| {
                wasi::fd_write(mem(&mut c), a, b, n, w)
            })?;
            linker.func_wrap(MODULE, "fd_close", |_: i32| wasi::EBADF)?;
            linker.func_wrap(MODULE, "fd_seek", |_: i32, _: i64, _: i32, _: i32| {
                wasi::EBADF
            })?;
            linker.func_wrap(MODULE, "fd_read", |_: i32, _: i32, _: i32, _: i32| {
                wasi::EBADF
            })?;
            linker.func_wrap(MODULE, "fd_fdstat_get", |mut c: Caller<'_>, fd, at| {
                wasi::fd_fdstat_get(mem(&mut c), fd, at)
            })?;
            linker.func_wrap(MODULE, "fd_prestat_get", |_: i32, _: i32| wasi::EBADF)?;
            linker.func_wrap(MODULE, "fd_prestat_dir_name", |_: i32, _: i32, _: i32| {
                wasi::EBADF
            })?;
            for name in ["environ_sizes_get", "args_sizes_get"] {
                linker.func_wrap(MODULE, name, |mut c: Caller<'_>, n, size| {
                    wasi::empty(mem(&mut c), n, size)
                })?;
            }
            for name in ["environ_get", "args_get"] {
                linker.func_wrap(MODULE, name, |_: i32, _: i32| wasi::ESUCCESS)?;
            }
            linker.func_wrap(
                MODULE,
                "clock_time_get",
                |mut c: Caller<'_>, _: i32, _: i64, at| wasi::clock_time_get(mem(&mut c), at),
            )?;
            linker.func_wrap(MODULE, "clock_res_get", |mut c: Caller<'_>, _: i32, at| {
                wasi::clock_res_get(mem(&mut c), at)
            })?;
            linker.func_wrap(
                MODULE,
                "random_get",
                |mut c: Caller<'_>, buf, len: i32| -> Result<i32, $rt::Error> {
                    // A few nanoseconds a byte.
                    $charge(&mut c, u64::from(len as u32))?;
                    Ok(wasi::random_get(mem(&mut c), buf, len))
                },
            )?;
            linker.func_wrap(MODULE, "proc_exit", |_: i32| -> Result<(), $rt::Error> {
                Err($exit(wasi::EXIT))
            })?;
            linker.func_wrap(MODULE, "sched_yield", || wasi::ESUCCESS)?;
            Ok::<(), $rt::Error>(())
        })()
    }};
}
pub(crate) use link_wasi;

/// Checks a WCLAP's import from [`MODULE`]: one of [`FUNCTIONS`], with its signature.
pub fn check(field: &str, ty: &ExternType) -> Result<(), LoadError> {
    let err = |reason: String| LoadError::Import {
        module: MODULE.to_owned(),
        field: field.to_owned(),
        reason,
    };
    let Some(&(_, params, results)) = FUNCTIONS.iter().find(|(name, ..)| *name == field) else {
        return Err(err(
            "Wasp gives a WCLAP no files, network or system access: it provides only the WASI \
             functions the C runtime needs to start and print (docs/WCLAP.md lists them)"
                .into(),
        ));
    };
    let ExternType::Func(func) = ty else {
        return Err(err("it must be a function".into()));
    };
    if !func.is(params, results) {
        return Err(err(format!("it has the wrong signature: {}", func.text())));
    }
    Ok(())
}
