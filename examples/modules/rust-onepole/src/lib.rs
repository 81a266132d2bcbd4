//! A one-pole low-pass for Wasp, in Rust with the Wasp SDK (`sdk/rust`), processing whole
//! blocks.
//!
//! The same filter as `onepole.wat`, `onepole-block.wat` and `c/onepole.c`, with its memory
//! declared as the state "z1": a live swap between any of them carries the filter memory. Its
//! coefficient comes from Wasp's `expf`, as the WAT's does, so the two agree to the last bit.
//! A recursive filter gains nothing from SIMD: each sample needs the one before. The loop keeps
//! both channels' memories in registers, so their two dependency chains run side by side.

#![no_std]

use core::f32::consts::TAU;
use wasp_sdk::{math, Module};

struct OnePole {
    rate: f32,
    /// The coefficient for the cutoff.
    b: f32,
    /// The filter memory, left and right: the declared state.
    z1: &'static mut [f32; 2],
}

impl OnePole {
    fn coefficient(&self, cutoff: f32) -> f32 {
        1.0 - math::exp(-TAU * cutoff / self.rate)
    }
}

impl Module for OnePole {
    fn new(sample_rate: f32, _max_frames: usize) -> Self {
        let mut filter = OnePole {
            rate: sample_rate,
            b: 0.0,
            z1: state::z1.take(),
        };
        filter.b = filter.coefficient(1000.0);
        filter
    }

    fn set_param(&mut self, index: usize, value: f32) {
        if index == param::cutoff {
            self.b = self.coefficient(value);
        }
    }

    fn reset(&mut self) {
        *self.z1 = [0.0; 2];
    }

    fn process(&mut self, channels: &mut [&mut [f32]]) {
        let [left, right] = channels else { return };
        let (b, [mut zl, mut zr]) = (self.b, *self.z1);
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            zl += b * (*l - zl);
            zr += b * (*r - zr);
            *l = zl;
            *r = zr;
        }
        *self.z1 = [zl, zr];
    }
}

wasp_sdk::module! {
    module: OnePole,
    name: "One-pole low-pass 1 kHz (Rust SDK, block)",
    author: "Wasp examples",
    version: "1.0.0",
    channels: stereo,
    block: 1024,
    params: [
        { id: cutoff, name: "Cutoff", min: 20.0, max: 20000.0, default: 1000.0,
          unit: "Hz", scale: log },
    ],
    state: { z1: array [f32; 2] },
}
