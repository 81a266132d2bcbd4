//! The nice-plug `Plugin` implementation: a thin adapter from host callbacks to the engine.

use std::num::NonZeroU32;
use std::sync::Arc;

use nice_plug::prelude::*;

use crate::engine::{AudioEngine, Controller, LoadOutcome, Preparer, ProcessConfig, Runtime};
use crate::params::WaspParams;

/// The Wasp plugin instance.
pub struct Wasp {
    params: Arc<WaspParams>,
    /// The audio thread's engine; only touched from `process`, `reset` and `activate`.
    audio: AudioEngine,
    /// Owns the worker thread; dropped (and joined) with the plugin, off the audio thread.
    preparer: Preparer,
}

impl Default for Wasp {
    fn default() -> Self {
        // Creating the runtime configures wasmtime and links the math imports; it fails only
        // on a platform wasmtime cannot generate code for, where Wasp cannot work at all.
        let runtime = Runtime::new().expect("wasmtime supports this platform");
        let (preparer, audio) =
            Preparer::spawn(runtime).expect("the operating system can start a thread");
        let params = Arc::new(WaspParams::new(preparer.controller().clone()));
        Self {
            params,
            audio,
            preparer,
        }
    }
}

impl Wasp {
    /// A handle to the engine's worker, for the editor and tests.
    pub fn controller(&self) -> &Controller {
        self.preparer.controller()
    }
}

impl Plugin for Wasp {
    const NAME: &'static str = "Wasp";
    const VENDOR: &'static str = "Wasp";
    const URL: &'static str = "";
    const EMAIL: &'static str = "";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            ..AudioIOLayout::const_default()
        },
    ];

    type Editor = ();
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn activate(
        &mut self,
        _audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        _context: &mut impl ActivateContext<Self>,
    ) -> bool {
        let config = ProcessConfig {
            sample_rate: buffer_config.sample_rate,
            max_frames: buffer_config.max_buffer_size,
        };
        match self.preparer.controller().configure(config) {
            LoadOutcome::Failed(e) => {
                nice_error!("Preparing the module for {config:?} failed: {e}");
            }
            LoadOutcome::Prepared(_) | LoadOutcome::Superseded => {}
        }
        // Not processing yet, so commit now rather than at the first block.
        self.audio.commit_pending();
        true
    }

    fn reset(&mut self) {
        self.audio.reset();
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        _context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        self.audio.process(buffer.as_slice());
        ProcessStatus::Normal
    }
}

impl ClapPlugin for Wasp {
    const CLAP_ID: &'static str = "dev.wasp-audio.wasp";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Runs sandboxed WebAssembly DSP modules and swaps them live");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Stereo,
        ClapFeature::Mono,
        ClapFeature::Utility,
    ];
}

impl Vst3Plugin for Wasp {
    const VST3_CLASS_ID: [u8; 16] = *b"WaspWasmSandbox1";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Tools];
}
