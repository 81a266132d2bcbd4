//! A WCLAP (issue 12) in the DAW's hands, through a real CLAP host (clack-host): its
//! parameters are host parameters with its names, automation reaches it at the frame, notes
//! reach it, a project reopens with it, and its crash is contained. Built with the allocation
//! checker armed, like every test of the plugin: the audio path into the WCLAP allocates
//! nothing.

use crate::clap_host::TestHost;
use crate::common::*;
use crate::host::settle;
use crate::state::*;
use clack_host::events::event_types::{MidiEvent, NoteOffEvent, NoteOnEvent, ParamValueEvent};
use clack_host::prelude::*;

const EFFECT: &str = "dev.wasp-audio.wasp";
const SR: f64 = 48_000.0;
const BLOCK: usize = 512;

fn gain_wclap() -> Vec<u8> {
    std::fs::read(rust_crate_wasm(&root().join("examples/wclap/gain"))).unwrap()
}

/// A project holding the WCLAP with `values` (by Wasp parameter id), restored and playing.
fn playing(values: &[(&str, f32)]) -> TestHost {
    crate::host::playing(&gain_wclap(), values)
}

fn db(gain_db: f32) -> f32 {
    10f32.powf(gain_db / 20.0)
}

fn scaled(x: &[f32], g: f32) -> Vec<f32> {
    x.iter().map(|v| v * g).collect()
}

#[test]
fn a_wclaps_parameters_are_host_parameters_and_automation_reaches_it_at_the_frame() {
    let mut host = playing(&[("clap_7", -6.0)]);
    let infos = host.param_infos();
    let gain = infos
        .iter()
        .find(|p| p.name == "Gain")
        .unwrap_or_else(|| panic!("no Gain among {infos:?}"));
    assert!(infos.iter().any(|p| p.name == "Misbehave"));
    let text = host.value_to_text(gain.id, 0.75).unwrap();
    assert!(text.starts_with("-6"), "{text}");

    let input = sine(440.0, SR as f32, 0.5, 0, BLOCK);
    let (l, r) = host.process_stereo(&input, &input);
    assert!(max_diff(&l, &scaled(&input, db(-6.0))) < 1e-6);
    assert!(max_diff(&r, &scaled(&input, db(-6.0))) < 1e-6);

    // -12 dB from frame 300: normalised (−12 + 60) / 72.
    let mut events = EventBuffer::new();
    events.push(&ParamValueEvent::new(
        300,
        gain.id,
        Pckn::match_all(),
        48.0 / 72.0,
    ));
    let (l, _) = host.process_with_events(&input, &input, &events);
    assert!(max_diff(&l[..300], &scaled(&input[..300], db(-6.0))) < 1e-6);
    assert!(
        max_diff(&l[300..], &scaled(&input[300..], db(-12.0))) < 1e-5,
        "changed exactly from frame 300"
    );
}

#[test]
fn notes_reach_a_wclap_at_their_frames() {
    let mut host = playing(&[]);
    let input = sine(440.0, SR as f32, 0.25, 0, BLOCK);
    let key = Pckn::new(0u16, 0u16, 60u16, 1u32);
    let mut events = EventBuffer::new();
    events.push(&NoteOnEvent::new(100, key, 1.0));
    events.push(&NoteOffEvent::new(400, key, 0.0));
    let (l, _) = host.process_with_events(&input, &input, &events);
    assert_eq!(&l[..100], &input[..100]);
    assert_eq!(
        &l[100..400],
        &scaled(&input[100..400], 2.0)[..],
        "doubled while held"
    );
    assert_eq!(&l[400..], &input[400..]);
}

#[test]
fn a_project_with_a_wclap_reopens_sounding_the_same() {
    let mut host = playing(&[("clap_7", -3.0)]);
    let input = sine(300.0, SR as f32, 0.5, 0, BLOCK);
    let (first, _) = host.process_stereo(&input, &input);
    assert!(
        max_diff(&first, &scaled(&input, db(-3.0))) < 1e-6,
        "the saved value plays"
    );
    let saved = host.save_state();
    assert_eq!(
        saved_module(&saved).map(|m| m.params),
        Some(
            [("clap_7".to_owned(), -3.0), ("clap_9".to_owned(), 0.0)]
                .into_iter()
                .collect()
        ),
    );
    let mut reopened = crate::host::host(EFFECT);
    reopened.load_state(&saved).unwrap();
    reopened.activate(SR, BLOCK as u32);
    settle(&mut reopened);
    let (again, _) = reopened.process_stereo(&input, &input);
    assert_eq!(again, first);
}

#[test]
fn a_crashing_wclap_goes_quiet_and_the_host_plays_on() {
    let mut host = playing(&[]);
    let misbehave = host.param_id("Misbehave").unwrap();
    let input = sine(440.0, SR as f32, 0.5, 0, BLOCK);
    let mut events = EventBuffer::new();
    // 1 of 0..5: trap in process.
    events.push(&ParamValueEvent::new(0, misbehave, Pckn::match_all(), 0.2));
    for _ in 0..4 {
        let (l, r) = host.process_with_events(&input, &input, &events);
        assert!(l.iter().chain(&r).all(|x| x.is_finite()));
        events = EventBuffer::new();
    }
    while host.call_on_main_thread_callback() {}
    // The project still holds the WCLAP.
    let saved = saved_module(&host.save_state()).expect("a module is saved");
    assert_eq!(saved.to_source().unwrap().bytes.len(), gain_wclap().len());
}

/// The plugin's own state (`clap.state`) is saved with the project and loaded when it
/// reopens: the fixture's trim, which MIDI controller 7 sets and no parameter holds, is back.
#[test]
fn a_wclaps_own_state_is_saved_with_the_project() {
    let mut host = playing(&[]);
    let input = sine(440.0, SR as f32, 0.5, 0, BLOCK);
    let mut events = EventBuffer::new();
    events.push(&MidiEvent::new(0, 0, [0xB0, 7, 64]));
    let (l, _) = host.process_with_events(&input, &input, &events);
    let trim = 64.0 / 127.0;
    assert!(max_diff(&l, &scaled(&input, trim)) < 1e-6, "CC 7 trims");
    // This host runs audio and saves on one thread, so the audio thread cannot answer a
    // request for the state: the project gets what it saved on its own, which it does at most
    // every 100 ms of audio after the plugin received events. Play on a little, as a DAW does.
    for _ in 0..10 {
        host.process_stereo(&input, &input);
    }
    let saved = host.save_state();
    let module = saved_module(&saved).expect("a module is saved");
    assert!(
        module.clap_state.is_some(),
        "the plugin's state is in the project"
    );

    let mut reopened = crate::host::host(EFFECT);
    reopened.load_state(&saved).unwrap();
    reopened.activate(SR, BLOCK as u32);
    settle(&mut reopened);
    let (l, _) = reopened.process_stereo(&input, &input);
    assert!(
        max_diff(&l, &scaled(&input, trim)) < 1e-6,
        "the trim is back"
    );
    // Saved again without playing: the state it was restored with is kept.
    let again = saved_module(&reopened.save_state()).unwrap();
    assert_eq!(again.clap_state, module.clap_state);
}

/// A plugin whose saved state makes it loop forever when loaded: the project's restore is
/// stopped at the load budget, the default module plays, and the project still holds the
/// plugin, its values and its state, untouched, to be saved again as they were.
#[test]
fn a_wclap_that_loops_loading_its_state_is_stopped_and_nothing_is_lost() {
    let mut host = playing(&[("clap_9", 5.0)]);
    let input = sine(440.0, SR as f32, 0.5, 0, BLOCK);
    for _ in 0..10 {
        host.process_stereo(&input, &input);
    }
    let saved = host.save_state();
    let module = saved_module(&saved).unwrap();
    assert!(module.clap_state.is_some());

    let started = std::time::Instant::now();
    let mut reopened = crate::host::host(EFFECT);
    reopened.load_state(&saved).unwrap();
    reopened.activate(SR, BLOCK as u32);
    settle(&mut reopened);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    // The default module plays: it passes the input through.
    let (l, _) = reopened.process_stereo(&input, &input);
    assert!(l.iter().all(|x| x.is_finite()));
    let again = saved_module(&reopened.save_state()).unwrap();
    assert_eq!(again.bytes, module.bytes);
    assert_eq!(again.params, module.params);
    assert_eq!(again.clap_state, module.clap_state);
}
