//! Utility: gain, stereo width, balance, polarity flips and a mono switch, the small fixes a
//! channel strip needs. Gain and width glide over a few milliseconds, so automating them does
//! not click.

#![no_std]

use wasp_sdk::{math, Module};

struct Utility {
    smooth: f32,
    /// Targets of the gliding settings: left gain, right gain, side gain.
    target: [f32; 3],
    /// Where they are now: declared state, so a swap does not make them jump.
    now: &'static mut [f32; 3],
    gain_db: f32,
    width: f32,
    balance: f32,
    flip_left: bool,
    flip_right: bool,
    mono: bool,
    /// Whether a block has been processed: until then, settings apply at once (a project
    /// restored at -60 dB must not start with a burst at 0 dB).
    started: bool,
}

impl Utility {
    fn retarget(&mut self) {
        let gain = math::db_to_gain(self.gain_db);
        // Balance turns the other side down, never this one up: at +100 % only the right plays.
        let left = gain * (1.0 - self.balance).min(1.0);
        let right = gain * (1.0 + self.balance).min(1.0);
        let sign = |flip: bool| if flip { -1.0 } else { 1.0 };
        let width = if self.mono { 0.0 } else { self.width };
        self.target = [
            left * sign(self.flip_left),
            right * sign(self.flip_right),
            width,
        ];
    }
}

impl Module for Utility {
    fn new(sample_rate: f32, _max_frames: usize) -> Self {
        let now = state::gains.take();
        let mut utility = Utility {
            smooth: math::one_pole(0.005, sample_rate),
            target: [1.0, 1.0, 1.0],
            now,
            gain_db: 0.0,
            width: 1.0,
            balance: 0.0,
            flip_left: false,
            flip_right: false,
            mono: false,
            started: false,
        };
        utility.retarget();
        *utility.now = utility.target;
        utility
    }

    fn set_param(&mut self, index: usize, value: f32) {
        match index {
            param::gain => self.gain_db = value,
            param::width => self.width = value / 100.0,
            param::balance => self.balance = value / 100.0,
            param::flip_left => self.flip_left = value >= 0.5,
            param::flip_right => self.flip_right = value >= 0.5,
            param::mono => self.mono = value >= 0.5,
            _ => {}
        }
        self.retarget();
        if !self.started {
            *self.now = self.target;
        }
    }

    fn process(&mut self, channels: &mut [&mut [f32]]) {
        self.started = true;
        let [left, right] = channels else { return };
        let [mut gl, mut gr, mut width] = *self.now;
        let [tl, tr, tw] = self.target;
        let b = self.smooth;
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            gl += b * (tl - gl);
            gr += b * (tr - gr);
            width += b * (tw - width);
            // Mid and side; width scales the side.
            let mid = 0.5 * (*l + *r);
            let side = 0.5 * (*l - *r) * width;
            *l = (mid + side) * gl;
            *r = (mid - side) * gr;
        }
        // Arrived: settle exactly, so the glide does not creep on through subnormal numbers
        // (a width gliding to 0 would).
        for (now, target) in [&mut gl, &mut gr, &mut width].into_iter().zip([tl, tr, tw]) {
            let off = *now - target;
            if off < 1e-6 && off > -1e-6 {
                *now = target;
            }
        }
        *self.now = [gl, gr, width];
    }
}

wasp_sdk::module! {
    module: Utility,
    name: "Utility",
    author: "Wasp",
    version: "1.0.0",
    channels: stereo,
    block: 512,
    params: [
        { id: gain, name: "Gain", min: -60.0, max: 24.0, default: 0.0, unit: "dB" },
        { id: width, name: "Width", min: 0.0, max: 200.0, default: 100.0, unit: "%" },
        { id: balance, name: "Balance", min: -100.0, max: 100.0, default: 0.0, unit: "%" },
        { id: flip_left, name: "Flip left", min: 0.0, max: 1.0, default: 0.0,
          choices: ["Off" = 0.0, "On" = 1.0] },
        { id: flip_right, name: "Flip right", min: 0.0, max: 1.0, default: 0.0,
          choices: ["Off" = 0.0, "On" = 1.0] },
        { id: mono, name: "Mono", min: 0.0, max: 1.0, default: 0.0,
          choices: ["Off" = 0.0, "On" = 1.0] },
    ],
    state: { gains: array [f32; 3] },
}
