;; Outputs NaN: 0 / 0.
(module
  (func (export "dsp") (param $x f32) (result f32)
    (f32.div (f32.const 0) (f32.mul (local.get $x) (f32.const 0)))))
