//! Compiled modules on disk, so reopening a project does not compile its modules again.
//!
//! Entries live in the platform's cache folder (`$XDG_CACHE_HOME/wasp/modules` or
//! `~/.cache/wasp/modules` on Linux, `~/Library/Caches/wasp/modules` on macOS,
//! `%LOCALAPPDATA%\wasp\modules` on Windows; `WASP_CACHE_DIR` overrides it, and an empty
//! value turns the cache off). An entry's name is the SHA-256 of the module's bytes together
//! with wasmtime's compatibility hash of the engine (its version and configuration), so a
//! different wasmtime or configuration never finds another's entries. The folder is kept
//! under [`CAP_BYTES`], oldest entries first out.
//!
//! Loading compiled code is unsafe: wasmtime runs it as it is. So an entry holds a magic
//! string and the SHA-256 of its payload, written by Wasp, and is loaded only if both match
//! (a truncated or damaged file is compiled again and rewritten); wasmtime then checks that
//! the payload was made by this version and configuration. The folder is the user's own: a
//! program that can write there could as well replace the plugin itself.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

/// What starts every entry.
const MAGIC: &[u8; 16] = b"wasp-module-v1\0\0";
/// Largest total size of the folder.
pub const CAP_BYTES: u64 = 256 << 20;

/// A folder of compiled modules.
#[derive(Debug, Clone)]
pub(crate) struct DiskCache {
    dir: PathBuf,
}

impl DiskCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The platform's cache folder for Wasp (see the module docs); `None` if there is none
    /// or `WASP_CACHE_DIR` is empty.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("WASP_CACHE_DIR") {
            return (!dir.is_empty()).then(|| PathBuf::from(dir));
        }
        let base = if cfg!(target_os = "macos") {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join("Library/Caches"))
        } else if cfg!(windows) {
            std::env::var_os("LOCALAPPDATA").map(PathBuf::from)
        } else {
            std::env::var_os("XDG_CACHE_HOME")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        };
        base.map(|b| b.join("wasp").join("modules"))
    }

    /// Where the entry for `binary` compiled by `engine` lives.
    fn path(&self, binary: &[u8], engine: &Engine) -> PathBuf {
        let mut compatibility = std::collections::hash_map::DefaultHasher::new();
        engine
            .precompile_compatibility_hash()
            .hash(&mut compatibility);
        let mut key = Sha256::new();
        key.update(MAGIC);
        key.update(compatibility.finish().to_le_bytes());
        key.update(binary);
        let name: String = key.finalize().iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{name}.cwasm"))
    }

    /// The compiled module for `binary`, if an intact entry Wasp wrote is there.
    pub fn load(&self, binary: &[u8], engine: &Engine) -> Option<Module> {
        let bytes = std::fs::read(self.path(binary, engine)).ok()?;
        let payload = verified(&bytes)?;
        // SAFETY: the payload is what `store` wrote for exactly these bytes and this engine
        // (the name), and it is intact (its SHA-256 matches); wasmtime checks it was made by
        // this version and configuration.
        unsafe { Module::deserialize(engine, payload) }.ok()
    }

    /// Writes the entry for `binary`, then trims the folder. Failures are ignored: the cache
    /// only saves time.
    pub fn store(&self, binary: &[u8], engine: &Engine, module: &Module) {
        let Ok(payload) = module.serialize() else {
            return;
        };
        if std::fs::create_dir_all(&self.dir).is_err() {
            return;
        }
        let mut entry = Vec::with_capacity(MAGIC.len() + 32 + payload.len());
        entry.extend_from_slice(MAGIC);
        entry.extend_from_slice(&Sha256::digest(&payload));
        entry.extend_from_slice(&payload);
        let path = self.path(binary, engine);
        // Written aside and renamed, so a reader never sees half an entry.
        let partial = path.with_extension(format!("partial{}", std::process::id()));
        if std::fs::write(&partial, &entry).is_ok() && std::fs::rename(&partial, &path).is_ok() {
            self.trim(CAP_BYTES);
        } else {
            let _ = std::fs::remove_file(&partial);
        }
    }

    /// Deletes the oldest entries until the folder holds at most `cap` bytes.
    fn trim(&self, cap: u64) {
        let Ok(read) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut entries: Vec<(std::time::SystemTime, u64, PathBuf)> = read
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                Some((meta.modified().ok()?, meta.len(), e.path()))
            })
            .collect();
        let mut total: u64 = entries.iter().map(|e| e.1).sum();
        entries.sort();
        for (_, len, path) in entries {
            if total <= cap {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }
}

/// The payload of an entry, if it starts with the magic string and its SHA-256 matches.
fn verified(bytes: &[u8]) -> Option<&[u8]> {
    let rest = bytes.strip_prefix(MAGIC.as_slice())?;
    if rest.len() < 32 {
        return None;
    }
    let (digest, payload) = rest.split_at(32);
    (Sha256::digest(payload).as_slice() == digest).then_some(payload)
}
