//! The plugin's parameters and persisted fields, including the loaded module itself.

use base64::Engine as _;
use nice_plug::params::persist::PersistentField;
use nice_plug::prelude::*;
use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use wasp_gui::{EditorState, SavedEditor};

use crate::engine::{Controller, LoadError, LoadOutcome, Source, Tiering};
use crate::host_params::{BindingsField, HostBank};

/// A module as stored in the plugin state: its exact bytes and where it came from, its
/// parameter values and whether its file is watched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedModule {
    /// The module's bytes (binary or text, as loaded), base64-encoded.
    pub bytes: String,
    /// The file it was loaded from, if any. Informational: restoring never reads the file, so a
    /// project opens the same on a machine that does not have it.
    #[serde(default)]
    pub path: Option<String>,
    /// The module's parameter values, by parameter id. A restore sets exactly these (a
    /// parameter missing here starts at its default), so a project renders the same each time.
    #[serde(default)]
    pub params: BTreeMap<String, f32>,
    /// Whether Wasp reloads the module when its file changes.
    #[serde(default)]
    pub watch: bool,
    /// A WCLAP's own state (its `clap.state` extension), base64-encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clap_state: Option<String>,
}

impl SavedModule {
    /// Encodes a source for the plugin state, with no parameter values and no watching.
    pub fn from_source(source: &Source) -> Self {
        Self {
            bytes: base64::engine::general_purpose::STANDARD.encode(&source.bytes),
            path: source
                .path
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
            params: BTreeMap::new(),
            watch: false,
            clap_state: None,
        }
    }

    /// The WCLAP state it carries, decoded; `None` if it has none or it is damaged (the plugin
    /// then starts from its parameter values alone).
    pub fn clap_state_bytes(&self) -> Option<Vec<u8>> {
        base64::engine::general_purpose::STANDARD
            .decode(self.clap_state.as_ref()?.as_bytes())
            .ok()
    }

    /// Decodes the stored module.
    pub fn to_source(&self) -> Result<Source, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(self.bytes.as_bytes())
            .map_err(|e| format!("the saved module's data is damaged ({e})"))?;
        Ok(Source {
            bytes: bytes.into(),
            path: self.path.as_ref().map(Into::into),
        })
    }
}

/// The module slot in the plugin state. Restoring it prepares that module on the worker and
/// waits until it is queued (for at most `MAIN_THREAD_WAIT`), so the first block after a state
/// load already runs it.
pub struct ModuleField {
    controller: Controller,
    /// A saved module whose data could not be decoded, with the controller's saved revision
    /// after it was restored: saved again exactly as it was read until the user loads another
    /// module, so a damaged project loses nothing more by being saved.
    unreadable: Mutex<Option<(SavedModule, u64)>>,
}

impl ModuleField {
    fn unreadable(&self) -> std::sync::MutexGuard<'_, Option<(SavedModule, u64)>> {
        self.unreadable.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<'a> PersistentField<'a, Option<SavedModule>> for ModuleField {
    fn set(&self, new_value: Option<SavedModule>) {
        let source = match new_value.as_ref().map(SavedModule::to_source).transpose() {
            Ok(source) => source,
            Err(message) => {
                self.controller.restore(None, Vec::new());
                self.controller.set_watch(false);
                self.controller.report_error(message);
                let revision = self.controller.saved_revision();
                *self.unreadable() = new_value.map(|saved| (saved, revision));
                return;
            }
        };
        *self.unreadable() = None;
        let clap_state = new_value.as_ref().and_then(SavedModule::clap_state_bytes);
        let (params, watch) = new_value.map_or_else(Default::default, |saved| {
            (saved.params.into_iter().collect(), saved.watch)
        });
        let outcome = self
            .controller
            .restore_with_state(source, params, clap_state);
        self.controller.set_watch(watch);
        match outcome {
            LoadOutcome::Failed(e @ LoadError::Busy { .. }) => {
                nice_warn!("Restoring the saved module: {e}");
            }
            LoadOutcome::Failed(e) => nice_error!("Restoring the saved module failed: {e}"),
            _ => {}
        }
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&Option<SavedModule>) -> R,
    {
        if let Some((saved, revision)) = self.unreadable().as_ref() {
            if *revision == self.controller.saved_revision() {
                return f(&Some(saved.clone()));
            }
        }
        let (source, params) = self.controller.saved_state();
        let saved = source.map(|source| SavedModule {
            params: params.into_iter().collect(),
            watch: self.controller.status().watching,
            clap_state: self
                .controller
                .saved_clap_state()
                .map(|state| base64::engine::general_purpose::STANDARD.encode(state)),
            ..SavedModule::from_source(&source)
        });
        f(&saved)
    }
}

/// The editor's size and recent modules in the plugin state.
pub struct EditorField(pub Arc<EditorState>);

impl<'a> PersistentField<'a, SavedEditor> for EditorField {
    fn set(&self, new_value: SavedEditor) {
        self.0.restore(new_value);
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&SavedEditor) -> R,
    {
        f(&self.0.saved())
    }
}

/// The runtime setting in the plugin state (see [`Tiering`]).
pub struct TieringField(Controller);

impl<'a> PersistentField<'a, Tiering> for TieringField {
    fn set(&self, new_value: Tiering) {
        self.0.set_tiering(new_value);
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&Tiering) -> R,
    {
        f(&self.0.tiering())
    }
}

/// What Wasp plays after a module crashes, until another module is loaded.
///
/// NOTE: the default, `Silence`, is deliberately not the first variant. Saved states store the
/// `id`, so the order only changes the host's plain value (Dry 0, Silence 1). clap-validator's
/// parameter tests send every parameter a value drawn from a fixed seed and expect the value
/// to change; for a two-step parameter that draw is 0, which with the default at 0 would "set"
/// the value it already has, and the tests would report that `flush` changed nothing.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnCrash {
    /// The unprocessed input: the track keeps sounding, without the effect.
    #[id = "dry"]
    #[name = "Pass dry signal"]
    Dry,
    /// Silence: nothing unexpected reaches the speakers.
    #[id = "silence"]
    #[name = "Silence"]
    Silence,
}

/// Wasp's parameters: the bank of host parameters the module's parameters are bound to, and
/// what to do after a crash. The state also carries the module, the slot bindings and the
/// editor.
#[derive(Params)]
pub struct WaspParams {
    /// Host parameter slot of each module parameter id. Restored before `module`.
    #[persist = "bindings"]
    pub bindings: BindingsField,
    /// The module's parameters as host parameters.
    #[nested]
    pub host: Arc<HostBank>,
    /// Which runtime plays the modules. Restored before `module` (nice-plug restores
    /// persisted fields in the order of their keys), so a project's module is prepared once,
    /// on its own runtime.
    #[persist = "engine"]
    pub engine: TieringField,
    /// The loaded module, saved with the project.
    #[persist = "module"]
    pub module: ModuleField,
    /// The editor's window size and recent modules.
    #[persist = "editor"]
    pub editor: EditorField,
    /// What to play after the module crashes.
    #[id = "on_crash"]
    pub on_crash: EnumParam<OnCrash>,
}

impl WaspParams {
    pub(crate) fn new(controller: Controller) -> Self {
        let host = Arc::new(HostBank::new(controller.bindings()));
        let values: Arc<dyn crate::engine::HostValues> = host.clone();
        controller.set_host_values(Arc::downgrade(&values));
        Self {
            bindings: BindingsField(controller.clone()),
            engine: TieringField(controller.clone()),
            host,
            module: ModuleField {
                controller,
                unreadable: Mutex::new(None),
            },
            editor: EditorField(Arc::new(EditorState::default())),
            on_crash: EnumParam::new("On crash", OnCrash::Silence).non_automatable(),
        }
    }
}
