//! Each way a module can break the contract yields its own clear error.

use wasp::{LoadError, Runtime, Source};

fn load(bytes: &[u8]) -> Result<wasp::Patch, LoadError> {
    Runtime::new().unwrap().compile(Source::from_bytes(bytes))
}

fn load_err(bytes: &[u8]) -> (LoadError, String) {
    let err = load(bytes).expect_err("the module should be refused");
    let text = err.to_string();
    (err, text)
}

#[test]
fn empty_and_not_wasm() {
    let (err, text) = load_err(b"");
    assert_eq!(err, LoadError::Empty);
    assert!(text.contains("empty"), "{text}");
    let (err, text) = load_err(b"PK\x03\x04 this is a zip file");
    assert_eq!(err, LoadError::NotWasm);
    assert!(text.contains("not a WebAssembly module"), "{text}");
}

#[test]
fn missing_dsp_lists_what_is_exported() {
    let (err, text) =
        load_err(br#"(module (func (export "process") (param f32) (result f32) local.get 0))"#);
    assert!(matches!(err, LoadError::Abi(_)));
    assert!(text.contains("no `dsp` export"), "{text}");
    assert!(text.contains("It exports: process"), "{text}");
}

#[test]
fn wrong_dsp_signature_names_both_types() {
    let (err, text) =
        load_err(br#"(module (func (export "dsp") (param i32) (result i32) local.get 0))"#);
    assert!(matches!(err, LoadError::Abi(_)));
    assert!(text.contains("`dsp` has type (i32) -> i32"), "{text}");
    assert!(text.contains("(f32) -> f32"), "{text}");
}

#[test]
fn wasi_import_is_named_and_explained() {
    let (err, text) = load_err(
        br#"(module
              (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
              (func (export "dsp") (param f32) (result f32) local.get 0))"#,
    );
    assert!(matches!(err, LoadError::Import { .. }));
    assert!(text.contains("`wasi_snapshot_preview1.fd_write`"), "{text}");
    assert!(text.contains("WASI"), "{text}");
}

#[test]
fn unknown_env_import_and_wrong_math_signature() {
    let (_, text) = load_err(
        br#"(module (import "env" "printf" (func (param i32) (result i32)))
              (func (export "dsp") (param f32) (result f32) local.get 0))"#,
    );
    assert!(
        text.contains("`env.printf`") && text.contains("not one of the math functions"),
        "{text}"
    );
    let (_, text) = load_err(
        br#"(module (import "env" "sinf" (func (param f64) (result f64)))
              (func (export "dsp") (param f32) (result f32) local.get 0))"#,
    );
    assert!(
        text.contains("(f32) -> f32") && text.contains("(f64) -> f64"),
        "{text}"
    );
    let (_, text) = load_err(
        br#"(module (import "host" "memory" (memory 1))
              (func (export "dsp") (param f32) (result f32) local.get 0))"#,
    );
    assert!(text.contains("`host.memory`"), "{text}");
}

#[test]
fn faust_style_imports_link() {
    let patch = load(
        br#"(module
              (import "env" "_sinf" (func $s (param f32) (result f32)))
              (import "env" "_powf" (func $p (param f32 f32) (result f32)))
              (import "env" "_fmod" (func $m (param f64 f64) (result f64)))
              (func (export "dsp") (param f32) (result f32)
                (call $p (call $s (local.get 0)) (f32.const 2))))"#,
    );
    assert!(patch.is_ok(), "{:?}", patch.err());
}

#[test]
fn truncated_binary_reports_the_offset() {
    let full =
        wat::parse_str(r#"(module (func (export "dsp") (param f32) (result f32) local.get 0))"#)
            .unwrap();
    let truncated = &full[..full.len() - 3];
    let (err, text) = load_err(truncated);
    match err {
        LoadError::Malformed { offset, .. } => {
            assert!(offset > 8 && offset <= truncated.len(), "offset {offset}")
        }
        other => panic!("expected Malformed, got {other:?}"),
    }
    assert!(text.contains("at offset"), "{text}");
}

#[test]
fn invalid_binary_reports_the_offset() {
    // Valid structure, but `dsp` returns an i32 where it declares f32: a validation error.
    let mut bin =
        wat::parse_str(r#"(module (func (export "dsp") (param f32) (result f32) f32.const 1))"#)
            .unwrap();
    // Replace the f32.const opcode (0x43) and its 4 bytes by i32.const 1 and 3 nops.
    let pos = bin.iter().rposition(|&b| b == 0x43).unwrap();
    bin.splice(pos..pos + 5, [0x41, 0x01, 0x01, 0x01, 0x01]);
    let (err, text) = load_err(&bin);
    assert!(matches!(err, LoadError::Malformed { .. }), "{err:?}");
    assert!(text.contains("type mismatch"), "{text}");
}

#[test]
fn wat_syntax_error_has_line_and_column() {
    let (err, text) =
        load_err(b"(module\n  (func (export \"dsp\") (param f32) (result f32)\n    local.gte 0))");
    assert_eq!(
        std::mem::discriminant(&err),
        std::mem::discriminant(&LoadError::Syntax {
            line: 0,
            column: 0,
            message: String::new()
        })
    );
    assert!(
        text.starts_with("WAT syntax error at line 3, column 5"),
        "{text}"
    );
}

#[test]
fn metadata_that_lies_about_channels_is_refused() {
    let (err, text) = load_err(
        br#"(module (@custom "wasp" "{\"channels\":\"stereo\"}")
              (func (export "dsp") (param f32) (result f32) local.get 0))"#,
    );
    assert!(matches!(err, LoadError::Metadata(_)));
    assert!(
        text.contains("declares 2 channels") && text.contains("mono"),
        "{text}"
    );
}

#[test]
fn malformed_metadata_is_refused() {
    let (_, text) = load_err(
        br#"(module (@custom "wasp" "{\"name\": 12}")
              (func (export "dsp") (param f32) (result f32) local.get 0))"#,
    );
    assert!(
        text.contains("bad `wasp` metadata") && text.contains("line 1"),
        "{text}"
    );
    let (_, text) = load_err(
        br#"(module (@custom "wasp" "{\"state\":[{\"name\":\"z\",\"kind\":\"scalar\",\"at\":\"nowhere\"}]}")
              (memory (export "memory") 1)
              (func (export "dsp") (param f32) (result f32) local.get 0))"#,
    );
    assert!(text.contains("`nowhere`"), "{text}");
}

#[test]
fn frame_shape_needs_its_global_and_memory() {
    let (_, text) = load_err(br#"(module (func (export "dsp") (param f32 f32)))"#);
    assert!(text.contains("wasp_frame"), "{text}");
    // The frame address must leave room for two floats inside memory.
    let runtime = Runtime::new().unwrap();
    let patch = runtime
        .compile(Source::from_bytes(
            &br#"(module (memory (export "memory") 1)
                   (global (export "wasp_frame") i32 (i32.const 65532))
                   (func (export "dsp") (param f32 f32)))"#[..],
        ))
        .unwrap();
    let err = wasp::DspInstance::new(&runtime, &patch, Default::default())
        .err()
        .expect("out-of-range frame address is refused");
    assert!(err.to_string().contains("65532"), "{err}");
}

#[test]
fn init_with_the_wrong_signature_is_refused() {
    let (_, text) = load_err(
        br#"(module (func (export "wasp_init") (param i32))
              (func (export "dsp") (param f32) (result f32) local.get 0))"#,
    );
    assert!(text.contains("`wasp_init` has type (i32) -> ()"), "{text}");
}

#[test]
fn trap_in_init_is_reported_with_the_export() {
    let runtime = Runtime::new().unwrap();
    let patch = runtime
        .compile(Source::from_bytes(
            &br#"(module (func (export "wasp_init") (param f32 i32) unreachable)
                   (func (export "dsp") (param f32) (result f32) local.get 0))"#[..],
        ))
        .unwrap();
    let err = wasp::DspInstance::new(&runtime, &patch, Default::default())
        .err()
        .expect("a trapping init is refused");
    let text = err.to_string();
    assert!(
        text.contains("`wasp_init`") && text.contains("unreachable"),
        "{text}"
    );
}
