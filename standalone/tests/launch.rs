//! The standalone application starts, opens its editor window and keeps running (on the dummy
//! audio backend, so the test needs no sound card), on a private Xvfb.

#[path = "../../tests/common/desktop.rs"]
mod desktop;
#[path = "../../tests/common/x11.rs"]
mod x11;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use desktop::Xvfb;

#[test]
fn opens_its_editor_window_and_runs_on_the_dummy_backend() {
    if !Xvfb::available() {
        eprintln!("SKIPPED: Xvfb is not installed (apt-get install xvfb libgl1-mesa-dri)");
        return;
    }
    let _server = Xvfb::start().expect("start Xvfb");
    let mut app = Command::new(env!("CARGO_BIN_EXE_wasp-standalone"))
        .args(["--backend", "dummy", "--period-size", "256"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wasp-standalone");

    let x = x11::X::connect().expect("connect to Xvfb");
    let root = x.root;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut found = None;
    while Instant::now() < deadline && found.is_none() {
        if let Ok(Some(status)) = app.try_wait() {
            let out = app.wait_with_output().unwrap();
            panic!(
                "wasp-standalone exited early ({status}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        found = x
            .children(root)
            .unwrap_or_default()
            .into_iter()
            .find(|&w| x.window_name(w).is_some_and(|n| n.contains("Wasp")));
        std::thread::sleep(Duration::from_millis(100));
    }
    let window = found.expect("a window titled Wasp appears");
    x.wait_viewable(window, Duration::from_secs(5)).unwrap();
    let frame = desktop::poll_frame(&x, window, Duration::from_secs(10));
    assert!(
        frame.distinct_colours() > 20,
        "the standalone editor drew only {} colours",
        frame.distinct_colours()
    );
    // Still running after drawing: the dummy backend drives `process` on its own thread.
    std::thread::sleep(Duration::from_millis(500));
    assert!(app.try_wait().unwrap().is_none(), "wasp-standalone stopped");
    let _ = app.kill();
    let _ = app.wait();
}

/// Issue 8, item 25: a backend that cannot start says why and what to try, instead of exiting
/// without a word. No JACK server runs on the test machines.
#[test]
fn a_backend_that_cannot_start_says_why_and_what_to_try() {
    let out = Command::new(env!("CARGO_BIN_EXE_wasp-standalone"))
        .args(["--backend", "jack"])
        .stdin(Stdio::null())
        .output()
        .expect("run wasp-standalone");
    if out.status.success() {
        eprintln!("SKIPPED: a JACK server is running here");
        return;
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Could not initialize the JACK backend"),
        "the reason is printed: {stderr}"
    );
    assert!(
        stderr.contains("jackd") && stderr.contains("--backend dummy"),
        "what to try is printed: {stderr}"
    );
}
