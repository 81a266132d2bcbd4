;; One-pole low-pass at 1 kHz, stereo, processing whole blocks through `wasp_process`
;; (docs/ABI.md §5). The same filter as onepole.wat, with the same state at the same address,
;; so a swap between the two carries the filter memory either way.
;;
;; Wasp writes each block's input into the planar buffers at `wasp_in` (left, then right,
;; `wasp_block` frames each), calls `wasp_process(frames)`, and reads the output back from
;; `wasp_out`. Here the filter works in place: `wasp_out` is `wasp_in`. The filter memory lives
;; in locals for the length of a block, so the loop is a load, three float operations and a
;; store per channel and frame.
;;
;; `dsp` does the same work for one frame: Wasp falls back to it where block processing is off.
(module
  (@custom "wasp" "{\"abi\":1,\"name\":\"One-pole low-pass 1 kHz (block)\",\"author\":\"Wasp examples\",\"version\":\"1.0.0\",\"channels\":\"stereo\",\"state\":[{\"name\":\"z1\",\"kind\":\"array\",\"at\":0,\"len\":2}]}")
  (import "env" "expf" (func $expf (param f32) (result f32)))
  (memory (export "memory") 1)
  ;; Bytes 0..8: the filter memory (left, right). Bytes 1024..9216: the two channel buffers.
  (global (export "wasp_block") i32 (i32.const 1024))
  (global (export "wasp_in") i32 (i32.const 1024))
  (global (export "wasp_out") i32 (i32.const 1024))
  (global $b (mut f32) (f32.const 0))

  (func (export "wasp_init") (param $sample_rate f32) (param $max_frames i32)
    (global.set $b
      (f32.sub (f32.const 1)
        (call $expf (f32.div (f32.mul (f32.const -6.2831855) (f32.const 1000))
                             (local.get $sample_rate))))))

  (func (export "wasp_reset")
    (f32.store (i32.const 0) (f32.const 0))
    (f32.store (i32.const 4) (f32.const 0)))

  (func (export "wasp_process") (param $frames i32)
    (local $p i32) (local $end i32) (local $b f32) (local $zl f32) (local $zr f32)
    (local.set $b (global.get $b))
    (local.set $zl (f32.load (i32.const 0)))
    (local.set $zr (f32.load (i32.const 4)))
    ;; Left buffer at 1024, right at 1024 + 4 * 1024.
    (local.set $p (i32.const 1024))
    (local.set $end (i32.add (i32.const 1024) (i32.shl (local.get $frames) (i32.const 2))))
    (block $done
      (br_if $done (i32.le_s (local.get $frames) (i32.const 0)))
      (loop $next
        (local.set $zl
          (f32.add (local.get $zl)
            (f32.mul (local.get $b) (f32.sub (f32.load (local.get $p)) (local.get $zl)))))
        (f32.store (local.get $p) (local.get $zl))
        (local.set $zr
          (f32.add (local.get $zr)
            (f32.mul (local.get $b)
              (f32.sub (f32.load offset=4096 (local.get $p)) (local.get $zr)))))
        (f32.store offset=4096 (local.get $p) (local.get $zr))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br_if $next (i32.lt_u (local.get $p) (local.get $end)))))
    (f32.store (i32.const 0) (local.get $zl))
    (f32.store (i32.const 4) (local.get $zr)))

  (func $tick (param $addr i32) (param $x f32) (result f32)
    (local $y f32)
    (local.set $y (f32.load (local.get $addr)))
    (local.set $y
      (f32.add (local.get $y)
        (f32.mul (global.get $b) (f32.sub (local.get $x) (local.get $y)))))
    (f32.store (local.get $addr) (local.get $y))
    (local.get $y))

  (func (export "dsp") (param $l f32) (param $r f32) (result f32 f32)
    (call $tick (i32.const 0) (local.get $l))
    (call $tick (i32.const 4) (local.get $r))))
