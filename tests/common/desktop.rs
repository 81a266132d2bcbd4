//! A private X server for editor tests, and OCR to read what the editor drew.
//!
//! [`Xvfb::start`] runs `Xvfb` (with Mesa's software OpenGL, as on a machine without a GPU) on
//! a display number of its own and points `$DISPLAY` at it. [`read_words`] runs `tesseract` on a
//! screenshot and returns the words it found with their positions, so a test can both check
//! what the window shows and click on a label the way a user would.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::x11::Image;

/// A running `Xvfb`. It lives until the test process exits, not until this is dropped: Xlib
/// connections that libraries (Mesa, baseview) keep open to the end would otherwise see the
/// server vanish while the process shuts down, and Xlib's I/O error handler calls `exit()` from
/// whatever thread notices, racing the real exit.
pub struct Xvfb {
    pub display: String,
}

impl Xvfb {
    /// Starts `Xvfb` and sets `$DISPLAY` for this process. Call it before anything connects
    /// to X, from the only test of its test binary (the variable is process-wide).
    pub fn start() -> Result<Self, String> {
        let base = 40 + std::process::id() % 400;
        for n in base..base + 20 {
            if Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                || Path::new(&format!("/tmp/.X{n}-lock")).exists()
            {
                continue;
            }
            let pid = spawn_owned(n)?;
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if socket.exists() {
                    let display = format!(":{n}");
                    std::env::set_var("DISPLAY", &display);
                    // Software rendering, whatever the machine has.
                    std::env::set_var("LIBGL_ALWAYS_SOFTWARE", "1");
                    return Ok(Self { display });
                }
                // SAFETY: signal 0 only checks that the process exists.
                if unsafe { libc::kill(pid as i32, 0) } != 0 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Err("Xvfb did not start on any display number tried".into())
    }

    /// True if the `Xvfb` program is installed.
    pub fn available() -> bool {
        Command::new("Xvfb")
            .arg("-help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    }
}

/// Starts `Xvfb :n` from a thread that never ends, asking the kernel to kill it when that
/// thread's process exits (`PR_SET_PDEATHSIG` fires when the spawning thread dies, so it must
/// be one that lives as long as the process).
fn spawn_owned(n: u32) -> Result<u32, String> {
    use std::os::unix::process::CommandExt;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("xvfb-owner".into())
        .spawn(move || {
            let mut command = Command::new("Xvfb");
            command
                .args([
                    &format!(":{n}"),
                    "-screen",
                    "0",
                    "1280x1024x24",
                    "-nolisten",
                    "tcp",
                    "-noreset",
                    "+extension",
                    "GLX",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // SAFETY: `prctl` is async-signal-safe, as code between fork and exec must be.
            unsafe {
                command.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            let child = command.spawn();
            let _ = tx.send(child.as_ref().map(|c| c.id()).map_err(|e| e.to_string()));
            loop {
                std::thread::park();
            }
        })
        .map_err(|e| e.to_string())?;
    rx.recv().map_err(|e| e.to_string())?.map_err(|e| {
        format!(
            "cannot start Xvfb ({e}); the editor tests need it: \
             apt-get install xvfb libgl1-mesa-dri tesseract-ocr"
        )
    })
}

/// A word tesseract read, in the screenshot's pixel coordinates.
#[derive(Debug, Clone)]
pub struct Word {
    pub text: String,
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
    pub confidence: f32,
}

impl Word {
    pub fn centre(&self) -> (i16, i16) {
        (
            (self.x + self.width / 2) as i16,
            (self.y + self.height / 2) as i16,
        )
    }
}

/// Letters and digits only, lower case: what OCR comparisons look at.
pub fn fold(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Runs tesseract over `image` (scaled up three times, which helps with small UI text; page
/// segmentation 12, sparse text, which also reads text inside framed boxes) and
/// returns the words with their boxes scaled back to `image`'s pixels.
pub fn read_words(image: &Image, scratch: &Path) -> Result<Vec<Word>, String> {
    const SCALE: u32 = 3;
    let big = image.scaled(SCALE);
    let input = scratch.with_extension("ppm");
    big.write_ppm(&input)?;
    // Sparse text (mode 12) reads a whole editor best, but its orientation check gives up on
    // a frame with little text (a veiled window showing one message): read that as one block.
    let words = tesseract(&input, "12")?;
    if words.len() >= 3 {
        return Ok(words);
    }
    tesseract(&input, "6")
}

/// Runs tesseract in page segmentation mode `psm` and parses its words.
fn tesseract(input: &Path, psm: &str) -> Result<Vec<Word>, String> {
    const SCALE: u32 = 3;
    let output = Command::new("tesseract")
        .arg(input)
        .arg("stdout")
        .args(["--psm", psm, "tsv"])
        .output()
        .map_err(|e| format!("cannot run tesseract ({e}): apt-get install tesseract-ocr"))?;
    if !output.status.success() {
        return Err(format!(
            "tesseract failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let tsv = String::from_utf8_lossy(&output.stdout);
    let mut words = Vec::new();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 12 || cols[11].trim().is_empty() {
            continue;
        }
        let num = |i: usize| cols[i].parse::<i32>().unwrap_or(0) / SCALE as i32;
        words.push(Word {
            text: cols[11].trim().to_string(),
            x: num(6),
            y: num(7),
            width: num(8),
            height: num(9),
            confidence: cols[10].parse().unwrap_or(0.0),
        });
    }
    Ok(words)
}

/// All words joined, folded: for "does the window show X" checks.
pub fn folded_text(words: &[Word]) -> String {
    words.iter().map(|w| fold(&w.text)).collect()
}

/// The word that reads as `label` (folded), the topmost if several do; failing that, the
/// topmost word that starts with it.
pub fn find_word<'a>(words: &'a [Word], label: &str) -> Option<&'a Word> {
    let label = fold(label);
    let topmost = |pick: &dyn Fn(&String) -> bool| {
        words
            .iter()
            .filter(|w| pick(&fold(&w.text)))
            .min_by_key(|w| (w.y, w.x))
    };
    topmost(&|t| *t == label).or_else(|| topmost(&|t| t.starts_with(&label)))
}

/// Screenshots `window` until it shows a drawn frame (more than 20 colours) or `timeout`
/// passes; returns the last screenshot either way.
pub fn poll_frame(x: &super::x11::X, window: u32, timeout: Duration) -> Image {
    let deadline = Instant::now() + timeout;
    loop {
        let image = x.screenshot(window).expect("screenshot");
        if image.distinct_colours() > 20 || Instant::now() > deadline {
            return image;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
