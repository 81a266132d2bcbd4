//! Opening a project: 32 Wasp instances restore a saved state holding the same 40 KB module,
//! activate and process their first block, through a CLAP host (clack-host) loading the built
//! plugin. Each run is a fresh process, as reopening a project in a DAW is: the first with an
//! empty compiled-module cache on disk (cold), the next two with the cache the first one left
//! (warm).
//!
//! `cargo bench --bench open` (`WASP_INSTANCES=8` for fewer). Prints measurements; asserts
//! only that the module was compiled once per process at most.

#[path = "../tests/common/clap_host.rs"]
mod clap_host;
#[path = "../tests/common/state.rs"]
mod state;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use clap_host::TestHost;

/// A stereo module of about 40 KB: a chain of `stages` one-pole sections, each its own
/// function with its own coefficients and state, so the compiler has real work per byte.
fn large_module(stages: usize) -> Vec<u8> {
    let mut text = String::from(
        "(module\n  (@custom \"wasp\" \"{\\\"abi\\\":1,\\\"name\\\":\\\"Large chain\\\",\
         \\\"channels\\\":\\\"stereo\\\"}\")\n  (memory (export \"memory\") 1)\n",
    );
    for i in 0..stages {
        let (a, b) = (0.1 + (i % 7) as f32 * 0.01, 0.9 - (i % 5) as f32 * 0.01);
        text.push_str(&format!(
            "  (func $s{i} (param $x f32) (param $at i32) (result f32)
    (local $y f32)
    (local.set $y (f32.add (f32.mul (f32.const {a}) (local.get $x))
                           (f32.mul (f32.const {b}) (f32.load offset={off} (local.get $at)))))
    (f32.store offset={off} (local.get $at) (local.get $y))
    (f32.mul (local.get $y) (f32.const 1.0001)))\n",
            off = 8 * i
        ));
    }
    text.push_str("  (func (export \"dsp\") (param $l f32) (param $r f32) (result f32 f32)\n");
    for (channel, at) in [("$l", 0), ("$r", 4)] {
        let mut expr = format!("(local.get {channel})");
        for i in 0..stages {
            expr = format!("(call $s{i} {expr} (i32.const {at}))");
        }
        text.push_str(&format!("    {expr}\n"));
    }
    text.push_str("  ))\n");
    wat::parse_str(&text).expect("the generated module is valid")
}

fn child(n: usize, module: &Path) {
    let library = clap_host::cdylib_path("wasp");
    let bytes = std::fs::read(module).unwrap();
    let state = state::state_with(&bytes, &[], serde_json::json!({}));
    let started = Instant::now();
    let mut first = None;
    let hosts: Vec<TestHost> = (0..n)
        .map(|_| {
            let mut host = TestHost::new(&library, "dev.wasp-audio.wasp").unwrap();
            host.load_state(&state).unwrap();
            host.activate(48_000.0, 512);
            let (l, _) = host.process_stereo(&[0.5; 512], &[0.5; 512]);
            assert!(l.iter().all(|x| x.is_finite()));
            first.get_or_insert(started.elapsed());
            host
        })
        .collect();
    let all = started.elapsed();
    println!(
        "{:.1} {:.1}",
        first.unwrap_or_default().as_secs_f64() * 1e3,
        all.as_secs_f64() * 1e3
    );
    drop(hosts);
}

fn main() {
    let n: usize = std::env::var("WASP_INSTANCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    if let Some(module) = std::env::var_os("WASP_OPEN_CHILD") {
        child(n, Path::new(&module));
        return;
    }
    let dir = std::env::temp_dir().join(format!("wasp-open-bench-{}", std::process::id()));
    let cache = dir.join("cache");
    std::fs::create_dir_all(&dir).unwrap();
    let module = dir.join("large.wasm");
    let bytes = large_module(560);
    std::fs::write(&module, &bytes).unwrap();
    println!(
        "{n} instances of a {:.1} KB module, each restored from a saved state, activated and \
         run for one 512-frame block:",
        bytes.len() as f64 / 1000.0
    );
    let entries = |dir: &PathBuf| std::fs::read_dir(dir).map_or(0, |d| d.count());
    for label in ["cold disk cache", "warm disk cache", "warm disk cache"] {
        let output = Command::new(std::env::current_exe().unwrap())
            .env("WASP_OPEN_CHILD", &module)
            .env("WASP_CACHE_DIR", &cache)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8_lossy(&output.stdout);
        let mut numbers = text
            .lines()
            .last()
            .unwrap_or("")
            .split_whitespace()
            .map(|v| v.parse::<f64>().unwrap_or(f64::NAN));
        let (first, all) = (
            numbers.next().unwrap_or(f64::NAN),
            numbers.next().unwrap_or(f64::NAN),
        );
        println!(
            "  {label}: first instance playing after {first:.0} ms, all {n} after {all:.0} ms \
             ({} compiled module(s) on disk)",
            entries(&cache)
        );
        // The same module in every instance is compiled once and stored once.
        assert_eq!(entries(&cache), 1);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
