//! Faust programs as the Faust compiler writes them (issue 11): the Debian `faust` compiles the
//! examples in `examples/faust/` with `-lang wasm`, and Wasp loads the output as it is, maps
//! its controls onto parameters, runs it in blocks, and carries its state across a swap to a new
//! version of the same program.

use std::path::PathBuf;
use std::process::Command;

use crate::common::rig::{Rig, BLOCK};
use crate::common::*;
use wasp::{
    Crossfade, DspInstance, Entry, LoadError, Patch, ProcessConfig, Runtime, Scale, Source,
};

const SR: f32 = 48_000.0;

/// Compiles Faust source with the real compiler; returns the `.wasm` bytes.
fn faust(name: &str, source: &str) -> Vec<u8> {
    faust_with(name, source, &[])
}

/// Like [`faust`], with more compiler options.
fn faust_with(name: &str, source: &str, options: &[&str]) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("wasp-faust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dsp = dir.join(format!("{name}.dsp"));
    std::fs::write(&dsp, source).unwrap();
    let wasm = dir.join(format!("{name}.wasm"));
    run_ok(
        Command::new("faust")
            .args(["-lang", "wasm"])
            .args(options)
            .arg(&dsp)
            .arg("-o")
            .arg(&wasm),
    );
    std::fs::read(wasm).unwrap()
}

fn example(name: &str) -> Vec<u8> {
    let path: PathBuf = root().join("examples/faust").join(name);
    faust(
        name.trim_end_matches(".dsp"),
        &std::fs::read_to_string(path).unwrap(),
    )
}

fn load(runtime: &Runtime, wasm: Vec<u8>) -> (Patch, DspInstance) {
    let patch = runtime.compile(Source::from_bytes(wasm)).unwrap();
    let instance = DspInstance::new(
        runtime,
        &patch,
        ProcessConfig {
            sample_rate: SR,
            max_frames: 1024,
        },
    )
    .unwrap();
    (patch, instance)
}

/// Gain in dB of a mono instance at `freq`, measured on the second half of a second of sine.
fn gain_db(instance: &mut DspInstance, freq: f32) -> f32 {
    let input = sine(freq, SR, 0.5, 0, SR as usize);
    let mut output = input.clone();
    for block in output.chunks_mut(1000) {
        instance.process(&mut [block]).unwrap();
    }
    let half = input.len() / 2;
    20.0 * (rms(&output[half..]) / rms(&input[half..])).log10()
}

#[test]
fn a_faust_filter_loads_as_it_comes_with_its_controls() {
    let runtime = Runtime::new().unwrap();
    let (patch, mut lp) = load(&runtime, example("lowpass.dsp"));
    let meta = patch.metadata();
    assert_eq!(meta.name, "Faust low-pass");
    assert_eq!(meta.author, "Wasp examples");
    let ids: Vec<&str> = meta.params.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["cutoff", "gain"]);
    let cutoff = &meta.params[0];
    assert_eq!(
        (cutoff.min, cutoff.max, cutoff.default),
        (20.0, 20_000.0, 1000.0)
    );
    assert_eq!(cutoff.unit, "Hz");
    assert_eq!(cutoff.scale, Scale::Log);
    assert_eq!(meta.params[1].unit, "dB");
    assert_eq!(lp.entry(), Entry::Block, "compute runs over blocks");

    // Faust's `fi.lowpass(2, fc)` is a second-order Butterworth through the bilinear
    // transform, prewarped at fc: |H(f)| = 1 / sqrt(1 + (tan(pi f / fs) / tan(pi fc / fs))^4).
    let expected = |f: f32, fc: f32| {
        let w = |x: f32| (std::f32::consts::PI * x / SR).tan();
        -10.0 * (1.0 + (w(f) / w(fc)).powi(4)).log10()
    };
    for f in [100.0, 1000.0, 3000.0, 10_000.0] {
        let got = gain_db(&mut lp, f);
        let want = expected(f, 1000.0);
        assert!((got - want).abs() < 0.1, "{f} Hz: {got} dB, want {want} dB");
    }
    // The controls drive the program: open the filter, then 6 dB of gain.
    lp.set_param(0, 5_000.0).unwrap();
    let open = gain_db(&mut lp, 10_000.0);
    assert!((open - expected(10_000.0, 5_000.0)).abs() < 0.1, "{open}");
    lp.set_param(1, 6.0).unwrap();
    let louder = gain_db(&mut lp, 100.0);
    assert!((louder - 6.0).abs() < 0.1, "{louder}");
}

#[test]
fn a_faust_oscillator_with_no_input_plays_its_frequency() {
    let runtime = Runtime::new().unwrap();
    let (patch, mut osc) = load(&runtime, example("sine.dsp"));
    assert_eq!(patch.metadata().params.len(), 2);
    osc.set_param(0, 1000.0).unwrap();
    let mut out = vec![0.0f32; SR as usize];
    for block in out.chunks_mut(512) {
        osc.process(&mut [block]).unwrap();
    }
    // 1000 cycles in a second: 2000 sign changes; level 0.5.
    let crossings = out
        .windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count();
    assert!((1995..=2005).contains(&crossings), "{crossings}");
    let peak = out.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!((peak - 0.5).abs() < 0.01, "{peak}");
}

/// Menus, radio buttons and checkboxes become parameters with named choices; a menu whose
/// entries Wasp cannot use stays a plain slider. Tooltips describe their parameters, and
/// hidden controls are left out.
#[test]
fn faust_menus_and_checkboxes_become_named_choices() {
    let runtime = Runtime::new().unwrap();
    let source = r#"import("stdfaust.lib");
shape = nentry("shape [style:menu{'Sine':0;'Triangle':1;'Square':2}]", 1, 0, 2, 1);
octave = hslider("octave [style:radio{'Low':-1;'Mid':0;'High':1}]", 0, -1, 1, 1);
mute = checkbox("mute [tooltip:Silences the output]");
secret = hslider("secret [hidden:1]", 0, 0, 1, 0.1);
odd = nentry("odd [style:menu{'A':0;'B':9}]", 0, 0, 2, 1);
process = (shape + octave * 10 + odd * 100 + secret) * (1 - mute);"#;
    let (patch, mut osc) = load(&runtime, faust("choices", source));
    let params = &patch.metadata().params;
    let index = |id: &str| params.iter().position(|p| p.id == id).unwrap();
    let names = |id: &str| -> Vec<(String, f32)> {
        params[index(id)]
            .choices
            .iter()
            .map(|c| (c.name.clone(), c.value))
            .collect()
    };
    let pairs = |list: &[(&str, f32)]| -> Vec<(String, f32)> {
        list.iter().map(|(n, v)| (n.to_string(), *v)).collect()
    };
    assert_eq!(
        names("shape"),
        pairs(&[("Sine", 0.0), ("Triangle", 1.0), ("Square", 2.0)])
    );
    assert_eq!(
        names("octave"),
        pairs(&[("Low", -1.0), ("Mid", 0.0), ("High", 1.0)])
    );
    assert_eq!(names("mute"), pairs(&[("Off", 0.0), ("On", 1.0)]));
    // 'B':9 lies outside 0..2, so that menu is a slider.
    assert!(names("odd").is_empty());
    // A tooltip describes its parameter; a hidden control is not one.
    assert_eq!(params[index("mute")].about, "Silences the output");
    assert!(params.iter().all(|p| p.id != "secret"), "{params:?}");
    let shape = &params[index("shape")];
    assert_eq!(shape.format(1.0), "Triangle");
    // The program hears the values: Square, High, not muted.
    let octave = &params[index("octave")];
    osc.set_param(index("shape"), shape.limit(1.8)).unwrap();
    osc.set_param(index("octave"), octave.limit(0.9)).unwrap();
    let mut out = vec![0.0f32; 512];
    osc.process(&mut [&mut out]).unwrap();
    assert_eq!(out[511], 12.0);
    let mute = &params[index("mute")];
    osc.set_param(index("mute"), mute.limit(0.7)).unwrap();
    osc.process(&mut [&mut out]).unwrap();
    assert_eq!(out[511], 0.0);
}

#[test]
fn a_faust_reverb_rings_on_and_stays_bounded() {
    let runtime = Runtime::new().unwrap();
    let (patch, mut reverb) = load(&runtime, example("reverb.dsp"));
    let meta = patch.metadata();
    assert_eq!(meta.channels, Some(wasp::Channels::Stereo));
    assert!(meta.params.len() >= 2, "{:?}", meta.params);
    // An impulse, then two seconds of silence.
    let len = 2 * SR as usize;
    let (mut l, mut r) = (vec![0.0f32; len], vec![0.0f32; len]);
    l[0] = 1.0;
    r[0] = 1.0;
    for (lc, rc) in l.chunks_mut(256).zip(r.chunks_mut(256)) {
        reverb.process(&mut [lc, rc]).unwrap();
    }
    assert!(l.iter().chain(&r).all(|x| x.is_finite() && x.abs() < 1.0));
    // Still ringing half a second later, and decaying.
    let second = SR as usize;
    let early = rms(&l[second / 2..second]);
    let late = rms(&l[3 * second / 2..]);
    assert!(early > 1e-6, "{early}");
    assert!(late < early, "{late} {early}");
}

#[test]
fn faust_programs_that_wasp_cannot_play_are_refused_with_the_reason() {
    let runtime = Runtime::new().unwrap();
    let four = faust("four", "process = _,_,_,_;");
    let m = runtime
        .compile(Source::from_bytes(four))
        .unwrap_err()
        .to_string();
    assert!(m.contains("4 inputs and 4 outputs"), "{m}");
    let double = faust_with("d", "process = *(0.5);", &["-double"]);
    let e = runtime.compile(Source::from_bytes(double)).unwrap_err();
    assert!(matches!(e, LoadError::Abi(_)), "{e:?}");
    assert!(e.to_string().contains("-double"), "{e}");
}

/// A new version of the same program (a constant changed) carries its state and fades in over
/// the old one, so the sound goes on; another program crossfades from fresh.
#[test]
fn a_new_version_of_a_faust_program_keeps_the_sound_going() {
    let v1 = faust(
        "v1",
        "import(\"stdfaust.lib\"); process = fi.lowpass(2, 500) : *(hslider(\"g\", 1, 0, 2, 0.01));",
    );
    let v2 = faust(
        "v2",
        "import(\"stdfaust.lib\"); process = fi.lowpass(2, 2000) : *(hslider(\"g\", 1, 0, 2, 0.01));",
    );
    let other = faust(
        "other",
        "import(\"stdfaust.lib\"); process = fi.highpass(1, 300);",
    );
    let mut rig = Rig::new();
    rig.load_source(Source::from_bytes(v1), Crossfade::Never);
    rig.run(&vec![0.5f32; 48 * BLOCK]);
    let generation = rig.load_source(Source::from_bytes(v2), Crossfade::Auto);
    // The filter memory came along, and the old version fades out over the new: on a steady
    // input the output goes on at its level, with no restart from zero (a fresh low-pass
    // starts at 0 and climbs) and no jump from the new coefficients meeting the old memory.
    let out = rig.run(&vec![0.5f32; 24 * BLOCK]);
    assert_eq!(rig.audio.generation(), Some(generation));
    let worst = out.iter().fold(0.0f32, |m, y| m.max((y - 0.5).abs()));
    eprintln!("largest deviation from the steady level across the swap: {worst}");
    assert!(worst < 0.05, "{worst}");
    let report = rig.report(generation);
    assert!(report.crossfade, "{report:?}");
    assert!(
        !report.carried.is_empty() && report.dropped.is_empty() && report.reset.is_empty(),
        "{report:?}"
    );
    let generation = rig.load_source(Source::from_bytes(other), Crossfade::Auto);
    rig.run(&vec![0.5f32; BLOCK]);
    let report = rig.report(generation);
    assert!(report.crossfade && report.carried.is_empty(), "{report:?}");
}

/// A `.dsp` file dropped on Wasp is compiled by the Faust compiler on the worker; the module
/// it plays keeps the compiled `.wasm` as its source (a saved project reopens without the
/// compiler), and a mistake in the file comes back with the compiler's message and line.
#[test]
fn a_dsp_file_is_compiled_on_the_worker_with_its_errors_shown() {
    let dir = std::env::temp_dir().join(format!("wasp-dsp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("lowpass.dsp");
    std::fs::copy(root().join("examples/faust/lowpass.dsp"), &good).unwrap();
    let rig = Rig::new();
    match rig.controller().load_file_blocking(&good) {
        wasp::LoadOutcome::Prepared(info) => {
            assert_eq!(info.name, "Faust low-pass");
        }
        other => panic!("{other:?}"),
    }
    let runtime = Runtime::new().unwrap();
    let patch = runtime.compile(Source::from_file(&good).unwrap()).unwrap();
    assert!(patch.source().bytes.starts_with(b"\0asm"));
    assert_eq!(patch.source().path.as_deref(), Some(good.as_path()));

    let bad = dir.join("typo.dsp");
    std::fs::write(
        &bad,
        "import(\"stdfaust.lib\");\n\nprocess = fi.lowpas(2, 1000);\n",
    )
    .unwrap();
    match rig.controller().load_file_blocking(&bad) {
        wasp::LoadOutcome::Failed(e) => {
            let m = e.to_string();
            assert!(m.contains("typo.dsp") && m.contains(": 3 :"), "{m}");
            assert!(
                !m.contains(&std::env::temp_dir().display().to_string()),
                "{m}"
            );
        }
        other => panic!("{other:?}"),
    }
}

/// A reverb's tail rings on across a swap to a new version with a longer decay: the state
/// (its delay lines) is carried, where a fresh start would fall silent.
#[test]
fn a_reverb_tail_survives_a_swap_to_a_new_version() {
    let version = |t60: u32| {
        faust(
            &format!("zita{t60}"),
            &format!(
                "import(\"stdfaust.lib\"); process = re.zita_rev1_stereo(20, 200, 6000, {t60}, {t60}, 48000);"
            ),
        )
    };
    let stereo = |rig: &mut Rig, blocks: usize, impulse: bool| {
        let (mut l, mut r) = (vec![0.0f32; blocks * BLOCK], vec![0.0f32; blocks * BLOCK]);
        if impulse {
            l[0] = 1.0;
            r[0] = 1.0;
        }
        for (lc, rc) in l.chunks_mut(BLOCK).zip(r.chunks_mut(BLOCK)) {
            rig.audio.process(&mut [lc, rc]);
        }
        l
    };
    // The tail's level in the last 0.2 s before the swap, and from 0.1 to 0.2 s after it.
    let (v2, v3) = (version(2), version(3));
    let swap = |crossfade: Crossfade| {
        let mut rig = Rig::new();
        rig.load_source(Source::from_bytes(v2.clone()), Crossfade::Never);
        stereo(&mut rig, 1, false);
        let before = stereo(&mut rig, 94, true);
        let generation = rig.load_source(Source::from_bytes(v3.clone()), crossfade);
        let after = stereo(&mut rig, 38, false);
        assert_eq!(rig.audio.generation(), Some(generation));
        let report = rig.report(generation);
        (
            rms(&before[before.len() - 9600..]),
            rms(&after[4800..9600]),
            report,
        )
    };
    let (tail, carried, report) = swap(Crossfade::Auto);
    assert!(!report.carried.is_empty() && report.crossfade, "{report:?}");
    let (_, fresh, report) = swap(Crossfade::Always);
    assert!(report.carried.is_empty(), "{report:?}");
    eprintln!(
        "reverb tail before the swap {tail:.2e}; after it {carried:.2e} carried, {fresh:.2e} fresh"
    );
    assert!(tail > 1e-6, "{tail}");
    assert!(carried > 0.2 * tail, "{carried} vs {tail}");
    assert!(fresh < 0.01 * tail, "{fresh} vs {tail}");
}

fn zero_crossings(x: &[f32]) -> usize {
    x.windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count()
}

/// A Faust voice (`freq`, `gain`, `gate` controls) is played with notes: the key sets the
/// pitch, the velocity the level, the release closes the gate; the voice controls are not
/// parameters, the others are.
#[test]
fn a_faust_synth_plays_the_notes_it_is_given() {
    use wasp::ModuleEvent;
    let mut rig = Rig::new();
    rig.load_source(Source::from_bytes(example("synth.dsp")), Crossfade::Never);
    let silence = vec![0.0f32; 12_000];
    assert!(rig.run(&silence).iter().all(|x| x.abs() < 1e-6), "silent");
    let meta = rig.audio.metadata().unwrap().clone();
    let ids: Vec<&str> = meta.params.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["cutoff"]);
    for (key, hz) in [(69u8, 440.0f32), (81, 880.0), (60, 261.63)] {
        rig.audio
            .send_event(ModuleEvent::NoteOn { key, velocity: 0.8 });
        let out = rig.run(&vec![0.0f32; SR as usize]);
        // Over the last half second: the note's pitch, at about the velocity's level (a
        // first-order low-pass at 6 kHz takes a little off).
        let tail = &out[out.len() / 2..];
        let measured = zero_crossings(tail) as f32;
        assert!(
            (measured - hz).abs() <= 3.0,
            "key {key}: {measured} crossings, want {hz}"
        );
        let peak = tail.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!((0.7..=0.81).contains(&peak), "key {key}: peak {peak}");
        rig.audio
            .send_event(ModuleEvent::NoteOff { key, velocity: 0.0 });
        // `si.smoo` closes the gate with a 21 ms time constant: silent a second later.
        let released = rig.run(&vec![0.0f32; SR as usize]);
        let rest = released[released.len() / 2..]
            .iter()
            .fold(0.0f32, |m, x| m.max(x.abs()));
        assert!(rest < 1e-5, "key {key} released: {rest}");
    }
}
