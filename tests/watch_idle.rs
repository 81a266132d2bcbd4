//! A watched file reloaded while no audio runs (the plugin deactivated, the shared epoch
//! ticker asleep) still loads under the load budget: a module that loops forever in
//! `wasp_init` is stopped, and the worker goes on serving requests. In a file of its own,
//! because it depends on the process's shared ticker being idle.

#[path = "common/clap_host.rs"]
mod clap_host;
mod common;
#[path = "common/state.rs"]
mod state;

use std::time::Duration;

use clap_host::{cdylib_path, TestHost};
use wasp::{SavedModule, Source};

#[test]
fn a_watched_reload_while_idle_is_still_policed() {
    let dir = std::env::temp_dir().join(format!("wasp-watch-idle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("module.wat");
    let gain = common::example_bytes("gain.wat");
    std::fs::write(&file, &gain).unwrap();
    let saved = SavedModule {
        path: Some(file.to_string_lossy().into_owned()),
        watch: true,
        ..SavedModule::from_source(&Source::from_bytes(gain.clone()))
    };
    let field = serde_json::to_string(&Some(saved)).unwrap();
    let watched =
        state::encode_state(&serde_json::json!({ "params": {}, "fields": { "module": field } }));

    let mut host = TestHost::new(cdylib_path("wasp"), "dev.wasp-audio.wasp").unwrap();
    host.activate(48_000.0, 512);
    host.load_state(&watched).unwrap();
    host.process_stereo(&[0.5; 512], &[0.5; 512]);
    host.deactivate();
    std::thread::sleep(Duration::from_millis(300));
    // Saved while nothing plays: the reload's `wasp_init` loops forever.
    std::fs::write(
        &file,
        br#"(module (func (export "wasp_init") (param f32 i32) (loop $l (br $l)))
             (func (export "dsp") (param f32) (result f32) (local.get 0)))"#,
    )
    .unwrap();
    // Past the settle time and the 2 s load budget.
    std::thread::sleep(Duration::from_millis(3500));
    // The worker still serves: another module restored now plays at the next activation.
    let quarter = br#"(module (func (export "dsp") (param $x f32) (result f32)
        (f32.mul (local.get $x) (f32.const 0.25))))"#;
    host.load_state(&state::state_with(quarter, &[], serde_json::json!({})))
        .unwrap();
    host.activate(48_000.0, 512);
    let (left, _) = host.process_stereo(&[0.5; 512], &[0.5; 512]);
    assert_eq!(
        left[511], 0.125,
        "the restored module plays after the runaway reload was stopped"
    );
    drop(host);
    let _ = std::fs::remove_dir_all(&dir);
}
