//! Paints egui's output into the window's OpenGL context with `egui_glow`.

use std::sync::Arc;

use baseview::gl::GlContext;
use baseview::HandlerError;
use egui_glow::glow::{self, HasContext as _};

/// Why the editor could not set up drawing.
#[derive(Debug)]
pub enum RenderError {
    /// The window came without an OpenGL context (baseview was asked for one).
    NoContext,
    /// egui's painter could not be created, e.g. the driver lacks OpenGL 3.2 or GLSL support.
    Painter(String),
    Context(baseview::Error),
}

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoContext => f.write_str("the window has no OpenGL context"),
            Self::Painter(e) => write!(f, "cannot draw with OpenGL: {e}"),
            Self::Context(e) => write!(f, "OpenGL context error: {e}"),
        }
    }
}

impl std::error::Error for RenderError {}

pub struct Renderer {
    context: GlContext,
    gl: Arc<glow::Context>,
    painter: egui_glow::Painter,
}

impl Renderer {
    pub fn new(context: Option<GlContext>) -> Result<Self, HandlerError> {
        let context = context.ok_or(RenderError::NoContext)?;
        // SAFETY: the context belongs to this window and is only made current on the window's
        // own thread, which is the thread running this constructor.
        unsafe { context.make_current() }.map_err(RenderError::Context)?;
        // SAFETY: the loader resolves symbols of the context that was just made current.
        let gl = Arc::new(unsafe {
            glow::Context::from_loader_function_cstr(|name| context.get_proc_address(name))
        });
        let painter = egui_glow::Painter::new(gl.clone(), "", None, true)
            .map_err(|e| RenderError::Painter(e.to_string()));
        // SAFETY: as above; releases the context made current at the top.
        unsafe { context.make_not_current() }.map_err(RenderError::Context)?;
        Ok(Self {
            context,
            gl,
            painter: painter?,
        })
    }

    pub fn max_texture_side(&self) -> usize {
        self.painter.max_texture_side()
    }

    /// Draws one frame of `output` at `pixels_per_point` into a `size`d framebuffer.
    pub fn paint(
        &mut self,
        egui: &egui::Context,
        output: &mut egui::FullOutput,
        size: [u32; 2],
        pixels_per_point: f32,
        clear: egui::Color32,
    ) -> Result<(), HandlerError> {
        // SAFETY: only this window's thread makes this context current.
        unsafe { self.context.make_current() }.map_err(RenderError::Context)?;
        let clear = egui::Rgba::from(clear);
        // SAFETY: plain GL state calls on the current context.
        unsafe {
            self.gl.clear_color(clear.r(), clear.g(), clear.b(), 1.0);
            self.gl.clear(glow::COLOR_BUFFER_BIT);
        }
        for (id, deltas) in std::mem::take(&mut output.textures_delta.set) {
            for delta in &deltas {
                self.painter.set_texture(id, delta);
            }
        }
        let shapes = std::mem::take(&mut output.shapes);
        let primitives = egui.tessellate(shapes, pixels_per_point);
        self.painter
            .paint_primitives(size, pixels_per_point, &primitives);
        for id in std::mem::take(&mut output.textures_delta.free) {
            self.painter.free_texture(id);
        }
        let swapped = self.context.swap_buffers().map_err(RenderError::Context);
        // SAFETY: releases the context made current above, on the same thread.
        unsafe { self.context.make_not_current() }.map_err(RenderError::Context)?;
        Ok(swapped?)
    }
}

impl Drop for Renderer {
    fn drop(&mut self) {
        // SAFETY: the GL objects the painter frees live in this context; make it current on
        // this (the window's) thread first. If that fails there is nothing better to do.
        if unsafe { self.context.make_current() }.is_ok() {
            self.painter.destroy();
            // SAFETY: as above.
            let _ = unsafe { self.context.make_not_current() };
        }
    }
}
