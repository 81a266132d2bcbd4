//! A small file browser drawn with egui, so "Load…" works without a desktop toolkit installed.

use std::path::{Path, PathBuf};

use egui::RichText;

/// True for the files the editor accepts: `.wasm`, `.wat`, Faust `.dsp` and WCLAP bundles
/// (`.wclap` folders), in any letter case.
pub fn is_module_file(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        ["wasm", "wat", "dsp", "wclap"]
            .iter()
            .any(|m| e.eq_ignore_ascii_case(m))
    })
}

pub enum Outcome {
    Browsing,
    Open(PathBuf),
    Cancel,
}

struct Entry {
    path: PathBuf,
    name: String,
    dir: bool,
}

pub struct Browser {
    dir: PathBuf,
    entries: Vec<Entry>,
    /// Why the folder could not be listed, if it could not.
    error: Option<String>,
    selected: Option<PathBuf>,
    /// The path field, editable so a path can be typed or pasted.
    typed: String,
}

impl Browser {
    pub fn new(start: Option<PathBuf>) -> Self {
        let dir = start
            .filter(|d| d.is_dir())
            .or_else(|| std::env::var_os("HOME").map(PathBuf::from))
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("/"));
        let mut browser = Self {
            dir: PathBuf::new(),
            entries: Vec::new(),
            error: None,
            selected: None,
            typed: String::new(),
        };
        browser.enter(dir);
        browser
    }

    fn enter(&mut self, dir: PathBuf) {
        self.entries.clear();
        self.selected = None;
        self.error = None;
        match std::fs::read_dir(&dir) {
            Ok(read) => {
                for entry in read.flatten() {
                    let path = entry.path();
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if name.starts_with('.') {
                        continue;
                    }
                    let dir = path.is_dir();
                    if dir || is_module_file(&path) {
                        self.entries.push(Entry { path, name, dir });
                    }
                }
                self.entries.sort_by(|a, b| {
                    (!a.dir, a.name.to_lowercase()).cmp(&(!b.dir, b.name.to_lowercase()))
                });
            }
            Err(e) => self.error = Some(format!("Cannot open {}: {e}", dir.display())),
        }
        self.typed = dir.display().to_string();
        self.dir = dir;
    }

    pub fn show(&mut self, ctx: &egui::Context) -> Outcome {
        let mut outcome = Outcome::Browsing;
        let mut enter = None;
        egui::Window::new("Load a module")
            .collapsible(false)
            .resizable(true)
            .default_size([440.0, 340.0])
            .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
            .show(ctx, |ui| {
                ui.horizontal(|ui| {
                    if ui.button("⬆ Up").clicked() {
                        if let Some(parent) = self.dir.parent() {
                            enter = Some(parent.to_path_buf());
                        }
                    }
                    let field = ui.add(
                        egui::TextEdit::singleline(&mut self.typed).desired_width(f32::INFINITY),
                    );
                    if field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                        let typed = PathBuf::from(self.typed.trim());
                        if typed.is_dir() {
                            enter = Some(typed);
                        } else if is_module_file(&typed) && typed.is_file() {
                            outcome = Outcome::Open(typed);
                        }
                    }
                });
                ui.separator();
                egui::ScrollArea::vertical()
                    .max_height(240.0)
                    .auto_shrink([false, false])
                    .show(ui, |ui| {
                        if let Some(error) = &self.error {
                            ui.label(RichText::new(error).color(egui::Color32::LIGHT_RED));
                        }
                        if self.entries.is_empty() && self.error.is_none() {
                            ui.label("No folders or module files (.wasm, .wat, .dsp) here.");
                        }
                        for entry in &self.entries {
                            let label = if entry.dir {
                                format!("📁 {}", entry.name)
                            } else {
                                entry.name.clone()
                            };
                            let selected = self.selected.as_ref() == Some(&entry.path);
                            let response = ui.selectable_label(selected, label);
                            if response.double_clicked() {
                                if entry.dir {
                                    enter = Some(entry.path.clone());
                                } else {
                                    outcome = Outcome::Open(entry.path.clone());
                                }
                            } else if response.clicked() {
                                if entry.dir {
                                    enter = Some(entry.path.clone());
                                } else {
                                    self.selected = Some(entry.path.clone());
                                }
                            }
                        }
                    });
                ui.separator();
                ui.horizontal(|ui| {
                    let open = ui.add_enabled(self.selected.is_some(), egui::Button::new("Open"));
                    if open.clicked() {
                        if let Some(path) = self.selected.clone() {
                            outcome = Outcome::Open(path);
                        }
                    }
                    if ui.button("Cancel").clicked() {
                        outcome = Outcome::Cancel;
                    }
                });
            });
        if let Some(dir) = enter {
            self.enter(dir);
        }
        outcome
    }

    #[cfg(test)]
    fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }

    #[cfg(test)]
    fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_folders_first_then_module_files_only() {
        let root = std::env::temp_dir().join(format!("wasp-browser-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("zeta")).unwrap();
        for f in ["b.wat", "a.WASM", "notes.txt", ".hidden.wat"] {
            std::fs::write(root.join(f), b"").unwrap();
        }
        let browser = Browser::new(Some(root.clone()));
        assert_eq!(browser.dir(), root.as_path());
        assert_eq!(browser.names(), ["zeta", "a.WASM", "b.wat"]);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
