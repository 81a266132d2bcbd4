//! Every example module, run headless through the engine, produces the samples it should.

use crate::common::*;
use wasp::{DspInstance, DspShape, ProcessConfig, Runtime, RuntimeOptions, Source};

const SR: f32 = 48_000.0;

/// A runtime that tolerates a busy test machine (see `Rig::new`).
fn runtime() -> Runtime {
    Runtime::with_options(RuntimeOptions {
        min_block_budget: std::time::Duration::from_millis(500),
        ..RuntimeOptions::default()
    })
    .unwrap()
}

fn instance(source: Source) -> DspInstance {
    let runtime = runtime();
    let patch = runtime.compile(source).unwrap();
    DspInstance::new(
        &runtime,
        &patch,
        ProcessConfig {
            sample_rate: SR,
            max_frames: 512,
        },
    )
    .unwrap()
}

fn example_instance(name: &str) -> DspInstance {
    instance(Source::from_file(example(name)).unwrap())
}

/// Runs `blocks` blocks of 512 stereo frames of the given input through `inst`.
fn run(inst: &mut DspInstance, left: &[f32], right: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let (mut l, mut r) = (left.to_vec(), right.to_vec());
    for (lc, rc) in l.chunks_mut(512).zip(r.chunks_mut(512)) {
        inst.process(&mut [lc, rc]).unwrap();
    }
    (l, r)
}

#[test]
fn gain_halves_both_channels() {
    let mut inst = example_instance("gain.wat");
    assert_eq!(inst.patch().layout().shape, DspShape::Stereo);
    assert_eq!(inst.patch().metadata().name, "Gain -6 dB");
    let left = sine(1000.0, SR, 0.8, 0, 1024);
    let right = sine(300.0, SR, -0.6, 0, 1024);
    let (l, r) = run(&mut inst, &left, &right);
    let want_l: Vec<f32> = left.iter().map(|x| x * 0.5).collect();
    let want_r: Vec<f32> = right.iter().map(|x| x * 0.5).collect();
    assert_eq!(l, want_l);
    assert_eq!(r, want_r);
}

#[test]
fn sine_is_440_hz_at_the_sample_rate_it_was_given() {
    let mut inst = example_instance("sine.wat");
    assert_eq!(inst.patch().layout().shape, DspShape::Mono);
    let silence = vec![0.0; 4800];
    let (l, r) = run(&mut inst, &silence, &silence);
    let want = sine(440.0, SR, 0.25, 0, 4800);
    // The module accumulates its phase in f32, so allow a little drift over 0.1 s.
    assert!(max_diff(&l, &want) < 2e-4, "diff {}", max_diff(&l, &want));
    assert_eq!(l, r, "a mono module feeds both channels");

    // At another sample rate the same module still plays 440 Hz.
    let runtime = runtime();
    let patch = runtime
        .compile(Source::from_file(example("sine.wat")).unwrap())
        .unwrap();
    let config = ProcessConfig {
        sample_rate: 44_100.0,
        max_frames: 512,
    };
    let mut inst = DspInstance::new(&runtime, &patch, config).unwrap();
    let silence = vec![0.0; 512];
    let (l, _) = run(&mut inst, &silence, &silence);
    let want = sine(440.0, 44_100.0, 0.25, 0, 512);
    assert!(max_diff(&l, &want) < 1e-4);
}

#[test]
fn one_pole_matches_a_native_filter() {
    let mut inst = example_instance("onepole.wat");
    // White-ish input: a sum of a low and a high sine.
    let input: Vec<f32> = sine(200.0, SR, 0.5, 0, 2048)
        .iter()
        .zip(sine(9000.0, SR, 0.5, 0, 2048))
        .map(|(a, b)| a + b)
        .collect();
    let (l, r) = run(&mut inst, &input, &input);
    let b = 1.0 - (-std::f32::consts::TAU * 1000.0 / SR).exp();
    let mut y = 0.0f32;
    let want: Vec<f32> = input
        .iter()
        .map(|&x| {
            y += b * (x - y);
            y
        })
        .collect();
    assert!(max_diff(&l, &want) < 1e-5, "diff {}", max_diff(&l, &want));
    assert_eq!(l, r);
    // And it really filters: the 9 kHz part is mostly gone at the end.
    let tail_energy: f32 = l[1024..].iter().map(|x| x * x).sum::<f32>() / 1024.0;
    let in_energy: f32 = input[1024..].iter().map(|x| x * x).sum::<f32>() / 1024.0;
    assert!(tail_energy < 0.7 * in_energy);

    // `wasp_reset` clears the filter memory.
    inst.reset().unwrap();
    let mut l = vec![1.0f32; 4];
    let mut r = vec![1.0f32; 4];
    inst.process(&mut [&mut l, &mut r]).unwrap();
    assert!(
        (l[0] - b).abs() < 1e-6,
        "first output after reset is b*x, got {}",
        l[0]
    );
}

#[test]
fn rust_tremolo_matches_its_formula() {
    let wasm = rust_tremolo_wasm();
    let mut inst = instance(Source::from_file(wasm).unwrap());
    assert_eq!(inst.patch().layout().shape, DspShape::StereoFrame);
    assert_eq!(inst.patch().metadata().name, "Tremolo (Rust)");
    let ones = vec![1.0f32; 9600];
    let minus = vec![-0.5f32; 9600];
    let (l, r) = run(&mut inst, &ones, &minus);
    let step = 5.0f32 / SR;
    let mut phase = 0.0f32;
    for n in 0..9600 {
        let gain = 1.0 - 0.5 * 0.5 * (1.0 + (std::f32::consts::TAU * phase).sin());
        phase += step;
        if phase >= 1.0 {
            phase -= 1.0;
        }
        assert!(
            (l[n] - gain).abs() < 1e-5,
            "left frame {n}: {} vs {gain}",
            l[n]
        );
        assert!((r[n] + 0.5 * gain).abs() < 1e-5, "right frame {n}");
    }
    // Over 0.2 s at 5 Hz the gain sweeps its whole range, 0.5 to 1.0.
    let min = l.iter().cloned().fold(f32::MAX, f32::min);
    let max = l.iter().cloned().fold(f32::MIN, f32::max);
    assert!(min < 0.51 && max > 0.99, "gain range {min}..{max}");
}

#[test]
fn default_module_is_transparent() {
    let mut inst = instance(Source::from_bytes(wasp::DEFAULT_MODULE.as_bytes()));
    let left = sine(1000.0, SR, 0.8, 0, 512);
    let right = sine(50.0, SR, 0.3, 0, 512);
    let (l, r) = run(&mut inst, &left, &right);
    assert_eq!((l, r), (left, right));
}

#[test]
fn mono_host_buffers_work_for_every_shape() {
    // Stereo gain on one channel: the channel is fed to both inputs and the outputs averaged.
    let mut inst = example_instance("gain.wat");
    let mut mono = vec![0.8f32, -0.4, 0.2];
    inst.process(&mut [&mut mono]).unwrap();
    assert_eq!(mono, vec![0.4, -0.2, 0.1]);
    // Mono sine on one channel.
    let mut inst = example_instance("sine.wat");
    let mut mono = vec![0.0f32; 64];
    inst.process(&mut [&mut mono]).unwrap();
    assert!(max_diff(&mono, &sine(440.0, SR, 0.25, 0, 64)) < 1e-5);
}

#[test]
fn blocks_longer_than_the_prepared_size_are_processed_in_pieces() {
    let runtime = runtime();
    let patch = runtime
        .compile(Source::from_file(example("onepole.wat")).unwrap())
        .unwrap();
    let small = ProcessConfig {
        sample_rate: SR,
        max_frames: 100,
    };
    let mut pieces = DspInstance::new(&runtime, &patch, small).unwrap();
    let mut whole = instance(Source::from_file(example("onepole.wat")).unwrap());
    let input = sine(3000.0, SR, 0.7, 0, 512);
    let (mut a, mut b) = (input.clone(), input.clone());
    pieces.process(&mut [&mut a[..]]).unwrap();
    whole.process(&mut [&mut b[..]]).unwrap();
    assert_eq!(a, b);
}
