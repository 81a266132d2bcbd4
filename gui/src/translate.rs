//! Conversions from baseview's input vocabulary to egui's, and back for cursors.

use baseview::{MouseButton, MouseCursor};
use keyboard_types::{Code, Key, NamedKey};

pub fn mouse_button(button: MouseButton) -> Option<egui::PointerButton> {
    Some(match button {
        MouseButton::Left => egui::PointerButton::Primary,
        MouseButton::Right => egui::PointerButton::Secondary,
        MouseButton::Middle => egui::PointerButton::Middle,
        MouseButton::Back => egui::PointerButton::Extra1,
        MouseButton::Forward => egui::PointerButton::Extra2,
        _ => return None,
    })
}

pub fn modifiers(m: &keyboard_types::Modifiers) -> egui::Modifiers {
    let command = if cfg!(target_os = "macos") {
        m.meta()
    } else {
        m.ctrl()
    };
    egui::Modifiers {
        alt: m.alt(),
        ctrl: m.ctrl(),
        shift: m.shift(),
        mac_cmd: cfg!(target_os = "macos") && m.meta(),
        command,
    }
}

/// The egui key for a key event: named keys by their meaning, letters and digits by the
/// physical key so shortcuts work on any layout.
pub fn key(key: &Key, code: Code) -> Option<egui::Key> {
    use egui::Key as E;
    let named = match key {
        Key::Named(named) => Some(match named {
            NamedKey::ArrowDown => E::ArrowDown,
            NamedKey::ArrowLeft => E::ArrowLeft,
            NamedKey::ArrowRight => E::ArrowRight,
            NamedKey::ArrowUp => E::ArrowUp,
            NamedKey::Escape => E::Escape,
            NamedKey::Tab => E::Tab,
            NamedKey::Backspace => E::Backspace,
            NamedKey::Enter => E::Enter,
            NamedKey::Insert => E::Insert,
            NamedKey::Delete => E::Delete,
            NamedKey::Home => E::Home,
            NamedKey::End => E::End,
            NamedKey::PageUp => E::PageUp,
            NamedKey::PageDown => E::PageDown,
            NamedKey::F1 => E::F1,
            NamedKey::F2 => E::F2,
            NamedKey::F3 => E::F3,
            NamedKey::F4 => E::F4,
            NamedKey::F5 => E::F5,
            _ => return None,
        }),
        Key::Character(c) if c == " " => Some(E::Space),
        Key::Character(_) => None,
    };
    named.or_else(|| {
        let name = format!("{code:?}");
        let name = name
            .strip_prefix("Key")
            .or_else(|| name.strip_prefix("Digit"))
            .unwrap_or(&name);
        E::from_name(name)
    })
}

pub fn cursor(icon: egui::CursorIcon) -> MouseCursor {
    use egui::CursorIcon as C;
    match icon {
        C::None => MouseCursor::Hidden,
        C::Help => MouseCursor::Help,
        C::PointingHand => MouseCursor::Hand,
        C::Progress => MouseCursor::PtrWorking,
        C::Wait => MouseCursor::Working,
        C::Cell => MouseCursor::Cell,
        C::Crosshair => MouseCursor::Crosshair,
        C::Text => MouseCursor::Text,
        C::VerticalText => MouseCursor::VerticalText,
        C::Alias => MouseCursor::Alias,
        C::Copy => MouseCursor::Copy,
        C::Move => MouseCursor::Move,
        C::NoDrop | C::NotAllowed => MouseCursor::NotAllowed,
        C::Grab => MouseCursor::Hand,
        C::Grabbing => MouseCursor::HandGrabbing,
        C::AllScroll => MouseCursor::AllScroll,
        C::ResizeHorizontal => MouseCursor::EwResize,
        C::ResizeNeSw => MouseCursor::NeswResize,
        C::ResizeNwSe => MouseCursor::NwseResize,
        C::ResizeVertical => MouseCursor::NsResize,
        C::ResizeEast => MouseCursor::EResize,
        C::ResizeSouthEast => MouseCursor::SeResize,
        C::ResizeSouth => MouseCursor::SResize,
        C::ResizeSouthWest => MouseCursor::SwResize,
        C::ResizeWest => MouseCursor::WResize,
        C::ResizeNorthWest => MouseCursor::NwResize,
        C::ResizeNorth => MouseCursor::NResize,
        C::ResizeNorthEast => MouseCursor::NeResize,
        C::ResizeColumn => MouseCursor::ColResize,
        C::ResizeRow => MouseCursor::RowResize,
        C::ZoomIn => MouseCursor::ZoomIn,
        C::ZoomOut => MouseCursor::ZoomOut,
        _ => MouseCursor::Default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_map_by_physical_key() {
        assert_eq!(
            key(&Key::Character("c".into()), Code::KeyC),
            Some(egui::Key::C)
        );
        assert_eq!(
            key(&Key::Character("1".into()), Code::Digit1),
            Some(egui::Key::Num1)
        );
        assert_eq!(
            key(&Key::Named(NamedKey::Enter), Code::Enter),
            Some(egui::Key::Enter)
        );
    }
}
