/* Bitcrusher and decimator: fewer bits (a coarser staircase) and a lower sample rate (each
 * value held for several samples), mixed with the dry signal. In C with sdk/c/wasp.h. The held
 * values and the hold counter are declared state, so a swap keeps the staircase in step. */
#include "wasp.h"

WASP_MODULE("Bitcrusher", "Wasp", "1.0.0", "stereo",
            WASP_PARAMS(WASP_PARAM("bits", "Bits", 1, 16, 8, "bits", "linear"),
                        WASP_PARAM("downsample", "Downsample", 1, 32, 4, "x", "linear"),
                        WASP_PARAM("mix", "Mix", 0, 100, 100, "%", "linear")),
            WASP_STATE(WASP_ARRAY("held", held, 2), WASP_SCALAR("count", count)));

float floorf(float);
float exp2f(float);

WASP_BLOCK_BUFFERS(2, 512)
WASP_STATE_VAR float held[2];
WASP_STATE_VAR int count;
WASP_STATE_VAR float wasp_frame[2];

/* Quantizer step (2 / 2^bits over the range -1 to 1), hold length and mix. */
static float step = 2.0f / 256.0f, mix = 1.0f;
static int hold = 4;

WASP_EXPORT(wasp_set_param) void wasp_set_param(int index, float value) {
    if (index == 0) step = 2.0f / exp2f(floorf(value + 0.5f));
    if (index == 1) hold = (int)floorf(value + 0.5f);
    if (index == 2) mix = value / 100.0f;
    if (hold < 1) hold = 1;
}

WASP_EXPORT(wasp_reset) void wasp_reset(void) {
    held[0] = held[1] = 0.0f;
    count = 0;
}

static float crush(float x) { return floorf(x / step + 0.5f) * step; }

WASP_EXPORT(wasp_process) void wasp_process(int frames) {
    for (int i = 0; i < frames; i++) {
        if (count <= 0 || count > hold) {
            held[0] = crush(wasp_in[0][i]);
            held[1] = crush(wasp_in[1][i]);
            count = hold;
        }
        count--;
        wasp_in[0][i] += mix * (held[0] - wasp_in[0][i]);
        wasp_in[1][i] += mix * (held[1] - wasp_in[1][i]);
    }
}

WASP_EXPORT(dsp) void dsp(float left, float right) {
    wasp_in[0][0] = left;
    wasp_in[1][0] = right;
    wasp_process(1);
    wasp_frame[0] = wasp_in[0][0];
    wasp_frame[1] = wasp_in[1][0];
}
