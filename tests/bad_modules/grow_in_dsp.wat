;; Grows its memory in a loop inside `dsp` until growing fails, then plays its memory size in
;; pages. Wasp refuses growth while processing, so it plays 1.
(module
  (memory (export "memory") 1)
  (func (export "dsp") (param $x f32) (result f32)
    (block $done
      (loop $grow
        (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (br $grow)))
    (f32.convert_i32_u (memory.size))))
