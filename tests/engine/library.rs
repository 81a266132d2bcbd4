//! The built-in library (issue 11): every module loads, declares parameters and state, stays
//! finite and bounded on a loud input at every parameter's extremes, and does what its
//! parameters say. And each shipped binary in `library/built/` is what its source builds to
//! today: it sounds exactly like a fresh build (Faust, clang and Rust's wasm32 target).

use std::path::Path;
use std::process::Command;

use crate::common::*;
use wasp::{DspInstance, Endless, ModuleEvent, ProcessConfig, Runtime, Source, Tail, LIBRARY};

const SR: f32 = 48_000.0;
const BLOCK: usize = 512;

fn runtime() -> Runtime {
    shared_runtime()
}

/// A module of the library, playing, with its parameters at their defaults (as Wasp sets
/// them after loading).
struct Module {
    inst: DspInstance,
}

impl Module {
    fn from_bytes(runtime: &Runtime, bytes: &[u8]) -> Self {
        let patch = runtime.compile(Source::from_bytes(bytes.to_vec())).unwrap();
        let mut inst = DspInstance::new(
            runtime,
            &patch,
            ProcessConfig {
                sample_rate: SR,
                max_frames: BLOCK as u32,
            },
        )
        .unwrap();
        let defaults: Vec<f32> = patch.metadata().params.iter().map(|p| p.default).collect();
        for (i, value) in defaults.into_iter().enumerate() {
            inst.set_param(i, value).unwrap();
        }
        Self { inst }
    }

    fn new(name: &str) -> Self {
        let builtin = wasp::builtin(name).unwrap_or_else(|| panic!("no built-in {name}"));
        Self::from_bytes(&runtime(), builtin.bytes)
    }

    fn set(&mut self, id: &str, value: f32) {
        let index = self
            .inst
            .patch()
            .metadata()
            .params
            .iter()
            .position(|p| p.id == id)
            .unwrap_or_else(|| panic!("no parameter {id}"));
        self.inst.set_param(index, value).unwrap();
    }

    fn note(&mut self, event: ModuleEvent) {
        self.inst.event(event).unwrap();
    }

    /// Runs a stereo signal through in host blocks.
    fn run(&mut self, left: &[f32], right: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let (mut l, mut r) = (left.to_vec(), right.to_vec());
        for (lc, rc) in l.chunks_mut(BLOCK).zip(r.chunks_mut(BLOCK)) {
            self.inst.process(&mut [lc, rc]).unwrap();
        }
        (l, r)
    }

    /// Runs the same signal on both sides.
    fn run_mono(&mut self, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
        self.run(x, x)
    }
}

fn db(x: f32) -> f32 {
    20.0 * x.max(1e-12).log10()
}

fn impulse(len: usize) -> Vec<f32> {
    let mut x = vec![0.0; len];
    x[0] = 1.0;
    x
}

/// Deterministic white noise in [-amp, amp].
fn noise(len: usize, amp: f32, seed: u32) -> Vec<f32> {
    let mut state = seed.max(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            amp * (state as f32 / u32::MAX as f32 * 2.0 - 1.0)
        })
        .collect()
}

/// Samples after the first `skip`.
fn tail(x: &[f32], skip: usize) -> &[f32] {
    &x[skip..]
}

#[test]
fn every_builtin_loads_with_parameters_state_and_its_name() {
    let rt = runtime();
    assert!(LIBRARY.len() >= 12, "{} modules", LIBRARY.len());
    for builtin in LIBRARY {
        let patch = rt
            .compile(Source::from_bytes(builtin.bytes.to_vec()))
            .unwrap_or_else(|e| panic!("{}: {e}", builtin.name));
        let meta = patch.metadata();
        assert_eq!(meta.name, builtin.name);
        assert!(
            !meta.params.is_empty(),
            "{} has no parameters",
            builtin.name
        );
        assert!(
            !meta.state.is_empty() || !meta.globals.is_empty(),
            "{} declares no state, so a swap would lose its sound",
            builtin.name
        );
        assert!(
            root().join("library").join(builtin.source).exists(),
            "{}: no source at library/{}",
            builtin.name,
            builtin.source
        );
    }
    let instruments: Vec<_> = LIBRARY.iter().filter(|b| b.instrument).collect();
    assert_eq!(instruments.len(), 1);
}

/// Every module, with every parameter at its minimum and then at its maximum, on loud noise
/// plus a full-scale low sine (and notes for the instrument): the output stays finite and
/// within +24 dBFS.
#[test]
fn every_builtin_stays_finite_and_bounded_at_its_extremes() {
    let rt = runtime();
    let len = SR as usize;
    let mut input_l = noise(len, 1.0, 7);
    let low = sine(55.0, SR, 1.0, 0, len);
    for (x, s) in input_l.iter_mut().zip(&low) {
        *x = 0.5 * *x + 0.5 * s;
    }
    let input_r = noise(len, 1.0, 11);
    for builtin in LIBRARY {
        let params = wasp::builtin(builtin.name)
            .map(|b| {
                rt.compile(Source::from_bytes(b.bytes.to_vec()))
                    .unwrap()
                    .metadata()
                    .params
                    .clone()
            })
            .unwrap();
        for extreme in ["min", "max"] {
            let mut m = Module::from_bytes(&rt, builtin.bytes);
            for p in &params {
                m.set(&p.id, if extreme == "min" { p.min } else { p.max });
            }
            if builtin.instrument {
                for key in [36, 48, 60, 64, 67, 72, 76, 79, 84, 96] {
                    m.note(ModuleEvent::NoteOn { key, velocity: 1.0 });
                }
            }
            let (l, r) = m.run(&input_l, &input_r);
            let peak = l.iter().chain(&r).fold(0.0f32, |a, x| a.max(x.abs()));
            assert!(
                l.iter().chain(&r).all(|x| x.is_finite()) && peak <= 16.0,
                "{} with parameters at their {extreme}: peak {peak}",
                builtin.name
            );
        }
    }
}

/// Hosts learn how long the ringing modules ring, so renders do not cut their tails.
#[test]
fn ringing_modules_declare_their_tails() {
    let rt = runtime();
    let tail = |name: &str| {
        let bytes = wasp::builtin(name).unwrap().bytes.to_vec();
        rt.compile(Source::from_bytes(bytes))
            .unwrap()
            .metadata()
            .tail
    };
    assert_eq!(tail("Plate reverb"), Tail::Seconds(30.0));
    assert_eq!(tail("Chorus"), Tail::Seconds(0.1));
    assert_eq!(tail("Tape delay"), Tail::Endless(Endless::Infinite));
}

#[test]
fn tape_delay_echoes_at_its_time_and_each_repeat_is_quieter() {
    let mut m = Module::new("Tape delay");
    m.set("wow", 0.0);
    m.set("mix", 100.0);
    m.set("time", 100.0);
    // Let the time glide to 100 ms before the impulse.
    m.run_mono(&vec![0.0; SR as usize]);
    let (l, _) = m.run_mono(&impulse(SR as usize / 2));
    let first = (4000..6000).max_by(|&a, &b| l[a].abs().total_cmp(&l[b].abs()));
    assert_eq!(first, Some(4800), "first echo at 100 ms");
    let second = l[9000..10600].iter().fold(0.0f32, |a, x| a.max(x.abs()));
    assert!(
        second > 0.05 && second < l[4800].abs(),
        "second echo {second} vs first {}",
        l[4800]
    );
    // No feedback: one echo only.
    let mut m = Module::new("Tape delay");
    m.set("wow", 0.0);
    m.set("mix", 100.0);
    m.set("time", 100.0);
    m.set("feedback", 0.0);
    m.run_mono(&vec![0.0; SR as usize]);
    let (l, _) = m.run_mono(&impulse(SR as usize / 2));
    assert!(rms(&l[9000..]) < 1e-6, "{}", rms(&l[9000..]));
}

#[test]
fn chorus_is_dry_at_zero_mix_and_moves_the_sound_at_half() {
    let x = sine(440.0, SR, 0.5, 0, SR as usize);
    let mut dry = Module::new("Chorus");
    dry.set("mix", 0.0);
    let (l, r) = dry.run_mono(&x);
    assert!(max_diff(tail(&l, 4800), tail(&x, 4800)) < 1e-3);
    assert!(max_diff(tail(&r, 4800), tail(&x, 4800)) < 1e-3);
    let mut wet = Module::new("Chorus");
    let (l, r) = wet.run_mono(&x);
    // The two sides sweep a quarter cycle apart, so they differ; the sum still carries the
    // tone at about its level.
    assert!(max_diff(tail(&l, 4800), tail(&r, 4800)) > 0.05);
    let level = db(rms(tail(&l, 4800)) / rms(tail(&x, 4800)));
    assert!(level.abs() < 6.0, "chorus level {level} dB");
}

#[test]
fn phaser_is_dry_at_zero_depth_and_sweeps_notches_at_full_depth() {
    let x = sine(800.0, SR, 0.5, 0, 4 * SR as usize);
    let mut dry = Module::new("Phaser");
    dry.set("depth", 0.0);
    let (l, _) = dry.run_mono(&x);
    assert!(max_diff(tail(&l, 48_000), tail(&x, 48_000)) < 1e-3);
    // At full depth, a notch passes over the tone as the sweep goes by: its level dips well
    // below the input's somewhere in the sweep, and comes back.
    let mut wet = Module::new("Phaser");
    wet.set("speed", 1.0);
    let (l, _) = wet.run_mono(&x);
    let windows: Vec<f32> = l[48_000..]
        .chunks(960)
        .map(|w| db(rms(w) / (0.5 / 2f32.sqrt())))
        .collect();
    let lowest = windows.iter().cloned().fold(f32::MAX, f32::min);
    let highest = windows.iter().cloned().fold(f32::MIN, f32::max);
    assert!(
        lowest < -12.0 && highest > -3.0,
        "phaser sweep from {lowest} to {highest} dB"
    );
}

#[test]
fn plate_rings_on_longer_at_a_longer_decay() {
    let energy_after = |decay: f32| {
        let mut m = Module::new("Plate reverb");
        m.set("decay", decay);
        m.set("mix", 100.0);
        // Let the smoothed settings arrive before the impulse.
        m.run_mono(&vec![0.0; 4800]);
        let (l, r) = m.run(&impulse(2 * SR as usize), &impulse(2 * SR as usize));
        // From 0.5 s to 1.5 s after the impulse.
        rms(&l[24_000..72_000]) + rms(&r[24_000..72_000])
    };
    let short = energy_after(10.0);
    let long = energy_after(90.0);
    assert!(long > 1e-4, "no tail: {long}");
    assert!(long > 10.0 * short, "decay 90 %: {long}, 10 %: {short}");
}

#[test]
fn compressor_reduces_gain_above_threshold_and_makeup_restores_it() {
    // Steady-state gain in dB for a 1 kHz sine at `level_db`.
    let gain = |level_db: f32, makeup: f32| {
        let mut m = Module::new("Compressor");
        m.set("threshold", -20.0);
        m.set("ratio", 4.0);
        m.set("makeup", makeup);
        let amp = 10f32.powf(level_db / 20.0);
        let x = sine(1000.0, SR, amp, 0, SR as usize);
        let (l, _) = m.run_mono(&x);
        db(rms(tail(&l, 24_000)) / rms(tail(&x, 24_000)))
    };
    // Well below the threshold: untouched.
    let quiet = gain(-50.0, 0.0);
    assert!(quiet.abs() < 0.5, "quiet sine changed by {quiet} dB");
    // 20 dB above it at 4:1 comes out 15 dB lower (peak detection on a sine gives a little
    // more than its RMS level, hence the tolerance).
    let loud = gain(0.0, 0.0);
    assert!(
        (-18.0..-12.0).contains(&loud),
        "loud sine changed by {loud} dB"
    );
    let made_up = gain(0.0, 12.0);
    assert!((made_up - loud - 12.0).abs() < 0.5, "{made_up} vs {loud}");
}

#[test]
fn eq_is_flat_at_zero_gain_and_each_band_moves_its_own_range() {
    let level = |set: &[(&str, f32)], freq: f32| {
        let mut m = Module::new("3-band EQ");
        for (id, v) in set {
            m.set(id, *v);
        }
        let x = sine(freq, SR, 0.25, 0, SR as usize);
        let (l, _) = m.run_mono(&x);
        db(rms(tail(&l, 24_000)) / rms(tail(&x, 24_000)))
    };
    for freq in [50.0, 1000.0, 12_000.0] {
        let flat = level(&[], freq);
        assert!(flat.abs() < 0.1, "flat EQ at {freq} Hz: {flat} dB");
    }
    let low = level(&[("low_gain", 12.0)], 40.0);
    assert!((low - 12.0).abs() < 1.0, "low shelf +12 dB at 40 Hz: {low}");
    let low_at_high = level(&[("low_gain", 12.0)], 10_000.0);
    assert!(
        low_at_high.abs() < 0.5,
        "low shelf at 10 kHz: {low_at_high}"
    );
    let mid = level(&[("mid_gain", -12.0)], 1000.0);
    assert!((mid + 12.0).abs() < 0.5, "bell -12 dB at 1 kHz: {mid}");
    let high = level(&[("high_gain", 9.0)], 16_000.0);
    assert!(
        (high - 9.0).abs() < 1.0,
        "high shelf +9 dB at 16 kHz: {high}"
    );
}

#[test]
fn saturator_adds_harmonics_under_drive_and_stays_near_its_level() {
    // Quiet enough that the curve is nearly straight without drive.
    let x = sine(200.0, SR, 0.1, 0, SR as usize);
    // The third harmonic's amplitude, by correlation over whole cycles.
    let harmonic = |y: &[f32], k: f32| {
        let n = 24_000;
        let (mut s, mut c) = (0.0f64, 0.0f64);
        for (i, v) in y[..n].iter().enumerate() {
            let w = std::f64::consts::TAU * 200.0 * k as f64 * i as f64 / SR as f64;
            s += *v as f64 * w.sin();
            c += *v as f64 * w.cos();
        }
        (2.0 * (s * s + c * c).sqrt() / n as f64) as f32
    };
    let mut soft = Module::new("Saturator");
    soft.set("drive", 0.0);
    soft.set("output", 0.0);
    let (clean, _) = soft.run_mono(&x);
    let mut hot = Module::new("Saturator");
    hot.set("drive", 30.0);
    hot.set("output", 0.0);
    let (driven, _) = hot.run_mono(&x);
    let t = 24_000;
    let clean3 = harmonic(tail(&clean, t), 3.0) / harmonic(tail(&clean, t), 1.0);
    let driven3 = harmonic(tail(&driven, t), 3.0) / harmonic(tail(&driven, t), 1.0);
    assert!(
        driven3 > 0.1 && driven3 > 10.0 * clean3,
        "third harmonic: {driven3} driven, {clean3} clean"
    );
    let peak = tail(&driven, t).iter().fold(0.0f32, |a, v| a.max(v.abs()));
    // tanh stays within ±1; the DC blocker after it tilts the flat tops of a hard-driven wave
    // a little (about 10 % at 200 Hz).
    assert!(
        peak <= 1.2,
        "the driven output stays near its level: {peak}"
    );
}

#[test]
fn bitcrusher_holds_values_and_quantizes_to_its_bits() {
    let x: Vec<f32> = (0..4800).map(|n| (n as f32 / 4800.0) * 1.6 - 0.8).collect();
    let mut m = Module::new("Bitcrusher");
    m.set("bits", 3.0);
    m.set("downsample", 4.0);
    let (l, _) = m.run_mono(&x);
    // Each value is held for four samples...
    for block in l.chunks(4) {
        assert!(block.iter().all(|v| *v == block[0]), "{block:?}");
    }
    // ...and is a multiple of the 3-bit step, 2 / 8.
    for v in &l {
        let steps = v / 0.25;
        assert!((steps - steps.round()).abs() < 1e-5, "{v}");
    }
    let mut dry = Module::new("Bitcrusher");
    dry.set("mix", 0.0);
    assert_eq!(dry.run_mono(&x).0, x);
}

#[test]
fn autopan_moves_the_sound_between_the_sides_at_steady_power() {
    let ones = vec![1.0f32; 2 * SR as usize];
    let mut m = Module::new("Auto-pan");
    m.set("rate", 2.0);
    m.set("depth", 100.0);
    let (l, r) = m.run_mono(&ones);
    // Equal power: left² + right² stays at 2 (unity in the middle on each side).
    for (a, b) in l.iter().zip(&r).skip(4800) {
        assert!((a * a + b * b - 2.0).abs() < 0.05, "{a}, {b}");
    }
    let (lmin, lmax) = (
        l.iter().cloned().fold(f32::MAX, f32::min),
        l.iter().cloned().fold(f32::MIN, f32::max),
    );
    assert!(lmin < 0.1 && lmax > 1.3, "left swings {lmin}..{lmax}");
    // In tremolo mode both sides move together, once the switch has glided over (it is
    // smoothed, so it does not click: about a second to settle within 1e-4).
    let mut t = Module::new("Auto-pan");
    t.set("tremolo", 1.0);
    let (l, r) = t.run_mono(&ones);
    assert!(max_diff(tail(&l, 48_000), tail(&r, 48_000)) < 1e-4);
    assert!(l.iter().cloned().fold(f32::MAX, f32::min) < 0.3);
}

#[test]
fn gate_shuts_quiet_signals_and_passes_loud_ones() {
    let level = |amp: f32| {
        let mut m = Module::new("Gate");
        m.set("threshold", -40.0);
        let x = sine(500.0, SR, amp, 0, SR as usize);
        let (l, _) = m.run_mono(&x);
        db(rms(tail(&l, 24_000)) / rms(tail(&x, 24_000)))
    };
    let quiet = level(0.001);
    let loud = level(0.3);
    assert!(quiet < -60.0, "a -60 dB sine through the gate: {quiet} dB");
    assert!(
        loud.abs() < 0.5,
        "a -10 dB sine through the gate: {loud} dB"
    );
}

#[test]
fn utility_sets_gain_width_polarity_and_mono() {
    let left = sine(300.0, SR, 0.5, 0, 9600);
    let right = sine(700.0, SR, 0.3, 0, 9600);
    let settled = 4800;
    let mut m = Module::new("Utility");
    let (l, r) = m.run(&left, &right);
    assert!(max_diff(&l, &left) < 1e-6 && max_diff(&r, &right) < 1e-6);

    let mut m = Module::new("Utility");
    m.set("gain", -6.0);
    let (l, _) = m.run(&left, &right);
    let g = db(rms(tail(&l, settled)) / rms(tail(&left, settled)));
    assert!((g + 6.0).abs() < 0.01, "{g}");

    let mut m = Module::new("Utility");
    m.set("width", 0.0);
    let (l, r) = m.run(&left, &right);
    assert!(max_diff(tail(&l, settled), tail(&r, settled)) < 1e-5);

    let mut m = Module::new("Utility");
    m.set("flip_left", 1.0);
    let (l, r) = m.run(&left, &right);
    let flipped: Vec<f32> = left.iter().map(|x| -x).collect();
    assert!(max_diff(tail(&l, settled), tail(&flipped, settled)) < 1e-5);
    assert!(max_diff(tail(&r, settled), tail(&right, settled)) < 1e-5);

    let mut m = Module::new("Utility");
    m.set("mono", 1.0);
    let (l, r) = m.run(&left, &right);
    assert!(max_diff(tail(&l, settled), tail(&r, settled)) < 1e-5);
}

#[test]
fn poly_synth_plays_chords_and_falls_silent_after_release() {
    let mut m = Module::new("Poly synth");
    let silence = vec![0.0f32; SR as usize / 2];
    let (l, _) = m.run_mono(&silence);
    assert_eq!(rms(&l), 0.0, "no sound before a note");
    for key in [60, 64, 67] {
        m.note(ModuleEvent::NoteOn { key, velocity: 0.8 });
    }
    let (l, r) = m.run_mono(&silence);
    assert_eq!(l, r);
    let chord = rms(tail(&l, 4800));
    assert!(chord > 0.01, "chord level {chord}");
    // Three notes are louder than one.
    let mut one = Module::new("Poly synth");
    one.note(ModuleEvent::NoteOn {
        key: 60,
        velocity: 0.8,
    });
    let (single, _) = one.run_mono(&silence);
    assert!(chord > 1.3 * rms(tail(&single, 4800)));
    // Middle C's fundamental is there: the signal correlates with a 261.6 Hz sine.
    let c4 = 440.0 * 2f32.powf(-9.0 / 12.0);
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for (i, v) in single[4800..].iter().enumerate() {
        let w = std::f64::consts::TAU * c4 as f64 * i as f64 / SR as f64;
        s += *v as f64 * w.sin();
        c += *v as f64 * w.cos();
    }
    let fundamental = 2.0 * (s * s + c * c).sqrt() / (single.len() - 4800) as f64;
    assert!(
        fundamental as f32 > 0.5 * rms(tail(&single, 4800)),
        "{fundamental}"
    );
    for key in [60, 64, 67] {
        m.note(ModuleEvent::NoteOff { key, velocity: 0.0 });
    }
    // The default release is 400 ms: after a second, silence.
    m.run_mono(&vec![0.0; SR as usize]);
    let (l, _) = m.run_mono(&silence);
    assert!(rms(&l) < 1e-6, "{}", rms(&l));
}

/// Each shipped binary is what its source builds to today, so `library/built/` cannot fall
/// behind `library/`: the same name, channels, parameters, latency and tail, and the same sound
/// as a fresh build (Faust, clang and Rust's wasm32 target, as CI has them).
///
/// C and Rust builds must sound bit for bit the same. Faust builds are held to 1e-4: the Faust
/// compiler orders some operations by where its data lands on the heap, which depends on the
/// length of the source's path, so the same `.dsp` built in another folder rounds a few
/// operations differently: built from folders with 40 path lengths, the phaser differed by
/// 9.2e-7 at most and the other seven not at all (CI's checkout path once hit it). A changed
/// source moves the sound far more: the phaser's feedback default 1 % higher, by 5e-3.
#[test]
fn shipped_binaries_match_their_sources() {
    let rt = runtime();
    let out = std::env::temp_dir().join(format!("wasp-library-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let left = noise(4 * BLOCK + 77, 0.5, 3);
    let right = noise(4 * BLOCK + 77, 0.5, 5);
    for builtin in LIBRARY {
        let source = root().join("library").join(builtin.source);
        let fresh = build(&source, &out);
        let mut shipped = Module::from_bytes(&rt, builtin.bytes);
        let mut rebuilt = Module::from_bytes(&rt, &fresh);
        let stale = format!(
            "library/built/ holds an old build of {}: run library/build.sh",
            builtin.source
        );
        let (old, new) = (
            shipped.inst.patch().metadata(),
            rebuilt.inst.patch().metadata(),
        );
        assert_eq!(
            (
                &old.name,
                &old.channels,
                &old.params,
                old.latency,
                &old.tail
            ),
            (
                &new.name,
                &new.channels,
                &new.params,
                new.latency,
                &new.tail
            ),
            "{stale}"
        );
        if builtin.instrument {
            for m in [&mut shipped, &mut rebuilt] {
                m.note(ModuleEvent::NoteOn {
                    key: 57,
                    velocity: 0.9,
                });
            }
        }
        let (old, new) = (shipped.run(&left, &right), rebuilt.run(&left, &right));
        if builtin.source.ends_with(".dsp") {
            let diff = max_diff(&old.0, &new.0).max(max_diff(&old.1, &new.1));
            assert!(diff <= 1e-4, "{stale} (the sound differs by {diff})");
            assert!(rms(&old.0) > 1e-3, "{} is silent", builtin.source);
        } else {
            assert_eq!(old, new, "{stale}");
        }
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// Builds one library source into a module's bytes.
fn build(source: &Path, out: &Path) -> Vec<u8> {
    let ext = source.extension().and_then(|e| e.to_str());
    let name = source.file_stem().unwrap().to_str().unwrap();
    match ext {
        Some("dsp") => {
            let wasm = out.join(format!("{name}.wasm"));
            run_ok(
                // The options library/build.sh uses.
                Command::new("faust")
                    .args(["-lang", "wasm", "-ftz", "2", "-o"])
                    .arg(&wasm)
                    .arg(source),
            );
            std::fs::read(wasm).unwrap()
        }
        Some("c") => clang_wasm(source),
        _ => std::fs::read(rust_crate_wasm(source)).unwrap(),
    }
}

/// Declared state keeps the sound across a live swap: echoes in flight in the tape delay's
/// rings (the Rust SDK's `ring` state) come out of the new instance on time, where a fresh
/// start would be silent.
#[test]
fn tape_delay_echoes_survive_a_swap_to_a_new_instance() {
    use crate::common::rig::{Rig, SR as RIG_SR};
    use wasp::Crossfade;

    let bytes = wasp::builtin("Tape delay").unwrap().bytes;
    let mut rig = Rig::new();
    rig.load_source(Source::from_bytes(bytes), Crossfade::Auto);
    // Settle (the time glides to its default), then an impulse and 100 ms of silence.
    rig.run(&vec![0.0; RIG_SR as usize / 2]);
    let mut input = vec![0.0f32; RIG_SR as usize / 10];
    input[0] = 1.0;
    rig.run(&input);
    // The same module again, as a rebuilt file would arrive: the rings are carried.
    let generation = rig.load_source(Source::from_bytes(bytes), Crossfade::Auto);
    let after = rig.run(&vec![0.0; RIG_SR as usize / 2]);
    let report = rig.report(generation);
    for ring in ["line_l", "line_r"] {
        assert!(report.carried.iter().any(|c| c == ring), "{report:?}");
    }
    // The first echo is due 350 ms after the impulse: 250 ms into `after`.
    let due = (0.25 * RIG_SR) as usize;
    let echo = after[due - 480..due + 480]
        .iter()
        .fold(0.0f32, |a, x| a.max(x.abs()));
    let before = after[..due - 960]
        .iter()
        .fold(0.0f32, |a, x| a.max(x.abs()));
    // At most the mix, 0.35; the wow's fractional delay spreads the impulse over two
    // samples, so the peak may be half that. A fresh instance would have nothing here.
    assert!(echo > 0.15, "the echo after the swap: {echo}");
    assert!(before < 1e-3, "nothing before it: {before}");
}
