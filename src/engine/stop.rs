//! Stop checks: how Wasp interrupts a module with loops without wasmtime's epoch checks.
//!
//! A module that cannot be proven to end every call quickly (see `bounds.rs`) gets, before it
//! is compiled, a check at the head of every loop and at the entry of every function: "if the
//! stop flag is raised, trap" (`driver.rs` writes them). The flag lives in a one-page memory
//! Wasp adds to the module, `__wasp_stop`, which the module's own code cannot name (it was
//! validated before the memory was added) and which is exported only to Wasp. Its first eight
//! bytes are one [`AtomicU64`], the *stop word*:
//!
//! - bytes 0..4, the flag: 0 while the module may run; what the check loads;
//! - bytes 4..8, the deadline of the call under way, in milliseconds on Wasp's monotonic clock
//!   (wrapping), 0 for none.
//!
//! Before each call the thread calling in writes the word whole, with the call's deadline and
//! the flag down ([`Stop::arm`]; realtime-safe, one atomic store). The runtime's ticker, on
//! each wake-up, reads every registered word and, if its deadline has passed, raises the flag
//! with a compare-and-swap from the value it read ([`Watches::check`]). The swap fails if
//! the caller re-armed the word meanwhile, so a call that just started is never stopped for
//! the one before it. A trap with the flag raised is a timeout.
//!
//! Why not epochs: an epoch check compares a counter the engine shares with a deadline kept in
//! the store, and measured on the block one-pole it cost more than the filter itself
//! (benches/dsp.rs, `onepole_isolation`); the stop check is one load from a page of the
//! module's own and a branch never taken.
//!
//! Start functions run inside instantiation, before Wasp can see the stop memory, so the
//! rewrite turns a module's start function into an export, `__wasp_start`, which Wasp calls
//! right after instantiating, once the word is armed; the module sees the same order of
//! events (segments initialised, then its start function, then `wasp_init`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The export of the stop memory.
pub(crate) const MEMORY: &str = "__wasp_stop";
/// The export a module's start function becomes.
pub(crate) const START: &str = "__wasp_start";
/// Bytes of the stop memory: one page, which also lets the compiler drop the bounds check of
/// the flag's load.
pub(crate) const BYTES: u64 = 1 << 16;

/// A fixed point on the monotonic clock that the epoch's credit (`sandbox.rs`) and stop
/// deadlines count from.
fn clock_base() -> Instant {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// Time from Wasp's fixed point on the monotonic clock to `at` (zero before it).
pub(crate) fn since_base(at: Instant) -> Duration {
    at.saturating_duration_since(clock_base())
}

/// Milliseconds on Wasp's monotonic clock, wrapping every 49 days.
fn millis(at: Instant) -> u32 {
    since_base(at).as_millis() as u32
}

/// The word with the flag down and `deadline` set.
fn armed(deadline: u32) -> u64 {
    let mut bytes = [0u8; 8];
    // Never 0, which means "no deadline".
    bytes[4..].copy_from_slice(&deadline.max(1).to_ne_bytes());
    u64::from_ne_bytes(bytes)
}

/// The flag and the deadline of a word.
fn parts(word: u64) -> (u32, u32) {
    let bytes = word.to_ne_bytes();
    let half = |range: std::ops::Range<usize>| {
        u32::from_ne_bytes(bytes[range].try_into().unwrap_or_default())
    };
    (half(0..4), half(4..8))
}

/// The same word with the flag raised.
fn raised(word: u64) -> u64 {
    let mut bytes = word.to_ne_bytes();
    bytes[..4].copy_from_slice(&1u32.to_ne_bytes());
    u64::from_ne_bytes(bytes)
}

/// One instance's stop word, as registered with the ticker.
struct Word(*const AtomicU64);

// SAFETY: the pointer is only dereferenced while the word is registered, and an instance
// unregisters (under the registry's lock) before its store, which owns the memory, is dropped.
// The memory never moves: it is one page with a maximum of one page.
unsafe impl Send for Word {}
unsafe impl Sync for Word {}

impl Word {
    fn get(&self) -> &AtomicU64 {
        // SAFETY: see the `Send` impl: valid and aligned (page-aligned memory) while registered.
        unsafe { &*self.0 }
    }
}

/// Every registered stop word of one runtime; the ticker checks them all on each wake-up.
#[derive(Default)]
pub(crate) struct Watches {
    words: Mutex<Vec<Arc<Word>>>,
}

impl Watches {
    /// Raises the flag of every word whose deadline has passed. The ticker's job.
    pub(crate) fn check(&self, now: Instant) {
        let now = millis(now);
        let words = self.words.lock().unwrap_or_else(|e| e.into_inner());
        for word in words.iter() {
            let atomic = word.get();
            let value = atomic.load(Ordering::Acquire);
            let (flag, deadline) = parts(value);
            // Wrapping comparison: past the deadline by less than 24 days.
            if flag == 0 && deadline != 0 && (now.wrapping_sub(deadline) as i32) > 0 {
                // Fails if the caller re-armed the word for a new call since the load.
                let _ = atomic.compare_exchange(
                    value,
                    raised(value),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
            }
        }
    }

    fn add(&self, word: Arc<Word>) {
        let mut words = self.words.lock().unwrap_or_else(|e| e.into_inner());
        words.push(word);
    }

    fn remove(&self, word: &Arc<Word>) {
        let mut words = self.words.lock().unwrap_or_else(|e| e.into_inner());
        words.retain(|w| !Arc::ptr_eq(w, word));
    }

    /// How many words are registered (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.words.lock().map_or(0, |w| w.len())
    }
}

/// An instance's stop word, registered with its runtime's ticker until dropped. Must be
/// dropped before the store that owns the memory (the instance declares it first). Dropping
/// locks: never on the audio thread (instances are retired to the worker).
pub(crate) struct Stop {
    word: Arc<Word>,
    watches: Arc<Watches>,
}

impl Stop {
    /// Registers the word at `word`, the first bytes of an instance's stop memory.
    ///
    /// # Safety
    /// `word` must point to 8 writable, 8-aligned bytes that stay valid and do not move until
    /// the returned `Stop` is dropped.
    pub(crate) unsafe fn register(word: *mut u8, watches: &Arc<Watches>) -> Self {
        let word = Arc::new(Word(word.cast::<AtomicU64>()));
        // No deadline yet; the flag down. Written here, on the worker, so the audio thread's
        // first write does not fault the page in.
        word.get().store(0, Ordering::Release);
        watches.add(word.clone());
        Self {
            word,
            watches: watches.clone(),
        }
    }

    /// Lowers the flag and makes the next call end by `deadline`. Realtime-safe: one atomic
    /// store.
    #[inline]
    pub(crate) fn arm(&self, deadline: Instant) {
        // Rounded up, so never early.
        let ms = millis(deadline).wrapping_add(1);
        self.word.get().store(armed(ms), Ordering::Release);
    }

    /// Whether the ticker stopped the last call. Realtime-safe.
    #[inline]
    pub(crate) fn stopped(&self) -> bool {
        parts(self.word.get().load(Ordering::Acquire)).0 != 0
    }
}

impl Drop for Stop {
    fn drop(&mut self) {
        self.watches.remove(&self.word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ticker_stops_only_calls_past_their_deadline() {
        let watches = Arc::new(Watches::default());
        let mut memory = Box::new(AtomicU64::new(u64::MAX));
        let flag = |m: &AtomicU64| parts(m.load(Ordering::Relaxed)).0;
        let ptr = (&mut *memory as *mut AtomicU64).cast::<u8>();
        // SAFETY: the box outlives `stop`, which is dropped below.
        let stop = unsafe { Stop::register(ptr, &watches) };
        assert_eq!(watches.len(), 1);
        // Registered: no deadline, so nothing to stop.
        let now = Instant::now();
        watches.check(now + Duration::from_secs(1));
        assert!(!stop.stopped());
        // Armed for 50 ms: not stopped before, stopped after.
        stop.arm(now + Duration::from_millis(50));
        watches.check(now + Duration::from_millis(40));
        assert!(!stop.stopped());
        watches.check(now + Duration::from_millis(60));
        assert!(stop.stopped());
        assert_eq!(
            flag(&memory),
            1,
            "the flag is what the module's check loads"
        );
        // Re-armed for the next call: the flag is down again.
        stop.arm(now + Duration::from_millis(200));
        assert!(!stop.stopped());
        assert_eq!(flag(&memory), 0);
        drop(stop);
        assert_eq!(watches.len(), 0);
    }

    #[test]
    fn the_flag_is_the_first_four_bytes_in_memory_order() {
        let word = raised(armed(12_345));
        let bytes = word.to_ne_bytes();
        // The module loads the flag as a little-endian i32: nonzero means stop.
        assert_ne!(i32::from_le_bytes(bytes[..4].try_into().unwrap()), 0);
        assert_eq!(parts(word), (1, 12_345));
        assert_eq!(
            parts(armed(0)),
            (0, 1),
            "0 means no deadline, so it becomes 1"
        );
    }
}
