//! A stereo gain for Wasp, in Rust, processing whole blocks with WebAssembly SIMD.
//!
//! Wasp copies each block into the planar buffers at `wasp_in` (left, then right, `wasp_block`
//! frames each), calls `wasp_process(frames)`, and reads the result back from the same buffers:
//! there is no `wasp_out`, so the module works in place (docs/ABI.md §5).
//!
//! The gain moves towards a new setting over a few milliseconds (a one-pole smoother, per
//! sample) so automation does not click; once it has arrived, four samples are multiplied at a
//! time. `dsp` runs the same arithmetic for one frame, so Wasp can fall back to it.

#[cfg(target_feature = "simd128")]
use core::arch::wasm32::{f32x4_mul, f32x4_splat, v128, v128_load, v128_store};

/// Frames per channel buffer.
const BLOCK: usize = 1024;

/// The two channel buffers, left then right. Its address is the exported global `wasp_in`.
#[export_name = "wasp_in"]
pub static mut BUFFERS: [[f32; BLOCK]; 2] = [[0.0; BLOCK]; 2];

/// Output pair `[left, right]` of `dsp`, read by Wasp after every call.
#[export_name = "wasp_frame"]
pub static mut FRAME: [f32; 2] = [0.0; 2];

/// The gain applied now and the one the parameter asks for, linear.
static mut GAIN: f32 = 0.501_187_2;
static mut TARGET: f32 = 0.501_187_2;
/// How far the gain moves towards its target per sample.
static mut SMOOTH: f32 = 0.003;

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
const METADATA_JSON: &[u8] = br#"{"abi":1,"name":"Gain (Rust, block, SIMD)","author":"Wasp examples","version":"1.0.0","channels":"stereo","params":[{"id":"gain","name":"Gain","min":-60,"max":12,"default":-6,"unit":"dB","scale":"linear"}]}"#;

/// The capacity of each buffer in frames; Wasp reads it once after `wasp_init`.
#[no_mangle]
pub extern "C" fn wasp_block() -> i32 {
    BLOCK as i32
}

/// Called once before processing with the sample rate and the largest block size.
#[no_mangle]
pub extern "C" fn wasp_init(sample_rate: f32, _max_frames: i32) {
    // A 5 ms time constant at any sample rate.
    // SAFETY: Wasp calls a module from one thread at a time, so nothing else touches the statics.
    unsafe { SMOOTH = 1.0 - (-1.0 / (0.005 * sample_rate)).exp() };
}

/// Sets parameter 0, the gain in dB.
#[no_mangle]
pub extern "C" fn wasp_set_param(index: i32, value: f32) {
    if index == 0 {
        // SAFETY: as in `wasp_init`.
        unsafe { TARGET = 10f32.powf(value / 20.0) };
    }
}

/// The gain for the next sample, moving towards the target; snaps when it is within 0.01 %
/// (-80 dB), before float rounding can stall it short of the target.
#[inline(always)]
fn step() -> f32 {
    // SAFETY: as in `wasp_init`.
    unsafe {
        GAIN += (TARGET - GAIN) * SMOOTH;
        if (TARGET - GAIN).abs() <= 1e-4 * TARGET.abs() {
            GAIN = TARGET;
        }
        GAIN
    }
}

/// Processes `frames` frames of the buffers in place.
#[no_mangle]
pub extern "C" fn wasp_process(frames: i32) {
    let n = (frames.max(0) as usize).min(BLOCK);
    // SAFETY: as in `wasp_init`; Wasp does not touch the buffers while this runs.
    let [left, right] = unsafe { &mut *core::ptr::addr_of_mut!(BUFFERS) };
    let mut i = 0;
    // While the gain moves, sample by sample.
    // SAFETY: as in `wasp_init`.
    while i < n && unsafe { GAIN != TARGET } {
        let g = step();
        left[i] *= g;
        right[i] *= g;
        i += 1;
    }
    // SAFETY: as in `wasp_init`.
    let g = unsafe { GAIN };
    scale(&mut left[i..n], g);
    scale(&mut right[i..n], g);
}

/// Multiplies `samples` by `g`, four at a time.
#[cfg(target_feature = "simd128")]
fn scale(samples: &mut [f32], g: f32) {
    let gain = f32x4_splat(g);
    let mut chunks = samples.chunks_exact_mut(4);
    for chunk in &mut chunks {
        let p = chunk.as_mut_ptr() as *mut v128;
        // SAFETY: `chunk` is four `f32`s, 16 bytes; v128 loads and stores need no alignment.
        unsafe { v128_store(p, f32x4_mul(v128_load(p), gain)) };
    }
    for x in chunks.into_remainder() {
        *x *= g;
    }
}

#[cfg(not(target_feature = "simd128"))]
fn scale(samples: &mut [f32], g: f32) {
    for x in samples {
        *x *= g;
    }
}

/// Processes one frame, writing the result to `wasp_frame`.
#[no_mangle]
pub extern "C" fn dsp(left: f32, right: f32) {
    let g = step();
    // SAFETY: as in `wasp_init`.
    unsafe { FRAME = [left * g, right * g] };
}
