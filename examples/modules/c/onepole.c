/* One-pole low-pass at 1 kHz, stereo, in C with sdk/c/wasp.h, processing whole blocks. The
 * same filter as onepole.wat with its memory under the same state name, "z1", so a live swap
 * between them carries it. */
#include "wasp.h"

WASP_MODULE("One-pole low-pass 1 kHz (C, block)", "Wasp examples", "1.0.0", "stereo",
            WASP_PARAMS(WASP_PARAM("cutoff", "Cutoff", 20, 20000, 1000, "Hz", "log")),
            WASP_STATE(WASP_ARRAY("z1", z1, 2)));

float expf(float);

WASP_BLOCK_BUFFERS(2, 1024)
WASP_STATE_VAR float z1[2];
WASP_STATE_VAR float wasp_frame[2];
static float rate = 48000.0f, b = 0.0f;

static void set_cutoff(float hz) { b = 1.0f - expf(-6.2831855f * hz / rate); }

WASP_EXPORT(wasp_init) void wasp_init(float sample_rate, int max_frames) {
    (void)max_frames;
    rate = sample_rate;
    set_cutoff(1000.0f);
}

WASP_EXPORT(wasp_set_param) void wasp_set_param(int index, float value) {
    if (index == 0) set_cutoff(value);
}

WASP_EXPORT(wasp_reset) void wasp_reset(void) { z1[0] = z1[1] = 0.0f; }

WASP_EXPORT(wasp_process) void wasp_process(int frames) {
    float zl = z1[0], zr = z1[1];
    for (int i = 0; i < frames; i++) {
        zl += b * (wasp_in[0][i] - zl);
        zr += b * (wasp_in[1][i] - zr);
        wasp_in[0][i] = zl;
        wasp_in[1][i] = zr;
    }
    z1[0] = zl;
    z1[1] = zr;
}

WASP_EXPORT(dsp) void dsp(float left, float right) {
    z1[0] += b * (left - z1[0]);
    z1[1] += b * (right - z1[1]);
    wasp_frame[0] = z1[0];
    wasp_frame[1] = z1[1];
}
