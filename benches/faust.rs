//! A Faust program run by Wasp against the same program compiled natively, as a user would
//! otherwise run it (issue 11's target: at most 1.5x). The Faust compiler writes both: `-lang
//! wasm` for Wasp, `-lang c` built with `cc -O3 -ffast-math` as a shared library for native.
//! (Faust's C and C++ backends generate the same code; C needs no wrapper to be loaded.)
//! Needs `faust` and a C compiler; 512-frame blocks at 48 kHz.

use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wasp::{DspInstance, ProcessConfig, Runtime, Source};

const SR: f32 = 48_000.0;
const FRAMES: usize = 512;

fn run(command: &mut Command) {
    let out = command.output().expect("the tool runs");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Compiles `examples/faust/<name>.dsp` both ways: the `.wasm` bytes and the native library.
fn build(name: &str) -> (Vec<u8>, PathBuf) {
    let dsp = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("examples/faust/{name}.dsp"));
    let dir = std::env::temp_dir().join(format!("wasp-faust-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let faust = |lang: &str, out: &Path| {
        run(Command::new("faust")
            .args(["-lang", lang])
            .arg(&dsp)
            .arg("-o")
            .arg(out))
    };
    let wasm = dir.join(format!("{name}.wasm"));
    faust("wasm", &wasm);
    let c = dir.join(format!("{name}.c"));
    faust("c", &c);
    let lib = dir.join(format!("lib{name}.so"));
    run(Command::new("cc")
        .args(["-O3", "-ffast-math", "-shared", "-fPIC"])
        .args(["-include", "faust/gui/CInterface.h"])
        .arg(&c)
        .arg("-o")
        .arg(&lib));
    (std::fs::read(wasm).unwrap(), lib)
}

type New = unsafe extern "C" fn() -> *mut std::ffi::c_void;
type Init = unsafe extern "C" fn(*mut std::ffi::c_void, i32);
type Compute = unsafe extern "C" fn(*mut std::ffi::c_void, i32, *mut *mut f32, *mut *mut f32);

fn bench_program(c: &mut Criterion, name: &str, channels: usize) {
    let (wasm, lib) = build(name);
    let mut group = c.benchmark_group(format!("faust_{name}"));
    group.throughput(Throughput::Elements(FRAMES as u64));
    let input: Vec<Vec<f32>> = (0..channels)
        .map(|ch| {
            (0..FRAMES)
                .map(|n| ((n * (ch + 3)) as f32 * 0.05).sin() * 0.5)
                .collect()
        })
        .collect();

    // SAFETY: the library was just built from Faust's C output, whose functions have these
    // signatures; the DSP and buffers outlive every call.
    unsafe {
        let library = libloading::Library::new(&lib).unwrap();
        let new: libloading::Symbol<New> = library.get(b"newmydsp").unwrap();
        let init: libloading::Symbol<Init> = library.get(b"initmydsp").unwrap();
        let compute: libloading::Symbol<Compute> = library.get(b"computemydsp").unwrap();
        let dsp = new();
        init(dsp, SR as i32);
        let mut ins = input.clone();
        let mut outs = vec![vec![0.0f32; FRAMES]; channels];
        let mut i: Vec<*mut f32> = ins.iter_mut().map(|c| c.as_mut_ptr()).collect();
        let mut o: Vec<*mut f32> = outs.iter_mut().map(|c| c.as_mut_ptr()).collect();
        group.bench_function("native", |b| {
            b.iter(|| {
                compute(dsp, FRAMES as i32, i.as_mut_ptr(), o.as_mut_ptr());
                std::hint::black_box(&outs);
            })
        });
    }

    let runtime = Runtime::new().unwrap();
    let patch = runtime.compile(Source::from_bytes(wasm)).unwrap();
    let mut instance = DspInstance::new(
        &runtime,
        &patch,
        ProcessConfig {
            sample_rate: SR,
            max_frames: FRAMES as u32,
        },
    )
    .unwrap();
    // What a host block costs through Wasp: the host's buffers in and out (input copied in
    // place, as a host hands them over), the call, the output policing.
    let mut block = input.clone();
    group.bench_function("wasp", |b| {
        b.iter(|| {
            for (dst, src) in block.iter_mut().zip(&input) {
                dst.copy_from_slice(src);
            }
            let mut channels: Vec<&mut [f32]> = block.iter_mut().map(|c| &mut c[..]).collect();
            instance.process(&mut channels).unwrap();
        })
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    bench_program(c, "lowpass", 1);
    bench_program(c, "reverb", 2);
}

/// Loading the reverb, from its `.wasm` to an initialised instance: compiled from scratch, and
/// from Wasp's disk cache in a fresh runtime (a project reopened in a new session).
fn load(c: &mut Criterion) {
    let (wasm, _) = build("reverb");
    let config = ProcessConfig {
        sample_rate: SR,
        max_frames: FRAMES as u32,
    };
    let mut group = c.benchmark_group("faust_reverb_load");
    group.sample_size(10);
    let runtime = Runtime::new().unwrap();
    group.bench_function("cold", |b| {
        b.iter(|| {
            let patch = runtime
                .compile_uncached(Source::from_bytes(wasm.clone()))
                .unwrap();
            DspInstance::new(&runtime, &patch, config).unwrap()
        })
    });
    let dir = std::env::temp_dir().join(format!("wasp-faust-cache-{}", std::process::id()));
    let options = wasp::RuntimeOptions::default();
    // Fill the cache once.
    Runtime::with_disk_cache(options, dir.clone())
        .unwrap()
        .compile(Source::from_bytes(wasm.clone()))
        .unwrap();
    group.bench_function("disk_cache", |b| {
        b.iter(|| {
            let runtime = Runtime::with_disk_cache(options, dir.clone()).unwrap();
            let patch = runtime.compile(Source::from_bytes(wasm.clone())).unwrap();
            assert_eq!(runtime.disk_loads(), 1);
            DspInstance::new(&runtime, &patch, config).unwrap()
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, bench, load);
criterion_main!(benches);
