;; Key-tracked filter: a note-driven effect. A resonant low-pass on the stereo input whose
;; cutoff follows the most recently held note, cutoff = note frequency x 2^(offset / 12),
;; gliding there over the "glide" time, with a decaying filter envelope that each note-on
;; kicks up by up to "env amount" semitones (scaled by velocity). With no note held the
;; cutoff glides to "rest cutoff". Play it from a keyboard while audio runs through it.
;;
;; Shows:
;; - note events (contract §8): `wasp_note_on` / `wasp_note_off`, called between `dsp` calls,
;;   kept in a small held-note stack so releasing the newest note falls back to the one
;;   held before it (last-note priority, as on a monophonic synth); `wasp_midi` empties the
;;   stack on a host's "all notes off";
;; - parameters with units and a log scale (§7);
;; - a topology-preserving-transform (TPT) state-variable filter, stable at any cutoff and
;;   resonance, with its coefficients recomputed every 8 samples (two math imports per 8
;;   samples instead of per sample), while glide and envelope move every sample;
;; - filter memories, glide position, envelope and held notes declared as state (§9), so a
;;   live swap neither clicks nor forgets the notes being held.
;;
;; Memory layout (bytes):
;;   0   f32[4]  svf    filter memories: ic1 L, ic2 L, ic1 R, ic2 R
;;   16  f32     glide  where the cutoff is now, as a (fractional) MIDI note number
;;   20  f32     env    filter envelope, 1 just after a full-velocity note-on, decaying to 0
;;   24  i32     held   count of held notes, followed by
;;   28  i32[16]        the held keys, oldest first (the newest is the one that sounds)
(module
  (@custom "wasp" "{\"abi\":1,\"name\":\"Key-tracked filter\",\"author\":\"Wasp examples\",\"version\":\"1.0.0\",\"channels\":\"stereo\",\"tail\":0.2,\"params\":[{\"id\":\"offset\",\"name\":\"Offset\",\"min\":-24,\"max\":48,\"default\":12,\"unit\":\"st\",\"scale\":\"linear\"},{\"id\":\"resonance\",\"name\":\"Resonance\",\"min\":0,\"max\":1,\"default\":0.5,\"unit\":\"\",\"scale\":\"linear\"},{\"id\":\"env_amount\",\"name\":\"Env amount\",\"min\":0,\"max\":48,\"default\":24,\"unit\":\"st\",\"scale\":\"linear\"},{\"id\":\"glide\",\"name\":\"Glide\",\"min\":1,\"max\":2000,\"default\":30,\"unit\":\"ms\",\"scale\":\"log\"},{\"id\":\"rest_cutoff\",\"name\":\"Rest cutoff\",\"min\":20,\"max\":20000,\"default\":20000,\"unit\":\"Hz\",\"scale\":\"log\"}],\"state\":[{\"name\":\"svf\",\"kind\":\"array\",\"at\":0,\"len\":4},{\"name\":\"glide\",\"kind\":\"scalar\",\"at\":16,\"len\":1},{\"name\":\"env\",\"kind\":\"scalar\",\"at\":20,\"len\":1},{\"name\":\"held\",\"kind\":\"array\",\"at\":24,\"len\":17}]}")
  (import "env" "expf" (func $expf (param f32) (result f32)))
  (import "env" "exp2f" (func $exp2f (param f32) (result f32)))
  (import "env" "log2f" (func $log2f (param f32) (result f32)))
  (import "env" "tanf" (func $tanf (param f32) (result f32)))
  (memory (export "memory") 1)

  ;; Addresses (see the layout above).
  (global $SVF i32 (i32.const 0))
  (global $GLIDE i32 (i32.const 16))
  (global $ENV i32 (i32.const 20))
  (global $COUNT i32 (i32.const 24))
  (global $KEYS i32 (i32.const 28))
  (global $MAX_HELD i32 (i32.const 16))

  (global $sample_rate (mut f32) (f32.const 48000))
  ;; Parameters, as plain values.
  (global $offset (mut f32) (f32.const 12))
  (global $resonance (mut f32) (f32.const 0.5))
  (global $env_amount (mut f32) (f32.const 24))
  (global $glide_ms (mut f32) (f32.const 30))
  ;; The rest cutoff as a MIDI note number: 69 + 12 log2(Hz / 440).
  (global $rest_note (mut f32) (f32.const 135.076))
  ;; Per-sample coefficients of the glide and the envelope decay (one-pole smoothers).
  (global $glide_coef (mut f32) (f32.const 0.002))
  (global $env_decay (mut f32) (f32.const 0.9999))
  ;; Filter coefficients, recomputed every 8 samples; $countdown counts down to the next time.
  (global $k (mut f32) (f32.const 1))
  (global $a1 (mut f32) (f32.const 1))
  (global $a2 (mut f32) (f32.const 0))
  (global $a3 (mut f32) (f32.const 0))
  (global $countdown (mut i32) (i32.const 0))

  ;; Glide coefficient: a one-pole with time constant glide / 3, so the cutoff has covered
  ;; 95% of the way after the "glide" time. 1 - exp(-3 / (glide_s * fs)).
  (func $update_glide
    (global.set $glide_coef
      (f32.sub (f32.const 1)
        (call $expf
          (f32.div (f32.const -3)
            (f32.mul (f32.mul (global.get $glide_ms) (f32.const 0.001))
                     (global.get $sample_rate)))))))

  (func (export "wasp_init") (param $sample_rate f32) (param $max_frames i32)
    (global.set $sample_rate (local.get $sample_rate))
    (call $update_glide)
    ;; Envelope decay: time constant 250 ms, exp(-1 / (0.25 fs)).
    (global.set $env_decay
      (call $expf (f32.div (f32.const -4) (local.get $sample_rate))))
    (f32.store (global.get $GLIDE) (global.get $rest_note))
    (global.set $countdown (i32.const 0)))

  ;; Clears the filter and the envelope, forgets held notes, and puts the cutoff where it
  ;; rests.
  (func (export "wasp_reset")
    (memory.fill (i32.const 0) (i32.const 0) (i32.const 92))
    (f32.store (global.get $GLIDE) (global.get $rest_note))
    (global.set $countdown (i32.const 0)))

  (func (export "wasp_set_param") (param $index i32) (param $value f32)
    (block $done
      (block $rest
        (block $glide
          (block $env
            (block $res
              (block $offset
                (br_table $offset $res $env $glide $rest $done (local.get $index)))
              (global.set $offset (local.get $value))
              (br $done))
            (global.set $resonance (local.get $value))
            (br $done))
          (global.set $env_amount (local.get $value))
          (br $done))
        (global.set $glide_ms (local.get $value))
        (call $update_glide)
        (br $done))
      (global.set $rest_note
        (f32.add (f32.const 69)
          (f32.mul (f32.const 12)
            (call $log2f (f32.div (local.get $value) (f32.const 440)))))))
    (global.set $countdown (i32.const 0)))

  ;; ---- Held-note stack -------------------------------------------------------------------

  ;; Removes $key from the stack if it is there, closing the gap.
  (func $remove (param $key i32)
    (local $i i32) (local $j i32) (local $n i32)
    (local.set $n (i32.load (global.get $COUNT)))
    (block $out
      (loop $scan
        (br_if $out (i32.ge_s (local.get $i) (local.get $n)))
        (if (i32.eq (i32.load (i32.add (global.get $KEYS) (i32.shl (local.get $i) (i32.const 2))))
                    (local.get $key))
          (then
            ;; Shift the newer keys down one slot.
            (local.set $j (local.get $i))
            (block $shifted
              (loop $shift
                (br_if $shifted
                  (i32.ge_s (local.get $j) (i32.sub (local.get $n) (i32.const 1))))
                (i32.store (i32.add (global.get $KEYS) (i32.shl (local.get $j) (i32.const 2)))
                  (i32.load (i32.add (global.get $KEYS)
                                     (i32.shl (i32.add (local.get $j) (i32.const 1)) (i32.const 2)))))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $shift)))
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (i32.store (global.get $COUNT) (local.get $n))
            (br $out)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $scan))))

  (func (export "wasp_note_on") (param $key i32) (param $velocity f32)
    (local $n i32)
    ;; A key pressed again moves to the top; a full stack forgets its oldest key.
    (call $remove (local.get $key))
    (local.set $n (i32.load (global.get $COUNT)))
    (if (i32.ge_s (local.get $n) (global.get $MAX_HELD))
      (then
        (call $remove (i32.load (global.get $KEYS)))
        (local.set $n (i32.load (global.get $COUNT)))))
    (i32.store (i32.add (global.get $KEYS) (i32.shl (local.get $n) (i32.const 2)))
               (local.get $key))
    (i32.store (global.get $COUNT) (i32.add (local.get $n) (i32.const 1)))
    ;; Kick the envelope up to the velocity (it never drops on a soft retrigger).
    (f32.store (global.get $ENV)
      (f32.max (f32.load (global.get $ENV))
               (f32.min (f32.const 1) (f32.max (f32.const 0) (local.get $velocity)))))
    (global.set $countdown (i32.const 0)))

  (func (export "wasp_note_off") (param $key i32) (param $velocity f32)
    (call $remove (local.get $key))
    (global.set $countdown (i32.const 0)))

  ;; Other MIDI messages: only "all notes off" (controller 123) and "all sound off" (120)
  ;; matter here; they empty the held-note stack, so the cutoff glides back to rest.
  (func (export "wasp_midi") (param $status i32) (param $data1 i32) (param $data2 i32)
    (if (i32.and
          (i32.eq (i32.and (local.get $status) (i32.const 0xF0)) (i32.const 0xB0))
          (i32.or (i32.eq (local.get $data1) (i32.const 123))
                  (i32.eq (local.get $data1) (i32.const 120))))
      (then
        (i32.store (global.get $COUNT) (i32.const 0))
        (global.set $countdown (i32.const 0)))))

  ;; Where the cutoff heads, as a MIDI note number: the newest held key plus the offset, or
  ;; the rest cutoff when no key is held.
  (func $target (result f32)
    (local $n i32)
    (local.set $n (i32.load (global.get $COUNT)))
    (if (result f32) (i32.gt_s (local.get $n) (i32.const 0))
      (then
        (f32.add (global.get $offset)
          (f32.convert_i32_s
            (i32.load (i32.add (global.get $KEYS)
                               (i32.shl (i32.sub (local.get $n) (i32.const 1)) (i32.const 2)))))))
      (else (global.get $rest_note))))

  ;; Recomputes the SVF coefficients from the glide position and the envelope (Simper's
  ;; TPT form): g = tan(pi fc / fs), k = 1 / Q, a1 = 1 / (1 + g (g + k)), a2 = g a1, a3 = g a2.
  (func $update_filter
    (local $note f32) (local $fc f32) (local $g f32)
    (local.set $note
      (f32.add (f32.load (global.get $GLIDE))
               (f32.mul (f32.load (global.get $ENV)) (global.get $env_amount))))
    ;; Keep exp2 in range; 160 is already far above any sample rate's Nyquist.
    (local.set $note (f32.min (f32.const 160) (f32.max (f32.const -40) (local.get $note))))
    ;; fc = 440 * 2^((note - 69) / 12), clamped to [10 Hz, 0.45 fs].
    (local.set $fc
      (f32.mul (f32.const 440)
        (call $exp2f (f32.div (f32.sub (local.get $note) (f32.const 69)) (f32.const 12)))))
    (local.set $fc
      (f32.min (f32.mul (f32.const 0.45) (global.get $sample_rate))
               (f32.max (f32.const 10) (local.get $fc))))
    (local.set $g
      (call $tanf (f32.div (f32.mul (f32.const 3.1415927) (local.get $fc))
                           (global.get $sample_rate))))
    ;; Resonance 0..1 maps to k = 2 (Q 0.5, no peak) .. 0.05 (Q 20, a strong peak).
    (global.set $k
      (f32.sub (f32.const 2)
        (f32.mul (f32.const 1.95)
          (f32.min (f32.const 1) (f32.max (f32.const 0) (global.get $resonance))))))
    (global.set $a1
      (f32.div (f32.const 1)
        (f32.add (f32.const 1)
          (f32.mul (local.get $g) (f32.add (local.get $g) (global.get $k))))))
    (global.set $a2 (f32.mul (local.get $g) (global.get $a1)))
    (global.set $a3 (f32.mul (local.get $g) (global.get $a2))))

  ;; One SVF step on the channel whose two memories start at $addr; returns the low-pass.
  (func $svf (param $addr i32) (param $x f32) (result f32)
    (local $ic1 f32) (local $ic2 f32) (local $v1 f32) (local $v2 f32) (local $v3 f32)
    (local.set $ic1 (f32.load (local.get $addr)))
    (local.set $ic2 (f32.load offset=4 (local.get $addr)))
    (local.set $v3 (f32.sub (local.get $x) (local.get $ic2)))
    (local.set $v1
      (f32.add (f32.mul (global.get $a1) (local.get $ic1))
               (f32.mul (global.get $a2) (local.get $v3))))
    (local.set $v2
      (f32.add (local.get $ic2)
        (f32.add (f32.mul (global.get $a2) (local.get $ic1))
                 (f32.mul (global.get $a3) (local.get $v3)))))
    (f32.store (local.get $addr)
      (f32.sub (f32.mul (f32.const 2) (local.get $v1)) (local.get $ic1)))
    (f32.store offset=4 (local.get $addr)
      (f32.sub (f32.mul (f32.const 2) (local.get $v2)) (local.get $ic2)))
    (local.get $v2))

  (func (export "dsp") (param $l f32) (param $r f32) (result f32 f32)
    (local $pos f32) (local $env f32)
    ;; Glide towards the target note, and let the envelope decay.
    (local.set $pos (f32.load (global.get $GLIDE)))
    (f32.store (global.get $GLIDE)
      (f32.add (local.get $pos)
        (f32.mul (global.get $glide_coef) (f32.sub (call $target) (local.get $pos)))))
    (local.set $env (f32.mul (f32.load (global.get $ENV)) (global.get $env_decay)))
    ;; Flush it to 0 once it is inaudible, rather than decaying through denormals.
    (if (f32.lt (local.get $env) (f32.const 1e-6))
      (then (local.set $env (f32.const 0))))
    (f32.store (global.get $ENV) (local.get $env))
    ;; Coefficients every 8 samples (and right after a note or parameter change).
    (if (i32.eqz (global.get $countdown))
      (then
        (call $update_filter)
        (global.set $countdown (i32.const 8))))
    (global.set $countdown (i32.sub (global.get $countdown) (i32.const 1)))
    (call $svf (global.get $SVF) (local.get $l))
    (call $svf (i32.add (global.get $SVF) (i32.const 8)) (local.get $r))))
