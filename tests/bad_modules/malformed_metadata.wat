;; The `wasp` section is not valid JSON (a trailing comma).
(module
  (@custom "wasp" "{\"name\": \"Broken\",}")
  (func (export "dsp") (param $x f32) (result f32) (local.get $x)))
