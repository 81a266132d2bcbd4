//! What the editor draws and how it reacts to clicks: one frame of egui per call to [`App::ui`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui::{Color32, RichText, Stroke};

use crate::backend::{Backend, Command, View};
use crate::browser::Browser;
use crate::state::EditorState;

pub const BACKGROUND: Color32 = Color32::from_rgb(0x1b, 0x1d, 0x22);
const ACCENT: Color32 = Color32::from_rgb(0xf2, 0xb1, 0x34);
const ERROR: Color32 = Color32::from_rgb(0xff, 0x6b, 0x5e);
const OK: Color32 = Color32::from_rgb(0x7d, 0xd8, 0x7d);
const DIM: Color32 = Color32::from_rgb(0x9a, 0xa0, 0xab);

/// How long a note such as "refused: notes.txt" stays up.
const NOTE_TIME: Duration = Duration::from_secs(6);
/// Meter fall-off per frame (about 20 dB per second at 30 frames per second).
const METER_DECAY: f32 = 0.925;
/// How long a peak stays marked on the output meters.
const PEAK_HOLD: std::time::Duration = std::time::Duration::from_millis(1500);

pub fn style(ctx: &egui::Context) {
    ctx.set_visuals(egui::Visuals::dark());
    ctx.global_style_mut(|style| {
        style.spacing.item_spacing = egui::vec2(8.0, 6.0);
        style.visuals.panel_fill = BACKGROUND;
        style.visuals.selection.bg_fill = ACCENT.gamma_multiply(0.6);
    });
}

/// A drag hovering over the window.
#[derive(Debug, Clone)]
pub struct DragHover {
    /// True when the payload holds a module file.
    pub accepted: bool,
    pub files: Vec<PathBuf>,
}

/// A load the user asked for that has not shown up as committed or failed yet.
struct Pending {
    what: String,
    since: Instant,
    generation: u64,
    error: Option<String>,
}

pub struct App {
    state: Arc<EditorState>,
    view: View,
    scope: Vec<f32>,
    pub drag: Option<DragHover>,
    pending: Option<Pending>,
    /// A short-lived note: text, colour, when it appeared.
    note: Option<(String, Color32, Instant)>,
    browser: Option<Browser>,
    /// Generation of the module last seen, to notice commits.
    seen_generation: u64,
    input_level: [f32; 2],
    output_level: [f32; 2],
    cpu_peak: f32,
    /// Slider values, following the module's values except while the user drags one, so a
    /// slider does not jump back while its request travels.
    params: Vec<f32>,
    /// The parameter being dragged, and when it last moved.
    editing: Option<(usize, Instant)>,
    /// Output peaks held for a moment, and when they were set.
    peak_hold: [(f32, Instant); 2],
    /// A snapshot taken to decide whether to draw (see [`App::wants_frame`]), used by the
    /// frame it asked for.
    probe: Option<(View, Vec<f32>)>,
}

impl App {
    pub fn new(state: Arc<EditorState>) -> Self {
        Self {
            state,
            view: View::default(),
            scope: Vec::with_capacity(1024),
            drag: None,
            pending: None,
            note: None,
            browser: None,
            seen_generation: 0,
            input_level: [0.0; 2],
            output_level: [0.0; 2],
            cpu_peak: 0.0,
            params: Vec::new(),
            editing: None,
            peak_hold: [(0.0, Instant::now()); 2],
            probe: None,
        }
    }

    /// Records that the user asked for `path`, so the status says so until it lands.
    pub fn requested(&mut self, path: &Path) {
        self.pending = Some(Pending {
            what: display_name(path),
            since: Instant::now(),
            generation: self.view.module.as_ref().map_or(0, |m| m.generation),
            error: self.view.error.clone(),
        });
    }

    pub fn refused_drop(&mut self, files: &[PathBuf]) {
        let what = match files.first() {
            Some(f) => display_name(f),
            None => "that".into(),
        };
        self.note = Some((
            format!("Refused {what}: drop a .wasm, .wat or Faust .dsp file."),
            ERROR,
            Instant::now(),
        ));
    }

    fn send(&mut self, backend: &dyn Backend, command: Command) {
        match &command {
            Command::LoadFile(path) => self.requested(path),
            Command::Reload => {
                if let Some(path) = self.view.module.as_ref().and_then(|m| m.path.clone()) {
                    self.requested(&path);
                }
            }
            _ => {}
        }
        backend.send(command);
    }

    /// On the frame timer: whether anything a frame would show has changed since the last
    /// one. Redrawing costs far more than asking (a whole egui pass and, without a GPU,
    /// software rendering), so an editor showing silence and a module at rest draws nothing.
    pub fn wants_frame(&mut self, backend: &dyn Backend) -> bool {
        let (mut view, mut scope) = self.probe.take().unwrap_or_default();
        backend.snapshot(&mut view);
        backend.scope(&mut scope);
        let audible = |level: &f32| *level > METER_FLOOR;
        let moving = self.pending.is_some()
            || self.note.is_some()
            || self.editing.is_some()
            || self
                .input_level
                .iter()
                .chain(&self.output_level)
                .any(audible)
            || self.peak_hold.iter().any(|(level, _)| audible(level))
            || view.meters.input_peak.iter().any(audible)
            || view.meters.output_peak.iter().any(audible);
        let changed = moving
            || !same_apart_from_meters(&view, &self.view)
            || (view.meters.cpu_average - self.view.meters.cpu_average).abs() > 0.001
            || view.meters.cpu_peak > self.cpu_peak + 0.001
            || scope
                .iter()
                .zip(&self.scope)
                .any(|(a, b)| (a - b).abs() > 1e-3)
            || scope.len() != self.scope.len();
        self.probe = Some((view, scope));
        changed
    }

    /// Pulls a new snapshot from the backend (or takes the one [`App::wants_frame`] took).
    pub fn refresh(&mut self, backend: &dyn Backend) {
        match self.probe.take() {
            Some((view, scope)) => {
                self.view = view;
                self.scope = scope;
            }
            None => {
                backend.snapshot(&mut self.view);
                backend.scope(&mut self.scope);
            }
        }
        let generation = self.view.module.as_ref().map_or(0, |m| m.generation);
        if generation != self.seen_generation {
            self.seen_generation = generation;
            if let Some(path) = self.view.module.as_ref().and_then(|m| m.path.as_deref()) {
                self.state.push_recent(path);
            }
            self.params = self.view.params.iter().map(|p| p.value).collect();
        }
        if let Some(p) = &self.pending {
            if generation != p.generation || self.view.error != p.error {
                self.pending = None;
            }
        }
        let m = self.view.meters;
        for ch in 0..2 {
            self.input_level[ch] = m.input_peak[ch].max(self.input_level[ch] * METER_DECAY);
            self.output_level[ch] = m.output_peak[ch].max(self.output_level[ch] * METER_DECAY);
        }
        for (hold, level) in self.peak_hold.iter_mut().zip(m.output_peak) {
            if level >= hold.0 || hold.1.elapsed() > PEAK_HOLD {
                *hold = (level, Instant::now());
            }
        }
        // The peak is the highest block since the last frame, which can be below the average
        // when the frame saw few blocks: never show it below the average.
        self.cpu_peak = m
            .cpu_peak
            .max(self.cpu_peak * METER_DECAY)
            .max(m.cpu_average);
        if self.params.len() != self.view.params.len() {
            self.params = self.view.params.iter().map(|p| p.value).collect();
        }
        // Follow the module's values (host automation, another editor) except for the slider
        // under the user's hand.
        let editing = self.editing.map(|(i, _)| i);
        for (i, (value, p)) in self.params.iter_mut().zip(&self.view.params).enumerate() {
            if Some(i) != editing {
                *value = p.value;
            }
        }
        if self
            .note
            .as_ref()
            .is_some_and(|(_, _, at)| at.elapsed() > NOTE_TIME)
        {
            self.note = None;
        }
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, backend: &dyn Backend) {
        egui::Panel::top("header")
            .frame(egui::Frame::new().inner_margin(10.0).fill(BACKGROUND))
            .show(ui, |ui| self.header(ui, backend));
        egui::Panel::bottom("params")
            .frame(egui::Frame::new().inner_margin(10.0).fill(BACKGROUND))
            .show(ui, |ui| self.parameters(ui, backend));
        egui::Panel::right("meters")
            .resizable(false)
            .exact_size(250.0)
            .frame(egui::Frame::new().inner_margin(10.0).fill(BACKGROUND))
            .show(ui, |ui| self.meters(ui));
        egui::CentralPanel::default()
            .frame(egui::Frame::new().inner_margin(10.0).fill(BACKGROUND))
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.body(ui, backend));
            });

        if let Some(browser) = &mut self.browser {
            match browser.show(ui.ctx()) {
                crate::browser::Outcome::Open(path) => {
                    self.browser = None;
                    self.send(backend, Command::LoadFile(path));
                }
                crate::browser::Outcome::Cancel => self.browser = None,
                crate::browser::Outcome::Browsing => {}
            }
        }
        if let Some(drag) = &self.drag {
            drop_overlay(ui, drag);
        }
    }

    fn header(&mut self, ui: &mut egui::Ui, backend: &dyn Backend) {
        ui.horizontal(|ui| {
            let name = match &self.view.module {
                Some(m) if !m.name.is_empty() => m.name.clone(),
                Some(_) => "(unnamed module)".into(),
                None => "No module".into(),
            };
            ui.label(RichText::new(name).size(26.0).strong().color(ACCENT));
            if let Some(m) = &self.view.module {
                let by = match (m.author.is_empty(), m.version.is_empty()) {
                    (false, false) => format!("{} · v{}", m.author, m.version),
                    (false, true) => m.author.clone(),
                    (true, false) => format!("v{}", m.version),
                    (true, true) => String::new(),
                };
                ui.label(RichText::new(by).color(DIM));
            }
        });
        ui.horizontal(|ui| {
            if ui
                .button("Load…")
                .on_hover_text("Open a .wasm, .wat or Faust .dsp file")
                .clicked()
            {
                let start = self
                    .view
                    .module
                    .as_ref()
                    .and_then(|m| m.path.as_deref())
                    .and_then(Path::parent)
                    .map(Path::to_path_buf);
                self.browser = Some(Browser::new(start));
            }
            self.library_menu(ui, backend);
            let has_file = self.view.module.as_ref().is_some_and(|m| m.path.is_some());
            if ui
                .add_enabled(has_file, egui::Button::new("Reload"))
                .on_hover_text("Load the module's file again")
                .clicked()
            {
                self.send(backend, Command::Reload);
            }
            let mut watching = self.view.watching;
            if ui
                .add_enabled(has_file, egui::Checkbox::new(&mut watching, "Watch file"))
                .on_hover_text("Reload automatically when the file changes on disk")
                .changed()
            {
                backend.send(Command::SetWatch(watching));
            }
            let recents = self.state.recents();
            let current = self.view.module.as_ref().and_then(|m| m.path.clone());
            let other = recents
                .iter()
                .find(|p| Some(*p) != current.as_ref())
                .cloned();
            let ab = ui
                .add_enabled(other.is_some(), egui::Button::new("Compare A/B"))
                .on_hover_text(match &other {
                    Some(p) => format!("Switch to {}", display_name(p)),
                    None => "Load two modules to compare them".into(),
                });
            if ab.clicked() {
                if let Some(path) = other {
                    self.send(backend, Command::LoadFile(path));
                }
            }
        });
    }

    /// "Library": the modules built into the plugin, instruments first in Wasp Instrument.
    fn library_menu(&mut self, ui: &mut egui::Ui, backend: &dyn Backend) {
        let menu = ui.menu_button("Library", |ui| {
            let mut entries = backend.library();
            if self.view.instrument {
                entries.sort_by_key(|e| !e.instrument);
            }
            for entry in entries {
                let label = if entry.instrument {
                    format!("{} (instrument)", entry.name)
                } else {
                    entry.name.clone()
                };
                if ui.button(label).on_hover_text(&entry.about).clicked() {
                    self.send(backend, Command::LoadBuiltin(entry.name));
                    ui.close();
                }
            }
        });
        menu.response
            .on_hover_text("Modules that come with Wasp: effects and a synth to start from");
    }

    fn body(&mut self, ui: &mut egui::Ui, backend: &dyn Backend) {
        self.status(ui);
        ui.add_space(6.0);
        if self.view.module.as_ref().is_none_or(|m| m.builtin) && self.drag.is_none() {
            drop_target(ui);
            ui.add_space(6.0);
        }
        let mut picked_plugin = None;
        let mut picked_runtime = None;
        if let Some(m) = &self.view.module {
            egui::CollapsingHeader::new("Module")
                .default_open(true)
                .show(ui, |ui| {
                    egui::Grid::new("module").num_columns(2).show(ui, |ui| {
                        if m.plugins.len() > 1 {
                            // A WCLAP bundle of several plugins: which one plays.
                            ui.label(RichText::new("Plugin").color(DIM));
                            let current = m.plugins.get(m.plugin_index).cloned();
                            egui::ComboBox::from_id_salt("wclap-plugin")
                                .selected_text(current.unwrap_or_default())
                                .show_ui(ui, |ui| {
                                    for (i, name) in m.plugins.iter().enumerate() {
                                        if ui
                                            .selectable_label(i == m.plugin_index, name.as_str())
                                            .clicked()
                                            && i != m.plugin_index
                                        {
                                            picked_plugin = Some(i);
                                        }
                                    }
                                });
                            ui.end_row();
                        }
                        let path = match (&m.path, m.builtin) {
                            (Some(p), _) => p.display().to_string(),
                            (None, true) => "built in".into(),
                            (None, false) => "from the saved project".into(),
                        };
                        let mut rows = vec![
                            ("File", path),
                            ("Size", format_size(m.size)),
                            ("Hash", m.hash.clone()),
                            ("Contract", format!("v{}", m.contract)),
                            ("Channels", m.channels.clone()),
                            ("Runs", m.entry.clone()),
                        ];
                        if !m.log.is_empty() {
                            rows.push(("Plugin says", m.log.clone()));
                        }
                        for (k, v) in rows {
                            ui.label(RichText::new(k).color(DIM));
                            ui.label(v);
                            ui.end_row();
                        }
                        if !self.view.runtimes.is_empty() {
                            // The choice, and what plays now.
                            ui.label(RichText::new("Runtime").color(DIM));
                            ui.horizontal(|ui| {
                                let chosen = self.view.runtime;
                                let label = self.view.runtimes.get(chosen).cloned();
                                egui::ComboBox::from_id_salt("runtime")
                                    .selected_text(label.unwrap_or_default())
                                    .show_ui(ui, |ui| {
                                        for (i, name) in self.view.runtimes.iter().enumerate() {
                                            if ui
                                                .selectable_label(i == chosen, name.as_str())
                                                .clicked()
                                                && i != chosen
                                            {
                                                picked_runtime = Some(i);
                                            }
                                        }
                                    });
                                ui.label(format!("plays on: {}", m.runtime));
                            });
                            ui.end_row();
                        }
                    });
                });
        }
        if let Some(index) = picked_plugin {
            self.send(backend, Command::PickPlugin(index));
        }
        if let Some(index) = picked_runtime {
            self.send(backend, Command::SetRuntime(index));
        }
        let recents = self.state.recents();
        if !recents.is_empty() {
            egui::CollapsingHeader::new("Recent modules")
                .default_open(true)
                .show(ui, |ui| {
                    let current = self.view.module.as_ref().and_then(|m| m.path.clone());
                    for path in recents {
                        let playing = current.as_ref() == Some(&path);
                        let text = if playing {
                            RichText::new(format!("{}  (playing)", display_name(&path)))
                                .color(ACCENT)
                        } else {
                            RichText::new(display_name(&path))
                        };
                        let response = ui
                            .add(egui::Button::new(text).frame(false))
                            .on_hover_text(path.display().to_string());
                        if response.clicked() && !playing {
                            self.send(backend, Command::LoadFile(path));
                        }
                    }
                });
        }
        egui::CollapsingHeader::new("Sandbox")
            .default_open(true)
            .show(ui, |ui| {
                let f = self.view.faults;
                egui::Grid::new("faults").num_columns(2).show(ui, |ui| {
                    for (k, v) in [
                        ("Crashes (traps)", f.traps),
                        ("Time-outs", f.timeouts),
                        ("Rollbacks", f.rollbacks),
                        ("NaN/inf cleaned", f.non_finite),
                        ("Denormals flushed", f.subnormal),
                        ("Samples clipped", f.clipped),
                    ] {
                        ui.label(RichText::new(k).color(DIM));
                        ui.label(RichText::new(v.to_string()).color(if v > 0 {
                            ERROR
                        } else {
                            Color32::LIGHT_GRAY
                        }));
                        ui.end_row();
                    }
                });
                if let Some(fault) = &self.view.fault {
                    selectable(ui, fault, ERROR);
                }
            });
    }

    fn status(&mut self, ui: &mut egui::Ui) {
        if let Some(p) = &self.pending {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!(
                    "Compiling {}… ({:.1} s)",
                    p.what,
                    p.since.elapsed().as_secs_f32()
                ));
            });
            ui.ctx().request_repaint_after(Duration::from_millis(100));
        }
        if let Some((note, colour, _)) = &self.note {
            ui.label(RichText::new(note).color(*colour));
        }
        if let Some(error) = &self.view.error {
            ui.label(RichText::new("The last load failed").color(ERROR).strong());
            selectable(ui, error, ERROR);
            let playing = self
                .view
                .module
                .as_ref()
                .map_or("nothing".to_string(), |m| format!("“{}”", m.name));
            let watch = if self.view.watching {
                " Wasp reloads it when you save the file again."
            } else {
                ""
            };
            ui.label(
                RichText::new(format!(
                    "{playing} is still playing. Fix the module and load it again \
                     (drop it here, Load…, or Reload).{watch}"
                ))
                .color(DIM),
            );
        }
        if let Some(swap) = &self.view.last_swap {
            let time = swap
                .prepare_ms
                .map_or(String::new(), |ms| format!(" in {ms:.0} ms"));
            let how = if swap.crossfade { ", crossfaded" } else { "" };
            ui.label(RichText::new(format!("Committed{time}{how}")).color(OK));
            for (label, names) in [
                ("carried", &swap.carried),
                ("resized", &swap.resized),
                ("reset", &swap.reset),
                ("dropped", &swap.dropped),
            ] {
                if !names.is_empty() {
                    ui.label(format!("{label}: {}", names.join(", ")));
                }
            }
        }
    }

    fn meters(&mut self, ui: &mut egui::Ui) {
        let m = self.view.meters;
        ui.label(RichText::new("CPU").color(DIM));
        bar(
            ui,
            m.cpu_average,
            format!(
                "{:.1} % avg · {:.1} % peak",
                m.cpu_average * 100.0,
                self.cpu_peak * 100.0
            ),
        );
        ui.add_space(4.0);
        if !self.view.instrument {
            ui.label(RichText::new("Input").color(DIM));
            for level in self.input_level {
                level_bar(ui, level, level);
            }
        }
        ui.label(RichText::new("Output").color(DIM));
        for (level, hold) in self.output_level.into_iter().zip(self.peak_hold) {
            level_bar(ui, level, hold.0.max(level));
        }
        meter_scale(ui);
        ui.add_space(4.0);
        ui.label(RichText::new("Output scope").color(DIM));
        scope(ui, &self.scope);
    }

    fn parameters(&mut self, ui: &mut egui::Ui, backend: &dyn Backend) {
        if self.view.instrument {
            keyboard(ui, self.view.held_notes);
            ui.add_space(6.0);
        }
        if self.view.params.is_empty() {
            ui.label(RichText::new("This module declares no parameters.").color(DIM));
            return;
        }
        // Up to 64 parameters: two columns of labelled sliders once there are more than six,
        // scrolling past a few rows.
        let columns = if self.view.params.len() > 6 { 2 } else { 1 };
        let rows = self.view.params.len().div_ceil(columns);
        let width = (ui.available_width() - 16.0) / columns as f32;
        egui::ScrollArea::vertical()
            .max_height(170.0)
            .show(ui, |ui| {
                egui::Grid::new("params")
                    .num_columns(2 * columns)
                    .spacing([10.0, 4.0])
                    .show(ui, |ui| {
                        for row in 0..rows {
                            for column in 0..columns {
                                let index = column * rows + row;
                                if index < self.view.params.len() {
                                    self.parameter(ui, backend, index, width);
                                }
                            }
                            ui.end_row();
                        }
                    });
            });
    }

    /// One parameter: its name, and a slider showing the value in its unit. Drag it, or click
    /// the value to type one; double-click resets to the default. Every change is a host
    /// gesture, so the host records automation and offers undo.
    fn parameter(&mut self, ui: &mut egui::Ui, backend: &dyn Backend, index: usize, width: f32) {
        let p = &self.view.params[index];
        ui.allocate_ui_with_layout(
            egui::vec2(width * 0.32, 18.0),
            egui::Layout::left_to_right(egui::Align::Center),
            |ui| {
                ui.set_min_width(width * 0.32);
                ui.add(egui::Label::new(&p.name).truncate())
                    .on_hover_text(if p.about.is_empty() {
                        format!("{} ({})", p.name, p.id)
                    } else {
                        format!("{} ({}): {}", p.name, p.id, p.about)
                    });
            },
        );
        if !p.choices.is_empty() {
            // A swap can turn the parameter being dragged into one with choices: end the
            // gesture the slider began, or the host would wait for it forever.
            if self.editing.is_some_and(|(i, _)| i == index) {
                backend.send(Command::EndParam { index });
                self.editing = None;
            }
            self.choice(ui, backend, index, width);
            return;
        }
        let value = &mut self.params[index];
        ui.spacing_mut().slider_width = (width * 0.68 - 90.0).max(60.0);
        let slider = egui::Slider::new(value, p.min..=p.max)
            .logarithmic(p.logarithmic)
            .custom_formatter(|v, _| backend.param_text(index, v as f32))
            .custom_parser(|text| backend.param_parse(index, text).map(f64::from));
        let response = ui.add(slider);
        if response.double_clicked() {
            *value = p.default;
        }
        let value = *value;
        if response.drag_started() {
            backend.send(Command::BeginParam { index });
            self.editing = Some((index, Instant::now()));
        }
        if response.changed() || response.double_clicked() {
            if response.dragged() {
                backend.send(Command::SetParam { index, value });
                self.editing = Some((index, Instant::now()));
            } else {
                // A typed value or a reset: one complete gesture.
                backend.send(Command::BeginParam { index });
                backend.send(Command::SetParam { index, value });
                backend.send(Command::EndParam { index });
            }
        }
        if response.drag_stopped() {
            backend.send(Command::EndParam { index });
            self.editing = None;
        }
    }

    /// A parameter that takes only some values: a menu of their names. Picking one is one
    /// complete host gesture.
    fn choice(&mut self, ui: &mut egui::Ui, backend: &dyn Backend, index: usize, width: f32) {
        let p = &self.view.params[index];
        let current = self.params[index];
        let selected = p
            .choices
            .iter()
            .min_by(|a, b| (a.1 - current).abs().total_cmp(&(b.1 - current).abs()))
            .map_or(String::new(), |c| c.0.clone());
        let mut picked = None;
        egui::ComboBox::from_id_salt(("choice", index))
            .selected_text(selected)
            .width((width * 0.68 - 20.0).max(60.0))
            .show_ui(ui, |ui| {
                for (name, value) in &p.choices {
                    if ui
                        .selectable_label(*value == current, name.as_str())
                        .clicked()
                    {
                        picked = Some(*value);
                    }
                }
            });
        if let Some(value) = picked {
            self.params[index] = value;
            backend.send(Command::BeginParam { index });
            backend.send(Command::SetParam { index, value });
            backend.send(Command::EndParam { index });
        }
    }
}

fn selectable(ui: &mut egui::Ui, text: &str, colour: Color32) {
    let mut text = text;
    ui.add(
        egui::TextEdit::multiline(&mut text)
            .desired_width(f32::INFINITY)
            .desired_rows(1)
            .text_color(colour)
            .font(egui::TextStyle::Monospace),
    );
}

/// A bar filled to `fraction` with `text` over it. Drawn by hand: egui's progress bar draws a
/// small fill as a round blob over the start of the text.
fn bar(ui: &mut egui::Ui, fraction: f32, text: String) {
    let colour = if fraction > 0.8 { ERROR } else { OK };
    let size = egui::vec2(ui.available_width(), 18.0);
    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 3.0, Color32::from_rgb(0x10, 0x12, 0x16));
    let width = rect.width() * fraction.clamp(0.0, 1.0);
    if width >= 1.0 {
        let fill = egui::Rect::from_min_size(rect.min, egui::vec2(width, rect.height()));
        painter.rect_filled(fill, 3.0, colour.gamma_multiply(0.7));
    }
    painter.text(
        rect.left_center() + egui::vec2(6.0, 0.0),
        egui::Align2::LEFT_CENTER,
        text,
        egui::FontId::proportional(12.0),
        Color32::from_gray(220),
    );
}

/// Levels below this (-60 dBFS) show as an empty meter.
const METER_FLOOR: f32 = 1e-3;

/// Whether two snapshots show the same apart from the meters, which move all the time.
fn same_apart_from_meters(a: &View, b: &View) -> bool {
    let mut a = a.clone();
    a.meters = b.meters;
    a == *b
}

/// Where a level sits on a meter: -60 dBFS at the left, 0 dBFS at the right.
fn meter_fraction(db: f32) -> f32 {
    ((db + 60.0) / 60.0).clamp(0.0, 1.0)
}

/// A level meter on a dB scale with ticks every 12 dB, the held peak as a line, and the
/// level as text. Silence draws no bar and no marker.
fn level_bar(ui: &mut egui::Ui, peak: f32, held: f32) {
    let size = egui::vec2(ui.available_width(), 16.0);
    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 3.0, Color32::from_rgb(0x10, 0x12, 0x16));
    let db = 20.0 * peak.max(1e-9).log10();
    let x = |db: f32| rect.left() + meter_fraction(db) * rect.width();
    if db > -60.0 {
        let colour = if db > -0.1 {
            ERROR
        } else if db > -6.0 {
            Color32::from_rgb(0xe0, 0xc0, 0x40)
        } else {
            OK
        };
        let bar = egui::Rect::from_min_max(rect.min, egui::pos2(x(db), rect.max.y));
        painter.rect_filled(bar, 3.0, colour.gamma_multiply(0.7));
    }
    for tick in [-48.0, -36.0, -24.0, -12.0, -6.0] {
        painter.vline(
            x(tick),
            rect.y_range(),
            Stroke::new(1.0, Color32::from_gray(70)),
        );
    }
    let held_db = 20.0 * held.max(1e-9).log10();
    if held_db > -60.0 {
        painter.vline(x(held_db), rect.y_range(), Stroke::new(2.0, Color32::WHITE));
    }
    let text = if held_db > -90.0 {
        format!("{held_db:.1} dB")
    } else {
        "-inf dB".into()
    };
    let galley =
        painter.layout_no_wrap(text, egui::FontId::monospace(11.0), Color32::from_gray(220));
    let at = rect.right_center() - egui::vec2(galley.size().x + 4.0, galley.size().y / 2.0);
    // On a plate of its own, so ticks and the bar do not run through the digits.
    painter.rect_filled(
        egui::Rect::from_min_size(at, galley.size()).expand(2.0),
        2.0,
        Color32::from_rgb(0x10, 0x12, 0x16).gamma_multiply(0.85),
    );
    painter.galley(at, galley, Color32::from_gray(220));
}

/// The dB scale under the meters.
fn meter_scale(ui: &mut egui::Ui) {
    let size = egui::vec2(ui.available_width(), 12.0);
    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
    let painter = ui.painter_at(rect);
    for tick in [-48, -36, -24, -12, -6, 0] {
        let x = rect.left() + meter_fraction(tick as f32) * rect.width();
        let align = if tick == 0 {
            egui::Align2::RIGHT_TOP
        } else {
            egui::Align2::CENTER_TOP
        };
        painter.text(
            egui::pos2(x, rect.top()),
            align,
            tick.to_string(),
            egui::FontId::proportional(9.0),
            DIM,
        );
    }
}

/// A strip of keys, C-1 to G9, lighting the ones held.
fn keyboard(ui: &mut egui::Ui, held: u128) {
    let size = egui::vec2(ui.available_width(), 26.0);
    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
    let painter = ui.painter_at(rect);
    // Keys 24 (C1) to 108 (C8): what fits legibly.
    let (low, high) = (24u32, 108u32);
    let is_black = |k: u32| matches!(k % 12, 1 | 3 | 6 | 8 | 10);
    let whites = (low..=high).filter(|&k| !is_black(k)).count() as f32;
    let w = rect.width() / whites;
    let colour = |k: u32, idle: u8| {
        if held >> k & 1 == 1 {
            ACCENT
        } else {
            Color32::from_gray(idle)
        }
    };
    let mut i = 0.0;
    for k in (low..=high).filter(|&k| !is_black(k)) {
        let key = egui::Rect::from_min_size(
            egui::pos2(rect.left() + i * w, rect.top()),
            egui::vec2(w - 1.0, rect.height()),
        );
        painter.rect_filled(key, 1.0, colour(k, 200));
        i += 1.0;
    }
    let mut i = 0.0;
    for k in low..=high {
        if is_black(k) {
            let key = egui::Rect::from_min_size(
                egui::pos2(rect.left() + i * w - w * 0.3, rect.top()),
                egui::vec2(w * 0.6, rect.height() * 0.6),
            );
            painter.rect_filled(key, 1.0, colour(k, 30));
        } else {
            i += 1.0;
        }
    }
}

fn scope(ui: &mut egui::Ui, samples: &[f32]) {
    let size = egui::vec2(ui.available_width(), 110.0);
    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 4.0, Color32::from_rgb(0x10, 0x12, 0x16));
    painter.hline(
        rect.x_range(),
        rect.center().y,
        Stroke::new(1.0, Color32::from_gray(50)),
    );
    if samples.len() < 2 {
        return;
    }
    let step = rect.width() / (samples.len() - 1) as f32;
    let points: Vec<egui::Pos2> = samples
        .iter()
        .enumerate()
        .map(|(i, s)| {
            egui::pos2(
                rect.left() + i as f32 * step,
                rect.center().y - s.clamp(-1.0, 1.0) * rect.height() * 0.45,
            )
        })
        .collect();
    painter.add(egui::Shape::line(points, Stroke::new(1.5, ACCENT)));
}

/// Where to drop a module, shown while the built-in module plays.
fn drop_target(ui: &mut egui::Ui) {
    let size = egui::vec2(ui.available_width(), 64.0);
    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_stroke(
        rect.shrink(1.0),
        10.0,
        Stroke::new(1.5, DIM),
        egui::StrokeKind::Inside,
    );
    painter.text(
        rect.center() - egui::vec2(0.0, 9.0),
        egui::Align2::CENTER_CENTER,
        "Drop a .wasm, .wat or .dsp module here",
        egui::FontId::proportional(17.0),
        Color32::from_gray(220),
    );
    painter.text(
        rect.center() + egui::vec2(0.0, 13.0),
        egui::Align2::CENTER_CENTER,
        "or use Load… above",
        egui::FontId::proportional(12.0),
        DIM,
    );
}

fn drop_overlay(ui: &mut egui::Ui, drag: &DragHover) {
    let rect = ui.ctx().content_rect().shrink(8.0);
    let painter = ui.ctx().layer_painter(egui::LayerId::new(
        egui::Order::Foreground,
        egui::Id::NULL.with("drop"),
    ));
    let (colour, text) = if drag.accepted {
        (ACCENT, "Drop to load this module".to_string())
    } else {
        let what = drag
            .files
            .first()
            .map_or("This".into(), |f| display_name(f));
        (ERROR, format!("{what} is not a .wasm, .wat or .dsp module"))
    };
    // Veil the editor so the message is all that reads while a file hovers.
    painter.rect_filled(rect, 12.0, BACKGROUND.gamma_multiply(0.88));
    painter.rect_filled(rect, 12.0, colour.gamma_multiply(0.12));
    painter.rect_stroke(
        rect,
        12.0,
        Stroke::new(3.0, colour),
        egui::StrokeKind::Inside,
    );
    // The message sits on a solid plate so it reads clearly over the editor's own text.
    let galley = painter.layout_no_wrap(text, egui::FontId::proportional(22.0), colour);
    let plate = egui::Rect::from_center_size(rect.center(), galley.size() + egui::vec2(40.0, 24.0));
    painter.rect_filled(plate, 10.0, BACKGROUND);
    painter.rect_stroke(
        plate,
        10.0,
        Stroke::new(2.0, colour),
        egui::StrokeKind::Inside,
    );
    painter.galley(plate.center() - galley.size() / 2.0, galley, colour);
}

fn display_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    )
}

fn format_size(bytes: usize) -> String {
    if bytes < 10 * 1024 {
        format!("{bytes} bytes")
    } else if bytes < 10 * 1024 * 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    }
}
