;; Divides an integer by a divisor that is zero.
(module
  (global $zero (mut i32) (i32.const 0))
  (func (export "dsp") (param $x f32) (result f32)
    (drop (i32.div_s (i32.const 1) (global.get $zero)))
    (local.get $x)))
