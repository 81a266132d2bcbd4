/* The part of the CLAP C API this example uses, declared for wasm32 (pointers are 32 bits).
 * Written for Wasp's example from the CLAP specification (https://github.com/free-audio/clap);
 * a real plugin includes the official headers instead. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

typedef uint32_t clap_id;
typedef struct { uint32_t major, minor, revision; } clap_version_t;
#define CLAP_VERSION_INIT { 1, 2, 0 }

typedef struct clap_host {
    clap_version_t clap_version;
    void *host_data;
    const char *name, *vendor, *url, *version;
    const void *(*get_extension)(const struct clap_host *host, const char *extension_id);
    void (*request_restart)(const struct clap_host *host);
    void (*request_process)(const struct clap_host *host);
    void (*request_callback)(const struct clap_host *host);
} clap_host_t;

typedef struct {
    clap_version_t clap_version;
    const char *id, *name, *vendor, *url, *manual_url, *support_url, *version, *description;
    const char *const *features;
} clap_plugin_descriptor_t;

typedef struct {
    uint32_t size, time;
    uint16_t space_id, type;
    uint32_t flags;
} clap_event_header_t;

#define CLAP_CORE_EVENT_SPACE_ID 0
#define CLAP_EVENT_PARAM_VALUE 5

typedef struct {
    clap_event_header_t header;
    clap_id param_id;
    void *cookie;
    int32_t note_id;
    int16_t port_index, channel, key;
    double value;
} clap_event_param_value_t;

typedef struct clap_input_events {
    void *ctx;
    uint32_t (*size)(const struct clap_input_events *list);
    const clap_event_header_t *(*get)(const struct clap_input_events *list, uint32_t index);
} clap_input_events_t;

typedef struct clap_output_events {
    void *ctx;
    bool (*try_push)(const struct clap_output_events *list, const clap_event_header_t *event);
} clap_output_events_t;

typedef struct {
    float **data32;
    double **data64;
    uint32_t channel_count, latency;
    uint64_t constant_mask;
} clap_audio_buffer_t;

typedef struct {
    int64_t steady_time;
    uint32_t frames_count;
    const void *transport;
    const clap_audio_buffer_t *audio_inputs;
    clap_audio_buffer_t *audio_outputs;
    uint32_t audio_inputs_count, audio_outputs_count;
    const clap_input_events_t *in_events;
    const clap_output_events_t *out_events;
} clap_process_t;

#define CLAP_PROCESS_CONTINUE 1

typedef struct clap_plugin {
    const clap_plugin_descriptor_t *desc;
    void *plugin_data;
    bool (*init)(const struct clap_plugin *plugin);
    void (*destroy)(const struct clap_plugin *plugin);
    bool (*activate)(const struct clap_plugin *plugin, double sample_rate, uint32_t min_frames,
                     uint32_t max_frames);
    void (*deactivate)(const struct clap_plugin *plugin);
    bool (*start_processing)(const struct clap_plugin *plugin);
    void (*stop_processing)(const struct clap_plugin *plugin);
    void (*reset)(const struct clap_plugin *plugin);
    int32_t (*process)(const struct clap_plugin *plugin, const clap_process_t *process);
    const void *(*get_extension)(const struct clap_plugin *plugin, const char *id);
    void (*on_main_thread)(const struct clap_plugin *plugin);
} clap_plugin_t;

typedef struct clap_plugin_factory {
    uint32_t (*get_plugin_count)(const struct clap_plugin_factory *factory);
    const clap_plugin_descriptor_t *(*get_plugin_descriptor)(
        const struct clap_plugin_factory *factory, uint32_t index);
    const clap_plugin_t *(*create_plugin)(const struct clap_plugin_factory *factory,
                                          const clap_host_t *host, const char *plugin_id);
} clap_plugin_factory_t;

typedef struct {
    clap_version_t clap_version;
    bool (*init)(const char *plugin_path);
    void (*deinit)(void);
    const void *(*get_factory)(const char *factory_id);
} clap_plugin_entry_t;

#define CLAP_PARAM_IS_AUTOMATABLE (1 << 5)

typedef struct {
    clap_id id;
    uint32_t flags;
    void *cookie;
    char name[256];
    char module[1024];
    double min_value, max_value, default_value;
} clap_param_info_t;

typedef struct {
    uint32_t (*count)(const clap_plugin_t *plugin);
    bool (*get_info)(const clap_plugin_t *plugin, uint32_t index, clap_param_info_t *info);
    bool (*get_value)(const clap_plugin_t *plugin, clap_id id, double *value);
    bool (*value_to_text)(const clap_plugin_t *plugin, clap_id id, double value, char *out,
                          uint32_t capacity);
    bool (*text_to_value)(const clap_plugin_t *plugin, clap_id id, const char *text,
                          double *value);
    void (*flush)(const clap_plugin_t *plugin, const clap_input_events_t *in,
                  const clap_output_events_t *out);
} clap_plugin_params_t;

/* Layouts on wasm32, as hosts read them. */
_Static_assert(sizeof(clap_event_param_value_t) == 48, "param value event");
_Static_assert(sizeof(clap_process_t) == 40, "process");
_Static_assert(sizeof(clap_audio_buffer_t) == 24, "audio buffer");
_Static_assert(sizeof(clap_param_info_t) == 1320, "param info");
_Static_assert(sizeof(clap_host_t) == 48, "host");
_Static_assert(sizeof(clap_plugin_t) == 48, "plugin");
