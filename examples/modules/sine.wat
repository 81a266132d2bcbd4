;; Sine oscillator: a 440 Hz tone at -12 dB that replaces the input.
;; Shows a mono `dsp`, `wasp_init` (it needs the sample rate), an imported math function
;; (`env.sinf`), and a mutable global declared as state so a live swap keeps the phase.
(module
  (@custom "wasp" "{\"abi\":1,\"name\":\"Sine 440 Hz\",\"author\":\"Wasp examples\",\"version\":\"1.0.0\",\"channels\":\"mono\",\"globals\":[\"phase\"]}")
  (import "env" "sinf" (func $sinf (param f32) (result f32)))
  ;; Phase in cycles, in [0, 1).
  (global $phase (export "phase") (mut f32) (f32.const 0))
  ;; Phase increment per sample: 440 / sample rate.
  (global $step (mut f32) (f32.const 0))
  (func (export "wasp_init") (param $sample_rate f32) (param $max_frames i32)
    (global.set $step (f32.div (f32.const 440) (local.get $sample_rate))))
  (func (export "wasp_reset")
    (global.set $phase (f32.const 0)))
  (func (export "dsp") (param $in f32) (result f32)
    (local $out f32)
    (local.set $out
      (f32.mul (f32.const 0.25)
        (call $sinf (f32.mul (global.get $phase) (f32.const 6.2831855)))))
    (global.set $phase (f32.add (global.get $phase) (global.get $step)))
    (if (f32.ge (global.get $phase) (f32.const 1))
      (then (global.set $phase (f32.sub (global.get $phase) (f32.const 1)))))
    (local.get $out)))
