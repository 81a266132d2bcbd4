//! A one-pole low-pass at 1 kHz for Wasp, in Rust, processing whole blocks.
//!
//! The same filter as `onepole.wat` and `onepole-block.wat`, with its memory declared as the
//! state region "z1": a live swap between any of them carries the filter memory.
//!
//! Wasp copies each block into the planar buffers at `wasp_in` (left, then right, `wasp_block`
//! frames each), calls `wasp_process(frames)` and reads the result back from the same buffers,
//! since there is no `wasp_out` (docs/ABI.md §5). A recursive filter gains nothing from SIMD:
//! each sample needs the one before. The loop keeps both channels' memories in registers, so
//! their two dependency chains run side by side.

/// Frames per channel buffer.
const BLOCK: usize = 1024;

/// The two channel buffers, left then right. Its address is the exported global `wasp_in`.
#[export_name = "wasp_in"]
pub static mut BUFFERS: [[f32; BLOCK]; 2] = [[0.0; BLOCK]; 2];

/// The filter memory, left and right: the declared state.
#[export_name = "z1"]
pub static mut Z1: [f32; 2] = [0.0; 2];

/// Output pair `[left, right]` of `dsp`, read by Wasp after every call.
#[export_name = "wasp_frame"]
pub static mut FRAME: [f32; 2] = [0.0; 2];

/// The filter coefficient, set for the sample rate.
static mut B: f32 = 0.122_88;

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
const METADATA_JSON: &[u8] = br#"{"abi":1,"name":"One-pole low-pass 1 kHz (Rust, block)","author":"Wasp examples","version":"1.0.0","channels":"stereo","state":[{"name":"z1","kind":"array","at":"z1","len":2}]}"#;

/// The capacity of each buffer in frames; Wasp reads it once after `wasp_init`.
#[no_mangle]
pub extern "C" fn wasp_block() -> i32 {
    BLOCK as i32
}

/// Called once before processing with the sample rate and the largest block size.
#[no_mangle]
pub extern "C" fn wasp_init(sample_rate: f32, _max_frames: i32) {
    // SAFETY: Wasp calls a module from one thread at a time, so nothing else touches the statics.
    unsafe { B = 1.0 - (-core::f32::consts::TAU * 1000.0 / sample_rate).exp() };
}

/// Called when the host resets the transport.
#[no_mangle]
pub extern "C" fn wasp_reset() {
    // SAFETY: as in `wasp_init`.
    unsafe { Z1 = [0.0; 2] };
}

/// Processes `frames` frames of the buffers in place.
#[no_mangle]
pub extern "C" fn wasp_process(frames: i32) {
    let n = (frames.max(0) as usize).min(BLOCK);
    // SAFETY: as in `wasp_init`; Wasp does not touch the buffers while this runs.
    let ([left, right], b, [mut zl, mut zr]) =
        unsafe { (&mut *core::ptr::addr_of_mut!(BUFFERS), B, Z1) };
    for (l, r) in left[..n].iter_mut().zip(&mut right[..n]) {
        zl += b * (*l - zl);
        zr += b * (*r - zr);
        *l = zl;
        *r = zr;
    }
    // SAFETY: as in `wasp_init`.
    unsafe { Z1 = [zl, zr] };
}

/// Processes one frame, writing the result to `wasp_frame`.
#[no_mangle]
pub extern "C" fn dsp(left: f32, right: f32) {
    // SAFETY: as in `wasp_init`.
    unsafe {
        Z1[0] += B * (left - Z1[0]);
        Z1[1] += B * (right - Z1[1]);
        FRAME = Z1;
    }
}
