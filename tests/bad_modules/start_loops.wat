;; Its start function never returns.
(module
  (func $start (loop $forever (br $forever)))
  (start $start)
  (func (export "dsp") (param $x f32) (result f32) (local.get $x)))
