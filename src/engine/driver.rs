//! The block driver: a tiny WebAssembly module Wasp links to every module's `dsp`, so that a
//! whole block is one call from the host into WebAssembly instead of one call per sample.
//!
//! Entering WebAssembly from the host costs tens of nanoseconds (the store is entered, trap
//! handling is set up, arguments are marshalled); a one-pole filter costs about three. So Wasp
//! instantiates, next to each module, a driver that imports the module's `dsp` and calls it in a
//! WebAssembly loop over an I/O buffer in the driver's own memory. A call between two instances
//! in one store is a plain indirect call in compiled code. The module still sees exactly one
//! `dsp` call per frame, in order: the contract does not change.
//!
//! The driver's memory `io` holds four planar `f32` buffers of `cap` bytes each: input left at
//! 0, input right at `cap`, output left at `2 cap`, output right at `3 cap`. Before each call of
//! `dsp` the driver stores the frame index in its exported global `frame`, so a trap can be
//! reported at the sample it happened.

use super::contract::DspShape;

/// `run(frames, cap)` for a mono `dsp: (f32) -> f32`.
const MONO: &str = r#"
(module
  (import "user" "dsp" (func $dsp (param f32) (result f32)))
  (memory $io (export "io") 1)
  (global $frame (export "frame") (mut i32) (i32.const 0))
  (func (export "run") (param $n i32) (param $cap i32)
    (local $p i32) (local $end i32) (local $out i32)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $out (i32.shl (local.get $cap) (i32.const 1)))
    (block $done
      (br_if $done (i32.eqz (local.get $n)))
      (loop $next
        (global.set $frame (i32.shr_u (local.get $p) (i32.const 2)))
        (f32.store (i32.add (local.get $p) (local.get $out))
          (call $dsp (f32.load (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br_if $next (i32.lt_u (local.get $p) (local.get $end)))))))
"#;

/// `run(frames, cap)` for a stereo multi-value `dsp: (f32, f32) -> (f32, f32)`.
const STEREO: &str = r#"
(module
  (import "user" "dsp" (func $dsp (param f32 f32) (result f32 f32)))
  (memory $io (export "io") 1)
  (global $frame (export "frame") (mut i32) (i32.const 0))
  (func (export "run") (param $n i32) (param $cap i32)
    (local $p i32) (local $end i32) (local $l f32) (local $r f32)
    (local $in_r i32) (local $out_l i32) (local $out_r i32)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $in_r (local.get $cap))
    (local.set $out_l (i32.shl (local.get $cap) (i32.const 1)))
    (local.set $out_r (i32.mul (local.get $cap) (i32.const 3)))
    (block $done
      (br_if $done (i32.eqz (local.get $n)))
      (loop $next
        (global.set $frame (i32.shr_u (local.get $p) (i32.const 2)))
        (call $dsp (f32.load (local.get $p))
                   (f32.load (i32.add (local.get $p) (local.get $in_r))))
        (local.set $r)
        (local.set $l)
        (f32.store (i32.add (local.get $p) (local.get $out_l)) (local.get $l))
        (f32.store (i32.add (local.get $p) (local.get $out_r)) (local.get $r))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br_if $next (i32.lt_u (local.get $p) (local.get $end)))))))
"#;

/// `run(frames, cap, frame_addr)` for a stereo frame-buffer `dsp: (f32, f32) -> ()`: after each
/// call the output pair is read from the module's own memory at `frame_addr`.
const FRAME: &str = r#"
(module
  (import "user" "dsp" (func $dsp (param f32 f32)))
  (import "user" "memory" (memory $user 0))
  (memory $io (export "io") 1)
  (global $frame (export "frame") (mut i32) (i32.const 0))
  (func (export "run") (param $n i32) (param $cap i32) (param $addr i32)
    (local $p i32) (local $end i32)
    (local $in_r i32) (local $out_l i32) (local $out_r i32)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (local.set $in_r (local.get $cap))
    (local.set $out_l (i32.shl (local.get $cap) (i32.const 1)))
    (local.set $out_r (i32.mul (local.get $cap) (i32.const 3)))
    (block $done
      (br_if $done (i32.eqz (local.get $n)))
      (loop $next
        (global.set $frame (i32.shr_u (local.get $p) (i32.const 2)))
        (call $dsp (f32.load $io (local.get $p))
                   (f32.load $io (i32.add (local.get $p) (local.get $in_r))))
        (f32.store $io (i32.add (local.get $p) (local.get $out_l))
          (f32.load $user (local.get $addr)))
        (f32.store $io (i32.add (local.get $p) (local.get $out_r))
          (f32.load $user offset=4 (local.get $addr)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br_if $next (i32.lt_u (local.get $p) (local.get $end)))))))
"#;

/// The driver's WebAssembly text for a `dsp` shape.
pub(crate) fn text(shape: DspShape) -> &'static str {
    match shape {
        DspShape::Mono => MONO,
        DspShape::Stereo => STEREO,
        DspShape::StereoFrame => FRAME,
    }
}
