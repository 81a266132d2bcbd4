//! What many idle Wasp instances cost a DAW: threads, CPU and memory, measured on the built
//! plugin loaded through a CLAP host (clack-host) in this process.
//!
//! `cargo bench --bench instances` (or `WASP_INSTANCES=32 cargo bench --bench instances`).
//! Prints measurements; asserts nothing about time.

#[path = "../tests/common/clap_host.rs"]
mod clap_host;
#[path = "../tests/common/state.rs"]
mod state;

use std::time::{Duration, Instant};

use clap_host::TestHost;

fn proc_status(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// User plus system CPU time of this process, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: plain libc query.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / hz
}

fn wasp_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .flatten()
                .filter(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|n| n.starts_with("wasp-"))
                })
                .count()
        })
        .unwrap_or(0)
}

fn main() {
    let n: usize = std::env::var("WASP_INSTANCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let library = clap_host::cdylib_path("wasp");
    let module = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/modules/onepole.wat"
    ))
    .unwrap();
    let state = state::state_with(&module, &[], serde_json::json!({}));

    let rss_before = proc_status("VmRSS:");
    let started = Instant::now();
    let mut hosts: Vec<TestHost> = (0..n)
        .map(|_| {
            let mut host = TestHost::new(&library, "dev.wasp-audio.wasp").unwrap();
            host.load_state(&state).unwrap();
            host.activate(48_000.0, 512);
            host.process_stereo(&[0.0; 512], &[0.0; 512]);
            host
        })
        .collect();
    let setup = started.elapsed();
    let rss_after = proc_status("VmRSS:");
    println!(
        "{n} instances of the one-pole, activated: set up in {:.0} ms, {} Wasp threads, \
         resident memory +{:.1} MiB ({:.2} MiB per instance)",
        setup.as_secs_f64() * 1e3,
        wasp_threads(),
        (rss_after - rss_before) as f64 / 1024.0,
        (rss_after - rss_before) as f64 / 1024.0 / n as f64,
    );

    // Idle while activated (a stopped transport in a host that does not call process).
    std::thread::sleep(Duration::from_millis(500));
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    std::thread::sleep(Duration::from_secs(5));
    let share = (cpu_seconds() - cpu) / wall.elapsed().as_secs_f64();
    println!("activated, idle: {:.2} % of one core", share * 100.0);

    for host in &mut hosts {
        host.deactivate();
    }
    std::thread::sleep(Duration::from_millis(500));
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    std::thread::sleep(Duration::from_secs(5));
    let share = (cpu_seconds() - cpu) / wall.elapsed().as_secs_f64();
    println!("deactivated: {:.2} % of one core", share * 100.0);
    drop(hosts);
}
