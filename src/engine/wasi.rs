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

use wasmtime::{Caller, Linker, ValType};

use super::error::LoadError;
use super::sandbox::{HostState, TEXT_CAP};

/// The WASI module name.
pub const MODULE: &str = "wasi_snapshot_preview1";

const ESUCCESS: i32 = 0;
const EBADF: i32 = 8;
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

/// The module's memory, as a byte slice, with the host state beside it.
fn memory<'a>(caller: &'a mut Caller<'_, HostState>) -> Option<(&'a mut [u8], &'a mut HostState)> {
    let memory = caller.data().memory?;
    Some(memory.data_and_store_mut(caller))
}

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
fn fd_write(
    mut caller: Caller<'_, HostState>,
    fd: i32,
    iovs: i32,
    count: i32,
    written: i32,
) -> i32 {
    if fd != 1 && fd != 2 {
        return EBADF;
    }
    let Some((mem, state)) = memory(&mut caller) else {
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
fn fd_fdstat_get(mut caller: Caller<'_, HostState>, fd: i32, at: i32) -> i32 {
    if fd != 1 && fd != 2 {
        return EBADF;
    }
    let Some((mem, _)) = memory(&mut caller) else {
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
fn put_pair(caller: &mut Caller<'_, HostState>, (a, x): (i32, u32), (b, y): (i32, u32)) -> i32 {
    let Some((mem, _)) = memory(caller) else {
        return EINVAL;
    };
    if put_u32(mem, a, x) && put_u32(mem, b, y) {
        ESUCCESS
    } else {
        EINVAL
    }
}

/// Writes zero to two `u32`s (counts and sizes of an empty environment or argument list).
fn empty(mut caller: Caller<'_, HostState>, count: i32, size: i32) -> i32 {
    put_pair(&mut caller, (count, 0), (size, 0))
}

fn random_get(mut caller: Caller<'_, HostState>, buf: i32, len: i32) -> i32 {
    let Some((mem, state)) = memory(&mut caller) else {
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

/// Adds the stubs to a linker.
pub fn define(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(MODULE, "fd_write", fd_write)?;
    linker.func_wrap(MODULE, "fd_close", |_: i32| EBADF)?;
    linker.func_wrap(MODULE, "fd_seek", |_: i32, _: i64, _: i32, _: i32| EBADF)?;
    linker.func_wrap(MODULE, "fd_read", |_: i32, _: i32, _: i32, _: i32| EBADF)?;
    linker.func_wrap(MODULE, "fd_fdstat_get", fd_fdstat_get)?;
    linker.func_wrap(MODULE, "fd_prestat_get", |_: i32, _: i32| EBADF)?;
    linker.func_wrap(MODULE, "fd_prestat_dir_name", |_: i32, _: i32, _: i32| {
        EBADF
    })?;
    linker.func_wrap(MODULE, "environ_sizes_get", empty)?;
    linker.func_wrap(MODULE, "environ_get", |_: i32, _: i32| ESUCCESS)?;
    linker.func_wrap(MODULE, "args_sizes_get", empty)?;
    linker.func_wrap(MODULE, "args_get", |_: i32, _: i32| ESUCCESS)?;
    linker.func_wrap(
        MODULE,
        "clock_time_get",
        |mut caller: Caller<'_, HostState>, _: i32, _: i64, at: i32| {
            let Some((mem, _)) = memory(&mut caller) else {
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
        },
    )?;
    linker.func_wrap(
        MODULE,
        "clock_res_get",
        |mut caller: Caller<'_, HostState>, _: i32, at: i32| {
            put_pair(&mut caller, (at, 1), (at.wrapping_add(4), 0))
        },
    )?;
    linker.func_wrap(MODULE, "random_get", random_get)?;
    linker.func_wrap(MODULE, "proc_exit", |code: i32| -> wasmtime::Result<()> {
        let _ = code;
        Err(wasmtime::Error::msg("the WCLAP called exit"))
    })?;
    linker.func_wrap(MODULE, "sched_yield", || ESUCCESS)?;
    Ok(())
}

/// Checks a WCLAP's import from [`MODULE`]: one of [`FUNCTIONS`], with its signature.
pub fn check(field: &str, ty: &wasmtime::ExternType) -> Result<(), LoadError> {
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
    let wasmtime::ExternType::Func(func) = ty else {
        return Err(err("it must be a function".into()));
    };
    let same = |a: Vec<ValType>, b: &[ValType]| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| ValType::eq(x, y))
    };
    if !same(func.params().collect(), params) || !same(func.results().collect(), results) {
        return Err(err(format!(
            "it has the wrong signature: {}",
            super::imports::signature_text(func)
        )));
    }
    Ok(())
}
