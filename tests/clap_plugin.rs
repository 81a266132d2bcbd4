//! The built plugin library, loaded in-process by a real CLAP host (clack-host), processes
//! audio, restores modules from state, and round-trips its state.

#[path = "common/clap_host.rs"]
mod clap_host;
mod common;

use clap_host::{cdylib_path, TestHost};
use common::*;
use wasp::{SavedModule, Source};

const ID: &str = "dev.wasp-audio.wasp";
const SR: f64 = 48_000.0;
const BLOCK: usize = 512;

fn host() -> TestHost {
    TestHost::new(cdylib_path("wasp"), ID).expect("loading the built plugin")
}

/// Frames a JSON plugin state the way nice-plug's CLAP wrapper stores it: the JSON's length as
/// a little-endian u64, then the JSON.
fn encode_state(json: &serde_json::Value) -> Vec<u8> {
    let body = serde_json::to_vec(json).unwrap();
    let mut bytes = (body.len() as u64).to_le_bytes().to_vec();
    bytes.extend(body);
    bytes
}

/// The JSON inside a saved CLAP state.
fn decode_state(bytes: &[u8]) -> serde_json::Value {
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    serde_json::from_slice(&bytes[8..8 + len]).unwrap()
}

/// The module a saved state carries.
fn saved_module(bytes: &[u8]) -> Option<SavedModule> {
    let json = decode_state(bytes);
    serde_json::from_str(json["fields"]["module"].as_str().unwrap()).unwrap()
}

/// A plugin state (nice-plug's JSON format) carrying `module` in Wasp's `module` field.
fn state_with_module(module: Option<&[u8]>) -> Vec<u8> {
    let saved = module.map(|bytes| SavedModule::from_source(&Source::from_bytes(bytes)));
    let field = serde_json::to_string(&saved).unwrap();
    encode_state(&serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "params": {},
        "fields": { "module": field },
    }))
}

/// Processes `blocks` blocks of a stereo test signal starting at frame `start`; returns the
/// input and the output, concatenated.
fn run(host: &mut TestHost, start: usize, blocks: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut input = Vec::new();
    let (mut out_l, mut out_r) = (Vec::new(), Vec::new());
    for b in 0..blocks {
        let at = start + b * BLOCK;
        let left = sine(440.0, SR as f32, 0.5, at, BLOCK);
        let right = sine(440.0, SR as f32, 0.5, at, BLOCK);
        let (l, r) = host.process_stereo(&left, &right);
        input.extend(left);
        out_l.extend(l);
        out_r.extend(r);
    }
    (input, out_l, out_r)
}

#[test]
fn default_module_passes_a_sine_through() {
    let mut host = host();
    host.activate(SR, BLOCK as u32);
    let (input, l, r) = run(&mut host, 0, 4);
    assert_eq!(l, input);
    assert_eq!(r, input);
}

#[test]
fn restoring_a_state_with_a_module_runs_that_module() {
    let mut host = host();
    host.activate(SR, BLOCK as u32);
    run(&mut host, 0, 2);
    host.load_state(&state_with_module(Some(&example_bytes("gain.wat"))))
        .unwrap();
    // The restored module is prepared before load returns: the very next block uses it.
    let (input, l, r) = run(&mut host, 2 * BLOCK, 2);
    let half: Vec<f32> = input.iter().map(|x| x * 0.5).collect();
    assert_eq!(l, half);
    assert_eq!(r, half);

    // Restoring a state without a module goes back to the default module.
    host.load_state(&state_with_module(None)).unwrap();
    let (input, l, _) = run(&mut host, 4 * BLOCK, 1);
    assert_eq!(l, input);
}

#[test]
fn restoring_before_activation_uses_the_module_at_the_real_sample_rate() {
    let mut host = host();
    host.load_state(&state_with_module(Some(&example_bytes("sine.wat"))))
        .unwrap();
    host.activate(44_100.0, BLOCK as u32);
    let silence = vec![0.0; BLOCK];
    let (l, _) = host.process_stereo(&silence, &silence);
    let want = sine(440.0, 44_100.0, 0.25, 0, BLOCK);
    assert!(max_diff(&l, &want) < 1e-4, "diff {}", max_diff(&l, &want));
}

#[test]
fn swapping_modules_during_playback_keeps_the_oscillator_phase() {
    let osc = |name: &str| std::fs::read(root().join("tests/fixtures/swap").join(name)).unwrap();
    let mut host = host();
    host.activate(SR, BLOCK as u32);
    host.load_state(&state_with_module(Some(&osc("osc_a.wat"))))
        .unwrap();
    let silence = vec![0.0; BLOCK];
    let mut out = Vec::new();
    for block in 0..8 {
        if block == 4 {
            // Mid-stream, between two process calls, as a host recalling a preset does.
            host.load_state(&state_with_module(Some(&osc("osc_b.wat"))))
                .unwrap();
        }
        out.extend(host.process_stereo(&silence, &silence).0);
    }
    let want_a = sine(1000.0, SR as f32, 0.25, 0, 4 * BLOCK);
    let want_b = sine(1000.0, SR as f32, 0.5, 4 * BLOCK, 4 * BLOCK);
    assert!(max_diff(&out[..4 * BLOCK], &want_a) < 1e-3);
    assert!(
        max_diff(&out[4 * BLOCK..], &want_b) < 1e-3,
        "the new module continues the old one's phase"
    );
}

#[test]
fn saved_state_reproduces_the_sound_in_a_fresh_instance() {
    let mut first = host();
    first.activate(SR, BLOCK as u32);
    first
        .load_state(&state_with_module(Some(&example_bytes("onepole.wat"))))
        .unwrap();
    let saved = first.save_state();
    let (input, a_l, a_r) = run(&mut first, 0, 4);
    assert!(
        max_diff(&a_l, &input) > 0.01,
        "the filter changes the sound"
    );

    let mut second = host();
    second.load_state(&saved).unwrap();
    second.activate(SR, BLOCK as u32);
    let (_, b_l, b_r) = run(&mut second, 0, 4);
    assert_eq!(a_l, b_l);
    assert_eq!(a_r, b_r);

    // The state carries the module's exact bytes.
    let source = saved_module(&saved).unwrap().to_source().unwrap();
    assert_eq!(&*source.bytes, &example_bytes("onepole.wat")[..]);
}

#[test]
fn broken_module_in_state_keeps_the_default_and_is_not_lost() {
    let mut host = host();
    host.activate(SR, BLOCK as u32);
    host.load_state(&state_with_module(Some(&example_bytes("gain.wat"))))
        .unwrap();
    let broken = b"(module (func (export \"dsp\") (param f32) (result f32) local.get 7))";
    host.load_state(&state_with_module(Some(broken))).unwrap();
    // Never silence, never a crash: the default module runs.
    let (input, l, r) = run(&mut host, 0, 2);
    assert_eq!(l, input);
    assert_eq!(r, input);
    // Re-saving the project keeps the module the project carried.
    let field = saved_module(&host.save_state());
    assert_eq!(&*field.unwrap().to_source().unwrap().bytes, &broken[..]);
}

/// Also issue 8, item 7: a restored module that crashes is not a live swap. Playback falls to
/// silence (the "On crash" default) with the error counted, never back to the module that
/// played before the restore, and the project keeps the module it carries.
#[test]
fn crashing_and_runaway_modules_never_take_the_host_down() {
    let mut host = host();
    host.activate(SR, BLOCK as u32);
    let crashing = br#"(module (func (export "dsp") (param f32) (result f32) unreachable))"#;
    let looping = br#"(module (func (export "dsp") (param f32) (result f32)
                        (loop $l (br $l)) (local.get 0)))"#;
    for module in [&crashing[..], &looping[..]] {
        host.load_state(&state_with_module(Some(&example_bytes("gain.wat"))))
            .unwrap();
        let (input, l, _) = run(&mut host, 0, 2);
        assert!(max_diff(&l, &input) > 0.01, "the gain module plays");
        host.load_state(&state_with_module(Some(module))).unwrap();
        // The crash is caught inside `process`, under the allocation checker.
        let (_, l, r) = run(&mut host, 0, 4);
        assert!(l.iter().chain(&r).all(|x| *x == 0.0), "silence, not the gain module");
        let saved = saved_module(&host.save_state()).expect("a module is saved");
        assert_eq!(&*saved.to_source().unwrap().bytes, module, "the project keeps its module");
    }
}

/// Also issue 8, item 8: the damaged bytes are saved again untouched, so opening the project
/// on a broken install and saving it loses nothing.
#[test]
fn damaged_module_data_in_state_keeps_the_default_and_is_saved_untouched() {
    let mut host = host();
    host.activate(SR, BLOCK as u32);
    let damaged = SavedModule {
        bytes: "!!! not base64 !!!".into(),
        path: Some("/somewhere/else/filter.wasm".into()),
        params: [("cutoff".to_owned(), 1200.0)].into_iter().collect(),
        watch: false,
    };
    let field = serde_json::to_string(&Some(damaged.clone())).unwrap();
    let state = encode_state(&serde_json::json!({
        "params": {}, "fields": { "module": field },
    }));
    host.load_state(&state).unwrap();
    let (input, l, _) = run(&mut host, 0, 1);
    assert_eq!(l, input);
    assert_eq!(saved_module(&host.save_state()), Some(damaged));
}

/// Proves the allocation checker is armed in this build: in a child process, the plugin's
/// test-only probe (switched on by `WASP_ALLOC_PROBE`) allocates inside `process`, which must
/// abort the child. Without the checker the child would finish normally. Only meaningful with
/// the `assert_process_allocs` feature, which the README's test command enables.
#[cfg(feature = "assert_process_allocs")]
#[test]
fn allocation_on_the_audio_thread_aborts() {
    let exe = std::env::current_exe().unwrap();
    let output = std::process::Command::new(exe)
        .args([
            "--exact",
            "--ignored",
            "--nocapture",
            "allocating_process_call",
        ])
        .env("WASP_ALLOC_PROBE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !stdout.contains("reached the end"),
        "the child processed an allocating block without being stopped:\n{stdout}"
    );
    assert!(!output.status.success(), "the child should have aborted");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            output.status.signal(),
            Some(6),
            "expected SIGABRT, got {:?}",
            output.status
        );
    }
}

/// The child half of `allocation_on_the_audio_thread_aborts`; does nothing when run directly.
#[test]
#[ignore = "run by allocation_on_the_audio_thread_aborts in a child process"]
fn allocating_process_call() {
    if std::env::var_os("WASP_ALLOC_PROBE").is_none() {
        return;
    }
    let mut host = host();
    host.activate(SR, BLOCK as u32);
    run(&mut host, 0, 1);
    println!("reached the end");
}
