//! The built plugin library, loaded in-process by a real CLAP host (clack-host), processes
//! audio, restores modules from state, and round-trips its state.

use crate::clap_host::{cdylib_path, TestHost};
use crate::common::*;
use crate::state::*;
use wasp::{SavedModule, Source};

const ID: &str = "dev.wasp-audio.wasp";
const SR: f64 = 48_000.0;
const BLOCK: usize = 512;

fn host() -> TestHost {
    TestHost::new(cdylib_path("wasp"), ID).expect("loading the built plugin")
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
        assert!(
            l.iter().chain(&r).all(|x| *x == 0.0),
            "silence, not the gain module"
        );
        let saved = saved_module(&host.save_state()).expect("a module is saved");
        assert_eq!(
            &*saved.to_source().unwrap().bytes,
            module,
            "the project keeps its module"
        );
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
        clap_state: None,
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
    // The harness names a test by its path inside the test crate.
    let name = match module_path!().split_once("::") {
        Some((_, module)) => format!("{module}::allocating_process_call"),
        None => "allocating_process_call".to_owned(),
    };
    let output = std::process::Command::new(exe)
        .args(["--exact", "--ignored", "--nocapture", &name])
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

/// Multiplies by its `gain` parameter; `wasp_init` traps at 48 kHz.
const PICKY: &[u8] = br#"(module
  (@custom "wasp" "{\"name\":\"picky\",\"params\":[{\"id\":\"gain\",\"name\":\"Gain\",\"min\":0,\"max\":1,\"default\":0.5}]}")
  (global $gain (mut f32) (f32.const 0))
  (func (export "wasp_init") (param $sr f32) (param i32)
    (if (f32.eq (local.get $sr) (f32.const 48000)) (then unreachable)))
  (func (export "wasp_set_param") (param i32) (param $v f32) (global.set $gain (local.get $v)))
  (func (export "dsp") (param $x f32) (param $y f32) (result f32 f32)
    (f32.mul (local.get $x) (global.get $gain)) (f32.mul (local.get $y) (global.get $gain))))"#;

fn scaled(input: &[f32], gain: f32) -> Vec<f32> {
    input.iter().map(|x| x * gain).collect()
}

/// Issue 8, items 6, 9 and 10: a project restored before activation plays its module at the
/// host's real configuration (this one refuses the 48 kHz Wasp used to invent), with exactly
/// its saved parameter values, and saves them again unchanged.
#[test]
fn a_project_reopens_with_its_parameter_values_at_the_real_configuration() {
    let mut host = host();
    let state = state_with(PICKY, &[("gain", 0.3)], serde_json::json!({}));
    host.load_state(&state).unwrap();
    host.activate(44_100.0, BLOCK as u32);
    let (input, l, r) = run(&mut host, 0, 2);
    assert_eq!(l, scaled(&input, 0.3));
    assert_eq!(r, scaled(&input, 0.3));
    let saved = saved_module(&host.save_state()).unwrap();
    assert_eq!(saved.params.get("gain"), Some(&0.3));
    assert!(!saved.watch);

    // Reopened elsewhere, after another module with a "gain" of its own played.
    let mut other = host_at(44_100.0);
    other
        .load_state(&state_with(PICKY, &[("gain", 0.9)], serde_json::json!({})))
        .unwrap();
    other.load_state(&state).unwrap();
    let (input, l, _) = run(&mut other, 0, 1);
    assert_eq!(l, scaled(&input, 0.3), "exactly the saved value");
}

fn host_at(sample_rate: f64) -> TestHost {
    let mut host = host();
    host.activate(sample_rate, BLOCK as u32);
    host
}

/// Issue 8, item 6: the watch toggle is saved and restored with the module.
#[test]
fn the_watch_toggle_is_saved_with_the_project() {
    let mut host = host_at(SR);
    let mut saved = SavedModule::from_source(&Source::from_bytes(&example_bytes("gain.wat")[..]));
    saved.watch = true;
    saved.path = Some("/nowhere/gain.wat".into());
    let field = serde_json::to_string(&Some(saved.clone())).unwrap();
    let state = encode_state(&serde_json::json!({ "params": {}, "fields": { "module": field } }));
    host.load_state(&state).unwrap();
    assert_eq!(saved_module(&host.save_state()), Some(saved));
}

/// Issue 8, item 11: with "On crash: Pass dry signal", a module restored before activation
/// and crashing in blocks far longer than any buffer prepared before activation plays the dry
/// input. This used to index a buffer out of range and abort the host.
#[test]
fn a_crash_in_long_blocks_passes_dry_without_taking_the_host_down() {
    let crashing = br#"(module (func (export "dsp") (param f32) (result f32) unreachable))"#;
    let mut host = host();
    host.load_state(&state_with(
        crashing,
        &[],
        serde_json::json!({ "on_crash": { "string": "dry" } }),
    ))
    .unwrap();
    host.activate(SR, 4096);
    for start in [0, 4096] {
        let input = sine(440.0, SR as f32, 0.5, start, 4096);
        let (l, r) = host.process_stereo(&input, &input);
        assert_eq!(l, input);
        assert_eq!(r, input);
    }
}

/// Issue 8, item 22: an offline render gives a module slower than real time the time it
/// needs; in real time the same module is stopped.
#[test]
fn offline_rendering_gives_slow_modules_time() {
    // A module that spins a loop per sample, as many iterations as its parameter says.
    let slow = br#"(module
  (@custom "wasp" "{\"name\":\"slow\",\"params\":[{\"id\":\"spin\",\"name\":\"Spin\",\"min\":0,\"max\":1e9,\"default\":0}]}")
  (global $spin (mut i32) (i32.const 0))
  (func (export "wasp_set_param") (param i32) (param $v f32)
    (global.set $spin (i32.trunc_f32_u (local.get $v))))
  (func (export "dsp") (param $x f32) (result f32) (local $i i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (global.get $spin)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (local.get $x)))"#;
    // Calibrate: time a block at a known spin with the plugin offline.
    let mut host = host();
    assert!(
        host.set_offline(true),
        "the plugin accepts offline rendering"
    );
    host.load_state(&state_with(
        slow,
        &[("spin", 10_000.0)],
        serde_json::json!({}),
    ))
    .unwrap();
    host.activate(SR, BLOCK as u32);
    let started = std::time::Instant::now();
    let (input, l, _) = run(&mut host, 0, 1);
    let per_iteration = started.elapsed().as_secs_f64() / (10_000.0 * BLOCK as f64);
    assert_eq!(l, input);
    // About 300 ms per 512-frame block: 28x real time, 14x the real-time budget.
    let spin = (0.300 / (per_iteration * BLOCK as f64)) as f32;
    host.load_state(&state_with(slow, &[("spin", spin)], serde_json::json!({})))
        .unwrap();
    let (input, l, _) = run(&mut host, BLOCK, 2);
    assert_eq!(l, input, "offline, the slow module finishes every block");

    host.deactivate();
    assert!(host.set_offline(false));
    host.activate(SR, BLOCK as u32);
    let (_, l, _) = run(&mut host, 0, 2);
    assert!(l.iter().all(|x| *x == 0.0), "in real time it is stopped");
}

/// Issue 8, item 23: "On crash" changes through `clap_plugin_params.flush` as through process
/// events (clap-validator's `param-set-events` and `param-set-no-cookies`).
#[test]
fn on_crash_follows_flush() {
    let mut host = host();
    let id = host
        .param_id("On crash")
        .expect("an \"On crash\" parameter");
    let silence = host.param_value(id).unwrap();
    for value in [0.0, 1.0, 0.0] {
        host.flush_param(id, value);
        assert_eq!(host.param_value(id), Some(value));
    }
    assert_ne!(silence, 0.0, "the default is not the first choice");
    // Dry, set by flush, is what a crash now plays.
    let crashing = br#"(module (func (export "dsp") (param f32) (result f32) unreachable))"#;
    host.load_state(&state_with(
        crashing,
        &[],
        serde_json::json!({ "on_crash": { "string": "dry" } }),
    ))
    .unwrap();
    host.flush_param(id, 0.0);
    host.activate(SR, BLOCK as u32);
    let (input, l, _) = run(&mut host, 0, 1);
    assert_eq!(l, input);
}
