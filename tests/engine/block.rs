//! Block processing (`wasp_process`, docs/ABI.md §5): the block examples sound exactly like
//! their per-sample twins at every host block size, including blocks longer than the module's
//! buffers; traps and runaways in `wasp_process` are contained like any other; a swap between
//! a per-sample and a block module carries the state; bad block exports get clear errors.

use std::time::Duration;

use crate::common::rig::Rig;
use crate::common::*;
use wasp::{
    Crossfade, DspInstance, Entry, LoadError, ProcessConfig, Runtime, RuntimeOptions, Source,
    TrapKind,
};

const SR: f32 = 48_000.0;

fn runtime(block_processing: bool) -> Runtime {
    Runtime::with_options(RuntimeOptions {
        min_block_budget: Duration::from_millis(500),
        block_processing,
        ..RuntimeOptions::default()
    })
    .unwrap()
}

fn instance(runtime: &Runtime, source: Source, max_frames: u32) -> Result<DspInstance, LoadError> {
    let patch = runtime.compile(source)?;
    DspInstance::new(
        runtime,
        &patch,
        ProcessConfig {
            sample_rate: SR,
            max_frames,
        },
    )
}

fn wat(text: &str) -> Source {
    Source::from_bytes(text.as_bytes().to_vec())
}

/// A test signal with some of everything: two sines and a step.
fn input(len: usize) -> (Vec<f32>, Vec<f32>) {
    let l = sine(440.0, SR, 0.7, 0, len);
    let r: Vec<f32> = sine(3000.0, SR, 0.5, 0, len)
        .iter()
        .enumerate()
        .map(|(n, x)| x + if n > len / 2 { 0.25 } else { 0.0 })
        .collect();
    (l, r)
}

/// Runs the input through `inst` in host blocks of `block` frames.
fn render(inst: &mut DspInstance, block: usize, (l, r): &(Vec<f32>, Vec<f32>)) -> [Vec<f32>; 2] {
    let (mut l, mut r) = (l.clone(), r.clone());
    for (lc, rc) in l.chunks_mut(block).zip(r.chunks_mut(block)) {
        inst.process(&mut [lc, rc]).unwrap();
    }
    [l, r]
}

#[test]
fn block_one_poles_sound_like_the_per_sample_one_at_every_block_size() {
    let signal = input(9000);
    let per_sample = runtime(true);
    let blocks = runtime(true);
    let off = runtime(false);
    let rust = rust_example_wasm("rust-onepole");
    for host_block in [1, 37, 512, 1024, 3000, 4096] {
        let max = 4096;
        let mut reference = instance(
            &per_sample,
            Source::from_file(example("onepole.wat")).unwrap(),
            max,
        )
        .unwrap();
        assert_eq!(reference.entry(), Entry::PerSample);
        let want = render(&mut reference, host_block, &signal);

        let mut wat_block = instance(
            &blocks,
            Source::from_file(example("onepole-block.wat")).unwrap(),
            max,
        )
        .unwrap();
        assert_eq!(wat_block.entry(), Entry::Block);
        assert_eq!(
            render(&mut wat_block, host_block, &signal),
            want,
            "onepole-block.wat in host blocks of {host_block}"
        );

        // The same module with block processing off runs its `dsp`.
        let mut fallback = instance(
            &off,
            Source::from_file(example("onepole-block.wat")).unwrap(),
            max,
        )
        .unwrap();
        assert_eq!(fallback.entry(), Entry::PerSample);
        assert_eq!(render(&mut fallback, host_block, &signal), want);

        // Built with the Rust SDK, whose `math::exp` is Wasp's `expf`, as the WAT's is: the
        // same samples to the last bit.
        let mut rust_block = instance(&blocks, Source::from_file(rust).unwrap(), max).unwrap();
        assert_eq!(rust_block.entry(), Entry::Block);
        let got = render(&mut rust_block, host_block, &signal);
        assert_eq!(
            got, want,
            "Rust SDK one-pole in host blocks of {host_block}"
        );
        // Its own `dsp` agrees with its `wasp_process` exactly.
        let mut rust_fallback = instance(&off, Source::from_file(rust).unwrap(), max).unwrap();
        assert_eq!(render(&mut rust_fallback, host_block, &signal), got);
    }
}

#[test]
fn simd_gain_is_exact_and_glides_to_a_new_setting() {
    let path = rust_example_wasm("rust-gain");
    let signal = input(4800);
    let mut block = instance(&runtime(true), Source::from_file(path).unwrap(), 512).unwrap();
    let mut per_sample = instance(&runtime(false), Source::from_file(path).unwrap(), 512).unwrap();
    assert_eq!(block.entry(), Entry::Block);
    assert_eq!(per_sample.entry(), Entry::PerSample);

    // At its default, -6 dB, every sample is multiplied by the same factor.
    let g = 10f32.powf(-6.0 / 20.0);
    let out = render(&mut block, 512, &signal);
    for (c, want) in [&signal.0, &signal.1].into_iter().enumerate() {
        let diff = max_diff(&out[c], &want.iter().map(|x| x * g).collect::<Vec<_>>());
        assert!(diff < 1e-6, "channel {c}: {diff}");
    }
    assert_eq!(render(&mut per_sample, 512, &signal), out);

    // To 0 dB: a glide, not a step, and then unity gain, the same in both entry points.
    block.set_param(0, 0.0).unwrap();
    per_sample.set_param(0, 0.0).unwrap();
    let ones = (vec![1.0; 9600], vec![1.0; 9600]);
    let glide = render(&mut block, 256, &ones);
    assert_eq!(render(&mut per_sample, 256, &ones), glide);
    let left = &glide[0];
    assert!(
        left[0] > g && left[0] < g + 0.01,
        "first sample {}",
        left[0]
    );
    assert!(
        left.windows(2).all(|w| w[1] >= w[0] && w[1] - w[0] < 0.01),
        "the gain rises smoothly"
    );
    let settled = left.iter().position(|&x| x == 1.0).expect("reaches unity");
    assert!(
        settled < 4800,
        "settles within 100 ms, took {settled} samples"
    );
    assert!(left[settled..].iter().all(|&x| x == 1.0));
}

#[test]
fn traps_and_runaways_in_wasp_process_are_contained() {
    let module = |body: &str| {
        format!(
            r#"(module
                 (memory (export "memory") 1)
                 (global (export "wasp_block") i32 (i32.const 256))
                 (global (export "wasp_in") i32 (i32.const 0))
                 (func (export "wasp_process") (param i32) {body})
                 (func (export "dsp") (param f32) (result f32) local.get 0))"#
        )
    };
    let runtime = Runtime::with_options(RuntimeOptions {
        min_block_budget: Duration::from_millis(50),
        ..RuntimeOptions::default()
    })
    .unwrap();
    for (body, kind) in [
        ("unreachable", TrapKind::Unreachable),
        ("(loop (br 0))", TrapKind::Timeout),
        ("(drop (i32.load (i32.const 70000)))", TrapKind::OutOfBounds),
    ] {
        let mut inst = instance(&runtime, wat(&module(body)), 512).unwrap();
        assert_eq!(inst.entry(), Entry::Block);
        let mut block = vec![0.5f32; 512];
        let fault = inst.process(&mut [&mut block]).unwrap_err();
        assert_eq!(fault.export, "wasp_process", "{body}");
        assert_eq!(fault.kind, kind, "{body}");
        assert!(block.iter().all(|&x| x == 0.0), "silence after {body}");
        // Every later block is silence too, without entering the module again.
        let mut next = vec![0.5f32; 512];
        assert!(inst.process(&mut [&mut next]).is_err());
        assert!(next.iter().all(|&x| x == 0.0));
    }
}

#[test]
fn unusable_block_exports_fall_back_to_dsp_and_say_why() {
    // A module whose `wasp_process` cannot be used loaded while block processing was reserved:
    // it keeps loading, runs its `dsp`, and the editor says what to fix.
    let runtime = runtime(true);
    let cases = [
        (
            // No `wasp_in`.
            r#"(module (memory (export "memory") 1)
                 (global (export "wasp_block") i32 (i32.const 64))
                 (func (export "wasp_process") (param i32))
                 (func (export "dsp") (param f32) (result f32) local.get 0))"#,
            "`wasp_in`",
        ),
        (
            // No `wasp_block`.
            r#"(module (memory (export "memory") 1)
                 (global (export "wasp_in") i32 (i32.const 0))
                 (func (export "wasp_process") (param i32))
                 (func (export "dsp") (param f32) (result f32) local.get 0))"#,
            "`wasp_block`",
        ),
        (
            // No exported memory.
            r#"(module (memory 1)
                 (global (export "wasp_block") i32 (i32.const 64))
                 (global (export "wasp_in") i32 (i32.const 0))
                 (func (export "wasp_process") (param i32))
                 (func (export "dsp") (param f32) (result f32) local.get 0))"#,
            "`memory`",
        ),
        (
            // A buffer of zero frames.
            r#"(module (memory (export "memory") 1)
                 (global (export "wasp_block") i32 (i32.const 0))
                 (global (export "wasp_in") i32 (i32.const 0))
                 (func (export "wasp_process") (param i32))
                 (func (export "dsp") (param f32) (result f32) local.get 0))"#,
            "from 1 to 65536",
        ),
        (
            // Stereo buffers of 8192 frames need 64 KiB: they do not fit after byte 1024.
            r#"(module (memory (export "memory") 1)
                 (global (export "wasp_block") i32 (i32.const 8192))
                 (global (export "wasp_in") i32 (i32.const 1024))
                 (func (export "wasp_process") (param i32))
                 (func (export "dsp") (param f32 f32) (result f32 f32) local.get 0 local.get 1))"#,
            "points at byte 1024",
        ),
        (
            // `wasp_out` that is not a global.
            r#"(module (memory (export "memory") 1)
                 (global (export "wasp_block") i32 (i32.const 64))
                 (global (export "wasp_in") i32 (i32.const 0))
                 (func (export "wasp_out"))
                 (func (export "wasp_process") (param i32))
                 (func (export "dsp") (param f32) (result f32) local.get 0))"#,
            "`wasp_out` must be",
        ),
    ];
    for (text, want) in cases {
        let mut inst = instance(&runtime, wat(text), 512)
            .unwrap_or_else(|e| panic!("{text} should load and run its dsp: {e}"));
        assert_eq!(inst.entry(), Entry::PerSample, "{text}");
        let note = inst.entry_note().unwrap_or_default().to_owned();
        assert!(note.contains(want), "{note:?} should mention {want:?}");
        // And it plays: its `dsp` passes the input through.
        let mut block = vec![0.25f32; 64];
        inst.process(&mut [&mut block]).unwrap();
        assert!(block.iter().all(|&x| x == 0.25));
    }

    // What is refused: a `wasp_process` of the wrong type (refused since block processing was
    // reserved), and export names Wasp reserves for its block driver.
    for (text, want) in [
        (
            r#"(module (func (export "wasp_process") (param f32))
                 (func (export "dsp") (param f32) (result f32) local.get 0))"#,
            "must be (i32) -> ()",
        ),
        (
            r#"(module (func (export "__wasp_run"))
                 (func (export "dsp") (param f32) (result f32) local.get 0))"#,
            "reserved",
        ),
    ] {
        let err = instance(&runtime, wat(text), 512)
            .err()
            .unwrap_or_else(|| panic!("{text} loaded"))
            .to_string();
        assert!(err.contains(want), "{err:?} should mention {want:?}");
    }
}

#[test]
fn a_swap_between_per_sample_and_block_carries_the_filter_memory() {
    let mut rig = Rig::new();
    rig.load_source(
        Source::from_file(example("onepole.wat")).unwrap(),
        Crossfade::Auto,
    );
    // DC at 1.0: the filter memory climbs towards 1.
    let before = rig.run(&vec![1.0; 2048]);
    let last = *before.last().unwrap();
    assert!(last > 0.99, "{last}");
    let generation = rig.load_source(
        Source::from_file(example("onepole-block.wat")).unwrap(),
        Crossfade::Auto,
    );
    let after = rig.run(&vec![1.0; 512]);
    assert_eq!(rig.report(generation).carried, vec!["z1".to_string()]);
    assert!(
        after.iter().all(|&x| x >= last && x <= 1.0),
        "the filter goes on from where it was: first {} after {last}",
        after[0]
    );
    assert_eq!(
        rig.controller().status().current.and_then(|m| m.entry),
        Some(Entry::Block)
    );
    // And back.
    rig.load_source(
        Source::from_file(example("onepole.wat")).unwrap(),
        Crossfade::Auto,
    );
    let back = rig.run(&vec![1.0; 512]);
    assert!(back.iter().all(|&x| x >= after[511] && x <= 1.0));
}

// The SDKs: each one's one-pole and gain against the WAT references, sample for sample.

/// A block one-pole built with an SDK against `onepole.wat`, in host blocks shorter and
/// longer than its buffers: the same samples, to the bit. Its metadata declares the cutoff and
/// the state "z1".
fn assert_onepole_matches_wat(rt: &Runtime, bytes: Vec<u8>, sdk: &str) {
    let signal = input(5000);
    let onepole = rt.compile(Source::from_bytes(bytes)).unwrap();
    let meta = onepole.metadata();
    assert_eq!(meta.params.len(), 1, "{sdk}");
    assert_eq!(
        (meta.params[0].id.as_str(), meta.params[0].unit.as_str()),
        ("cutoff", "Hz"),
        "{sdk}"
    );
    assert_eq!(meta.state[0].name, "z1", "{sdk}");
    for host_block in [64, 1024, 3000] {
        let config = ProcessConfig {
            sample_rate: SR,
            max_frames: 4096,
        };
        let mut module = DspInstance::new(rt, &onepole, config).unwrap();
        assert_eq!(module.entry(), Entry::Block, "{sdk}");
        let mut wat =
            instance(rt, Source::from_file(example("onepole.wat")).unwrap(), 4096).unwrap();
        assert_eq!(
            render(&mut module, host_block, &signal),
            render(&mut wat, host_block, &signal),
            "{sdk} one-pole in host blocks of {host_block}"
        );
    }
}

/// A gain in dB built with an SDK against `gain.wat`, which halves the signal. The module is
/// set to 20 log10(0.5) dB, which it turns back into a factor through `powf`, so the two agree
/// to the rounding of that factor; it glides to a new setting over a few milliseconds, so the
/// comparison starts once it has arrived.
fn assert_gain_matches_wat(rt: &Runtime, source: Source, sdk: &str) {
    let signal = input(5000);
    let mut module = instance(rt, source, 512).unwrap();
    let mut wat = instance(rt, Source::from_file(example("gain.wat")).unwrap(), 512).unwrap();
    module.set_param(0, 20.0 * 0.5f32.log10()).unwrap();
    render(&mut module, 512, &input(4800));
    for host_block in [512, 100] {
        let got = render(&mut module, host_block, &signal);
        let want = render(&mut wat, host_block, &signal);
        for c in 0..2 {
            let diff = max_diff(&got[c], &want[c]);
            assert!(
                diff <= 1e-7,
                "{sdk} gain, block {host_block}, channel {c}: {diff}"
            );
        }
    }
}

/// The Rust SDK: its gain (the one-pole is compared at every host block size above).
#[test]
fn rust_sdk_gain_sounds_like_the_wat_reference() {
    let rt = runtime(true);
    let gain = Source::from_file(rust_example_wasm("rust-gain")).unwrap();
    assert_gain_matches_wat(&rt, gain, "Rust SDK");
}

/// The AssemblyScript template (a one-pole) and its gain example, built with the real
/// AssemblyScript compiler from npm.
#[test]
fn assemblyscript_modules_sound_like_the_wat_references() {
    let rt = runtime(true);
    let onepole = assemblyscript_wasm("assembly/index.ts", "wasp.config.mjs");
    assert_onepole_matches_wat(&rt, onepole, "AssemblyScript");
    let gain = assemblyscript_wasm("examples/gain.ts", "examples/gain.config.mjs");
    assert_gain_matches_wat(&rt, Source::from_bytes(gain), "AssemblyScript");
}

/// The C SDK (`sdk/c/wasp.h`): its fixed -6 dB gain and its block one-pole.
#[test]
fn c_sdk_modules_sound_like_the_wat_references() {
    let signal = input(5000);
    let rt = runtime(true);
    let gain = rt
        .compile(Source::from_bytes(c_example_wasm("gain")))
        .unwrap();
    assert_eq!(gain.metadata().name, "Gain -6 dB (C)");
    let mut c_gain = DspInstance::new(
        &rt,
        &gain,
        ProcessConfig {
            sample_rate: SR,
            max_frames: 512,
        },
    )
    .unwrap();
    let mut wat_gain = instance(&rt, Source::from_file(example("gain.wat")).unwrap(), 512).unwrap();
    assert_eq!(
        render(&mut c_gain, 512, &signal),
        render(&mut wat_gain, 512, &signal)
    );
    assert_onepole_matches_wat(&rt, c_example_wasm("onepole"), "C SDK");
}
