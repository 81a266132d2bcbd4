;; Reads far past the end of its one page of memory.
(module
  (memory (export "memory") 1)
  (func (export "dsp") (param $x f32) (result f32)
    (f32.load (i32.const 1000000))))
