//! The editor adapter: opens `wasp-gui`'s window for nice-plug and feeds it from the engine.
//!
//! `wasp-gui` knows nothing of wasmtime or nice-plug; this file implements its [`Backend`]
//! with the engine's [`Controller`] and the audio thread's meters, and nice-plug's `Editor`
//! with `wasp_gui::open`.

use std::error::Error;
use std::sync::{Arc, Mutex};

use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::{LogicalSize, NativeSize, Size};
use nice_plug::editor::{
    Editor, EditorHandle, HostMethods, ParentWindowHandle, ResizeHint, SpawnedEditor,
};
use wasp_gui::baseview;
use wasp_gui::{
    Backend, Command, EditorState, FaultView, LibraryEntry, MeterView, ModuleView, OpenOptions,
    ParamView, SwapView, View,
};

use nice_plug::prelude::{FloatParam, ParamSetter};

use crate::engine::{Channels, Controller, ModuleInfo, ParamSpec, Scale, Source, Tier, Tiering};
use crate::host_params::HostBank;
use crate::meters::{MeterShared, SCOPE_VIEW};

/// The engine as the editor sees it.
pub struct EngineBackend {
    controller: Controller,
    meters: Arc<MeterShared>,
    /// The host parameters the module's parameters are bound to: the editor's sliders read
    /// and set these, as a host's own controls do.
    host: Arc<HostBank>,
    /// nice-plug's handle for parameter gestures, once the window is open.
    gui: Mutex<Option<GuiContext>>,
    instrument: bool,
}

impl EngineBackend {
    pub fn new(
        controller: Controller,
        meters: Arc<MeterShared>,
        host: Arc<HostBank>,
        instrument: bool,
    ) -> Self {
        Self {
            controller,
            meters,
            host,
            gui: Mutex::new(None),
            instrument,
        }
    }

    /// The newest module's parameter `index`, with the host parameter it is bound to.
    fn bound(&self, index: usize) -> Option<(ParamSpec, &FloatParam)> {
        let module = self.controller.status().current?;
        let spec = module.metadata.params.get(index)?.clone();
        let slot = *module.slots.get(index)? as usize;
        Some((spec, self.host.param(slot)?))
    }

    /// Runs `f` with a parameter setter, if the window has a host context.
    fn with_setter(&self, f: impl FnOnce(&ParamSetter)) {
        let gui = self.gui.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(context) = gui.as_ref() {
            f(&context.param_setter());
        }
    }
}

impl Backend for EngineBackend {
    fn snapshot(&self, view: &mut View) {
        let status = self.controller.status();
        let shared = self.controller.shared();
        // What the audio thread plays once it has committed the module; until then, what the
        // worker prepared.
        let playing = |m: &ModuleInfo| {
            if shared.committed() == m.generation {
                shared.playing_tier()
            } else {
                m.tier
            }
        };
        view.module = status.current.as_ref().map(|m| ModuleView {
            generation: m.generation,
            name: m.name.clone(),
            author: m.metadata.author.clone(),
            version: m.metadata.version.clone(),
            path: m.path.clone(),
            size: m.size,
            hash: format!("{:016x}", m.hash)[..12].to_string(),
            contract: m.metadata.abi,
            channels: match m.metadata.channels {
                Some(Channels::Mono) => "mono".into(),
                Some(Channels::Stereo) => "stereo".into(),
                None => "as dsp is declared".into(),
            },
            builtin: m.builtin,
            entry: match (&m.entry, &m.entry_note) {
                _ if m.wclap => "a CLAP plugin compiled to WebAssembly (WCLAP), hosted inside \
                                 the sandbox"
                    .to_owned(),
                (Some(entry), Some(note)) => {
                    format!("{}; wasp_process is not used: {note}", entry.label())
                }
                (Some(entry), None) => entry.label().to_owned(),
                (None, _) => String::new(),
            },
            runtime: match (playing(m), m.tier) {
                (Some(Tier::Interpreter), Some(Tier::Jit)) => {
                    format!("{}, compiled code ready", Tier::Interpreter.label())
                }
                (Some(tier), _) => tier.label().to_owned(),
                (None, _) => String::new(),
            },
            log: m.log.clone(),
            plugins: m.plugins.clone(),
            plugin_index: m.plugin_index,
        });
        view.runtimes.clear();
        view.runtimes
            .extend(Tiering::ALL.iter().map(|t| t.label().to_owned()));
        let tiering = self.controller.tiering();
        view.runtime = Tiering::ALL.iter().position(|&t| t == tiering).unwrap_or(0);
        // The values the host parameters hold: what host automation and the host's own
        // controls set, and what the sliders set through the host.
        let values = self.controller.param_values();
        view.params = status.current.as_ref().map_or_else(Vec::new, |m| {
            m.metadata
                .params
                .iter()
                .enumerate()
                .map(|(i, p)| ParamView {
                    id: p.id.clone(),
                    name: p.name.clone(),
                    unit: p.unit.clone(),
                    min: p.min,
                    max: p.max,
                    default: p.default,
                    value: values.get(i).copied().unwrap_or(p.default),
                    logarithmic: p.scale == Scale::Log,
                    choices: p
                        .choices
                        .iter()
                        .map(|c| (c.name.clone(), c.value))
                        .collect(),
                    about: p.about.clone(),
                })
                .collect()
        });
        view.last_swap = match (&status.current, &status.last_swap) {
            (Some(m), Some(report)) => Some(SwapView {
                generation: m.generation,
                prepare_ms: status.last_prepare_ms,
                carried: report.carried.clone(),
                resized: report.resized.clone(),
                reset: report.reset.clone(),
                dropped: report.dropped.clone(),
                crossfade: report.crossfade,
            }),
            _ => None,
        };
        view.instrument = self.instrument;
        (view.held_notes, view.notes_seen) = self.meters.notes();
        view.error = status.last_error.clone();
        view.fault = status.last_fault.clone();
        view.watching = status.watching;
        let faults = self.controller.shared().fault_counters();
        view.faults = FaultView {
            traps: faults.faults as u64,
            timeouts: faults.timeouts,
            rollbacks: faults.rollbacks,
            non_finite: faults.non_finite,
            subnormal: faults.subnormal,
            clipped: faults.clipped,
        };
        let (cpu_average, cpu_peak) = self.meters.take_cpu();
        let (input_peak, output_peak) = self.meters.take_levels();
        view.meters = MeterView {
            cpu_average,
            cpu_peak,
            input_peak,
            output_peak,
            sample_rate: self.meters.sample_rate(),
        };
    }

    fn scope(&self, out: &mut Vec<f32>) {
        self.meters.scope(out, SCOPE_VIEW);
    }

    fn send(&self, command: Command) {
        match command {
            Command::LoadFile(path) => self.controller.load_file(path),
            Command::LoadBuiltin(name) => {
                if let Some(builtin) = crate::library::builtin(&name) {
                    self.controller.load(Source::from_bytes(builtin.bytes));
                }
            }
            Command::Reload => {
                let path = self.controller.status().current.and_then(|m| m.path);
                if let Some(path) = path {
                    self.controller.load_file(path);
                }
            }
            Command::SetWatch(on) => self.controller.set_watch(on),
            Command::PickPlugin(index) => self.controller.pick_wclap_plugin(index),
            Command::SetRuntime(index) => {
                if let Some(&tiering) = Tiering::ALL.get(index) {
                    self.controller.set_tiering(tiering);
                }
            }
            Command::BeginParam { index } => {
                if let Some((_, param)) = self.bound(index) {
                    self.with_setter(|s| s.begin_set_parameter(param));
                }
            }
            Command::SetParam { index, value } => {
                if let Some((spec, param)) = self.bound(index) {
                    let normalized = spec.normalize(value);
                    self.with_setter(|s| s.set_parameter_normalized(param, normalized));
                }
            }
            Command::EndParam { index } => {
                if let Some((_, param)) = self.bound(index) {
                    self.with_setter(|s| s.end_set_parameter(param));
                }
            }
        }
    }

    fn library(&self) -> Vec<LibraryEntry> {
        crate::library::LIBRARY
            .iter()
            .map(|b| LibraryEntry {
                name: b.name.to_owned(),
                about: b.about.to_owned(),
                instrument: b.instrument,
            })
            .collect()
    }

    fn param_text(&self, index: usize, value: f32) -> String {
        match self.controller.status().current {
            Some(m) => m
                .metadata
                .params
                .get(index)
                .map_or_else(String::new, |p| p.format(value)),
            None => String::new(),
        }
    }

    fn param_parse(&self, index: usize, text: &str) -> Option<f32> {
        let m = self.controller.status().current?;
        m.metadata.params.get(index)?.parse(text)
    }
}

/// nice-plug's view of the editor.
pub struct WaspEditor {
    state: Arc<EditorState>,
    backend: Arc<EngineBackend>,
    title: &'static str,
}

impl WaspEditor {
    pub fn new(state: Arc<EditorState>, backend: Arc<EngineBackend>, title: &'static str) -> Self {
        Self {
            state,
            backend,
            title,
        }
    }
}

/// Freely resizable down to the size the layout needs.
fn resize_hint() -> ResizeHint {
    ResizeHint::RESIZABLE.with_min_logical_size(LogicalSize::new(
        wasp_gui::MIN_SIZE.0 as f32,
        wasp_gui::MIN_SIZE.1 as f32,
    ))
}

/// Adapts nice-plug's host callbacks to baseview's.
struct HostCallbacks(Box<dyn nice_plug::editor::HostCallbacks>);

impl baseview::host::HostCallbacks for HostCallbacks {
    fn request_resize(
        &mut self,
        new_size: baseview::WindowSize,
    ) -> Result<(), baseview::HandlerError> {
        self.0
            .request_resize(new_size.physical.into(), new_size.scale_factor)
            .map_err(baseview::HandlerError::from_boxed)
    }

    fn destroyed(&mut self) {
        self.0.destroyed();
    }
}

struct MainThreadCaller(Box<dyn nice_plug::editor::HostMainThreadCaller>);

impl baseview::host::HostMainThreadCaller for MainThreadCaller {
    fn call_main_thread(&mut self) {
        self.0.call_main_thread();
    }
}

impl Editor for WaspEditor {
    type Handle = WaspEditorHandle;

    fn spawn(
        &self,
        parent: Option<ParentWindowHandle>,
        wait_for_parent: bool,
        fallback_scale_factor: Option<f64>,
        gui_context: GuiContext,
        host: Option<HostMethods>,
    ) -> Result<SpawnedEditor<Self::Handle>, Box<dyn Error>> {
        let host = host.map(|host| {
            baseview::host::Host::new()
                .with_callbacks(HostCallbacks(host.callbacks))
                .with_main_thread(MainThreadCaller(host.main_thread_caller))
        });
        *self.backend.gui.lock().unwrap_or_else(|e| e.into_inner()) = Some(gui_context);
        let options = OpenOptions {
            title: self.title.into(),
            parent: parent
                .as_ref()
                .map(baseview::ParentWindowHandle::from_window),
            wait_for_parent,
            fallback_scale_factor,
            host,
        };
        let backend: Arc<dyn Backend> = self.backend.clone();
        let window = wasp_gui::open(self.state.clone(), backend, options)?;
        Ok(SpawnedEditor {
            handle: WaspEditorHandle,
            window,
        })
    }

    fn size(&self) -> NativeSize<u32> {
        let (width, height) = self.state.size();
        NativeSize::from_size(
            Size::Logical(LogicalSize::new(width as f64, height as f64)),
            self.state.scale_factor(),
        )
    }

    fn resize_hint(&self) -> ResizeHint {
        resize_hint()
    }

    unsafe fn assume_standalone_in_process(&self) {
        // SAFETY: nice-plug calls this only from its standalone runner, which hosts nothing
        // else; that is baseview's own precondition.
        unsafe { baseview::assume_standalone_in_process() }
    }
}

/// The open editor, as nice-plug holds it; the window itself is the `baseview::Window`.
pub struct WaspEditorHandle;

impl EditorHandle for WaspEditorHandle {
    type Window = baseview::Window;
    type Error = baseview::Error;

    fn run_until_closed(window: Self::Window) -> Result<(), Self::Error> {
        window.run_until_closed()
    }

    fn set_parent(
        &self,
        parent: ParentWindowHandle,
        window: &Self::Window,
    ) -> Result<(), Self::Error> {
        window.set_parent(&parent)
    }

    fn show(&self, window: &Self::Window) -> Result<(), Self::Error> {
        window.show()?;
        // Draw right away; baseview does not always send an event after showing.
        window.request_poll()
    }

    fn hide(&self, window: &Self::Window) -> Result<(), Self::Error> {
        window.hide()
    }

    fn set_size(
        &self,
        new_size: NativeSize<u32>,
        window: &Self::Window,
    ) -> Result<(), Self::Error> {
        window.resize(new_size)
    }

    fn host_main_thread_callback(&self, window: &Self::Window) {
        window.host_main_thread_callback();
    }

    fn adjust_size(
        &self,
        new_size: NativeSize<u32>,
        window: &Self::Window,
    ) -> Option<NativeSize<u32>> {
        let current = window.size();
        Some(resize_hint().adjust_size(
            new_size,
            NativeSize::from_logical_or_physical(current.logical, current.physical),
            current.scale_factor,
        ))
    }

    fn set_fallback_scale_factor(
        &self,
        scale_factor: f64,
        window: &Self::Window,
    ) -> Result<(), Self::Error> {
        window.suggest_fallback_scale_factor(scale_factor)
    }

    fn param_value_changed(&self, _id: &str, _normalized_value: f32) {}

    fn param_modulation_changed(&self, _id: &str, _modulation_offset: f32) {}
}
