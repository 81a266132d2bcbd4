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
//!   ([`TestHost::call_on_main_thread_callback`]).
//!
//! Everything runs on the thread that created the [`TestHost`]. That thread plays the CLAP "main
//! thread" and, for the duration of each audio-thread call (`start_processing`, `process`,
//! `stop_processing`), the "audio thread" as well. The host implements the CLAP `thread-check`
//! extension to report this. Without it, nice-plug decides what the main thread is by comparing
//! thread IDs. It would then treat `process()` as if it ran on the main thread and run GUI tasks
//! inline inside `process()` instead of queuing them and calling `request_callback()`.
//!
//! Required `[dev-dependencies]` (add to `Cargo.toml`):
//!
//! ```toml
//! clack-host = "0.2.0"
//! clack-extensions = { version = "0.2.0", features = ["clack-host", "state", "audio-ports", "thread-check"] }
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

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, ThreadId};

use clack_extensions::audio_ports::{AudioPortInfoBuffer, PluginAudioPorts};
use clack_extensions::state::PluginState;
use clack_extensions::thread_check::{HostThreadCheck, HostThreadCheckImpl};
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

/// Ties the host's handler types together. The main-thread and audio-processor handlers have no
/// state or callbacks of their own, so they are `()`.
struct TestHostHandlers;

impl HostHandlers for TestHostHandlers {
    type Shared<'a> = HostShared;
    type MainThread<'a> = ();
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<'_, Self>, _shared: &Self::Shared<'_>) {
        builder.register::<HostThreadCheck>();
    }
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
        let main_thread = thread::current().id();

        let instance = PluginInstance::<TestHostHandlers>::new(
            move |_| HostShared {
                flags: shared_flags,
                main_thread,
            },
            |_| (),
            &entry,
            &plugin_id_c,
            &host_info,
        )
        .map_err(|e| format!("failed to instantiate {plugin_id:?}: {e}"))?;

        let state_ext = instance
            .plugin_shared_handle()
            .get_extension::<PluginState>();

        Ok(Self {
            processor: None,
            instance,
            flags,
            state_ext,
            max_frames: 0,
            steady_time: 0,
            last_status: None,
            input_ports: AudioPorts::with_capacity(STEREO, 1),
            output_ports: AudioPorts::with_capacity(STEREO, 1),
            input_channels: [Vec::new(), Vec::new()],
            output_channels: [Vec::new(), Vec::new()],
            output_events: EventBuffer::with_capacity(64),
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
            inputs.first() == Some(&(STEREO as u32)) && outputs.first() == Some(&(STEREO as u32)),
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
        let input_audio = self.input_ports.with_input_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_input_only(
                self.input_channels
                    .iter_mut()
                    .map(move |channel| InputChannel::variable(&mut channel[..frames])),
            ),
        }]);
        let mut output_audio = self.output_ports.with_output_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_output_only(
                self.output_channels
                    .iter_mut()
                    .map(move |channel| &mut channel[..frames]),
            ),
        }]);
        let input_events = InputEvents::empty();
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

        (
            self.output_channels[0][..frames].to_vec(),
            self.output_channels[1][..frames].to_vec(),
        )
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

    /// Returns whether the plugin called `request_restart()` since the last call, and clears
    /// the flag. The harness does not restart the plugin itself. A test can call
    /// [`activate`](Self::activate) again to do that.
    pub fn take_restart_request(&mut self) -> bool {
        self.flags.restart_requested.swap(false, Ordering::AcqRel)
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
        // Stop and deactivate before `instance` drops. If the processor were still alive,
        // `PluginInstance`'s own `Drop` would leak the plugin (and keep the library loaded)
        // instead of destroying it.
        self.deactivate();
    }
}
