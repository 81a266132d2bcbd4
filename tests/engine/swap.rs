//! Live swaps through the real pipeline: a worker prepares, the audio side commits at block
//! boundaries, declared state is carried (or crossfaded), and nothing is lost on failure.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::common::rig::{Rig, BLOCK, SR};
use crate::common::*;
use wasp::{Crossfade, LoadOptions, LoadOutcome, ProcessConfig, Processed, Source};

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/swap").join(name)
}

fn fixture_source(name: &str) -> Source {
    Source::from_file(fixture(name)).unwrap()
}

/// Test-local shorthand: load a swap fixture by name.
trait LoadFixture {
    fn load(&self, name: &str, crossfade: Crossfade) -> u64;
}

impl LoadFixture for Rig {
    fn load(&self, name: &str, crossfade: Crossfade) -> u64 {
        self.load_source(fixture_source(name), crossfade)
    }
}

#[test]
fn oscillator_keeps_its_phase_across_a_swap() {
    let mut rig = Rig::new();
    rig.load("osc_a.wat", Crossfade::Never);
    let before = rig.run(&[0.0; 10 * BLOCK]);
    let generation = rig.load("osc_b.wat", Crossfade::Auto);
    let after = rig.run(&[0.0; 10 * BLOCK]);
    assert_eq!(rig.audio.generation(), Some(generation));
    assert!(!rig.audio.is_crossfading());
    let report = rig.report(generation);
    assert_eq!(report.carried, vec!["phase".to_string()]);
    assert!(!report.crossfade);

    // The waveform continues: after the swap it is the same sine at the new gain, with no
    // restart of the phase and no step beyond what the gain change explains.
    let want_before = sine(1000.0, SR, 0.25, 0, 10 * BLOCK);
    let want_after = sine(1000.0, SR, 0.5, 10 * BLOCK, 10 * BLOCK);
    assert!(max_diff(&before, &want_before) < 1e-3);
    assert!(
        max_diff(&after, &want_after) < 1e-3,
        "{}",
        max_diff(&after, &want_after)
    );
    // The first sample after the swap is twice what the old module would have played.
    let expected_old = sine(1000.0, SR, 0.25, 10 * BLOCK, 1)[0];
    assert!((after[0] - 2.0 * expected_old).abs() < 1e-3);
}

#[test]
fn delay_tail_rings_on_with_the_new_feedback() {
    let mut rig = Rig::new();
    rig.load("delay_a.wat", Crossfade::Auto);
    // An impulse, then silence past the first echo (at 4800) but not the second (9600).
    let mut input = vec![0.0f32; 30 * BLOCK];
    input[0] = 1.0;
    let before = rig.run(&input);
    assert_eq!(before[0], 1.0);
    assert_eq!(before[4800], 1.0, "first echo");
    let generation = rig.load("delay_b.wat", Crossfade::Auto);
    let report = rig.report(generation);
    assert_eq!(report.carried, vec!["line".to_string()]);

    // After the swap (frame 7680) the echo stored with feedback 0.5 still arrives at 9600,
    // and is fed back with the new module's feedback 0.25 for the echo at 14400.
    let after = rig.run(&vec![0.0f32; 40 * BLOCK]);
    let at = |frame: usize| after[frame - 30 * BLOCK];
    assert_eq!(at(9600), 0.5, "second echo survives the swap");
    assert_eq!(at(14400), 0.125, "third echo uses the new feedback");
    let others: f32 = after
        .iter()
        .enumerate()
        .filter(|(i, _)| ![9600, 14400].contains(&(i + 30 * BLOCK)))
        .map(|(_, x)| x.abs())
        .sum();
    assert_eq!(others, 0.0, "nothing else sounds");
}

#[test]
fn layout_changes_follow_the_rules() {
    let mut rig = Rig::new();
    rig.load("layout_old.wat", Crossfade::Auto);
    rig.run(&[0.0; BLOCK]);
    let generation = rig.load("layout_new.wat", Crossfade::Auto);
    let report = rig.report(generation);
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(report.carried, names(&["keep", "g"]));
    assert_eq!(report.resized, names(&["grow", "shrink", "ring"]));
    assert_eq!(report.reset, names(&["kind", "fresh", "gi"]));
    assert_eq!(report.dropped, names(&["gone"]));
    assert!(!report.crossfade);

    // Probe the new module's memory: input sample = byte address, output = f32 there.
    let addrs: Vec<f32> = [
        200, 204, 208, 212, // keep: carried
        220, 224, 228, 232, // grow: two carried, two as init left them
        240, 244, // shrink: first two
        260, // kind changed: reset
        280, // fresh: reset
        300, 304, 308, 312, 316, 320, // ring: newest four in time order, then init's
        1000, 1004, // globals g, gi
    ]
    .iter()
    .map(|&a| a as f32)
    .collect();
    let out = rig.run(&addrs);
    assert_eq!(
        out,
        vec![
            0.1, 0.2, 0.3, 0.4, 0.5, 0.6, -1.0, -1.0, 0.7, 0.8, -1.0, -1.0, 1.4, 1.5, 1.6, 1.3,
            -1.0, -1.0, 1.7, -1.0
        ]
    );
    let cursor = rig.run(&[340.0])[0];
    assert_eq!(cursor, 4.0, "ring cursor points after the carried samples");
}

#[test]
fn unrelated_patch_change_crossfades() {
    let mut rig = Rig::new();
    rig.load("dc1.wat", Crossfade::Auto);
    rig.run(&[0.0; BLOCK]);
    let generation = rig.load("dc2.wat", Crossfade::Auto);
    assert!(
        rig.report(generation).crossfade,
        "nothing to carry: crossfade"
    );
    let fade = (wasp::CROSSFADE_SECONDS * SR) as usize;
    let out = rig.run(&vec![0.0; 8 * BLOCK]);
    for (i, y) in out.iter().enumerate() {
        let t = (i as f32 / fade as f32).min(1.0) * std::f32::consts::FRAC_PI_2;
        let want = 0.5 * t.sin() + 0.25 * t.cos();
        assert!((y - want).abs() < 1e-6, "frame {i}: {y} vs {want}");
    }
    // Equal power: the mid-point is above both -3 dB blends' average would be for a linear fade.
    let mid = out[fade / 2];
    assert!(
        mid > 0.5 * (0.25 + 0.5),
        "equal-power crossfade bulges above linear: {mid}"
    );
    assert!(!rig.audio.is_crossfading());
    assert!(
        out[fade..].iter().all(|&y| y == 0.5),
        "after the fade only the new module"
    );
}

#[test]
fn crossfade_on_request_starts_the_new_module_fresh() {
    let mut rig = Rig::new();
    rig.load("osc_a.wat", Crossfade::Auto);
    rig.run(&[0.0; 3 * BLOCK]);
    let generation = rig.load("osc_b.wat", Crossfade::Always);
    let report = rig.report(generation);
    assert!(report.crossfade);
    assert_eq!(report.reset, vec!["phase".to_string()]);
    let fade = (wasp::CROSSFADE_SECONDS * SR) as usize;
    let out = rig.run(&vec![0.0; 8 * BLOCK]);
    // After the fade: osc b from phase 0, i.e. the new sine started at the swap.
    let want = sine(1000.0, SR, 0.5, 0, 8 * BLOCK);
    assert!(max_diff(&out[fade..], &want[fade..]) < 1e-3);
}

#[test]
fn failed_load_keeps_the_old_sound_and_the_saved_module() {
    let mut rig = Rig::new();
    rig.load("dc1.wat", Crossfade::Never);
    let saved = rig.controller().saved().unwrap();
    let outcome = rig
        .controller()
        .load_blocking(Source::from_bytes(&b"(module (func (export \"dsp\")))"[..]));
    assert!(matches!(outcome, LoadOutcome::Failed(_)));
    let status = rig.controller().status();
    assert!(status
        .last_error
        .unwrap()
        .contains("`dsp` has type () -> ()"));
    assert_eq!(status.current.unwrap().name, "dc1");
    assert_eq!(rig.controller().saved().unwrap(), saved);
    assert!(rig.run(&[0.0; BLOCK]).iter().all(|&y| y == 0.25));
}

#[test]
fn sample_rate_change_re_prepares_and_keeps_the_phase() {
    let mut rig = Rig::new();
    rig.load("osc_a.wat", Crossfade::Never);
    let before = rig.run(&[0.0; 4 * BLOCK]);
    let outcome = rig.controller().configure(ProcessConfig {
        sample_rate: 96_000.0,
        max_frames: BLOCK as u32,
    });
    assert!(matches!(outcome, LoadOutcome::Prepared(_)));
    let after = rig.run(&[0.0; 4 * BLOCK]);
    // Same phase, new step: 1 kHz at 96 kHz continues from where 48 kHz left off.
    let phase0 = (4 * BLOCK) as f64 * 1000.0 / 48_000.0;
    let want: Vec<f32> = (0..4 * BLOCK)
        .map(|n| {
            let phase = phase0 + n as f64 * 1000.0 / 96_000.0;
            0.25 * (std::f64::consts::TAU * phase).sin() as f32
        })
        .collect();
    assert!(max_diff(&before, &sine(1000.0, SR, 0.25, 0, 4 * BLOCK)) < 1e-3);
    assert!(
        max_diff(&after, &want) < 1e-3,
        "{}",
        max_diff(&after, &want)
    );
}

#[test]
fn loading_a_path_reads_it_on_the_worker() {
    let mut rig = Rig::new();
    let outcome = rig.controller().load_file_blocking(fixture("dc2.wat"));
    let LoadOutcome::Prepared(info) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(info.path.as_deref(), Some(fixture("dc2.wat").as_path()));
    rig.run(&[0.0; 8 * BLOCK]);
    assert!(rig.run(&[0.0; BLOCK]).iter().all(|&y| y == 0.5));
    let missing = rig.controller().load_file_blocking(fixture("nope.wat"));
    let LoadOutcome::Failed(err) = missing else {
        panic!("{missing:?}")
    };
    assert!(err.to_string().contains("nope.wat"), "{err}");
}

/// Waits until `check` holds, processing blocks meanwhile, for at most `limit`.
fn process_until(rig: &mut Rig, limit: Duration, mut check: impl FnMut(&Rig) -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        rig.run(&[0.0; BLOCK]);
        if check(rig) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn watched_file_reloads_once_per_save_and_survives_a_broken_save() {
    let dir = std::env::temp_dir().join(format!("wasp-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("patch.wat");
    let module = |k: f32| {
        format!(
            "(module (@custom \"wasp\" \"{{\\\"name\\\":\\\"watched\\\"}}\")\n\
             (func (export \"dsp\") (param f32) (result f32) (f32.const {k})))"
        )
    };
    std::fs::write(&path, module(0.1)).unwrap();
    let mut rig = Rig::new();
    assert!(matches!(
        rig.controller().load_file_blocking(&path),
        LoadOutcome::Prepared(_)
    ));
    rig.controller().set_watch(true);
    rig.run(&[0.0; 8 * BLOCK]);
    let first = rig.audio.shared().commits();

    // A burst of writes, as an editor saving in several steps: one reload.
    for k in [0.2, 0.3, 0.4] {
        std::fs::write(&path, module(k)).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let reloaded = process_until(&mut rig, Duration::from_secs(10), |rig| {
        rig.audio.shared().commits() > first
    });
    assert!(reloaded, "the change was not picked up");
    // Let a crossfade finish and any extra reload happen.
    std::thread::sleep(Duration::from_millis(600));
    let out = rig.run(&vec![0.0; 8 * BLOCK]);
    assert!(
        out[4 * BLOCK..].iter().all(|&y| y == 0.4),
        "plays the final save"
    );
    assert_eq!(
        rig.audio.shared().commits(),
        first + 1,
        "one reload for the burst"
    );

    // A broken save: the old sound keeps playing and the error is reported.
    std::fs::write(
        &path,
        "(module (func (export \"dsp\") (param f32) (result f32) oops))",
    )
    .unwrap();
    let reported = process_until(&mut rig, Duration::from_secs(10), |rig| {
        rig.controller().status().last_error.is_some()
    });
    assert!(reported, "the broken save was not reported");
    let error = rig.controller().status().last_error.unwrap();
    assert!(error.contains("WAT syntax error at line 1"), "{error}");
    assert!(rig.run(&[0.0; BLOCK]).iter().all(|&y| y == 0.4));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// 1,000 swap requests from another thread while the audio thread processes without pause.
/// Every request is committed or superseded, every block runs, and each process call runs
/// under nice-plug's allocation checker (`assert_no_alloc`, armed by the
/// `assert_process_allocs` feature the README's test command enables), which aborts the test
/// process on any allocation or free on the audio thread.
#[test]
fn a_thousand_swaps_while_audio_runs() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let rig = Rig::new();
    rig.load("dc1.wat", Crossfade::Never);
    let Rig {
        preparer,
        mut audio,
    } = rig;
    let controller = preparer.controller().clone();
    let sources: Vec<Source> = ["dc1.wat", "dc2.wat", "dc3.wat"]
        .iter()
        .map(|n| Source::from_bytes(std::fs::read(fixture(n)).unwrap()))
        .collect();
    // Commit the first module before the run starts.
    let mut block = vec![0.0f32; BLOCK];
    audio.process(&mut [&mut block]);
    let commits_before = audio.shared().commits();
    let dropped_before = audio.shared().superseded_in_queue();

    let stop = Arc::new(AtomicBool::new(false));
    let audio_thread = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("test-audio".into())
            .spawn(move || {
                let mut block = vec![0.0f32; BLOCK];
                let (mut blocks, mut bad) = (0u64, 0u64);
                // Acquire pairs with the Release store below: stop only after the main thread
                // has seen every request answered.
                while !stop.load(Ordering::Acquire) {
                    block.fill(0.0);
                    let result =
                        nice_assert_no_alloc::assert_no_alloc(|| audio.process(&mut [&mut block]));
                    blocks += 1;
                    // Outputs are 0.125, 0.25 or 0.5, or an equal-power blend of two of them,
                    // which peaks at sqrt(2) * 0.5 when both sides play 0.5.
                    let sane = block.iter().all(|&y| (0.12..=0.7072).contains(&y));
                    if result != Processed::Ran || !sane {
                        bad += 1;
                        let min = block.iter().cloned().fold(f32::MAX, f32::min);
                        let max = block.iter().cloned().fold(f32::MIN, f32::max);
                        eprintln!("block {blocks}: {result:?}, output {min}..{max}");
                    }
                }
                (audio, blocks, bad)
            })
            .unwrap()
    };

    let mut receivers = Vec::with_capacity(1000);
    for i in 0..1000 {
        let options = LoadOptions {
            crossfade: if i % 2 == 0 {
                Crossfade::Auto
            } else {
                Crossfade::Never
            },
        };
        receivers.push(controller.load_tracked(sources[i % 3].clone(), options));
        std::thread::sleep(Duration::from_micros(200));
    }
    let (mut prepared, mut superseded, mut last_generation) = (0u64, 0u64, 0u64);
    for rx in receivers {
        match rx.recv_timeout(Duration::from_secs(60)).expect("an answer") {
            LoadOutcome::Prepared(info) => {
                prepared += 1;
                last_generation = last_generation.max(info.generation);
            }
            LoadOutcome::Superseded => superseded += 1,
            LoadOutcome::Failed(e) => panic!("a load failed: {e}"),
            LoadOutcome::Deferred => panic!("the rig is configured: nothing is deferred"),
        }
    }
    assert_eq!(prepared + superseded, 1000);
    // Wait for the newest to be committed.
    let start = Instant::now();
    while controller.shared().committed() != last_generation {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "newest never committed"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    stop.store(true, Ordering::Release);
    let (audio, blocks, bad) = audio_thread.join().unwrap();
    assert_eq!(bad, 0, "{bad} of {blocks} blocks were not clean");
    let commits = audio.shared().commits() - commits_before;
    let dropped = audio.shared().superseded_in_queue() - dropped_before;
    assert_eq!(
        commits + dropped,
        prepared,
        "every prepared instance is committed or superseded in the queue"
    );
    eprintln!(
        "1000 requests: {prepared} prepared ({commits} committed, {dropped} superseded in the \
         queue), {superseded} superseded before preparing; {blocks} blocks processed"
    );
    assert!(
        commits > 100,
        "the run should really swap often, got {commits} commits"
    );
    drop(preparer);
}
