;; Synth: an 8-voice polyphonic subtractive synthesizer, the built-in sound of "Wasp Instrument".
;; Each voice plays two slightly detuned polyBLEP sawtooths (one leaning left, one right), each
;; through a resonant TPT state-variable low-pass, shaped by an ADSR envelope and the velocity.
;; Shows an instrument module: notes through `wasp_note_on` / `wasp_note_off` (contract §8), raw
;; MIDI through `wasp_midi` (pitch bend, sustain pedal, all notes off), voice allocation with
;; stealing, coefficients (pitch, filter, envelope) computed at note-on or when a parameter
;; changes rather than every sample, and the whole voice table declared as state so a live swap
;; carries ringing notes over. The metadata's tail, 7 s, covers the longest release: 5 s to
;; -60 dB, and the voice ends at -80 dB after 6.7 s.
;;
;; Memory layout: voice v (0..7) lives at byte v*80, 20 four-byte fields:
;;    0 stage (i32)     0 free, 1 attack, 2 decay/sustain, 3 release
;;    4 key (i32)       MIDI note number
;;    8 order (i32)     note-on counter value when the voice started (older = smaller)
;;   12 held (i32)      1 when the key was released while the sustain pedal was down
;;   16 phase1 (f32)    oscillator 1 phase, 0..1
;;   20 phase2 (f32)    oscillator 2 phase, 0..1
;;   24 freq (f32)      the note's frequency in Hz (before bend and detune)
;;   28 env (f32)       envelope level, 0..1
;;   32 amp (f32)       velocity gain
;;   36 g (f32)         filter coefficient tan(pi fc / fs)
;;   40 ic1a, 44 ic2a   filter 1 memories (oscillator 1)
;;   48 ic1b, 52 ic2b   filter 2 memories (oscillator 2)
;;   56 fcmul (f32)     this voice's cutoff factor (key tracking and velocity)
;;   60 a1 (f32)        filter coefficient 1 / (1 + g (g + k))
;;   64 sr_at, 68 cutoff_at, 72 k_at (f32)   the sample rate, cutoff and k that g and a1 were
;;                      computed for; when they differ from the current ones (a parameter
;;                      changed, or the voice was carried over from another instance by a swap
;;                      or a sample-rate change) `dsp` recomputes them
;;   76 unused
;; Only rate-independent values (Hz, phases, levels) are stored for the sound, so a voice carried
;; into an instance at another sample rate keeps its pitch. The 8 voices take 640 bytes = 160
;; elements, declared as the state array "voices".
(module
  (@custom "wasp" "{\"abi\":1,\"name\":\"Wasp Synth\",\"author\":\"Wasp examples\",\"version\":\"1.0.0\",\"channels\":\"stereo\",\"tail\":7,\"params\":[{\"id\":\"cutoff\",\"name\":\"Cutoff\",\"min\":20,\"max\":20000,\"default\":2500,\"unit\":\"Hz\",\"scale\":\"log\"},{\"id\":\"resonance\",\"name\":\"Resonance\",\"min\":0,\"max\":1,\"default\":0.2,\"unit\":\"\",\"scale\":\"linear\"},{\"id\":\"attack\",\"name\":\"Attack\",\"min\":1,\"max\":5000,\"default\":5,\"unit\":\"ms\",\"scale\":\"log\"},{\"id\":\"decay\",\"name\":\"Decay\",\"min\":1,\"max\":5000,\"default\":300,\"unit\":\"ms\",\"scale\":\"log\"},{\"id\":\"sustain\",\"name\":\"Sustain\",\"min\":0,\"max\":1,\"default\":0.7,\"unit\":\"\",\"scale\":\"linear\"},{\"id\":\"release\",\"name\":\"Release\",\"min\":1,\"max\":5000,\"default\":400,\"unit\":\"ms\",\"scale\":\"log\"},{\"id\":\"volume\",\"name\":\"Volume\",\"min\":-60,\"max\":6,\"default\":-12,\"unit\":\"dB\",\"scale\":\"linear\"}],\"state\":[{\"name\":\"voices\",\"kind\":\"array\",\"at\":0,\"len\":160}],\"globals\":[\"gain\",\"bend\",\"pedal\",\"note_counter\"]}")
  (import "env" "expf" (func $expf (param f32) (result f32)))
  (import "env" "powf" (func $powf (param f32 f32) (result f32)))
  (import "env" "tanf" (func $tanf (param f32) (result f32)))
  (memory (export "memory") 1)

  ;; ---- Settings (plain parameter values) and the coefficients derived from them ----
  (global $sr (mut f32) (f32.const 48000))
  (global $inv_sr (mut f32) (f32.const 2.0833333e-5))
  (global $cutoff (mut f32) (f32.const 2500))
  (global $res (mut f32) (f32.const 0.2))
  (global $attack_ms (mut f32) (f32.const 5))
  (global $decay_ms (mut f32) (f32.const 300))
  (global $sustain (mut f32) (f32.const 0.7))
  (global $release_ms (mut f32) (f32.const 400))
  ;; Filter damping k = 2 - 1.9 * resonance: from 2 (no peak) down to 0.1 (Q = 10, still stable).
  (global $k (mut f32) (f32.const 1.62))
  ;; Envelope: linear attack step per sample; decay and release multiply the distance to their
  ;; target by a coefficient each sample, reaching 1/1000 (-60 dB) after the set time.
  (global $atk_inc (mut f32) (f32.const 0.004))
  (global $dec_coef (mut f32) (f32.const 0.9995))
  (global $rel_coef (mut f32) (f32.const 0.9996))
  ;; Output volume: where the smoother heads and where it is (carried across swaps).
  (global $target (mut f32) (f32.const 0.25))
  (global $gain (export "gain") (mut f32) (f32.const 0.25))

  ;; ---- Performance state (carried across swaps) ----
  ;; Pitch-bend ratio (1 = centre), sustain pedal (1 = down), note-on counter for voice age.
  (global $bend (export "bend") (mut f32) (f32.const 1))
  (global $pedal (export "pedal") (mut i32) (i32.const 0))
  (global $counter (export "note_counter") (mut i32) (i32.const 0))
  ;; Random generator for the starting phases of fresh voices.
  (global $seed (mut i32) (i32.const 22222))

  ;; ---- Coefficients ----

  ;; Envelope coefficients from the times in ms and the sample rate.
  (func $env_coeffs
    (global.set $atk_inc
      (f32.div (f32.const 1)
        (f32.mul (f32.mul (global.get $attack_ms) (f32.const 0.001)) (global.get $sr))))
    ;; exp(-ln(1000) / samples)
    (global.set $dec_coef
      (call $expf (f32.div (f32.const -6.9077554)
        (f32.mul (f32.mul (global.get $decay_ms) (f32.const 0.001)) (global.get $sr)))))
    (global.set $rel_coef
      (call $expf (f32.div (f32.const -6.9077554)
        (f32.mul (f32.mul (global.get $release_ms) (f32.const 0.001)) (global.get $sr))))))

  ;; One voice's filter coefficients: fc = cutoff * fcmul, kept within 10 Hz .. 0.45 fs.
  ;; Called at note-on, and from `dsp` when the voice's coefficients are out of date.
  (func $voice_filter (param $v i32)
    (local $fc f32) (local $g f32)
    (local.set $fc (f32.mul (global.get $cutoff) (f32.load offset=56 (local.get $v))))
    (local.set $fc
      (f32.max (f32.const 10)
        (f32.min (local.get $fc) (f32.mul (f32.const 0.45) (global.get $sr)))))
    (local.set $g
      (call $tanf (f32.div (f32.mul (f32.const 3.1415927) (local.get $fc)) (global.get $sr))))
    (f32.store offset=36 (local.get $v) (local.get $g))
    (f32.store offset=60 (local.get $v)
      (f32.div (f32.const 1)
        (f32.add (f32.const 1)
          (f32.mul (local.get $g) (f32.add (local.get $g) (global.get $k))))))
    (f32.store offset=64 (local.get $v) (global.get $sr))
    (f32.store offset=68 (local.get $v) (global.get $cutoff))
    (f32.store offset=72 (local.get $v) (global.get $k)))

  ;; ---- Lifecycle ----

  (func (export "wasp_init") (param $sample_rate f32) (param $max_frames i32)
    (global.set $sr (local.get $sample_rate))
    (global.set $inv_sr (f32.div (f32.const 1) (local.get $sample_rate)))
    (call $env_coeffs))

  ;; Silence every voice; keep the coefficients.
  (func (export "wasp_reset")
    (local $a i32)
    (local.set $a (i32.const 0))
    (loop $clear
      (i32.store (local.get $a) (i32.const 0))
      (local.set $a (i32.add (local.get $a) (i32.const 4)))
      (br_if $clear (i32.lt_u (local.get $a) (i32.const 640))))
    (global.set $gain (global.get $target))
    (global.set $bend (f32.const 1))
    (global.set $pedal (i32.const 0)))

  ;; ---- Parameters: 0 cutoff, 1 resonance, 2 attack, 3 decay, 4 sustain, 5 release, 6 volume ----

  (func (export "wasp_set_param") (param $index i32) (param $value f32)
    ;; Ignore a NaN rather than let it into the voices.
    (if (f32.ne (local.get $value) (local.get $value)) (then (return)))
    (block $done
      (block $volume
        (block $release
          (block $sustain
            (block $decay
              (block $attack
                (block $resonance
                  (block $cutoff
                    (br_table $cutoff $resonance $attack $decay $sustain $release $volume $done
                      (local.get $index)))
                  ;; 0: cutoff in Hz
                  ;; (the voices pick the change up in `dsp`)
                  (global.set $cutoff (f32.max (f32.const 20) (local.get $value)))
                  (br $done))
                ;; 1: resonance 0..1
                (global.set $res (f32.max (f32.const 0) (f32.min (f32.const 1) (local.get $value))))
                (global.set $k (f32.sub (f32.const 2) (f32.mul (f32.const 1.9) (global.get $res))))
                (br $done))
              ;; 2: attack in ms
              (global.set $attack_ms (f32.max (f32.const 1) (local.get $value)))
              (call $env_coeffs)
              (br $done))
            ;; 3: decay in ms
            (global.set $decay_ms (f32.max (f32.const 1) (local.get $value)))
            (call $env_coeffs)
            (br $done))
          ;; 4: sustain level 0..1
          (global.set $sustain (f32.max (f32.const 0) (f32.min (f32.const 1) (local.get $value))))
          (br $done))
        ;; 5: release in ms
        (global.set $release_ms (f32.max (f32.const 1) (local.get $value)))
        (call $env_coeffs)
        (br $done))
      ;; 6: volume in dB, 10^(dB / 20)
      (global.set $target
        (call $powf (f32.const 10) (f32.div (local.get $value) (f32.const 20))))))

  ;; ---- Notes ----

  ;; Pick the voice for a new note: the voice already sounding this key, else a free voice,
  ;; else the oldest released voice, else the oldest voice. Returns its byte address.
  (func $find_voice (param $key i32) (result i32)
    (local $v i32) (local $best i32) (local $best_order i32)
    ;; Same key, still sounding: retrigger it (no doubled notes).
    (local.set $v (i32.const 0))
    (loop $same
      (if (i32.and
            (i32.ne (i32.load (local.get $v)) (i32.const 0))
            (i32.eq (i32.load offset=4 (local.get $v)) (local.get $key)))
        (then (return (local.get $v))))
      (local.set $v (i32.add (local.get $v) (i32.const 80)))
      (br_if $same (i32.lt_u (local.get $v) (i32.const 640))))
    ;; A free voice.
    (local.set $v (i32.const 0))
    (loop $free
      (if (i32.eqz (i32.load (local.get $v))) (then (return (local.get $v))))
      (local.set $v (i32.add (local.get $v) (i32.const 80)))
      (br_if $free (i32.lt_u (local.get $v) (i32.const 640))))
    ;; The oldest released voice, else the oldest voice. Orders are compared as differences
    ;; from the counter so the comparison survives the counter wrapping around.
    (local.set $best (i32.const -1))
    (local.set $best_order (i32.const -1))
    (local.set $v (i32.const 0))
    (loop $released
      (if (i32.eq (i32.load (local.get $v)) (i32.const 3))
        (then
          (if (i32.or (i32.lt_s (local.get $best) (i32.const 0))
                      (i32.gt_u (i32.sub (global.get $counter) (i32.load offset=8 (local.get $v)))
                                (local.get $best_order)))
            (then
              (local.set $best (local.get $v))
              (local.set $best_order
                (i32.sub (global.get $counter) (i32.load offset=8 (local.get $v))))))))
      (local.set $v (i32.add (local.get $v) (i32.const 80)))
      (br_if $released (i32.lt_u (local.get $v) (i32.const 640))))
    (if (i32.ge_s (local.get $best) (i32.const 0)) (then (return (local.get $best))))
    (local.set $best (i32.const 0))
    (local.set $best_order (i32.const 0))
    (local.set $v (i32.const 0))
    (loop $oldest
      (if (i32.ge_u (i32.sub (global.get $counter) (i32.load offset=8 (local.get $v)))
                    (local.get $best_order))
        (then
          (local.set $best (local.get $v))
          (local.set $best_order
            (i32.sub (global.get $counter) (i32.load offset=8 (local.get $v))))))
      (local.set $v (i32.add (local.get $v) (i32.const 80)))
      (br_if $oldest (i32.lt_u (local.get $v) (i32.const 640))))
    (local.get $best))

  ;; A random phase in [0, 1) from a linear congruential generator.
  (func $random_phase (result f32)
    (global.set $seed
      (i32.add (i32.mul (global.get $seed) (i32.const 1664525)) (i32.const 1013904223)))
    (f32.mul (f32.convert_i32_u (i32.shr_u (global.get $seed) (i32.const 8)))
             (f32.const 5.9604645e-8)))

  (func $note_on (export "wasp_note_on") (param $key i32) (param $velocity f32)
    (local $v i32) (local $vel f32)
    (local.set $key (i32.and (local.get $key) (i32.const 127)))
    (local.set $vel (f32.max (f32.const 0) (f32.min (f32.const 1) (local.get $velocity))))
    ;; Velocity 0 means note off, as in MIDI. (Also catches a NaN velocity.)
    (if (i32.eqz (f32.gt (local.get $vel) (f32.const 0)))
      (then (call $note_off (local.get $key) (f32.const 0)) (return)))
    (local.set $v (call $find_voice (local.get $key)))
    ;; A free voice starts clean, at random phases. A voice taken over while sounding keeps
    ;; its phases, filter memories and envelope level, and attacks from there: no click.
    (if (i32.eqz (i32.load (local.get $v)))
      (then
        (f32.store offset=16 (local.get $v) (call $random_phase))
        (f32.store offset=20 (local.get $v) (call $random_phase))
        (f32.store offset=28 (local.get $v) (f32.const 0))
        (f32.store offset=40 (local.get $v) (f32.const 0))
        (f32.store offset=44 (local.get $v) (f32.const 0))
        (f32.store offset=48 (local.get $v) (f32.const 0))
        (f32.store offset=52 (local.get $v) (f32.const 0))))
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (i32.store (local.get $v) (i32.const 1))
    (i32.store offset=4 (local.get $v) (local.get $key))
    (i32.store offset=8 (local.get $v) (global.get $counter))
    (i32.store offset=12 (local.get $v) (i32.const 0))
    ;; Frequency: 440 * 2^((key - 69) / 12)
    (f32.store offset=24 (local.get $v)
      (f32.mul (f32.const 440)
        (call $powf (f32.const 2)
          (f32.div (f32.convert_i32_s (i32.sub (local.get $key) (i32.const 69))) (f32.const 12)))))
    ;; Gain: vel * (0.25 + 0.75 vel), a gentle curve that reaches 1 at full velocity.
    (f32.store offset=32 (local.get $v)
      (f32.mul (local.get $vel)
        (f32.add (f32.const 0.25) (f32.mul (f32.const 0.75) (local.get $vel)))))
    ;; Cutoff factor: half key tracking (an octave up opens the filter half an octave, around
    ;; middle C) and velocity brightness (velocity 0 closes it by 0.75 octave).
    (f32.store offset=56 (local.get $v)
      (call $powf (f32.const 2)
        (f32.add
          (f32.div (f32.convert_i32_s (i32.sub (local.get $key) (i32.const 60))) (f32.const 24))
          (f32.mul (f32.const 0.75) (f32.sub (local.get $vel) (f32.const 1))))))
    (call $voice_filter (local.get $v)))

  (func $note_off (export "wasp_note_off") (param $key i32) (param $velocity f32)
    (local $v i32) (local $stage i32)
    (local.set $v (i32.const 0))
    (loop $next
      (local.set $stage (i32.load (local.get $v)))
      (if (i32.and
            (i32.and (i32.ge_u (local.get $stage) (i32.const 1))
                     (i32.le_u (local.get $stage) (i32.const 2)))
            (i32.eq (i32.load offset=4 (local.get $v)) (local.get $key)))
        (then
          (if (global.get $pedal)
            (then (i32.store offset=12 (local.get $v) (i32.const 1)))
            (else (i32.store (local.get $v) (i32.const 3))))))
      (local.set $v (i32.add (local.get $v) (i32.const 80)))
      (br_if $next (i32.lt_u (local.get $v) (i32.const 640)))))

  ;; Release sounding voices: all of them, or only those held by the pedal.
  (func $release_voices (param $only_held i32)
    (local $v i32) (local $stage i32)
    (local.set $v (i32.const 0))
    (loop $next
      (local.set $stage (i32.load (local.get $v)))
      (if (i32.and
            (i32.and (i32.ge_u (local.get $stage) (i32.const 1))
                     (i32.le_u (local.get $stage) (i32.const 2)))
            (i32.or (i32.eqz (local.get $only_held))
                    (i32.load offset=12 (local.get $v))))
        (then
          (i32.store (local.get $v) (i32.const 3))
          (i32.store offset=12 (local.get $v) (i32.const 0))))
      (local.set $v (i32.add (local.get $v) (i32.const 80)))
      (br_if $next (i32.lt_u (local.get $v) (i32.const 640)))))

  ;; Raw MIDI, any channel. Notes arrive through wasp_note_on / wasp_note_off, not here.
  (func (export "wasp_midi") (param $status i32) (param $data1 i32) (param $data2 i32)
    (local $type i32) (local $bendv i32) (local $semis f32)
    (local.set $type (i32.and (local.get $status) (i32.const 0xF0)))
    (local.set $data1 (i32.and (local.get $data1) (i32.const 127)))
    (local.set $data2 (i32.and (local.get $data2) (i32.const 127)))
    ;; Pitch bend: 14 bits, 8192 = centre, range +-2 semitones (16383 = exactly +2).
    (if (i32.eq (local.get $type) (i32.const 0xE0))
      (then
        (local.set $bendv
          (i32.sub (i32.or (local.get $data1) (i32.shl (local.get $data2) (i32.const 7)))
                   (i32.const 8192)))
        (local.set $semis
          (f32.mul (f32.const 2)
            (f32.div (f32.convert_i32_s (local.get $bendv))
              (select (f32.const 8191) (f32.const 8192)
                (i32.gt_s (local.get $bendv) (i32.const 0))))))
        (global.set $bend
          (call $powf (f32.const 2) (f32.div (local.get $semis) (f32.const 12))))
        (return)))
    (if (i32.eq (local.get $type) (i32.const 0xB0))
      (then
        ;; CC 64 sustain pedal: down at 64 and above; lifting it releases the held notes.
        (if (i32.eq (local.get $data1) (i32.const 64))
          (then
            (if (i32.ge_u (local.get $data2) (i32.const 64))
              (then (global.set $pedal (i32.const 1)))
              (else
                (global.set $pedal (i32.const 0))
                (call $release_voices (i32.const 1))))
            (return)))
        ;; CC 121 reset all controllers: bend to centre, pedal up.
        (if (i32.eq (local.get $data1) (i32.const 121))
          (then
            (global.set $bend (f32.const 1))
            (global.set $pedal (i32.const 0))
            (call $release_voices (i32.const 1))
            (return)))
        ;; CC 120 all sound off: cut every voice now.
        (if (i32.eq (local.get $data1) (i32.const 120))
          (then
            (call $release_voices (i32.const 0))
            (call $silence_voices)
            (return)))
        ;; CC 123 all notes off: every sounding note goes to its release.
        (if (i32.eq (local.get $data1) (i32.const 123))
          (then (call $release_voices (i32.const 0)))))))

  (func $silence_voices
    (local $v i32)
    (local.set $v (i32.const 0))
    (loop $next
      (i32.store (local.get $v) (i32.const 0))
      (f32.store offset=28 (local.get $v) (f32.const 0))
      (local.set $v (i32.add (local.get $v) (i32.const 80)))
      (br_if $next (i32.lt_u (local.get $v) (i32.const 640)))))

  ;; ---- Audio ----

  ;; PolyBLEP residual for a sawtooth at phase t (0..1) with increment dt: smooths the jump.
  (func $blep (param $t f32) (param $dt f32) (result f32)
    (if (f32.lt (local.get $t) (local.get $dt))
      (then
        ;; t/dt in [0, 1): 2x - x^2 - 1
        (local.set $t (f32.div (local.get $t) (local.get $dt)))
        (return
          (f32.sub (f32.sub (f32.add (local.get $t) (local.get $t))
                            (f32.mul (local.get $t) (local.get $t)))
                   (f32.const 1)))))
    (if (f32.gt (local.get $t) (f32.sub (f32.const 1) (local.get $dt)))
      (then
        ;; (t-1)/dt in (-1, 0]: x^2 + 2x + 1
        (local.set $t (f32.div (f32.sub (local.get $t) (f32.const 1)) (local.get $dt)))
        (return
          (f32.add (f32.add (f32.mul (local.get $t) (local.get $t))
                            (f32.add (local.get $t) (local.get $t)))
                   (f32.const 1)))))
    (f32.const 0))

  ;; One band-limited sawtooth sample from the phase at byte address $p, advancing it.
  (func $saw (param $p i32) (param $dt f32) (result f32)
    (local $t f32) (local $next f32)
    (local.set $t (f32.load (local.get $p)))
    (local.set $next (f32.add (local.get $t) (local.get $dt)))
    (if (f32.ge (local.get $next) (f32.const 1))
      (then (local.set $next (f32.sub (local.get $next) (f32.const 1)))))
    (f32.store (local.get $p) (local.get $next))
    (f32.sub
      (f32.sub (f32.add (local.get $t) (local.get $t)) (f32.const 1))
      (call $blep (local.get $t) (local.get $dt))))

  ;; One sample of the TPT state-variable low-pass (Zavalishin; Simper's form) whose two
  ;; memories sit at byte address $s and $s+4. g and a1 = 1 / (1 + g (g + k)) are precomputed.
  (func $svf (param $s i32) (param $x f32) (param $g f32) (param $a1 f32) (result f32)
    (local $ic1 f32) (local $ic2 f32) (local $a2 f32) (local $v1 f32) (local $v2 f32) (local $v3 f32)
    (local.set $ic1 (f32.load (local.get $s)))
    (local.set $ic2 (f32.load offset=4 (local.get $s)))
    (local.set $a2 (f32.mul (local.get $g) (local.get $a1)))
    (local.set $v3 (f32.sub (local.get $x) (local.get $ic2)))
    (local.set $v1
      (f32.add (f32.mul (local.get $a1) (local.get $ic1)) (f32.mul (local.get $a2) (local.get $v3))))
    (local.set $v2
      (f32.add (local.get $ic2) (f32.mul (local.get $g) (local.get $v1))))
    (f32.store (local.get $s)
      (f32.sub (f32.add (local.get $v1) (local.get $v1)) (local.get $ic1)))
    (f32.store offset=4 (local.get $s)
      (f32.sub (f32.add (local.get $v2) (local.get $v2)) (local.get $ic2)))
    (local.get $v2))

  ;; Output safety: unchanged below 0.7, then bends smoothly towards 0.99, never beyond.
  (func $soft_clip (param $x f32) (result f32)
    (local $a f32) (local $t f32)
    (local.set $a (f32.abs (local.get $x)))
    (if (f32.le (local.get $a) (f32.const 0.7)) (then (return (local.get $x))))
    ;; t = (a - 0.7) / 0.29; y = 0.7 + 0.29 t / (1 + t): slope 1 at the knee, limit 0.99.
    (local.set $t (f32.div (f32.sub (local.get $a) (f32.const 0.7)) (f32.const 0.29)))
    (f32.copysign
      (f32.add (f32.const 0.7)
        (f32.div (f32.mul (f32.const 0.29) (local.get $t)) (f32.add (f32.const 1) (local.get $t))))
      (local.get $x)))

  (func (export "dsp") (param $in_l f32) (param $in_r f32) (result f32 f32)
    (local $v i32) (local $stage i32) (local $env f32) (local $dt f32)
    (local $g f32) (local $a1 f32) (local $y1 f32) (local $y2 f32) (local $amp f32)
    (local $l f32) (local $r f32)
    (local.set $v (i32.const 0))
    (loop $voice
      (local.set $stage (i32.load (local.get $v)))
      (if (local.get $stage)
        (then
          ;; Envelope.
          (local.set $env (f32.load offset=28 (local.get $v)))
          (if (i32.eq (local.get $stage) (i32.const 1))
            (then
              ;; Attack: linear rise to 1, then on to the decay.
              (local.set $env (f32.add (local.get $env) (global.get $atk_inc)))
              (if (f32.ge (local.get $env) (f32.const 1))
                (then
                  (local.set $env (f32.const 1))
                  (i32.store (local.get $v) (i32.const 2)))))
            (else
              (if (i32.eq (local.get $stage) (i32.const 2))
                (then
                  ;; Decay: exponential approach to the sustain level, where it stays.
                  (local.set $env
                    (f32.add (global.get $sustain)
                      (f32.mul (global.get $dec_coef)
                        (f32.sub (local.get $env) (global.get $sustain))))))
                (else
                  ;; Release: exponential fall; below -80 dB the voice is free again.
                  (local.set $env (f32.mul (local.get $env) (global.get $rel_coef)))
                  (if (f32.lt (local.get $env) (f32.const 1e-4))
                    (then
                      (local.set $env (f32.const 0))
                      (i32.store (local.get $v) (i32.const 0))))))))
          (f32.store offset=28 (local.get $v) (local.get $env))
          ;; Filter coefficients out of date? (Only after a change: three comparisons otherwise.)
          (if (i32.or
                (i32.or
                  (f32.ne (f32.load offset=64 (local.get $v)) (global.get $sr))
                  (f32.ne (f32.load offset=68 (local.get $v)) (global.get $cutoff)))
                (f32.ne (f32.load offset=72 (local.get $v)) (global.get $k)))
            (then (call $voice_filter (local.get $v))))
          ;; Oscillators: phase increment = frequency x bend / fs, kept below 0.45 (Nyquist
          ;; margin); oscillator 1 four cents sharp, oscillator 2 four cents flat.
          (local.set $dt
            (f32.min (f32.const 0.45)
              (f32.mul (f32.mul (f32.load offset=24 (local.get $v)) (global.get $bend))
                       (global.get $inv_sr))))
          (local.set $g (f32.load offset=36 (local.get $v)))
          (local.set $a1 (f32.load offset=60 (local.get $v)))
          (local.set $y1
            (call $svf (i32.add (local.get $v) (i32.const 40))
              (call $saw (i32.add (local.get $v) (i32.const 16))
                (f32.mul (local.get $dt) (f32.const 1.0023132)))
              (local.get $g) (local.get $a1)))
          (local.set $y2
            (call $svf (i32.add (local.get $v) (i32.const 48))
              (call $saw (i32.add (local.get $v) (i32.const 20))
                (f32.mul (local.get $dt) (f32.const 0.99769218)))
              (local.get $g) (local.get $a1)))
          ;; Voice level: envelope x velocity gain x 0.5 (two oscillators).
          (local.set $amp
            (f32.mul (f32.mul (local.get $env) (f32.load offset=32 (local.get $v))) (f32.const 0.5)))
          ;; Oscillator 1 leans left, oscillator 2 right.
          (local.set $l
            (f32.add (local.get $l)
              (f32.mul (local.get $amp)
                (f32.add (f32.mul (f32.const 1.3) (local.get $y1)) (f32.mul (f32.const 0.7) (local.get $y2))))))
          (local.set $r
            (f32.add (local.get $r)
              (f32.mul (local.get $amp)
                (f32.add (f32.mul (f32.const 0.7) (local.get $y1)) (f32.mul (f32.const 1.3) (local.get $y2))))))))
      (local.set $v (i32.add (local.get $v) (i32.const 80)))
      (br_if $voice (i32.lt_u (local.get $v) (i32.const 640))))
    ;; Volume, smoothed over about 2 ms at 48 kHz.
    (global.set $gain
      (f32.add (global.get $gain)
        (f32.mul (f32.const 0.01) (f32.sub (global.get $target) (global.get $gain)))))
    (call $soft_clip (f32.mul (local.get $l) (global.get $gain)))
    (call $soft_clip (f32.mul (local.get $r) (global.get $gain)))))
