;; Plays the input at half level for 1000 samples, then executes `unreachable`.
(module
  (global $n (mut i32) (i32.const 0))
  (func (export "dsp") (param $x f32) (result f32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (if (i32.gt_u (global.get $n) (i32.const 1000)) (then unreachable))
    (f32.mul (local.get $x) (f32.const 0.5))))
