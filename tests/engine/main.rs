//! The engine's integration tests, run in-process through `wasp`'s library API: one test
//! binary for all of them, because every test binary links the whole of wasmtime and the
//! editor (about 100 MB each in a debug build), and CI machines have little disk to spare.
//! Tests that need a process of their own (counting threads, unloading the library, real-time
//! scheduling, a window) stay in files of their own under `tests/`.

#[path = "../common/mod.rs"]
mod common;

mod block;
mod contract_errors;
mod disk_cache;
mod docs;
mod examples;
mod faust;
mod hardening;
mod library;
mod params;
mod playing;
mod sandbox;
mod scale;
mod swap;
mod tier_up;
mod wclap;
