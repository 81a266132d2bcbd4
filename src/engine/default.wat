;; Wasp's built-in default module: a transparent stereo pass-through.
;; It runs whenever no other module is loaded, so inserting Wasp never changes the sound
;; until the musician chooses a patch.
(module
  (@custom "wasp" "{\"abi\":1,\"name\":\"Pass-through\",\"author\":\"Wasp\",\"version\":\"1.0.0\",\"channels\":\"stereo\"}")
  (func (export "dsp") (param $l f32) (param $r f32) (result f32 f32)
    local.get $l
    local.get $r))
