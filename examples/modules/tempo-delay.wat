;; Tempo delay: a stereo delay whose time follows the host's tempo. Delay time = "division"
;; beats = division x 60 / tempo seconds (0.75, the default, is a dotted eighth), with
;; feedback through a damping low-pass and a dry/wet mix.
;;
;; Shows:
;; - reading the transport: the module exports the `i32` global `wasp_transport` holding the
;;   address of a 48-byte block in its memory, and Wasp writes the tempo, position and play
;;   state there before every block (tempo 120 when the host gives none). Only the tempo at
;;   offset 0 (an f64, in BPM) is used here; it is read every sample, which costs one load;
;; - a delay time that glides instead of jumping when the tempo or the division changes
;;   (a one-pole towards the new time with a speed limit, like a tape machine's heads), read
;;   with linear interpolation that is exact for a whole number of samples, so at rest on
;;   120 BPM and division 1 at 48 kHz an impulse comes back exactly 24000 samples later;
;; - delay lines declared as `ring` state with their write cursors (§9), and the gliding time
;;   as a declared global, so a live swap keeps the echoes already in flight;
;; - memory declared up front at module level (about 4.4 MiB, 71 pages): a module cannot grow
;;   its memory outside `wasp_init`.
;;
;; Memory layout (bytes):
;;   0        48-byte transport block written by Wasp before every block:
;;              0 f64 tempo (BPM), 8 f64 song position (beats), 16 f64 position (seconds),
;;              24 i32 playing, 28 i32 numerator, 32 i32 denominator, 36 i32 validity bits,
;;              40 f64 bar start (beats)
;;   48       i32      cursor_l   index of the next write into line_l
;;   52       i32      cursor_r   index of the next write into line_r
;;   56       f32[2]   damp       damping low-pass memories, L and R
;;   64       f32[N]   line_l     left delay line,  N = 576004 samples
;;   2304080  f32[N]   line_r     right delay line
;;   4608096  end (71 pages = 4653056 bytes)
;; N covers 4 beats at 40 BPM at 96 kHz (576000 samples) plus the interpolation's extra sample;
;; longer delays are clamped to N - 2 samples.
(module
  (@custom "wasp" "{\"abi\":1,\"name\":\"Tempo delay\",\"author\":\"Wasp examples\",\"version\":\"1.0.0\",\"channels\":\"stereo\",\"tail\":20,\"params\":[{\"id\":\"division\",\"name\":\"Division\",\"min\":0.125,\"max\":4,\"default\":0.75,\"unit\":\"beats\",\"scale\":\"log\"},{\"id\":\"feedback\",\"name\":\"Feedback\",\"min\":0,\"max\":0.95,\"default\":0.45,\"unit\":\"\",\"scale\":\"linear\"},{\"id\":\"mix\",\"name\":\"Mix\",\"min\":0,\"max\":1,\"default\":0.35,\"unit\":\"\",\"scale\":\"linear\"},{\"id\":\"damping\",\"name\":\"Damping\",\"min\":500,\"max\":20000,\"default\":6000,\"unit\":\"Hz\",\"scale\":\"log\"}],\"state\":[{\"name\":\"line_l\",\"kind\":\"ring\",\"at\":64,\"len\":576004,\"cursor\":48},{\"name\":\"line_r\",\"kind\":\"ring\",\"at\":2304080,\"len\":576004,\"cursor\":52},{\"name\":\"damp\",\"kind\":\"array\",\"at\":56,\"len\":2}],\"globals\":[\"delay_samples\"]}")
  (import "env" "expf" (func $expf (param f32) (result f32)))
  (memory (export "memory") 71)

  ;; Wasp writes the transport block at this address (8-byte aligned, 48 bytes).
  (global $transport (export "wasp_transport") i32 (i32.const 0))

  (global $CURSOR_L i32 (i32.const 48))
  (global $CURSOR_R i32 (i32.const 52))
  (global $DAMP_L i32 (i32.const 56))
  (global $DAMP_R i32 (i32.const 60))
  (global $LINE_L i32 (i32.const 64))
  (global $LINE_R i32 (i32.const 2304080))
  ;; Samples per delay line.
  (global $N i32 (i32.const 576004))

  (global $sample_rate (mut f32) (f32.const 48000))
  ;; Parameters, as plain values.
  (global $division (mut f32) (f32.const 0.75))
  (global $feedback (mut f32) (f32.const 0.45))
  (global $mix (mut f32) (f32.const 0.35))
  (global $damping_hz (mut f32) (f32.const 6000))
  ;; Smoothed feedback and mix (about 10 ms), so moving them does not click.
  (global $fb_now (mut f32) (f32.const 0.45))
  (global $mix_now (mut f32) (f32.const 0.35))
  ;; Damping coefficient b = 1 - exp(-2 pi fc / fs).
  (global $damp_b (mut f32) (f32.const 0.5))
  ;; The delay time now, in samples (f64, so the glide lands exactly on its target); -1 until
  ;; the first sample, which jumps straight to the tempo's time. Carried across swaps.
  (global $delay (export "delay_samples") (mut f64) (f64.const -1))
  ;; Glide: one-pole coefficient (time constant 100 ms) and the largest change per sample
  ;; (0.5 samples per sample: at most an octave down or a fifth up while it moves).
  (global $glide_coef (mut f64) (f64.const 0.0002))
  (global $MAX_SLEW f64 (f64.const 0.5))

  (func $update_damping
    (global.set $damp_b
      (f32.sub (f32.const 1)
        (call $expf
          (f32.div (f32.mul (f32.const -6.2831855) (global.get $damping_hz))
                   (global.get $sample_rate))))))

  (func (export "wasp_init") (param $sample_rate f32) (param $max_frames i32)
    (global.set $sample_rate (local.get $sample_rate))
    (global.set $glide_coef
      (f64.div (f64.const 1) (f64.mul (f64.const 0.1) (f64.promote_f32 (local.get $sample_rate)))))
    (call $update_damping)
    (global.set $delay (f64.const -1)))

  ;; Silences the delay lines and the damping filters.
  (func (export "wasp_reset")
    (memory.fill (i32.const 48) (i32.const 0)
      (i32.sub (i32.add (global.get $LINE_R) (i32.shl (global.get $N) (i32.const 2)))
               (i32.const 48)))
    (global.set $delay (f64.const -1)))

  (func (export "wasp_set_param") (param $index i32) (param $value f32)
    (block $done
      (block $damping
        (block $mix
          (block $feedback
            (block $division
              (br_table $division $feedback $mix $damping $done (local.get $index)))
            (global.set $division (local.get $value))
            (br $done))
          (global.set $feedback (local.get $value))
          (br $done))
        (global.set $mix (local.get $value))
        (br $done))
      (global.set $damping_hz (local.get $value))
      (call $update_damping)))

  ;; The delay time the tempo and division ask for, in samples, clamped to the line.
  (func $target (result f64)
    (local $tempo f64) (local $d f64)
    (local.set $tempo (f64.load (global.get $transport)))
    ;; Before the first block, or from a host sending nonsense: 120 BPM.
    (if (i32.eqz (f64.ge (local.get $tempo) (f64.const 1)))
      (then (local.set $tempo (f64.const 120))))
    (local.set $d
      (f64.div
        (f64.mul (f64.mul (f64.promote_f32 (global.get $division)) (f64.const 60))
                 (f64.promote_f32 (global.get $sample_rate)))
        (local.get $tempo)))
    (f64.min (f64.convert_i32_s (i32.sub (global.get $N) (i32.const 2)))
             (f64.max (f64.const 1) (local.get $d))))

  ;; Moves the delay time one sample's worth towards the target.
  (func $glide
    (local $target f64) (local $step f64)
    (local.set $target (call $target))
    (if (f64.lt (global.get $delay) (f64.const 0))
      (then (global.set $delay (local.get $target)) (return)))
    (local.set $step
      (f64.mul (global.get $glide_coef) (f64.sub (local.get $target) (global.get $delay))))
    (local.set $step
      (f64.min (global.get $MAX_SLEW)
               (f64.max (f64.neg (global.get $MAX_SLEW)) (local.get $step))))
    (global.set $delay (f64.add (global.get $delay) (local.get $step)))
    ;; Land exactly once within a thousandth of a sample, so a settled delay is a whole
    ;; number of samples again (and the echo exact).
    (if (f64.lt (f64.abs (f64.sub (local.get $target) (global.get $delay))) (f64.const 0.001))
      (then (global.set $delay (local.get $target)))))

  ;; One channel: reads the line $delay samples back (linear interpolation), damps the
  ;; echo for the feedback path, writes input + feedback, and returns the wet signal.
  (func $channel (param $line i32) (param $cursor i32) (param $damp i32) (param $x f32)
                 (result f32)
    (local $w i32) (local $whole i32) (local $frac f32) (local $i0 i32) (local $i1 i32)
    (local $y0 f32) (local $y1 f32) (local $wet f32) (local $lp f32)
    (local.set $w (i32.load (local.get $cursor)))
    ;; delay = whole + frac; the sample `whole` back, and the one before it.
    (local.set $whole (i32.trunc_f64_u (global.get $delay)))
    (local.set $frac
      (f32.demote_f64 (f64.sub (global.get $delay) (f64.convert_i32_u (local.get $whole)))))
    (local.set $i0 (i32.sub (local.get $w) (local.get $whole)))
    (if (i32.lt_s (local.get $i0) (i32.const 0))
      (then (local.set $i0 (i32.add (local.get $i0) (global.get $N)))))
    (local.set $i1 (i32.sub (local.get $i0) (i32.const 1)))
    (if (i32.lt_s (local.get $i1) (i32.const 0))
      (then (local.set $i1 (i32.add (local.get $i1) (global.get $N)))))
    (local.set $y0
      (f32.load (i32.add (local.get $line) (i32.shl (local.get $i0) (i32.const 2)))))
    (local.set $y1
      (f32.load (i32.add (local.get $line) (i32.shl (local.get $i1) (i32.const 2)))))
    ;; Exact when frac is 0: y0 + 0 * (y1 - y0) = y0.
    (local.set $wet
      (f32.add (local.get $y0) (f32.mul (local.get $frac) (f32.sub (local.get $y1) (local.get $y0)))))
    ;; Damping: one-pole low-pass on the echo before it is fed back.
    (local.set $lp (f32.load (local.get $damp)))
    (local.set $lp
      (f32.add (local.get $lp)
        (f32.mul (global.get $damp_b) (f32.sub (local.get $wet) (local.get $lp)))))
    ;; Flush values too small to hear, so a dying tail does not run on denormals.
    (if (f32.lt (f32.abs (local.get $lp)) (f32.const 1e-20))
      (then (local.set $lp (f32.const 0))))
    (f32.store (local.get $damp) (local.get $lp))
    (f32.store (i32.add (local.get $line) (i32.shl (local.get $w) (i32.const 2)))
      (f32.add (local.get $x) (f32.mul (global.get $fb_now) (local.get $lp))))
    ;; Advance the cursor.
    (local.set $w (i32.add (local.get $w) (i32.const 1)))
    (if (i32.ge_u (local.get $w) (global.get $N))
      (then (local.set $w (i32.const 0))))
    (i32.store (local.get $cursor) (local.get $w))
    (local.get $wet))

  (func (export "dsp") (param $l f32) (param $r f32) (result f32 f32)
    (local $wl f32) (local $wr f32) (local $dry f32)
    (call $glide)
    (global.set $fb_now
      (f32.add (global.get $fb_now)
        (f32.mul (f32.const 0.002) (f32.sub (global.get $feedback) (global.get $fb_now)))))
    (global.set $mix_now
      (f32.add (global.get $mix_now)
        (f32.mul (f32.const 0.002) (f32.sub (global.get $mix) (global.get $mix_now)))))
    (local.set $wl (call $channel (global.get $LINE_L) (global.get $CURSOR_L) (global.get $DAMP_L)
                                  (local.get $l)))
    (local.set $wr (call $channel (global.get $LINE_R) (global.get $CURSOR_R) (global.get $DAMP_R)
                                  (local.get $r)))
    (local.set $dry (f32.sub (f32.const 1) (global.get $mix_now)))
    (f32.add (f32.mul (local.get $dry) (local.get $l)) (f32.mul (global.get $mix_now) (local.get $wl)))
    (f32.add (f32.mul (local.get $dry) (local.get $r)) (f32.mul (global.get $mix_now) (local.get $wr)))))
