//! The built-in library: modules that ship inside the plugin, so a new user hears something
//! good before writing a line. The editor lists them under "Library".
//!
//! Their sources are in `library/` (Faust, Rust with the SDK, C with `wasp.h`);
//! `library/build.sh` builds them into `library/built/`, which is committed and embedded
//! here, so building the plugin needs no Faust, clang or wasm32 target.

/// One module of the built-in library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builtin {
    /// The name its metadata gives, as the editor shows it.
    pub name: &'static str,
    /// What it does, in a line.
    pub about: &'static str,
    /// Whether it plays notes (for Wasp Instrument).
    pub instrument: bool,
    /// The module as built, as Wasp loads it.
    pub bytes: &'static [u8],
    /// Its source, relative to the repository's `library/` folder.
    pub source: &'static str,
}

macro_rules! builtin {
    ($name:literal, $file:literal, $source:literal, $instrument:literal, $about:literal) => {
        Builtin {
            name: $name,
            about: $about,
            instrument: $instrument,
            bytes: include_bytes!(concat!("../library/built/", $file)),
            source: $source,
        }
    };
}

/// The library, in the order the editor lists it.
pub const LIBRARY: &[Builtin] = &[
    builtin!(
        "Tape delay",
        "tape-delay.wasm",
        "rust/tape-delay",
        false,
        "Stereo echo whose time glides and wobbles like tape; repeats darken and saturate"
    ),
    builtin!(
        "Chorus",
        "chorus.wasm",
        "faust/chorus.dsp",
        false,
        "Two swept delays, a quarter cycle apart, for a wide stereo chorus"
    ),
    builtin!(
        "Phaser",
        "phaser.wasm",
        "faust/phaser.dsp",
        false,
        "Four swept notches with feedback"
    ),
    builtin!(
        "Plate reverb",
        "plate.wasm",
        "faust/plate.dsp",
        false,
        "Dattorro's plate: decay, damping, bandwidth and mix"
    ),
    builtin!(
        "Compressor",
        "compressor.wasm",
        "faust/compressor.dsp",
        false,
        "Linked stereo compressor with threshold, ratio, attack, release and makeup gain"
    ),
    builtin!(
        "3-band EQ",
        "eq3.wasm",
        "faust/eq3.dsp",
        false,
        "Low shelf, bell and high shelf, each with frequency and gain"
    ),
    builtin!(
        "Saturator",
        "saturator.wasm",
        "faust/saturator.dsp",
        false,
        "Anti-aliased tanh drive with output level and mix"
    ),
    builtin!(
        "Bitcrusher",
        "bitcrusher.wasm",
        "c/bitcrusher.c",
        false,
        "Fewer bits and a lower sample rate, mixed with the dry signal"
    ),
    builtin!(
        "Auto-pan",
        "autopan.wasm",
        "faust/autopan.dsp",
        false,
        "Moves the sound between the sides, or its level (tremolo), with a sine"
    ),
    builtin!(
        "Gate",
        "gate.wasm",
        "faust/gate.dsp",
        false,
        "Shuts the signal off below a threshold, with attack, hold and release"
    ),
    builtin!(
        "Utility",
        "utility.wasm",
        "rust/utility",
        false,
        "Gain, width, balance, polarity flips and mono"
    ),
    builtin!(
        "Poly synth",
        "poly-synth.wasm",
        "rust/poly-synth",
        true,
        "Eight voices of band-limited saw through a resonant low-pass, with ADSR"
    ),
];

/// The built-in module named `name`.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    LIBRARY.iter().find(|b| b.name == name)
}
