;; Stereo gain: halves the level of both channels (-6 dB).
;; The smallest useful module: a stereo `dsp` returning two values (multi-value).
(module
  (@custom "wasp" "{\"abi\":1,\"name\":\"Gain -6 dB\",\"author\":\"Wasp examples\",\"version\":\"1.0.0\",\"channels\":\"stereo\"}")
  (func (export "dsp") (param $l f32) (param $r f32) (result f32 f32)
    (f32.mul (local.get $l) (f32.const 0.5))
    (f32.mul (local.get $r) (f32.const 0.5))))
