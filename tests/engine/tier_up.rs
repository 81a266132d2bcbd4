//! The tier-up: a module starts on the interpreter and moves to compiled code mid-stream,
//! carrying its whole instance, without a seam.

use std::time::{Duration, Instant};

use wasp::{Crossfade, LoadOptions, RuntimeOptions, Source, Tier, Tiering};

use crate::common::rig::{Rig, BLOCK};
use crate::common::root;

fn options(tiering: Tiering) -> RuntimeOptions {
    RuntimeOptions {
        min_block_budget: Duration::from_millis(500),
        tiering,
        ..RuntimeOptions::default()
    }
}

/// A test signal with something in every band: a chirp, a pulse train and a little noise.
fn signal(len: usize) -> Vec<f32> {
    let mut seed = 0x1234_5678u32;
    (0..len)
        .map(|n| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
            let t = n as f32 / 48_000.0;
            let chirp = (std::f32::consts::TAU * (100.0 + 2000.0 * t) * t).sin();
            let pulse = if n % 4800 < 64 { 0.8 } else { 0.0 };
            0.4 * chirp + pulse + 0.05 * noise
        })
        .collect()
}

fn library(name: &str) -> Source {
    Source::from_file(root().join("library/built").join(name)).unwrap()
}

/// Each module, rendered with a tier-up somewhere in the middle, is the same sample for
/// sample as its render on compiled code alone: a Faust reverb (state in a memory the module
/// exports), a Rust utility and a C bitcrusher (state also in globals they do not export, such
/// as their stack pointers).
#[test]
fn a_tier_up_mid_render_is_sample_exact() {
    for name in ["plate.wasm", "utility.wasm", "bitcrusher.wasm"] {
        let mut tiered = Rig::with_options(options(Tiering::TierUp));
        // Like a host, the audio thread runs all along: blocks of silence until the module
        // is committed (its first block, silence too), then the signal. The interpreter's
        // instance is committed at once, long before the compiler is done, even for a module
        // this small.
        let input = signal(BLOCK * 20_000);
        let shared = tiered.audio.shared().clone();
        tiered.run(&[0.0; BLOCK]);
        let default = shared.committed();
        tiered.controller().load_with(
            library(name),
            LoadOptions {
                crossfade: Crossfade::Never,
            },
        );
        let waiting = Instant::now();
        while shared.committed() == default {
            assert!(
                waiting.elapsed() < Duration::from_secs(30),
                "{name}: never prepared"
            );
            tiered.run(&[0.0; BLOCK]);
        }
        let info = tiered.controller().committed_module().unwrap();
        assert_eq!(info.tier, Some(Tier::Interpreter), "{name} starts at once");
        assert_eq!(shared.playing_tier(), Some(Tier::Interpreter), "{name}");
        let tier_ups = shared.tier_ups();
        let mut out = Vec::new();
        let started = Instant::now();
        let mut blocks_before = None;
        for (i, block) in input.chunks(BLOCK).enumerate() {
            match blocks_before {
                None if shared.playing_tier() == Some(Tier::Jit) => blocks_before = Some(i),
                None => {
                    assert!(
                        started.elapsed() < Duration::from_secs(60),
                        "{name}: no tier-up"
                    );
                }
                Some(n) if i >= 2 * n.max(100) => break,
                Some(_) => {}
            }
            out.extend(tiered.run(block));
        }
        let blocks_before = blocks_before.expect("no tier-up");
        assert_eq!(shared.tier_ups(), tier_ups + 1, "{name}");
        eprintln!("{name}: {blocks_before} blocks on the interpreter");
        // The worker says so in the module's report once it sees the switch.
        let reported = Instant::now();
        let committed = loop {
            let committed = tiered.controller().committed_module().unwrap();
            if committed.tier == Some(Tier::Jit) {
                break committed;
            }
            assert!(
                reported.elapsed() < Duration::from_secs(10),
                "{name}: {committed:?}"
            );
            std::thread::sleep(Duration::from_millis(1));
        };
        assert_eq!(
            committed.generation, info.generation,
            "{name}: the same instance"
        );
        assert!(out.iter().any(|&x| x.abs() > 0.01), "{name} is silent");

        let mut compiled = Rig::with_options(options(Tiering::Jit));
        compiled.load_source(library(name), Crossfade::Never);
        compiled.run(&[0.0; BLOCK]);
        let reference = compiled.run(&input[..out.len()]);
        let first = out.iter().zip(&reference).position(|(a, b)| a != b);
        assert_eq!(
            first, None,
            "{name}: differs from frame {first:?} on; the switch came after block {blocks_before}"
        );
    }
}

/// A module swapped in while the compiler works is not replaced by the old module's compiled
/// instance when that is ready: a tier-up only ever follows the instance it was made for.
#[test]
fn a_newer_module_cancels_the_tier_up() {
    let mut rig = Rig::with_options(options(Tiering::TierUp));
    rig.load_source(library("plate.wasm"), Crossfade::Never);
    rig.run(&signal(BLOCK));
    let generation = rig.load_source(library("autopan.wasm"), Crossfade::Never);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        rig.run(&signal(BLOCK));
        let playing = rig.controller().committed_module().unwrap();
        if playing.tier == Some(Tier::Jit) {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let playing = rig.controller().committed_module().unwrap();
    assert_eq!(playing.generation, generation);
    assert_eq!(playing.name, "Auto-pan");
    assert_eq!(playing.tier, Some(Tier::Jit));
}

/// A runtime that plays every module on the interpreter, with the plugin's budgets.
fn interpreter() -> wasp::Runtime {
    wasp::Runtime::with_options(RuntimeOptions {
        tiering: Tiering::Interpreter,
        ..RuntimeOptions::default()
    })
    .unwrap()
}

/// Runs a 64-frame block of a module that loops for ever counting its turns at byte 0, and
/// returns the count it reached when its fuel ran out.
fn turns_until_stopped(runtime: &wasp::Runtime, patch: &wasp::Patch) -> u32 {
    let mut instance =
        wasp::DspInstance::new(runtime, patch, wasp::ProcessConfig::default()).unwrap();
    assert_eq!(instance.tier(), Tier::Interpreter);
    let mut block = vec![0.0f32; 64];
    let fault = instance.process(&mut [&mut block]).unwrap_err();
    assert_eq!(fault.kind, wasp::TrapKind::Timeout);
    u32::from_le_bytes(instance.read_memory(0, 4).unwrap().try_into().unwrap())
}

/// With the interpreter alone, a runaway module is stopped by its fuel: the same block, at the
/// same instruction, on every run.
#[test]
fn fuel_stops_a_runaway_module_at_the_same_point_every_time() {
    // Counts its loop turns in memory until it is stopped.
    let wat = br#"(module (memory (export "memory") 1)
      (func (export "dsp") (param f32) (result f32)
        (loop $l
          (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
          (br $l))
        (local.get 0)))"#;
    let runtime = interpreter();
    let patch = runtime.compile(Source::from_bytes(&wat[..])).unwrap();
    let turns: Vec<u32> = (0..3)
        .map(|_| turns_until_stopped(&runtime, &patch))
        .collect();
    assert!(turns[0] > 1000, "{turns:?}");
    assert!(turns.iter().all(|&t| t == turns[0]), "{turns:?}");
    // The block's budget (its 20 ms floor) in fuel, a few units per turn.
    let fuel = wasp::fuel_for(wasp::MIN_BLOCK_BUDGET);
    assert!(
        u64::from(turns[0]) * 2 < fuel && fuel < u64::from(turns[0]) * 20,
        "{turns:?}"
    );
}

/// A module whose `wasp_set_param(i, v)` turns a loop `v` times, or for ever if `v` is
/// negative, counting the turns at byte 0 of its memory.
fn turner(params: usize) -> Source {
    let specs: Vec<String> = (0..params)
        .map(|i| {
            format!(r#"{{\"id\":\"p{i}\",\"name\":\"P{i}\",\"min\":-1,\"max\":1e9,\"default\":0}}"#)
        })
        .collect();
    let wat = format!(
        r#"(module
  (@custom "wasp" "{{\"name\":\"turner\",\"params\":[{}]}}")
  (memory (export "memory") 1)
  (func (export "wasp_set_param") (param $i i32) (param $v f32)
    (local $n i32)
    (local.set $n (i32.trunc_sat_f32_s (local.get $v)))
    (block $done (loop $l
      (br_if $done (i32.eq (local.get $n) (i32.const 0)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
      (br $l))))
  (func (export "dsp") (param $x f32) (result f32) (local.get $x)))"#,
        specs.join(",")
    );
    Source::from_bytes(wat.into_bytes())
}

/// On the interpreter, the calls of one block share the block's fuel, as they share its time
/// on compiled code: twelve parameter changes that each take a sixth of it stop the module,
/// where one does not. Offline, the budget (and so the fuel) is that of a render, and they
/// all run.
#[test]
fn fuel_is_shared_by_a_block_and_generous_offline() {
    // Turns that a block's fuel pays for: run for ever, see where the fuel ran out.
    let runtime = interpreter();
    let patch = runtime.compile(turner(1)).unwrap();
    let config = wasp::ProcessConfig {
        sample_rate: 48_000.0,
        max_frames: BLOCK as u32,
    };
    let mut instance = wasp::DspInstance::new(&runtime, &patch, config).unwrap();
    let fault = instance.set_param(0, -1.0).unwrap_err();
    assert_eq!(fault.kind, wasp::TrapKind::Timeout);
    let memory = instance.read_memory(0, 4).unwrap();
    let per_block = u32::from_le_bytes(memory.try_into().unwrap()) as f32;
    assert!(per_block > 1e5, "{per_block}");

    let mut rig = Rig::with_options(RuntimeOptions {
        tiering: Tiering::Interpreter,
        ..RuntimeOptions::default()
    });
    rig.load_source(turner(12), Crossfade::Never);
    rig.run(&[0.0; BLOCK]);
    let sixth = (per_block / 6.0).round();
    assert!(rig.controller().set_param(0, sixth));
    let (_, results) = rig.run_raw(&[0.0; BLOCK]);
    assert_eq!(
        results,
        vec![wasp::Processed::Ran],
        "a sixth of the fuel fits"
    );

    rig.audio.set_offline(true);
    for index in 0..12 {
        assert!(rig.controller().set_param(index, sixth + index as f32));
    }
    let (_, results) = rig.run_raw(&[0.0; BLOCK]);
    assert_eq!(
        results,
        vec![wasp::Processed::Ran],
        "offline, twice a block's fuel is fine"
    );

    rig.audio.set_offline(false);
    for index in 0..12 {
        assert!(rig
            .controller()
            .set_param(index, sixth + 20.0 + index as f32));
    }
    let (_, results) = rig.run_raw(&[0.0; BLOCK]);
    match results[0] {
        wasp::Processed::Faulted(f) | wasp::Processed::RolledBack(f) => {
            assert_eq!(f.kind, wasp::TrapKind::Timeout, "{f}");
            assert_eq!(f.export, "wasp_set_param", "{f}");
        }
        other => panic!("twelve sixths of a block's fuel must be stopped, got {other:?}"),
    }
}

/// The runtime is a setting of each instance: switched while a module plays, the module is
/// compiled for the new runtime and takes over like new audio settings do, its declared
/// state carried (the one-pole's filter memory: no step in the output), and what is loaded
/// afterwards runs there too.
#[test]
fn the_runtime_setting_moves_the_playing_module_and_applies_to_the_next() {
    let mut rig = Rig::with_options(options(Tiering::Jit));
    rig.load_source(
        Source::from_file(crate::common::example("onepole.wat")).unwrap(),
        Crossfade::Never,
    );
    let shared = rig.audio.shared().clone();
    let dc = [0.5f32; BLOCK];
    rig.run(&dc);
    assert_eq!(shared.playing_tier(), Some(Tier::Jit));
    let before = rig.run(&dc);

    rig.controller().set_tiering(Tiering::Interpreter);
    assert_eq!(rig.controller().tiering(), Tiering::Interpreter);
    let started = Instant::now();
    let mut after = Vec::new();
    while shared.playing_tier() != Some(Tier::Interpreter) {
        assert!(started.elapsed() < Duration::from_secs(30), "never moved");
        after = rig.run(&dc);
        std::thread::sleep(Duration::from_millis(1));
    }
    after.extend(rig.run(&dc));
    // The filter settles towards 0.5 without starting over from 0.
    let last = *before.last().unwrap();
    assert!(
        after.iter().all(|&y| y >= last - 1e-6 && y <= 0.5),
        "{last} {after:?}"
    );

    rig.load_source(library("autopan.wasm"), Crossfade::Never);
    rig.run(&dc);
    assert_eq!(shared.playing_tier(), Some(Tier::Interpreter));
    let playing = rig.controller().committed_module().unwrap();
    assert_eq!(playing.tier, Some(Tier::Interpreter));
}

/// On the interpreter, a call to a math import pays fuel for the host's work: a loop of sines
/// is stopped after as many calls as its fuel buys at that price, not after millions of
/// nearly free calls that would take many times its time budget.
#[test]
fn math_calls_pay_for_their_work_in_fuel() {
    let wat = br#"(module (import "env" "sinf" (func $sin (param f32) (result f32)))
      (memory (export "memory") 1)
      (func (export "dsp") (param f32) (result f32)
        (loop $l
          (drop (call $sin (f32.const 0.5)))
          (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
          (br $l))
        (local.get 0)))"#;
    let runtime = interpreter();
    let patch = runtime.compile(Source::from_bytes(&wat[..])).unwrap();
    let calls = turns_until_stopped(&runtime, &patch);
    // 64 frames get the 20 ms floor; each turn costs the call's 40 and a few instructions.
    let fuel = wasp::fuel_for(wasp::MIN_BLOCK_BUDGET);
    assert!(u64::from(calls) < fuel / 40, "{calls} calls");
    assert!(u64::from(calls) > fuel / 80, "{calls} calls");
}

/// A tier-up replaces only the running instance: the module before it stays the rollback
/// target, so a module that crashes soon after its load still goes back to it, compiled or
/// not.
#[test]
fn a_tier_up_keeps_the_module_before_as_the_rollback_target() {
    // Halves its input; crashes once its "crash" parameter is set.
    let crasher = br#"(module
      (@custom "wasp" "{\"name\":\"crasher\",\"params\":[{\"id\":\"crash\",\"name\":\"Crash\",\"min\":0,\"max\":1,\"default\":0}]}")
      (global $crash (mut f32) (f32.const 0))
      (func (export "wasp_set_param") (param i32) (param $v f32) (global.set $crash (local.get $v)))
      (func (export "dsp") (param $x f32) (result f32)
        (if (f32.gt (global.get $crash) (f32.const 0.5)) (then unreachable))
        (f32.mul (local.get $x) (f32.const 0.5))))"#;
    let mut rig = Rig::with_options(options(Tiering::TierUp));
    rig.load_source(library("utility.wasm"), Crossfade::Never);
    rig.run(&[0.0; BLOCK]);
    let shared = rig.audio.shared().clone();
    let before = shared.committed();
    let generation = rig.load_source(Source::from_bytes(&crasher[..]), Crossfade::Never);
    let started = Instant::now();
    while !(shared.committed() == generation && shared.playing_tier() == Some(Tier::Jit)) {
        assert!(started.elapsed() < Duration::from_secs(30), "no tier-up");
        rig.run(&[0.25; BLOCK]);
        // Blocks at about real-time pace: the rollback window is a second of audio.
        std::thread::sleep(Duration::from_millis(4));
    }
    assert!(rig.run(&[0.25; BLOCK]).iter().all(|&y| y == 0.125));
    assert!(rig.controller().set_param(0, 1.0));
    let (_, results) = rig.run_raw(&[0.25; BLOCK]);
    assert!(
        matches!(results[0], wasp::Processed::RolledBack(_)),
        "{results:?}"
    );
    assert_eq!(
        shared.fault_counters().last_rollback,
        Some((generation, before)),
        "back to the module before"
    );
}
