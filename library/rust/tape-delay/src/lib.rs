//! Tape-style stereo delay: the delay time glides when it changes (as a tape machine's speed
//! would), a slow wow wobbles it, and the repeats pass a tone low-pass, a low cut and a soft
//! saturator on their way back, so each one is darker and rounder than the last.
//!
//! The delay lines are declared as rings, so a live swap to another version keeps every echo
//! in flight.

#![no_std]

use core::f32::consts::TAU;
use wasp_sdk::{math, Module, Ring};

/// Ring capacity: a little over 2 s at 192 kHz.
const LINE: usize = 400_000;

struct TapeDelay {
    rate: f32,
    lines: [Ring; 2],
    /// Filter memories: tone low-pass left, right, then low-cut left, right.
    filters: &'static mut [f32; 4],
    /// Wow phase in cycles, and the delay time as it glides, in milliseconds (not samples,
    /// so a new sample rate keeps the echoes where they were).
    wow_phase: &'static mut f32,
    time_now: &'static mut f32,
    /// Settings.
    time: f32,
    feedback: f32,
    tone: f32,
    wow: f32,
    mix: f32,
    /// Coefficients derived from them.
    tone_b: f32,
    cut_b: f32,
    glide_b: f32,
}

impl TapeDelay {
    /// Samples per millisecond.
    fn per_ms(&self) -> f32 {
        0.001 * self.rate
    }

    /// The set time in samples, inside the line.
    fn target(&self) -> f32 {
        (self.time * self.per_ms()).clamp(1.0, (LINE - 2) as f32)
    }
}

/// A sine for the wow, from a phase in cycles: a parabola per half cycle, smooth enough for a
/// wobble of a few samples and cheaper than a call to `sin`.
fn wobble(phase: f32) -> f32 {
    let x = phase - math::floor(phase);
    let (x, sign) = if x < 0.5 { (x, 1.0) } else { (x - 0.5, -1.0) };
    sign * 16.0 * x * (0.5 - x)
}

impl Module for TapeDelay {
    fn new(sample_rate: f32, _max_frames: usize) -> Self {
        let mut delay = TapeDelay {
            rate: sample_rate,
            lines: [state::line_l.take(), state::line_r.take()],
            filters: state::filters.take(),
            wow_phase: state::wow_phase.take(),
            time_now: state::time_now.take(),
            time: 350.0,
            feedback: 0.45,
            tone: 3500.0,
            wow: 0.2,
            mix: 0.35,
            tone_b: 0.0,
            cut_b: 1.0 - math::exp(-TAU * 40.0 / sample_rate),
            // The time glides over about 80 ms.
            glide_b: math::one_pole(0.08, sample_rate),
        };
        delay.tone_b = 1.0 - math::exp(-TAU * delay.tone / sample_rate);
        if *delay.time_now <= 0.0 {
            *delay.time_now = delay.time;
        }
        delay
    }

    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            param::time => self.time = value,
            param::feedback => self.feedback = value / 100.0,
            param::tone => {
                self.tone = value;
                self.tone_b = 1.0 - math::exp(-TAU * value / self.rate);
            }
            param::wow => self.wow = value / 100.0,
            param::mix => self.mix = value / 100.0,
            _ => {}
        }
    }

    fn reset(&mut self) {
        for line in &mut self.lines {
            line.clear();
        }
        *self.filters = [0.0; 4];
    }

    fn process(&mut self, channels: &mut [&mut [f32]]) {
        let [left, right] = channels else { return };
        let target = self.target();
        // Wow: a 0.6 Hz wobble of up to 1.5 ms.
        let wow_step = 0.6 / self.rate;
        let wow_depth = self.wow * 0.0015 * self.rate;
        // The glide runs on the distance to the target, which shrinks towards zero with full
        // precision; gliding the time itself would stall up to a sample short of the target,
        // where a step smaller than half a float's spacing rounds away.
        let per_ms = self.per_ms();
        let (mut offset, mut phase) = (*self.time_now * per_ms - target, *self.wow_phase);
        let [lp_l, lp_r, hp_l, hp_r] = self.filters;
        let mut memories = [(lp_l, hp_l), (lp_r, hp_r)];
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            offset -= self.glide_b * offset;
            phase += wow_step;
            if phase >= 1.0 {
                phase -= 1.0;
            }
            let delay = target + offset + wow_depth * (1.0 + wobble(phase));
            for ((x, line), (lp, hp)) in [&mut *l, &mut *r]
                .into_iter()
                .zip(self.lines.iter_mut())
                .zip(memories.iter_mut())
            {
                let echo = line.tap_frac(delay);
                **lp += self.tone_b * (echo - **lp);
                **hp += self.cut_b * (**lp - **hp);
                let back = math::tanh((**lp - **hp) * self.feedback);
                line.push(*x + back);
                *x += self.mix * (echo - *x);
            }
        }
        *self.time_now = (target + offset) / per_ms;
        // Filter memories decaying in silence would end in subnormal numbers, which are slow.
        for memory in self.filters.iter_mut() {
            if memory.abs() < 1e-15 {
                *memory = 0.0;
            }
        }
        *self.wow_phase = phase;
    }
}

wasp_sdk::module! {
    module: TapeDelay,
    name: "Tape delay",
    author: "Wasp",
    version: "1.0.0",
    channels: stereo,
    block: 512,
    // At 95 % feedback the repeats take minutes to die away.
    tail: "infinite",
    params: [
        { id: time, name: "Time", min: 1.0, max: 2000.0, default: 350.0, unit: "ms", scale: log },
        { id: feedback, name: "Feedback", min: 0.0, max: 95.0, default: 45.0, unit: "%" },
        { id: tone, name: "Tone", min: 500.0, max: 12000.0, default: 3500.0, unit: "Hz",
          scale: log },
        { id: wow, name: "Wow", min: 0.0, max: 100.0, default: 20.0, unit: "%" },
        { id: mix, name: "Mix", min: 0.0, max: 100.0, default: 35.0, unit: "%" },
    ],
    state: {
        line_l: ring [f32; 400000],
        line_r: ring [f32; 400000],
        filters: array [f32; 4],
        wow_phase: scalar f32,
        time_now: scalar f32,
    },
}
