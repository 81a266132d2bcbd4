// A stereo gain in decibels that glides to a new setting over a few milliseconds, so
// automation does not click. Built with: node build.mjs examples/gain.ts examples/gain.config.mjs build/gain.wasm
import { BLOCK, expf, output, powf, sample, setSample } from "../assembly/wasp";
export { wasp_in, wasp_block, wasp_frame } from "../assembly/wasp";

/** The gain applied now (declared state, so a swap does not make it jump). */
export const gain: usize = memory.data(4, 4);

let target: f32 = 1;
let smooth: f32 = 0.003;
/** Whether a block has been processed: until then a new setting applies at once. */
let started = false;

function linear(db: f32): f32 {
  return powf(10, db / 20);
}

/** The gain for the next sample; snaps once within 0.01 % of the target. */
function step(): f32 {
  let g = load<f32>(gain);
  g += (target - g) * smooth;
  if (Mathf.abs(target - g) <= 1e-4 * target) g = target;
  store<f32>(gain, g);
  return g;
}

export function wasp_init(sampleRate: f32, maxFrames: i32): void {
  target = linear(-6);
  store<f32>(gain, target);
  // A 5 ms time constant at any sample rate.
  smooth = 1 - expf(-1 / (0.005 * sampleRate));
}

export function wasp_set_param(index: i32, value: f32): void {
  if (index == 0) {
    target = linear(value);
    // The project's value arrives before the first block: start there.
    if (!started) store<f32>(gain, target);
  }
}

export function wasp_process(frames: i32): void {
  started = true;
  for (let i = 0; i < min(frames, BLOCK); i++) {
    const g = step();
    setSample(0, i, sample(0, i) * g);
    setSample(1, i, sample(1, i) * g);
  }
}

export function dsp(left: f32, right: f32): void {
  started = true;
  const g = step();
  output(left * g, right * g);
}
