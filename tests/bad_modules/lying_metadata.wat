;; The metadata says stereo, but `dsp` takes and returns one channel.
(module
  (@custom "wasp" "{\"name\": \"Liar\", \"channels\": \"stereo\"}")
  (func (export "dsp") (param $x f32) (result f32) (local.get $x)))
