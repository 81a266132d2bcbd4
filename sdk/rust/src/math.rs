//! Math for `no_std` modules, in `f32`.
//!
//! Wasp gives every module the C math library's functions as imports from `env` (docs/ABI.md
//! §10), so a module need not compile its own copy of them (`core` has none of them, and the
//! WebAssembly instructions for `sqrt` and `floor` are not yet stable in Rust's `core::arch`).
//! Built for another target (a module's unit tests on the build machine), the same names link
//! to the platform's C math library.

mod c {
    #[cfg_attr(target_arch = "wasm32", link(wasm_import_module = "env"))]
    extern "C" {
        pub fn sinf(x: f32) -> f32;
        pub fn cosf(x: f32) -> f32;
        pub fn tanf(x: f32) -> f32;
        pub fn asinf(x: f32) -> f32;
        pub fn acosf(x: f32) -> f32;
        pub fn atanf(x: f32) -> f32;
        pub fn sinhf(x: f32) -> f32;
        pub fn coshf(x: f32) -> f32;
        pub fn tanhf(x: f32) -> f32;
        pub fn expf(x: f32) -> f32;
        pub fn exp2f(x: f32) -> f32;
        pub fn logf(x: f32) -> f32;
        pub fn log2f(x: f32) -> f32;
        pub fn log10f(x: f32) -> f32;
        pub fn cbrtf(x: f32) -> f32;
        pub fn roundf(x: f32) -> f32;
        pub fn atan2f(y: f32, x: f32) -> f32;
        pub fn powf(x: f32, y: f32) -> f32;
        pub fn fmodf(x: f32, y: f32) -> f32;
        pub fn hypotf(x: f32, y: f32) -> f32;
        pub fn sqrtf(x: f32) -> f32;
        pub fn floorf(x: f32) -> f32;
        pub fn ceilf(x: f32) -> f32;
        pub fn truncf(x: f32) -> f32;
    }
}

macro_rules! imported {
    ($($(#[$doc:meta])* $name:ident => $c:ident ($($arg:ident),+);)*) => {$(
        $(#[$doc])*
        #[inline]
        pub fn $name($($arg: f32),+) -> f32 {
            // SAFETY: a pure function of its arguments, from Wasp or the C library.
            unsafe { c::$c($($arg),+) }
        }
    )*};
}

imported! {
    /// Sine of `x` radians.
    sin => sinf(x);
    /// Cosine of `x` radians.
    cos => cosf(x);
    /// Tangent of `x` radians.
    tan => tanf(x);
    /// Arcsine, in radians.
    asin => asinf(x);
    /// Arccosine, in radians.
    acos => acosf(x);
    /// Arctangent, in radians.
    atan => atanf(x);
    /// Hyperbolic sine.
    sinh => sinhf(x);
    /// Hyperbolic cosine.
    cosh => coshf(x);
    /// Square root.
    sqrt => sqrtf(x);
    /// Largest integer not above `x`.
    floor => floorf(x);
    /// Smallest integer not below `x`.
    ceil => ceilf(x);
    /// `x` without its fraction.
    trunc => truncf(x);
    /// Hyperbolic tangent: a smooth saturator.
    tanh => tanhf(x);
    /// `e` to the power `x`.
    exp => expf(x);
    /// 2 to the power `x`.
    exp2 => exp2f(x);
    /// Natural logarithm.
    ln => logf(x);
    /// Base-2 logarithm.
    log2 => log2f(x);
    /// Base-10 logarithm.
    log10 => log10f(x);
    /// Cube root.
    cbrt => cbrtf(x);
    /// Nearest integer, halves away from zero.
    round => roundf(x);
    /// Angle of the point `(x, y)`, in radians.
    atan2 => atan2f(y, x);
    /// `x` to the power `y`.
    pow => powf(x, y);
    /// Remainder of `x / y`, with the sign of `x`.
    fmod => fmodf(x, y);
    /// `sqrt(x * x + y * y)` without overflow.
    hypot => hypotf(x, y);
}

/// Decibels to a linear gain: `db_to_gain(-6.0)` is about 0.5.
#[inline]
pub fn db_to_gain(db: f32) -> f32 {
    exp(db * (core::f32::consts::LN_10 / 20.0))
}

/// A linear gain to decibels (minus infinity for 0).
#[inline]
pub fn gain_to_db(gain: f32) -> f32 {
    20.0 * log10(gain)
}

/// The coefficient of a one-pole smoother or filter that moves `1 - 1/e` of the way to its
/// target in `seconds`: `y += coefficient * (target - y)` once per sample.
#[inline]
pub fn one_pole(seconds: f32, sample_rate: f32) -> f32 {
    if seconds <= 0.0 {
        1.0
    } else {
        1.0 - exp(-1.0 / (seconds * sample_rate))
    }
}
