//! Parameter values on their way from the editor to the running module.
//!
//! The bank holds one plain value per declared parameter of the most recently prepared module
//! (its generation is stored alongside) and a bit per parameter that has changed since the
//! audio thread last passed it on through `wasp_set_param`. Non-audio threads write it under
//! the controller's lock, which serialises them with the worker re-targeting it at a new
//! module; the audio thread only reads values and takes the changed bits, lock-free.
//!
//! Re-targeting rewrites every value and the generation, which no single atomic holds, so it
//! is guarded like a sequence lock: the audio thread takes a snapshot of the changed values and
//! keeps it only if no re-targeting began or ended meanwhile. A value of the new module can
//! therefore never reach the old module's instance.

use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

/// Most parameters a module may declare: one bit each in the changed mask.
pub const MAX_PARAMS: usize = 64;

#[derive(Debug)]
pub(crate) struct ParamBank {
    /// Even while the bank is stable, odd while the worker re-targets it.
    seq: AtomicU64,
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
            seq: AtomicU64::new(0),
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
        // Writers are serialised by the controller's lock, so a plain read-modify-write of the
        // sequence is enough. Odd: re-targeting under way.
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        // Release fence: a reader that sees any of the writes below also sees the odd sequence.
        fence(Ordering::Release);
        for (slot, v) in self.values.iter().zip(values) {
            slot.store(v.to_bits(), Ordering::Relaxed);
        }
        self.changed.store(0, Ordering::Relaxed);
        self.generation.store(generation, Ordering::Relaxed);
        // Release pairs with the Acquire loads of the sequence: whoever sees it even again sees
        // the new values and generation.
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// Audio thread: takes the changed bits and a snapshot of their values into `values`, if
    /// the bank belongs to `generation`; else leaves them for the instance they belong to and
    /// returns 0. A snapshot that a re-targeting may have torn is given back (its bits set
    /// again) and 0 is returned; the next block tries again. Realtime-safe, wait-free.
    pub fn take_changed(&self, generation: u64, values: &mut [f32; MAX_PARAMS]) -> u64 {
        // Acquire pairs with the final Release store in `retarget`.
        let before = self.seq.load(Ordering::Acquire);
        if before % 2 == 1
            || self.generation.load(Ordering::Relaxed) != generation
            || self.changed.load(Ordering::Relaxed) == 0
        {
            return 0;
        }
        // Acquire pairs with the Release in `set`: the values of the bits taken are visible.
        let bits = self.changed.swap(0, Ordering::Acquire);
        for (out, slot) in values.iter_mut().zip(&self.values) {
            *out = f32::from_bits(slot.load(Ordering::Relaxed));
        }
        // Acquire fence: the loads above happen before the sequence is read again, so a
        // re-targeting that wrote any of them shows up as a changed sequence.
        fence(Ordering::Acquire);
        if self.seq.load(Ordering::Relaxed) != before {
            // Release: like `set`, for whoever takes these bits next.
            self.changed.fetch_or(bits, Ordering::Release);
            return 0;
        }
        bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_reach_only_the_generation_they_belong_to() {
        let bank = ParamBank::default();
        let mut values = [0.0; MAX_PARAMS];
        bank.retarget(3, &[0.5, 2.0]);
        assert_eq!(bank.take_changed(3, &mut values), 0);
        bank.set(1, 4.0);
        assert_eq!(
            bank.take_changed(2, &mut values),
            0,
            "an older instance must not take them"
        );
        assert_eq!(bank.take_changed(3, &mut values), 0b10);
        assert_eq!(values[1], 4.0);
        assert_eq!(bank.take_changed(3, &mut values), 0);
    }

    /// Issue 8, item 16: the worker re-targets the bank at a new module while the audio thread
    /// takes changes for the old one. The old module's instance must only ever see its own
    /// values (1.0), never the new module's (2.0).
    #[test]
    fn a_retarget_never_leaks_new_values_to_the_old_instance() {
        use std::sync::atomic::AtomicBool;
        use std::sync::{Arc, Mutex};
        let bank = Arc::new(ParamBank::default());
        let lock = Arc::new(Mutex::new(()));
        let stop = Arc::new(AtomicBool::new(false));
        let old = [1.0f32; MAX_PARAMS];
        let new = [2.0f32; MAX_PARAMS];
        bank.retarget(1, &old);
        let writer = {
            let (bank, lock, stop) = (bank.clone(), lock.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut rounds = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    {
                        let _held = lock.lock().unwrap();
                        // The old module's value moves, then the new module takes over and its
                        // value moves too; then back, and the old module's value moves again.
                        bank.set((rounds % 64) as usize, 1.0);
                        bank.retarget(2, &new);
                        bank.set((rounds % 64) as usize, 2.0);
                        bank.retarget(1, &old);
                        bank.set(((rounds + 1) % 64) as usize, 1.0);
                    }
                    // A short pause, so the audio side also gets snapshots that are not torn.
                    for _ in 0..(rounds % 4) * 2000 {
                        std::hint::spin_loop();
                    }
                    rounds += 1;
                }
                rounds
            })
        };
        let mut values = [0.0; MAX_PARAMS];
        let mut taken = 0u64;
        let started = std::time::Instant::now();
        let ms = |n| std::time::Duration::from_millis(n);
        // At least 300 ms, and until some values were taken (at most 10 s).
        while (started.elapsed() < ms(300) || taken == 0) && started.elapsed() < ms(10_000) {
            let bits = bank.take_changed(1, &mut values);
            let mut b = bits;
            while b != 0 {
                let i = b.trailing_zeros() as usize;
                b &= b - 1;
                assert_eq!(
                    values[i], 1.0,
                    "a new module's value reached the old instance"
                );
                taken += 1;
            }
        }
        stop.store(true, Ordering::Relaxed);
        let rounds = writer.join().unwrap();
        eprintln!("{rounds} re-targetings, {taken} values taken by the old instance");
        assert!(rounds > 0 && taken > 0, "rounds {rounds}, taken {taken}");
    }
}
