;; Declares 12 one-page memories (multi-memory): more memories than Wasp allows.
(module
  (memory 1) (memory 1) (memory 1) (memory 1) (memory 1) (memory 1)
  (memory 1) (memory 1) (memory 1) (memory 1) (memory 1) (memory 1)
  (func (export "dsp") (param f32) (result f32) (local.get 0)))
