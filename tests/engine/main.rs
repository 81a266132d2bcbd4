//! The engine's integration tests, run in-process through `wasp`'s library API: one test
//! binary for all of them, because every test binary links the whole of wasmtime and the
//! editor (about 100 MB each in a debug build), and CI machines have little disk to spare.
//! Tests that need a process of their own (counting threads, unloading the library, real-time
//! scheduling, a window) stay in files of their own under `tests/`.

#[path = "../common/mod.rs"]
mod common;

mod block;
mod contract_errors;
mod disk_cache;
mod docs;
mod examples;
mod faust;
mod hardening;
mod library;
mod params;
mod playing;
mod sandbox;
mod scale;
mod swap;
mod tier_up;
mod wclap;
mod tiering {
    //! The whole suite again on the other tierings (see `RuntimeOptions::tiering`): every
    //! module on the interpreter, then every module starting on it and moving to compiled
    //! code while it plays. The same binary runs itself with `WASP_TIERING` set, so one
    //! `cargo test` covers all three and no second binary is linked.

    use std::process::Command;

    fn suite(tiering: &str) {
        let exe = std::env::current_exe().unwrap();
        let output = Command::new(exe)
            .env("WASP_TIERING", tiering)
            .args(["--skip", "tiering::"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let summary = stdout
            .lines()
            .filter(|l| l.starts_with("test result") || l.contains("FAILED"))
            .collect::<Vec<_>>()
            .join("\n");
        eprintln!("{tiering}: {summary}");
        assert!(
            output.status.success(),
            "the engine suite fails with WASP_TIERING={tiering}:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// One after the other, not as two tests: each run uses every core, and two at once on
    /// a 2-core machine starve the time-sensitive tests of both (and the worker pool they
    /// share).
    #[test]
    fn the_engine_suite_passes_on_the_interpreter_and_with_tier_ups() {
        if wasp::Tiering::from_env().is_none() {
            suite("interpreter");
            suite("tier-up");
        }
    }
}
