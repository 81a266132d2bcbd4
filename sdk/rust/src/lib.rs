//! Write [Wasp](https://github.com/wasp-audio/wasp) modules in Rust.
//!
//! A module is a type implementing [`Module`] and one [`module!`] call that names it and
//! declares what Wasp reads without running it: name, channels, parameters and the state a
//! live swap carries. The macro writes the `wasp` metadata section at compile time and every
//! entry point of the contract (docs/ABI.md): `wasp_init`, `wasp_process` over planar block
//! buffers, a `dsp` that runs the same code one frame at a time, `wasp_set_param`,
//! `wasp_reset` and, when asked, the note entry points. An author writes neither JSON nor
//! `extern "C"` functions, and never sees `wasp_frame` or `wasp_in`.
//!
//! ```ignore
//! #![no_std]
//! use wasp_sdk::{math, Module};
//!
//! struct OnePole { b: f32, rate: f32, z1: &'static mut [f32; 2] }
//!
//! impl Module for OnePole {
//!     fn new(sample_rate: f32, _max_frames: usize) -> Self {
//!         let b = 1.0 - math::exp(-core::f32::consts::TAU * 1000.0 / sample_rate);
//!         OnePole { b, rate: sample_rate, z1: state::z1.take() }
//!     }
//!     fn set_param(&mut self, index: usize, value: f32) {
//!         if index == param::cutoff {
//!             self.b = 1.0 - math::exp(-core::f32::consts::TAU * value / self.rate);
//!         }
//!     }
//!     fn reset(&mut self) { *self.z1 = [0.0; 2]; }
//!     fn process(&mut self, channels: &mut [&mut [f32]]) {
//!         for (z, channel) in self.z1.iter_mut().zip(channels) {
//!             for x in channel.iter_mut() { *z += self.b * (*x - *z); *x = *z; }
//!         }
//!     }
//! }
//!
//! wasp_sdk::module! {
//!     module: OnePole,
//!     name: "One-pole low-pass",
//!     author: "Ada",
//!     version: "1.0.0",
//!     channels: stereo,
//!     params: [
//!         { id: cutoff, name: "Cutoff", min: 20.0, max: 20000.0, default: 1000.0,
//!           unit: "Hz", scale: log },
//!     ],
//!     state: { z1: array [f32; 2] },
//! }
//! ```
//!
//! Build with `cargo build --release --target wasm32-unknown-unknown` and drop the `.wasm` on
//! Wasp's window. The crate is `no_std`: with the default `panic-handler` feature a panic
//! becomes a trap, which Wasp reports as a crash of the module (and silences it).

#![no_std]
#![warn(missing_docs)]

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

pub mod math;

#[doc(hidden)]
pub mod __private;

/// A Wasp module: what the entry points that [`module!`] writes call.
///
/// Wasp calls one entry point at a time, never two at once, so `&mut self` is all a module
/// needs. Everything except [`new`](Module::new) and [`process`](Module::process) has a
/// default that does nothing.
pub trait Module: Sized + 'static {
    /// Makes the module, once per instance, before any processing, off the audio thread:
    /// compute coefficients for `sample_rate` and take the declared state
    /// ([`State::take`]). `max_frames` is the largest block the host will process. A new
    /// sample rate makes a new instance, whose declared state Wasp carries over.
    fn new(sample_rate: f32, max_frames: usize) -> Self;

    /// Processes a block in place: one slice per channel (one for a mono module, two for
    /// stereo), all of the same length, from 1 frame to the `block` size given to
    /// [`module!`]. Read the input from them and leave the output in them.
    fn process(&mut self, channels: &mut [&mut [f32]]);

    /// Parameter `index` (its position in `params`, also `param::<id>`) takes `value`, a plain
    /// value inside its range. Called with every parameter's value right after
    /// [`new`](Module::new), then between blocks at the frame the change falls on.
    fn set_param(&mut self, index: usize, value: f32) {
        let _ = (index, value);
    }

    /// The host asked for a clean start: clear delay lines, envelopes and filter memories;
    /// keep coefficients. May be called on the audio thread.
    fn reset(&mut self) {}

    /// A note starts: `key` is its MIDI number, `velocity` is in [0, 1]. Only called when
    /// [`module!`] says `notes: true`.
    fn note_on(&mut self, key: u8, velocity: f32) {
        let _ = (key, velocity);
    }

    /// A note ends. Only called when [`module!`] says `notes: true`.
    fn note_off(&mut self, key: u8, velocity: f32) {
        let _ = (key, velocity);
    }

    /// Any other MIDI channel message (control change, pitch bend, pressure, program
    /// change) as raw bytes. Only called when [`module!`] says `notes: true`.
    fn midi(&mut self, status: u8, data1: u8, data2: u8) {
        let _ = (status, data1, data2);
    }
}

/// Types that are valid when all their bytes are zero, and so may start out that way as
/// declared state: 4-byte numbers and arrays of them.
///
/// # Safety
///
/// Only for types whose all-zero bit pattern is a valid value.
pub unsafe trait Zeroable {}

// SAFETY: zero is a valid value of each.
unsafe impl Zeroable for f32 {}
// SAFETY: as above.
unsafe impl Zeroable for i32 {}
// SAFETY: as above.
unsafe impl Zeroable for u32 {}
// SAFETY: an array of zeroable values is zeroable.
unsafe impl<T: Zeroable, const N: usize> Zeroable for [T; N] {}

/// A piece of declared state: memory at an address Wasp knows by name, which a live swap
/// carries from the old module into the new one.
///
/// [`module!`] makes one `static` of this type for each entry of its `state` list, named after
/// it, in the module `state`; the module takes it once, in [`Module::new`]:
/// `state::z1.take()`. Wasp writes it only between calls, so the reference stays the
/// module's own. It starts at zero; whatever [`Module::new`] leaves in it is what a module
/// swapped in without a counterpart keeps.
#[repr(C)]
pub struct State<T> {
    // First, so the static's address (which Rust exports) is the value's.
    value: UnsafeCell<T>,
    taken: AtomicBool,
}

// SAFETY: the value is reached only through `take`, which hands out its one reference once.
unsafe impl<T: Send> Sync for State<T> {}

impl<T: Zeroable> State<T> {
    #[doc(hidden)]
    pub const fn zeroed() -> Self {
        Self {
            // SAFETY: `T: Zeroable`.
            value: UnsafeCell::new(unsafe { core::mem::zeroed() }),
            taken: AtomicBool::new(false),
        }
    }
}

impl<T> State<T> {
    /// The state, for the life of the instance. Taking it a second time panics (a trap,
    /// reported as a crash of the module).
    // A `&mut` from `&self` is sound here: the flag hands it out once, like `OnceCell` would.
    #[allow(clippy::mut_from_ref)]
    pub fn take(&'static self) -> &'static mut T {
        assert!(
            !self.taken.swap(true, Ordering::AcqRel),
            "declared state taken twice"
        );
        // SAFETY: the flag lets only one caller through, so this is the only reference.
        unsafe { &mut *self.value.get() }
    }
}

/// A ring buffer declared as state (`state: { line: ring [f32; 96000] }`): Wasp carries its
/// most recent samples across a swap, in time order, and points the write cursor past them,
/// and resamples it when the sample rate changes. The place for delay lines.
///
/// The samples and the cursor are two statics of their own, exported as `line` and
/// `line_cursor`, which start at zero (so a large ring costs no space in the module file).
pub struct RingState<const N: usize> {
    buffer: &'static State<[f32; N]>,
    cursor: &'static State<i32>,
}

impl<const N: usize> RingState<N> {
    #[doc(hidden)]
    pub const fn new(buffer: &'static State<[f32; N]>, cursor: &'static State<i32>) -> Self {
        Self { buffer, cursor }
    }

    /// The ring, for the life of the instance. Taking it a second time panics.
    pub fn take(&'static self) -> Ring {
        Ring {
            buffer: self.buffer.take(),
            cursor: self.cursor.take(),
        }
    }
}

/// A delay line whose samples and write position live in declared state.
pub struct Ring {
    buffer: &'static mut [f32],
    cursor: &'static mut i32,
}

impl Ring {
    /// The capacity in samples.
    pub fn len(&self) -> usize {
        self.buffer.len()
    }

    /// Whether the capacity is zero.
    pub fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    /// Where the next sample goes. Wasp rewrites the cursor at a swap, so it is read from
    /// memory each time rather than kept.
    fn cursor(&self) -> usize {
        let at = *self.cursor as usize;
        if at < self.buffer.len() {
            at
        } else {
            0
        }
    }

    /// Writes the next sample.
    #[inline]
    pub fn push(&mut self, sample: f32) {
        if self.buffer.is_empty() {
            return;
        }
        let at = self.cursor();
        self.buffer[at] = sample;
        let next = if at + 1 == self.buffer.len() {
            0
        } else {
            at + 1
        };
        *self.cursor = next as i32;
    }

    /// The sample pushed `delay` pushes ago: 1 is the latest. `delay` is clamped to
    /// `1..=len`.
    #[inline]
    pub fn tap(&self, delay: usize) -> f32 {
        let len = self.buffer.len();
        if len == 0 {
            return 0.0;
        }
        let delay = delay.clamp(1, len);
        let at = self.cursor();
        self.buffer[if at >= delay {
            at - delay
        } else {
            at + len - delay
        }]
    }

    /// The sample `delay` pushes ago, for a fractional `delay` (linear interpolation between
    /// the two nearest samples): for modulated delays such as a chorus.
    #[inline]
    pub fn tap_frac(&self, delay: f32) -> f32 {
        // Inside 1..=len (NaN and infinities included), before it becomes an index.
        let delay = if delay >= 1.0 {
            delay.min(self.len() as f32)
        } else {
            1.0
        };
        let whole = delay as usize;
        let frac = delay - whole as f32;
        let a = self.tap(whole);
        let b = self.tap(whole + 1);
        a + frac * (b - a)
    }

    /// Clears the samples (the cursor stays).
    pub fn clear(&mut self) {
        self.buffer.fill(0.0);
    }
}

/// Declares a Wasp module: its type, its metadata, parameters and state, and writes the
/// contract's entry points for it. Use it once, at the crate root. Every line ends with a
/// comma; the lines come in this order, and those in brackets may be left out:
///
/// ```text
/// module: Type,                         the type implementing wasp_sdk::Module
/// name: "Name",
/// [author: "Name",]  [version: "1.0.0",]
/// channels: mono | stereo,
/// [block: 1024,]                        frames per call of Module::process (1 to 65536)
/// [latency: 64,]                        processing latency in samples, for the host
/// [tail: 2.5,]                          seconds the module rings after its input stops, or
///                                       "infinite" (a delay with feedback, an oscillator)
/// [notes: true,]                        export the note and MIDI entry points
/// [params: [
///     { id: cutoff, name: "Cutoff", min: 20.0, max: 20000.0, default: 1000.0,
///       unit: "Hz", scale: log },       unit and scale (linear or log) may be left out
///     { id: shape, name: "Shape", min: 0.0, max: 2.0, default: 0.0,
///       about: "The oscillator's waveform",  a sentence the editor shows
///       choices: ["Sine" = 0.0, "Saw" = 1.0, "Square" = 2.0] },
/// ],]
/// [state: {
///     z1: array [f32; 2],               f32, i32 or u32 elements
///     phase: scalar f32,
///     line: ring [f32; 96000],
/// },]
/// ```
///
/// Numbers are written as JSON takes them (`-60.0`, `20000.0`; no `_` or type suffix), and
/// strings without escapes other than `\"` and `\\`. A parameter whose range or default is
/// wrong is a compile error; other mistakes (a single choice, say) are refused by Wasp when it
/// loads the module, with the reason. What it defines for the module's code:
/// `param::<id>`, each parameter's index, and `state::<name>`, each piece of state, to
/// [take](State::take) in [`Module::new`].
#[macro_export]
macro_rules! module {
    (
        module: $module:ty,
        name: $name:literal,
        $(author: $author:literal,)?
        $(version: $version:literal,)?
        channels: $channels:ident,
        $(block: $block:literal,)?
        $(latency: $latency:literal,)?
        $(tail: $tail:literal,)?
        $(notes: $notes:ident,)?
        $(params: [
            $({
                id: $pid:ident,
                name: $pname:literal,
                min: $pmin:literal,
                max: $pmax:literal,
                default: $pdefault:literal
                $(, unit: $punit:literal)?
                $(, scale: $pscale:ident)?
                $(, about: $pabout:literal)?
                $(, choices: [
                    $pc1name:literal = $pc1value:literal
                    $(, $pcname:literal = $pcvalue:literal)* $(,)?
                ])?
                $(,)?
            }),* $(,)?
        ],)?
        $(state: {
            $($sname:ident : $skind:ident $sargs:tt),* $(,)?
        },)?
    ) => {
        const _: () = {
            /// The metadata's fields before `params` and `state`.
            const HEAD: &str = concat!(
                "{\"abi\":1,\"name\":", stringify!($name),
                $(",\"author\":", stringify!($author),)?
                $(",\"version\":", stringify!($version),)?
                ",\"channels\":\"", stringify!($channels), "\"",
                $(",\"latency\":", stringify!($latency),)?
                $(",\"tail\":", stringify!($tail),)?
            );
            const PARAMS: &[&str] = &[$($(
                concat!(
                    "{\"id\":\"", stringify!($pid), "\",\"name\":", stringify!($pname),
                    ",\"min\":", stringify!($pmin), ",\"max\":", stringify!($pmax),
                    ",\"default\":", stringify!($pdefault),
                    $(",\"unit\":", stringify!($punit),)?
                    $(",\"scale\":\"", stringify!($pscale), "\"",)?
                    $(",\"about\":", stringify!($pabout),)?
                    $(
                        ",\"choices\":[{\"name\":", stringify!($pc1name),
                        ",\"value\":", stringify!($pc1value), "}",
                        $(
                            ",{\"name\":", stringify!($pcname),
                            ",\"value\":", stringify!($pcvalue), "}",
                        )*
                        "]",
                    )?
                    "}"
                ),
            )*)?];
            const STATE: &[&str] = &[$($(
                $crate::__wasp_state!(@json $sname $skind $sargs),
            )*)?];
            const LEN: usize = $crate::__private::metadata_len(HEAD, PARAMS, STATE);
            // What Wasp would refuse at load, refused here at compile time.
            $($(
                assert!(
                    ($pmin as f64) < ($pmax as f64)
                        && ($pdefault as f64) >= ($pmin as f64)
                        && ($pdefault as f64) <= ($pmax as f64),
                    concat!(
                        "parameter `", stringify!($pid),
                        "`: it needs min < max and its default between them"
                    )
                );
            )*)?

            #[link_section = "wasp"]
            #[used]
            static METADATA: [u8; LEN] = $crate::__private::metadata(HEAD, PARAMS, STATE);
        };

        /// Each parameter's index, as [`Module::set_param`] receives it.
        #[allow(non_upper_case_globals, dead_code)]
        pub mod param {
            const IDS: &[&str] = &[$($(stringify!($pid),)*)?];
            $($(
                pub const $pid: usize = $crate::__private::index_of(IDS, stringify!($pid));
            )*)?
        }

        /// The declared state, to take in `Module::new`.
        #[allow(non_upper_case_globals, dead_code)]
        pub mod state {
            $($(
                $crate::__wasp_state!(@static $sname $skind $sargs);
            )*)?
        }

        $crate::__wasp_entry_points!(
            $module, $channels, $crate::__wasp_first!($($block,)? 1024)
        );
        $crate::__wasp_params!($module, [$($($pid)*)?]);
        $crate::__wasp_notes!($module, $($notes)?);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __wasp_first {
    ($first:expr $(, $rest:expr)*) => {
        $first
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __wasp_state {
    (@json $name:ident array [$ty:ty; $len:literal]) => {
        concat!(
            "{\"name\":\"",
            stringify!($name),
            "\",\"kind\":\"array\",\"at\":\"",
            stringify!($name),
            "\",\"len\":",
            stringify!($len),
            "}"
        )
    };
    (@json $name:ident scalar $ty:ty) => {
        concat!(
            "{\"name\":\"",
            stringify!($name),
            "\",\"kind\":\"scalar\",\"at\":\"",
            stringify!($name),
            "\"}"
        )
    };
    (@json $name:ident ring [f32; $len:literal]) => {
        concat!(
            "{\"name\":\"",
            stringify!($name),
            "\",\"kind\":\"ring\",\"at\":\"",
            stringify!($name),
            "\",\"len\":",
            stringify!($len),
            ",\"cursor\":\"",
            stringify!($name),
            "_cursor\"}"
        )
    };
    (@json $name:ident $kind:ident $($rest:tt)*) => {
        compile_error!(concat!(
            "state `",
            stringify!($name),
            "`: write `array [f32; N]`, `scalar f32` or `ring [f32; N]` (f32, i32 or u32 for \
             arrays and scalars)"
        ))
    };
    (@static $name:ident array [$ty:ty; $len:literal]) => {
        const _: () = assert!(
            core::mem::size_of::<$ty>() == 4,
            "state elements are 4 bytes: f32, i32 or u32"
        );
        #[export_name = stringify!($name)]
        pub static $name: $crate::State<[$ty; $len]> = $crate::State::zeroed();
    };
    (@static $name:ident scalar $ty:ty) => {
        const _: () = assert!(
            core::mem::size_of::<$ty>() == 4,
            "state scalars are 4 bytes: f32, i32 or u32"
        );
        #[export_name = stringify!($name)]
        pub static $name: $crate::State<$ty> = $crate::State::zeroed();
    };
    (@static $name:ident ring [f32; $len:literal]) => {
        pub static $name: $crate::RingState<$len> = {
            #[export_name = stringify!($name)]
            static BUFFER: $crate::State<[f32; $len]> = $crate::State::zeroed();
            #[export_name = concat!(stringify!($name), "_cursor")]
            static CURSOR: $crate::State<i32> = $crate::State::zeroed();
            $crate::RingState::new(&BUFFER, &CURSOR)
        };
    };
    (@static $($rest:tt)*) => {};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __wasp_entry_points {
    ($module:ty, mono, $block:expr) => {
        $crate::__wasp_entry_points!(@common $module, 1, $block);
        const _: () = {
            #[no_mangle]
            extern "C" fn dsp(x: f32) -> f32 {
                // SAFETY: an entry point; Wasp calls one at a time.
                unsafe { $crate::__private::dsp(&__WASP_MODULE, &__WASP_BUFFERS, [x])[0] }
            }
        };
    };
    ($module:ty, stereo, $block:expr) => {
        $crate::__wasp_entry_points!(@common $module, 2, $block);
        const _: () = {
            #[export_name = "wasp_frame"]
            static FRAME: $crate::__private::Shared<[f32; 2]> =
                $crate::__private::Shared::new([0.0; 2]);

            #[no_mangle]
            extern "C" fn dsp(left: f32, right: f32) {
                // SAFETY: an entry point; Wasp calls one at a time.
                unsafe {
                    let out =
                        $crate::__private::dsp(&__WASP_MODULE, &__WASP_BUFFERS, [left, right]);
                    FRAME.set(out);
                }
            }
        };
    };
    ($module:ty, $other:ident, $block:expr) => {
        compile_error!(concat!(
            "channels: `", stringify!($other), "` is neither `mono` nor `stereo`"
        ));
    };
    (@common $module:ty, $channels:literal, $block:expr) => {
        static __WASP_MODULE: $crate::__private::Slot<$module> = $crate::__private::Slot::new();

        #[export_name = "wasp_in"]
        static __WASP_BUFFERS: $crate::__private::Shared<[[f32; $block]; $channels]> =
            $crate::__private::Shared::new([[0.0; $block]; $channels]);

        const _: () = {
            assert!(
                $block >= 1 && $block <= 65536,
                "block: from 1 to 65536 frames"
            );

            #[no_mangle]
            extern "C" fn wasp_block() -> i32 {
                $block as i32
            }

            #[no_mangle]
            extern "C" fn wasp_init(sample_rate: f32, max_frames: i32) {
                __WASP_MODULE.init(sample_rate, max_frames);
            }

            #[no_mangle]
            extern "C" fn wasp_process(frames: i32) {
                // SAFETY: an entry point; Wasp calls one at a time.
                unsafe { $crate::__private::process(&__WASP_MODULE, &__WASP_BUFFERS, frames) };
            }

            #[no_mangle]
            extern "C" fn wasp_reset() {
                __WASP_MODULE.with(|m| $crate::Module::reset(m));
            }
        };
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __wasp_params {
    ($module:ty, []) => {};
    ($module:ty, [$($pid:ident)+]) => {
        const _: () = {
            #[no_mangle]
            extern "C" fn wasp_set_param(index: i32, value: f32) {
                if index >= 0 {
                    __WASP_MODULE.with(|m| $crate::Module::set_param(m, index as usize, value));
                }
            }
        };
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __wasp_notes {
    ($module:ty, true) => {
        const _: () = {
            #[no_mangle]
            extern "C" fn wasp_note_on(key: i32, velocity: f32) {
                let key = key.clamp(0, 127) as u8;
                __WASP_MODULE.with(|m| $crate::Module::note_on(m, key, velocity));
            }

            #[no_mangle]
            extern "C" fn wasp_note_off(key: i32, velocity: f32) {
                let key = key.clamp(0, 127) as u8;
                __WASP_MODULE.with(|m| $crate::Module::note_off(m, key, velocity));
            }

            #[no_mangle]
            extern "C" fn wasp_midi(status: i32, data1: i32, data2: i32) {
                let (s, a, b) = (status as u8, data1 as u8 & 0x7f, data2 as u8 & 0x7f);
                __WASP_MODULE.with(|m| $crate::Module::midi(m, s, a, b));
            }
        };
    };
    ($module:ty, false) => {};
    ($module:ty,) => {};
    ($module:ty, $other:ident) => {
        compile_error!("notes: `true` or `false`");
    };
}

#[cfg(all(feature = "panic-handler", target_arch = "wasm32"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::Ring;
    use std::boxed::Box;

    fn ring(len: usize) -> Ring {
        Ring {
            buffer: Box::leak(std::vec![0.0; len].into_boxed_slice()),
            cursor: Box::leak(Box::new(0)),
        }
    }

    #[test]
    fn taps_count_back_from_the_latest_push() {
        let mut r = ring(4);
        for x in [1.0, 2.0, 3.0, 4.0, 5.0] {
            r.push(x);
        }
        assert_eq!([r.tap(1), r.tap(2), r.tap(4)], [5.0, 4.0, 2.0]);
        // Clamped to 1..=len.
        assert_eq!([r.tap(0), r.tap(9)], [5.0, 2.0]);
        assert_eq!(r.tap_frac(1.5), 4.5);
        for wild in [f32::NAN, f32::INFINITY, -3.0, 1e30] {
            assert!(r.tap_frac(wild).is_finite(), "{wild}");
        }
    }

    #[test]
    fn a_cursor_out_of_range_starts_over_at_zero() {
        let mut r = ring(3);
        *r.cursor = 7;
        r.push(1.0);
        assert_eq!((r.buffer[0], *r.cursor), (1.0, 1));
    }
}
