//! The shared pool of load workers (issue 10): one instance's slow load does not hold up
//! another's. In a file of its own, because it needs the process's pool to itself: a test
//! loading modules beside it would take the pool thread the quick load is meant to get.

use std::time::Duration;

use wasp::{LoadOutcome, Preparer, ProcessConfig, Runtime, Source};

#[path = "common/mod.rs"]
mod common;

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
        std::thread::sleep(Duration::from_millis(50));
        scope.spawn(|| {
            let source = Source::from_bytes(common::example_bytes("gain.wat"));
            let outcome = quick.controller().load_blocking(source);
            assert!(matches!(outcome, LoadOutcome::Prepared(_)), "{outcome:?}");
            order.lock().unwrap().push("quick");
        });
    });
    assert_eq!(*order.lock().unwrap(), ["quick", "slow"]);
}
