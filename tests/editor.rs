//! The editor in a real window: a private Xvfb with Mesa's software OpenGL, the built plugin
//! loaded through a CLAP host (`clack-host`) that embeds the editor in an X11 window of its
//! own, files dropped on it by a real XDND drag source, and clicks sent through the XTEST
//! extension. What the window shows is read back with OCR (tesseract).
//!
//! Everything runs in one test, in order, because `$DISPLAY`, the pointer and the X
//! selection are process-wide.

#[path = "common/clap_host.rs"]
mod clap_host;
mod common;
#[path = "common/desktop.rs"]
mod desktop;
#[path = "common/x11.rs"]
mod x11;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap_host::{ParamOutput, TestHost};
use desktop::{find_word, fold, folded_text, read_words, Word, Xvfb};
use x11::{file_uri, Image, X};

const PLUGIN_ID: &str = "dev.wasp-audio.wasp";
const SIZE: (u16, u16) = (720, 520);
const BLOCK: usize = 512;

/// The DC response of gain.wat: 0.5 at -6 dB, 0.5 * 10^(-6/20).
fn is_gain(y: f32) -> bool {
    (y - 0.2506).abs() < 1e-3
}

/// The DC response of onepole.wat once settled: a low-pass passes DC.
fn is_settled_low_pass(y: f32) -> bool {
    (y - 0.5).abs() < 0.01
}

/// The editor of one plugin instance, embedded in a parent window, with the ways to look at it.
struct Session {
    // Field order is drop order: the host closes the editor before the parent goes away.
    host: TestHost,
    /// Owns the host's parent window: it goes when this connection closes.
    x: X,
    editor: u32,
    scratch: PathBuf,
}

impl Session {
    fn open(scratch: &Path) -> Self {
        let x = X::connect().expect("connect to Xvfb");
        let parent = x
            .create_parent_window(SIZE.0, SIZE.1)
            .expect("create the host's window");
        x.sync().unwrap();
        let mut host = TestHost::new(clap_host::cdylib_path("wasp"), PLUGIN_ID).unwrap();
        host.activate(48_000.0, BLOCK as u32);
        assert!(host.has_editor(), "the plugin offers no CLAP gui extension");
        let (w, h) = host
            .open_editor(parent as u64)
            .expect("the editor opens in the host's window");
        assert!(w >= 560 && h >= 400, "editor size {w}x{h}");
        let editor = x
            .wait_xdnd_target(parent, Duration::from_secs(5))
            .expect("the editor window appears inside the parent and takes drops");
        x.wait_viewable(editor, Duration::from_secs(5)).unwrap();
        Self {
            host,
            x,
            editor,
            scratch: scratch.to_path_buf(),
        }
    }

    /// Runs a block of DC input through the plugin and returns the last output sample.
    fn dc_response(&mut self, level: f32) -> f32 {
        let input = vec![level; BLOCK];
        let (left, _) = self.host.process_stereo(&input, &input);
        self.host.call_on_main_thread_callback();
        *left.last().unwrap()
    }

    /// Processes until `ok` holds for the DC response, or panics after a few seconds.
    fn wait_for_output(&mut self, what: &str, ok: impl Fn(f32) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = f32::NAN;
        while Instant::now() < deadline {
            // Several blocks so filters settle before judging.
            for _ in 0..8 {
                last = self.dc_response(0.5);
            }
            if ok(last) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("{what}: the output for a DC input of 0.5 is still {last}");
    }

    fn screenshot(&self) -> Image {
        self.x.screenshot(self.editor).expect("screenshot")
    }

    /// Waits until OCR finds every word of `wanted` on the screen; returns the words read.
    fn wait_for_text(&mut self, wanted: &[&str]) -> Vec<Word> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut seen = String::new();
        let mut n = 0;
        while Instant::now() < deadline {
            // Keep the audio thread going, as a host would, so commits happen.
            self.dc_response(0.5);
            let image = self.screenshot();
            n += 1;
            let words = read_words(&image, &self.scratch.join(format!("ocr{n}"))).unwrap();
            seen = folded_text(&words);
            if wanted.iter().all(|w| seen.contains(&fold(w))) {
                return words;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.screenshot().write_ppm(self.scratch.join("last.ppm"));
        panic!("the editor never showed {wanted:?}; OCR read: {seen}");
    }

    /// Drags `file` onto the editor through XDND, hovering at each point of `path` in turn and
    /// dropping at the last if the editor accepts it.
    fn drop_file(&self, file: &Path, path: &[(i16, i16)]) -> x11::DragOutcome {
        let _input = x11::input_lock();
        self.x
            .drag_files_path(self.editor, &[file_uri(file)], path)
            .unwrap_or_else(|e| panic!("dragging {}: {e}", file.display()))
    }

    /// Hovers `file` over the editor from another thread (a slow drag that never drops) and
    /// waits for OCR to find `wanted` on the screen meanwhile.
    fn hover_shows(&mut self, file: &Path, wanted: &[&str]) {
        let uri = file_uri(file);
        let target = self.editor;
        let dragger = std::thread::spawn(move || {
            let x = X::connect().expect("second X connection");
            let options = x11::DragOptions {
                step_pause: Duration::from_secs(4),
                ..Default::default()
            };
            x.drag_files_and_leave_with(target, &[uri], &[(300, 250), (310, 255)], &options)
        });
        self.wait_for_text(wanted);
        let outcome = dragger.join().unwrap().expect("hover");
        assert!(!outcome.dropped);
    }

    /// Clicks the first word starting with `label` that OCR finds.
    fn click_word(&mut self, label: &str) {
        let words = self.wait_for_text(&[label]);
        let word = find_word(&words, label)
            .unwrap_or_else(|| panic!("no word starting with {label:?} in {words:?}"));
        let (x, y) = word.centre();
        let _input = x11::input_lock();
        self.x.click(self.editor, x, y).expect("click");
        // Park the pointer in an empty corner so hover highlights do not hide labels from OCR.
        self.x
            .move_pointer(self.editor, SIZE.0 as i16 - 4, SIZE.1 as i16 - 4)
            .expect("move the pointer away");
    }
}

#[test]
fn editor_draws_takes_drops_and_swaps_from_clicks() {
    if !Xvfb::available() {
        // Not silently green: say loudly what is missing. CI installs it.
        eprintln!(
            "SKIPPED: Xvfb is not installed (apt-get install xvfb libgl1-mesa-dri tesseract-ocr)"
        );
        return;
    }
    let _server = Xvfb::start().expect("start Xvfb");
    let scratch = std::env::temp_dir().join(format!("wasp-editor-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    // A folder a musician might keep modules in: three modules and a stray text file.
    for name in ["gain.wat", "onepole.wat", "sine.wat"] {
        std::fs::copy(common::example(name), scratch.join(name)).unwrap();
    }
    std::fs::write(scratch.join("notes.txt"), "not a module\n").unwrap();
    let mut s = Session::open(&scratch);

    // 1. A drawn frame that shows the running module: the built-in pass-through.
    s.wait_for_output("the default module passes audio through", |y| {
        (y - 0.5).abs() < 1e-6
    });
    s.wait_for_text(&["Pass-through", "Load"]);
    let frame = s.screenshot();
    assert!(!frame.is_uniform(), "the editor window is a solid colour");
    assert!(
        frame.distinct_colours() > 20,
        "the editor drew only {} colours",
        frame.distinct_colours()
    );

    // The host resizes the editor; the new size is saved with the plugin and a new instance
    // restored from that state opens at it.
    let applied = s
        .host
        .set_editor_size(800, 600)
        .expect("the host resizes the editor");
    assert_eq!(applied, (800, 600));
    let mut restored = TestHost::new(clap_host::cdylib_path("wasp"), PLUGIN_ID).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        restored.load_state(&s.host.save_state()).unwrap();
        let size = restored.editor_size();
        if size == Some((800, 600)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a restored instance opens its editor at {size:?}, not the saved 800x600"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(restored);
    s.host
        .set_editor_size(SIZE.0 as u32, SIZE.1 as u32)
        .unwrap();

    // 2. While a file hovers, the drop zone lights up and says what a drop would do.
    s.hover_shows(&scratch.join("notes.txt"), &["is not a wasm"]);
    s.hover_shows(&scratch.join("gain.wat"), &["Drop to load"]);

    // 2b. Drop a .wat file: accepted, loaded, and the status says so.
    let gain = scratch.join("gain.wat");
    let dropped = s.drop_file(&gain, &[(200, 200), (360, 260)]);
    assert!(
        dropped.accepted_on_position,
        "the editor refused gain.wat: {dropped:?}"
    );
    assert!(
        dropped.completed(),
        "the drop of gain.wat did not complete: {dropped:?}"
    );
    s.wait_for_output("gain.wat is running", is_gain);
    s.wait_for_text(&["Gain", "Committed"]);
    let state_before = s.host.save_state();

    // 3. Drop a .txt file: refused while hovering (the source shows "no"), nothing changes.
    let notes = scratch.join("notes.txt");
    let refused = s.drop_file(&notes, &[(200, 200), (360, 260)]);
    assert!(
        !refused.accepted_on_position && !refused.dropped,
        "the editor accepted notes.txt: {refused:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    s.wait_for_output("gain.wat keeps playing after the refused drop", is_gain);
    assert_eq!(
        s.host.save_state(),
        state_before,
        "a refused drop changed the saved state"
    );

    // 4. Load… opens a file browser in the module's folder; pick onepole.wat and open it.
    s.click_word("Load");
    s.click_word("onepole.wat");
    s.click_word("Open");
    // A one-pole low-pass settles at the DC input.
    s.wait_for_output("onepole.wat is running after Load…", is_settled_low_pass);
    s.wait_for_text(&["One-pole"]);

    // 5. Recent modules: click gain.wat to go back to it.
    s.click_word("gain.wat");
    s.wait_for_output(
        "gain.wat is running after a click on it in the recent list",
        is_gain,
    );

    // 6. A/B: one click switches to the other of the last two modules.
    s.click_word("Compare");
    s.wait_for_output("A/B switched to onepole.wat", is_settled_low_pass);
    s.click_word("Compare");
    s.wait_for_output("A/B switched back to gain.wat", is_gain);
    // The editor records the recent modules when it shows a commit; once it shows gain.wat's
    // name, the state holds the final order.
    s.wait_for_text(&["Gain"]);
    let state_after_ab = s.host.save_state();

    // 7. A broken module is accepted as a file but refused as a module: the error shows in
    //    full, the editor says what is still playing, and the sound and state are unchanged.
    std::fs::copy(
        common::root().join("tests/bad_modules/missing_dsp.wat"),
        scratch.join("missing_dsp.wat"),
    )
    .unwrap();
    let bad = s.drop_file(&scratch.join("missing_dsp.wat"), &[(300, 250)]);
    assert!(bad.completed(), "{bad:?}");
    s.wait_for_text(&["last load failed", "dsp", "still playing"]);
    s.wait_for_output("gain.wat keeps playing after a broken module", is_gain);
    assert_eq!(
        s.host.save_state(),
        state_after_ab,
        "a broken module changed the saved state"
    );

    // 8. A module with a parameter gets a slider; a click near the left end of its rail sets
    //    the level near -60 dB and the module follows. The slider is a host parameter: the
    //    host receives the change as one gesture (begin, values, end) on the "Level" slot.
    std::fs::copy(common::example("volume.wat"), scratch.join("volume.wat")).unwrap();
    let volume = s.drop_file(&scratch.join("volume.wat"), &[(300, 250)]);
    assert!(volume.completed(), "{volume:?}");
    s.wait_for_output("volume.wat at 0 dB", |y| (y - 0.5).abs() < 1e-3);
    let words = s.wait_for_text(&["Volume", "Level", "dB"]);
    // The Module panel says which entry point plays it.
    s.wait_for_text(&["Runs", "sample"]);
    let label = find_word(&words, "Level").unwrap().clone();
    let level_id = s.host.param_id("Level").expect("Level is a host parameter");
    s.host.take_param_output();
    {
        let _input = x11::input_lock();
        let y = label.centre().1;
        // One parameter: one column, the width of the panel (the window less 10 px margins,
        // less 16 for the scroll bar). Its label takes 32 %, then a 10 px gap, then the rail;
        // aim just inside it, and hold the button for a few frames so the slider sees it
        // down even on a slow machine.
        let column = f32::from(SIZE.0) - 20.0 - 16.0;
        let rail = 10.0 + column * 0.32 + 10.0;
        s.x.move_pointer(s.editor, (rail + 6.0) as i16, y)
            .expect("point at the slider");
        s.x.button(1, true).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        s.x.button(1, false).unwrap();
    }
    s.wait_for_output("the level slider turned the volume down", |y| {
        y.abs() < 0.01
    });
    // The output can fall while the button is still down; the gesture's end reaches the host
    // once the editor has handled the release, a frame or more later.
    let mut sent = s.host.take_param_output();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sent.contains(&ParamOutput::End(level_id)) && Instant::now() < deadline {
        s.dc_response(0.5);
        std::thread::sleep(Duration::from_millis(20));
        sent.extend(s.host.take_param_output());
    }
    let begin = sent.iter().position(|e| *e == ParamOutput::Begin(level_id));
    let end = sent.iter().rposition(|e| *e == ParamOutput::End(level_id));
    let value = sent
        .iter()
        .rposition(|e| matches!(e, ParamOutput::Value(id, v) if *id == level_id && *v < 0.1));
    assert!(
        matches!((begin, value, end), (Some(b), Some(v), Some(e)) if b < v && v < e),
        "the host did not get one gesture on Level: {sent:?}"
    );

    // What the editor looks like now (the source of docs/editor.png).
    s.screenshot()
        .write_ppm(common::root().join("target/editor-screenshot.ppm"))
        .unwrap();

    // 9. The built-in library: "Library" lists the modules that ship inside the plugin; a
    //    click on Utility loads it, and at its defaults it passes the input unchanged.
    s.click_word("Library");
    s.wait_for_text(&["Tape", "Compressor", "Saturator", "Poly"]);
    s.click_word("Utility");
    s.wait_for_output("Utility from the library passes the input", |y| {
        (y - 0.5).abs() < 1e-3
    });
    s.wait_for_text(&["Utility", "Width", "Balance"]);
    // A second pick from the library replaces it: Auto-pan, a Faust program.
    s.click_word("Library");
    s.click_word("Auto");
    s.wait_for_text(&["Autopan", "Rate", "Depth"]);
    drop(s);
    let _ = std::fs::remove_dir_all(&scratch);
}
