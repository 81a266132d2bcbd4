;; One-pole low-pass at 1 kHz on both channels: y[n] = y[n-1] + b * (x[n] - y[n-1]).
;; Shows filter memory kept in linear memory and declared as a state region, so a live swap
;; carries it over, and a coefficient computed in `wasp_init` from the sample rate.
(module
  (@custom "wasp" "{\"abi\":1,\"name\":\"One-pole low-pass 1 kHz\",\"author\":\"Wasp examples\",\"version\":\"1.0.0\",\"channels\":\"stereo\",\"state\":[{\"name\":\"z1\",\"kind\":\"array\",\"at\":0,\"len\":2}]}")
  (import "env" "expf" (func $expf (param f32) (result f32)))
  (memory (export "memory") 1)
  ;; b = 1 - exp(-2 pi fc / fs)
  (global $b (mut f32) (f32.const 0))
  (func (export "wasp_init") (param $sample_rate f32) (param $max_frames i32)
    (global.set $b
      (f32.sub (f32.const 1)
        (call $expf (f32.div (f32.mul (f32.const -6.2831855) (f32.const 1000))
                             (local.get $sample_rate))))))
  (func (export "wasp_reset")
    (f32.store (i32.const 0) (f32.const 0))
    (f32.store (i32.const 4) (f32.const 0)))
  (func $tick (param $addr i32) (param $x f32) (result f32)
    (local $y f32)
    (local.set $y (f32.load (local.get $addr)))
    (local.set $y
      (f32.add (local.get $y)
        (f32.mul (global.get $b) (f32.sub (local.get $x) (local.get $y)))))
    (f32.store (local.get $addr) (local.get $y))
    (local.get $y))
  (func (export "dsp") (param $l f32) (param $r f32) (result f32 f32)
    (call $tick (i32.const 0) (local.get $l))
    (call $tick (i32.const 4) (local.get $r))))
