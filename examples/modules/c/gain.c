/* Stereo gain, -6 dB, in C with sdk/c/wasp.h: the same as gain.wat, sample for sample. */
#include "wasp.h"

WASP_MODULE("Gain -6 dB (C)", "Wasp examples", "1.0.0", "stereo", WASP_NO_PARAMS, WASP_NO_STATE);

/* Stereo output goes to `wasp_frame`, read by Wasp after each call. */
WASP_STATE_VAR float wasp_frame[2];

WASP_EXPORT(dsp) void dsp(float left, float right) {
    wasp_frame[0] = left * 0.5f;
    wasp_frame[1] = right * 0.5f;
}
