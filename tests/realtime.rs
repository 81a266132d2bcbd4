//! Issue 8, item 4: the time budget holds for a real-time audio thread on a busy machine. An
//! audio thread at `SCHED_FIFO` runs a module that loops forever while every core is kept busy
//! by other real-time threads; the block must still come back within its budget (plus a little
//! scheduling slack), which needs the epoch ticker to run at all, and never to wait for a
//! thread of ordinary priority (a worker taking a guard) that the load keeps off the CPU.
//!
//! Linux only, and only where the test may use real-time scheduling (as root, or with
//! `CAP_SYS_NICE` / an rtprio limit); elsewhere it says so and passes.

#![cfg(target_os = "linux")]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::rig::{Rig, BLOCK};
use wasp::{Crossfade, Processed, Source, TrapKind, MIN_BLOCK_BUDGET};

/// Moves the calling thread to `SCHED_FIFO` at `priority`; false if not allowed.
fn fifo(priority: i32) -> bool {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: plain libc call on the calling thread with a valid parameter.
    unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) == 0 }
}

/// Pins the calling thread to one CPU.
fn pin(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

#[test]
fn a_runaway_module_is_stopped_in_time_on_a_busy_real_time_machine() {
    if !std::thread::spawn(|| fifo(10)).join().unwrap() {
        eprintln!("SKIPPED: real-time scheduling is not allowed here");
        return;
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let runtime = wasp::Runtime::with_options(wasp::RuntimeOptions::default()).unwrap();
    let (preparer, audio) = wasp::Preparer::spawn(runtime.clone()).unwrap();
    let configured = preparer.controller().configure(wasp::ProcessConfig {
        sample_rate: common::rig::SR,
        max_frames: BLOCK as u32,
    });
    assert!(matches!(configured, wasp::LoadOutcome::Prepared(_)));
    let mut rig = Rig { preparer, audio };
    assert!(
        wasp::Runtime::new().unwrap().realtime_ticker(),
        "the epoch ticker gets real-time priority where the test does"
    );
    rig.load_source(
        Source::from_bytes(
            &br#"(module (func (export "dsp") (param f32) (result f32)
                   (loop $l (br $l)) (local.get 0)))"#[..],
        ),
        Crossfade::Never,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    // A real-time spinner on every CPU but the audio thread's, at a lower priority than the
    // audio thread: the ticker has nowhere to run unless it outranks them.
    let hogs: Vec<_> = (1..cpus)
        .map(|cpu| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                pin(cpu);
                fifo(60);
                // Bounded, whatever happens to the test thread.
                while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(3) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    // A thread of ordinary priority taking and dropping guards on the runtime all along, as a
    // worker loading modules does: the real-time hogs keep it off the CPU at any point, with a
    // guard half taken. The ticker must not wait for it.
    let churn = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(3) {
                drop(runtime.busy(true));
            }
        })
    };
    let audio = std::thread::spawn(move || {
        pin(0);
        fifo(70);
        let mut block = vec![0.1f32; BLOCK];
        let started = Instant::now();
        let result = rig.audio.process(&mut [&mut block]);
        (result, started.elapsed(), rig)
    });
    let (result, elapsed, rig) = audio.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    for hog in hogs {
        hog.join().unwrap();
    }
    churn.join().unwrap();
    drop(rig);
    eprintln!(
        "time to silence of a runaway module at SCHED_FIFO on {cpus} busy CPUs: {elapsed:?} \
         (budget {MIN_BLOCK_BUDGET:?})"
    );
    match result {
        Processed::Faulted(f) | Processed::RolledBack(f) => assert_eq!(f.kind, TrapKind::Timeout),
        other => panic!("the runaway module was not stopped: {other:?}"),
    }
    // Linux lets ordinary threads run for 50 ms of every second under real-time load, so a
    // ticker without real-time priority would take up to about a second here.
    assert!(
        elapsed < MIN_BLOCK_BUDGET * 10,
        "{elapsed:?}: the deadline did not hold"
    );
}
