//! The "your first module" pages (docs/first-module-*.md) stay true: the code on each page,
//! taken from the page itself, builds with the tools the page names, loads in Wasp with the
//! name and parameter the page promises, and the parameter does what the page says.

use std::path::Path;
use std::process::Command;

use crate::common::*;
use wasp::{DspInstance, ProcessConfig, Runtime, Source};

const SR: f32 = 48_000.0;

/// The `n`th fenced code block of `lang` on a docs page.
fn code_block(page: &str, lang: &str, n: usize) -> String {
    let text = std::fs::read_to_string(root().join("docs").join(page)).unwrap();
    let fence = format!("```{lang}\n");
    let start = text
        .match_indices(&fence)
        .nth(n)
        .unwrap_or_else(|| panic!("{page} has no code block {n} in {lang}"))
        .0
        + fence.len();
    let end = start + text[start..].find("```").unwrap();
    text[start..end].to_owned()
}

/// Loads a module, sets parameter 0 to `value` and returns the output of a constant input of
/// 0.5 on both sides once it has settled, with the module's name and parameter 0's id and
/// unit.
fn play(bytes: Vec<u8>, value: f32) -> (f32, String, String, String) {
    let runtime = Runtime::new().unwrap();
    let patch = runtime.compile(Source::from_bytes(bytes)).unwrap();
    let meta = patch.metadata().clone();
    let mut inst = DspInstance::new(
        &runtime,
        &patch,
        ProcessConfig {
            sample_rate: SR,
            max_frames: 512,
        },
    )
    .unwrap();
    inst.set_param(0, value).unwrap();
    let mut out = 0.0;
    for _ in 0..20 {
        let (mut l, mut r) = (vec![0.5f32; 512], vec![0.5f32; 512]);
        inst.process(&mut [&mut l, &mut r]).unwrap();
        out = l[511];
    }
    let param = &meta.params[0];
    (out, meta.name, param.id.clone(), param.unit.clone())
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wasp-docs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_wat_page_builds_a_volume_whose_level_slider_works() {
    let wat = code_block("first-module-wat.md", "wat", 0);
    let (out, name, id, unit) = play(wat.into_bytes(), -20.0);
    assert_eq!(
        (name.as_str(), id.as_str(), unit.as_str()),
        ("My volume", "level", "dB")
    );
    assert!((out - 0.05).abs() < 1e-4, "0.5 at -20 dB gave {out}");
}

#[test]
fn the_rust_page_builds_a_gain_whose_slider_works() {
    let dir = scratch("rust");
    let toml = code_block("first-module-rust.md", "toml", 0).replace(
        "/path/to/wasp/sdk/rust",
        &root().join("sdk/rust").display().to_string(),
    );
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"my-gain\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [workspace]\n\n{toml}"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("src/lib.rs"),
        code_block("first-module-rust.md", "rust", 0),
    )
    .unwrap();
    let wasm = std::fs::read(rust_crate_wasm(&dir)).unwrap();
    let (out, name, id, unit) = play(wasm, -6.0);
    assert_eq!(
        (name.as_str(), id.as_str(), unit.as_str()),
        ("My gain", "gain", "dB")
    );
    let want = 0.5 * 10f32.powf(-6.0 / 20.0);
    assert!((out - want).abs() < 1e-4, "0.5 at -6 dB gave {out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_c_page_builds_a_drive_whose_slider_works() {
    let dir = scratch("c");
    std::fs::write(dir.join("drive.c"), code_block("first-module-c.md", "c", 0)).unwrap();
    // The page's build line, with the header's real folder.
    let line = code_block("first-module-c.md", "sh", 0)
        .replace("\\\n", " ")
        .replace(
            "/path/to/wasp/sdk/c",
            &root().join("sdk/c").display().to_string(),
        );
    let words: Vec<&str> = line.split_whitespace().collect();
    run_ok(Command::new(words[0]).args(&words[1..]).current_dir(&dir));
    let wasm = std::fs::read(dir.join("drive.wasm")).unwrap();
    let (out, name, id, unit) = play(wasm, 20.0);
    assert_eq!(
        (name.as_str(), id.as_str(), unit.as_str()),
        ("My drive", "drive", "dB")
    );
    // tanh(10 * 0.5) / 10: squashed well below the input.
    let want = (10.0f32 * 0.5).tanh() / 10.0;
    assert!(
        (out - want).abs() < 1e-4,
        "0.5 at +20 dB of drive gave {out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The AssemblyScript and Faust pages show files of the repository: what they show must be
/// what is there (the modules themselves are tested in block.rs and faust.rs).
#[test]
fn the_assemblyscript_and_faust_pages_quote_their_files() {
    let quoted = |page: &str, lang: &str, n: usize, file: &Path| {
        let block = code_block(page, lang, n);
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            text.contains(block.trim()),
            "{page} quotes a {lang} block that {} no longer holds:\n{block}",
            file.display()
        );
    };
    let template = root().join("sdk/assemblyscript");
    quoted(
        "first-module-assemblyscript.md",
        "ts",
        0,
        &template.join("assembly/index.ts"),
    );
    quoted(
        "first-module-assemblyscript.md",
        "js",
        0,
        &template.join("wasp.config.mjs"),
    );
    quoted(
        "first-module-faust.md",
        "faust",
        0,
        &root().join("examples/faust/lowpass.dsp"),
    );
}

/// The Rust SDK's macro with the options no example uses: a mono module, latency, tail, a
/// block of 64 frames, an `i32` scalar, named choices, no `author` or `version`, and no
/// parameters' `unit`. What it declares is what Wasp reads, and `dsp` and `wasp_process` agree.
#[test]
fn the_rust_sdk_macro_takes_every_option() {
    let dir = scratch("sdk-options");
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"sdk-options\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [workspace]\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\n\
             wasp-sdk = {{ path = \"{}\" }}\n\n[profile.release]\npanic = \"abort\"\n",
            root().join("sdk/rust").display()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("src/lib.rs"),
        r#"#![no_std]
use wasp_sdk::Module;

struct Halver { factor: f32, count: &'static mut i32 }

impl Module for Halver {
    fn new(_sample_rate: f32, _max_frames: usize) -> Self {
        Halver { factor: 0.5, count: state::blocks.take() }
    }
    fn set_param(&mut self, index: usize, value: f32) {
        if index == param::amount {
            self.factor = value;
        }
    }
    fn process(&mut self, channels: &mut [&mut [f32]]) {
        *self.count += 1;
        for x in channels[0].iter_mut() {
            *x *= self.factor;
        }
    }
}

wasp_sdk::module! {
    module: Halver,
    name: "Halver",
    channels: mono,
    block: 64,
    latency: 64,
    tail: 1.5,
    params: [
        { id: amount, name: "Amount", min: 0.0, max: 1.0, default: 0.5,
          about: "How much of the input passes",
          choices: ["Quarter" = 0.25, "Half" = 0.5, "Whole" = 1.0] },
    ],
    state: { blocks: scalar i32 },
}
"#,
    )
    .unwrap();
    let wasm = std::fs::read(rust_crate_wasm(&dir)).unwrap();
    let runtime = Runtime::with_options(wasp::RuntimeOptions {
        block_processing: true,
        ..wasp::RuntimeOptions::default()
    })
    .unwrap();
    let patch = runtime.compile(Source::from_bytes(wasm.clone())).unwrap();
    let meta = patch.metadata();
    assert_eq!(meta.name, "Halver");
    assert_eq!(meta.channels, Some(wasp::Channels::Mono));
    assert_eq!(meta.latency, 64);
    assert_eq!(meta.tail, wasp::Tail::Seconds(1.5));
    let names: Vec<&str> = meta.params[0]
        .choices
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["Quarter", "Half", "Whole"]);
    assert_eq!(meta.params[0].about, "How much of the input passes");
    assert_eq!(meta.state[0].name, "blocks");

    // A 200-frame host block, longer than the module's 64-frame buffers, comes out scaled by
    // the chosen amount, through `wasp_process` in pieces and through `dsp` alike.
    let config = ProcessConfig {
        sample_rate: SR,
        max_frames: 512,
    };
    let input: Vec<f32> = (0..200).map(|n| n as f32 / 200.0).collect();
    let want: Vec<f32> = input.iter().map(|x| x * 0.25).collect();
    for block_processing in [true, false] {
        let runtime = Runtime::with_options(wasp::RuntimeOptions {
            block_processing,
            ..wasp::RuntimeOptions::default()
        })
        .unwrap();
        let patch = runtime.compile(Source::from_bytes(wasm.clone())).unwrap();
        let mut inst = DspInstance::new(&runtime, &patch, config).unwrap();
        inst.set_param(0, 0.25).unwrap();
        let mut x = input.clone();
        inst.process(&mut [&mut x]).unwrap();
        assert_eq!(x, want, "block processing {block_processing}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
