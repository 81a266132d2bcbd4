;; Two small memories that `wasp_init` grows by 48 MiB each, and traps if a growth is refused:
;; the second growth would take the module past the 64 MiB it may hold in all.
(module
  (memory (export "memory") 1) (memory $b 1)
  (func (export "wasp_init") (param f32 i32)
    (if (i32.lt_s (memory.grow 0 (i32.const 768)) (i32.const 0)) (then unreachable))
    (if (i32.lt_s (memory.grow $b (i32.const 768)) (i32.const 0)) (then unreachable)))
  (func (export "dsp") (param f32) (result f32) (local.get 0)))
