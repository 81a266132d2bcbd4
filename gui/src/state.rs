//! The editor's persistent state: window size and recent modules, saved with the plugin.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

/// How many recent modules the editor remembers.
pub const RECENTS: usize = 8;

/// Default logical size of the editor window.
pub const DEFAULT_SIZE: (u32, u32) = (720, 520);

/// Smallest logical size the editor lays out well at.
pub const MIN_SIZE: (u32, u32) = (560, 400);

/// The part of [`EditorState`] that is saved in the plugin state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SavedEditor {
    /// Logical size (before the display scale) of the window when it was last resized.
    pub width: u32,
    pub height: u32,
    /// Recently loaded module files, newest first.
    pub recents: Vec<PathBuf>,
}

impl Default for SavedEditor {
    fn default() -> Self {
        Self {
            width: DEFAULT_SIZE.0,
            height: DEFAULT_SIZE.1,
            recents: Vec::new(),
        }
    }
}

/// Shared between the plugin (which saves and restores it) and an open editor window. Only
/// non-audio threads touch it.
#[derive(Debug, Default)]
pub struct EditorState {
    saved: Mutex<SavedEditor>,
    /// Whether an editor window is open now.
    open: AtomicBool,
    /// The display scale the window last reported (f32 bits; 0 until a window opened), so the
    /// host is told the size in physical pixels.
    scale: AtomicU32,
}

impl EditorState {
    pub fn new(saved: SavedEditor) -> Self {
        Self {
            saved: Mutex::new(sanitize(saved)),
            open: AtomicBool::new(false),
            scale: AtomicU32::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SavedEditor> {
        // Plain data: a panic while holding the lock cannot leave it half-updated in a way
        // that matters, so keep using it.
        self.saved.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of what should be saved.
    pub fn saved(&self) -> SavedEditor {
        self.lock().clone()
    }

    /// Replaces the saved part, as when the host restores a project.
    pub fn restore(&self, saved: SavedEditor) {
        *self.lock() = sanitize(saved);
    }

    /// Logical window size.
    pub fn size(&self) -> (u32, u32) {
        let saved = self.lock();
        (saved.width, saved.height)
    }

    pub fn set_size(&self, width: u32, height: u32) {
        let mut saved = self.lock();
        saved.width = width.max(MIN_SIZE.0);
        saved.height = height.max(MIN_SIZE.1);
    }

    pub fn recents(&self) -> Vec<PathBuf> {
        self.lock().recents.clone()
    }

    /// Moves `path` to the front of the recent modules.
    pub fn push_recent(&self, path: &Path) {
        let mut saved = self.lock();
        saved.recents.retain(|p| p != path);
        saved.recents.insert(0, path.to_path_buf());
        saved.recents.truncate(RECENTS);
    }

    /// Whether an editor window is open now. Realtime-safe: the audio thread reads it to skip
    /// metering while nobody looks.
    pub fn is_open(&self) -> bool {
        // Relaxed: a hint, not used to order any other memory.
        self.open.load(Ordering::Relaxed)
    }

    /// The display scale of the last open window, or 1 if none has opened yet.
    pub fn scale_factor(&self) -> f64 {
        // Relaxed: a single value, read for sizing only.
        match f32::from_bits(self.scale.load(Ordering::Relaxed)) {
            s if s > 0.0 => s as f64,
            _ => 1.0,
        }
    }

    pub(crate) fn set_scale_factor(&self, scale: f64) {
        self.scale
            .store((scale as f32).to_bits(), Ordering::Relaxed);
    }

    pub(crate) fn set_open(&self, open: bool) {
        self.open.store(open, Ordering::Relaxed);
    }
}

/// Keeps a restored (possibly hand-edited or corrupted) state within sane bounds.
fn sanitize(mut saved: SavedEditor) -> SavedEditor {
    saved.width = saved.width.clamp(MIN_SIZE.0, 8192);
    saved.height = saved.height.clamp(MIN_SIZE.1, 8192);
    saved.recents.truncate(RECENTS);
    saved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recents_are_most_recent_first_without_duplicates() {
        let state = EditorState::default();
        for name in ["a.wat", "b.wat", "a.wat", "c.wasm"] {
            state.push_recent(Path::new(name));
        }
        let recents: Vec<_> = state.recents();
        assert_eq!(
            recents,
            ["c.wasm", "a.wat", "b.wat"].map(PathBuf::from).to_vec()
        );
        for i in 0..20 {
            state.push_recent(Path::new(&format!("{i}.wat")));
        }
        assert_eq!(state.recents().len(), RECENTS);
    }

    #[test]
    fn restored_sizes_are_clamped() {
        let state = EditorState::new(SavedEditor {
            width: 1,
            height: 100_000,
            recents: Vec::new(),
        });
        assert_eq!(state.size(), (MIN_SIZE.0, 8192));
    }
}
