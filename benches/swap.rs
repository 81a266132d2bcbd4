//! Swap costs: the audio thread's commit for 1 KiB, 64 KiB, 1 MiB and 16 MiB of declared state
//! (against a plain memcpy of the same size), both whole (`state/`, as when the host is not
//! processing) and as the share of one block (`block/`: above 256 KiB the copy is staged over
//! several blocks, so this is one slice), and the time from a load request to its commit for
//! each example module, cold (compiled) and cached.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use wasp::{
    AudioEngine, Controller, Crossfade, LoadOptions, LoadOutcome, Preparer, ProcessConfig, Runtime,
    Source,
};

const BLOCK: u32 = 512;

fn rig() -> (Preparer, AudioEngine) {
    let (preparer, mut audio) = Preparer::spawn(Runtime::new().unwrap()).unwrap();
    preparer.controller().configure(ProcessConfig {
        sample_rate: 48_000.0,
        max_frames: BLOCK,
    });
    audio.commit_pending();
    (preparer, audio)
}

/// A pass-through module declaring one `array` state region of `bytes` bytes.
fn state_module(bytes: usize) -> Source {
    let pages = bytes / 65536 + 1;
    Source::from_bytes(
        format!(
            r#"(module
                 (@custom "wasp" "{{\"channels\":\"mono\",\"state\":[{{\"name\":\"buf\",\"kind\":\"array\",\"at\":0,\"len\":{}}}]}}")
                 (memory (export "memory") {pages})
                 (func (export "dsp") (param f32) (result f32) local.get 0))"#,
            bytes / 4
        )
        .into_bytes(),
    )
}

fn commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("commit");
    for (label, bytes) in [
        ("1KiB", 1024),
        ("64KiB", 64 * 1024),
        ("1MiB", 1024 * 1024),
        ("16MiB", 16 * 1024 * 1024),
    ] {
        let (preparer, mut audio) = rig();
        let controller = preparer.controller().clone();
        let source = state_module(bytes);
        let hard = LoadOptions {
            crossfade: Crossfade::Never,
        };
        assert!(matches!(
            controller.load_blocking_with(source.clone(), hard),
            LoadOutcome::Prepared(_)
        ));
        audio.commit_pending();
        group.bench_function(format!("state/{label}"), |b| {
            b.iter_batched(
                || {
                    let outcome = controller.load_blocking_with(source.clone(), hard);
                    assert!(matches!(outcome, LoadOutcome::Prepared(_)));
                },
                |()| audio.commit_pending(),
                BatchSize::PerIteration,
            )
        });
        group.bench_function(format!("block/{label}"), |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    // Finish whatever an earlier iteration staged, then queue a fresh swap.
                    audio.commit_pending();
                    let outcome = controller.load_blocking_with(source.clone(), hard);
                    assert!(matches!(outcome, LoadOutcome::Prepared(_)));
                    let started = Instant::now();
                    audio.commit_block();
                    total += started.elapsed();
                }
                total
            })
        });
        // Offset the destination by half a page: source and destination addresses that are
        // equal modulo 4096 make x86 copies several times slower ("4K aliasing"), which would
        // flatter the comparison.
        let src = vec![1u8; bytes];
        let mut dst = vec![0u8; bytes + 4096];
        let base = dst.as_ptr() as usize;
        let offset = (src.as_ptr() as usize + 2048).wrapping_sub(base) % 4096;
        group.bench_function(format!("memcpy/{label}"), |b| {
            b.iter(|| {
                dst[offset..offset + bytes].copy_from_slice(std::hint::black_box(&src));
            })
        });
        drop(preparer);
    }
    group.finish();
}

/// Requests a load and spins as the audio thread would until it is committed.
fn request_to_commit(controller: &Controller, audio: &mut AudioEngine, source: Source) -> Duration {
    let before = audio.generation();
    let start = Instant::now();
    controller.load_with(
        source,
        LoadOptions {
            crossfade: Crossfade::Never,
        },
    );
    loop {
        audio.commit_pending();
        if audio.generation() != before {
            return start.elapsed();
        }
        if start.elapsed() > Duration::from_secs(30) {
            panic!("no commit: {:?}", controller.status().last_error);
        }
        std::hint::spin_loop();
    }
}

/// The bytes of `source` made unique (so the compiled-module cache misses) without changing
/// what they mean: a trailing comment for text, a trailing custom section for binaries.
fn unique(source: &Source, n: u64) -> Source {
    let mut bytes = source.bytes.to_vec();
    if bytes.starts_with(b"\0asm") {
        let payload = n.to_le_bytes();
        bytes.extend_from_slice(&[0, 1 + 1 + payload.len() as u8, 1, b'n']);
        bytes.extend_from_slice(&payload);
    } else {
        bytes.extend_from_slice(format!("\n;; {n}\n").as_bytes());
    }
    Source::from_bytes(bytes)
}

fn load(c: &mut Criterion) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut modules: Vec<(String, Source)> = ["gain.wat", "sine.wat", "onepole.wat"]
        .iter()
        .map(|n| {
            let path = root.join("examples/modules").join(n);
            (n.to_string(), Source::from_file(path).unwrap())
        })
        .collect();
    let tremolo = root.join(
        "examples/modules/rust-tremolo/target/wasm32-unknown-unknown/release/wasp_tremolo.wasm",
    );
    if let Ok(source) = Source::from_file(&tremolo) {
        modules.push(("rust-tremolo.wasm".into(), source));
    } else {
        eprintln!("skipping the Rust example: build it first (see its README)");
    }

    let mut group = c.benchmark_group("request_to_commit");
    group.sample_size(20);
    let (preparer, mut audio) = rig();
    let controller = preparer.controller().clone();
    let mut counter = 0u64;
    for (name, source) in &modules {
        group.bench_function(format!("cold/{name}"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        counter += 1;
                        request_to_commit(&controller, &mut audio, unique(source, counter))
                    })
                    .sum()
            })
        });
        group.bench_function(format!("cached/{name}"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| request_to_commit(&controller, &mut audio, source.clone()))
                    .sum()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, commit, load);
criterion_main!(benches);
