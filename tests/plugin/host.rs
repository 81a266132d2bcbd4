//! Wasp in the DAW's hands (issue 9), through a real CLAP host (clack-host): module parameters
//! as host parameters, sample-accurate automation, notes, Wasp Instrument, latency and tail.
//! The plugin library is built with the allocation checker armed, so every test here also
//! proves the audio thread does not allocate while handling events, splits and notes.

use crate::clap_host::{cdylib_path, ParamInfoOwned, TestHost};
use crate::common::*;
use crate::state::*;
use clack_host::events::event_types::{MidiEvent, NoteOffEvent, NoteOnEvent, ParamValueEvent};
use clack_host::prelude::*;

const EFFECT: &str = "dev.wasp-audio.wasp";
const INSTRUMENT: &str = "dev.wasp-audio.wasp-instrument";
const SR: f64 = 48_000.0;
const BLOCK: usize = 512;
/// `CLAP_PARAM_IS_HIDDEN` and `CLAP_PARAM_RESCAN_INFO`.
const HIDDEN: u32 = 1 << 2;
const RESCAN_INFO: u32 = 1 << 2;

pub(crate) fn host(id: &str) -> TestHost {
    TestHost::new(cdylib_path("wasp"), id).expect("loading the built plugin")
}

/// Restores `module` (with `values` by parameter id), activates, runs a block and the
/// main-thread callback the plugin asked for (its parameter rescan).
pub(crate) fn playing(module: &[u8], values: &[(&str, f32)]) -> TestHost {
    let mut host = host(EFFECT);
    host.load_state(&state_with(module, values, serde_json::json!({})))
        .unwrap();
    host.activate(SR, BLOCK as u32);
    settle(&mut host);
    host
}

/// Runs a silent block and the main-thread callbacks it asked for.
pub(crate) fn settle(host: &mut TestHost) {
    host.process_stereo(&[0.0; BLOCK], &[0.0; BLOCK]);
    while host.call_on_main_thread_callback() {}
}

fn by_name<'a>(infos: &'a [ParamInfoOwned], name: &str) -> &'a ParamInfoOwned {
    infos
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no host parameter named {name:?} in {infos:?}"))
}

/// Multiplies both channels by "gain" (0..2, linear, no smoothing) and adds "offset" (-1..1).
/// Declares "cutoff" (Hz, log) and "mix" too, for names, units and scales.
const GAINER: &str = r#"(module
  (@custom "wasp" "{\"name\":\"Gainer\",\"params\":[{\"id\":\"cutoff\",\"name\":\"Cutoff\",\"min\":20,\"max\":20000,\"default\":1000,\"unit\":\"Hz\",\"scale\":\"log\"},{\"id\":\"gain\",\"name\":\"Gain\",\"min\":0,\"max\":2,\"default\":1},{\"id\":\"level\",\"name\":\"Level\",\"min\":-60,\"max\":12,\"default\":0,\"unit\":\"dB\"}]}")
  (global $gain (mut f32) (f32.const 1))
  (func (export "wasp_set_param") (param $i i32) (param $v f32)
    (if (i32.eq (local.get $i) (i32.const 1)) (then (global.set $gain (local.get $v)))))
  (func (export "dsp") (param $l f32) (param $r f32) (result f32 f32)
    (f32.mul (local.get $l) (global.get $gain)) (f32.mul (local.get $r) (global.get $gain))))"#;

/// The same parameters reordered (gain first), one gone, one new, and its gain doubled.
const GAINER_EDITED: &str = r#"(module
  (@custom "wasp" "{\"name\":\"Gainer 2\",\"params\":[{\"id\":\"gain\",\"name\":\"Gain\",\"min\":0,\"max\":2,\"default\":1},{\"id\":\"drive\",\"name\":\"Drive\",\"min\":0,\"max\":1,\"default\":0},{\"id\":\"cutoff\",\"name\":\"Cutoff\",\"min\":20,\"max\":20000,\"default\":1000,\"unit\":\"Hz\",\"scale\":\"log\"}]}")
  (global $gain (mut f32) (f32.const 1))
  (func (export "wasp_set_param") (param $i i32) (param $v f32)
    (if (i32.eqz (local.get $i)) (then (global.set $gain (local.get $v)))))
  (func (export "dsp") (param $l f32) (param $r f32) (result f32 f32)
    (f32.mul (local.get $l) (f32.mul (global.get $gain) (f32.const 2)))
    (f32.mul (local.get $r) (f32.mul (global.get $gain) (f32.const 2)))))"#;

#[test]
fn module_parameters_are_host_parameters_with_names_units_and_texts() {
    let mut host = playing(GAINER.as_bytes(), &[("gain", 0.5)]);
    let infos = host.param_infos();
    assert_eq!(infos.len(), 65, "64 slots and On crash: {infos:?}");
    let gain = by_name(&infos, "Gain");
    let cutoff = by_name(&infos, "Cutoff");
    let level = by_name(&infos, "Level");
    for p in [gain, cutoff, level] {
        assert_eq!(p.flags & HIDDEN, 0, "{p:?}");
    }
    let unused: Vec<_> = infos
        .iter()
        .filter(|p| p.name.starts_with("Unused"))
        .collect();
    assert_eq!(unused.len(), 61);
    assert!(unused.iter().all(|p| p.flags & HIDDEN != 0), "{unused:?}");
    // Defaults, normalized along each parameter's scale: 1 kHz on 20 Hz..20 kHz (log).
    let expected = (1000f64 / 20.0).ln() / 1000f64.ln();
    assert!((cutoff.default - expected).abs() < 1e-4, "{cutoff:?}");
    assert!((gain.default - 0.5).abs() < 1e-6);
    // The restored value, as the host reads it and as text.
    assert!((host.param_value(gain.id).unwrap() - 0.25).abs() < 1e-6);
    assert_eq!(host.value_to_text(cutoff.id, 0.5).unwrap(), "632 Hz");
    assert_eq!(host.value_to_text(cutoff.id, 1.0).unwrap(), "20.0 kHz");
    assert_eq!(host.value_to_text(level.id, 0.75).unwrap(), "-6.0 dB");
    let typed = host.text_to_value(level.id, "-6 dB").unwrap();
    assert!((typed - 0.75).abs() < 1e-6, "{typed}");
    let typed = host.text_to_value(cutoff.id, "1.2 kHz").unwrap();
    assert!((typed - (1200f64 / 20.0).ln() / 1000f64.ln()).abs() < 1e-4);
    // "On crash" is still there, as a plugin parameter.
    assert!(host.param_id("On crash").is_some());
}

/// A module parameter with named choices (a waveform): the host reads the names as the values'
/// text, can type a name back, moves between the choices in equal steps of its range, and the
/// module only ever receives one of the choices' values.
const CHOOSER: &str = r#"(module
  (@custom "wasp" "{\"name\":\"Chooser\",\"params\":[{\"id\":\"shape\",\"name\":\"Shape\",\"min\":0,\"max\":1,\"default\":0,\"choices\":[{\"name\":\"Sine\",\"value\":0},{\"name\":\"Saw\",\"value\":0.4},{\"name\":\"Square\",\"value\":1}]}]}")
  (global $shape (mut f32) (f32.const 0))
  (func (export "wasp_set_param") (param $i i32) (param $v f32) (global.set $shape (local.get $v)))
  (func (export "dsp") (param $l f32) (param $r f32) (result f32 f32)
    (global.get $shape) (global.get $shape)))"#;

#[test]
fn choices_are_named_values_for_the_host_and_the_module() {
    let mut host = playing(CHOOSER.as_bytes(), &[]);
    let shape = by_name(&host.param_infos(), "Shape").id;
    assert_eq!(host.value_to_text(shape, 0.0).unwrap(), "Sine");
    assert_eq!(host.value_to_text(shape, 0.5).unwrap(), "Saw");
    assert_eq!(host.value_to_text(shape, 0.8).unwrap(), "Square");
    assert_eq!(host.text_to_value(shape, "square").unwrap(), 1.0);
    assert_eq!(host.text_to_value(shape, "0.45").unwrap(), 0.5);
    // Automation between two choices reaches the module as the nearer one's value.
    let input = vec![0.0f32; BLOCK];
    for (normalized, want) in [(0.4, 0.4), (0.7, 0.4), (0.8, 1.0), (0.1, 0.0)] {
        let mut events = EventBuffer::new();
        events.push(&ParamValueEvent::new(
            0,
            shape,
            Pckn::match_all(),
            normalized,
        ));
        let (l, _) = host.process_with_events(&input, &input, &events);
        assert_eq!(l[BLOCK - 1], want, "host value {normalized}");
    }
}

#[test]
fn a_parameter_event_changes_the_output_from_its_frame_on() {
    let mut host = playing(GAINER.as_bytes(), &[]);
    let infos = host.param_infos();
    let gain = by_name(&infos, "Gain").id;
    let input = sine(440.0, SR as f32, 0.5, 0, BLOCK);
    let mut events = EventBuffer::new();
    // Gain 2.0 × 0.25 = 0.5 from frame 300.
    events.push(&ParamValueEvent::new(300, gain, Pckn::match_all(), 0.25));
    let (l, r) = host.process_with_events(&input, &input, &events);
    assert_eq!(&l[..300], &input[..300], "unchanged before frame 300");
    let half: Vec<f32> = input[300..].iter().map(|x| x * 0.5).collect();
    assert_eq!(&l[300..], &half[..], "changed exactly from frame 300");
    assert_eq!(&r[300..], &half[..]);
    assert!((host.param_value(gain).unwrap() - 0.25).abs() < 1e-6);
}

#[test]
fn automation_keeps_its_target_across_a_swap_that_reorders_parameters() {
    let mut host = playing(GAINER.as_bytes(), &[("gain", 0.5)]);
    let before = host.param_infos();
    let gain = by_name(&before, "Gain").id;
    let cutoff = by_name(&before, "Cutoff").id;
    host.take_rescans();

    // The edited module: reordered, "level" gone, "drive" new. Loaded as a project does.
    host.load_state(&state_with(
        GAINER_EDITED.as_bytes(),
        &[("gain", 0.5), ("cutoff", 440.0)],
        serde_json::json!({}),
    ))
    .unwrap();
    settle(&mut host);
    assert!(
        host.take_rescans().iter().any(|f| f & RESCAN_INFO != 0),
        "the host is told to rescan parameter info"
    );
    let after = host.param_infos();
    println!(
        "host parameters after the swap: {:?}",
        after
            .iter()
            .filter(|p| p.flags & HIDDEN == 0)
            .map(|p| (p.id, &p.name))
            .collect::<Vec<_>>()
    );
    assert_eq!(by_name(&after, "Gain").id, gain, "gain keeps its host id");
    assert_eq!(
        by_name(&after, "Cutoff").id,
        cutoff,
        "cutoff keeps its host id"
    );
    let drive = by_name(&after, "Drive");
    assert!(drive.id != gain && drive.id != cutoff);
    let level = after.iter().find(|p| p.id == by_name(&before, "Level").id);
    assert!(level.is_some_and(|p| p.flags & HIDDEN != 0), "{level:?}");

    // Automation recorded against the old "gain" drives the new module's gain.
    let input = sine(440.0, SR as f32, 0.5, 0, BLOCK);
    let mut events = EventBuffer::new();
    events.push(&ParamValueEvent::new(0, gain, Pckn::match_all(), 0.125));
    let (l, _) = host.process_with_events(&input, &input, &events);
    // 0.125 of 0..2 is 0.25, doubled by the edited module.
    let expected: Vec<f32> = input.iter().map(|x| x * (0.25 * 2.0)).collect();
    assert_eq!(l, expected);
}

#[test]
fn a_save_and_restore_round_trip_keeps_every_value_and_binding() {
    let mut host = playing(GAINER_EDITED.as_bytes(), &[]);
    // Bind gain, drive and cutoff, then swap to the first module so the map is not trivial.
    host.load_state(&state_with(GAINER.as_bytes(), &[], serde_json::json!({})))
        .unwrap();
    settle(&mut host);
    let infos = host.param_infos();
    let ids: Vec<_> = ["Gain", "Cutoff", "Level"]
        .iter()
        .map(|n| by_name(&infos, n).id)
        .collect();
    let mut events = EventBuffer::new();
    for (id, value) in ids.iter().zip([0.3, 0.7, 0.9]) {
        events.push(&ParamValueEvent::new(0, *id, Pckn::match_all(), value));
    }
    let input = sine(440.0, SR as f32, 0.5, 0, BLOCK);
    let (first, _) = host.process_with_events(&input, &input, &events);
    let saved = host.save_state();

    let mut reopened = host_restored(&saved);
    let infos = reopened.param_infos();
    for ((name, id), value) in ["Gain", "Cutoff", "Level"]
        .iter()
        .zip(&ids)
        .zip([0.3, 0.7, 0.9])
    {
        let p = by_name(&infos, name);
        assert_eq!(p.id, *id, "{name} keeps its host id");
        let restored = reopened.param_value(p.id).unwrap();
        assert!((restored - value).abs() < 1e-6, "{name}: {restored}");
    }
    let (again, _) = reopened.process_stereo(&input, &input);
    assert_eq!(again, first, "the reopened project sounds the same");
    assert_eq!(saved_module(&reopened.save_state()), saved_module(&saved));
}

fn host_restored(state: &[u8]) -> TestHost {
    let mut host = host(EFFECT);
    host.load_state(state).unwrap();
    host.activate(SR, BLOCK as u32);
    settle(&mut host);
    host
}

/// Plays `key / 128` while a key is held; the right channel carries the last MIDI
/// controller's value (data2 / 127) and the pitch bend (MSB / 127) once one came.
const GATE: &str = r#"(module
  (global $level (mut f32) (f32.const 0))
  (global $midi (mut f32) (f32.const 0))
  (func (export "wasp_note_on") (param $key i32) (param $velocity f32)
    (global.set $level (f32.div (f32.convert_i32_s (local.get $key)) (f32.const 128))))
  (func (export "wasp_note_off") (param $key i32) (param $velocity f32)
    (global.set $level (f32.const 0)))
  (func (export "wasp_midi") (param $status i32) (param $d1 i32) (param $d2 i32)
    (global.set $midi (f32.div (f32.convert_i32_s (local.get $d2)) (f32.const 127))))
  (func (export "dsp") (param f32 f32) (result f32 f32)
    (global.get $level) (global.get $midi)))"#;

#[test]
fn notes_start_and_stop_at_their_frames_and_midi_reaches_the_module() {
    let mut host = playing(GATE.as_bytes(), &[]);
    let mut events = EventBuffer::new();
    events.push(&NoteOnEvent::new(
        100,
        Pckn::new(0u16, 0u16, 64u16, 1u32),
        1.0,
    ));
    events.push(&MidiEvent::new(200, 0, [0xB0, 1, 127]));
    events.push(&NoteOffEvent::new(
        400,
        Pckn::new(0u16, 0u16, 64u16, 1u32),
        0.0,
    ));
    let (l, r) = host.process_with_events(&[0.0; BLOCK], &[0.0; BLOCK], &events);
    assert!(l[..100].iter().all(|x| *x == 0.0), "silent before the note");
    assert!(
        l[100..400].iter().all(|x| *x == 0.5),
        "key 64 / 128 from frame 100"
    );
    assert!(
        l[400..].iter().all(|x| *x == 0.0),
        "silent from the note-off"
    );
    assert!(r[..200].iter().all(|x| *x == 0.0));
    assert!(
        r[200..].iter().all(|x| *x == 1.0),
        "CC 1 at 127 from frame 200"
    );
    // Pitch bend all the way up: MSB 127.
    let mut events = EventBuffer::new();
    events.push(&MidiEvent::new(10, 0, [0xE0, 0, 64]));
    let (_, r) = host.process_with_events(&[0.0; BLOCK], &[0.0; BLOCK], &events);
    assert!(
        r[10..].iter().all(|x| (*x - 64.0 / 127.0).abs() < 1e-6),
        "{}",
        r[10]
    );
}

#[test]
fn the_instrument_plays_a_note_with_its_built_in_synth() {
    let mut host = host(INSTRUMENT);
    assert!(
        host.audio_port_channel_counts(true).is_empty(),
        "an instrument has no audio input"
    );
    host.activate(SR, BLOCK as u32);
    settle(&mut host);
    let infos = host.param_infos();
    assert!(
        infos.iter().any(|p| p.name == "Cutoff"),
        "the synth's parameters are host parameters: {infos:?}"
    );
    let (silent, _) = host.process_stereo(&[0.0; BLOCK], &[0.0; BLOCK]);
    assert!(silent.iter().all(|x| *x == 0.0), "no note, no sound");
    let mut events = EventBuffer::new();
    events.push(&NoteOnEvent::new(
        0,
        Pckn::new(0u16, 0u16, 69u16, 1u32),
        0.8,
    ));
    let mut out = Vec::new();
    for block in 0..(SR as usize / BLOCK) {
        let (l, _) = if block == 0 {
            host.process_with_events(&[0.0; BLOCK], &[0.0; BLOCK], &events)
        } else {
            host.process_stereo(&[0.0; BLOCK], &[0.0; BLOCK])
        };
        out.extend(l);
    }
    let peak = out.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(peak > 0.01 && peak < 1.0, "peak {peak}");
    // A4: the period is 48000 / 440 = 109.1 frames. The strongest autocorrelation over lags
    // of 50 to 400 frames (120 to 960 Hz) in the second half of the note finds it.
    let tail = &out[out.len() / 2..];
    let correlation = |lag: usize| -> f64 {
        tail.iter()
            .zip(&tail[lag..])
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum()
    };
    let period = (50..400)
        .max_by(|a, b| correlation(*a).total_cmp(&correlation(*b)))
        .unwrap();
    let hz = SR / period as f64;
    assert!((hz - 440.0).abs() < 440.0 * 0.01, "{hz} Hz");
}

/// A pass-through that declares `latency` and `tail`.
fn delayed(latency: u32, tail: &str) -> String {
    format!(
        r#"(module (@custom "wasp" "{{\"latency\":{latency},\"tail\":{tail}}}")
             (func (export "dsp") (param f32) (result f32) (local.get 0)))"#
    )
}

#[test]
fn latency_and_tail_are_reported_and_follow_a_swap() {
    let mut host = playing(delayed(64, "1.5").as_bytes(), &[]);
    assert_eq!(host.latency(), Some(64));
    assert_eq!(host.tail(), Some(72_000), "1.5 s at 48 kHz");
    host.take_restart_request();

    host.load_state(&state_with(
        delayed(128, r#"\"infinite\""#).as_bytes(),
        &[],
        serde_json::json!({}),
    ))
    .unwrap();
    settle(&mut host);
    assert!(
        host.take_restart_request(),
        "a latency change while active asks the host for a restart"
    );
    // CLAP: any tail of i32::MAX samples or more is infinite.
    assert!(
        host.tail().is_some_and(|t| t >= i32::MAX as u32),
        "an infinite tail: {:?}",
        host.tail()
    );
    let changes = host.latency_changes();
    host.activate(SR, BLOCK as u32);
    assert!(
        host.latency_changes() > changes,
        "the host is told at reactivation"
    );
    assert_eq!(host.latency(), Some(128));
}

/// A host that lists parameters before activating (clap-validator does) sees the values the
/// module then plays with: activation changes nothing.
#[test]
fn parameter_values_do_not_move_when_the_instrument_activates() {
    let mut host = host(INSTRUMENT);
    let read = |host: &mut TestHost| -> Vec<(String, f64)> {
        host.param_infos()
            .into_iter()
            .map(|p| (p.name.clone(), host.param_value(p.id).unwrap()))
            .collect()
    };
    let before = read(&mut host);
    assert!(before.iter().any(|(n, _)| n == "Cutoff"), "{before:?}");
    host.activate(SR, BLOCK as u32);
    settle(&mut host);
    let after = read(&mut host);
    let moved: Vec<_> = before.iter().zip(&after).filter(|(b, a)| b != a).collect();
    assert!(moved.is_empty(), "{moved:?}");
}

/// A project saved right after a state loads, before the audio thread has switched to the
/// restored module, saves that module's values, not the ones the host parameters still hold.
#[test]
fn a_state_saved_before_the_restored_module_plays_keeps_its_values() {
    let mut host = playing(GAINER.as_bytes(), &[("gain", 1.5)]);
    host.load_state(&state_with(
        GAINER_EDITED.as_bytes(),
        &[("gain", 0.3), ("drive", 0.7)],
        serde_json::json!({}),
    ))
    .unwrap();
    let saved = saved_module(&host.save_state()).unwrap();
    assert_eq!(saved.params.get("gain"), Some(&0.3), "{:?}", saved.params);
    assert_eq!(saved.params.get("drive"), Some(&0.7), "{:?}", saved.params);
}

/// The runtime setting is saved with the project and restored before its module: a project
/// saved on the interpreter reopens there and plays (with the allocation checker armed), and
/// a project saved before the setting existed opens on compiled code.
#[test]
fn the_runtime_setting_is_saved_with_the_project() {
    let state = |engine: Option<&str>| {
        let mut json = decode_state(&state_with(
            GAINER.as_bytes(),
            &[("gain", 0.5)],
            serde_json::json!({}),
        ));
        if let Some(engine) = engine {
            json["fields"]["engine"] = serde_json::Value::String(format!("\"{engine}\""));
        }
        encode_state(&json)
    };
    let engine = |host: &mut TestHost| decode_state(&host.save_state())["fields"]["engine"].clone();
    let input = sine(440.0, SR as f32, 0.5, 0, BLOCK);
    let expected: Vec<f32> = input.iter().map(|x| x * 0.5).collect();

    let mut old = host_restored(&state(None));
    assert_eq!(engine(&mut old), "\"jit\"");
    assert_eq!(old.process_stereo(&input, &input).0, expected);

    let mut interpreted = host_restored(&state(Some("interpreter")));
    assert_eq!(engine(&mut interpreted), "\"interpreter\"");
    assert_eq!(interpreted.process_stereo(&input, &input).0, expected);
    let mut reopened = host_restored(&interpreted.save_state());
    assert_eq!(engine(&mut reopened), "\"interpreter\"");
    assert_eq!(reopened.process_stereo(&input, &input).0, expected);
}
