// A one-pole low-pass, stereo, processing whole blocks: the template to start from. The same
// filter as examples/modules/onepole.wat, with its memory under the same state name, "z1", so
// a live swap between them carries it. Its metadata is in wasp.config.mjs.
import { BLOCK, expf, output, sample, setSample } from "./wasp";
export { wasp_in, wasp_block, wasp_frame } from "./wasp";

/** The filter memory, left and right (two 4-byte floats at a fixed address, exported by
 * name): declared state "z1" in wasp.config.mjs, so a live swap carries it. */
export const z1: usize = memory.data(2 * 4, 4);

let rate: f32 = 48000;
let b: f32 = 0;

function setCutoff(hz: f32): void {
  b = 1 - expf((-6.2831855 * hz) / rate);
}

/** Called once, before processing, with the sample rate and the largest block. */
export function wasp_init(sampleRate: f32, maxFrames: i32): void {
  rate = sampleRate;
  setCutoff(1000);
}

/** Parameter `index` (its place in wasp.config.mjs) takes `value`. */
export function wasp_set_param(index: i32, value: f32): void {
  if (index == 0) setCutoff(value);
}

/** The host asked for a clean start. */
export function wasp_reset(): void {
  store<f32>(z1, 0);
  store<f32>(z1, 0, 4);
}

/** Processes `frames` frames of the block buffers in place. */
export function wasp_process(frames: i32): void {
  let zl = load<f32>(z1);
  let zr = load<f32>(z1, 4);
  for (let i = 0; i < min(frames, BLOCK); i++) {
    zl += b * (sample(0, i) - zl);
    zr += b * (sample(1, i) - zr);
    setSample(0, i, zl);
    setSample(1, i, zr);
  }
  store<f32>(z1, zl);
  store<f32>(z1, zr, 4);
}

/** One frame, the same way: Wasp falls back to it where block processing is off. */
export function dsp(left: f32, right: f32): void {
  let zl = load<f32>(z1);
  let zr = load<f32>(z1, 4);
  zl += b * (left - zl);
  zr += b * (right - zr);
  store<f32>(z1, zl);
  store<f32>(z1, zr, 4);
  output(zl, zr);
}
