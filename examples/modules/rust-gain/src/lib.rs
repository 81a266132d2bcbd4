//! A stereo gain for Wasp, in Rust with the Wasp SDK (`sdk/rust`), processing whole blocks
//! with WebAssembly SIMD.
//!
//! The gain moves towards a new setting over a few milliseconds (a one-pole smoother, per
//! sample) so automation does not click; once it has arrived, four samples are multiplied at a
//! time. The SDK's `dsp` runs the same code one frame at a time, so Wasp can fall back to it.

#![no_std]

#[cfg(target_feature = "simd128")]
use core::arch::wasm32::{f32x4_mul, f32x4_splat, v128, v128_load, v128_store};
use wasp_sdk::{math, Module};

struct Gain {
    /// The gain applied now and the one the parameter asks for, linear.
    gain: f32,
    target: f32,
    /// How far the gain moves towards its target per sample.
    smooth: f32,
    /// Whether a block has been processed: until then a new setting applies at once.
    started: bool,
}

/// Decibels to a linear gain, the same way for the start value and for every change.
fn linear(db: f32) -> f32 {
    math::pow(10.0, db / 20.0)
}

impl Gain {
    /// The gain for the next sample, moving towards the target; snaps when it is within
    /// 0.01 % (-80 dB), before float rounding can stall it short of the target.
    #[inline(always)]
    fn step(&mut self) -> f32 {
        self.gain += (self.target - self.gain) * self.smooth;
        let off = self.target - self.gain;
        if off <= 1e-4 * self.target && -off <= 1e-4 * self.target {
            self.gain = self.target;
        }
        self.gain
    }
}

impl Module for Gain {
    fn new(sample_rate: f32, _max_frames: usize) -> Self {
        let start = linear(-6.0);
        Gain {
            gain: start,
            target: start,
            // A 5 ms time constant at any sample rate.
            smooth: math::one_pole(0.005, sample_rate),
            started: false,
        }
    }

    fn set_param(&mut self, index: usize, value: f32) {
        if index == param::gain {
            self.target = linear(value);
            // The project's value arrives before the first block: start there.
            if !self.started {
                self.gain = self.target;
            }
        }
    }

    fn process(&mut self, channels: &mut [&mut [f32]]) {
        self.started = true;
        let [left, right] = channels else { return };
        let n = left.len();
        let mut i = 0;
        // While the gain moves, sample by sample.
        while i < n && self.gain != self.target {
            let g = self.step();
            left[i] *= g;
            right[i] *= g;
            i += 1;
        }
        scale(&mut left[i..], self.gain);
        scale(&mut right[i..], self.gain);
    }
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

wasp_sdk::module! {
    module: Gain,
    name: "Gain (Rust SDK, block, SIMD)",
    author: "Wasp examples",
    version: "1.0.0",
    channels: stereo,
    block: 1024,
    params: [
        { id: gain, name: "Gain", min: -60.0, max: 12.0, default: -6.0, unit: "dB" },
    ],
}
