//! The plugin's parameters and persisted fields, including the loaded module itself.

use base64::Engine as _;
use nice_plug::params::persist::PersistentField;
use nice_plug::prelude::*;
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use wasp_gui::{EditorState, SavedEditor};

use crate::engine::{Controller, LoadOutcome, Source};

/// A module as stored in the plugin state: its exact bytes and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedModule {
    /// The module's bytes (binary or text, as loaded), base64-encoded.
    pub bytes: String,
    /// The file it was loaded from, if any. Informational: restoring never reads the file, so a
    /// project opens the same on a machine that does not have it.
    #[serde(default)]
    pub path: Option<String>,
}

impl SavedModule {
    /// Encodes a source for the plugin state.
    pub fn from_source(source: &Source) -> Self {
        Self {
            bytes: base64::engine::general_purpose::STANDARD.encode(&source.bytes),
            path: source
                .path
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
        }
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
/// waits until it is queued, so the first block after a state load already runs it.
pub struct ModuleField {
    controller: Controller,
}

impl<'a> PersistentField<'a, Option<SavedModule>> for ModuleField {
    fn set(&self, new_value: Option<SavedModule>) {
        let source = match new_value.as_ref().map(SavedModule::to_source).transpose() {
            Ok(source) => source,
            Err(message) => {
                self.controller.restore(None);
                self.controller.report_error(message);
                return;
            }
        };
        if let LoadOutcome::Failed(e) = self.controller.restore(source) {
            nice_error!("Restoring the saved module failed: {e}");
        }
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&Option<SavedModule>) -> R,
    {
        f(&self
            .controller
            .saved()
            .as_ref()
            .map(SavedModule::from_source))
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

/// What Wasp plays after a module crashes, until another module is loaded.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnCrash {
    /// Silence: nothing unexpected reaches the speakers.
    #[id = "silence"]
    #[name = "Silence"]
    Silence,
    /// The unprocessed input: the track keeps sounding, without the effect.
    #[id = "dry"]
    #[name = "Pass dry signal"]
    Dry,
}

/// Wasp's parameters. Module parameters are mapped onto host parameters by a later version;
/// today the state carries the module and the crash behaviour.
#[derive(Params)]
pub struct WaspParams {
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
        Self {
            module: ModuleField { controller },
            editor: EditorField(Arc::new(EditorState::default())),
            on_crash: EnumParam::new("On crash", OnCrash::Silence).non_automatable(),
        }
    }
}
