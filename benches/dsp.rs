//! Cost of running a module over a 512-frame stereo block, per sample (`dsp`) and per block
//! (`wasp_process`), against a native Rust implementation of the same DSP. Read the ratio of
//! each `wasm` line to its `native` line.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::{Duration, Instant};

use wasp::{DspInstance, ProcessConfig, Runtime, RuntimeOptions, Source};

#[path = "../tests/common/mod.rs"]
mod common;

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
fn rust_instance(dir: &str) -> DspInstance {
    instance_at(
        common::rust_example_wasm(dir).to_path_buf(),
        &Runtime::new().unwrap(),
    )
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

type Input = (Vec<f32>, Vec<f32>);

/// One 512-frame stereo block of `input` through `process`, copying the input in first (as
/// every line does, native or not).
fn bench_block(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    label: &str,
    (in_l, in_r): &Input,
    mut process: impl FnMut(&mut [f32], &mut [f32]),
) {
    let (mut l, mut r) = (in_l.clone(), in_r.clone());
    group.bench_function(label, |b| {
        b.iter(|| {
            l.copy_from_slice(in_l);
            r.copy_from_slice(in_r);
            process(black_box(&mut l), black_box(&mut r));
        })
    });
}

/// [`bench_block`] through a module instance.
fn bench_wasm(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    label: &str,
    input: &Input,
    mut wasm: DspInstance,
) {
    bench_block(group, label, input, |l, r| {
        wasm.process(&mut [l, r]).unwrap()
    });
}

fn bench(c: &mut Criterion) {
    let input = input();
    let mut group = c.benchmark_group("block512_stereo");
    group.throughput(Throughput::Elements(FRAMES as u64));

    bench_block(&mut group, "gain/native", &input, native_gain);
    bench_wasm(&mut group, "gain/wasm", &input, instance("gain.wat"));
    // The same gain (its default, -6 dB, once it has settled) through `wasp_process`, with
    // WebAssembly SIMD.
    bench_wasm(
        &mut group,
        "gain/wasm-block-simd",
        &input,
        rust_instance("rust-gain"),
    );

    // The same gain as a CLAP plugin compiled to WebAssembly (examples/wclap/gain), at -6 dB,
    // through Wasp's CLAP host: what hosting a WCLAP costs per block over a plain module.
    let mut wclap = instance_at(
        common::rust_crate_wasm(&common::root().join("examples/wclap/gain")).to_path_buf(),
        &Runtime::new().unwrap(),
    );
    wclap.set_param(0, -20.0 * 2f32.log10()).unwrap();
    bench_wasm(&mut group, "gain/wclap", &input, wclap);

    let mut native = OnePole {
        b: 1.0 - (-std::f32::consts::TAU * 1000.0 / SR).exp(),
        z: [0.0; 2],
    };
    bench_block(&mut group, "onepole/native", &input, |l, r| {
        native.process(l, r)
    });
    bench_wasm(&mut group, "onepole/wasm", &input, instance("onepole.wat"));
    let block = instance("onepole-block.wat");
    bench_wasm(&mut group, "onepole/wasm-block", &input, block);
    let rust = rust_instance("rust-onepole");
    bench_wasm(&mut group, "onepole/wasm-block-rust", &input, rust);
    group.finish();
}

/// What the isolation settings cost on the one-pole: signal-based traps or explicit checks,
/// with and without interruption (epoch checks, or Wasp's stop checks). The plugin ships
/// explicit checks, no interruption check for modules proven short, stop checks for the rest.
fn isolation(c: &mut Criterion) {
    let input = input();
    let mut group = c.benchmark_group("onepole_isolation");
    group.throughput(Throughput::Elements(FRAMES as u64));
    // The one-pole has no loops and a short `dsp`, so the shipped settings prove it ends every
    // call quickly and run it without checks; "checks+epoch" keeps them to show their cost.
    for (label, signals, epochs, skip, stops) in [
        ("signals", true, false, false, false),
        ("signals+epoch", true, true, false, false),
        ("checks", false, false, false, false),
        ("checks+epoch", false, true, false, false),
        ("checks+stop", false, true, false, true),
        (
            "shipped (checks, stop checks unless bounded)",
            false,
            true,
            true,
            true,
        ),
    ] {
        let runtime = Runtime::with_options(RuntimeOptions {
            signals_based_traps: signals,
            epoch_interruption: epochs,
            skip_epochs_when_bounded: skip,
            stop_checks: stops,
            ..RuntimeOptions::default()
        })
        .unwrap();
        bench_wasm(
            &mut group,
            label,
            &input,
            instance_with("onepole.wat", &runtime),
        );
        // The block one-pole has a loop, so it always runs with interruption checks when the
        // runtime has them.
        bench_wasm(
            &mut group,
            &format!("block/{label}"),
            &input,
            instance_with("onepole-block.wat", &runtime),
        );
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

/// The fixed cost of a call through Wasp's CLAP host: 8-frame blocks, where the samples cost
/// little, through the WCLAP gain and through the Rust SDK's block gain.
fn wclap_overhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("block8_stereo");
    let (l, r) = input();
    let input = (l[..8].to_vec(), r[..8].to_vec());
    bench_wasm(
        &mut group,
        "gain/wasm-block",
        &input,
        rust_instance("rust-gain"),
    );
    let wclap = instance_at(
        common::rust_crate_wasm(&common::root().join("examples/wclap/gain")).to_path_buf(),
        &Runtime::new().unwrap(),
    );
    bench_wasm(&mut group, "gain/wclap", &input, wclap);
    group.finish();
}

criterion_group!(benches, bench, isolation, runaway, wclap_overhead);
criterion_main!(benches);
