//! Cost of running a module's per-sample `dsp` over a 512-frame stereo block, against a native
//! Rust implementation of the same DSP. Read the ratio of each `wasm` line to its `native` line.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wasp::{DspInstance, ProcessConfig, Runtime, Source};

const FRAMES: usize = 512;
const SR: f32 = 48_000.0;

fn instance(file: &str) -> DspInstance {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/modules")
        .join(file);
    let runtime = Runtime::new().unwrap();
    let patch = runtime.compile(Source::from_file(path).unwrap()).unwrap();
    let config = ProcessConfig {
        sample_rate: SR,
        max_frames: FRAMES as u32,
    };
    DspInstance::new(&runtime, &patch, config).unwrap()
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
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
