//! A host may load and unload Wasp's library many times in one process (plugin scanning does).
//! Each cycle must leave the process as it found it: no signal handlers pointing into unloaded
//! code, no threads of ours still running.

#[path = "common/clap_host.rs"]
mod clap_host;

use clap_host::{cdylib_path, TestHost};

const ID: &str = "dev.wasp-audio.wasp";

/// The installed handlers for the signals wasmtime could use for traps.
fn handlers() -> Vec<(i32, usize)> {
    [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE]
        .into_iter()
        .map(|sig| {
            // SAFETY: sigaction with a null new action only reads the current one into `old`,
            // a zeroed, properly aligned struct owned by this frame.
            let handler = unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                assert_eq!(libc::sigaction(sig, std::ptr::null(), &mut old), 0);
                old.sa_sigaction
            };
            (sig, handler)
        })
        .collect()
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

fn library_mapped(path: &std::path::Path) -> bool {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    maps.lines().any(|l| l.ends_with(&name))
}

#[test]
fn load_unload_cycles_leave_no_handlers_or_threads() {
    let path = cdylib_path("wasp");
    let before = (handlers(), threads());
    for cycle in 0..5 {
        let mut host = TestHost::new(&path, ID).unwrap();
        host.activate(48_000.0, 256);
        let input = vec![0.25f32; 256];
        let (l, _) = host.process_stereo(&input, &input);
        assert_eq!(l, input, "cycle {cycle}: the default module passes audio");
        assert!(threads() > before.1, "the plugin runs its worker threads");
        drop(host);
        assert_eq!(
            (handlers(), threads()),
            before,
            "cycle {cycle}: the process is as it was before loading"
        );
    }
    eprintln!(
        "after unloading, the library is {}",
        if library_mapped(&path) {
            "still mapped (the dynamic loader kept it)"
        } else {
            "unmapped"
        }
    );
}
