//! Poly synth: eight voices of a band-limited sawtooth (polyBLEP) through a resonant
//! state-variable low-pass, each with its own ADSR envelope. A new note takes a free voice,
//! else the quietest releasing one, else the oldest.
//!
//! The voices live in declared state, so a live swap to a new version keeps held notes
//! sounding.

#![no_std]

use core::f32::consts::PI;
use wasp_sdk::{math, Module};

const VOICES: usize = 8;

/// Envelope stages.
const IDLE: i32 = 0;
const ATTACK: i32 = 1;
const DECAY: i32 = 2;
const RELEASE: i32 = 3;

struct PolySynth {
    rate: f32,
    // Per voice, in declared state.
    phase: &'static mut [f32; VOICES],
    level: &'static mut [f32; VOICES],
    velocity: &'static mut [f32; VOICES],
    stage: &'static mut [i32; VOICES],
    key: &'static mut [i32; VOICES],
    age: &'static mut [i32; VOICES],
    /// Filter memories, two per voice.
    filter: &'static mut [f32; 2 * VOICES],
    // Settings and what follows from them.
    cutoff: f32,
    resonance: f32,
    attack_step: f32,
    decay_b: f32,
    sustain: f32,
    release_b: f32,
    volume: f32,
    /// State-variable filter coefficients.
    a1: f32,
    a2: f32,
    a3: f32,
    k: f32,
}

/// The polyBLEP correction of a sawtooth's jump near phase 0, for a phase step `dt`.
#[inline]
fn blep(t: f32, dt: f32) -> f32 {
    if t < dt {
        let t = t / dt;
        t + t - t * t - 1.0
    } else if t > 1.0 - dt {
        let t = (t - 1.0) / dt;
        t * t + t + t + 1.0
    } else {
        0.0
    }
}

impl PolySynth {
    fn filter_coefficients(&mut self) {
        let fc = self.cutoff.min(0.45 * self.rate);
        let g = math::tan(PI * fc / self.rate);
        self.k = 2.0 - 1.95 * self.resonance;
        self.a1 = 1.0 / (1.0 + g * (g + self.k));
        self.a2 = g * self.a1;
        self.a3 = g * self.a2;
    }

    fn time_coefficient(&self, ms: f32) -> f32 {
        math::one_pole(ms * 0.001 / 4.0, self.rate)
    }
}

impl Module for PolySynth {
    fn new(sample_rate: f32, _max_frames: usize) -> Self {
        let mut synth = PolySynth {
            rate: sample_rate,
            phase: state::phase.take(),
            level: state::level.take(),
            velocity: state::velocity.take(),
            stage: state::stage.take(),
            key: state::key.take(),
            age: state::age.take(),
            filter: state::filter.take(),
            cutoff: 2500.0,
            resonance: 0.3,
            attack_step: 1.0,
            decay_b: 1.0,
            sustain: 0.7,
            release_b: 1.0,
            volume: 0.5,
            a1: 0.0,
            a2: 0.0,
            a3: 0.0,
            k: 2.0,
        };
        synth.filter_coefficients();
        synth
    }

    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            param::cutoff => self.cutoff = value,
            param::resonance => self.resonance = value / 100.0,
            // Attack rises linearly; decay and release fall most of the way in their time.
            param::attack => self.attack_step = 1.0 / (value * 0.001 * self.rate).max(1.0),
            param::decay => self.decay_b = self.time_coefficient(value),
            param::sustain => self.sustain = value / 100.0,
            param::release => self.release_b = self.time_coefficient(value),
            param::volume => self.volume = math::db_to_gain(value),
            _ => {}
        }
        self.filter_coefficients();
    }

    fn reset(&mut self) {
        *self.stage = [IDLE; VOICES];
        *self.level = [0.0; VOICES];
        *self.filter = [0.0; 2 * VOICES];
    }

    fn note_on(&mut self, key: u8, velocity: f32) {
        let key = i32::from(key);
        // Ages come from the declared state, so they stay in order across a swap.
        let newest = self.age.iter().copied().max().unwrap_or(0);
        let free = (0..VOICES).find(|&v| self.stage[v] != IDLE && self.key[v] == key);
        let free = free.or_else(|| (0..VOICES).find(|&v| self.stage[v] == IDLE));
        let releasing = (0..VOICES)
            .filter(|&v| self.stage[v] == RELEASE)
            .min_by(|&a, &b| self.level[a].total_cmp(&self.level[b]));
        let oldest = (0..VOICES).min_by_key(|&v| self.age[v]).unwrap_or(0);
        let v = free.or(releasing).unwrap_or(oldest);
        self.key[v] = key;
        self.velocity[v] = velocity;
        self.stage[v] = ATTACK;
        self.age[v] = newest.wrapping_add(1);
    }

    fn note_off(&mut self, key: u8, _velocity: f32) {
        for v in 0..VOICES {
            if self.key[v] == i32::from(key) && self.stage[v] != IDLE {
                self.stage[v] = RELEASE;
            }
        }
    }

    fn midi(&mut self, status: u8, data1: u8, _data2: u8) {
        if status & 0xf0 != 0xb0 {
            return;
        }
        match data1 {
            // All notes off: every voice releases.
            123 => {
                for v in 0..VOICES {
                    if self.stage[v] != IDLE {
                        self.stage[v] = RELEASE;
                    }
                }
            }
            // All sound off: silence now.
            120 => self.reset(),
            _ => {}
        }
    }

    fn process(&mut self, channels: &mut [&mut [f32]]) {
        let [left, right] = channels else { return };
        left.fill(0.0);
        for v in 0..VOICES {
            if self.stage[v] == IDLE {
                continue;
            }
            // The pitch from the key at this sample rate (not carried as state, so a new rate
            // keeps held notes in tune).
            let dt = 440.0 * math::exp2((self.key[v] - 69) as f32 / 12.0) / self.rate;
            let (mut phase, mut level, mut stage) = (self.phase[v], self.level[v], self.stage[v]);
            let (mut ic1, mut ic2) = (self.filter[2 * v], self.filter[2 * v + 1]);
            let gain = self.velocity[v] * self.volume * 0.3;
            for out in left.iter_mut() {
                match stage {
                    ATTACK => {
                        level += self.attack_step;
                        if level >= 1.0 {
                            level = 1.0;
                            stage = DECAY;
                        }
                    }
                    DECAY => level += self.decay_b * (self.sustain - level),
                    _ => {
                        level -= self.release_b * level;
                        if level < 1e-4 {
                            level = 0.0;
                            stage = IDLE;
                        }
                    }
                }
                let saw = 2.0 * phase - 1.0 - blep(phase, dt);
                phase += dt;
                if phase >= 1.0 {
                    phase -= 1.0;
                }
                // Zavalishin's trapezoidal state-variable filter, low-pass output.
                let v3 = saw - ic2;
                let v1 = self.a1 * ic1 + self.a2 * v3;
                let v2 = ic2 + self.a2 * ic1 + self.a3 * v3;
                ic1 = 2.0 * v1 - ic1;
                ic2 = 2.0 * v2 - ic2;
                *out += v2 * level * gain;
            }
            self.phase[v] = phase;
            self.level[v] = level;
            self.stage[v] = stage;
            self.filter[2 * v] = ic1;
            self.filter[2 * v + 1] = ic2;
        }
        right.copy_from_slice(left);
    }
}

wasp_sdk::module! {
    module: PolySynth,
    name: "Poly synth",
    author: "Wasp",
    version: "1.0.0",
    channels: stereo,
    block: 512,
    notes: true,
    params: [
        { id: cutoff, name: "Cutoff", min: 80.0, max: 16000.0, default: 2500.0, unit: "Hz",
          scale: log },
        { id: resonance, name: "Resonance", min: 0.0, max: 100.0, default: 30.0, unit: "%" },
        { id: attack, name: "Attack", min: 1.0, max: 2000.0, default: 5.0, unit: "ms",
          scale: log },
        { id: decay, name: "Decay", min: 5.0, max: 4000.0, default: 300.0, unit: "ms",
          scale: log },
        { id: sustain, name: "Sustain", min: 0.0, max: 100.0, default: 70.0, unit: "%" },
        { id: release, name: "Release", min: 5.0, max: 5000.0, default: 400.0, unit: "ms",
          scale: log },
        { id: volume, name: "Volume", min: -40.0, max: 6.0, default: -6.0, unit: "dB" },
    ],
    state: {
        phase: array [f32; 8],
        level: array [f32; 8],
        velocity: array [f32; 8],
        stage: array [i32; 8],
        key: array [i32; 8],
        age: array [i32; 8],
        filter: array [f32; 16],
    },
}
