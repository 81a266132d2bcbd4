//! Helpers shared by the integration tests: fixture paths, reference signals, module builds.

#![allow(dead_code)]

pub mod rig;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// An example module under `examples/modules/`.
pub fn example(name: &str) -> PathBuf {
    root().join("examples/modules").join(name)
}

/// Reads an example module's bytes.
pub fn example_bytes(name: &str) -> Vec<u8> {
    std::fs::read(example(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
}

/// A test sine: `amp * sin(2 pi f n / sr)` for `n` in `start..start + len`.
pub fn sine(freq: f32, sample_rate: f32, amp: f32, start: usize, len: usize) -> Vec<f32> {
    (start..start + len)
        .map(|n| {
            amp * (std::f64::consts::TAU * freq as f64 * n as f64 / sample_rate as f64).sin() as f32
        })
        .collect()
}

/// Builds the Rust example module for wasm32-unknown-unknown (once per test binary) and
/// returns the path of the `.wasm` file.
pub fn rust_tremolo_wasm() -> &'static Path {
    rust_example_wasm("rust-tremolo")
}

/// Builds `examples/modules/c/<name>.c` with clang and wasm-ld through `sdk/c/wasp.h` (the
/// build line docs/ABI.md gives) and returns the `.wasm` bytes.
pub fn c_example_wasm(name: &str) -> Vec<u8> {
    clang_wasm(&example(&format!("c/{name}.c")))
}

/// Runs a build command and fails the test with its error output if it fails.
pub fn run_ok(command: &mut Command) {
    let result = command
        .output()
        .unwrap_or_else(|e| panic!("running {command:?} (is it installed?): {e}"));
    assert!(
        result.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
}

/// Builds a C module with clang and wasm-ld through `sdk/c/wasp.h`, with the build line the
/// header gives, and returns the `.wasm` bytes.
pub fn clang_wasm(source: &Path) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("wasp-c-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let name = source.file_stem().unwrap().to_string_lossy();
    let out = dir.join(format!("{name}.wasm"));
    // clang and lld: Debian packages `clang` and `lld`.
    run_ok(
        Command::new("clang")
            .args(["--target=wasm32", "-O2", "-nostdlib"])
            .args([
                "-Wl,--no-entry",
                "-Wl,--export-dynamic",
                "-Wl,--allow-undefined",
            ])
            .arg("-I")
            .arg(root().join("sdk/c"))
            .arg("-o")
            .arg(&out)
            .arg(source),
    );
    std::fs::read(out).unwrap()
}

/// Builds the Rust example crate in `examples/modules/<dir>` for wasm32-unknown-unknown (once
/// per test binary) and returns the path of its `.wasm` file.
pub fn rust_example_wasm(dir: &str) -> &'static Path {
    rust_crate_wasm(&example(dir))
}

/// Builds the Rust module crate at `root` for wasm32-unknown-unknown (once per test binary)
/// and returns the path of its `.wasm` file.
pub fn rust_crate_wasm(root: &Path) -> &'static Path {
    static BUILT: Mutex<Vec<(PathBuf, &'static Path)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(d, _)| d == root) {
        return path;
    }
    ensure_wasm32_target();
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-unknown-unknown",
            "--quiet",
        ])
        .current_dir(root)
        // The example is its own workspace; do not inherit this build's target directory or
        // flags.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("running cargo");
    assert!(
        status.success(),
        "building {} failed; is the wasm32-unknown-unknown target installed (`rustup target \
         add wasm32-unknown-unknown`)?",
        root.display()
    );
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let name = manifest
        .lines()
        .find_map(|l| l.strip_prefix("name = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("a package name")
        .replace('-', "_");
    let path: &'static Path = Box::leak(
        root.join(format!("target/wasm32-unknown-unknown/release/{name}.wasm"))
            .into_boxed_path(),
    );
    built.push((root.to_owned(), path));
    path
}

/// Builds an AssemblyScript module with the template in `sdk/assemblyscript` (its `build.mjs`:
/// asc, then the metadata from `config`), installing the template's npm packages first if
/// they are missing. `entry` and `config` are relative to `sdk/assemblyscript`.
pub fn assemblyscript_wasm(entry: &str, config: &str) -> Vec<u8> {
    static INSTALLED: Mutex<bool> = Mutex::new(false);
    let dir = root().join("sdk/assemblyscript");
    {
        let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
        if !*installed && !dir.join("node_modules/assemblyscript").exists() {
            // npm comes with Node.js (Debian packages `nodejs` and `npm`).
            run_ok(
                Command::new("npm")
                    .args(["ci", "--no-audit", "--no-fund"])
                    .current_dir(&dir),
            );
        }
        *installed = true;
    }
    let out = std::env::temp_dir()
        .join(format!("wasp-as-{}", std::process::id()))
        .join(Path::new(entry).with_extension("wasm").file_name().unwrap());
    run_ok(
        Command::new("node")
            .arg("build.mjs")
            .arg(entry)
            .arg(config)
            .arg(&out)
            .current_dir(&dir),
    );
    std::fs::read(out).unwrap()
}

/// Installs the wasm32-unknown-unknown target through rustup when it is missing, so the test
/// command works on a fresh machine.
fn ensure_wasm32_target() {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match installed {
        Ok(out) if String::from_utf8_lossy(&out.stdout).contains("wasm32-unknown-unknown") => {}
        Ok(_) => {
            let status = Command::new("rustup")
                .args(["target", "add", "wasm32-unknown-unknown"])
                .status()
                .expect("running rustup");
            assert!(
                status.success(),
                "`rustup target add wasm32-unknown-unknown` failed"
            );
        }
        // No rustup: assume the toolchain was set up some other way; the build will tell.
        Err(_) => {}
    }
}

/// Root mean square of a signal.
pub fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
}

/// Largest absolute difference between two signals of the same length.
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "signals differ in length");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// One runtime per test binary for tests that load many modules, so each module compiles
/// once; its blocks may take half a second before a module is interrupted (busy test machines
/// deschedule a test thread for longer than a real audio thread ever is).
pub fn shared_runtime() -> wasp::Runtime {
    static RUNTIME: std::sync::OnceLock<wasp::Runtime> = std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            wasp::Runtime::with_options(wasp::RuntimeOptions {
                min_block_budget: std::time::Duration::from_millis(500),
                ..wasp::RuntimeOptions::default()
            })
            .unwrap()
        })
        .clone()
}

/// Whether this run plays modules on the compiling runtime alone. The engine's tests run once
/// as they are and once more on the interpreter (`WASP_TIERING`, see `tests/engine/main.rs`);
/// the few that check what only the compiler does (compile counts, the disk cache, how
/// compiled code is interrupted) say so and pass without checking on the other runs.
pub fn jit_only(test: &str) -> bool {
    skip_unless(test, &[wasp::Tiering::Jit])
}

/// Whether this run's tiering is none of `tierings`: then `test` says so and is to return
/// at once.
pub fn skip_unless(test: &str, tierings: &[wasp::Tiering]) -> bool {
    let tiering = wasp::RuntimeOptions::default().tiering;
    let skip = !tierings.contains(&tiering);
    if skip {
        eprintln!("{test}: not run with {tiering:?}");
    }
    skip
}
