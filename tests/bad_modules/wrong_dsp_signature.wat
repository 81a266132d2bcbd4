;; `dsp` works on integers instead of f32 samples.
(module
  (func (export "dsp") (param $x i32) (result i32) (local.get $x)))
