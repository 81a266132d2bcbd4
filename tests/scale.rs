//! Many instances in one process (issue 10, first part): one shared runtime and one compile
//! per module. `tests/idle.rs` counts threads and wake-ups in a process of its own.

mod common;

use wasp::{LoadOutcome, Preparer, ProcessConfig, Runtime, Source};

#[test]
fn instances_share_one_runtime_and_compile_a_module_once() {
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
    let module = common::example_bytes("onepole.wat");
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

/// Straight-line modules are proven to end every call quickly and run without epoch checks;
/// anything with a loop keeps them, and a runaway loop is still stopped.
#[test]
fn only_provably_short_modules_skip_epoch_checks() {
    let runtime = Runtime::new().unwrap();
    for (name, bounded) in [
        ("gain.wat", true),
        ("onepole.wat", true),
        ("volume.wat", true),
        ("synth.wat", false),
        ("tempo-delay.wat", false),
    ] {
        let patch = runtime
            .compile(Source::from_bytes(common::example_bytes(name)))
            .unwrap();
        assert_eq!(patch.bounded(), bounded, "{name}");
    }
}

/// Workers share a pool of threads, but one instance's slow load does not hold up another's:
/// while one module spends most of a second in `wasp_init`, another instance loads and
/// commits a module.
#[test]
fn a_slow_load_does_not_hold_up_another_instance() {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        eprintln!("SKIPPED: one core, so the pool has one thread");
        return;
    }
    let runtime = Runtime::new().unwrap();
    let config = ProcessConfig {
        sample_rate: 48_000.0,
        max_frames: 256,
    };
    let (slow, _) = Preparer::spawn(runtime.clone()).unwrap();
    let (quick, _) = Preparer::spawn(runtime).unwrap();
    for p in [&slow, &quick] {
        assert!(matches!(
            p.controller().configure(config),
            LoadOutcome::Prepared(_)
        ));
    }
    // About half a second of counting in `wasp_init` (well inside the 2 s load budget).
    let spin = br#"(module
      (func (export "wasp_init") (param f32 i32) (local $i i32)
        (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 300000000)))))
      (func (export "dsp") (param $x f32) (result f32) (local.get $x)))"#;
    let order = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let outcome = slow
                .controller()
                .load_blocking(Source::from_bytes(&spin[..]));
            assert!(matches!(outcome, LoadOutcome::Prepared(_)), "{outcome:?}");
            order.lock().unwrap().push("slow");
        });
        // Give the slow load a head start on a pool thread.
        std::thread::sleep(std::time::Duration::from_millis(50));
        scope.spawn(|| {
            let source = Source::from_bytes(common::example_bytes("gain.wat"));
            let outcome = quick.controller().load_blocking(source);
            assert!(matches!(outcome, LoadOutcome::Prepared(_)), "{outcome:?}");
            order.lock().unwrap().push("quick");
        });
    });
    assert_eq!(*order.lock().unwrap(), ["quick", "slow"]);
}
