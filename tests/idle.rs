//! Idle Wasp instances in one process (issue 10, first part), loaded through a CLAP host:
//! one epoch ticker for all of them, and workers that sleep while nothing is in flight. The
//! only test in this file, because it counts the process's threads.

#[path = "common/clap_host.rs"]
mod clap_host;
mod common;
#[path = "common/state.rs"]
mod state;

use std::time::Duration;

use clap_host::{cdylib_path, TestHost};

/// The threads of this process, by name, with their voluntary context switches so far.
fn threads() -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let field = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_owned())
                .unwrap_or_default()
        };
        let switches = field("voluntary_ctxt_switches:").parse().unwrap_or(0);
        out.push((field("Name:"), switches));
    }
    out
}

fn named<'a>(threads: &'a [(String, u64)], name: &str) -> Vec<&'a (String, u64)> {
    threads.iter().filter(|(n, _)| n == name).collect()
}

#[test]
fn idle_instances_share_the_ticker_and_their_workers_sleep() {
    const N: usize = 6;
    let mut hosts: Vec<TestHost> = (0..N)
        .map(|_| TestHost::new(cdylib_path("wasp"), "dev.wasp-audio.wasp").unwrap())
        .collect();
    for host in &mut hosts {
        host.load_state(&state::state_with(
            &common::example_bytes("onepole.wat"),
            &[],
            serde_json::json!({}),
        ))
        .unwrap();
        host.activate(48_000.0, 512);
        host.process_stereo(&[0.0; 512], &[0.0; 512]);
    }
    let all = threads();
    assert_eq!(named(&all, "wasp-epoch").len(), 1, "one ticker: {all:?}");
    // One pool of workers for all instances: at most 4 threads, and no more than cores.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let workers = named(&all, "wasp-worker").len();
    assert!(
        workers >= 1 && workers <= cores.clamp(1, 4),
        "{workers} workers: {all:?}"
    );
    // Idle: activated, nothing in flight. Count the workers' wake-ups over a second.
    std::thread::sleep(Duration::from_millis(200));
    let before: u64 = named(&threads(), "wasp-worker").iter().map(|t| t.1).sum();
    std::thread::sleep(Duration::from_secs(1));
    let after: u64 = named(&threads(), "wasp-worker").iter().map(|t| t.1).sum();
    println!("{N} idle workers woke {} times in a second", after - before);
    // Before this change each worker polled every 5 ms: about 200 wake-ups a second each.
    assert!(
        after - before <= N as u64,
        "idle workers woke {} times in a second",
        after - before
    );

    // Activated, but the host does not call process: the shared ticker only watches for audio
    // (every 20 ms). While audio runs, it ticks every millisecond.
    let ticker = |threads: &[(String, u64)]| named(threads, "wasp-epoch")[0].1;
    let watching_before = ticker(&threads());
    std::thread::sleep(Duration::from_millis(500));
    let watching = ticker(&threads()) - watching_before;
    let active_before = ticker(&threads());
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(500) {
        hosts[0].process_stereo(&[0.0; 512], &[0.0; 512]);
        std::thread::sleep(Duration::from_millis(5));
    }
    let active_after = ticker(&threads());

    // A module that loops forever, first entered after a quiet spell, is still stopped; also
    // in a block whose budget is longer than the ticker's quiet spell (8192 frames: about
    // 340 ms), because the ticker keeps ticking while the call runs.
    let runaway = br#"(module (func (export "dsp") (param f32) (result f32)
        (loop $l (br $l)) (local.get 0)))"#;
    for frames in [512, 8192] {
        hosts[1].activate(48_000.0, frames as u32);
        hosts[1]
            .load_state(&state::state_with(runaway, &[], serde_json::json!({})))
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let input = vec![0.5; frames];
        let (left, _) = hosts[1].process_stereo(&input, &input);
        assert!(
            left.iter().all(|x| *x == 0.0),
            "{frames} frames: stopped and silenced"
        );
    }

    // Deactivated, nothing needs the epoch: the shared ticker sleeps.
    for host in &mut hosts {
        host.deactivate();
    }
    std::thread::sleep(Duration::from_millis(100));
    let before = ticker(&threads());
    std::thread::sleep(Duration::from_secs(1));
    let after = ticker(&threads());
    println!(
        "ticker wake-ups: {watching} in 0.5 s with instances active but no audio, {} in 0.5 s \
         while one processes, {} in 1 s once all are deactivated",
        active_after - active_before,
        after - before
    );
    assert!(watching < 60, "it only watches while no audio runs");
    assert!(
        active_after - active_before > 80,
        "it ticks while audio runs"
    );
    assert!(after - before <= 2, "it sleeps when not needed");
    // Activated again, it ticks again, and modules are still policed.
    hosts[0].activate(48_000.0, 512);
    let before = ticker(&threads());
    std::thread::sleep(Duration::from_millis(200));
    // It ticks every 2.5 ms (an eighth of the 20 ms shortest budget) for the 100 ms after a
    // guard is taken, then watches for audio: about 40 wake-ups.
    assert!(ticker(&threads()) - before > 20);
    drop(hosts);
}
