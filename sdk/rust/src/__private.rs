//! What the code that `module!` writes calls. Not a public interface.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::Module;

/// Copies `piece` into `out` at `at` if it fits, and returns the position after it: with an
/// empty `out` it only measures.
const fn put(out: &mut [u8], at: usize, piece: &str) -> usize {
    let bytes = piece.as_bytes();
    if out.len() >= at + bytes.len() {
        let mut i = 0;
        while i < bytes.len() {
            out[at + i] = bytes[i];
            i += 1;
        }
    }
    at + bytes.len()
}

/// `,"key":[a,b,...]`, or nothing for an empty list.
const fn put_list(out: &mut [u8], mut at: usize, key: &str, items: &[&str]) -> usize {
    if items.is_empty() {
        return at;
    }
    at = put(out, at, ",\"");
    at = put(out, at, key);
    at = put(out, at, "\":[");
    let mut i = 0;
    while i < items.len() {
        if i > 0 {
            at = put(out, at, ",");
        }
        at = put(out, at, items[i]);
        i += 1;
    }
    put(out, at, "]")
}

const fn write(out: &mut [u8], head: &str, params: &[&str], state: &[&str]) -> usize {
    let mut at = put(out, 0, head);
    at = put_list(out, at, "params", params);
    at = put_list(out, at, "state", state);
    put(out, at, "}")
}

/// The length of the metadata JSON.
pub const fn metadata_len(head: &str, params: &[&str], state: &[&str]) -> usize {
    write(&mut [], head, params, state)
}

/// The metadata JSON as the bytes of a custom section: `head` (the object's first fields,
/// without the closing brace), then `params` and `state` as lists.
pub const fn metadata<const N: usize>(head: &str, params: &[&str], state: &[&str]) -> [u8; N] {
    let mut out = [0u8; N];
    let written = write(&mut out, head, params, state);
    assert!(written == N, "metadata length mismatch");
    out
}

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The position of `id` in `ids`; a compile error if it is there twice.
pub const fn index_of(ids: &[&str], id: &str) -> usize {
    let mut found = usize::MAX;
    let mut i = 0;
    while i < ids.len() {
        if same(ids[i], id) {
            assert!(found == usize::MAX, "two parameters have the same id");
            found = i;
        }
        i += 1;
    }
    found
}

/// A static the entry points own: the block buffers, the output frame.
#[repr(transparent)]
pub struct Shared<T>(UnsafeCell<T>);

// SAFETY: it is reached only through `set`, `process` and `dsp`, which are `unsafe` and whose
// callers (the entry points `module!` writes) run one at a time, never inside each other.
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T: Copy> Shared<T> {
    /// A cell holding `value`.
    pub const fn new(value: T) -> Self {
        Self(UnsafeCell::new(value))
    }

    /// Replaces the value.
    ///
    /// # Safety
    ///
    /// No other call on this cell may run meanwhile (the entry points run one at a time).
    pub unsafe fn set(&self, value: T) {
        // SAFETY: the caller guarantees no reference to the value is alive here.
        unsafe { *self.0.get() = value }
    }
}

/// The module's one instance, made by `wasp_init`.
pub struct Slot<M> {
    module: UnsafeCell<Option<M>>,
    busy: AtomicBool,
}

// SAFETY: the module is reached only inside `with`, which lets one caller in at a time.
unsafe impl<M: Send> Sync for Slot<M> {}

impl<M: Module> Slot<M> {
    /// An empty slot.
    pub const fn new() -> Self {
        Self {
            module: UnsafeCell::new(None),
            busy: AtomicBool::new(false),
        }
    }

    /// Makes the module (`wasp_init`, which Wasp calls once per instance).
    pub fn init(&self, sample_rate: f32, max_frames: i32) {
        let module = M::new(sample_rate, max_frames.max(0) as usize);
        self.enter(|slot| *slot = Some(module));
    }

    /// Runs `f` on the module, if `wasp_init` has made it.
    #[inline]
    pub fn with(&self, f: impl FnOnce(&mut M)) {
        self.enter(|slot| {
            if let Some(module) = slot {
                f(module)
            }
        });
    }

    #[inline]
    fn enter(&self, f: impl FnOnce(&mut Option<M>)) {
        // An entry point called from inside another (a module calling its own exports) would
        // make a second `&mut`: stop there.
        assert!(
            !self.busy.swap(true, Ordering::Acquire),
            "a Wasp entry point was called from inside another"
        );
        // SAFETY: the flag makes this the only reference until it is cleared below.
        f(unsafe { &mut *self.module.get() });
        self.busy.store(false, Ordering::Release);
    }
}

impl<M: Module> Default for Slot<M> {
    fn default() -> Self {
        Self::new()
    }
}

/// `wasp_process`: the first `frames` frames of each channel buffer, processed in place.
///
/// # Safety
///
/// Only from an entry point: nothing else may use `buffers` meanwhile.
#[inline]
pub unsafe fn process<M: Module, const C: usize, const B: usize>(
    slot: &Slot<M>,
    buffers: &Shared<[[f32; B]; C]>,
    frames: i32,
) {
    let frames = (frames.max(0) as usize).min(B);
    slot.with(|module| {
        // SAFETY: the caller's guarantee, and `with` lets one entry point in at a time.
        let buffers = unsafe { &mut *buffers.0.get() };
        let mut channels = buffers.each_mut().map(|channel| &mut channel[..frames]);
        module.process(&mut channels);
    });
}

/// `dsp`: one frame through `Module::process`, using the first frame of the block buffers.
///
/// # Safety
///
/// As for [`process`].
#[inline]
pub unsafe fn dsp<M: Module, const C: usize, const B: usize>(
    slot: &Slot<M>,
    buffers: &Shared<[[f32; B]; C]>,
    input: [f32; C],
) -> [f32; C] {
    let mut output = [0.0; C];
    slot.with(|module| {
        // SAFETY: as in `process`.
        let buffers = unsafe { &mut *buffers.0.get() };
        for (channel, x) in buffers.iter_mut().zip(input) {
            channel[0] = x;
        }
        let mut channels = buffers.each_mut().map(|channel| &mut channel[..1]);
        module.process(&mut channels);
        for (y, channel) in output.iter_mut().zip(buffers.iter()) {
            *y = channel[0];
        }
    });
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_joins_lists_with_commas() {
        const HEAD: &str = "{\"abi\":1";
        const P: &[&str] = &["{\"id\":\"a\"}", "{\"id\":\"b\"}"];
        const S: &[&str] = &[];
        const N: usize = metadata_len(HEAD, P, S);
        const OUT: [u8; N] = metadata(HEAD, P, S);
        assert_eq!(
            core::str::from_utf8(&OUT).unwrap(),
            "{\"abi\":1,\"params\":[{\"id\":\"a\"},{\"id\":\"b\"}]}"
        );
    }

    #[test]
    fn parameters_are_found_by_id() {
        assert_eq!(index_of(&["gain", "cutoff"], "cutoff"), 1);
        assert_eq!(index_of(&["gain"], "gain"), 0);
    }
}
