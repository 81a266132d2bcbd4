//! Wasp without a DAW: the plugin and its editor in a window of their own, playing through
//! JACK, ALSA (via cpal) or a dummy backend. `wasp-standalone --help` lists the options.

fn main() {
    if !nice_plug::prelude::nice_export_standalone::<wasp::Wasp>() {
        std::process::exit(1);
    }
}
