;; Asks for 2048 pages (128 MiB) of memory at start: over Wasp's 64 MiB cap.
(module
  (memory (export "memory") 2048)
  (func (export "dsp") (param $x f32) (result f32) (local.get $x)))
