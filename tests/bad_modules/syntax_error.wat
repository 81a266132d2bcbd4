;; A typo: `f32.mull` is not an instruction.
(module
  (func (export "dsp") (param $x f32) (result f32)
    (f32.mull (local.get $x) (f32.const 0.5))))
