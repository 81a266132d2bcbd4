//! A stereo tremolo for Wasp, written in Rust: a 5 Hz sine LFO modulating the level by ±50 %.
//!
//! Stable Rust on wasm32 cannot return two floats from a function (the C ABI returns structs
//! through memory), so this module uses the stereo frame-buffer shape of the Wasp contract:
//! `dsp(left, right)` returns nothing and writes the output pair to `wasp_frame`, a static whose
//! address Rust exports as an `i32` global.

use core::f32::consts::TAU;

/// Output pair `[left, right]`, read by Wasp after every `dsp` call.
#[export_name = "wasp_frame"]
pub static mut FRAME: [f32; 2] = [0.0; 2];

/// LFO phase in cycles, declared as state so a live swap keeps the tremolo in time.
#[export_name = "lfo_phase"]
pub static mut PHASE: f32 = 0.0;

static mut STEP: f32 = 5.0 / 48_000.0;

const RATE_HZ: f32 = 5.0;
const DEPTH: f32 = 0.5;

/// Metadata read by Wasp without running the module (see docs/ABI.md).
#[link_section = "wasp"]
pub static METADATA: [u8; METADATA_JSON.len()] = {
    // Copy the JSON into an array: a link section needs the bytes themselves, not a pointer.
    let mut out = [0u8; METADATA_JSON.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = METADATA_JSON[i];
        i += 1;
    }
    out
};
const METADATA_JSON: &[u8] = br#"{"abi":1,"name":"Tremolo (Rust)","author":"Wasp examples","version":"1.0.0","channels":"stereo","state":[{"name":"lfo_phase","kind":"scalar","at":"lfo_phase"}]}"#;

/// Called once before processing with the sample rate and the largest block size.
#[no_mangle]
pub extern "C" fn wasp_init(sample_rate: f32, _max_frames: i32) {
    // SAFETY: Wasp calls a module from one thread at a time, so nothing else touches the statics.
    unsafe { STEP = RATE_HZ / sample_rate };
}

/// Called when the host resets the transport.
#[no_mangle]
pub extern "C" fn wasp_reset() {
    // SAFETY: as in `wasp_init`.
    unsafe { PHASE = 0.0 };
}

/// Processes one stereo frame, writing the result to `wasp_frame`.
#[no_mangle]
pub extern "C" fn dsp(left: f32, right: f32) {
    // SAFETY: as in `wasp_init`.
    unsafe {
        let gain = 1.0 - DEPTH * 0.5 * (1.0 + (TAU * PHASE).sin());
        PHASE += STEP;
        if PHASE >= 1.0 {
            PHASE -= 1.0;
        }
        FRAME = [left * gain, right * gain];
    }
}
