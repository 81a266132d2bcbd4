//! Compiled modules kept on disk: a new runtime (a reopened project, a new process) loads them
//! instead of compiling, and only intact entries Wasp wrote are loaded.

use std::time::Instant;

use wasp::{DspInstance, Patch, ProcessConfig, Runtime, RuntimeOptions, Source};

fn runtime(dir: &std::path::Path) -> Runtime {
    Runtime::with_disk_cache(RuntimeOptions::default(), dir.to_path_buf()).unwrap()
}

/// A block of a note through `patch`: the synth needs one, the one-pole filters noise.
fn render(runtime: &Runtime, patch: &Patch) -> Vec<f32> {
    let config = ProcessConfig {
        sample_rate: 48_000.0,
        max_frames: 512,
    };
    let mut instance = DspInstance::new(runtime, patch, config).unwrap();
    let mut left: Vec<f32> = (0..512)
        .map(|i| ((i * 7919) % 200) as f32 / 100.0 - 1.0)
        .collect();
    let mut right = left.clone();
    instance.process(&mut [&mut left, &mut right]).unwrap();
    left
}

#[test]
fn compiled_modules_are_loaded_from_disk_and_verified() {
    if crate::common::jit_only("compiled_modules_are_loaded_from_disk_and_verified") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("wasp-disk-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let modules = ["synth.wat", "onepole.wat"].map(crate::common::example_bytes);
    let compile = |runtime: &Runtime| -> Vec<(Patch, f64)> {
        modules
            .iter()
            .map(|m| {
                let started = Instant::now();
                let patch = runtime.compile(Source::from_bytes(m.clone())).unwrap();
                (patch, started.elapsed().as_secs_f64() * 1e3)
            })
            .collect()
    };

    let cold = runtime(&dir);
    let first = compile(&cold);
    assert_eq!((cold.compiles(), cold.disk_loads()), (2, 0));
    let entries = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(entries, 2, "one entry per module");

    let warm = runtime(&dir);
    let second = compile(&warm);
    assert_eq!(
        (warm.compiles(), warm.disk_loads()),
        (0, 2),
        "nothing compiled again"
    );
    for ((a, cold_ms), (b, warm_ms)) in first.iter().zip(&second) {
        println!(
            "{}: compiled in {cold_ms:.1} ms, loaded from disk in {warm_ms:.1} ms",
            a.display_name()
        );
        assert_eq!(render(&cold, a), render(&warm, b), "the same code runs");
    }

    // A damaged entry (one flipped byte) and a truncated one are compiled again, not loaded.
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    let mut bytes = std::fs::read(&paths[0]).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&paths[0], &bytes).unwrap();
    let truncated = std::fs::read(&paths[1]).unwrap();
    std::fs::write(&paths[1], &truncated[..truncated.len() / 2]).unwrap();
    let repaired = runtime(&dir);
    compile(&repaired);
    assert_eq!((repaired.compiles(), repaired.disk_loads()), (2, 0));
    // And rewritten: the next runtime loads both again.
    let again = runtime(&dir);
    compile(&again);
    assert_eq!((again.compiles(), again.disk_loads()), (0, 2));
    let _ = std::fs::remove_dir_all(&dir);
}
