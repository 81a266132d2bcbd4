/*
 * wasp.h: write Wasp modules in C (or C++) without writing the metadata JSON by hand.
 *
 * One header, no library. Build a module with Debian's `clang` and `lld`:
 *
 *     clang --target=wasm32 -O2 -nostdlib -Wl,--no-entry -Wl,--export-dynamic \
 *           -Wl,--allow-undefined \
 *           -I sdk/c -o gain.wasm gain.c
 *
 * What it gives you (see docs/ABI.md for the contract itself):
 *
 *   WASP_MODULE(name, author, version, channels, params, state)
 *       The module's `wasp` metadata section, written at compile time. `channels` is "mono"
 *       or "stereo"; `params` is WASP_PARAMS(...) or WASP_NO_PARAMS; `state` is
 *       WASP_STATE(...) or WASP_NO_STATE. All arguments are literals.
 *   WASP_PARAMS(WASP_PARAM(id, name, min, max, default, unit, scale), ...)
 *       Up to 16 parameters; `scale` is "linear" or "log". Wasp calls wasp_set_param(index,
 *       value) with the index of the parameter in this list.
 *   WASP_STATE(WASP_ARRAY(name, variable, length), WASP_SCALAR(name, variable), ...)
 *       Up to 16 regions of state that a live swap carries, each a variable declared with
 *       WASP_STATE_VAR (so Wasp can find its address). `length` counts 4-byte elements.
 *   WASP_EXPORT(name)        before a function Wasp calls: dsp, wasp_init, wasp_process...
 *   WASP_STATE_VAR           before a variable that WASP_STATE names, or a block buffer.
 *   WASP_BLOCK_BUFFERS(channels, frames)
 *       The planar buffers of block processing: `wasp_in` (and it is also the output: the
 *       module works in place), and `wasp_block()`. Use them from wasp_process(frames) as
 *       wasp_in[channel][frame].
 *
 * Math functions (sinf, expf, powf...; the list is in docs/ABI.md) come from Wasp: declare them
 * (`float expf(float);`) and `--allow-undefined` leaves them as imports. There is no libc.
 *
 * Strings are C string literals written into JSON as they are: keep them to letters, digits,
 * spaces and punctuation other than `"` and `\`.
 */
#ifndef WASP_H
#define WASP_H

#define WASP__S(x) #x
#define WASP__STR(x) WASP__S(x)
#define WASP__CAT(a, b) WASP__CAT_(a, b)
#define WASP__CAT_(a, b) a##b

/* Joins 1 to 16 JSON pieces with commas. */
#define WASP__COUNT(...) \
    WASP__COUNT_(__VA_ARGS__, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define WASP__COUNT_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, \
                     n, ...)                                                                \
    n
#define WASP__J1(a) a
#define WASP__J2(a, ...) a "," WASP__J1(__VA_ARGS__)
#define WASP__J3(a, ...) a "," WASP__J2(__VA_ARGS__)
#define WASP__J4(a, ...) a "," WASP__J3(__VA_ARGS__)
#define WASP__J5(a, ...) a "," WASP__J4(__VA_ARGS__)
#define WASP__J6(a, ...) a "," WASP__J5(__VA_ARGS__)
#define WASP__J7(a, ...) a "," WASP__J6(__VA_ARGS__)
#define WASP__J8(a, ...) a "," WASP__J7(__VA_ARGS__)
#define WASP__J9(a, ...) a "," WASP__J8(__VA_ARGS__)
#define WASP__J10(a, ...) a "," WASP__J9(__VA_ARGS__)
#define WASP__J11(a, ...) a "," WASP__J10(__VA_ARGS__)
#define WASP__J12(a, ...) a "," WASP__J11(__VA_ARGS__)
#define WASP__J13(a, ...) a "," WASP__J12(__VA_ARGS__)
#define WASP__J14(a, ...) a "," WASP__J13(__VA_ARGS__)
#define WASP__J15(a, ...) a "," WASP__J14(__VA_ARGS__)
#define WASP__J16(a, ...) a "," WASP__J15(__VA_ARGS__)
#define WASP__JOIN(...) WASP__CAT(WASP__J, WASP__COUNT(__VA_ARGS__))(__VA_ARGS__)

#define WASP_PARAM(id, name, min, max, def, unit, scale)                                     \
    "{\"id\":" #id ",\"name\":" #name ",\"min\":" #min ",\"max\":" #max ",\"default\":" #def \
    ",\"unit\":" #unit ",\"scale\":" #scale "}"
#define WASP_PARAMS(...) ",\"params\":[" WASP__JOIN(__VA_ARGS__) "]"
#define WASP_NO_PARAMS ""

#define WASP_ARRAY(name, variable, length) \
    "{\"name\":" #name ",\"kind\":\"array\",\"at\":\"" #variable "\",\"len\":" #length "}"
#define WASP_SCALAR(name, variable) \
    "{\"name\":" #name ",\"kind\":\"scalar\",\"at\":\"" #variable "\"}"
#define WASP_STATE(...) ",\"state\":[" WASP__JOIN(__VA_ARGS__) "]"
#define WASP_NO_STATE ""

/* The section is written by the assembler: C has no other way to make a custom section. */
#define WASP_MODULE(name, author, version, channels, params, state)                      \
    __asm__(".section .custom_section.wasp,\"\",@\n.ascii " WASP__STR(                     \
        "{\"abi\":1,\"name\":" #name ",\"author\":" #author ",\"version\":" #version         \
        ",\"channels\":" #channels params state "}") "\n.text\n")

#define WASP_EXPORT(name) __attribute__((export_name(#name)))
/* Exported by name (with -Wl,--export-dynamic) as a global holding the variable's address. */
#define WASP_STATE_VAR __attribute__((visibility("default"), used))

#define WASP_BLOCK_BUFFERS(channels, frames)                                        \
    WASP_STATE_VAR float wasp_in[channels][frames];                                 \
    WASP_EXPORT(wasp_block) int wasp_block(void) { return (frames); }

#endif
