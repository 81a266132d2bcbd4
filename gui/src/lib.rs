//! Wasp editor (placeholder crate; the egui editor lands with its own issue).
