//! Property test: mutated modules and mutated saved states always give a module or an error,
//! never a panic or a crash. Mutations are seeded, so a failure names a reproducible input.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::common::*;
use wasp::{DspInstance, ProcessConfig, Runtime, SavedModule, Source};

/// xorshift64*: small, seeded, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Applies one to four random edits: flips, interesting bytes, insertions, deletions,
/// truncation, duplication.
fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    let edits = if rng.below(2) == 0 {
        1
    } else {
        1 + rng.below(4)
    };
    for _ in 0..edits {
        let len = bytes.len();
        let at = rng.below(len);
        match rng.below(6) {
            0 if len > 0 => bytes[at] ^= 1 << rng.below(8),
            1 if len > 0 => bytes[at] = [0x00, 0x7f, 0x80, 0xff, 0x41, 0x0b][rng.below(6)],
            2 => bytes.insert(at, rng.next() as u8),
            3 if len > 0 => {
                let end = (at + 1 + rng.below(16)).min(len);
                bytes.drain(at..end);
            }
            4 => bytes.truncate(at),
            _ if len > 0 => {
                let end = (at + 1 + rng.below(32)).min(len);
                let chunk = bytes[at..end].to_vec();
                let to = rng.below(bytes.len());
                bytes.splice(to..to, chunk);
            }
            _ => {}
        }
    }
    bytes
}

/// Valid modules to start from, as text and as binary.
fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for dir in ["examples/modules", "tests/fixtures/swap"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "wat") {
                let text = std::fs::read(&path).unwrap();
                seeds.push(wat::parse_bytes(&text).unwrap().into_owned());
                seeds.push(text);
            }
        }
    }
    seeds
}

#[test]
fn mutated_modules_load_or_fail_cleanly() {
    let runtime = Runtime::new().unwrap();
    let seeds = seeds();
    let mut rng = Rng(0x005e_ed0f_5a5b);
    let (mut loaded, mut refused, mut ran) = (0, 0, 0);
    for case in 0..2000 {
        let seed = &seeds[rng.below(seeds.len())];
        let bytes = mutate(&mut rng, seed);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let patch = runtime.compile(Source::from_bytes(bytes.clone()))?;
            let config = ProcessConfig {
                sample_rate: 48_000.0,
                max_frames: 64,
            };
            let mut instance = DspInstance::new(&runtime, &patch, config)?;
            let mut l = vec![0.1f32; 64];
            let mut r = vec![-0.1f32; 64];
            let _ = instance.process(&mut [&mut l, &mut r]);
            Ok::<bool, wasp::LoadError>(true)
        }));
        match outcome {
            Ok(Ok(_)) => {
                loaded += 1;
                ran += 1;
            }
            Ok(Err(e)) => {
                assert!(!e.to_string().is_empty());
                refused += 1;
            }
            Err(_) => {
                let path = std::env::temp_dir().join(format!("wasp-fuzz-case-{case}.bin"));
                std::fs::write(&path, &bytes).unwrap();
                panic!("case {case} panicked; input saved to {}", path.display());
            }
        }
    }
    eprintln!("2000 mutants: {loaded} loaded and ran, {refused} refused");
    assert!(
        loaded > 0 && refused > 0,
        "mutations should produce both outcomes"
    );
    assert_eq!(loaded, ran);
}

#[test]
fn mutated_saved_states_restore_or_fail_cleanly() {
    let module = example_bytes("onepole.wat");
    let saved = SavedModule::from_source(&Source::from_bytes(module));
    let field = serde_json::to_string(&Some(saved)).unwrap();
    let json = serde_json::to_vec(&serde_json::json!({
        "version": "0.1.0", "params": {}, "fields": { "module": field },
    }))
    .unwrap();

    // The field alone: parse, decode, compile.
    let runtime = Runtime::new().unwrap();
    let mut rng = Rng(0xdead_beef_0042);
    for case in 0..300 {
        let bytes = mutate(&mut rng, field.as_bytes());
        let result = catch_unwind(AssertUnwindSafe(|| {
            let Ok(text) = std::str::from_utf8(&bytes) else {
                return;
            };
            if let Ok(Some(saved)) = serde_json::from_str::<Option<SavedModule>>(text) {
                if let Ok(source) = saved.to_source() {
                    let _ = runtime.compile(source);
                }
            }
        }));
        assert!(result.is_ok(), "saved-field case {case} panicked");
    }

    // The whole state, through the real plugin: the host must keep running.
    let mut host = crate::clap_host::TestHost::new(
        crate::clap_host::cdylib_path("wasp"),
        "dev.wasp-audio.wasp",
    )
    .unwrap();
    host.activate(48_000.0, 256);
    let mut accepted = 0;
    for _ in 0..150 {
        let body = mutate(&mut rng, &json);
        let mut state = (body.len() as u64).to_le_bytes().to_vec();
        state.extend(body);
        if host.load_state(&state).is_ok() {
            accepted += 1;
        }
        let input = vec![0.2f32; 256];
        let (l, _) = host.process_stereo(&input, &input);
        assert!(l.iter().all(|x| x.is_finite()));
    }
    eprintln!("150 mutated plugin states: {accepted} accepted, the rest refused");
}
