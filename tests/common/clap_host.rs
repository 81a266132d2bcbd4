//! A small in-process CLAP host for integration tests, built on `clack-host` 0.2.
//!
//! It loads a CLAP bundle (on Linux, a `.clap` bundle is just the shared library, so the
//! `libwasp.so` that Cargo builds for the `cdylib` crate type works too), instantiates one plugin
//! from it, and then lets a test:
//!
//! * activate the plugin and start processing ([`TestHost::activate`]),
//! * run stereo blocks through it ([`TestHost::process_stereo`]),
//! * save and restore its state through the CLAP `state` extension
//!   ([`TestHost::save_state`] / [`TestHost::load_state`]),
//! * run the `on_main_thread` callback the plugin asked for through `request_callback()`
//!   ([`TestHost::call_on_main_thread_callback`], [`TestHost::wait_for_main_thread_callback`]),
//! * open, resize and close the plugin's editor embedded in an X11 window, as a Linux DAW does
//!   ([`TestHost::open_editor`], [`TestHost::set_editor_size`], [`TestHost::close_editor`]), and
//!   check what the editor asked of the host ([`TestHost::take_editor_events`]).
//!
//! Everything runs on the thread that created the [`TestHost`]. That thread plays the CLAP "main
//! thread" and, for the duration of each audio-thread call (`start_processing`, `process`,
//! `stop_processing`), the "audio thread" as well. The host implements the CLAP `thread-check`
//! extension to report this. Without it, nice-plug decides what the main thread is by comparing
//! thread IDs. It would then treat `process()` as if it ran on the main thread and run GUI tasks
//! inline inside `process()` instead of queuing them and calling `request_callback()`.
//!
//! The host also implements the host side of the CLAP `gui` extension. nice-plug (built with its
//! `editor` feature) unwraps it when the host calls `gui.create`, so without it opening the editor
//! panics. On X11, baseview runs the editor's window on a thread of its own. `set_parent`, `show`,
//! `hide`, `set_size` and `destroy` block on round trips to that thread. The editor's own resizes
//! and its `closed()` notice reach the host only through `request_callback()` and
//! `on_main_thread`, so tests that expect them pump
//! [`TestHost::wait_for_main_thread_callback`].
//!
//! Required `[dev-dependencies]` (add to `Cargo.toml`):
//!
//! ```toml
//! clack-host = "0.2.0"
//! clack-extensions = { version = "0.2.0", features = ["clack-host", "state", "audio-ports", "thread-check", "gui"] }
//! ```
//!
//! (`clack-extensions`' `clack-host` feature is the implicit feature of its optional `clack-host`
//! dependency; it turns on the host-side halves of the extensions. `clack-host`'s default
//! `libloading` feature is needed for `PluginEntry::load`.)
//!
//! Usage from an integration test (`tests/foo.rs`):
//!
//! ```ignore
//! #[path = "common/clap_host.rs"]
//! mod clap_host;
//!
//! let mut host = clap_host::TestHost::new(clap_host::cdylib_path("wasp"), "dev.wasp.wasp")?;
//! host.activate(48_000.0, 512);
//! let (l, r) = host.process_stereo(&[0.0; 256], &[0.0; 256]);
//! let state = host.save_state();
//! host.load_state(&state)?;
//! ```

// Each integration test crate that includes this file only uses part of it.
#![allow(dead_code)]

use std::ffi::{c_ulong, CString};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use clack_extensions::audio_ports::{AudioPortInfoBuffer, PluginAudioPorts};
use clack_extensions::gui::{
    GuiApiType, GuiConfiguration, GuiResizeHints, GuiSize, HostGui, HostGuiImpl, PluginGui, Window,
};
use clack_extensions::latency::{HostLatency, HostLatencyImpl, PluginLatency};
use clack_extensions::params::{
    HostParams, HostParamsImplMainThread, HostParamsImplShared, ParamClearFlags, ParamInfoBuffer,
    ParamRescanFlags, PluginParams,
};
use clack_extensions::render::{PluginRender, RenderMode};
use clack_extensions::state::PluginState;
use clack_extensions::tail::PluginTail;
use clack_extensions::thread_check::{HostThreadCheck, HostThreadCheckImpl};
use clack_host::events::event_types::{
    ParamGestureBeginEvent, ParamGestureEndEvent, ParamValueEvent,
};
use clack_host::prelude::*;

/// Number of channels on the single input port and the single output port that the harness
/// drives.
const STEREO: usize = 2;

/// Returns the path of the `cdylib` that Cargo built together with the running test binary, for
/// example `target/debug/deps/libwasp.so` for `cdylib_path("wasp")`.
///
/// Test binaries live in `target/<profile>/deps/`. The library built for them (with the test
/// build's features, such as `assert_process_allocs`) sits beside them; the copy one level up is
/// only refreshed by `cargo build` and may have been built with other features.
pub fn cdylib_path(lib_name: &str) -> PathBuf {
    use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};

    let exe = std::env::current_exe().expect("cannot locate the running test binary");
    let deps_dir = exe.parent().expect("test binary has a parent directory");
    let path = deps_dir.join(format!("{DLL_PREFIX}{lib_name}{DLL_SUFFIX}"));
    assert!(
        path.exists(),
        "{} is missing: the plugin library is built by `cargo test` with the tests",
        path.display()
    );
    path
}

/// Flags the plugin sets from any thread through host callbacks. The [`TestHost`] reads them.
#[derive(Default)]
struct HostFlags {
    /// Set by `clap_host.request_callback()`. Cleared when the callback is run.
    callback_requested: AtomicBool,
    /// Set by `clap_host.request_restart()`, e.g. when nice-plug reports a latency change.
    restart_requested: AtomicBool,
    /// True while the harness is inside an `[audio-thread]` plugin call.
    in_audio_call: AtomicBool,
    /// Calls the plugin made to the host's `gui` extension since they were last taken.
    editor_events: Mutex<EditorEvents>,
    /// Makes `clap_host_gui.request_resize()` fail, like a host that cannot resize its window.
    refuse_editor_resize: AtomicBool,
    /// The flags of each `clap_host_params.rescan()` call since they were last taken.
    rescans: Mutex<Vec<u32>>,
    /// Calls of `clap_host_latency.changed()`.
    latency_changes: std::sync::atomic::AtomicU32,
}

impl HostFlags {
    fn editor_events(&self) -> MutexGuard<'_, EditorEvents> {
        // A panic while the lock was held cannot leave the plain counters half-written.
        self.editor_events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The calls the plugin made to the host side of the CLAP `gui` extension, in arrival order. See
/// [`TestHost::take_editor_events`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EditorEvents {
    /// The `(width, height)` of each `request_resize()` call, in physical pixels. Refused
    /// requests are included.
    pub resize_requests: Vec<(u32, u32)>,
    /// Number of `resize_hints_changed()` calls.
    pub resize_hints_changed: u32,
    /// Number of `request_show()` calls.
    pub show_requests: u32,
    /// Number of `request_hide()` calls.
    pub hide_requests: u32,
    /// The `was_destroyed` argument of each `closed()` call. nice-plug passes `true` when the
    /// editor's window went away on its own. The host must then call `destroy`
    /// ([`TestHost::close_editor`]).
    pub closed: Vec<bool>,
}

/// Marks the host thread as "the audio thread" (for `thread-check`) until it is dropped.
struct AudioThreadScope<'a>(&'a HostFlags);

impl<'a> AudioThreadScope<'a> {
    fn enter(flags: &'a HostFlags) -> Self {
        flags.in_audio_call.store(true, Ordering::SeqCst);
        Self(flags)
    }
}

impl Drop for AudioThreadScope<'_> {
    fn drop(&mut self) {
        self.0.in_audio_call.store(false, Ordering::SeqCst);
    }
}

/// The `[thread-safe]` part of the host, which the plugin may call from any thread.
struct HostShared {
    flags: Arc<HostFlags>,
    /// The thread that created the instance, which acts as the CLAP main thread.
    main_thread: ThreadId,
}

impl<'a> SharedHandler<'a> for HostShared {
    fn request_restart(&self) {
        self.flags.restart_requested.store(true, Ordering::Release);
    }

    fn request_process(&self) {
        // Nothing to do: tests drive processing explicitly through `process_stereo`.
    }

    fn request_callback(&self) {
        self.flags.callback_requested.store(true, Ordering::Release);
    }
}

impl HostThreadCheckImpl for HostShared {
    fn is_main_thread(&self) -> bool {
        thread::current().id() == self.main_thread
            && !self.flags.in_audio_call.load(Ordering::SeqCst)
    }

    fn is_audio_thread(&self) -> bool {
        thread::current().id() == self.main_thread
            && self.flags.in_audio_call.load(Ordering::SeqCst)
    }
}

/// The host side of the `gui` extension. It records each call for the test and otherwise does
/// nothing: the test owns the parent window and resizes, shows or hides it itself.
impl HostGuiImpl for HostShared {
    fn resize_hints_changed(&self) {
        self.flags.editor_events().resize_hints_changed += 1;
    }

    fn request_resize(&self, new_size: GuiSize) -> Result<(), HostError> {
        self.flags
            .editor_events()
            .resize_requests
            .push((new_size.width, new_size.height));
        if self.flags.refuse_editor_resize.load(Ordering::Acquire) {
            Err(HostError::Message("the test host refuses editor resizes"))
        } else {
            Ok(())
        }
    }

    fn request_show(&self) -> Result<(), HostError> {
        self.flags.editor_events().show_requests += 1;
        Ok(())
    }

    fn request_hide(&self) -> Result<(), HostError> {
        self.flags.editor_events().hide_requests += 1;
        Ok(())
    }

    fn closed(&self, was_destroyed: bool) {
        self.flags.editor_events().closed.push(was_destroyed);
    }
}

impl HostParamsImplShared for HostShared {
    fn request_flush(&self) {}
}

/// The main-thread part of the host: it records parameter rescans and latency changes.
struct TestMainThread {
    flags: Arc<HostFlags>,
}

impl<'a> MainThreadHandler<'a> for TestMainThread {}

impl HostParamsImplMainThread for TestMainThread {
    fn rescan(&self, flags: ParamRescanFlags) {
        self.flags
            .rescans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(flags.bits());
    }

    fn clear(&self, _param_id: ClapId, _flags: ParamClearFlags) {}
}

impl HostLatencyImpl for TestMainThread {
    fn changed(&self) {
        self.flags.latency_changes.fetch_add(1, Ordering::AcqRel);
    }
}

/// Ties the host's handler types together. The audio-processor handler has no state or
/// callbacks of its own, so it is `()`.
struct TestHostHandlers;

impl HostHandlers for TestHostHandlers {
    type Shared<'a> = HostShared;
    type MainThread<'a> = TestMainThread;
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<'_, Self>, _shared: &Self::Shared<'_>) {
        builder
            .register::<HostThreadCheck>()
            .register::<HostGui>()
            .register::<HostParams>()
            .register::<HostLatency>();
    }
}

/// A host parameter as `clap_plugin_params.get_info` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamInfoOwned {
    pub id: ClapId,
    pub name: String,
    pub flags: u32,
    pub min: f64,
    pub max: f64,
    pub default: f64,
}

/// One loaded, instantiated plugin, driven entirely from the thread that created it.
///
/// `TestHost` is `!Send` because `clack_host::PluginInstance` is `!Send`. Create it inside the
/// test that uses it.
pub struct TestHost {
    /// `Some` between [`activate`](Self::activate) and [`deactivate`](Self::deactivate).
    processor: Option<StartedPluginAudioProcessor<TestHostHandlers>>,
    /// Owns the plugin and holds a handle to the bundle's entry. Dropping it destroys the
    /// plugin, and the library is unloaded once no handle to the entry is left.
    instance: PluginInstance<TestHostHandlers>,
    flags: Arc<HostFlags>,
    /// The plugin's `state` extension, if it implements it.
    state_ext: Option<PluginState>,
    /// The plugin's `gui` extension, if it implements it.
    gui_ext: Option<PluginGui>,
    /// True between a successful [`open_editor`](Self::open_editor) and
    /// [`close_editor`](Self::close_editor).
    editor_open: bool,

    max_frames: u32,
    steady_time: u64,
    last_status: Option<ProcessStatus>,

    // Scratch storage that is reused across process calls. clack-host's `InputChannel` needs
    // `&mut` access even to input buffers, so the caller's input is copied in first.
    input_ports: AudioPorts,
    output_ports: AudioPorts,
    input_channels: [Vec<f32>; STEREO],
    output_channels: [Vec<f32>; STEREO],
    output_events: EventBuffer,
    /// Whether the plugin has an audio input (an instrument has none).
    has_input: bool,
    /// Parameter gestures and values the plugin sent in its output events, oldest first.
    param_output: Vec<ParamOutput>,
}

/// A parameter event a plugin sent to the host.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamOutput {
    Begin(ClapId),
    Value(ClapId, f64),
    End(ClapId),
}

impl TestHost {
    /// Loads the CLAP bundle at `bundle_path` and instantiates the plugin whose ID is
    /// `plugin_id`. The plugin starts out inactive.
    pub fn new(bundle_path: impl AsRef<Path>, plugin_id: &str) -> Result<Self, String> {
        let bundle_path = bundle_path.as_ref();

        // SAFETY: Loading a shared library runs its initialisers, and later calls trust it to
        // follow the CLAP ABI. The bundles loaded here are test artifacts built from this
        // workspace, which are trusted to be valid CLAP plugins.
        let entry = unsafe { PluginEntry::load(bundle_path) }
            .map_err(|e| format!("failed to load CLAP bundle {}: {e}", bundle_path.display()))?;

        // Check the ID up front so a typo gets an error that lists the available IDs.
        let factory = entry
            .get_plugin_factory()
            .ok_or("CLAP bundle does not expose a plugin factory")?;
        let available: Vec<String> = factory
            .plugin_descriptors()
            .filter_map(|descriptor| descriptor.id())
            .map(|id| id.to_string_lossy().into_owned())
            .collect();
        if !available.iter().any(|id| id == plugin_id) {
            return Err(format!(
                "plugin {plugin_id:?} not found in {}; available: {available:?}",
                bundle_path.display()
            ));
        }

        let plugin_id_c = CString::new(plugin_id).map_err(|e| format!("bad plugin id: {e}"))?;
        let host_info = HostInfo::new(
            "Wasp test host",
            "Wasp",
            "https://example.invalid/wasp-test-host",
            env!("CARGO_PKG_VERSION"),
        )
        .map_err(|e| e.to_string())?;

        let flags = Arc::new(HostFlags::default());
        let shared_flags = Arc::clone(&flags);
        let main_flags = Arc::clone(&flags);
        let main_thread = thread::current().id();

        let instance = PluginInstance::<TestHostHandlers>::new(
            move |_| HostShared {
                flags: shared_flags,
                main_thread,
            },
            move |_| TestMainThread { flags: main_flags },
            &entry,
            &plugin_id_c,
            &host_info,
        )
        .map_err(|e| format!("failed to instantiate {plugin_id:?}: {e}"))?;

        let state_ext = instance
            .plugin_shared_handle()
            .get_extension::<PluginState>();
        let gui_ext = instance.plugin_shared_handle().get_extension::<PluginGui>();

        Ok(Self {
            processor: None,
            instance,
            flags,
            state_ext,
            gui_ext,
            editor_open: false,
            max_frames: 0,
            steady_time: 0,
            last_status: None,
            input_ports: AudioPorts::with_capacity(STEREO, 1),
            output_ports: AudioPorts::with_capacity(STEREO, 1),
            input_channels: [Vec::new(), Vec::new()],
            output_channels: [Vec::new(), Vec::new()],
            output_events: EventBuffer::with_capacity(64),
            has_input: true,
            param_output: Vec::new(),
        })
    }

    /// Activates the plugin with `sample_rate` and blocks of 1 to `max_frames` frames, then
    /// starts processing. If the plugin is already active, it is deactivated first, so this also
    /// changes the configuration.
    ///
    /// # Panics
    ///
    /// Panics if the plugin does not have a stereo main input and a stereo main output, or if
    /// activation or `start_processing` fails.
    pub fn activate(&mut self, sample_rate: f64, max_frames: u32) {
        assert!(max_frames > 0, "max_frames must be at least 1");
        self.deactivate();

        let inputs = self.audio_port_channel_counts(true);
        let outputs = self.audio_port_channel_counts(false);
        assert!(
            (inputs.is_empty() || inputs.first() == Some(&(STEREO as u32)))
                && outputs.first() == Some(&(STEREO as u32)),
            "the harness drives one stereo input and one stereo output port, but the plugin \
             declares input channels {inputs:?} and output channels {outputs:?}"
        );

        let configuration = PluginAudioConfiguration {
            sample_rate,
            min_frames_count: 1,
            max_frames_count: max_frames,
        };
        let stopped = self
            .instance
            .activate(|_, _| (), configuration)
            .unwrap_or_else(|e| panic!("plugin activation failed: {e}"));

        let started = {
            let _audio = AudioThreadScope::enter(&self.flags);
            stopped.start_processing()
        };
        let started = match started {
            Ok(started) => started,
            Err(error) => {
                self.instance.deactivate(error.into_stopped_processor());
                panic!("plugin refused to start processing");
            }
        };

        let frames = max_frames as usize;
        self.input_channels = [vec![0.0; frames], vec![0.0; frames]];
        self.output_channels = [vec![0.0; frames], vec![0.0; frames]];
        self.max_frames = max_frames;
        self.has_input = !inputs.is_empty();
        self.processor = Some(started);
    }

    /// Stops processing and deactivates the plugin. Does nothing if it is not active.
    pub fn deactivate(&mut self) {
        let Some(processor) = self.processor.take() else {
            return;
        };
        let stopped = {
            let _audio = AudioThreadScope::enter(&self.flags);
            processor.stop_processing()
        };
        self.instance.deactivate(stopped);
    }

    /// Returns whether the plugin is currently active and processing.
    pub fn is_active(&self) -> bool {
        self.processor.is_some()
    }

    /// Runs one `process` call on a stereo block and returns the output `(left, right)`.
    ///
    /// Input and output use separate buffers (no in-place processing). The input event list is
    /// empty, no transport is passed, and `steady_time` advances by the block length on each call.
    /// Events the plugin outputs can be read afterwards with
    /// [`output_events`](Self::output_events).
    ///
    /// # Panics
    ///
    /// Panics if the plugin is not active, if the channels differ in length, if the block is
    /// empty or longer than `max_frames`, or if the plugin returns `CLAP_PROCESS_ERROR`.
    pub fn process_stereo(&mut self, left_in: &[f32], right_in: &[f32]) -> (Vec<f32>, Vec<f32>) {
        self.process_with_events(left_in, right_in, &EventBuffer::new())
    }

    /// Like [`process_stereo`](Self::process_stereo), with `events` (parameter values, notes,
    /// sorted by time) in the block's input event list.
    pub fn process_with_events(
        &mut self,
        left_in: &[f32],
        right_in: &[f32],
        events: &EventBuffer,
    ) -> (Vec<f32>, Vec<f32>) {
        assert_eq!(left_in.len(), right_in.len(), "channel length mismatch");
        let frames = left_in.len();
        assert!(
            (1..=self.max_frames as usize).contains(&frames),
            "block of {frames} frames is outside 1..={}",
            self.max_frames
        );
        let processor = self
            .processor
            .as_mut()
            .expect("call activate() before process_stereo()");

        self.input_channels[0][..frames].copy_from_slice(left_in);
        self.input_channels[1][..frames].copy_from_slice(right_in);
        for channel in &mut self.output_channels {
            channel[..frames].fill(0.0);
        }
        self.output_events.clear();

        // Each port buffer holds one slice per channel. `AudioPorts` turns the ports into the
        // `clap_audio_buffer` array the plugin receives. The frame count the plugin sees is the
        // shortest slice across inputs and outputs, which is `frames` here.
        let input_count = usize::from(self.has_input);
        let input_audio = self.input_ports.with_input_buffers(
            [AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_input_only(
                    self.input_channels
                        .iter_mut()
                        .map(move |channel| InputChannel::variable(&mut channel[..frames])),
                ),
            }]
            .into_iter()
            .take(input_count),
        );
        let mut output_audio = self.output_ports.with_output_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_output_only(
                self.output_channels
                    .iter_mut()
                    .map(move |channel| &mut channel[..frames]),
            ),
        }]);
        let input_events = InputEvents::from_buffer(events);
        let mut output_events = OutputEvents::from_buffer(&mut self.output_events);

        let status = {
            let _audio = AudioThreadScope::enter(&self.flags);
            processor.process(
                &input_audio,
                &mut output_audio,
                &input_events,
                &mut output_events,
                Some(self.steady_time),
                None,
            )
        };
        let status = status.unwrap_or_else(|e| panic!("plugin process() failed: {e}"));

        self.last_status = Some(status);
        self.steady_time += frames as u64;
        for event in self.output_events.iter() {
            if let Some(e) = event.as_event::<ParamGestureBeginEvent>() {
                self.param_output
                    .extend(e.param_id().map(ParamOutput::Begin));
            } else if let Some(e) = event.as_event::<ParamGestureEndEvent>() {
                self.param_output.extend(e.param_id().map(ParamOutput::End));
            } else if let Some(e) = event.as_event::<ParamValueEvent>() {
                if let Some(id) = e.param_id() {
                    self.param_output.push(ParamOutput::Value(id, e.value()));
                }
            }
        }

        (
            self.output_channels[0][..frames].to_vec(),
            self.output_channels[1][..frames].to_vec(),
        )
    }

    /// Takes the parameter gestures and values the plugin sent since the last call.
    pub fn take_param_output(&mut self) -> Vec<ParamOutput> {
        std::mem::take(&mut self.param_output)
    }

    /// The status the plugin returned from its last `process` call.
    pub fn last_process_status(&self) -> Option<ProcessStatus> {
        self.last_status
    }

    /// The events the plugin wrote during the last `process` call, such as parameter changes.
    pub fn output_events(&self) -> &EventBuffer {
        &self.output_events
    }

    /// Saves the plugin state through the CLAP `state` extension.
    ///
    /// # Panics
    ///
    /// Panics if the plugin does not implement the extension or fails to save.
    pub fn save_state(&mut self) -> Vec<u8> {
        let state = self
            .state_ext
            .expect("plugin does not implement the CLAP state extension");
        let mut bytes = Vec::new();
        state
            .save(&self.instance.plugin_handle(), &mut bytes)
            .unwrap_or_else(|e| panic!("{e}"));
        bytes
    }

    /// Loads state previously produced by [`save_state`](Self::save_state) (or crafted by a test)
    /// through the CLAP `state` extension. Works while the plugin is active or inactive.
    pub fn load_state(&mut self, bytes: &[u8]) -> Result<(), String> {
        let state = self
            .state_ext
            .ok_or("plugin does not implement the CLAP state extension")?;
        let mut reader = bytes;
        state
            .load(&self.instance.plugin_handle(), &mut reader)
            .map_err(|e| e.to_string())
    }

    /// The CLAP id of the host parameter named `name`, if the plugin has one.
    pub fn param_id(&mut self, name: &str) -> Option<ClapId> {
        let params = self
            .instance
            .plugin_shared_handle()
            .get_extension::<PluginParams>()?;
        let handle = self.instance.plugin_handle();
        let mut buffer = ParamInfoBuffer::new();
        (0..params.count(&handle)).find_map(|i| {
            let info = params.get_info(&handle, i, &mut buffer)?;
            (info.name == name.as_bytes()).then_some(info.id)
        })
    }

    /// Every host parameter's info, in the plugin's order.
    pub fn param_infos(&mut self) -> Vec<ParamInfoOwned> {
        let Some(params) = self
            .instance
            .plugin_shared_handle()
            .get_extension::<PluginParams>()
        else {
            return Vec::new();
        };
        let handle = self.instance.plugin_handle();
        let mut buffer = ParamInfoBuffer::new();
        (0..params.count(&handle))
            .filter_map(|i| {
                let info = params.get_info(&handle, i, &mut buffer)?;
                Some(ParamInfoOwned {
                    id: info.id,
                    name: String::from_utf8_lossy(info.name).into_owned(),
                    flags: info.flags.bits(),
                    min: info.min_value,
                    max: info.max_value,
                    default: info.default_value,
                })
            })
            .collect()
    }

    /// A host parameter's value as the plugin writes it for display.
    pub fn value_to_text(&mut self, id: ClapId, value: f64) -> Option<String> {
        let params = self
            .instance
            .plugin_shared_handle()
            .get_extension::<PluginParams>()?;
        let mut buffer = [0u8; 256];
        let text = params
            .value_to_text(&self.instance.plugin_handle(), id, value, &mut buffer)
            .ok()?;
        Some(String::from_utf8_lossy(text).into_owned())
    }

    /// A typed value read back by the plugin.
    pub fn text_to_value(&mut self, id: ClapId, text: &str) -> Option<f64> {
        let params = self
            .instance
            .plugin_shared_handle()
            .get_extension::<PluginParams>()?;
        let text = CString::new(text).ok()?;
        params.text_to_value(&self.instance.plugin_handle(), id, &text)
    }

    /// The flags of every `clap_host_params.rescan()` call since the last call of this.
    pub fn take_rescans(&mut self) -> Vec<u32> {
        std::mem::take(
            &mut *self
                .flags
                .rescans
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// How many times the plugin called `clap_host_latency.changed()`.
    pub fn latency_changes(&self) -> u32 {
        self.flags.latency_changes.load(Ordering::Acquire)
    }

    /// The plugin's latency through `clap_plugin_latency.get`.
    pub fn latency(&mut self) -> Option<u32> {
        let latency = self
            .instance
            .plugin_shared_handle()
            .get_extension::<PluginLatency>()?;
        Some(latency.get(&self.instance.plugin_handle()))
    }

    /// The plugin's tail through `clap_plugin_tail.get` (audio thread): `None` if it has no
    /// tail extension or is not active; `u32::MAX` means infinite.
    pub fn tail(&mut self) -> Option<u32> {
        let tail = self
            .instance
            .plugin_shared_handle()
            .get_extension::<PluginTail>()?;
        let processor = self.processor.as_mut()?;
        let _audio = AudioThreadScope::enter(&self.flags);
        Some(tail.get(&processor.plugin_handle()).to_raw())
    }

    /// The plain value of a host parameter, through `clap_plugin_params.get_value`.
    pub fn param_value(&mut self, id: ClapId) -> Option<f64> {
        let params = self
            .instance
            .plugin_shared_handle()
            .get_extension::<PluginParams>()?;
        params.get_value(&self.instance.plugin_handle(), id)
    }

    /// Sends one parameter value event through `clap_plugin_params.flush`, as a host does while
    /// the plugin is inactive.
    pub fn flush_param(&mut self, id: ClapId, value: f64) {
        assert!(
            self.processor.is_none(),
            "flush_param is for an inactive plugin"
        );
        let params = self
            .instance
            .plugin_shared_handle()
            .get_extension::<PluginParams>()
            .expect("plugin does not implement the CLAP params extension");
        let mut events = EventBuffer::with_capacity(1);
        events.push(&ParamValueEvent::new(0, id, Pckn::match_all(), value));
        let mut output = EventBuffer::with_capacity(8);
        let mut handle = self
            .instance
            .inactive_plugin_handle()
            .expect("the plugin is inactive");
        params.flush(
            &mut handle,
            &InputEvents::from_buffer(&events),
            &mut OutputEvents::from_buffer(&mut output),
        );
    }

    /// Switches the plugin to offline (or real-time) rendering through the CLAP `render`
    /// extension. Returns whether the plugin accepted.
    pub fn set_offline(&mut self, offline: bool) -> bool {
        let Some(render) = self
            .instance
            .plugin_shared_handle()
            .get_extension::<PluginRender>()
        else {
            return false;
        };
        let mode = if offline {
            RenderMode::Offline
        } else {
            RenderMode::Realtime
        };
        render.set(&self.instance.plugin_handle(), mode).is_ok()
    }

    /// Runs the plugin's `on_main_thread` callback if it asked for one with `request_callback()`
    /// since the last run, and returns whether it ran. nice-plug uses this to run GUI-thread tasks
    /// that it queued from other threads, including from `process()`.
    pub fn call_on_main_thread_callback(&mut self) -> bool {
        // Clear the flag first, so a request made during the callback is not lost.
        if !self.flags.callback_requested.swap(false, Ordering::AcqRel) {
            return false;
        }
        self.instance.call_on_main_thread_callback();
        true
    }

    /// Returns whether a main-thread callback is pending, without running it.
    pub fn callback_requested(&self) -> bool {
        self.flags.callback_requested.load(Ordering::Acquire)
    }

    /// Waits up to `timeout` for the plugin to call `request_callback()`, runs the callback, and
    /// returns whether it ran. Use this for requests made from other threads, such as baseview's
    /// X11 window thread, which forwards the editor's `request_resize()` and `closed()` calls
    /// this way.
    pub fn wait_for_main_thread_callback(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.call_on_main_thread_callback() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Returns whether the plugin called `request_restart()` since the last call, and clears
    /// the flag. The harness does not restart the plugin itself. A test can call
    /// [`activate`](Self::activate) again to do that.
    pub fn take_restart_request(&mut self) -> bool {
        self.flags.restart_requested.swap(false, Ordering::AcqRel)
    }

    /// Returns whether the plugin implements the CLAP `gui` extension. nice-plug only exposes it
    /// when it is built with its `editor` feature and `Plugin::editor()` returned an editor.
    pub fn has_editor(&self) -> bool {
        self.gui_ext.is_some()
    }

    /// Returns whether the editor is open, from a successful [`open_editor`](Self::open_editor)
    /// until [`close_editor`](Self::close_editor).
    pub fn is_editor_open(&self) -> bool {
        self.editor_open
    }

    /// Opens the plugin's editor embedded in the X11 window `parent_x11_window`, the way a Linux
    /// DAW does: `is_api_supported("x11", false)`, `create`, `get_size`, `set_parent` and `show`.
    /// Returns the size from `get_size` in physical pixels, so the test can size the parent to
    /// match.
    ///
    /// The parent window must exist on the X server (make a round trip after creating it) and
    /// stay alive until [`close_editor`](Self::close_editor). If a step after `create` fails, the
    /// editor is destroyed again before the error is returned.
    pub fn open_editor(&mut self, parent_x11_window: u64) -> Result<(u32, u32), String> {
        self.open_editor_with_scale(parent_x11_window, None)
    }

    /// Like [`open_editor`](Self::open_editor), but if `scale` is `Some`, also calls `set_scale`
    /// between `create` and `get_size`, in the order the CLAP spec gives. A plugin may refuse the
    /// scale, and that is not an error: baseview ignores it when the X server sets `Xft.dpi`.
    pub fn open_editor_with_scale(
        &mut self,
        parent_x11_window: u64,
        scale: Option<f64>,
    ) -> Result<(u32, u32), String> {
        let gui = self
            .gui_ext
            .ok_or("plugin does not implement the CLAP gui extension")?;
        if self.editor_open {
            return Err("the editor is already open".into());
        }
        // X11 window IDs fit in 29 bits, and baseview rejects 0 and anything wider than 32 bits.
        let parent = u32::try_from(parent_x11_window)
            .ok()
            .filter(|&id| id != 0)
            .ok_or_else(|| format!("{parent_x11_window:#x} is not an X11 window ID"))?;

        let config = GuiConfiguration {
            api_type: GuiApiType::X11,
            is_floating: false,
        };
        let plugin = self.instance.plugin_handle();
        if !gui.is_api_supported(&plugin, config) {
            return Err("plugin does not support embedded X11 editors".into());
        }
        // nice-plug spawns the editor here, and baseview connects to the X server (`$DISPLAY`)
        // and creates its window and thread.
        gui.create(&plugin, config)
            .map_err(|e| format!("gui.create(x11, embedded) failed: {e}"))?;

        let result = Self::embed_editor(gui, &plugin, parent, scale);
        if result.is_ok() {
            self.editor_open = true;
        } else {
            gui.destroy(&plugin);
        }
        result
    }

    /// The steps of [`open_editor_with_scale`](Self::open_editor_with_scale) after `create`.
    fn embed_editor(
        gui: PluginGui,
        plugin: &PluginMainThreadHandle<'_>,
        parent: u32,
        scale: Option<f64>,
    ) -> Result<(u32, u32), String> {
        if let Some(scale) = scale {
            // Refusing is allowed: the plugin then takes the scale from the system.
            let _ = gui.set_scale(plugin, scale);
        }
        let size = gui
            .get_size(plugin)
            .ok_or("gui.get_size failed or reported an empty size")?;
        let window = Window::from_x11_handle(c_ulong::from(parent));
        // SAFETY: an X11 window handle is an integer ID, not a pointer. If the window is gone,
        // the plugin's X requests fail with `BadWindow` errors. They do not touch freed memory.
        // Keeping the window alive until `destroy` is part of `open_editor`'s contract.
        unsafe { gui.set_parent(plugin, window) }
            .map_err(|e| format!("gui.set_parent({parent:#x}) failed: {e}"))?;
        gui.show(plugin)
            .map_err(|e| format!("gui.show failed: {e}"))?;
        Ok((size.width, size.height))
    }

    /// Hides and destroys the editor. Does nothing if it is not open. Call this after the plugin
    /// reported `closed(true)` too. nice-plug's `destroy` drops the baseview window, which stops
    /// and joins its X11 thread, so the editor is gone when this returns.
    pub fn close_editor(&mut self) {
        if !self.editor_open {
            return;
        }
        let gui = self
            .gui_ext
            .expect("an open editor implies the gui extension");
        let plugin = self.instance.plugin_handle();
        // DAWs hide before destroying. This fails harmlessly if the window is already gone.
        let _ = gui.hide(&plugin);
        gui.destroy(&plugin);
        self.editor_open = false;
    }

    /// The editor's size in physical pixels, from `get_size`. `None` if the plugin has no `gui`
    /// extension or reports no size. nice-plug answers from `Editor::size()`, so this also works
    /// while the editor is closed.
    pub fn editor_size(&mut self) -> Option<(u32, u32)> {
        let gui = self.gui_ext?;
        gui.get_size(&self.instance.plugin_handle())
            .map(|size| (size.width, size.height))
    }

    /// Whether the host may resize the editor (`can_resize`). nice-plug answers from
    /// `Editor::resize_hint()`. False if the plugin has no `gui` extension.
    pub fn editor_can_resize(&mut self) -> bool {
        self.gui_ext
            .is_some_and(|gui| gui.can_resize(&self.instance.plugin_handle()))
    }

    /// The editor's resize hints (`get_resize_hints`), or `None` if it is not resizable or has
    /// no `gui` extension.
    pub fn editor_resize_hints(&mut self) -> Option<GuiResizeHints> {
        let gui = self.gui_ext?;
        gui.get_resize_hints(&self.instance.plugin_handle())
    }

    /// Resizes the open editor the way a host does when the user drags the parent window's edge:
    /// `can_resize`, `adjust_size`, then `set_size` with the adjusted size, which is returned.
    ///
    /// The test resizes the parent X11 window itself if it cares about the X geometry. A resize
    /// that the host starts does not come back as a `request_resize()`.
    pub fn set_editor_size(&mut self, width: u32, height: u32) -> Result<(u32, u32), String> {
        let gui = self
            .gui_ext
            .ok_or("plugin does not implement the CLAP gui extension")?;
        if !self.editor_open {
            return Err("the editor is not open".into());
        }
        let plugin = self.instance.plugin_handle();
        if !gui.can_resize(&plugin) {
            return Err("the editor is not resizable (gui.can_resize returned false)".into());
        }
        let requested = GuiSize { width, height };
        // nice-plug forwards `adjust_size` to `EditorHandle::adjust_size`, which by default
        // returns `None` ("no opinion"), and the wrapper turns that into `false`. Keep the
        // requested size then.
        let size = gui.adjust_size(&plugin, requested).unwrap_or(requested);
        gui.set_size(&plugin, size).map_err(|e| {
            format!(
                "gui.set_size({}x{}) failed (requested {width}x{height}): {e}",
                size.width, size.height
            )
        })?;
        Ok((size.width, size.height))
    }

    /// Returns the calls the plugin made to the host's `gui` extension since the last call, and
    /// clears them.
    pub fn take_editor_events(&mut self) -> EditorEvents {
        std::mem::take(&mut *self.flags.editor_events())
    }

    /// Makes the host accept (the default) or refuse the editor's `request_resize()` calls.
    /// Refused requests are still recorded in [`EditorEvents::resize_requests`]. baseview then
    /// reverts the window to its previous size.
    pub fn set_accept_editor_resize(&mut self, accept: bool) {
        self.flags
            .refuse_editor_resize
            .store(!accept, Ordering::Release);
    }

    /// Channel counts of the plugin's input (`is_input = true`) or output audio ports, in port
    /// order, as reported by the CLAP `audio-ports` extension. Empty if the plugin does not
    /// implement the extension.
    pub fn audio_port_channel_counts(&mut self, is_input: bool) -> Vec<u32> {
        let Some(ports) = self
            .instance
            .plugin_shared_handle()
            .get_extension::<PluginAudioPorts>()
        else {
            return Vec::new();
        };

        let plugin = self.instance.plugin_handle();
        let mut info = AudioPortInfoBuffer::new();
        let mut counts = Vec::new();
        for index in 0..ports.count(&plugin, is_input) {
            if let Some(port) = ports.get(&plugin, index, is_input, &mut info) {
                counts.push(port.channel_count);
            }
        }
        counts
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        // Destroy the editor first. nice-plug's editor holds a strong reference to the plugin
        // wrapper, and baseview's X11 thread runs code from the plugin library. Without this, the
        // plugin's `destroy` would leak the wrapper, and unloading the library would leave that
        // thread running code that is no longer mapped.
        self.close_editor();
        // Stop and deactivate before `instance` drops. If the processor were still alive,
        // `PluginInstance`'s own `Drop` would leak the plugin (and keep the library loaded)
        // instead of destroying it.
        self.deactivate();
    }
}
