//! The two runtimes side by side (see `src/engine/backend/`), in one run:
//! - `load`: from the bytes of a 40 KB Faust reverb (greyhole) to its first processed block:
//!   wasmtime compiling it cold, the interpreter, and the tier-up (the interpreter plus the
//!   exports it adds);
//! - `block512_stereo`: a 512-frame stereo block through the one-pole and through the reverb,
//!   compiled and interpreted, against a native one-pole;
//! - `tier_up`: the audio thread's block that switches a module with 1 MiB of memory from the
//!   interpreter to compiled code (the whole instance copied), and an ordinary block of it;
//! - `fuel`: how much fuel the interpreter burns per second, which `FUEL_PER_SECOND` is set
//!   from.
//!
//! Needs `faust`. Run: `cargo bench --bench backends`.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wasp::{
    Crossfade, DspInstance, LoadOptions, Preparer, ProcessConfig, Runtime, RuntimeOptions, Source,
    Tier, Tiering,
};

const SR: f32 = 48_000.0;
const FRAMES: usize = 512;

fn config() -> ProcessConfig {
    ProcessConfig {
        sample_rate: SR,
        max_frames: FRAMES as u32,
    }
}

fn runtime(tiering: Tiering) -> Runtime {
    Runtime::with_options(RuntimeOptions {
        tiering,
        ..RuntimeOptions::default()
    })
    .unwrap()
}

/// The WebAssembly the Faust compiler writes for `examples/faust/<name>.dsp`.
fn faust_wasm(name: &str) -> Vec<u8> {
    let dsp = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("examples/faust/{name}.dsp"));
    let patch = runtime(Tiering::Interpreter)
        .compile(Source::from_file(dsp).unwrap())
        .unwrap();
    patch.source().bytes.to_vec()
}

fn example(name: &str) -> Source {
    Source::from_file(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/modules")
            .join(name),
    )
    .unwrap()
}

fn input() -> (Vec<f32>, Vec<f32>) {
    let l = (0..FRAMES).map(|n| (n as f32 * 0.05).sin() * 0.5).collect();
    let r = (0..FRAMES)
        .map(|n| (n as f32 * 0.031).cos() * 0.5)
        .collect();
    (l, r)
}

fn load(c: &mut Criterion) {
    let greyhole = faust_wasm("greyhole");
    eprintln!("greyhole: {} bytes of WebAssembly", greyhole.len());
    let mut group = c.benchmark_group("load");
    group.sample_size(20);
    for (label, tiering, tier) in [
        ("greyhole/compiled_cold", Tiering::Jit, Tier::Jit),
        (
            "greyhole/interpreter",
            Tiering::Interpreter,
            Tier::Interpreter,
        ),
        ("greyhole/tier_up", Tiering::TierUp, Tier::Interpreter),
    ] {
        let runtime = runtime(tiering);
        let (mut l, mut r) = input();
        group.bench_function(label, |b| {
            b.iter(|| {
                let patch = runtime
                    .compile_uncached(Source::from_bytes(greyhole.clone()))
                    .unwrap();
                let mut instance = DspInstance::new(&runtime, &patch, config()).unwrap();
                assert_eq!(instance.tier(), tier);
                instance.process(&mut [&mut l, &mut r]).unwrap();
                black_box(&l);
            })
        });
    }
    // Where the time goes: Wasp's own checks and rewrites, which both runtimes need, then the
    // interpreter's instance (its translation of the code included).
    let interpreter = runtime(Tiering::Interpreter);
    group.bench_function("greyhole/checks_only", |b| {
        b.iter(|| {
            interpreter
                .compile_uncached(Source::from_bytes(greyhole.clone()))
                .unwrap()
        })
    });
    let patch = interpreter
        .compile_uncached(Source::from_bytes(greyhole.clone()))
        .unwrap();
    group.bench_function("greyhole/interpreter_instance_only", |b| {
        b.iter(|| DspInstance::new(&interpreter, &patch, config()).unwrap())
    });
    group.finish();
}

/// Native one-pole low-pass, the arithmetic of `onepole.wat`.
struct OnePole {
    b: f32,
    z: [f32; 2],
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("block512_stereo");
    group.throughput(Throughput::Elements(FRAMES as u64));
    let (in_l, in_r) = input();
    let (mut l, mut r) = (in_l.clone(), in_r.clone());
    let mut native = OnePole {
        b: 1.0 - (-std::f32::consts::TAU * 1000.0 / SR).exp(),
        z: [0.0; 2],
    };
    group.bench_function("onepole/native", |b| {
        b.iter(|| {
            l.copy_from_slice(&in_l);
            r.copy_from_slice(&in_r);
            for (l, r) in black_box(&mut l)
                .iter_mut()
                .zip(black_box(&mut r).iter_mut())
            {
                native.z[0] += native.b * (*l - native.z[0]);
                native.z[1] += native.b * (*r - native.z[1]);
                *l = native.z[0];
                *r = native.z[1];
            }
        })
    });
    let greyhole = faust_wasm("greyhole");
    for (module, source) in [
        ("onepole", example("onepole.wat")),
        ("greyhole", Source::from_bytes(greyhole)),
    ] {
        for (label, tiering) in [
            ("compiled", Tiering::Jit),
            ("interpreter", Tiering::Interpreter),
        ] {
            let runtime = runtime(tiering);
            let patch = runtime.compile(source.clone()).unwrap();
            let mut instance = DspInstance::new(&runtime, &patch, config()).unwrap();
            group.bench_function(format!("{module}/{label}"), |b| {
                b.iter(|| {
                    l.copy_from_slice(&in_l);
                    r.copy_from_slice(&in_r);
                    instance.process(&mut [&mut l, &mut r]).unwrap();
                })
            });
        }
    }
    group.finish();
}

/// A stereo delay whose 1 MiB memory is its delay line: all of it is state.
fn mebibyte_module(salt: u64) -> Source {
    let wat = format!(
        r#";; {salt}
(module
  (memory (export "memory") 16 16)
  (global $at (mut i32) (i32.const 0))
  (func (export "dsp") (param $l f32) (param $r f32) (result f32 f32)
    (local $old_l f32) (local $old_r f32)
    (local.set $old_l (f32.load (global.get $at)))
    (local.set $old_r (f32.load offset=4 (global.get $at)))
    (f32.store (global.get $at) (local.get $l))
    (f32.store offset=4 (global.get $at) (local.get $r))
    (global.set $at (i32.and (i32.add (global.get $at) (i32.const 8)) (i32.const 1048575)))
    (f32.add (local.get $l) (f32.mul (local.get $old_l) (f32.const 0.5)))
    (f32.add (local.get $r) (f32.mul (local.get $old_r) (f32.const 0.5)))))"#
    );
    Source::from_bytes(wat.into_bytes())
}

fn tier_up(c: &mut Criterion) {
    let runtime = runtime(Tiering::TierUp);
    let (preparer, mut audio) = Preparer::spawn(runtime).unwrap();
    preparer.controller().configure(config());
    let (in_l, in_r) = input();
    let (mut l, mut r) = (in_l.clone(), in_r.clone());
    let mut block = |audio: &mut wasp::AudioEngine| {
        l.copy_from_slice(&in_l);
        r.copy_from_slice(&in_r);
        let started = Instant::now();
        audio.process(&mut [&mut l, &mut r]);
        started.elapsed()
    };
    let mut salt = 0;
    let mut group = c.benchmark_group("tier_up");
    group.sample_size(20);
    // The block whose commit switches runtimes: a fresh module each time (a new compile),
    // played on the interpreter until its compiled instance arrives.
    group.bench_function("switch_block_1MiB", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                salt += 1;
                let shared = audio.shared().clone();
                let before = shared.tier_ups();
                let options = LoadOptions {
                    crossfade: Crossfade::Never,
                };
                preparer
                    .controller()
                    .load_with(mebibyte_module(salt), options);
                let started = Instant::now();
                loop {
                    let took = block(&mut audio);
                    if shared.tier_ups() > before {
                        total += took;
                        break;
                    }
                    assert!(started.elapsed() < Duration::from_secs(30), "no tier-up");
                    std::thread::sleep(Duration::from_micros(100));
                }
            }
            total
        })
    });
    group.bench_function("ordinary_block_1MiB", |b| b.iter(|| block(&mut audio)));
    group.finish();
}

/// Fuel per second: a runaway module on the interpreter runs until its block's fuel is gone.
fn fuel(c: &mut Criterion) {
    let runaway = br#"(module (func (export "dsp") (param f32) (result f32)
        (loop $l (br $l)) (local.get 0)))"#;
    let runtime = runtime(Tiering::Interpreter);
    let patch = runtime.compile(Source::from_bytes(&runaway[..])).unwrap();
    let small = ProcessConfig {
        sample_rate: SR,
        max_frames: 64,
    };
    let budget = wasp::MIN_BLOCK_BUDGET;
    let mut group = c.benchmark_group("fuel");
    group.sample_size(20);
    let mut spent = Duration::ZERO;
    let mut runs = 0u32;
    group.bench_function("runaway_block", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut instance = DspInstance::new(&runtime, &patch, small).unwrap();
                let mut block = [0.0f32; 64];
                let started = Instant::now();
                let fault = instance.process(&mut [&mut block]).unwrap_err();
                total += started.elapsed();
                assert_eq!(fault.kind, wasp::TrapKind::Timeout);
            }
            spent += total;
            runs += iters as u32;
            total
        })
    });
    group.finish();
    let per_run = spent / runs.max(1);
    eprintln!(
        "fuel: a block's {} fuel ({budget:?} of budget) ran out after {per_run:?}: {:.0} million \
         fuel per second (FUEL_PER_SECOND is {} million)",
        wasp::fuel_for(budget),
        wasp::fuel_for(budget) as f64 / per_run.as_secs_f64() / 1e6,
        wasp::FUEL_PER_SECOND / 1_000_000
    );
}

criterion_group!(benches, load, throughput, tier_up, fuel);
criterion_main!(benches);
