//! Cost of running a module over a 512-frame stereo block, per sample (`dsp`) and per block
//! (`wasp_process`), against a native Rust implementation of the same DSP. Read the ratio of
//! each `wasm` line to its `native` line.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::{Duration, Instant};

use wasp::{DspInstance, ProcessConfig, Runtime, RuntimeOptions, Source};

const FRAMES: usize = 512;
const SR: f32 = 48_000.0;

fn instance(file: &str) -> DspInstance {
    instance_with(file, &Runtime::new().unwrap())
}

fn instance_with(file: &str, runtime: &Runtime) -> DspInstance {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/modules")
        .join(file);
    instance_at(path, runtime)
}

/// Builds the Rust example crate `examples/modules/<dir>` for wasm32 and instantiates it.
fn rust_instance(dir: &str, artifact: &str) -> DspInstance {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/modules")
        .join(dir);
    let status = std::process::Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-unknown-unknown",
            "--quiet",
        ])
        .current_dir(&root)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("running cargo");
    assert!(
        status.success(),
        "building {dir} for wasm32-unknown-unknown"
    );
    let path = root.join(format!(
        "target/wasm32-unknown-unknown/release/{artifact}.wasm"
    ));
    instance_at(path, &Runtime::new().unwrap())
}

fn instance_at(path: std::path::PathBuf, runtime: &Runtime) -> DspInstance {
    let patch = runtime.compile(Source::from_file(path).unwrap()).unwrap();
    let config = ProcessConfig {
        sample_rate: SR,
        max_frames: FRAMES as u32,
    };
    DspInstance::new(runtime, &patch, config).unwrap()
}

fn input() -> (Vec<f32>, Vec<f32>) {
    let l = (0..FRAMES).map(|n| (n as f32 * 0.05).sin() * 0.5).collect();
    let r = (0..FRAMES)
        .map(|n| (n as f32 * 0.031).cos() * 0.5)
        .collect();
    (l, r)
}

/// Native stereo gain, the same arithmetic as `gain.wat`.
fn native_gain(left: &mut [f32], right: &mut [f32]) {
    for (l, r) in left.iter_mut().zip(right.iter_mut()) {
        *l *= 0.5;
        *r *= 0.5;
    }
}

/// Native one-pole low-pass, the same arithmetic as `onepole.wat`, processed frame by frame.
struct OnePole {
    b: f32,
    z: [f32; 2],
}

impl OnePole {
    fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            self.z[0] += self.b * (*l - self.z[0]);
            self.z[1] += self.b * (*r - self.z[1]);
            *l = self.z[0];
            *r = self.z[1];
        }
    }
}

fn bench(c: &mut Criterion) {
    let (in_l, in_r) = input();
    let mut group = c.benchmark_group("block512_stereo");
    group.throughput(Throughput::Elements(FRAMES as u64));

    let (mut l, mut r) = (in_l.clone(), in_r.clone());
    group.bench_function("gain/native", |b| {
        b.iter(|| {
            l.copy_from_slice(&in_l);
            r.copy_from_slice(&in_r);
            native_gain(black_box(&mut l), black_box(&mut r));
        })
    });
    let mut wasm = instance("gain.wat");
    group.bench_function("gain/wasm", |b| {
        b.iter(|| {
            l.copy_from_slice(&in_l);
            r.copy_from_slice(&in_r);
            wasm.process(&mut [black_box(&mut l[..]), black_box(&mut r[..])])
                .unwrap();
        })
    });
    // The same gain (its default, -6 dB, once it has settled) through `wasp_process`, with
    // WebAssembly SIMD.
    let mut wasm = rust_instance("rust-gain", "wasp_gain");
    group.bench_function("gain/wasm-block-simd", |b| {
        b.iter(|| {
            l.copy_from_slice(&in_l);
            r.copy_from_slice(&in_r);
            wasm.process(&mut [black_box(&mut l[..]), black_box(&mut r[..])])
                .unwrap();
        })
    });

    let mut native = OnePole {
        b: 1.0 - (-std::f32::consts::TAU * 1000.0 / SR).exp(),
        z: [0.0; 2],
    };
    group.bench_function("onepole/native", |b| {
        b.iter(|| {
            l.copy_from_slice(&in_l);
            r.copy_from_slice(&in_r);
            native.process(black_box(&mut l), black_box(&mut r));
        })
    });
    let mut wasm = instance("onepole.wat");
    group.bench_function("onepole/wasm", |b| {
        b.iter(|| {
            l.copy_from_slice(&in_l);
            r.copy_from_slice(&in_r);
            wasm.process(&mut [black_box(&mut l[..]), black_box(&mut r[..])])
                .unwrap();
        })
    });
    let mut wasm = instance("onepole-block.wat");
    group.bench_function("onepole/wasm-block", |b| {
        b.iter(|| {
            l.copy_from_slice(&in_l);
            r.copy_from_slice(&in_r);
            wasm.process(&mut [black_box(&mut l[..]), black_box(&mut r[..])])
                .unwrap();
        })
    });
    let mut wasm = rust_instance("rust-onepole", "wasp_onepole");
    group.bench_function("onepole/wasm-block-rust", |b| {
        b.iter(|| {
            l.copy_from_slice(&in_l);
            r.copy_from_slice(&in_r);
            wasm.process(&mut [black_box(&mut l[..]), black_box(&mut r[..])])
                .unwrap();
        })
    });
    group.finish();
}

/// What the isolation settings cost on the one-pole: signal-based traps or explicit checks,
/// with and without epoch interruption. The plugin ships explicit checks with epochs.
fn isolation(c: &mut Criterion) {
    let (in_l, in_r) = input();
    let (mut l, mut r) = (in_l.clone(), in_r.clone());
    let mut group = c.benchmark_group("onepole_isolation");
    group.throughput(Throughput::Elements(FRAMES as u64));
    // The one-pole has no loops and a short `dsp`, so the shipped settings prove it ends every
    // call quickly and run it without epoch checks; "checks+epoch" keeps them to show their cost.
    for (label, signals, epochs, skip) in [
        ("signals", true, false, false),
        ("signals+epoch", true, true, false),
        ("checks", false, false, false),
        ("checks+epoch", false, true, false),
        ("shipped (checks, epochs unless bounded)", false, true, true),
    ] {
        let runtime = Runtime::with_options(RuntimeOptions {
            signals_based_traps: signals,
            epoch_interruption: epochs,
            skip_epochs_when_bounded: skip,
            ..RuntimeOptions::default()
        })
        .unwrap();
        let mut wasm = instance_with("onepole.wat", &runtime);
        group.bench_function(label, |b| {
            b.iter(|| {
                l.copy_from_slice(&in_l);
                r.copy_from_slice(&in_r);
                wasm.process(&mut [black_box(&mut l[..]), black_box(&mut r[..])])
                    .unwrap();
            })
        });
        // The block one-pole has a loop, so it always runs with epoch checks when the runtime
        // has them.
        let mut wasm = instance_with("onepole-block.wat", &runtime);
        group.bench_function(format!("block/{label}"), |b| {
            b.iter(|| {
                l.copy_from_slice(&in_l);
                r.copy_from_slice(&in_r);
                wasm.process(&mut [black_box(&mut l[..]), black_box(&mut r[..])])
                    .unwrap();
            })
        });
    }
    group.finish();
}

/// Time from calling `process` on a module stuck in an endless loop to getting control back
/// (silence): the block's deadline, 512 frames at 48 kHz with the shipped budget.
fn runaway(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let patch = runtime
        .compile(Source::from_bytes(
            &br#"(module (func (export "dsp") (param f32) (result f32)
                   (loop $l (br $l)) (local.get 0)))"#[..],
        ))
        .unwrap();
    let config = ProcessConfig {
        sample_rate: SR,
        max_frames: FRAMES as u32,
    };
    let mut group = c.benchmark_group("runaway_to_silence");
    group.sample_size(10);
    group.bench_function("block512_48k", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut wasm = DspInstance::new(&runtime, &patch, config).unwrap();
                let (mut l, mut r) = input();
                let start = Instant::now();
                let result = wasm.process(&mut [&mut l[..], &mut r[..]]);
                total += start.elapsed();
                assert!(result.is_err() && l.iter().all(|&x| x == 0.0));
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, bench, isolation, runaway);
criterion_main!(benches);
