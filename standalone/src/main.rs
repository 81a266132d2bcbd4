//! Wasp without a DAW: the plugin and its editor in a window of their own, playing through
//! JACK, ALSA (via cpal) or a dummy backend. `wasp-standalone --help` lists the options.

/// What to try when the app cannot start, after nice-plug's own message (the reason) above it.
const HINT: &str = "\
wasp-standalone could not start; the reason is in the line above. To get sound:
  --backend jack    needs a running JACK server: start one with `jackd -d alsa` or QjackCtl
  --backend alsa    needs a free sound card; `--output-device NAME` picks one (see --help)
  --backend auto    tries JACK, then ALSA, then runs without sound
  --backend dummy   runs without sound, to try modules in the editor";

fn main() {
    if !nice_plug::prelude::nice_export_standalone::<wasp::Wasp>() {
        eprintln!("{HINT}");
        std::process::exit(1);
    }
}
