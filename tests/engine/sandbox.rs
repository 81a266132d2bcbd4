//! The sandbox: every bad module in `tests/bad_modules/` gets its own clear error or is caught
//! while it runs, the good module keeps playing, the saved module is untouched, and a good
//! module loads afterwards. Also: time limits, stack limits, output policing, rollback.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::common::rig::{Rig, BLOCK, SR};
use crate::common::*;
use wasp::{
    Crossfade, FaultOutput, LoadOptions, LoadOutcome, Processed, Source, TrapKind, MODULE_SIZE_CAP,
    OUTPUT_CEILING,
};

fn bad(name: &str) -> PathBuf {
    root().join("tests/bad_modules").join(name)
}

/// A good module to have playing: halves the input.
fn gain() -> Source {
    Source::from_bytes(
        &br#"(module (@custom "wasp" "{\"name\":\"Half\"}")
               (func (export "dsp") (param f32) (result f32)
                 (f32.mul (local.get 0) (f32.const 0.5))))"#[..],
    )
}

fn ramp(n: usize) -> Vec<f32> {
    (0..n).map(|i| (i % 100) as f32 / 100.0 - 0.5).collect()
}

fn half(input: &[f32]) -> Vec<f32> {
    input.iter().map(|x| x * 0.5).collect()
}

/// A rig playing the good module, with its saved module recorded.
fn playing() -> (Rig, Option<Source>) {
    playing_on(Rig::new())
}

fn playing_on(mut rig: Rig) -> (Rig, Option<Source>) {
    rig.load_source(gain(), Crossfade::Never);
    let input = ramp(BLOCK);
    assert_eq!(rig.run(&input), half(&input));
    let saved = rig.controller().saved();
    assert!(saved.is_some());
    (rig, saved)
}

/// Checks that the good module still plays and is still the saved one, and that a good module
/// loads afterwards.
fn still_fine(rig: &mut Rig, saved: &Option<Source>) {
    let input = ramp(2 * BLOCK);
    assert_eq!(
        rig.run(&input),
        half(&input),
        "the good module keeps playing"
    );
    assert_eq!(
        &rig.controller().saved(),
        saved,
        "the saved module is untouched"
    );
    let other = Source::from_bytes(
        &br#"(module (func (export "dsp") (param f32) (result f32) (f32.const 0.25)))"#[..],
    );
    rig.load_source(other, Crossfade::Never);
    assert!(
        rig.run(&input).iter().all(|&y| y == 0.25),
        "a good module loads afterwards"
    );
}

/// Loads a bad file that must be refused; returns the message.
fn refused(name: &str) -> String {
    let (mut rig, saved) = playing();
    let outcome = rig.controller().load_file_blocking(bad(name));
    let LoadOutcome::Failed(err) = outcome else {
        panic!("{name} should be refused, got {outcome:?}");
    };
    let message = err.to_string();
    assert_eq!(
        rig.controller().status().last_error.as_deref(),
        Some(message.as_str()),
        "the error is reported"
    );
    still_fine(&mut rig, &saved);
    eprintln!("{name}: {message}");
    message
}

#[test]
fn files_that_are_not_modules() {
    assert!(refused("empty.wasm").contains("the file is empty"));
    assert!(refused("random.bin").contains("not a WebAssembly module"));
    let m = refused("truncated.wasm");
    assert!(m.contains("malformed WebAssembly binary at offset"), "{m}");
    let m = refused("syntax_error.wat");
    assert!(m.contains("WAT syntax error at line 4, column 6"), "{m}");
}

#[test]
fn modules_that_break_the_contract() {
    let m = refused("missing_dsp.wat");
    assert!(
        m.contains("no `dsp` export") && m.contains("process_sample"),
        "{m}"
    );
    let m = refused("wrong_dsp_signature.wat");
    assert!(m.contains("`dsp` has type (i32) -> i32"), "{m}");
    let m = refused("unknown_import.wat");
    assert!(m.contains("`env.printf`"), "{m}");
    let m = refused("wasi_import.wat");
    assert!(
        m.contains("`wasi_snapshot_preview1.fd_write`") && m.contains("WASI"),
        "{m}"
    );
    let m = refused("malformed_metadata.wat");
    assert!(m.contains("bad `wasp` metadata section"), "{m}");
    let m = refused("lying_metadata.wat");
    assert!(m.contains("declares 2 channels"), "{m}");
}

#[test]
fn modules_that_loop_while_loading_are_stopped() {
    let started = Instant::now();
    let m = refused("start_loops.wat");
    assert!(
        m.contains("`start function`") && m.contains("loops forever"),
        "{m}"
    );
    let m = refused("init_loops.wat");
    assert!(
        m.contains("`wasp_init`") && m.contains("loops forever"),
        "{m}"
    );
    eprintln!("two load-time loops stopped in {:?}", started.elapsed());
}

#[test]
fn modules_over_the_limits_are_refused_with_numbers() {
    let m = refused("memory_above_cap.wat");
    assert!(
        m.contains("asks for 128.0 MiB of memory") && m.contains("at most 64 MiB"),
        "{m}"
    );

    // A 20 MiB module: a valid module with a 20 MiB custom section, made here.
    let dir = std::env::temp_dir().join(format!("wasp-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.wasm");
    let mut bytes = std::fs::read(root().join("tests/bad_modules/truncated.wasm")).unwrap();
    bytes.truncate(8); // keep the header only
    let payload = vec![0u8; 20 << 20];
    bytes.push(0); // custom section
    let size = 1 + 3 + payload.len() as u32; // name length byte, "pad", payload
    let mut leb = size;
    loop {
        let byte = (leb & 0x7f) as u8;
        leb >>= 7;
        if leb == 0 {
            bytes.push(byte);
            break;
        }
        bytes.push(byte | 0x80);
    }
    bytes.extend_from_slice(&[3, b'p', b'a', b'd']);
    bytes.extend_from_slice(&payload);
    std::fs::write(&path, &bytes).unwrap();
    assert!(bytes.len() > MODULE_SIZE_CAP);
    let (mut rig, saved) = playing();
    let LoadOutcome::Failed(err) = rig.controller().load_file_blocking(&path) else {
        panic!("a 20 MiB module should be refused");
    };
    let m = err.to_string();
    assert!(m.contains("20.0 MiB") && m.contains("up to 16 MiB"), "{m}");
    still_fine(&mut rig, &saved);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 8, item 1: the caps bound the whole module, not each memory or table.
#[test]
fn memory_and_tables_are_capped_for_the_whole_module() {
    let m = refused("many_memories.wat");
    assert!(
        m.contains("declares 12 memories") && m.contains("at most 4"),
        "{m}"
    );
    let m = refused("memories_over_cap.wat");
    assert!(
        m.contains("3 memories ask for 96.0 MiB") && m.contains("at most 64 MiB"),
        "{m}"
    );
    // Growth in `wasp_init` stops at the module's total: the second memory may not grow.
    let m = refused("memories_grow_past_cap.wat");
    assert!(m.contains("crashed in `wasp_init`"), "{m}");
    let tables = Source::from_bytes(
        &br#"(module (table 6000 funcref) (table 6000 funcref)
               (func (export "dsp") (param f32) (result f32) (local.get 0)))"#[..],
    );
    let (rig, _) = playing();
    let LoadOutcome::Failed(e) = rig.controller().load_blocking(tables) else {
        panic!("12,000 table entries in two tables should be refused");
    };
    assert!(e.to_string().contains("12000 table entries"), "{e}");
}

/// Issue 8, item 1: one plugin holds at most two instances' worth of memory (the playing one
/// and the one kept for rollback); a third large module waits for the previous one to go.
#[test]
fn a_plugin_holds_at_most_two_instances_of_memory() {
    let big = |value: f32| {
        Source::from_bytes(
            format!(
                r#"(module (memory (export "memory") 900)
                     (func (export "dsp") (param f32) (result f32) (f32.const {value})))"#
            )
            .into_bytes(),
        )
    };
    let mut rig = Rig::new();
    rig.load_source(big(0.1), Crossfade::Never);
    rig.run(&ramp(BLOCK));
    // The second replaces the first, which stays for rollback: two instances of 56 MiB.
    rig.load_source(big(0.2), Crossfade::Never);
    rig.run(&ramp(BLOCK));
    let LoadOutcome::Failed(e) = rig.controller().load_blocking(big(0.3)) else {
        panic!("a third 56 MiB instance should not fit");
    };
    let m = e.to_string();
    assert!(
        m.contains("already holds") && m.contains("Try again"),
        "{m}"
    );
    // Once the rollback second is over, the first goes and the third fits.
    rig.run(&ramp(SR as usize + BLOCK));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match rig
            .controller()
            .load_blocking_with(big(0.3), LoadOptions::HARD)
        {
            LoadOutcome::Prepared(_) => break,
            other if Instant::now() > deadline => panic!("the third never fit: {other:?}"),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let out = rig.run(&ramp(BLOCK));
    assert!(out.iter().all(|x| (*x - 0.3).abs() < 1e-6));
}

/// Issue 8, item 5: the size is checked before the file is read, and a read that cannot know
/// the size beforehand stops past the cap.
#[test]
fn oversized_files_are_refused_before_they_are_read() {
    let dir = std::env::temp_dir().join(format!("wasp-sparse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("huge.wasm");
    // A sparse 8 GiB file: reading it whole would take seconds and 8 GiB of memory.
    std::fs::File::create(&path)
        .unwrap()
        .set_len(8 << 30)
        .unwrap();
    let (mut rig, saved) = playing();
    let LoadOutcome::Failed(e) = rig.controller().load_file_blocking(&path) else {
        panic!("an 8 GiB file should be refused");
    };
    assert!(e.to_string().contains("8192.0 MiB"), "{e}");
    // /dev/zero reports size 0 and never ends.
    let LoadOutcome::Failed(e) = rig.controller().load_file_blocking("/dev/zero") else {
        panic!("an endless file should be refused");
    };
    assert!(e.to_string().contains("more than 16 MiB"), "{e}");
    still_fine(&mut rig, &saved);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Loads a module that crashes while playing, within a second of being loaded: the engine
/// rolls back to the good module in the same block, and says so.
fn crashes_and_rolls_back(name: &str, kind: TrapKind) -> String {
    crashes_and_rolls_back_on(Rig::new(), name, kind)
}

fn crashes_and_rolls_back_on(rig: Rig, name: &str, kind: TrapKind) -> String {
    let (mut rig, saved) = playing_on(rig);
    let outcome = rig.controller().load_file_blocking(bad(name));
    assert!(matches!(outcome, LoadOutcome::Prepared(_)), "{outcome:?}");
    let input = ramp(8 * BLOCK);
    let started = Instant::now();
    let (out, results) = rig.run_raw(&input);
    let elapsed = started.elapsed();
    let rolled: Vec<_> = results
        .iter()
        .filter_map(|r| match r {
            Processed::RolledBack(fault) => Some(*fault),
            _ => None,
        })
        .collect();
    assert_eq!(rolled.len(), 1, "{name}: one rollback, got {results:?}");
    assert_eq!(rolled[0].kind, kind, "{name}");
    let counters = rig.audio.shared().fault_counters();
    assert_eq!((counters.faults, counters.rollbacks), (1, 1));
    // Every block is sound: the crashed block was re-processed by the good module.
    let crash_block = results
        .iter()
        .position(|r| matches!(r, Processed::RolledBack(_)))
        .unwrap();
    let after = crash_block * BLOCK;
    assert_eq!(
        &out[after..],
        &half(&input[after..]),
        "{name}: back to the good module"
    );

    // The worker notices, reports, and saves the good module again.
    let start = Instant::now();
    while !rig
        .controller()
        .status()
        .last_error
        .is_some_and(|e| e.contains("crashed within"))
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no rollback report"
        );
        rig.run(&ramp(BLOCK));
    }
    let status = rig.controller().status();
    let message = status.last_error.unwrap();
    assert!(message.contains("went back to \"Half\""), "{message}");
    assert!(status.last_fault.unwrap().contains(kind.describe()));
    assert_eq!(rig.controller().saved(), saved);
    still_fine(&mut rig, &saved);
    eprintln!("{name}: {message} (8 blocks took {elapsed:?})");
    message
}

#[test]
fn runaway_dsp_is_interrupted_and_rolled_back() {
    // With the plugin's own budget: twice the block, at least 20 ms.
    let m = crashes_and_rolls_back_on(Rig::strict(), "dsp_loops.wat", TrapKind::Timeout);
    assert!(m.contains("took too long"), "{m}");
}

#[test]
fn traps_while_playing_are_caught_and_rolled_back() {
    let m = crashes_and_rolls_back("unreachable_after_n.wat", TrapKind::Unreachable);
    assert!(m.contains("at frame"), "{m}");
    crashes_and_rolls_back("divide_by_zero.wat", TrapKind::DivideByZero);
    crashes_and_rolls_back("out_of_bounds.wat", TrapKind::OutOfBounds);
    crashes_and_rolls_back("recursion.wat", TrapKind::StackOverflow);
}

#[test]
fn crash_reports_the_export_kind_and_sample() {
    let (mut rig, _) = playing();
    rig.controller()
        .load_file_blocking(bad("unreachable_after_n.wat"));
    let (_, results) = rig.run_raw(&ramp(8 * BLOCK));
    let fault = results
        .iter()
        .find_map(|r| match r {
            Processed::RolledBack(f) => Some(*f),
            _ => None,
        })
        .unwrap();
    // 1000 samples run; sample 1001 traps: block 3 (frames 768..1024), frame 1000 - 768.
    assert_eq!(fault.export, "dsp");
    assert_eq!(fault.kind, TrapKind::Unreachable);
    assert_eq!(fault.frame, 1000 - 3 * BLOCK as u32);
}

/// A module that crashes after more than a second of audio: no rollback, the chosen fault
/// output plays.
fn late_crasher() -> Source {
    let n = SR as u32 + 10_000;
    Source::from_bytes(
        format!(
            r#"(module (global $n (mut i32) (i32.const 0))
             (func (export "dsp") (param $x f32) (result f32)
               (global.set $n (i32.add (global.get $n) (i32.const 1)))
               (if (i32.gt_u (global.get $n) (i32.const {n})) (then unreachable))
               (f32.mul (local.get $x) (f32.const 0.5))))"#
        )
        .into_bytes(),
    )
}

#[test]
fn late_crash_silences_or_passes_dry() {
    for output in [FaultOutput::Silence, FaultOutput::Dry] {
        let (mut rig, _) = playing();
        rig.audio.set_fault_output(output);
        rig.load_source(late_crasher(), Crossfade::Never);
        let input = ramp(300 * BLOCK);
        let (out, results) = rig.run_raw(&input);
        let first = results
            .iter()
            .position(|r| matches!(r, Processed::Faulted(_)))
            .expect("it crashes");
        assert!(first * BLOCK > SR as usize, "after the rollback window");
        assert!(!results
            .iter()
            .any(|r| matches!(r, Processed::RolledBack(_))));
        let after = &out[first * BLOCK..];
        match output {
            FaultOutput::Silence => assert!(after.iter().all(|&y| y == 0.0)),
            FaultOutput::Dry => assert_eq!(after, &input[first * BLOCK..]),
        }
        let status = rig.controller().status();
        assert!(status.last_fault.unwrap().contains("reached `unreachable`"));
    }
}

#[test]
fn memory_growth_is_refused_while_playing() {
    let (mut rig, _) = playing();
    rig.load_source(
        Source::from_file(bad("grow_in_dsp.wat")).unwrap(),
        Crossfade::Never,
    );
    rig.run(&ramp(BLOCK));
    let out = rig.run(&ramp(BLOCK));
    assert!(out.iter().all(|&y| y == 1.0), "memory stays at one page");
}

#[test]
fn bad_output_is_policed_and_counted() {
    let cases = [
        ("nan_output.wat", 0.0),
        ("huge_output.wat", OUTPUT_CEILING),
        ("denormal_output.wat", 0.0),
    ];
    for (name, expect) in cases {
        let (mut rig, _) = playing();
        rig.load_source(Source::from_file(bad(name)).unwrap(), Crossfade::Never);
        let out = rig.run(&ramp(4 * BLOCK));
        assert!(out.iter().all(|&y| y == expect), "{name}: {:?}", &out[..4]);
        let c = rig.audio.shared().fault_counters();
        let counted = match name {
            "nan_output.wat" => c.non_finite,
            "huge_output.wat" => c.clipped,
            _ => c.subnormal,
        };
        assert_eq!(counted, 4 * BLOCK as u64, "{name}");
        assert_eq!(c.faults, 0);
    }
}

#[test]
fn deep_recursion_on_a_small_audio_thread_stack_traps_cleanly() {
    // Hosts give audio threads smaller stacks than the main thread; 256 KiB is at the low end.
    let handle = std::thread::Builder::new()
        .name("small-stack-audio".into())
        .stack_size(256 << 10)
        .spawn(|| {
            let mut rig = Rig::new();
            let source = Source::from_file(bad("recursion.wat")).unwrap();
            rig.load_source(source, Crossfade::Never);
            let (_, results) = rig.run_raw(&ramp(BLOCK));
            results[0]
        })
        .unwrap();
    match handle.join().expect("the thread survives") {
        Processed::Faulted(fault) | Processed::RolledBack(fault) => {
            assert_eq!(fault.kind, TrapKind::StackOverflow)
        }
        other => panic!("expected a stack overflow trap, got {other:?}"),
    }
}
