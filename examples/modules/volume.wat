;; Volume: one parameter, "level" in dB, smoothed so a moving slider does not crackle.
;; Shows `wasp_set_param` (contract §7): Wasp calls it after `wasp_init` with the starting
;; value, then at block boundaries whenever the value changes.
(module
  (@custom "wasp" "{\"abi\":1,\"name\":\"Volume\",\"author\":\"Wasp examples\",\"version\":\"1.0.0\",\"channels\":\"stereo\",\"params\":[{\"id\":\"level\",\"name\":\"Level\",\"min\":-60,\"max\":12,\"default\":0,\"unit\":\"dB\"}],\"globals\":[\"gain\"]}")
  (import "env" "powf" (func $pow (param f32 f32) (result f32)))
  ;; The gain the smoother heads for, and where it is now (carried across swaps).
  (global $target (mut f32) (f32.const 1))
  (global $gain (export "gain") (mut f32) (f32.const 1))
  (func (export "wasp_set_param") (param $index i32) (param $value f32)
    (if (i32.eqz (local.get $index))
      (then
        ;; 10^(dB / 20)
        (global.set $target
          (call $pow (f32.const 10) (f32.div (local.get $value) (f32.const 20)))))))
  (func (export "dsp") (param $l f32) (param $r f32) (result f32 f32)
    ;; One-pole smoothing towards the target, about 2 ms at 48 kHz.
    (global.set $gain
      (f32.add (global.get $gain)
        (f32.mul (f32.const 0.01)
          (f32.sub (global.get $target) (global.get $gain)))))
    (f32.mul (local.get $l) (global.get $gain))
    (f32.mul (local.get $r) (global.get $gain))))
