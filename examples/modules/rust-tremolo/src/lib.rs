//! A stereo tremolo for Wasp, in Rust with the Wasp SDK (`sdk/rust`): a sine LFO modulating
//! the level, 5 Hz and ±50 % by default.
//!
//! The LFO phase is declared state, so a live swap to a new version keeps the tremolo in time.

#![no_std]

use core::f32::consts::TAU;
use wasp_sdk::{math, Module};

struct Tremolo {
    rate: f32,
    /// LFO cycles per sample.
    step: f32,
    depth: f32,
    /// LFO phase in cycles, in declared state.
    phase: &'static mut f32,
}

impl Module for Tremolo {
    fn new(sample_rate: f32, _max_frames: usize) -> Self {
        Tremolo {
            rate: sample_rate,
            step: 5.0 / sample_rate,
            depth: 0.5,
            phase: state::lfo_phase.take(),
        }
    }

    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            param::speed => self.step = value / self.rate,
            param::depth => self.depth = value / 100.0,
            _ => {}
        }
    }

    fn reset(&mut self) {
        *self.phase = 0.0;
    }

    fn process(&mut self, channels: &mut [&mut [f32]]) {
        let [left, right] = channels else { return };
        let mut phase = *self.phase;
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let gain = 1.0 - self.depth * 0.5 * (1.0 + math::sin(TAU * phase));
            phase += self.step;
            if phase >= 1.0 {
                phase -= 1.0;
            }
            *l *= gain;
            *r *= gain;
        }
        *self.phase = phase;
    }
}

wasp_sdk::module! {
    module: Tremolo,
    name: "Tremolo (Rust)",
    author: "Wasp examples",
    version: "1.1.0",
    channels: stereo,
    block: 512,
    params: [
        { id: speed, name: "Speed", min: 0.1, max: 20.0, default: 5.0, unit: "Hz", scale: log },
        { id: depth, name: "Depth", min: 0.0, max: 100.0, default: 50.0, unit: "%" },
    ],
    state: { lfo_phase: scalar f32 },
}
