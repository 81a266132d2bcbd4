//! Parameter values on their way from the editor to the running module.
//!
//! The bank holds one plain value per declared parameter of the most recently prepared module
//! (its generation is stored alongside) and a bit per parameter that has changed since the
//! audio thread last passed it on through `wasp_set_param`. Non-audio threads write it under
//! the controller's lock, which serialises them with the worker re-targeting it at a new
//! module; the audio thread only reads values and takes the changed bits, lock-free.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Most parameters a module may declare: one bit each in the changed mask.
pub const MAX_PARAMS: usize = 64;

#[derive(Debug)]
pub(crate) struct ParamBank {
    /// Generation of the module the values belong to.
    generation: AtomicU64,
    /// Plain values (f32 bits), by the module's parameter index.
    values: [AtomicU32; MAX_PARAMS],
    /// Bit `i` set: value `i` changed and has not reached the module yet.
    changed: AtomicU64,
}

impl Default for ParamBank {
    fn default() -> Self {
        Self {
            generation: AtomicU64::new(0),
            values: std::array::from_fn(|_| AtomicU32::new(0)),
            changed: AtomicU64::new(0),
        }
    }
}

impl ParamBank {
    /// The value at `index` (any thread).
    pub fn value(&self, index: usize) -> f32 {
        // Relaxed: a single value; the Acquire in `take_changed` orders it for the audio thread.
        f32::from_bits(self.values[index].load(Ordering::Relaxed))
    }

    /// The generation the values belong to (any thread).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Non-audio threads, under the controller's lock: sets a value and marks it changed.
    pub fn set(&self, index: usize, value: f32) {
        self.values[index].store(value.to_bits(), Ordering::Relaxed);
        // Release pairs with the Acquire in `take_changed`: the audio thread that sees the bit
        // also sees the value stored above.
        self.changed.fetch_or(1 << index, Ordering::Release);
    }

    /// Worker, under the controller's lock: points the bank at a new module's values. The
    /// worker has already passed them to the new instance, so nothing is marked changed.
    pub fn retarget(&self, generation: u64, values: &[f32]) {
        for (slot, v) in self.values.iter().zip(values) {
            slot.store(v.to_bits(), Ordering::Relaxed);
        }
        self.changed.store(0, Ordering::Relaxed);
        // Release pairs with the Acquire in `generation`: whoever sees the new generation sees
        // its values.
        self.generation.store(generation, Ordering::Release);
    }

    /// Audio thread: takes the changed bits if the bank belongs to `generation`, else leaves
    /// them for the instance they belong to. Realtime-safe.
    pub fn take_changed(&self, generation: u64) -> u64 {
        if self.generation() != generation || self.changed.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        // Acquire pairs with the Release in `set`.
        self.changed.swap(0, Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_reach_only_the_generation_they_belong_to() {
        let bank = ParamBank::default();
        bank.retarget(3, &[0.5, 2.0]);
        assert_eq!(bank.take_changed(3), 0);
        bank.set(1, 4.0);
        assert_eq!(
            bank.take_changed(2),
            0,
            "an older instance must not take them"
        );
        assert_eq!(bank.take_changed(3), 0b10);
        assert_eq!(bank.value(1), 4.0);
        assert_eq!(bank.take_changed(3), 0);
    }
}
