//! WCLAPs (issue 12): CLAP plugins compiled to wasm32 load like modules, describe themselves,
//! process audio and events, and are contained when they misbehave.
//!
//! The main fixture is `examples/wclap/gain`, a Rust CLAP plugin built here for
//! wasm32-unknown-unknown; smaller hostile ones are WebAssembly text below.

use std::time::Duration;

use crate::common::rig::{Rig, SR as RIG_SR};
use crate::common::*;
use wasp::{
    Crossfade, DspInstance, LoadOutcome, ModuleEvent, ProcessConfig, Processed, Runtime, Source,
    Tail, TrapKind,
};

const SR: f32 = 48_000.0;
const BLOCK: usize = 512;

fn runtime() -> Runtime {
    shared_runtime()
}

/// The Rust gain WCLAP's bytes.
fn gain_wclap() -> Vec<u8> {
    std::fs::read(rust_crate_wasm(&root().join("examples/wclap/gain"))).unwrap()
}

fn instance(bytes: &[u8]) -> DspInstance {
    let rt = runtime();
    let patch = rt.compile(Source::from_bytes(bytes.to_vec())).unwrap();
    DspInstance::new(
        &rt,
        &patch,
        ProcessConfig {
            sample_rate: SR,
            max_frames: BLOCK as u32,
        },
    )
    .unwrap()
}

fn param(inst: &DspInstance, id: &str) -> usize {
    inst.patch()
        .metadata()
        .params
        .iter()
        .position(|p| p.id == id)
        .unwrap_or_else(|| panic!("no parameter {id}"))
}

fn run(inst: &mut DspInstance, left: &[f32], right: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let (mut l, mut r) = (left.to_vec(), right.to_vec());
    for (lc, rc) in l.chunks_mut(BLOCK).zip(r.chunks_mut(BLOCK)) {
        inst.process(&mut [lc, rc]).unwrap();
    }
    (l, r)
}

fn refusal(source: &str) -> String {
    match runtime().compile(Source::from_bytes(source.as_bytes().to_vec())) {
        Ok(_) => panic!("should be refused:\n{source}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_wclap_describes_itself_from_its_descriptor_and_params() {
    let patch = runtime().compile(Source::from_bytes(gain_wclap())).unwrap();
    assert!(patch.is_wclap());
    let meta = patch.metadata();
    assert_eq!(meta.name, "WCLAP Gain");
    assert_eq!(meta.author, "Wasp");
    assert_eq!(meta.version, "1.2.0");
    assert_eq!(meta.latency, 0);
    assert_eq!(meta.tail, Tail::Seconds(0.0));
    let params: Vec<_> = meta
        .params
        .iter()
        .map(|p| (p.id.as_str(), p.name.as_str(), p.min, p.max, p.default))
        .collect();
    assert_eq!(
        params,
        [
            ("clap_7", "Gain", -60.0, 12.0, 0.0),
            ("clap_9", "Misbehave", 0.0, 5.0, 0.0)
        ]
    );
    // Its `clap.log` messages while it started, one line each; the second says what the
    // host's `clap.note-ports` answered (CLAP notes and MIDI).
    assert_eq!(patch.load_log(), "ready\nnote dialects: 3\n");
    // The description is run once: the next compile comes from the cache, described.
    let again = runtime().compile(Source::from_bytes(gain_wclap())).unwrap();
    assert_eq!(again.metadata(), meta);
}

#[test]
fn a_wclap_processes_audio_parameters_and_notes() {
    let mut inst = instance(&gain_wclap());
    let left = sine(220.0, SR, 0.5, 0, 3 * BLOCK + 100);
    let right = sine(330.0, SR, 0.25, 0, 3 * BLOCK + 100);
    // At 0 dB the plugin passes its input through, both channels.
    let (l, r) = run(&mut inst, &left, &right);
    assert_eq!(l, left);
    assert_eq!(r, right);

    // A parameter change reaches the plugin as a CLAP parameter event.
    inst.set_param(param(&inst, "clap_7"), -6.0).unwrap();
    let (l, r) = run(&mut inst, &left, &right);
    let g = 10f32.powf(-6.0 / 20.0);
    let want: Vec<f32> = left.iter().map(|x| x * g).collect();
    assert!(max_diff(&l, &want) < 1e-6, "{}", max_diff(&l, &want));
    let want: Vec<f32> = right.iter().map(|x| x * g).collect();
    assert!(max_diff(&r, &want) < 1e-6);

    // A held note doubles the output (the fixture's way of showing notes arrive), and its
    // release undoes it.
    inst.event(ModuleEvent::NoteOn {
        key: 60,
        velocity: 0.8,
    })
    .unwrap();
    let (l, _) = run(&mut inst, &left, &right);
    let want: Vec<f32> = left.iter().map(|x| x * g * 2.0).collect();
    assert!(max_diff(&l, &want) < 1e-6);
    inst.event(ModuleEvent::NoteOff {
        key: 60,
        velocity: 0.0,
    })
    .unwrap();
    let (l, _) = run(&mut inst, &left, &right);
    let want: Vec<f32> = left.iter().map(|x| x * g).collect();
    assert!(max_diff(&l, &want) < 1e-6);

    // A value set just before a reset (as a restored project's is) still arrives.
    inst.set_param(param(&inst, "clap_7"), -12.0).unwrap();
    inst.reset().unwrap();
    let (l, _) = run(&mut inst, &left, &right);
    let want: Vec<f32> = left.iter().map(|x| x * 10f32.powf(-12.0 / 20.0)).collect();
    assert!(max_diff(&l, &want) < 1e-6);
}

/// Each way the fixture misbehaves in `process` is a fault of the instance, reported with
/// its kind: a trap, a loop (stopped at the block's budget), a read through a wild pointer,
/// and a wild pointer handed to the host (which reads it inside the sandbox and traps there).
#[test]
fn a_misbehaving_wclap_is_a_contained_fault() {
    for (mode, kind) in [
        (1.0, TrapKind::Unreachable),
        (2.0, TrapKind::Timeout),
        (3.0, TrapKind::OutOfBounds),
        (4.0, TrapKind::OutOfBounds),
    ] {
        let mut inst = instance(&gain_wclap());
        inst.set_param(param(&inst, "clap_9"), mode).unwrap();
        let mut l = vec![0.5f32; BLOCK];
        let mut r = vec![0.5f32; BLOCK];
        let fault = inst.process(&mut [&mut l, &mut r]).unwrap_err();
        assert_eq!(fault.kind, kind, "mode {mode}: {fault}");
        assert_eq!(inst.fault(), Some(fault));
    }
}

/// Through the worker and the audio engine: a WCLAP swaps in like any module, and a WCLAP
/// that faults while playing rolls back to the sound before it.
#[test]
fn a_wclap_swaps_in_and_a_crashing_one_rolls_back() {
    let mut rig = Rig::new();
    let input = sine(440.0, RIG_SR, 0.5, 0, 48_000);
    rig.load_source(
        Source::from_bytes(example_bytes("gain.wat")),
        Crossfade::Auto,
    );
    let before = rig.run(&input[..4096]);
    rig.load_source(Source::from_bytes(gain_wclap()), Crossfade::Auto);
    // After the crossfade the WCLAP's 0 dB passes the input through.
    let out = rig.run(&input[..24_000]);
    assert_eq!(&out[20_000..], &input[20_000..24_000]);
    assert!(rms(&before) > 0.0);

    let current = rig.controller().status().current.expect("a module plays");
    assert_eq!(current.name, "WCLAP Gain");
    let misbehave = current
        .metadata
        .params
        .iter()
        .position(|p| p.id == "clap_9")
        .unwrap();
    assert!(rig.controller().set_param(misbehave, 1.0));
    let (_, results) = rig.run_raw(&input[..4096]);
    assert!(
        results
            .iter()
            .any(|r| matches!(r, Processed::RolledBack(f) if f.kind == TrapKind::Unreachable)),
        "{results:?}"
    );
}

/// The smallest WCLAP: an entry whose functions are given in WebAssembly text, with a
/// `malloc` that hands out one fixed block.
fn tiny_wclap(entry_init: &str, get_factory: &str, extra: &str) -> String {
    format!(
        r#"(module
  {extra}
  (memory (export "memory") 2)
  (table (export "__indirect_function_table") 4 funcref)
  (elem (i32.const 1) $init $deinit $get_factory)
  (global (export "clap_entry") i32 (i32.const 16))
  ;; clap_plugin_entry: version 1.2.0, then init, deinit and get_factory as table indices
  (data (i32.const 16) "\01\00\00\00\02\00\00\00\00\00\00\00\01\00\00\00\02\00\00\00\03\00\00\00")
  (func $init (param i32) (result i32) {entry_init})
  (func $deinit)
  (func $get_factory (param i32) (result i32) {get_factory})
  (func (export "malloc") (param i32) (result i32) (i32.const 1024)))"#
    )
}

#[test]
fn wclaps_that_fail_to_start_are_refused_with_the_step_that_failed() {
    let m = refusal(&tiny_wclap("(i32.const 0)", "(i32.const 0)", ""));
    assert!(
        m.contains("did not start") && m.contains("entry's init returned false"),
        "{m}"
    );
    let m = refusal(&tiny_wclap("(i32.const 1)", "(i32.const 0)", ""));
    assert!(m.contains("no plugin factory"), "{m}");
    // A factory whose functions are not in the table: the call through it traps.
    let m = refusal(&tiny_wclap("(i32.const 1)", "(i32.const 4096)", ""));
    assert!(m.contains("wasp_init"), "{m}");
}

#[test]
fn a_wclap_that_loops_while_loading_is_stopped() {
    let started = std::time::Instant::now();
    let m = refusal(&tiny_wclap(
        "(loop $l (br $l)) (i32.const 1)",
        "(i32.const 0)",
        "",
    ));
    assert!(
        m.contains("`wasp_init`") && m.contains("loops forever"),
        "{m}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_wclap_pointing_outside_its_memory_is_refused() {
    let wild = tiny_wclap("(i32.const 1)", "(i32.const 0)", "")
        .replace("(i32.const 16))", "(i32.const -64))");
    let m = refusal(&wild);
    assert!(
        m.contains("wasp_init") && m.contains("out of bounds"),
        "{m}"
    );
}

#[test]
fn what_a_wclap_may_import_from_wasi_is_named() {
    // The stubs a C runtime needs load...
    let ok = tiny_wclap(
        "(i32.const 0)",
        "(i32.const 0)",
        r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))"#,
    );
    let m = refusal(&ok);
    assert!(m.contains("entry's init returned false"), "it linked: {m}");
    // ...files do not.
    let files = tiny_wclap(
        "(i32.const 0)",
        "(i32.const 0)",
        r#"(import "wasi_snapshot_preview1" "path_open" (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))"#,
    );
    let m = refusal(&files);
    assert!(
        m.contains("wasi_snapshot_preview1.path_open") && m.contains("no files"),
        "{m}"
    );
    // A plain module still may not import WASI at all.
    let m = refusal(
        r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
             (func (export "dsp") (param f32) (result f32) (local.get 0)))"#,
    );
    assert!(m.contains("WASI"), "{m}");
}

#[test]
fn a_wclap_that_is_not_hostable_says_what_to_change() {
    let fixed =
        tiny_wclap("(i32.const 1)", "(i32.const 0)", "").replace("4 funcref", "4 4 funcref");
    let m = refusal(&fixed);
    assert!(m.contains("--growable-table"), "{m}");
    let no_malloc =
        tiny_wclap("(i32.const 1)", "(i32.const 0)", "").replace("(export \"malloc\")", "");
    let m = refusal(&no_malloc);
    assert!(m.contains("malloc"), "{m}");
}

/// Builds a C WCLAP with clang and wasi-libc, the reactor model (Debian: clang, lld,
/// wasi-libc, libclang-rt-14-dev-wasm32), as its source's comment says.
fn c_wclap(source: &str) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("wasp-c-wclap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("module.wasm");
    run_ok(
        std::process::Command::new("clang")
            .args([
                "--target=wasm32-wasi",
                "-mexec-model=reactor",
                "-O2",
                "-Wl,--export=clap_entry",
                "-Wl,--export=malloc",
                "-Wl,--export-table",
                "-Wl,--growable-table",
                "-o",
            ])
            .arg(&out)
            .arg(root().join(source)),
    );
    std::fs::read(&out).unwrap()
}

/// A C WCLAP built against wasi-libc: its C runtime starts in `_initialize`, it prints
/// through WASI's `fd_write` (which Wasp keeps for the editor), and it runs.
#[test]
fn a_c_wclap_with_the_c_runtime_starts_prints_and_plays() {
    let bytes = c_wclap("examples/wclap/c-tremolo/tremolo.c");
    let patch = runtime()
        .compile(Source::from_bytes(bytes.clone()))
        .unwrap();
    let meta = patch.metadata();
    assert_eq!(
        (meta.name.as_str(), meta.version.as_str()),
        ("C Tremolo", "0.3.0")
    );
    let names: Vec<_> = meta.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Rate", "Depth"]);
    assert!(
        patch.load_log().contains("C Tremolo ready"),
        "{:?}",
        patch.load_log()
    );

    let mut inst = instance(&bytes);
    let input = vec![0.5f32; SR as usize / 2];
    let (l, r) = run(&mut inst, &input, &input);
    assert_eq!(l, r);
    // Rate 4 Hz, depth 0.5: the level swings between half and full once every 12,000 frames.
    let (lo, hi) = l
        .iter()
        .fold((1.0f32, 0.0f32), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
    assert!(
        (lo - 0.25).abs() < 0.01 && (hi - 0.5).abs() < 0.01,
        "{lo}..{hi}"
    );
    inst.set_param(param(&inst, "clap_2"), 0.0).unwrap();
    let (l, _) = run(&mut inst, &input, &input);
    assert!(
        l.iter().all(|x| (*x - 0.5).abs() < 1e-6),
        "depth 0 passes the input"
    );
}

/// A `.wclap` bundle is a folder holding `module.wasm`; the folder loads like a file.
#[test]
fn a_wclap_bundle_folder_loads() {
    let dir = std::env::temp_dir().join(format!("wasp-bundle-{}/Gain.wclap", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("module.wasm"), gain_wclap()).unwrap();
    let source = Source::from_file(&dir).unwrap();
    assert_eq!(source.path.as_deref(), Some(dir.as_path()));
    let patch = runtime().compile(source).unwrap();
    assert_eq!(patch.metadata().name, "WCLAP Gain");
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

/// A new build of the same plugin (same CLAP id, other bytes) starts from the running
/// instance's own state (`clap.state`), which the audio thread saves between two blocks while
/// the new one is prepared: the fixture's trim, which only its state holds, carries over.
#[test]
fn a_new_build_of_the_same_wclap_carries_the_plugins_own_state() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut rig = Rig::new();
    let bytes = gain_wclap();
    rig.load_source(Source::from_bytes(bytes.clone()), Crossfade::Auto);
    let input = vec![0.5f32; 4096];
    rig.run(&input);
    rig.audio.send_event(ModuleEvent::Midi {
        status: 0xB0,
        data1: 7,
        data2: 64,
    });
    let trimmed = 0.5 * 64.0 / 127.0;
    // One block: too soon for the state to have been saved unasked (every 100 ms of audio at
    // most), so only asking the audio thread can carry the trim.
    let out = rig.run(&input[..256]);
    assert!((out[255] - trimmed).abs() < 1e-6, "{}", out[255]);

    // Other bytes (one more custom section), the same plugin.
    let mut rebuilt = bytes.clone();
    rebuilt.extend_from_slice(&[0, 6, 5, b'b', b'u', b'i', b'l', b'd']);
    let hash = Source::from_bytes(rebuilt.clone()).hash();
    let stop = AtomicBool::new(false);
    let (preparer, audio) = (&rig.preparer, &mut rig.audio);
    std::thread::scope(|s| {
        // The host's audio thread keeps running while the new build is prepared.
        s.spawn(|| {
            let mut block = vec![0.5f32; 256];
            while !stop.load(Ordering::Relaxed) {
                block.fill(0.5);
                audio.process(&mut [&mut block]);
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        let outcome = preparer
            .controller()
            .load_blocking(Source::from_bytes(rebuilt));
        stop.store(true, Ordering::Relaxed);
        assert!(matches!(outcome, LoadOutcome::Prepared(_)), "{outcome:?}");
    });
    let out = rig.run(&vec![0.5f32; 48_000]);
    assert_eq!(
        rig.controller().status().current.map(|m| m.hash),
        Some(hash)
    );
    assert!((out[47_999] - trimmed).abs() < 1e-6, "{}", out[47_999]);
}

/// A bundle of several plugins: Wasp runs the first and lists them all; choosing another
/// writes the choice into the bytes (so a project saves it) and the other plugin plays.
#[test]
fn another_plugin_of_a_bundle_can_be_chosen() {
    let bytes = gain_wclap();
    let first = runtime()
        .compile(Source::from_bytes(bytes.clone()))
        .unwrap();
    let names = ["WCLAP Gain", "WCLAP Gain (inverted)"].map(String::from);
    assert_eq!(first.plugins(), (&names[..], 0));

    let second_bytes = wasp::pick_wclap_plugin(&bytes, 1).unwrap();
    let second = runtime()
        .compile(Source::from_bytes(second_bytes.clone()))
        .unwrap();
    assert_eq!(second.plugins(), (&names[..], 1));
    assert_eq!(second.metadata().name, "WCLAP Gain (inverted)");
    assert_eq!(second.plugin_id(), "org.wasp.test.wclap-gain-inverted");
    let mut inst = instance(&second_bytes);
    let input = sine(220.0, SR, 0.5, 0, BLOCK);
    let (l, _) = run(&mut inst, &input, &input);
    let inverted: Vec<f32> = input.iter().map(|x| -x).collect();
    assert_eq!(l, inverted);

    // Choosing again replaces the choice; a plugin the factory lacks is refused by name.
    let back = wasp::pick_wclap_plugin(&second_bytes, 0).unwrap();
    assert_eq!(back.len(), second_bytes.len());
    let patch = runtime().compile(Source::from_bytes(back)).unwrap();
    assert_eq!(patch.metadata().name, "WCLAP Gain");
    let m = runtime()
        .compile(Source::from_bytes(
            wasp::pick_wclap_plugin(&bytes, 5).unwrap(),
        ))
        .unwrap_err()
        .to_string();
    assert!(m.contains("not in its factory"), "{m}");

    // As the editor's menu does it: the running bundle's other plugin plays; a reload of its
    // file keeps the choice.
    let dir = std::env::temp_dir().join(format!("wasp-pick-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bundle.wasm");
    std::fs::write(&file, &bytes).unwrap();
    let mut rig = Rig::new();
    let loaded = rig.controller().load_file_blocking(&file);
    assert!(matches!(loaded, LoadOutcome::Prepared(_)), "{loaded:?}");
    rig.run(&vec![0.0; 256]);
    rig.controller().pick_wclap_plugin(1);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while rig.controller().status().current.map(|m| m.plugin_index) != Some(1) {
        assert!(
            std::time::Instant::now() < deadline,
            "the chosen plugin never played"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = rig.run(&vec![0.5; 24_000]);
    assert_eq!(out[23_999], -0.5);
    let reloaded = rig.controller().load_file_blocking(&file);
    let LoadOutcome::Prepared(info) = reloaded else {
        panic!("{reloaded:?}");
    };
    assert_eq!(info.plugin_index, 1, "the reload keeps the choice");
    let _ = std::fs::remove_dir_all(dir);
}

/// Little-endian `u32`s as a WAT data string.
fn words(values: &[u32]) -> String {
    values
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .map(|b| format!("\\{b:02x}"))
        .collect()
}

/// A whole (tiny) plugin in WebAssembly text: its left output is the tempo / 1000 and its
/// right the song position in beats, read from the `clap_event_transport` its `process` gets
/// (-1 on both without one).
fn transport_probe() -> String {
    let entry = words(&[1, 2, 0, 1, 2, 3]);
    let factory = words(&[4, 5, 6]);
    let descriptor = words(&[1, 2, 0, 256, 256, 300, 300, 300, 300, 300, 300, 0]);
    let plugin = words(&[128, 0, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    format!(
        r#"(module
  (memory (export "memory") 2)
  (table (export "__indirect_function_table") 17 funcref)
  (elem (i32.const 1) $e_init $e_deinit $e_factory $f_count $f_desc $f_create $p_init
        $p_destroy $p_activate $p_deactivate $p_start $p_stop $p_reset $p_process $p_ext $p_main)
  (global (export "clap_entry") i32 (i32.const 16))
  (data (i32.const 16) "{entry}")
  (data (i32.const 64) "{factory}")
  (data (i32.const 128) "{descriptor}")
  (data (i32.const 256) "Transport probe\00")
  (data (i32.const 512) "{plugin}")
  (func (export "malloc") (param i32) (result i32) (i32.const 4096))
  (func $e_init (param i32) (result i32) (i32.const 1))
  (func $e_deinit)
  (func $e_factory (param i32) (result i32) (i32.const 64))
  (func $f_count (param i32) (result i32) (i32.const 1))
  (func $f_desc (param i32 i32) (result i32) (i32.const 128))
  (func $f_create (param i32 i32 i32) (result i32) (i32.const 512))
  (func $p_init (param i32) (result i32) (i32.const 1))
  (func $p_destroy (param i32))
  (func $p_activate (param i32 f64 i32 i32) (result i32) (i32.const 1))
  (func $p_deactivate (param i32))
  (func $p_start (param i32) (result i32) (i32.const 1))
  (func $p_stop (param i32))
  (func $p_reset (param i32))
  (func $p_process (param $p i32) (param $proc i32) (result i32)
    (local $t i32) (local $bufs i32) (local $n i32) (local $i i32) (local $lv f32) (local $rv f32)
    (local.set $t (i32.load offset=12 (local.get $proc)))
    (local.set $n (i32.load offset=8 (local.get $proc)))
    (local.set $bufs (i32.load (i32.load offset=20 (local.get $proc))))
    (local.set $lv (f32.const -1))
    (local.set $rv (f32.const -1))
    (if (local.get $t) (then
      (local.set $lv (f32.demote_f64 (f64.div (f64.load offset=40 (local.get $t)) (f64.const 1000))))
      (local.set $rv (f32.demote_f64 (f64.div (f64.convert_i64_s (i64.load offset=24 (local.get $t)))
                                              (f64.const 2147483648))))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (f32.store (i32.add (i32.load (local.get $bufs)) (i32.shl (local.get $i) (i32.const 2)))
                 (local.get $lv))
      (f32.store (i32.add (i32.load offset=4 (local.get $bufs)) (i32.shl (local.get $i) (i32.const 2)))
                 (local.get $rv))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (i32.const 1))
  (func $p_ext (param i32 i32) (result i32) (i32.const 0))
  (func $p_main (param i32)))"#
    )
}

/// The song's transport reaches a WCLAP as CLAP's `clap_event_transport`: tempo, and the song
/// position in CLAP's fixed point; none when the host gives none.
#[test]
fn a_wclap_gets_the_songs_transport() {
    use wasp::{transport_valid, Transport};
    let mut rig = Rig::new();
    rig.load_source(
        Source::from_bytes(transport_probe().into_bytes()),
        Crossfade::Never,
    );
    let run = |rig: &mut Rig| {
        let (mut l, mut r) = (vec![0.0f32; 256], vec![0.0f32; 256]);
        rig.audio.process(&mut [&mut l, &mut r]);
        (l[0], r[0])
    };
    assert_eq!(run(&mut rig), (-1.0, -1.0), "no transport from the host");
    rig.audio.set_transport(&Transport {
        tempo: 90.0,
        beats: 2.75,
        playing: true,
        valid: transport_valid::TEMPO | transport_valid::BEATS,
        ..Transport::default()
    });
    // (Output above 4.0 would be clamped by the sandbox's ceiling: small values.)
    assert_eq!(run(&mut rig), (0.09, 2.75));
}
