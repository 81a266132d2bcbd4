//! Levels, processing load and an oscilloscope feed that the audio thread publishes for the
//! editor. Atomics only: the audio thread writes without locking or allocating, the editor reads.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Samples kept for the oscilloscope (a power of two, for cheap wrapping).
pub const SCOPE_LEN: usize = 2048;

/// How many of the newest scope samples the editor draws (about 20 ms at 48 kHz).
pub const SCOPE_VIEW: usize = 1024;

/// Time constant of the average processing load, in seconds.
const CPU_AVERAGE_SECONDS: f32 = 0.3;

#[derive(Debug)]
pub struct MeterShared {
    /// Module time per block over the block's real-time duration, smoothed (f32 bits).
    cpu_average: AtomicU32,
    /// Highest single-block load since the editor last read it (f32 bits).
    cpu_peak: AtomicU32,
    /// Peak absolute samples since the editor last read them (f32 bits).
    input_peak: [AtomicU32; 2],
    output_peak: [AtomicU32; 2],
    sample_rate: AtomicU32,
    /// The newest output samples (mono mix, f32 bits), written round-robin.
    scope: Box<[AtomicU32]>,
    /// Total samples written to `scope`; the next one goes to `scope_written % SCOPE_LEN`.
    scope_written: AtomicUsize,
    /// Keys held now, one bit per MIDI key (0-63, 64-127).
    held: [AtomicU64; 2],
    /// Note-on events received so far, so the editor can flash on repeated notes.
    notes_seen: AtomicU64,
}

impl Default for MeterShared {
    fn default() -> Self {
        Self {
            cpu_average: AtomicU32::new(0),
            cpu_peak: AtomicU32::new(0),
            input_peak: Default::default(),
            output_peak: Default::default(),
            sample_rate: AtomicU32::new(0),
            scope: (0..SCOPE_LEN).map(|_| AtomicU32::new(0)).collect(),
            scope_written: AtomicUsize::new(0),
            held: Default::default(),
            notes_seen: AtomicU64::new(0),
        }
    }
}

/// Raises `slot` to `value` if it is higher. For non-negative floats the IEEE bit patterns
/// order like the values, so an integer `fetch_max` does it without a compare-exchange loop.
fn raise(slot: &AtomicU32, value: f32) {
    // Relaxed: a meter value on its own, ordered by nothing else.
    slot.fetch_max(value.max(0.0).to_bits(), Ordering::Relaxed);
}

fn peak(samples: &[f32]) -> f32 {
    samples.iter().fold(0.0f32, |m, s| m.max(s.abs()))
}

/// Raises the (left, right) peak slots to the block's peaks; a mono block feeds both.
fn raise_peaks(slots: &[AtomicU32; 2], channels: &[&mut [f32]]) {
    for (i, slot) in slots.iter().enumerate() {
        if let Some(channel) = channels.get(i).or(channels.first()) {
            raise(slot, peak(channel));
        }
    }
}

/// The meter state that only the audio thread touches.
#[derive(Debug, Default)]
pub struct MeterAudio {
    cpu_average: f32,
}

impl MeterShared {
    /// Audio thread: a key went down (`on`) or up. Realtime-safe.
    pub fn note(&self, key: u8, on: bool) {
        let key = key.min(127) as usize;
        let (word, bit) = (&self.held[key / 64], 1u64 << (key % 64));
        // Relaxed: display only.
        if on {
            word.fetch_or(bit, Ordering::Relaxed);
            self.notes_seen.fetch_add(1, Ordering::Relaxed);
        } else {
            word.fetch_and(!bit, Ordering::Relaxed);
        }
    }

    /// Audio thread: the host stopped or reset; nothing is held any more. Realtime-safe.
    pub fn release_all(&self) {
        for word in &self.held {
            word.store(0, Ordering::Relaxed);
        }
    }

    /// The keys held now (bit per key) and the number of note-ons so far.
    pub fn notes(&self) -> (u128, u64) {
        let low = self.held[0].load(Ordering::Relaxed) as u128;
        let high = self.held[1].load(Ordering::Relaxed) as u128;
        (low | high << 64, self.notes_seen.load(Ordering::Relaxed))
    }

    /// Audio thread, before processing: the input's levels. Realtime-safe.
    pub fn publish_input(&self, channels: &[&mut [f32]]) {
        raise_peaks(&self.input_peak, channels);
    }

    /// Audio thread, after processing: output levels, scope samples and the block's load,
    /// `busy_seconds` spent on `frames` frames at `sample_rate`. Realtime-safe.
    pub fn publish_output(
        &self,
        audio: &mut MeterAudio,
        channels: &[&mut [f32]],
        busy_seconds: f32,
        sample_rate: f32,
    ) {
        let frames = channels.first().map_or(0, |c| c.len());
        raise_peaks(&self.output_peak, channels);
        let mut written = self.scope_written.load(Ordering::Relaxed);
        let gain = 1.0 / channels.len().max(1) as f32;
        for i in 0..frames {
            let mix: f32 = channels.iter().map(|c| c[i]).sum::<f32>() * gain;
            // Relaxed: each slot is independent; `scope_written`'s Release below publishes them.
            self.scope[written % SCOPE_LEN].store(mix.to_bits(), Ordering::Relaxed);
            written = written.wrapping_add(1);
        }
        // Release pairs with the Acquire in `scope`: a reader that sees the new count also
        // sees the samples written before it.
        self.scope_written.store(written, Ordering::Release);

        if frames > 0 && sample_rate > 0.0 {
            let block_seconds = frames as f32 / sample_rate;
            let load = busy_seconds / block_seconds;
            let alpha = (block_seconds / CPU_AVERAGE_SECONDS).min(1.0);
            audio.cpu_average += (load - audio.cpu_average) * alpha;
            // Relaxed: independent display values.
            self.cpu_average
                .store(audio.cpu_average.to_bits(), Ordering::Relaxed);
            raise(&self.cpu_peak, load);
            self.sample_rate
                .store(sample_rate.to_bits(), Ordering::Relaxed);
        }
    }

    /// Editor: the smoothed load and the peak load since the previous call.
    pub fn take_cpu(&self) -> (f32, f32) {
        (
            f32::from_bits(self.cpu_average.load(Ordering::Relaxed)),
            f32::from_bits(self.cpu_peak.swap(0, Ordering::Relaxed)),
        )
    }

    /// Editor: peak input and output levels (left, right) since the previous call.
    pub fn take_levels(&self) -> ([f32; 2], [f32; 2]) {
        let take = |s: &AtomicU32| f32::from_bits(s.swap(0, Ordering::Relaxed));
        (
            [take(&self.input_peak[0]), take(&self.input_peak[1])],
            [take(&self.output_peak[0]), take(&self.output_peak[1])],
        )
    }

    pub fn sample_rate(&self) -> f32 {
        f32::from_bits(self.sample_rate.load(Ordering::Relaxed))
    }

    /// Editor: copies the newest `count` scope samples, oldest first, into `out`. A block
    /// written while copying can tear the oldest samples; for a display that is harmless.
    pub fn scope(&self, out: &mut Vec<f32>, count: usize) {
        out.clear();
        let written = self.scope_written.load(Ordering::Acquire);
        let count = count.min(SCOPE_LEN).min(written);
        let start = written - count;
        out.extend(
            (start..written)
                .map(|i| f32::from_bits(self.scope[i % SCOPE_LEN].load(Ordering::Relaxed))),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peaks_are_held_until_read_and_scope_keeps_the_newest_samples() {
        let meters = MeterShared::default();
        let mut audio = MeterAudio::default();
        let mut left = vec![0.25f32; 100];
        let mut right = vec![-0.5f32; 100];
        left[10] = -0.75;
        meters.publish_input(&[&mut left, &mut right]);
        meters.publish_output(&mut audio, &[&mut left, &mut right], 0.001, 48_000.0);
        let (input, output) = meters.take_levels();
        assert_eq!(input, [0.75, 0.5]);
        assert_eq!(output, [0.75, 0.5]);
        assert_eq!(meters.take_levels(), ([0.0; 2], [0.0; 2]));
        // 1 ms of work for a 100-frame block (2.08 ms) is a 48 % load.
        let (_, peak) = meters.take_cpu();
        assert!((peak - 0.48).abs() < 1e-3, "{peak}");

        let mut scope = Vec::new();
        meters.scope(&mut scope, 4);
        assert_eq!(scope, [-0.125; 4]);
        for block in 0..30 {
            let mut ramp: Vec<f32> = (0..100).map(|i| (block * 100 + i) as f32).collect();
            meters.publish_output(&mut audio, &[&mut ramp], 0.0, 48_000.0);
        }
        meters.scope(&mut scope, SCOPE_VIEW);
        assert_eq!(scope.len(), SCOPE_VIEW);
        assert_eq!(*scope.last().unwrap(), 2999.0);
        assert_eq!(scope[0], (3000 - SCOPE_VIEW) as f32);
    }
}
