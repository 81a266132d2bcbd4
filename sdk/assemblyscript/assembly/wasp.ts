// Wasp's side of a module in AssemblyScript: the block buffers, the output frame and the math
// Wasp provides. A module's entry file re-exports the first three (see index.ts) and exports
// its own entry points; docs/ABI.md is the contract they follow.

/** Frames per call of `wasp_process`: the capacity of each channel buffer. */
export const BLOCK: i32 = 512;

/** The planar block buffers, left then right, `BLOCK` frames each. The module works in place. */
export const wasp_in: usize = memory.data(2 * BLOCK * 4, 16);

/** Their capacity, which Wasp reads once after `wasp_init`. */
export const wasp_block: i32 = BLOCK;

/** Where `dsp` leaves its output pair (the stereo frame-buffer shape of the contract). */
export const wasp_frame: usize = memory.data(8, 8);

/** The address of frame `i` of channel `c` (0 left, 1 right) in the block buffers. */
// @ts-ignore: decorator
@inline
export function at(c: i32, i: i32): usize {
  return wasp_in + (<usize>(c * BLOCK + i) << 2);
}

/** Sample `i` of channel `c`. */
// @ts-ignore: decorator
@inline
export function sample(c: i32, i: i32): f32 {
  return load<f32>(at(c, i));
}

/** Sets sample `i` of channel `c`. */
// @ts-ignore: decorator
@inline
export function setSample(c: i32, i: i32, value: f32): void {
  store<f32>(at(c, i), value);
}

/** `dsp`'s answer: the output pair. */
// @ts-ignore: decorator
@inline
export function output(left: f32, right: f32): void {
  store<f32>(wasp_frame, left);
  store<f32>(wasp_frame, right, 4);
}

// Math from Wasp (docs/ABI.md §10): the same functions a WAT or C module imports, so results
// match theirs to the bit. AssemblyScript's own Mathf works too, compiled into the module.
// @ts-ignore: decorator
@external("env", "expf")
export declare function expf(x: f32): f32;
// @ts-ignore: decorator
@external("env", "sinf")
export declare function sinf(x: f32): f32;
// @ts-ignore: decorator
@external("env", "cosf")
export declare function cosf(x: f32): f32;
// @ts-ignore: decorator
@external("env", "tanf")
export declare function tanf(x: f32): f32;
// @ts-ignore: decorator
@external("env", "tanhf")
export declare function tanhf(x: f32): f32;
// @ts-ignore: decorator
@external("env", "powf")
export declare function powf(x: f32, y: f32): f32;
// @ts-ignore: decorator
@external("env", "log10f")
export declare function log10f(x: f32): f32;

/** A failed assertion or bounds check: a trap, which Wasp reports as a crash of the module.
 * (Wasp allows no `env.abort` import, so the build points AssemblyScript's `abort` here.) */
export function trap(
  message: string | null,
  fileName: string | null,
  line: u32,
  column: u32,
): void {
  unreachable();
}
