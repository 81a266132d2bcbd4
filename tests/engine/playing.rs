//! The note-driven and song-following example modules, run through the engine as the plugin
//! runs them: notes between pieces of a block, the transport written before each piece, and
//! live swaps that carry held voices.

use crate::common::rig::{Rig, BLOCK, SR};
use crate::common::*;
use wasp::{transport_valid, Crossfade, ModuleEvent, Source, Transport};

/// A rig playing `module` (committed, so events reach it).
fn rig_with(module: &str) -> Rig {
    let mut rig = Rig::new();
    rig.load_source(Source::from_bytes(example_bytes(module)), Crossfade::Never);
    rig.audio.commit_block();
    rig
}

/// Processes `input` in blocks, writing `transport` before each (after committing whatever is
/// prepared, as the plugin does).
fn run_with(rig: &mut Rig, input: &[f32], transport: &Transport) -> Vec<f32> {
    let mut out = input.to_vec();
    for block in out.chunks_mut(BLOCK) {
        rig.audio.commit_block();
        rig.audio.set_transport(transport);
        rig.audio.process(&mut [block]);
    }
    out
}

fn note_on(key: u8, velocity: f32) -> ModuleEvent {
    ModuleEvent::NoteOn { key, velocity }
}

fn note_off(key: u8) -> ModuleEvent {
    ModuleEvent::NoteOff { key, velocity: 0.0 }
}

#[test]
fn the_tempo_delay_echoes_on_the_songs_beat() {
    // Division 0.75 beats: 18000 frames at 120 BPM, 24000 at 90.
    for (tempo, echo_at) in [(120.0, 18_000), (90.0, 24_000)] {
        let mut rig = rig_with("tempo-delay.wat");
        let transport = Transport {
            tempo,
            playing: true,
            valid: transport_valid::TEMPO,
            ..Transport::default()
        };
        let mut input = vec![0.0; 25_600];
        input[0] = 1.0;
        let out = run_with(&mut rig, &input, &transport);
        assert!(
            (out[echo_at] - 0.35).abs() < 1e-4,
            "{tempo} BPM: {}",
            out[echo_at]
        );
        let early = out[1..echo_at].iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!(
            early < 1e-6,
            "{tempo} BPM: nothing before the echo, got {early}"
        );
    }
}

#[test]
fn the_keytracked_filter_follows_the_held_note() {
    let mut rig = rig_with("keytrack-filter.wat");
    // Offset 0 semitones, no envelope: the cutoff is the held note's pitch.
    assert!(rig.controller().set_param(0, 0.0));
    assert!(rig.controller().set_param(2, 0.0));
    let tone = sine(2000.0, SR, 0.5, 0, 48_000);
    let level = |rig: &mut Rig| rms(&rig.run(&tone)[24_000..]);
    let open = level(&mut rig);
    rig.audio.send_event(note_on(36, 1.0));
    let low = level(&mut rig);
    rig.audio.send_event(note_off(36));
    rig.audio.send_event(note_on(96, 1.0));
    let high = level(&mut rig);
    println!("2 kHz tone: open {open}, note 36 {low}, note 96 {high}");
    assert!(low < high * 0.01, "C2 closes the filter: {low} vs {high}");
    assert!(
        high > open * 0.8,
        "C7 leaves 2 kHz through: {high} vs {open}"
    );
}

#[test]
fn the_synth_plays_releases_and_stays_in_range() {
    let mut rig = rig_with("synth.wat");
    let silence = vec![0.0; 24_000];
    assert!(
        rig.run(&silence).iter().all(|x| *x == 0.0),
        "silent without notes"
    );
    rig.audio.send_event(note_on(60, 0.9));
    let held = rig.run(&silence);
    assert!(rms(&held[12_000..]) > 0.01, "a held note sounds");
    rig.audio.send_event(note_off(60));
    rig.run(&vec![0.0; 96_000]);
    let after = rig.run(&silence);
    let rest = after.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(rest < 1e-4, "released to silence, got {rest}");
    // Nine notes at full velocity on eight voices: one is stolen; nothing leaves the range.
    for key in 48..57 {
        rig.audio.send_event(note_on(key, 1.0));
    }
    let chord = rig.run(&vec![0.0; 48_000]);
    let peak = chord.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(peak.is_finite() && peak < 1.0 && peak > 0.05, "peak {peak}");
}

/// Swapping the synth for itself mid-note carries every voice: the output is the same, sample
/// for sample, as without the swap.
#[test]
fn held_notes_carry_across_a_live_swap() {
    let play = |swap: bool| {
        let mut rig = rig_with("synth.wat");
        rig.audio.send_event(note_on(57, 0.8));
        rig.audio.send_event(note_on(64, 0.8));
        let mut out = rig.run(&vec![0.0; 12_032]);
        if swap {
            rig.load_source(
                Source::from_bytes(example_bytes("synth.wat")),
                Crossfade::Never,
            );
        }
        out.extend(rig.run(&vec![0.0; 12_032]));
        out
    };
    let (plain, swapped) = (play(false), play(true));
    assert!(rms(&plain[12_032..]) > 0.01);
    assert_eq!(max_diff(&plain, &swapped), 0.0, "the swap is inaudible");
}

/// A module that hangs in `wasp_note_on` is stopped like one that hangs in `dsp`: the call
/// returns, the fault is reported with the export's name, and the module is silenced.
#[test]
fn a_module_hanging_in_note_on_is_stopped() {
    let hang = br#"(module
      (func (export "wasp_note_on") (param i32 f32) (loop $forever (br $forever)))
      (func (export "dsp") (param $x f32) (result f32) (local.get $x)))"#;
    let mut rig = Rig::new();
    rig.load_source(Source::from_bytes(&hang[..]), Crossfade::Never);
    rig.audio.commit_block();
    // Past the second in which a crash would roll back to the module before it.
    rig.run(&vec![0.0; 49_152]);
    let started = std::time::Instant::now();
    rig.audio.send_event(note_on(60, 1.0));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let (out, results) = rig.run_raw(&vec![0.5; BLOCK]);
    assert!(
        matches!(results[0], wasp::Processed::Faulted(f) if f.export == "wasp_note_on"),
        "{results:?}"
    );
    assert!(out.iter().all(|x| *x == 0.0), "silenced");
    assert_eq!(rig.controller().shared().fault_counters().timeouts, 1);
}
