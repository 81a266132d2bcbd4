;; Exports its processing function under another name.
(module
  (func (export "process_sample") (param $x f32) (result f32) (local.get $x)))
