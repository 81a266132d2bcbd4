//! The only imports a module may link: pure math functions under `env`, in C and Faust spellings.
//!
//! Each function exists as `f32` (`sinf`, `_sinf`) and `f64` (`sin`, `_sin`). The leading
//! underscore spelling is what Faust's `-lang wasm` backend imports. The functions are pure, so
//! a module that links them is still a sandboxed function of its inputs and its own memory.

use super::types::{ExternType, ValType};

use super::error::LoadError;

/// The import module name every allowed function lives under.
pub const IMPORT_MODULE: &str = "env";

type Unary32 = fn(f32) -> f32;
type Binary32 = fn(f32, f32) -> f32;
type Unary64 = fn(f64) -> f64;
type Binary64 = fn(f64, f64) -> f64;

/// IEEE 754 remainder: `x - n * y` with `n` the integer nearest `x / y` (ties to even).
fn remainder64(x: f64, y: f64) -> f64 {
    x - (x / y).round_ties_even() * y
}

fn remainder32(x: f32, y: f32) -> f32 {
    remainder64(x as f64, y as f64) as f32
}

/// Unary functions: base name, `f32` version, `f64` version.
const UNARY: &[(&str, Unary32, Unary64)] = &[
    ("sin", f32::sin, f64::sin),
    ("cos", f32::cos, f64::cos),
    ("tan", f32::tan, f64::tan),
    ("asin", f32::asin, f64::asin),
    ("acos", f32::acos, f64::acos),
    ("atan", f32::atan, f64::atan),
    ("sinh", f32::sinh, f64::sinh),
    ("cosh", f32::cosh, f64::cosh),
    ("tanh", f32::tanh, f64::tanh),
    ("asinh", f32::asinh, f64::asinh),
    ("acosh", f32::acosh, f64::acosh),
    ("atanh", f32::atanh, f64::atanh),
    ("exp", f32::exp, f64::exp),
    ("exp2", f32::exp2, f64::exp2),
    ("log", f32::ln, f64::ln),
    ("log2", f32::log2, f64::log2),
    ("log10", f32::log10, f64::log10),
    ("sqrt", f32::sqrt, f64::sqrt),
    ("cbrt", f32::cbrt, f64::cbrt),
    ("floor", f32::floor, f64::floor),
    ("ceil", f32::ceil, f64::ceil),
    ("round", f32::round, f64::round),
    ("trunc", f32::trunc, f64::trunc),
    ("rint", f32::round_ties_even, f64::round_ties_even),
    ("fabs", f32::abs, f64::abs),
];

/// Binary functions: base name, `f32` version, `f64` version.
const BINARY: &[(&str, Binary32, Binary64)] = &[
    ("atan2", f32::atan2, f64::atan2),
    ("pow", f32::powf, f64::powf),
    ("fmod", |x, y| x % y, |x, y| x % y),
    ("remainder", remainder32, remainder64),
    ("hypot", f32::hypot, f64::hypot),
    ("fmin", f32::min, f64::min),
    ("fmax", f32::max, f64::max),
];

/// The signature an allowed import must have, or `None` if `name` is not an allowed import.
fn expected_signature(name: &str) -> Option<(ValType, usize)> {
    let bare = name.strip_prefix('_').unwrap_or(name);
    for (base, ..) in UNARY {
        if bare == *base {
            return Some((ValType::F64, 1));
        }
        if bare.strip_suffix('f') == Some(base) {
            return Some((ValType::F32, 1));
        }
    }
    for (base, ..) in BINARY {
        if bare == *base {
            return Some((ValType::F64, 2));
        }
        if bare.strip_suffix('f') == Some(base) {
            return Some((ValType::F32, 2));
        }
    }
    None
}

fn describe(ty: ValType, arity: usize) -> String {
    let params = vec![ty.name(); arity].join(", ");
    format!("({params}) -> {}", ty.name())
}

/// Checks one import of a module against the allowed set.
pub fn check_import(module: &str, field: &str, ty: &ExternType) -> Result<(), LoadError> {
    let err = |reason: String| LoadError::Import {
        module: module.to_owned(),
        field: field.to_owned(),
        reason,
    };
    if module == "wasi_snapshot_preview1" || module == "wasi_unstable" || module.starts_with("wasi")
    {
        return Err(err(
            "WASI (files, clocks, printing) is not available to DSP modules; build for \
             wasm32-unknown-unknown, or with -nostdlib, so that nothing imports it"
                .into(),
        ));
    }
    if module != IMPORT_MODULE {
        return Err(err(format!(
            "Wasp only provides math functions under `{IMPORT_MODULE}` (such as \
             `{IMPORT_MODULE}.sinf`); remove the import or implement it inside the module"
        )));
    }
    let Some((val, arity)) = expected_signature(field) else {
        return Err(err(format!(
            "`{field}` is not one of the math functions Wasp provides (sin, cos, tan, exp, log, \
             pow, fmod, ... with an `f` suffix for f32 and an optional leading `_`; the full list \
             is in docs/ABI.md)"
        )));
    };
    let ExternType::Func(func) = ty else {
        return Err(err(
            "only functions can be imported; a module must define its own memory, tables and \
             globals"
                .into(),
        ));
    };
    if !func.is(&vec![val; arity], &[val]) {
        return Err(err(format!(
            "it must have the signature {}, but the module declares {}",
            describe(val, arity),
            func.text()
        )));
    }
    Ok(())
}

/// One allowed function, as a runtime links it.
#[derive(Clone, Copy)]
pub enum MathFn {
    Unary32(Unary32),
    Binary32(Binary32),
    Unary64(Unary64),
    Binary64(Binary64),
}

/// Every allowed function, in all four spellings, with its name under [`IMPORT_MODULE`].
pub fn all() -> impl Iterator<Item = (String, MathFn)> {
    let unary = UNARY.iter().flat_map(|&(base, f32_fn, f64_fn)| {
        ["", "_"].into_iter().flat_map(move |prefix| {
            [
                (format!("{prefix}{base}f"), MathFn::Unary32(f32_fn)),
                (format!("{prefix}{base}"), MathFn::Unary64(f64_fn)),
            ]
        })
    });
    let binary = BINARY.iter().flat_map(|&(base, f32_fn, f64_fn)| {
        ["", "_"].into_iter().flat_map(move |prefix| {
            [
                (format!("{prefix}{base}f"), MathFn::Binary32(f32_fn)),
                (format!("{prefix}{base}"), MathFn::Binary64(f64_fn)),
            ]
        })
    });
    unary.chain(binary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_both_spellings_and_precisions() {
        assert!(matches!(
            expected_signature("sinf"),
            Some((ValType::F32, 1))
        ));
        assert!(matches!(
            expected_signature("_sinf"),
            Some((ValType::F32, 1))
        ));
        assert!(matches!(
            expected_signature("_pow"),
            Some((ValType::F64, 2))
        ));
        assert!(matches!(
            expected_signature("fmodf"),
            Some((ValType::F32, 2))
        ));
        assert!(expected_signature("printf").is_none());
        assert!(expected_signature("sinff").is_none());
    }

    #[test]
    fn remainder_is_ieee() {
        assert_eq!(remainder64(5.0, 2.0), 1.0);
        assert_eq!(remainder64(7.0, 2.0), -1.0);
        assert_eq!(remainder32(-5.5, 2.0), 0.5);
    }
}
