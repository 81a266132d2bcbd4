//! The nice-plug `Plugin` implementations, Wasp (an effect) and Wasp Instrument: thin adapters
//! from host callbacks to the engine. They differ only in their [`Flavor`]: ids, audio ports,
//! categories and the module that plays when nothing else is loaded.

use std::marker::PhantomData;
use std::num::NonZeroU32;
use std::sync::Arc;

use nice_plug::midi::Channel;
use nice_plug::prelude::*;

use crate::editor::{EngineBackend, WaspEditor};
use crate::engine::{
    read_metadata, transport_valid, AudioEngine, Busy, Controller, FaultOutput, LoadOutcome,
    ModuleEvent, Preparer, ProcessConfig, Runtime, Tail, Transport, MAX_PARAMS,
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

/// What makes Wasp an effect or an instrument.
pub trait Flavor: 'static + Send + Sync {
    const NAME: &'static str;
    const CLAP_ID: &'static str;
    const CLAP_DESCRIPTION: &'static str;
    const CLAP_FEATURES: &'static [ClapFeature];
    const VST3_CLASS_ID: [u8; 16];
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory];
    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout];
    /// The module that plays when nothing else is loaded (WAT).
    const DEFAULT_MODULE: &'static str;
    /// No audio input: the output starts from silence.
    const INSTRUMENT: bool;
}

/// Wasp, the effect: audio in, audio out, notes in for note-driven modules.
pub struct Effect;

impl Flavor for Effect {
    const NAME: &'static str = "Wasp";
    const CLAP_ID: &'static str = "dev.wasp-audio.wasp";
    const CLAP_DESCRIPTION: &'static str =
        "Runs sandboxed WebAssembly DSP modules and swaps them live";
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Stereo,
        ClapFeature::Mono,
        ClapFeature::Utility,
    ];
    const VST3_CLASS_ID: [u8; 16] = *b"WaspWasmSandbox1";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Tools];
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
    const DEFAULT_MODULE: &'static str = crate::engine::DEFAULT_MODULE;
    const INSTRUMENT: bool = false;
}

/// Wasp Instrument: notes in, stereo out; it plays a synthesizer until another module is
/// loaded.
pub struct Instrument;

/// Wasp Instrument's built-in module.
pub const INSTRUMENT_MODULE: &str = include_str!("../examples/modules/synth.wat");

impl Flavor for Instrument {
    const NAME: &'static str = "Wasp Instrument";
    const CLAP_ID: &'static str = "dev.wasp-audio.wasp-instrument";
    const CLAP_DESCRIPTION: &'static str =
        "Plays sandboxed WebAssembly instruments and swaps them live";
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::Instrument,
        ClapFeature::Synthesizer,
        ClapFeature::Stereo,
    ];
    const VST3_CLASS_ID: [u8; 16] = *b"WaspWasmInstrmt1";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Instrument, Vst3SubCategory::Synth];
    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[AudioIOLayout {
        main_input_channels: None,
        main_output_channels: NonZeroU32::new(2),
        ..AudioIOLayout::const_default()
    }];
    const DEFAULT_MODULE: &'static str = INSTRUMENT_MODULE;
    const INSTRUMENT: bool = true;
}

/// A Wasp plugin instance.
pub struct WaspPlugin<F: Flavor> {
    params: Arc<WaspParams>,
    /// The audio thread's engine; only touched from `process`, `reset` and `activate`.
    audio: AudioEngine,
    /// Owns the worker thread; dropped (and joined) with the plugin, off the audio thread.
    preparer: Preparer,
    /// Levels, load, scope and held notes for the editor, written by the audio thread.
    meters: Arc<MeterShared>,
    meter_audio: MeterAudio,
    sample_rate: f32,
    /// The host parameter values last passed to the module, by slot.
    host_seen: [f32; MAX_PARAMS],
    /// The generation whose bindings the host parameters follow.
    host_generation: Option<u64>,
    /// The host has not been told of the parameters of a module committed in `activate` yet.
    rescan_pending: bool,
    /// The process's shared runtime, and the guard that keeps its epoch ticking from
    /// activation to deactivation (it sleeps while no instance is active).
    runtime: Runtime,
    busy: Option<Busy>,
    /// Set if the engine ever panicked: Wasp then outputs silence until it is removed.
    broken: bool,
    /// Test builds only: allocate in every `process` call, to prove the checker is armed.
    #[cfg(feature = "assert_process_allocs")]
    alloc_probe: bool,
    flavor: PhantomData<F>,
}

/// Wasp, the effect.
pub type Wasp = WaspPlugin<Effect>;
/// Wasp Instrument.
pub type WaspInstrument = WaspPlugin<Instrument>;

impl<F: Flavor> Default for WaspPlugin<F> {
    fn default() -> Self {
        // Every instance in the process shares one runtime (engine, epoch ticker, compiled
        // modules). Creating it configures wasmtime and links the math imports; it fails only
        // on a platform wasmtime cannot generate code for, where Wasp cannot work at all.
        let runtime = Runtime::shared().expect("wasmtime supports this platform");
        let (preparer, mut audio) =
            Preparer::spawn_with_default(runtime.clone(), F::DEFAULT_MODULE)
                .expect("the operating system can start a thread");
        audio.set_call_guard(permit_trap_allocations);
        let params = Arc::new(WaspParams::new(preparer.controller().clone()));
        // Hosts list parameters before they activate the plugin: show the built-in module's.
        if let Ok(metadata) = read_metadata(F::DEFAULT_MODULE.as_bytes()) {
            let module = preparer.controller().preview(metadata, true);
            params.host.show_defaults(&module);
        }
        Self {
            params,
            audio,
            preparer,
            meters: Arc::new(MeterShared::default()),
            meter_audio: MeterAudio::default(),
            sample_rate: 48_000.0,
            host_seen: [f32::NAN; MAX_PARAMS],
            host_generation: None,
            rescan_pending: false,
            runtime,
            busy: None,
            broken: false,
            #[cfg(feature = "assert_process_allocs")]
            alloc_probe: std::env::var_os("WASP_ALLOC_PROBE").is_some(),
            flavor: PhantomData,
        }
    }
}

impl<F: Flavor> WaspPlugin<F> {
    /// A handle to the engine's worker, for the editor and tests.
    pub fn controller(&self) -> &Controller {
        self.preparer.controller()
    }
}

impl<F: Flavor> Plugin for WaspPlugin<F> {
    const NAME: &'static str = F::NAME;
    const VENDOR: &'static str = "Wasp";
    const URL: &'static str = "";
    const EMAIL: &'static str = "";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = F::AUDIO_IO_LAYOUTS;
    const MIDI_INPUT: MidiConfig = MidiConfig::MidiCCs;
    const SAMPLE_ACCURATE_AUTOMATION: bool = true;

    type Editor = WaspEditor;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        let backend = EngineBackend::new(
            self.controller().clone(),
            self.meters.clone(),
            self.params.host.clone(),
            F::INSTRUMENT,
        );
        Some(WaspEditor::new(
            self.params.editor.0.clone(),
            Arc::new(backend),
            F::NAME,
        ))
    }

    fn activate(
        &mut self,
        _audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        // Module calls run under deadlines from here until deactivation.
        self.busy = self.runtime.busy(false);
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
        // The host parameters show the module's values from now on; the host is told about
        // their names at the first block.
        self.rescan_pending |= self.sync_host_params();
        // The host compensates the module's latency from the start.
        context.set_latency_samples(self.audio.metadata().map_or(0, |m| m.latency));
        true
    }

    fn deactivate(&mut self) {
        // No more module calls until the next activation: the shared ticker may sleep.
        self.busy = None;
    }

    fn reset(&mut self) {
        // nice-plug calls this on the audio thread before processing starts (CLAP's
        // `start_processing`, VST3's `setProcessing`) and on transport resets: set up wasmtime's
        // per-thread state here rather than in the first `process` call.
        AudioEngine::prepare_thread();
        self.audio.reset();
        self.meters.release_all();
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        #[cfg(feature = "assert_process_allocs")]
        if self.alloc_probe {
            std::hint::black_box(Vec::<u8>::with_capacity(64));
        }
        if F::INSTRUMENT {
            // No input: the module starts from silence, whatever the host left in the buffer.
            silence(buffer);
        }
        self.audio
            .set_fault_output(match self.params.on_crash.value() {
                OnCrash::Silence => FaultOutput::Silence,
                OnCrash::Dry => FaultOutput::Dry,
            });
        // The meters only matter while someone looks at them.
        let metering = self.params.editor.0.is_open();
        if metering {
            self.meters.publish_input(buffer.as_slice());
        }
        // `Instant::now` reads the monotonic clock (a vDSO call on Linux): no allocation, no lock.
        let started = std::time::Instant::now();
        self.process_events(buffer, context);
        self.follow_commits(context);
        if metering {
            let busy = started.elapsed().as_secs_f32();
            self.meters.publish_output(
                &mut self.meter_audio,
                buffer.as_slice(),
                busy,
                self.sample_rate,
            );
        }
        match self.audio.metadata().map(|m| m.tail) {
            Some(Tail::Seconds(s)) if s > 0.0 => ProcessStatus::Tail(
                Tail::Seconds(s)
                    .samples(self.sample_rate)
                    .unwrap_or(u32::MAX),
            ),
            Some(Tail::Endless(_)) => ProcessStatus::KeepAlive,
            _ => ProcessStatus::Normal,
        }
    }
}

impl<F: Flavor> WaspPlugin<F> {
    /// Runs the block: host parameter changes first (nice-plug splits blocks at parameter
    /// events, so this block starts where they fall), then the module up to each note event,
    /// the event, and on to the next.
    fn process_events(&mut self, buffer: &mut Buffer, context: &mut impl ProcessContext<Self>) {
        // A module taking over now brings its parameter values into the host parameters
        // first, so values restored from a project are not overwritten by what the host
        // parameters held before.
        if !self.broken {
            self.audio.commit_block();
        }
        self.follow_commits(context);
        self.pass_host_params();
        let transport = transport(context.transport());
        let frames = buffer.samples();
        let channels = buffer.as_slice();
        let mut at = 0;
        while let Some(event) = context.next_event() {
            let timing = (event.timing() as usize).min(frames);
            if timing > at {
                self.run(channels, at, timing, &transport);
                at = timing;
            }
            if let Some(event) = module_event(&event) {
                match event {
                    ModuleEvent::NoteOn { key, .. } => self.meters.note(key, true),
                    ModuleEvent::NoteOff { key, .. } => self.meters.note(key, false),
                    ModuleEvent::Midi { .. } => {}
                }
                if !self.broken {
                    self.audio.send_event(event);
                }
            }
        }
        if at < frames || frames == 0 {
            self.run(channels, at, frames, &transport);
        }
    }

    /// Passes host parameter values that changed since the last block to the module.
    fn pass_host_params(&mut self) {
        if self.broken {
            return;
        }
        for slot in 0..MAX_PARAMS {
            let value = self.params.host.value(slot);
            if value != self.host_seen[slot] {
                self.host_seen[slot] = value;
                self.audio.set_host_param(slot, value);
            }
        }
    }

    /// After a module took over (a swap, a restore, a rollback): its parameters' values go into
    /// the host parameters they are bound to, the host rescans names and values, and learns
    /// the module's latency.
    fn follow_commits(&mut self, context: &mut impl ProcessContext<Self>) {
        if self.sync_host_params() || std::mem::take(&mut self.rescan_pending) {
            context.rescan_param_info();
            context.set_latency_samples(self.audio.metadata().map_or(0, |m| m.latency));
        }
    }

    /// If a module took over since the last call, brings the host parameters and the module
    /// into agreement (see `HostBank::sync`) and returns true. Realtime-safe.
    fn sync_host_params(&mut self) -> bool {
        let generation = self.audio.generation();
        if generation == self.host_generation || generation.is_none() {
            return false;
        }
        self.host_generation = generation;
        let mut bound = [(0usize, 0.0f32); MAX_PARAMS];
        let mut count = 0;
        self.audio.bound_values(|slot, normalized| {
            if let Some(entry) = bound.get_mut(count) {
                *entry = (slot, normalized);
                count += 1;
            }
        });
        let audio = &mut self.audio;
        self.params.host.sync(
            bound[..count].iter().copied(),
            |slot, value| audio.set_host_param(slot, value),
            &mut self.host_seen,
        );
        true
    }

    /// Runs the engine over frames `start..end` of the buffer. The engine is written not to
    /// panic; should a bug make it panic all the same, the panic stops here instead of
    /// unwinding into the host (which would abort it), and Wasp stays silent from then on.
    fn run(
        &mut self,
        channels: &mut [&mut [f32]],
        start: usize,
        end: usize,
        transport: &Transport,
    ) {
        let (mut pieces, count) = crate::engine::piece(channels, start, end);
        let pieces = &mut pieces[..count];
        if self.broken {
            for piece in pieces.iter_mut() {
                piece.fill(0.0);
            }
            return;
        }
        let audio = &mut self.audio;
        let here = transport.advanced(start, self.sample_rate);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            audio.set_transport(&here);
            audio.process(pieces);
        }));
        if caught.is_err() {
            self.broken = true;
            for piece in pieces.iter_mut() {
                piece.fill(0.0);
            }
        }
    }
}

/// The host's transport as modules read it.
fn transport(host: &nice_plug::prelude::Transport) -> Transport {
    let mut t = Transport {
        playing: host.playing,
        ..Transport::default()
    };
    if let Some(tempo) = host.tempo.filter(|t| t.is_finite() && *t > 0.0) {
        t.tempo = tempo;
        t.valid |= transport_valid::TEMPO;
    }
    if let Some(beats) = host.pos_beats() {
        t.beats = beats;
        t.valid |= transport_valid::BEATS;
    }
    if let Some(seconds) = host.pos_seconds() {
        t.seconds = seconds;
        t.valid |= transport_valid::SECONDS;
    }
    if let (Some(n), Some(d)) = (host.time_sig_numerator, host.time_sig_denominator) {
        t.numerator = n;
        t.denominator = d;
        t.valid |= transport_valid::TIME_SIGNATURE;
    }
    if let Some(bar) = host.bar_start_pos_beats() {
        t.bar_start = bar;
        t.valid |= transport_valid::BAR_START;
    }
    t
}

/// MIDI byte from a 0-1 value.
fn seven_bits(value: f32) -> u8 {
    (value.clamp(0.0, 1.0) * 127.0).round() as u8
}

/// The note or MIDI message a module hears for a host event; `None` for events modules do not
/// take (voice terminations, polyphonic expressions).
fn module_event<S>(event: &NoteEvent<S>) -> Option<ModuleEvent> {
    let channel = |c: u8| c & 0x0f;
    let number = |c: Channel| c.number().unwrap_or(0) & 0x0f;
    // A note-off for every key (CLAP's wildcard) is MIDI's "all notes off".
    let all_off = |c: Channel| ModuleEvent::Midi {
        status: 0xB0 | number(c),
        data1: 123,
        data2: 0,
    };
    Some(match *event {
        NoteEvent::NoteOn { key, velocity, .. } => ModuleEvent::NoteOn {
            key: key.number()?.min(127),
            velocity: velocity.clamp(0.0, 1.0),
        },
        NoteEvent::NoteOff {
            key,
            velocity,
            channel: c,
            ..
        } => match key.number() {
            Some(key) => ModuleEvent::NoteOff {
                key: key.min(127),
                velocity: velocity.clamp(0.0, 1.0),
            },
            None => all_off(c),
        },
        NoteEvent::Choke {
            key, channel: c, ..
        } => match key.number() {
            Some(key) => ModuleEvent::NoteOff {
                key: key.min(127),
                velocity: 0.0,
            },
            None => all_off(c),
        },
        NoteEvent::PolyPressure {
            channel: c,
            key,
            pressure,
            ..
        } => ModuleEvent::Midi {
            status: 0xA0 | number(c),
            data1: key.number()?.min(127),
            data2: seven_bits(pressure),
        },
        NoteEvent::MidiChannelPressure {
            channel: c,
            pressure,
            ..
        } => ModuleEvent::Midi {
            status: 0xD0 | channel(c),
            data1: seven_bits(pressure),
            data2: 0,
        },
        NoteEvent::MidiPitchBend {
            channel: c, value, ..
        } => {
            let bend = (value.clamp(0.0, 1.0) * 16383.0).round() as u16;
            ModuleEvent::Midi {
                status: 0xE0 | channel(c),
                data1: (bend & 0x7f) as u8,
                data2: (bend >> 7) as u8,
            }
        }
        NoteEvent::MidiCC {
            channel: c,
            cc,
            value,
            ..
        } => ModuleEvent::Midi {
            status: 0xB0 | channel(c),
            data1: cc.min(127),
            data2: seven_bits(value),
        },
        NoteEvent::MidiProgramChange {
            channel: c,
            program,
            ..
        } => ModuleEvent::Midi {
            status: 0xC0 | channel(c),
            data1: program.min(127),
            data2: 0,
        },
        _ => return None,
    })
}

fn silence(buffer: &mut Buffer) {
    for channel in buffer.as_slice() {
        channel.fill(0.0);
    }
}

impl<F: Flavor> ClapPlugin for WaspPlugin<F> {
    const CLAP_ID: &'static str = F::CLAP_ID;
    const CLAP_DESCRIPTION: Option<&'static str> = Some(F::CLAP_DESCRIPTION);
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = F::CLAP_FEATURES;
}

impl<F: Flavor> Vst3Plugin for WaspPlugin<F> {
    const VST3_CLASS_ID: [u8; 16] = F::VST3_CLASS_ID;
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] = F::VST3_SUBCATEGORIES;
}
