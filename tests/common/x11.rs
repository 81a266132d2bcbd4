//! X11 helpers for integration tests that drive the editor the way a host and a
//! user would: a host-like parent window, screenshots, XTEST pointer and
//! keyboard input, and an XDND *drag source* that drops files on a window.
//!
//! Everything talks to `$DISPLAY` (normally an `Xvfb`) over x11rb's pure-Rust
//! `RustConnection`: no C library is loaded and there is no `unsafe` code.
//!
//! # What the XDND target in baseview 0.4.2 expects
//!
//! Read from `baseview-0.4.2/src/platform/x11/{drag_n_drop,event_loop,
//! xcb_window,window_shared}.rs`; the source below is written to match it.
//!
//! * `XdndAware` (version 5) is set on baseview's own window, the child that it
//!   creates inside the host's parent window, never on the parent. Client
//!   messages are only looked at when their `window` field is baseview's
//!   window, so they must be sent to that window (see
//!   [`X::find_xdnd_target`]). `XdndProxy` is not used.
//! * Only `text/uri-list` is accepted. It is looked up in the three types of
//!   `XdndEnter`, or in the source's `XdndTypeList` property when the
//!   "more than three types" flag is set. Without it the session is rejected.
//! * Nothing is sent back for the first `XdndPosition`. baseview first calls
//!   `ConvertSelection(XdndSelection, text/uri-list, property XdndSelection,
//!   time = the position's timestamp)`, and sends `XdndStatus` only after the
//!   data has arrived. A source must therefore serve `SelectionRequest`s while
//!   it waits for the status. A source that waits for the status before
//!   serving the selection deadlocks.
//! * The `SelectionNotify` must carry the *same* time as the request. The
//!   property must have type `text/uri-list` and format 8, or it is rejected.
//!   The data is percent-decoded and then split on `"\r\n"`. Every entry must be
//!   `file:///path` or `file://localhost/path`, and every path must exist:
//!   it is `canonicalize`d, so symlinks are resolved. One bad entry rejects the
//!   whole drop.
//! * The handler's `EventStatus` is **ignored** for drag events. Any drop with
//!   valid data is accepted (`XdndStatus` accept=1 with the requested action,
//!   `XdndFinished` with that action), even when `on_event` returns
//!   `EventStatus::Ignored`. Rejection happens only for an unsupported type or
//!   unreadable or invalid data.
//! * `DragEntered` is delivered when the data arrives, right after the first
//!   position. Each later position gives a `DragMoved`. `DragDropped` is
//!   delivered after `XdndFinished` has been sent. Positions are converted
//!   from root coordinates into the window with `TranslateCoordinates`. baseview
//!   does **not** check that the point is inside its window, nor that the
//!   window is mapped. A real source only finds the window under the pointer,
//!   though, so this module translates target-relative points to the root.
//! * When a drop is refused after a drop message (`send_finished_rejected`),
//!   the `XdndFinished` still has bit 0 ("accepted") set, with action `None`.
//!   Look at [`DragOutcome::finished_action`] and not only at
//!   [`DragOutcome::finished_accepted`]. Rejections use the atom *named*
//!   `"None"`, not atom 0. Both are reported here as `None`.
//! * A drop whose timestamp is older than the position that requested the data
//!   is ignored as stale. Timestamps here come from the server, so they only
//!   grow.
//!
//! # Running tests with it
//!
//! * Start the server as `Xvfb :N -screen 0 1024x768x24 -noreset`. Without
//!   `-noreset`, Xvfb resets whenever its last client disconnects (between two
//!   tests) and refuses connections meanwhile. [`X::connect`] retries for
//!   that reason.
//! * The pointer, the keyboard focus and `XdndSelection` are one per display.
//!   Drags from this process are serialised internally. Hold [`input_lock`]
//!   around pointer and keyboard sequences. Give windows that get clicks
//!   places that nothing else covers, or [`X::raise`] them while holding the
//!   lock. [`X::move_pointer`] refuses a point where another window is on top.
//! * This connection's events are read only during a drag. Events meanwhile
//!   that are not part of the drag (e.g. Expose of the parent) are discarded.
//!
//! # Screenshots
//!
//! `GetImage` is undefined for parts of a window covered by inferiors of a
//! different depth. Without the `opengl` feature, baseview picks a 32-bit ARGB
//! visual, while the parent made here is 24-bit. To see what baseview drew,
//! screenshot baseview's own window: [`X::find_xdnd_target`] finds it.
//! [`X::screenshot_on_screen`] shows what the screen shows, and relies on the
//! server's Composite extension, which Xvfb has.

#![allow(dead_code)]

use std::collections::{HashSet, VecDeque};
use std::fmt::Display;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::sleep;
use std::time::{Duration, Instant};

use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::xproto::{
    self, AtomEnum, ClientMessageEvent, ConnectionExt as _, CreateGCAux, CreateWindowAux,
    EventMask, ImageFormat, ImageOrder, MapState, PropMode, Rectangle, SelectionNotifyEvent,
    SelectionRequestEvent, VisualClass, Visualtype, WindowClass,
};
use x11rb::protocol::xtest::{self, ConnectionExt as _};
use x11rb::protocol::Event;
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;
use x11rb::{COPY_DEPTH_FROM_PARENT, COPY_FROM_PARENT, CURRENT_TIME, NONE};

/// How long the polling loops wait before giving up, unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Pause between steps of synthetic input, so the receiving event loop sees
/// separate events.
const INPUT_PAUSE: Duration = Duration::from_millis(30);

/// Pause between polls of the event queue.
const POLL_PAUSE: Duration = Duration::from_millis(2);

/// The highest XDND version this source speaks.
const XDND_VERSION: u8 = 5;

/// Serialises drags made from this process. `XdndSelection` is one per
/// display, so two drags at once steal each other's data requests.
static XDND_LOCK: Mutex<()> = Mutex::new(());

/// See [`input_lock`].
static INPUT_LOCK: Mutex<()> = Mutex::new(());

/// Holds the pointer and keyboard for this test. The pointer and focus are one
/// per display, and `cargo test` runs tests in parallel threads, so hold this
/// around every sequence of [`X::click`], [`X::key_type`] and the like.
/// Poisoning is ignored.
pub fn input_lock() -> MutexGuard<'static, ()> {
    INPUT_LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Turns any displayable error into this module's `String` errors, with context.
trait Ctx<T> {
    fn ctx(self, what: &str) -> Result<T, String>;
}

impl<T, E: Display> Ctx<T> for Result<T, E> {
    fn ctx(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("X11: {what}: {e}"))
    }
}

/// Polls `f` every few milliseconds until it returns `Some`, or `timeout` passes.
pub fn poll_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        sleep(Duration::from_millis(10));
    }
}

/// A `file://` URI for `path`, percent-encoding every byte outside the
/// unreserved set and `/`. `path` should be absolute.
pub fn file_uri(path: &Path) -> String {
    let mut uri = String::from("file://");
    for &b in path.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri
}

/// An RGB screenshot, rows top to bottom, 3 bytes a pixel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl Image {
    /// The image enlarged `factor` times with nearest-neighbour sampling (for OCR).
    pub fn scaled(&self, factor: u32) -> Image {
        let (w, h) = (self.width * factor, self.height * factor);
        let mut rgb = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h {
            for x in 0..w {
                rgb.extend_from_slice(&self.pixel(x / factor, y / factor));
            }
        }
        Image {
            width: w,
            height: h,
            rgb,
        }
    }

    /// The colour at (`x`, `y`). Panics when outside the image.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        assert!(
            x < self.width && y < self.height,
            "pixel ({x},{y}) outside image"
        );
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    fn pixels(&self) -> impl Iterator<Item = [u8; 3]> + '_ {
        self.rgb.chunks_exact(3).map(|p| [p[0], p[1], p[2]])
    }

    /// Writes a binary PPM (P6), which most image viewers and `convert` read.
    pub fn write_ppm(&self, path: impl AsRef<Path>) -> Result<(), String> {
        let path = path.as_ref();
        let mut bytes = format!("P6\n{} {}\n255\n", self.width, self.height).into_bytes();
        bytes.extend_from_slice(&self.rgb);
        std::fs::write(path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))
    }

    /// How many different colours the image has.
    pub fn distinct_colours(&self) -> usize {
        self.pixels().collect::<HashSet<_>>().len()
    }

    /// Whether every pixel has the same colour (true for an empty image).
    pub fn is_uniform(&self) -> bool {
        let mut it = self.pixels();
        match it.next() {
            None => true,
            Some(first) => it.all(|p| p == first),
        }
    }

    /// How many pixels satisfy `pred`.
    pub fn count_pixels(&self, pred: impl Fn([u8; 3]) -> bool) -> usize {
        self.pixels().filter(|&p| pred(p)).count()
    }

    /// The most common colour, or `None` for an empty image.
    pub fn dominant_colour(&self) -> Option<[u8; 3]> {
        let mut counts = std::collections::HashMap::new();
        for p in self.pixels() {
            *counts.entry(p).or_insert(0usize) += 1;
        }
        counts.into_iter().max_by_key(|&(_, n)| n).map(|(p, _)| p)
    }

    /// How many pixels differ from `other`. Sizes must match.
    pub fn diff_count(&self, other: &Image) -> Result<usize, String> {
        if (self.width, self.height) != (other.width, other.height) {
            return Err(format!(
                "image sizes differ: {}x{} vs {}x{}",
                self.width, self.height, other.width, other.height
            ));
        }
        Ok(self
            .pixels()
            .zip(other.pixels())
            .filter(|(a, b)| a != b)
            .count())
    }

    /// The part of the image at (`x`, `y`) of size `w`×`h`, clipped to the image.
    pub fn crop(&self, x: u32, y: u32, w: u32, h: u32) -> Image {
        let x0 = x.min(self.width);
        let y0 = y.min(self.height);
        let x1 = x.saturating_add(w).min(self.width);
        let y1 = y.saturating_add(h).min(self.height);
        let mut rgb = Vec::with_capacity(((x1 - x0) * (y1 - y0) * 3) as usize);
        for row in y0..y1 {
            let start = (row as usize * self.width as usize + x0 as usize) * 3;
            let end = start + (x1 - x0) as usize * 3;
            rgb.extend_from_slice(&self.rgb[start..end]);
        }
        Image {
            width: x1 - x0,
            height: y1 - y0,
            rgb,
        }
    }
}

/// One `XdndStatus` received by the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XdndStatus {
    pub accepted: bool,
    /// The action the target will perform, by atom name. `None` for atom 0 or
    /// the atom named "None".
    pub action: Option<String>,
}

/// What happened during a drag made by [`X::drag_files`] and its variants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DragOutcome {
    /// The XDND version used: min(5, the target's `XdndAware`).
    pub version: u8,
    /// Whether the `XdndStatus` for the last position accepted the drop.
    pub accepted_on_position: bool,
    /// The action in that status, by atom name.
    pub status_action: Option<String>,
    /// Every status received, one per position sent.
    pub statuses: Vec<XdndStatus>,
    /// Whether `XdndDrop` was sent. If it was not, `XdndLeave` was.
    pub dropped: bool,
    /// Whether `XdndFinished` arrived.
    pub finished: bool,
    /// Bit 0 of `data.l[1]` in `XdndFinished`. baseview sets it on rejection
    /// too, so check [`DragOutcome::finished_action`] as well.
    pub finished_accepted: bool,
    /// The action in `XdndFinished` (version 5), by atom name.
    pub finished_action: Option<String>,
    /// The targets the receiver asked the selection for, in order.
    pub requested_targets: Vec<String>,
}

impl DragOutcome {
    /// Whether the target really took the data: the drop was sent, finished,
    /// and named an action.
    pub fn completed(&self) -> bool {
        self.dropped && self.finished && self.finished_accepted && self.finished_action.is_some()
    }
}

/// Settings for [`X::drag_files_with`].
#[derive(Clone, Debug)]
pub struct DragOptions {
    /// The data types offered, by name. At most three go in `XdndEnter`. With
    /// more, the "more types" flag is set. `XdndTypeList` always holds them all.
    pub types: Vec<String>,
    /// The action asked for in each `XdndPosition`.
    pub action: String,
    /// The longest wait for any one reply.
    pub timeout: Duration,
    /// The highest XDND version to speak (capped at 5).
    pub max_version: u8,
    /// The pause after each status, before the next message.
    pub step_pause: Duration,
    /// Sends the drop even when the last status refused it, as a broken
    /// source would.
    pub force_drop: bool,
}

impl Default for DragOptions {
    fn default() -> Self {
        DragOptions {
            types: vec![
                "text/uri-list".into(),
                "text/plain;charset=utf-8".into(),
                "text/plain".into(),
            ],
            action: "XdndActionCopy".into(),
            timeout: DEFAULT_TIMEOUT,
            max_version: XDND_VERSION,
            step_pause: Duration::from_millis(20),
            force_drop: false,
        }
    }
}

/// A connection to the X server, with the default screen's facts.
pub struct X {
    pub conn: RustConnection,
    pub screen_num: usize,
    pub root: u32,
    pub root_depth: u8,
    pub root_visual: u32,
    pub screen_width: u16,
    pub screen_height: u16,
    has_xtest: bool,
}

/// The drag source's window. Dropping it destroys the window, which also gives
/// up the `XdndSelection` it owns, and sends `XdndLeave` if a session is open.
struct SourceWindow<'a> {
    x: &'a X,
    id: u32,
    /// The target of an entered session that has been neither dropped nor left.
    open_on: Option<u32>,
}

impl Drop for SourceWindow<'_> {
    fn drop(&mut self) {
        if let Some(target) = self.open_on.take() {
            let _ = self.x.send_xdnd(target, "XdndLeave", [self.id, 0, 0, 0, 0]);
        }
        let _ = self.x.conn.destroy_window(self.id);
        let _ = self.x.conn.flush();
    }
}

/// The data a drag source hands out.
struct Payload {
    uri_list: Vec<u8>,
    plain: Vec<u8>,
    offered: Vec<u32>,
}

impl X {
    /// Connects to `$DISPLAY`, retrying for up to two seconds: an X server
    /// started without `-noreset` resets when its last client leaves, and
    /// drops connections made meanwhile ("Connection reset by peer").
    pub fn connect() -> Result<X, String> {
        let display = std::env::var("DISPLAY").unwrap_or_default();
        let mut last_error = String::new();
        let connected = poll_until(Duration::from_secs(2), || match x11rb::connect(None) {
            Ok(c) => Some(c),
            Err(e) => {
                last_error = e.to_string();
                None
            }
        });
        let (conn, screen_num) = connected
            .ok_or_else(|| format!("X11: connecting to DISPLAY={display:?}: {last_error}"))?;
        let screen = &conn.setup().roots[screen_num];
        let (root, root_depth, root_visual) = (screen.root, screen.root_depth, screen.root_visual);
        let (screen_width, screen_height) = (screen.width_in_pixels, screen.height_in_pixels);
        let has_xtest = conn
            .extension_information(xtest::X11_EXTENSION_NAME)
            .ctx("querying XTEST")?
            .is_some();
        Ok(X {
            conn,
            screen_num,
            root,
            root_depth,
            root_visual,
            screen_width,
            screen_height,
            has_xtest,
        })
    }

    /// Waits until the server has handled every request sent so far.
    pub fn sync(&self) -> Result<(), String> {
        self.conn
            .get_input_focus()
            .ctx("sync")?
            .reply()
            .ctx("sync")?;
        Ok(())
    }

    /// Interns `name`.
    pub fn atom(&self, name: &str) -> Result<u32, String> {
        Ok(self
            .conn
            .intern_atom(false, name.as_bytes())
            .ctx("InternAtom")?
            .reply()
            .ctx(&format!("InternAtom {name}"))?
            .atom)
    }

    /// The name of `atom`, or `None` for atom 0 and unknown atoms.
    pub fn atom_name(&self, atom: u32) -> Option<String> {
        if atom == NONE {
            return None;
        }
        let reply = self.conn.get_atom_name(atom).ok()?.reply().ok()?;
        Some(String::from_utf8_lossy(&reply.name).into_owned())
    }

    // ---------------------------------------------------------------- windows

    /// A mapped top-level window at (0, 0), as a DAW makes to host a plugin
    /// editor. Its title is "Wasp test host".
    pub fn create_parent_window(&self, width: u16, height: u16) -> Result<u32, String> {
        self.create_window_at(0, 0, width, height, "Wasp test host")
    }

    /// A mapped top-level window at (`x`, `y`) on the root window, with a
    /// dark grey background, `WM_NAME`, `_NET_WM_NAME` and `WM_CLASS`. Returns
    /// once the window is viewable.
    pub fn create_window_at(
        &self,
        x: i16,
        y: i16,
        width: u16,
        height: u16,
        title: &str,
    ) -> Result<u32, String> {
        let win = self.conn.generate_id().ctx("generating a window id")?;
        let background = self.pixel_for_visual(self.root_visual, [0x20, 0x20, 0x20])?;
        self.conn
            .create_window(
                COPY_DEPTH_FROM_PARENT,
                win,
                self.root,
                x,
                y,
                width,
                height,
                0,
                WindowClass::INPUT_OUTPUT,
                COPY_FROM_PARENT,
                &CreateWindowAux::new()
                    .background_pixel(background)
                    .event_mask(EventMask::STRUCTURE_NOTIFY | EventMask::EXPOSURE),
            )
            .ctx("CreateWindow")?;
        self.conn
            .change_property8(
                PropMode::REPLACE,
                win,
                AtomEnum::WM_NAME,
                AtomEnum::STRING,
                title.as_bytes(),
            )
            .ctx("setting WM_NAME")?;
        let net_wm_name = self.atom("_NET_WM_NAME")?;
        let utf8 = self.atom("UTF8_STRING")?;
        self.conn
            .change_property8(PropMode::REPLACE, win, net_wm_name, utf8, title.as_bytes())
            .ctx("setting _NET_WM_NAME")?;
        self.conn
            .change_property8(
                PropMode::REPLACE,
                win,
                AtomEnum::WM_CLASS,
                AtomEnum::STRING,
                b"wasp-test-host\0WaspTestHost\0",
            )
            .ctx("setting WM_CLASS")?;
        self.conn.map_window(win).ctx("MapWindow")?;
        self.conn.flush().ctx("flush")?;
        self.wait_viewable(win, DEFAULT_TIMEOUT)?;
        Ok(win)
    }

    /// Destroys `window` and its children.
    pub fn destroy_window(&self, window: u32) -> Result<(), String> {
        self.conn
            .destroy_window(window)
            .ctx("DestroyWindow")?
            .check()
            .ctx(&format!("DestroyWindow 0x{window:x}"))
    }

    /// Waits until `window` is viewable (it and all its ancestors are mapped).
    pub fn wait_viewable(&self, window: u32, timeout: Duration) -> Result<(), String> {
        poll_until(timeout, || {
            let attrs = self.conn.get_window_attributes(window).ok()?.reply().ok()?;
            (attrs.map_state == MapState::VIEWABLE).then_some(())
        })
        .ok_or_else(|| format!("window 0x{window:x} did not become viewable in {timeout:?}"))
    }

    /// The direct children of `window`, bottom to top.
    pub fn children(&self, window: u32) -> Result<Vec<u32>, String> {
        Ok(self
            .conn
            .query_tree(window)
            .ctx("QueryTree")?
            .reply()
            .ctx(&format!("QueryTree 0x{window:x}"))?
            .children)
    }

    /// The position of `window` in its parent, its size, and its depth.
    pub fn geometry(&self, window: u32) -> Result<(i16, i16, u16, u16, u8), String> {
        let g = self
            .conn
            .get_geometry(window)
            .ctx("GetGeometry")?
            .reply()
            .ctx(&format!("GetGeometry 0x{window:x}"))?;
        Ok((g.x, g.y, g.width, g.height, g.depth))
    }

    /// `WM_NAME` of `window`, if set.
    pub fn window_name(&self, window: u32) -> Option<String> {
        let reply = self
            .conn
            .get_property(false, window, AtomEnum::WM_NAME, AtomEnum::ANY, 0, 1024)
            .ok()?
            .reply()
            .ok()?;
        (reply.format == 8).then(|| String::from_utf8_lossy(&reply.value).into_owned())
    }

    /// Converts (`x`, `y`) in `window` to root coordinates.
    pub fn to_root(&self, window: u32, x: i16, y: i16) -> Result<(i16, i16), String> {
        let r = self
            .conn
            .translate_coordinates(window, self.root, x, y)
            .ctx("TranslateCoordinates")?
            .reply()
            .ctx(&format!("TranslateCoordinates from 0x{window:x}"))?;
        Ok((r.dst_x, r.dst_y))
    }

    /// The mapped windows containing the root point (`rx`, `ry`), from the
    /// top-level window down to the deepest: where a click there would go.
    pub fn windows_at(&self, rx: i16, ry: i16) -> Result<Vec<u32>, String> {
        let mut path = Vec::new();
        let mut current = self.root;
        loop {
            let child = self
                .conn
                .translate_coordinates(self.root, current, rx, ry)
                .ctx("TranslateCoordinates")?
                .reply()
                .ctx("TranslateCoordinates")?
                .child;
            if child == NONE {
                return Ok(path);
            }
            path.push(child);
            current = child;
        }
    }

    /// The top-level ancestor of `window` (the child of the root it is in).
    pub fn top_level(&self, window: u32) -> Result<u32, String> {
        let mut current = window;
        loop {
            let parent = self
                .conn
                .query_tree(current)
                .ctx("QueryTree")?
                .reply()
                .ctx(&format!("QueryTree 0x{current:x}"))?
                .parent;
            if parent == self.root || parent == NONE {
                return Ok(current);
            }
            current = parent;
        }
    }

    /// Raises the top-level window holding `window` above its siblings.
    pub fn raise(&self, window: u32) -> Result<(), String> {
        let top = self.top_level(window)?;
        self.conn
            .configure_window(
                top,
                &xproto::ConfigureWindowAux::new().stack_mode(xproto::StackMode::ABOVE),
            )
            .ctx("ConfigureWindow")?
            .check()
            .ctx("raising a window")
    }

    /// Fills a rectangle of `window` with `rgb`, in the window's own visual.
    pub fn fill_rect(
        &self,
        window: u32,
        x: i16,
        y: i16,
        width: u16,
        height: u16,
        rgb: [u8; 3],
    ) -> Result<(), String> {
        let visual = self
            .conn
            .get_window_attributes(window)
            .ctx("GetWindowAttributes")?
            .reply()
            .ctx(&format!("GetWindowAttributes 0x{window:x}"))?
            .visual;
        let pixel = self.pixel_for_visual(visual, rgb)?;
        let gc = self.conn.generate_id().ctx("generating a GC id")?;
        self.conn
            .create_gc(gc, window, &CreateGCAux::new().foreground(pixel))
            .ctx("CreateGC")?;
        self.conn
            .poly_fill_rectangle(
                window,
                gc,
                &[Rectangle {
                    x,
                    y,
                    width,
                    height,
                }],
            )
            .ctx("PolyFillRectangle")?;
        self.conn.free_gc(gc).ctx("FreeGC")?;
        self.sync()
    }

    fn visual_type(&self, visual: u32) -> Option<(Visualtype, u8)> {
        self.conn
            .setup()
            .roots
            .iter()
            .flat_map(|s| &s.allowed_depths)
            .find_map(|d| {
                d.visuals
                    .iter()
                    .find(|v| v.visual_id == visual)
                    .map(|v| (*v, d.depth))
            })
    }

    /// The pixel value of `rgb` in a TrueColor or DirectColor `visual`.
    fn pixel_for_visual(&self, visual: u32, rgb: [u8; 3]) -> Result<u32, String> {
        let (v, depth) = self
            .visual_type(visual)
            .ok_or_else(|| format!("unknown visual 0x{visual:x}"))?;
        if v.class != VisualClass::TRUE_COLOR && v.class != VisualClass::DIRECT_COLOR {
            return Err(format!(
                "visual 0x{visual:x} is {:?}, not TrueColor",
                v.class
            ));
        }
        let put = |mask: u32, c: u8| {
            if mask == 0 {
                return 0;
            }
            let max = mask >> mask.trailing_zeros();
            ((u32::from(c) * max + 127) / 255) << mask.trailing_zeros()
        };
        // With a depth-32 visual, the bits outside the colour masks are alpha:
        // make them opaque.
        let colour_bits = v.red_mask | v.green_mask | v.blue_mask;
        let alpha = if depth == 32 { !colour_bits } else { 0 };
        Ok(put(v.red_mask, rgb[0]) | put(v.green_mask, rgb[1]) | put(v.blue_mask, rgb[2]) | alpha)
    }

    // ------------------------------------------------------------ screenshots

    /// The contents of `window` (which must be viewable and on screen), as RGB.
    pub fn screenshot(&self, window: u32) -> Result<Image, String> {
        let (_, _, w, h, _) = self.geometry(window)?;
        self.get_image(window, 0, 0, w, h)
    }

    /// What the screen shows where `window` is, read from the root window
    /// (clipped to the screen). This includes children of any depth, as
    /// composited by the server.
    pub fn screenshot_on_screen(&self, window: u32) -> Result<Image, String> {
        let (_, _, w, h, _) = self.geometry(window)?;
        let (rx, ry) = self.to_root(window, 0, 0)?;
        let x0 = rx.max(0);
        let y0 = ry.max(0);
        let x1 = (i32::from(rx) + i32::from(w)).min(i32::from(self.screen_width));
        let y1 = (i32::from(ry) + i32::from(h)).min(i32::from(self.screen_height));
        if x1 <= i32::from(x0) || y1 <= i32::from(y0) {
            return Err(format!("window 0x{window:x} is off screen"));
        }
        let cw = u16::try_from(x1 - i32::from(x0)).map_err(|e| e.to_string())?;
        let ch = u16::try_from(y1 - i32::from(y0)).map_err(|e| e.to_string())?;
        self.get_image(self.root, x0, y0, cw, ch)
    }

    /// GetImage (ZPixmap) of a drawable's rectangle, decoded with the reply
    /// visual's masks and the server's pixmap format and byte order.
    pub fn get_image(
        &self,
        drawable: u32,
        x: i16,
        y: i16,
        w: u16,
        h: u16,
    ) -> Result<Image, String> {
        let reply = self
            .conn
            .get_image(ImageFormat::Z_PIXMAP, drawable, x, y, w, h, !0)
            .ctx("GetImage")?
            .reply()
            .map_err(|e| {
                format!(
                    "X11: GetImage of 0x{drawable:x} ({w}x{h}+{x}+{y}) failed: {e} \
                     (is the window viewable and entirely on screen?)"
                )
            })?;
        let setup = self.conn.setup();
        let format = setup
            .pixmap_formats
            .iter()
            .find(|f| f.depth == reply.depth)
            .ok_or_else(|| format!("no pixmap format for depth {}", reply.depth))?;
        let visual = if reply.visual == NONE {
            self.root_visual
        } else {
            reply.visual
        };
        let (v, _) = self
            .visual_type(visual)
            .ok_or_else(|| format!("unknown visual 0x{visual:x}"))?;
        if v.class != VisualClass::TRUE_COLOR && v.class != VisualClass::DIRECT_COLOR {
            return Err(format!("cannot decode a {:?} visual", v.class));
        }
        let bpp = usize::from(format.bits_per_pixel);
        let pad = usize::from(format.scanline_pad);
        let (width, height) = (usize::from(w), usize::from(h));
        let stride = (width * bpp).div_ceil(pad) * pad / 8;
        if reply.data.len() < stride * height {
            return Err(format!(
                "GetImage returned {} bytes, expected {} ({height} rows of {stride})",
                reply.data.len(),
                stride * height
            ));
        }
        let little = setup.image_byte_order == ImageOrder::LSB_FIRST;
        let read: fn(&[u8], bool) -> u32 = match bpp {
            32 => |b, le| {
                let a = [b[0], b[1], b[2], b[3]];
                if le {
                    u32::from_le_bytes(a)
                } else {
                    u32::from_be_bytes(a)
                }
            },
            24 => |b, le| {
                if le {
                    u32::from_le_bytes([b[0], b[1], b[2], 0])
                } else {
                    u32::from_be_bytes([0, b[0], b[1], b[2]])
                }
            },
            16 => |b, le| {
                let a = [b[0], b[1]];
                u32::from(if le {
                    u16::from_le_bytes(a)
                } else {
                    u16::from_be_bytes(a)
                })
            },
            other => return Err(format!("unsupported bits per pixel: {other}")),
        };
        let channel = |pixel: u32, mask: u32| -> u8 {
            if mask == 0 {
                return 0;
            }
            let max = mask >> mask.trailing_zeros();
            let value = (pixel & mask) >> mask.trailing_zeros();
            // `value <= max`, so this fits in a byte.
            ((value * 255 + max / 2) / max) as u8
        };
        let bytes_pp = bpp / 8;
        let mut rgb = Vec::with_capacity(width * height * 3);
        for row in reply.data.chunks(stride).take(height) {
            for px in row.chunks_exact(bytes_pp).take(width) {
                let p = read(px, little);
                rgb.push(channel(p, v.red_mask));
                rgb.push(channel(p, v.green_mask));
                rgb.push(channel(p, v.blue_mask));
            }
        }
        Ok(Image {
            width: u32::from(w),
            height: u32::from(h),
            rgb,
        })
    }

    // ------------------------------------------------------------- XDND: find

    /// The `XdndAware` version of `window`, if it has the property.
    pub fn xdnd_version(&self, window: u32) -> Option<u32> {
        let aware = self.atom("XdndAware").ok()?;
        let reply = self
            .conn
            .get_property(false, window, aware, AtomEnum::ATOM, 0, 1)
            .ok()?
            .reply()
            .ok()?;
        reply.value32().and_then(|mut values| values.next())
    }

    /// The shallowest window at or under `top` (breadth first over the whole
    /// subtree, mapped or not) that has `XdndAware`. This is the window a
    /// source would talk to while hovering over `top`.
    pub fn find_xdnd_target(&self, top: u32) -> Option<u32> {
        let mut queue = VecDeque::from([top]);
        while let Some(w) = queue.pop_front() {
            if self.xdnd_version(w).is_some() {
                return Some(w);
            }
            // A window can vanish during the walk: skip it.
            queue.extend(self.children(w).unwrap_or_default());
        }
        None
    }

    /// Waits up to `timeout` for [`X::find_xdnd_target`] to find a window,
    /// e.g. while the editor opens.
    pub fn wait_xdnd_target(&self, top: u32, timeout: Duration) -> Result<u32, String> {
        poll_until(timeout, || self.find_xdnd_target(top))
            .ok_or_else(|| format!("no XdndAware window under 0x{top:x} after {timeout:?}"))
    }

    /// The window a real source would find at (`x`, `y`) of `window`: going
    /// down from the root through the mapped windows that contain the point,
    /// the first with `XdndAware`.
    pub fn xdnd_target_at(&self, window: u32, x: i16, y: i16) -> Result<Option<u32>, String> {
        let (rx, ry) = self.to_root(window, x, y)?;
        Ok(self
            .windows_at(rx, ry)?
            .into_iter()
            .find(|&w| self.xdnd_version(w).is_some()))
    }

    // ----------------------------------------------------------- XDND: source

    /// Drags `uris` (e.g. from [`file_uri`]) onto `target`, hovering at (`x`,
    /// `y`) of `target`, then drops if the target accepted. `target` must be
    /// the `XdndAware` window itself (see [`X::find_xdnd_target`]).
    pub fn drag_files(
        &self,
        target: u32,
        uris: &[String],
        x: i16,
        y: i16,
    ) -> Result<DragOutcome, String> {
        self.drag_files_with(target, uris, &[(x, y)], &DragOptions::default())
    }

    /// Like [`X::drag_files`], with one `XdndPosition` for each point in turn
    /// (each waits for its status), then the drop at the last.
    pub fn drag_files_path(
        &self,
        target: u32,
        uris: &[String],
        path: &[(i16, i16)],
    ) -> Result<DragOutcome, String> {
        self.drag_files_with(target, uris, path, &DragOptions::default())
    }

    /// Hovers over `path` like [`X::drag_files_path`], then leaves without
    /// dropping.
    pub fn drag_files_and_leave(
        &self,
        target: u32,
        uris: &[String],
        path: &[(i16, i16)],
    ) -> Result<DragOutcome, String> {
        self.drag_session(target, uris, path, &DragOptions::default(), false)
    }

    /// Like [`X::drag_files_and_leave`], with options (a long `step_pause` keeps the drag
    /// hovering, to look at the target meanwhile).
    pub fn drag_files_and_leave_with(
        &self,
        target: u32,
        uris: &[String],
        path: &[(i16, i16)],
        options: &DragOptions,
    ) -> Result<DragOutcome, String> {
        self.drag_session(target, uris, path, options, false)
    }

    /// The full XDND source, with options.
    pub fn drag_files_with(
        &self,
        target: u32,
        uris: &[String],
        path: &[(i16, i16)],
        opts: &DragOptions,
    ) -> Result<DragOutcome, String> {
        self.drag_session(target, uris, path, opts, true)
    }

    fn drag_session(
        &self,
        target: u32,
        uris: &[String],
        path: &[(i16, i16)],
        opts: &DragOptions,
        drop_at_end: bool,
    ) -> Result<DragOutcome, String> {
        if path.is_empty() {
            return Err("XDND: the drag path has no points".into());
        }
        // Declared first, so it is released after the source window is gone.
        let _one_drag_at_a_time = XDND_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        let aware = self
            .xdnd_version(target)
            .ok_or_else(|| format!("XDND: window 0x{target:x} has no XdndAware property"))?;
        let version = u8::try_from(aware)
            .unwrap_or(u8::MAX)
            .min(opts.max_version.min(XDND_VERSION));
        let mut outcome = DragOutcome {
            version,
            ..DragOutcome::default()
        };

        let mut offered = Vec::with_capacity(opts.types.len());
        for t in &opts.types {
            offered.push(self.atom(t)?);
        }
        let mut uri_list = Vec::new();
        let mut plain = Vec::new();
        for uri in uris {
            uri_list.extend_from_slice(uri.as_bytes());
            uri_list.extend_from_slice(b"\r\n");
            plain.extend_from_slice(uri.as_bytes());
            plain.push(b'\n');
        }
        let payload = Payload {
            uri_list,
            plain,
            offered,
        };
        let action = self.atom(&opts.action)?;
        let selection = self.atom("XdndSelection")?;

        // The source window: never mapped. It receives XdndStatus, XdndFinished
        // and SelectionRequest, and PropertyNotify for timestamps.
        let id = self.conn.generate_id().ctx("generating a window id")?;
        self.conn
            .create_window(
                0,
                id,
                self.root,
                -10,
                -10,
                1,
                1,
                0,
                WindowClass::INPUT_ONLY,
                COPY_FROM_PARENT,
                &CreateWindowAux::new().event_mask(EventMask::PROPERTY_CHANGE),
            )
            .ctx("CreateWindow (XDND source)")?;
        let mut source = SourceWindow {
            x: self,
            id,
            open_on: None,
        };
        let type_list = self.atom("XdndTypeList")?;
        self.conn
            .change_property32(
                PropMode::REPLACE,
                id,
                type_list,
                AtomEnum::ATOM,
                &payload.offered,
            )
            .ctx("setting XdndTypeList")?;

        let time = self.server_time(id, &payload, &mut outcome, opts.timeout)?;
        self.conn
            .set_selection_owner(id, selection, time)
            .ctx("SetSelectionOwner")?;
        let owner = self
            .conn
            .get_selection_owner(selection)
            .ctx("GetSelectionOwner")?
            .reply()
            .ctx("GetSelectionOwner")?
            .owner;
        if owner != id {
            return Err(format!(
                "XDND: could not own XdndSelection (owner is 0x{owner:x})"
            ));
        }

        // XdndEnter: version in the high byte of l[1], bit 0 = more than 3 types.
        let more = u32::from(payload.offered.len() > 3);
        let inline = |i: usize| payload.offered.get(i).copied().unwrap_or(NONE);
        self.send_xdnd(
            target,
            "XdndEnter",
            [
                id,
                (u32::from(version) << 24) | more,
                inline(0),
                inline(1),
                inline(2),
            ],
        )?;
        source.open_on = Some(target);

        for &(x, y) in path {
            let (rx, ry) = self.to_root(target, x, y)?;
            let time = self.server_time(id, &payload, &mut outcome, opts.timeout)?;
            // Coordinates are packed as two unsigned 16-bit halves.
            let xy = (u32::from(rx as u16) << 16) | u32::from(ry as u16);
            self.send_xdnd(target, "XdndPosition", [id, 0, xy, time, action])?;
            let status_atom = self.atom("XdndStatus")?;
            let status = self.pump(&payload, &mut outcome, opts.timeout, |ev| match ev {
                Event::ClientMessage(cm)
                    if cm.window == id
                        && cm.type_ == status_atom
                        && cm.format == 32
                        && cm.data.as_data32()[0] == target =>
                {
                    Some(cm.data.as_data32())
                }
                _ => None,
            });
            let status = status.map_err(|_| {
                format!(
                    "XDND: timed out after {:?} waiting for XdndStatus from 0x{target:x} \
                     (position {x},{y}; data requests so far: {:?})",
                    opts.timeout, outcome.requested_targets
                )
            })?;
            let status_action = if version >= 2 {
                self.action_name(status[4])
            } else {
                None
            };
            let st = XdndStatus {
                accepted: status[1] & 1 == 1,
                action: status_action,
            };
            outcome.accepted_on_position = st.accepted;
            outcome.status_action = st.action.clone();
            outcome.statuses.push(st);
            sleep(opts.step_pause);
        }

        if !drop_at_end || !(outcome.accepted_on_position || opts.force_drop) {
            self.send_xdnd(target, "XdndLeave", [id, 0, 0, 0, 0])?;
            source.open_on = None;
            return Ok(outcome);
        }

        let time = self.server_time(id, &payload, &mut outcome, opts.timeout)?;
        self.send_xdnd(target, "XdndDrop", [id, 0, time, 0, 0])?;
        source.open_on = None;
        outcome.dropped = true;
        let finished_atom = self.atom("XdndFinished")?;
        let finished = self
            .pump(&payload, &mut outcome, opts.timeout, |ev| match ev {
                Event::ClientMessage(cm)
                    if cm.window == id
                        && cm.type_ == finished_atom
                        && cm.format == 32
                        && cm.data.as_data32()[0] == target =>
                {
                    Some(cm.data.as_data32())
                }
                _ => None,
            })
            .map_err(|_| {
                format!(
                    "XDND: timed out after {:?} waiting for XdndFinished from 0x{target:x} \
                     (data requests: {:?})",
                    opts.timeout, outcome.requested_targets
                )
            })?;
        outcome.finished = true;
        if version >= 5 {
            outcome.finished_accepted = finished[1] & 1 == 1;
            outcome.finished_action = self.action_name(finished[2]);
        } else {
            // Before version 5 XdndFinished carries no verdict.
            outcome.finished_accepted = true;
        }
        Ok(outcome)
    }

    /// An action atom's name, with 0 and the atom named "None" as `None`.
    fn action_name(&self, atom: u32) -> Option<String> {
        self.atom_name(atom).filter(|n| n != "None")
    }

    /// Sends an XDND client message (format 32) to `target`.
    fn send_xdnd(&self, target: u32, kind: &str, data: [u32; 5]) -> Result<(), String> {
        let type_ = self.atom(kind)?;
        let event = ClientMessageEvent::new(32, target, type_, data);
        self.conn
            .send_event(false, target, EventMask::NO_EVENT, event)
            .ctx(&format!("sending {kind}"))?;
        self.conn.flush().ctx("flush")
    }

    /// A current server timestamp, from the PropertyNotify of an empty append
    /// to the source window.
    fn server_time(
        &self,
        source: u32,
        payload: &Payload,
        outcome: &mut DragOutcome,
        timeout: Duration,
    ) -> Result<u32, String> {
        let prop = self.atom("_WASP_TEST_TIMESTAMP")?;
        self.conn
            .change_property8(PropMode::APPEND, source, prop, AtomEnum::STRING, &[])
            .ctx("ChangeProperty (timestamp)")?;
        self.pump(payload, outcome, timeout, |ev| match ev {
            Event::PropertyNotify(p) if p.window == source && p.atom == prop => Some(p.time),
            _ => None,
        })
        .map_err(|_| "XDND: timed out waiting for a PropertyNotify timestamp".to_string())
    }

    /// Handles events until `want` picks one, serving selection requests for
    /// the drag data meanwhile. Other events are dropped.
    fn pump<T>(
        &self,
        payload: &Payload,
        outcome: &mut DragOutcome,
        timeout: Duration,
        mut want: impl FnMut(&Event) -> Option<T>,
    ) -> Result<T, ()> {
        let deadline = Instant::now() + timeout;
        self.conn.flush().map_err(|_| ())?;
        loop {
            while let Some(ev) = self.conn.poll_for_event().map_err(|_| ())? {
                if let Event::SelectionRequest(req) = &ev {
                    outcome.requested_targets.push(
                        self.atom_name(req.target)
                            .unwrap_or_else(|| format!("#{}", req.target)),
                    );
                    self.serve_selection(req, payload).map_err(|_| ())?;
                    continue;
                }
                if let Some(v) = want(&ev) {
                    return Ok(v);
                }
            }
            if Instant::now() >= deadline {
                return Err(());
            }
            sleep(POLL_PAUSE);
        }
    }

    /// Answers a SelectionRequest: `text/uri-list`, plain-text fallbacks, or
    /// `TARGETS`. Anything else is refused (property None).
    fn serve_selection(
        &self,
        req: &SelectionRequestEvent,
        payload: &Payload,
    ) -> Result<(), String> {
        // ICCCM: a property of None (obsolete requestors) means "use the target".
        let property = if req.property == NONE {
            req.target
        } else {
            req.property
        };
        let name = self.atom_name(req.target).unwrap_or_default();
        let served = match name.as_str() {
            "text/uri-list" => {
                self.conn
                    .change_property8(
                        PropMode::REPLACE,
                        req.requestor,
                        property,
                        req.target,
                        &payload.uri_list,
                    )
                    .ctx("setting text/uri-list")?;
                true
            }
            "text/plain" | "text/plain;charset=utf-8" | "UTF8_STRING" | "STRING" | "TEXT" => {
                let type_ = if name == "TEXT" {
                    self.atom("UTF8_STRING")?
                } else {
                    req.target
                };
                self.conn
                    .change_property8(
                        PropMode::REPLACE,
                        req.requestor,
                        property,
                        type_,
                        &payload.plain,
                    )
                    .ctx("setting text/plain")?;
                true
            }
            "TARGETS" => {
                let mut targets = payload.offered.clone();
                targets.push(req.target);
                self.conn
                    .change_property32(
                        PropMode::REPLACE,
                        req.requestor,
                        property,
                        AtomEnum::ATOM,
                        &targets,
                    )
                    .ctx("setting TARGETS")?;
                true
            }
            _ => false,
        };
        let notify = SelectionNotifyEvent {
            response_type: xproto::SELECTION_NOTIFY_EVENT,
            sequence: 0,
            // Must echo the request's time: baseview drops a notify whose time
            // differs from the position timestamp it requested with.
            time: req.time,
            requestor: req.requestor,
            selection: req.selection,
            target: req.target,
            property: if served { property } else { NONE },
        };
        self.conn
            .send_event(false, req.requestor, EventMask::NO_EVENT, notify)
            .ctx("sending SelectionNotify")?;
        self.conn.flush().ctx("flush")
    }

    // ------------------------------------------------------------ XTEST input

    fn fake(&self, kind: u8, detail: u8, x: i16, y: i16) -> Result<(), String> {
        if !self.has_xtest {
            return Err("X11: the server has no XTEST extension".into());
        }
        self.conn
            .xtest_fake_input(kind, detail, CURRENT_TIME, self.root, x, y, 0)
            .ctx("XTestFakeInput")?
            .check()
            .ctx("XTestFakeInput")
    }

    /// Moves the pointer to (`x`, `y`) of `window`.
    ///
    /// Fails, without moving, when that point is outside `window` or covered
    /// by another window (see [`X::raise`]), since the events would go
    /// elsewhere.
    pub fn move_pointer(&self, window: u32, x: i16, y: i16) -> Result<(), String> {
        let (rx, ry) = self.to_root(window, x, y)?;
        let path = self.windows_at(rx, ry)?;
        if !path.contains(&window) {
            return Err(format!(
                "X11: point ({x},{y}) of window 0x{window:x} is not in that window on \
                 screen; the pointer would land in 0x{:x} (raise the window, or keep the \
                 point inside it)",
                path.last().copied().unwrap_or(self.root)
            ));
        }
        self.fake(xproto::MOTION_NOTIFY_EVENT, 0, rx, ry)?;
        sleep(INPUT_PAUSE);
        Ok(())
    }

    /// Presses or releases pointer `button` (1 left, 2 middle, 3 right, 4/5
    /// wheel up/down, 6/7 wheel left/right) where the pointer is.
    pub fn button(&self, button: u8, press: bool) -> Result<(), String> {
        let kind = if press {
            xproto::BUTTON_PRESS_EVENT
        } else {
            xproto::BUTTON_RELEASE_EVENT
        };
        self.fake(kind, button, 0, 0)?;
        sleep(INPUT_PAUSE);
        Ok(())
    }

    /// Moves to (`x`, `y`) of `window` and clicks button 1.
    pub fn click(&self, window: u32, x: i16, y: i16) -> Result<(), String> {
        self.click_button(window, x, y, 1)
    }

    /// Moves to (`x`, `y`) of `window` and clicks `button`.
    pub fn click_button(&self, window: u32, x: i16, y: i16, button: u8) -> Result<(), String> {
        self.move_pointer(window, x, y)?;
        self.button(button, true)?;
        self.button(button, false)
    }

    /// Presses button 1 at `from`, moves to `to` in `steps` steps, releases.
    /// Points are relative to `window`.
    pub fn drag_pointer(
        &self,
        window: u32,
        from: (i16, i16),
        to: (i16, i16),
        steps: u16,
    ) -> Result<(), String> {
        self.move_pointer(window, from.0, from.1)?;
        self.button(1, true)?;
        let steps = i32::from(steps.max(1));
        for i in 1..=steps {
            let lerp = |a: i16, b: i16| {
                let v = i32::from(a) + (i32::from(b) - i32::from(a)) * i / steps;
                // Between two i16 values, so it fits.
                v as i16
            };
            self.move_pointer(window, lerp(from.0, to.0), lerp(from.1, to.1))?;
        }
        self.button(1, false)
    }

    /// Moves to (`x`, `y`) of `window` and turns the wheel: positive
    /// `notches` scroll up (button 4), negative scroll down (button 5).
    pub fn scroll(&self, window: u32, x: i16, y: i16, notches: i32) -> Result<(), String> {
        self.move_pointer(window, x, y)?;
        let button = if notches > 0 { 4 } else { 5 };
        for _ in 0..notches.unsigned_abs() {
            self.button(button, true)?;
            self.button(button, false)?;
        }
        Ok(())
    }

    /// Gives `window` the keyboard focus.
    pub fn focus(&self, window: u32) -> Result<(), String> {
        self.conn
            .set_input_focus(xproto::InputFocus::PARENT, window, CURRENT_TIME)
            .ctx("SetInputFocus")?
            .check()
            .ctx("SetInputFocus")?;
        sleep(INPUT_PAUSE);
        Ok(())
    }

    /// The keycode for `keysym`, and whether it needs Shift. Only looks at
    /// the first two keysyms of each keycode (unshifted and shifted).
    fn keycode_for(&self, keysym: u32) -> Result<(u8, bool), String> {
        let setup = self.conn.setup();
        let (min, max) = (setup.min_keycode, setup.max_keycode);
        let map = self
            .conn
            .get_keyboard_mapping(min, max - min + 1)
            .ctx("GetKeyboardMapping")?
            .reply()
            .ctx("GetKeyboardMapping")?;
        let per = usize::from(map.keysyms_per_keycode).max(1);
        for (i, syms) in map.keysyms.chunks(per).enumerate() {
            // There are at most 256 keycodes, so `i` fits after the offset.
            let code = min.wrapping_add(i as u8);
            if syms.first() == Some(&keysym) {
                return Ok((code, false));
            }
            if syms.get(1) == Some(&keysym) {
                return Ok((code, true));
            }
        }
        Err(format!("X11: no keycode produces keysym 0x{keysym:x}"))
    }

    /// Presses and releases the key for `keysym` (e.g. 0xff0d Return,
    /// 0xff08 BackSpace, 0xff1b Escape), holding Shift when needed.
    pub fn key_tap(&self, keysym: u32) -> Result<(), String> {
        let (code, shift) = self.keycode_for(keysym)?;
        let shift_code = if shift {
            Some(self.keycode_for(0xffe1)?.0)
        } else {
            None
        };
        if let Some(s) = shift_code {
            self.fake(xproto::KEY_PRESS_EVENT, s, 0, 0)?;
        }
        self.fake(xproto::KEY_PRESS_EVENT, code, 0, 0)?;
        sleep(INPUT_PAUSE);
        self.fake(xproto::KEY_RELEASE_EVENT, code, 0, 0)?;
        if let Some(s) = shift_code {
            self.fake(xproto::KEY_RELEASE_EVENT, s, 0, 0)?;
        }
        sleep(INPUT_PAUSE);
        Ok(())
    }

    /// Types `text` into the focused window, one key at a time. Characters
    /// missing from the server's keymap give an error.
    pub fn key_type(&self, text: &str) -> Result<(), String> {
        for c in text.chars() {
            let cp = u32::from(c);
            let keysym = match c {
                '\n' | '\r' => 0xff0d,
                '\t' => 0xff09,
                '\u{8}' => 0xff08,
                _ if (0x20..=0x7e).contains(&cp) || (0xa0..=0xff).contains(&cp) => cp,
                _ => 0x0100_0000 | cp,
            };
            self.key_tap(keysym)?;
        }
        Ok(())
    }
}
