//! The editor window: egui driven by baseview, with Wasp's own input glue.
//!
//! `egui-baseview` would be the obvious glue, but it drops baseview's drag-and-drop events, and
//! a file dropped on the window is the main way a musician swaps code. So this file owns the
//! translation from baseview's events to egui's `RawInput`, the frame loop and the drop
//! handling: a drag that carries `.wasm`/`.wat` files is accepted (and the drop zone lights
//! up), anything else is refused so the drag source shows a "no" pointer, and a drop becomes a
//! load request to the backend.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use baseview::dpi::{LogicalSize, PhysicalPosition};
use baseview::gl::GlConfig;
use baseview::{
    DropData, DropEffect, Event, EventStatus, HandlerError, MouseCursor, MouseEvent,
    ParentWindowHandle, TimerHandle, Window, WindowContext, WindowEvent, WindowHandler,
    WindowSettings, WindowSize,
};

use crate::app::{App, DragHover};
use crate::backend::{Backend, Command};
use crate::browser::is_module_file;
use crate::renderer::Renderer;
use crate::state::{EditorState, MIN_SIZE};
use crate::translate;

/// How often the editor checks whether its meters, scope or status changed, and redraws if
/// they did (at most this often).
const FRAME_INTERVAL: Duration = Duration::from_millis(33);

/// Where and how to open the editor.
pub struct OpenOptions {
    pub title: String,
    /// The host's window to embed in; `None` opens a top-level window.
    pub parent: Option<ParentWindowHandle>,
    /// Wait for [`Window::set_parent`] before showing (the CLAP flow).
    pub wait_for_parent: bool,
    pub fallback_scale_factor: Option<f64>,
    pub host: Option<baseview::host::Host>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            title: "Wasp".into(),
            parent: None,
            wait_for_parent: false,
            fallback_scale_factor: None,
            host: None,
        }
    }
}

/// Opens the editor. The window runs its own event loop (on its own thread on X11); it talks
/// to the plugin only through `backend` and `state`.
pub fn open(
    state: Arc<EditorState>,
    backend: Arc<dyn Backend>,
    options: OpenOptions,
) -> Result<Window, baseview::Error> {
    let (width, height) = state.size();
    let mut settings = WindowSettings::new()
        .with_title(options.title)
        .with_size(LogicalSize::new(width as f64, height as f64))
        .with_min_size(LogicalSize::new(MIN_SIZE.0 as f64, MIN_SIZE.1 as f64))
        .with_resizable(true)
        .with_wait_for_parent(options.wait_for_parent)
        .with_fallback_scale_factor(options.fallback_scale_factor)
        .with_gl_config(GlConfig {
            // egui blends in gamma space itself; no depth, stencil or multisampling needed.
            srgb: false,
            depth_bits: 0,
            stencil_bits: 0,
            ..GlConfig::default()
        });
    settings.parent = options.parent;
    let window = Window::create_with_host(
        settings,
        move |window| EditorWindow::new(window, state, backend),
        options.host,
    )?;
    crate::pin::pin_gl_libraries();
    Ok(window)
}

struct EditorWindow {
    window: WindowContext,
    renderer: RefCell<Renderer>,
    egui: egui::Context,
    /// Input gathered since the last frame.
    input: RefCell<egui::RawInput>,
    app: RefCell<App>,
    state: Arc<EditorState>,
    backend: Arc<dyn Backend>,
    started: Instant,
    /// Display scale reported by the platform (physical pixels per logical pixel).
    scale: Cell<f64>,
    pointer: Cell<Option<egui::Pos2>>,
    modifiers: Cell<egui::Modifiers>,
    cursor: Cell<MouseCursor>,
    frame_timer: TimerHandle,
}

impl EditorWindow {
    fn new(
        window: WindowContext,
        state: Arc<EditorState>,
        backend: Arc<dyn Backend>,
    ) -> Result<Self, HandlerError> {
        let renderer = Renderer::new(window.gl_context())?;
        crate::pin::pin_gl_libraries();
        let egui = egui::Context::default();
        crate::app::style(&egui);
        {
            let waker = window.waker();
            egui.set_request_repaint_callback(move |info| waker.request_redraw_after(info.delay));
        }
        let size = window.size();
        let input = egui::RawInput {
            max_texture_side: Some(renderer.max_texture_side()),
            ..Default::default()
        };
        let frame_timer = window.create_timer(FRAME_INTERVAL)?;
        state.set_open(true);
        let this = Self {
            window,
            renderer: RefCell::new(renderer),
            egui,
            input: RefCell::new(input),
            app: RefCell::new(App::new(state.clone())),
            state,
            backend,
            started: Instant::now(),
            scale: Cell::new(size.scale_factor),
            pointer: Cell::new(None),
            modifiers: Cell::new(egui::Modifiers::default()),
            cursor: Cell::new(MouseCursor::Default),
            frame_timer,
        };
        this.set_screen(size);
        Ok(this)
    }

    /// Tells egui the window's logical size and scale.
    fn set_screen(&self, size: WindowSize) {
        self.scale.set(size.scale_factor);
        self.state.set_scale_factor(size.scale_factor);
        let logical: LogicalSize<f32> = size.physical.to_logical(size.scale_factor);
        let rect =
            egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(logical.width, logical.height));
        let mut input = self.input.borrow_mut();
        input.screen_rect = Some(rect);
        let viewport = input.viewports.entry(egui::ViewportId::ROOT).or_default();
        viewport.native_pixels_per_point = Some(size.scale_factor as f32);
        viewport.inner_rect = Some(rect);
    }

    fn logical(&self, position: PhysicalPosition<f64>) -> egui::Pos2 {
        let scale = self.scale.get();
        egui::pos2((position.x / scale) as f32, (position.y / scale) as f32)
    }

    fn set_modifiers(&self, m: &keyboard_types::Modifiers, input: &mut egui::RawInput) {
        let m = translate::modifiers(m);
        if m != self.modifiers.get() {
            self.modifiers.set(m);
            input.events.push(egui::Event::ModifiersChanged(m));
        }
    }

    /// Handles a drag hovering over, leaving or dropping on the window.
    fn on_drag(&self, event: &MouseEvent) -> EventStatus {
        let (data, dropped) = match event {
            MouseEvent::DragEntered { data, .. } | MouseEvent::DragMoved { data, .. } => {
                (data, false)
            }
            MouseEvent::DragDropped { data, .. } => (data, true),
            _ => {
                self.app.borrow_mut().drag = None;
                self.window.request_redraw();
                return EventStatus::Captured;
            }
        };
        let files: &[PathBuf] = match data {
            DropData::Files(files) => files,
            _ => &[],
        };
        let module = files.iter().find(|p| is_module_file(p)).cloned();
        let accepted = module.is_some();
        let mut app = self.app.borrow_mut();
        if dropped {
            app.drag = None;
            match module {
                Some(path) => {
                    app.requested(&path);
                    self.backend.send(Command::LoadFile(path));
                }
                None => app.refused_drop(files),
            }
        } else {
            app.drag = Some(DragHover {
                accepted,
                files: files.to_vec(),
            });
        }
        self.window.request_redraw();
        if accepted {
            EventStatus::AcceptDrop(DropEffect::Copy)
        } else {
            EventStatus::Ignored
        }
    }
}

impl WindowHandler for EditorWindow {
    fn draw(&self) -> Result<(), HandlerError> {
        let mut input = self.input.borrow_mut().take();
        input.time = Some(self.started.elapsed().as_secs_f64());
        let mut output = {
            let mut app = self.app.borrow_mut();
            app.refresh(self.backend.as_ref());
            self.egui
                .run_ui(input, |ui| app.ui(ui, self.backend.as_ref()))
        };

        let size = self.window.size();
        self.renderer.borrow_mut().paint(
            &self.egui,
            &mut output,
            [size.physical.width, size.physical.height],
            size.scale_factor as f32 * self.egui.zoom_factor(),
            crate::app::BACKGROUND,
        )?;

        for command in output.platform_output.commands.drain(..) {
            if let egui::OutputCommand::CopyText(text) = command {
                baseview::copy_to_clipboard(&text);
            }
        }
        let cursor = translate::cursor(output.platform_output.cursor_icon);
        if cursor != self.cursor.get() {
            self.cursor.set(cursor);
            self.window.set_mouse_cursor(cursor)?;
        }
        Ok(())
    }

    fn resized(&self, new_size: WindowSize) -> Result<(), HandlerError> {
        self.set_screen(new_size);
        self.state.set_size(
            new_size.logical.width.round() as u32,
            new_size.logical.height.round() as u32,
        );
        self.window.request_redraw();
        Ok(())
    }

    fn on_event(&self, event: Event) -> EventStatus {
        let status = match &event {
            Event::Mouse(
                drag @ (MouseEvent::DragEntered { .. }
                | MouseEvent::DragMoved { .. }
                | MouseEvent::DragLeft
                | MouseEvent::DragDropped { .. }),
            ) => return self.on_drag(drag),
            Event::Mouse(mouse) => {
                let mut input = self.input.borrow_mut();
                match mouse {
                    MouseEvent::CursorMoved {
                        position,
                        modifiers,
                    } => {
                        self.set_modifiers(modifiers, &mut input);
                        let pos = self.logical(*position);
                        self.pointer.set(Some(pos));
                        input.events.push(egui::Event::PointerMoved(pos));
                    }
                    MouseEvent::ButtonPressed { button, modifiers }
                    | MouseEvent::ButtonReleased { button, modifiers } => {
                        self.set_modifiers(modifiers, &mut input);
                        let pressed = matches!(mouse, MouseEvent::ButtonPressed { .. });
                        if pressed && !self.window.has_focus() {
                            // Take keyboard focus from the host so text fields can be used.
                            let _ = self.window.focus();
                        }
                        if let (Some(pos), Some(button)) =
                            (self.pointer.get(), translate::mouse_button(*button))
                        {
                            input.events.push(egui::Event::PointerButton {
                                pos,
                                button,
                                pressed,
                                modifiers: self.modifiers.get(),
                            });
                        }
                    }
                    MouseEvent::WheelScrolled { delta, modifiers } => {
                        self.set_modifiers(modifiers, &mut input);
                        let (unit, delta) = match *delta {
                            baseview::ScrollDelta::Lines { x, y } => {
                                (egui::MouseWheelUnit::Line, egui::vec2(x, y))
                            }
                            baseview::ScrollDelta::Pixels { x, y } => (
                                egui::MouseWheelUnit::Point,
                                egui::vec2(x, y) / self.scale.get() as f32,
                            ),
                        };
                        input.events.push(egui::Event::MouseWheel {
                            unit,
                            delta,
                            modifiers: self.modifiers.get(),
                            phase: egui::TouchPhase::Move,
                            source: egui::MouseWheelSource::Unknown,
                        });
                    }
                    MouseEvent::CursorLeft => {
                        self.pointer.set(None);
                        input.events.push(egui::Event::PointerGone);
                    }
                    _ => {}
                }
                if self.egui.egui_wants_pointer_input() || self.egui.egui_is_using_pointer() {
                    EventStatus::Captured
                } else {
                    EventStatus::Ignored
                }
            }
            Event::Keyboard(key) => {
                let mut input = self.input.borrow_mut();
                self.set_modifiers(&key.modifiers, &mut input);
                let pressed = key.state == keyboard_types::KeyState::Down;
                let modifiers = self.modifiers.get();
                let mapped = translate::key(&key.key, key.code);
                if let Some(k) = mapped {
                    input.events.push(egui::Event::Key {
                        key: k,
                        physical_key: None,
                        pressed,
                        repeat: key.repeat,
                        modifiers,
                    });
                }
                if pressed && modifiers.command && mapped == Some(egui::Key::C) {
                    input.events.push(egui::Event::Copy);
                } else if pressed && !modifiers.command {
                    if let keyboard_types::Key::Character(text) = &key.key {
                        input.events.push(egui::Event::Text(text.clone()));
                    }
                }
                if self.egui.egui_wants_keyboard_input() {
                    EventStatus::Captured
                } else {
                    // Let the host have keys the editor does not use (transport shortcuts).
                    EventStatus::Ignored
                }
            }
            Event::Window(window) => {
                let focused = match window {
                    WindowEvent::Focused => Some(true),
                    WindowEvent::Unfocused => Some(false),
                    _ => None,
                };
                if let Some(focused) = focused {
                    let mut input = self.input.borrow_mut();
                    input.focused = focused;
                    input.events.push(egui::Event::WindowFocused(focused));
                }
                EventStatus::Captured
            }
            _ => EventStatus::Ignored,
        };
        self.window.request_redraw();
        status
    }

    fn on_timer(&self, timer: &TimerHandle) {
        if *timer == self.frame_timer && self.app.borrow_mut().wants_frame(self.backend.as_ref()) {
            self.window.request_redraw();
        }
    }
}

impl Drop for EditorWindow {
    fn drop(&mut self) {
        self.state.set_open(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_module_files_are_accepted() {
        for ok in [
            "a.wasm",
            "b.WAT",
            "/x/y/c.wat",
            "reverb.dsp",
            "Chorus.wclap",
        ] {
            assert!(is_module_file(std::path::Path::new(ok)), "{ok}");
        }
        for bad in ["notes.txt", "wat", "a.wasm.txt", "a.wast", ""] {
            assert!(!is_module_file(std::path::Path::new(bad)), "{bad}");
        }
    }
}
