/* A stereo tremolo as a WCLAP, in C with wasi-libc (the reactor model: the C runtime starts in
 * `_initialize`, which the host calls first). It uses libc's malloc, printf and sinf, so it
 * imports a few WASI functions, which Wasp provides as sealed stubs.
 *
 * Build (Debian: clang, lld, wasi-libc, libclang-rt-14-dev-wasm32):
 *   clang --target=wasm32-wasi -mexec-model=reactor -O2 -Wl,--export=clap_entry \
 *     -Wl,--export=malloc -Wl,--export-table -Wl,--growable-table -o tremolo.wasm tremolo.c
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clap-min.h"

enum { RATE = 1, DEPTH = 2 };

typedef struct {
    clap_plugin_t plugin;
    double sample_rate, rate, depth, phase;
} tremolo_t;

static const char *const features[] = {"audio-effect", "tremolo", NULL};
static const clap_plugin_descriptor_t descriptor = {
    CLAP_VERSION_INIT, "org.wasp.example.c-tremolo", "C Tremolo", "Wasp", "", "", "",
    "0.3.0", "A tremolo written in C", features,
};

static tremolo_t *self(const clap_plugin_t *p) { return (tremolo_t *)p->plugin_data; }

static bool init(const clap_plugin_t *p) {
    (void)p;
    printf("C Tremolo ready\n");
    fflush(stdout);
    return true;
}
static void destroy(const clap_plugin_t *p) { free(self(p)); }
static bool activate(const clap_plugin_t *p, double rate, uint32_t min, uint32_t max) {
    (void)min, (void)max;
    self(p)->sample_rate = rate;
    return true;
}
static void deactivate(const clap_plugin_t *p) { (void)p; }
static bool start(const clap_plugin_t *p) { (void)p; return true; }
static void stop(const clap_plugin_t *p) { (void)p; }
static void reset(const clap_plugin_t *p) { self(p)->phase = 0; }

static void event(tremolo_t *t, const clap_event_header_t *e) {
    if (e->space_id != CLAP_CORE_EVENT_SPACE_ID || e->type != CLAP_EVENT_PARAM_VALUE)
        return;
    const clap_event_param_value_t *v = (const clap_event_param_value_t *)e;
    if (v->param_id == RATE) t->rate = v->value;
    if (v->param_id == DEPTH) t->depth = v->value;
}

static int32_t process(const clap_plugin_t *p, const clap_process_t *process) {
    tremolo_t *t = self(p);
    const clap_input_events_t *in = process->in_events;
    for (uint32_t i = 0; i < in->size(in); i++)
        event(t, in->get(in, i));
    const clap_audio_buffer_t *ib = &process->audio_inputs[0];
    clap_audio_buffer_t *ob = &process->audio_outputs[0];
    for (uint32_t i = 0; i < process->frames_count; i++) {
        float gain = 1.0f - (float)t->depth * 0.5f * (1.0f - sinf((float)(2 * M_PI * t->phase)));
        t->phase += t->rate / t->sample_rate;
        t->phase -= floor(t->phase);
        for (uint32_t c = 0; c < ob->channel_count; c++)
            ob->data32[c][i] = ib->data32[c < ib->channel_count ? c : 0][i] * gain;
    }
    return CLAP_PROCESS_CONTINUE;
}

static uint32_t params_count(const clap_plugin_t *p) { (void)p; return 2; }
static bool params_info(const clap_plugin_t *p, uint32_t index, clap_param_info_t *info) {
    (void)p;
    if (index > 1) return false;
    memset(info, 0, sizeof *info);
    info->id = index == 0 ? RATE : DEPTH;
    info->flags = CLAP_PARAM_IS_AUTOMATABLE;
    strcpy(info->name, index == 0 ? "Rate" : "Depth");
    info->min_value = index == 0 ? 0.1 : 0.0;
    info->max_value = index == 0 ? 20.0 : 1.0;
    info->default_value = index == 0 ? 4.0 : 0.5;
    return true;
}
static bool params_value(const clap_plugin_t *p, clap_id id, double *value) {
    *value = id == RATE ? self(p)->rate : self(p)->depth;
    return id == RATE || id == DEPTH;
}
static void params_flush(const clap_plugin_t *p, const clap_input_events_t *in,
                         const clap_output_events_t *out) {
    (void)out;
    for (uint32_t i = 0; i < in->size(in); i++)
        event(self(p), in->get(in, i));
}
static const clap_plugin_params_t params = {
    params_count, params_info, params_value, NULL, NULL, params_flush,
};

static const void *extension(const clap_plugin_t *p, const char *id) {
    (void)p;
    return strcmp(id, "clap.params") == 0 ? &params : NULL;
}
static void on_main_thread(const clap_plugin_t *p) { (void)p; }

static uint32_t count(const clap_plugin_factory_t *f) { (void)f; return 1; }
static const clap_plugin_descriptor_t *describe(const clap_plugin_factory_t *f, uint32_t i) {
    (void)f;
    return i == 0 ? &descriptor : NULL;
}
static const clap_plugin_t *create(const clap_plugin_factory_t *f, const clap_host_t *host,
                                   const char *id) {
    (void)f, (void)host;
    if (strcmp(id, descriptor.id) != 0) return NULL;
    tremolo_t *t = calloc(1, sizeof *t);
    t->plugin = (clap_plugin_t){&descriptor, t, init, destroy, activate, deactivate, start,
                                stop, reset, process, extension, on_main_thread};
    t->sample_rate = 48000, t->rate = 4, t->depth = 0.5;
    return &t->plugin;
}
static const clap_plugin_factory_t factory = {count, describe, create};

static bool entry_init(const char *path) { (void)path; return true; }
static void entry_deinit(void) {}
static const void *get_factory(const char *id) {
    return strcmp(id, "clap.plugin-factory") == 0 ? &factory : NULL;
}

const clap_plugin_entry_t clap_entry = {CLAP_VERSION_INIT, entry_init, entry_deinit, get_factory};
