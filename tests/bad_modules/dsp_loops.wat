;; Its `dsp` never returns.
(module
  (func (export "dsp") (param $x f32) (result f32)
    (loop $forever (br $forever))
    (local.get $x)))
