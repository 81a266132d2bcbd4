;; Imports a function Wasp does not provide.
(module
  (import "env" "printf" (func $printf (param i32) (result i32)))
  (func (export "dsp") (param $x f32) (result f32) (local.get $x)))
