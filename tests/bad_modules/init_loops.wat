;; Its `wasp_init` never returns.
(module
  (func (export "wasp_init") (param f32 i32) (loop $forever (br $forever)))
  (func (export "dsp") (param $x f32) (result f32) (local.get $x)))
