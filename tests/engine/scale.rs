//! Many instances in one process (issue 10, first part): one shared runtime and one compile
//! per module. `tests/idle.rs` counts threads and wake-ups in a process of its own.

use std::time::{Duration, Instant};

use wasp::{
    DspInstance, LoadError, LoadOutcome, Preparer, ProcessConfig, Runtime, RuntimeOptions, Source,
    TrapKind, Watchdog,
};

#[test]
fn instances_share_one_runtime_and_compile_a_module_once() {
    if crate::common::jit_only("instances_share_one_runtime_and_compile_a_module_once") {
        return;
    }
    let a = Runtime::shared().unwrap();
    let b = Runtime::shared().unwrap();
    assert!(a.same(&b), "one runtime per process");
    let config = ProcessConfig {
        sample_rate: 48_000.0,
        max_frames: 256,
    };
    let preparers: Vec<Preparer> = (0..4)
        .map(|_| Preparer::spawn(Runtime::shared().unwrap()).unwrap().0)
        .collect();
    for p in &preparers {
        assert!(matches!(
            p.controller().configure(config),
            LoadOutcome::Prepared(_)
        ));
    }
    // Compiled, or loaded compiled from the disk cache of an earlier run: once either way.
    let before = a.compiles() + a.disk_loads();
    // Four instances load the same module at once, as when a project opens.
    let module = crate::common::example_bytes("onepole.wat");
    std::thread::scope(|scope| {
        for p in &preparers {
            let source = Source::from_bytes(module.clone());
            scope.spawn(move || {
                let outcome = p.controller().load_blocking(source);
                assert!(matches!(outcome, LoadOutcome::Prepared(_)), "{outcome:?}");
            });
        }
    });
    assert_eq!(
        a.compiles() + a.disk_loads() - before,
        1,
        "compiled once for four instances"
    );
    drop(preparers);
}

/// Straight-line modules are proven to end every call quickly and run without any check;
/// anything with a loop gets Wasp's stop checks (or epoch checks, where those are turned off).
#[test]
fn only_provably_short_modules_skip_interruption_checks() {
    if crate::common::jit_only("only_provably_short_modules_skip_interruption_checks") {
        return;
    }
    let runtime = Runtime::new().unwrap();
    let epochs = Runtime::with_options(RuntimeOptions {
        stop_checks: false,
        ..RuntimeOptions::default()
    })
    .unwrap();
    for (name, bounded) in [
        ("gain.wat", true),
        ("onepole.wat", true),
        ("volume.wat", true),
        ("onepole-block.wat", false),
        ("synth.wat", false),
        ("tempo-delay.wat", false),
    ] {
        let source = || Source::from_bytes(crate::common::example_bytes(name));
        let patch = runtime.compile(source()).unwrap();
        assert_eq!(patch.bounded(), bounded, "{name}");
        let (checked, epoch) = match bounded {
            true => (Watchdog::Proven, Watchdog::Proven),
            false => (Watchdog::StopChecks, Watchdog::Epochs),
        };
        assert_eq!(patch.watchdog(), checked, "{name}");
        assert_eq!(
            epochs.compile(source()).unwrap().watchdog(),
            epoch,
            "{name}"
        );
    }
}

/// Every way a module can run forever is stopped by stop checks as by epochs: a loop, mutual
/// recursion through tail calls (which never overflow the stack), calls through a table, a
/// call chain that doubles at every level (no loop, no recursion, 2^50 calls), a loop in
/// `wasp_process`; and while loading, a start function or a `wasp_init` that loops.
#[test]
fn every_way_of_running_forever_is_stopped() {
    // On the interpreter every module is stopped by its fuel, whatever the watchdog says.
    let jit = RuntimeOptions::default().tiering == wasp::Tiering::Jit;
    let config = ProcessConfig {
        sample_rate: 48_000.0,
        max_frames: 256,
    };
    let mut doubling = String::from("(module (func $f0 (result i32) (i32.const 1))\n");
    for i in 1..=50 {
        doubling += &format!(
            "(func $f{i} (result i32) (i32.add (call $f{p}) (call $f{p})))\n",
            p = i - 1
        );
    }
    doubling +=
        r#"(func (export "dsp") (param f32) (result f32) (drop (call $f50)) (local.get 0)))"#;
    let playing = [
        (
            "dsp loop",
            r#"(module (func (export "dsp") (param f32) (result f32)
                 (loop (br 0)) (local.get 0)))"#
                .to_owned(),
        ),
        (
            "tail recursion",
            r#"(module
                 (func $a (param f32) (result f32) (return_call $b (local.get 0)))
                 (func $b (param f32) (result f32) (return_call $a (local.get 0)))
                 (func (export "dsp") (param f32) (result f32) (call $a (local.get 0))))"#
                .to_owned(),
        ),
        (
            "table",
            r#"(module
                 (type $t (func (param f32) (result f32)))
                 (table 1 funcref) (elem (i32.const 0) $f)
                 (func $f (param f32) (result f32)
                   (return_call_indirect (type $t) (local.get 0) (i32.const 0)))
                 (func (export "dsp") (param f32) (result f32) (call $f (local.get 0))))"#
                .to_owned(),
        ),
        ("doubling", doubling),
        (
            "wasp_process loop",
            r#"(module (memory (export "memory") 1)
                 (global (export "wasp_in") i32 (i32.const 0))
                 (global (export "wasp_block") i32 (i32.const 1024))
                 (func (export "wasp_process") (param i32) (loop (br 0)))
                 (func (export "dsp") (param f32) (result f32) (local.get 0)))"#
                .to_owned(),
        ),
    ];
    let loading = [
        (
            "start function",
            r#"(module (func $s (loop (br 0))) (start $s)
                 (func (export "dsp") (param f32) (result f32) (local.get 0)))"#,
        ),
        (
            "wasp_init",
            r#"(module (func (export "wasp_init") (param f32 i32) (loop (br 0)))
                 (func (export "dsp") (param f32) (result f32) (local.get 0)))"#,
        ),
    ];
    for stop_checks in [true, false] {
        let runtime = Runtime::with_options(RuntimeOptions {
            stop_checks,
            ..RuntimeOptions::default()
        })
        .unwrap();
        let expected = if stop_checks {
            Watchdog::StopChecks
        } else {
            Watchdog::Epochs
        };
        for (what, wat) in &playing {
            let patch = runtime
                .compile(Source::from_bytes(wat.as_bytes().to_vec()))
                .unwrap();
            assert!(!jit || patch.watchdog() == expected, "{what}");
            let mut instance = DspInstance::new(&runtime, &patch, config).unwrap();
            let started = Instant::now();
            let mut block = vec![0.25f32; 256];
            let fault = instance.process(&mut [&mut block]).unwrap_err();
            let took = started.elapsed();
            assert_eq!(fault.kind, TrapKind::Timeout, "{what}: {fault:?}");
            // The block's budget is 20 ms; generous for a loaded machine.
            assert!(took < Duration::from_secs(5), "{what}: {took:?}");
            // Stopped for good: the next block is refused at once, without running code.
            assert!(instance.process(&mut [&mut block]).is_err());
        }
        for (export, wat) in loading {
            let patch = runtime
                .compile(Source::from_bytes(wat.as_bytes().to_vec()))
                .unwrap();
            assert!(!jit || patch.watchdog() == expected, "{export}");
            match DspInstance::new(&runtime, &patch, config) {
                Err(LoadError::Timeout { export: e, .. }) => assert_eq!(e, export),
                other => panic!("{export}: {:?}", other.err()),
            }
        }
    }
}

/// A healthy module with stop checks runs as it did without them, call after call, including
/// a start function that initialises its memory.
#[test]
fn stop_checks_leave_healthy_modules_alone() {
    if crate::common::jit_only("stop_checks_leave_healthy_modules_alone") {
        return;
    }
    let wat = r#"(module (memory (export "memory") 1)
        (func $s (i32.store (i32.const 0) (i32.const 3)))
        (start $s)
        (func (export "dsp") (param f32) (result f32)
          (local $i i32) (local $y f32)
          ;; y = x * (stored 3), summed in a loop of three to keep the check busy.
          (loop $l
            (local.set $y (f32.add (local.get $y) (local.get 0)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $l (i32.lt_u (local.get $i) (i32.load (i32.const 0)))))
          (local.get $y)))"#;
    let runtime = Runtime::new().unwrap();
    let patch = runtime
        .compile(Source::from_bytes(wat.as_bytes().to_vec()))
        .unwrap();
    assert_eq!(patch.watchdog(), Watchdog::StopChecks);
    let config = ProcessConfig {
        sample_rate: 48_000.0,
        max_frames: 64,
    };
    let mut instance = DspInstance::new(&runtime, &patch, config).unwrap();
    // Across many blocks and well past several ticker wake-ups, nothing is stopped.
    let started = Instant::now();
    let mut blocks = 0;
    while started.elapsed() < Duration::from_millis(100) || blocks < 100 {
        let mut block: Vec<f32> = (0..64).map(|i| i as f32 / 64.0).collect();
        instance.process(&mut [&mut block]).unwrap();
        for (i, y) in block.iter().enumerate() {
            assert_eq!(*y, 3.0 * (i as f32 / 64.0));
        }
        blocks += 1;
        std::thread::sleep(Duration::from_micros(500));
    }
}
