//! Module parameters: declared in metadata, set from a non-audio thread, delivered through
//! `wasp_set_param` at block boundaries, and carried by id across a live swap.

use crate::common::rig::{Rig, BLOCK};
use wasp::{Crossfade, LoadOutcome, Source};

/// A mono module whose `dsp` returns `input * gain + bias`, with both as parameters. `$order`
/// picks which index each id has, so a swap can move them around.
fn module(params_json: &str, gain_index: i32, bias_index: i32) -> Source {
    let wat = format!(
        r#"(module
  (@custom "wasp" "{{\"abi\":1,\"name\":\"params\",\"params\":{params}}}")
  (global $gain (mut f32) (f32.const 0))
  (global $bias (mut f32) (f32.const 0))
  (global $calls (export "calls") (mut i32) (i32.const 0))
  (func (export "wasp_set_param") (param $i i32) (param $v f32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (if (i32.eq (local.get $i) (i32.const {gain_index})) (then (global.set $gain (local.get $v))))
    (if (i32.eq (local.get $i) (i32.const {bias_index})) (then (global.set $bias (local.get $v)))))
  (func (export "dsp") (param $x f32) (result f32)
    (f32.add (f32.mul (local.get $x) (global.get $gain)) (global.get $bias))))"#,
        params = params_json.replace('"', "\\\""),
    );
    Source::from_bytes(wat.into_bytes())
}

const GAIN: &str = r#"{"id":"gain","name":"Gain","min":0,"max":2,"default":1}"#;
const BIAS: &str = r#"{"id":"bias","name":"Bias","min":-1,"max":1,"default":0.25}"#;

fn ones() -> Vec<f32> {
    vec![1.0; BLOCK]
}

#[test]
fn defaults_arrive_after_init_and_changes_at_the_next_block() {
    let mut rig = Rig::new();
    rig.load_source(module(&format!("[{GAIN}]"), 0, 9), Crossfade::Never);
    let out = rig.run(&ones());
    assert!(
        out.iter().all(|&y| y == 1.0),
        "default gain 1: {:?}",
        &out[..4]
    );
    assert_eq!(rig.controller().param_values(), vec![1.0]);

    assert!(rig.controller().set_param(0, 0.5));
    let out = rig.run(&ones());
    assert!(
        out.iter().all(|&y| y == 0.5),
        "gain 0.5 from the block boundary on"
    );

    // Out of range is clamped; unknown indices and NaN are refused.
    assert!(rig.controller().set_param(0, 7.0));
    assert_eq!(rig.controller().param_values(), vec![2.0]);
    assert!(!rig.controller().set_param(1, 0.0));
    assert!(!rig.controller().set_param(0, f32::NAN));
    let out = rig.run(&ones());
    assert!(out.iter().all(|&y| y == 2.0));
}

#[test]
fn values_follow_their_id_across_a_swap() {
    let mut rig = Rig::new();
    rig.load_source(module(&format!("[{GAIN}]"), 0, 9), Crossfade::Never);
    rig.run(&ones());
    assert!(rig.controller().set_param(0, 0.5));
    rig.run(&ones());

    // The new version declares `bias` first and `gain` second.
    rig.load_source(module(&format!("[{BIAS},{GAIN}]"), 1, 0), Crossfade::Never);
    let out = rig.run(&ones());
    // gain 0.5 carried by id (now index 1), bias starts at its default 0.25.
    assert!(
        out.iter().all(|&y| y == 0.75),
        "expected 1 * 0.5 + 0.25, got {:?}",
        &out[..4]
    );
    assert_eq!(rig.controller().param_values(), vec![0.25, 0.5]);
    assert!(rig.controller().set_param(0, -0.25));
    let out = rig.run(&ones());
    assert!(out.iter().all(|&y| y == 0.25));
}

#[test]
fn the_latest_of_several_changes_between_blocks_wins() {
    let mut rig = Rig::new();
    rig.load_source(module(&format!("[{GAIN},{BIAS}]"), 0, 1), Crossfade::Never);
    rig.run(&ones());
    assert!(rig.controller().set_param(1, 0.1));
    assert!(rig.controller().set_param(1, -0.5));
    let out = rig.run(&ones());
    assert!(out.iter().all(|&y| y == 0.5), "{:?}", &out[..4]);
    let out = rig.run(&ones());
    assert!(out.iter().all(|&y| y == 0.5));
}

#[test]
fn a_wrong_set_param_signature_is_refused_with_the_expected_type() {
    let rig = Rig::new();
    let source = Source::from_bytes(
        br#"(module
  (func (export "wasp_set_param") (param f32))
  (func (export "dsp") (param f32) (result f32) (local.get 0)))"#
            .to_vec(),
    );
    match rig.controller().load_blocking(source) {
        LoadOutcome::Failed(e) => {
            let text = e.to_string();
            assert!(
                text.contains("wasp_set_param") && text.contains("(i32, f32) -> ()"),
                "{text}"
            );
        }
        other => panic!("a wrong signature loaded: {other:?}"),
    }
}

#[test]
fn a_trap_in_set_param_on_the_audio_thread_is_a_reported_fault() {
    let mut rig = Rig::new();
    let source = Source::from_bytes(
        format!(
            r#"(module
  (@custom "wasp" "{{\"abi\":1,\"params\":[{}]}}")
  (global $armed (mut i32) (i32.const 0))
  (func (export "wasp_set_param") (param i32 f32)
    ;; The first call (the starting value) is fine; later ones crash.
    (if (global.get $armed) (then unreachable))
    (global.set $armed (i32.const 1)))
  (func (export "dsp") (param f32) (result f32) (local.get 0)))"#,
            GAIN.replace('"', "\\\"")
        )
        .into_bytes(),
    );
    rig.load_source(source, Crossfade::Never);
    rig.run(&ones());
    assert!(rig.controller().set_param(0, 0.5));
    let (out, _) = rig.run_raw(&ones());
    let faults = rig.controller().shared().fault_counters();
    let (_, fault) = faults.last.expect("the trap is reported");
    assert_eq!(fault.export, "wasp_set_param");
    // It crashed within a second of being swapped in, so the previous module (the built-in
    // pass-through) took over again, from the same block.
    assert_eq!(faults.rollbacks, 1);
    assert!(out.iter().all(|&y| y == 1.0), "{:?}", &out[..4]);
}

#[test]
fn the_volume_example_follows_its_level_parameter() {
    let mut rig = Rig::new();
    let source = Source::from_bytes(crate::common::example_bytes("volume.wat"));
    rig.load_source(source, Crossfade::Never);
    assert!(rig.controller().set_param(0, -20.0));
    let mut last = 0.0;
    for _ in 0..20 {
        last = *rig.run(&ones()).last().unwrap();
    }
    assert!((last - 0.1).abs() < 1e-3, "-20 dB is 0.1, got {last}");
}
