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
