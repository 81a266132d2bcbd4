;; Three memories of 512 pages (32 MiB) each: every one is under the 64 MiB cap, together they
;; are 96 MiB.
(module
  (memory (export "memory") 512) (memory 512) (memory 512)
  (func (export "dsp") (param f32) (result f32) (local.get 0)))
