//! The nice-plug `Plugin` implementation: a thin adapter from host callbacks to the engine.

use std::num::NonZeroU32;
use std::sync::Arc;

use nice_plug::prelude::*;

use crate::editor::{EngineBackend, WaspEditor};
use crate::engine::{
    AudioEngine, Controller, FaultOutput, LoadOutcome, Preparer, ProcessConfig, Runtime,
};
use crate::meters::{MeterAudio, MeterShared};
use crate::params::{OnCrash, WaspParams};

/// Wraps every call into module code on the audio thread. wasmtime allocates (and frees) an
/// error when a module traps or is interrupted, which would otherwise trip nice-plug's
/// allocation checker in test builds. Everything else in `process` stays checked, and the
/// engine's own tests check the module calls too, for modules that do not crash.
fn permit_trap_allocations(call: &mut dyn FnMut()) {
    nice_plug::util::permit_alloc(call)
}

/// The Wasp plugin instance.
pub struct Wasp {
    params: Arc<WaspParams>,
    /// The audio thread's engine; only touched from `process`, `reset` and `activate`.
    audio: AudioEngine,
    /// Owns the worker thread; dropped (and joined) with the plugin, off the audio thread.
    preparer: Preparer,
    /// Levels, load and scope for the editor, written by the audio thread.
    meters: Arc<MeterShared>,
    meter_audio: MeterAudio,
    sample_rate: f32,
    /// Set if the engine ever panicked: Wasp then outputs silence until it is removed.
    broken: bool,
    /// Test builds only: allocate in every `process` call, to prove the checker is armed.
    #[cfg(feature = "assert_process_allocs")]
    alloc_probe: bool,
}

impl Default for Wasp {
    fn default() -> Self {
        // Creating the runtime configures wasmtime and links the math imports; it fails only
        // on a platform wasmtime cannot generate code for, where Wasp cannot work at all.
        let runtime = Runtime::new().expect("wasmtime supports this platform");
        let (preparer, mut audio) =
            Preparer::spawn(runtime).expect("the operating system can start a thread");
        audio.set_call_guard(permit_trap_allocations);
        let params = Arc::new(WaspParams::new(preparer.controller().clone()));
        Self {
            params,
            audio,
            preparer,
            meters: Arc::new(MeterShared::default()),
            meter_audio: MeterAudio::default(),
            sample_rate: 48_000.0,
            broken: false,
            #[cfg(feature = "assert_process_allocs")]
            alloc_probe: std::env::var_os("WASP_ALLOC_PROBE").is_some(),
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

    type Editor = WaspEditor;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        let backend = EngineBackend::new(self.controller().clone(), self.meters.clone());
        Some(WaspEditor::new(
            self.params.editor.0.clone(),
            Arc::new(backend),
        ))
    }

    fn activate(
        &mut self,
        _audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        _context: &mut impl ActivateContext<Self>,
    ) -> bool {
        self.sample_rate = buffer_config.sample_rate;
        let config = ProcessConfig {
            sample_rate: buffer_config.sample_rate,
            max_frames: buffer_config.max_buffer_size,
        };
        // An offline render may run slower than real time: give modules time, not deadlines.
        self.audio
            .set_offline(buffer_config.process_mode == ProcessMode::Offline);
        // Not processing: the instance kept for a rollback can go now, so its memory is free
        // for the instance the new settings need.
        self.audio.release_previous();
        match self.preparer.controller().configure(config) {
            LoadOutcome::Failed(e) => {
                nice_error!("Preparing the module for {config:?} failed: {e}");
            }
            LoadOutcome::Prepared(_) | LoadOutcome::Superseded | LoadOutcome::Deferred => {}
        }
        // Not processing yet, so commit now rather than at the first block.
        self.audio.commit_pending();
        true
    }

    fn reset(&mut self) {
        // nice-plug calls this on the audio thread before processing starts (CLAP's
        // `start_processing`, VST3's `setProcessing`) and on transport resets: set up wasmtime's
        // per-thread state here rather than in the first `process` call.
        AudioEngine::prepare_thread();
        self.audio.reset();
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        _context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        #[cfg(feature = "assert_process_allocs")]
        if self.alloc_probe {
            std::hint::black_box(Vec::<u8>::with_capacity(64));
        }
        self.audio
            .set_fault_output(match self.params.on_crash.value() {
                OnCrash::Silence => FaultOutput::Silence,
                OnCrash::Dry => FaultOutput::Dry,
            });
        // The meters only matter while someone looks at them.
        if !self.params.editor.0.is_open() {
            self.process_guarded(buffer);
            return ProcessStatus::Normal;
        }
        self.meters.publish_input(buffer.as_slice());
        // `Instant::now` reads the monotonic clock (a vDSO call on Linux): no allocation, no lock.
        let started = std::time::Instant::now();
        self.process_guarded(buffer);
        let busy = started.elapsed().as_secs_f32();
        self.meters.publish_output(
            &mut self.meter_audio,
            buffer.as_slice(),
            busy,
            self.sample_rate,
        );
        ProcessStatus::Normal
    }
}

impl Wasp {
    /// Runs the engine over the buffer. The engine is written not to panic; should a bug make
    /// it panic all the same, the panic stops here instead of unwinding into the host (which
    /// would abort it), and Wasp stays silent from then on.
    fn process_guarded(&mut self, buffer: &mut Buffer) {
        if self.broken {
            silence(buffer);
            return;
        }
        let audio = &mut self.audio;
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            audio.process(buffer.as_slice());
        }));
        if caught.is_err() {
            self.broken = true;
            silence(buffer);
        }
    }
}

fn silence(buffer: &mut Buffer) {
    for channel in buffer.as_slice() {
        channel.fill(0.0);
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
