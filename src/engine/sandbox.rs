//! The sandbox's limits: time (epoch ticks and deadlines), memory, tables, stack, module size,
//! and the policing of what a module outputs.
//!
//! # Time
//!
//! Every call into a module runs under a wasmtime epoch deadline. A ticker thread per
//! [`Runtime`](super::Runtime) (the plugin shares one runtime across the process) advances the
//! engine's epoch by one for every [`TICK`] of wall time that has passed: it counts elapsed
//! time, not wake-ups, so a late wake-up does not lengthen every deadline. It wakes up only as
//! often as the shortest budget needs: no call on a runtime can have a budget shorter than its
//! [`RuntimeOptions::min_block_budget`](super::RuntimeOptions), so the ticker wakes every eighth
//! of that ([`tick_period`]; 2.5 ms for the plugin's 20 ms). The epoch is credited once per
//! wake-up, so it lags the clock; the ticker publishes the moment it last credited
//! ([`Credit`]) and every deadline adds the lag at the time it is set, so a healthy call is
//! never stopped early, and a runaway one is stopped at most a period (plus the wake-up's own
//! lateness) after its deadline. Where the system allows it (Linux, with the right to use real-time
//! scheduling), the ticker runs at the highest `SCHED_FIFO` priority, so a host audio thread
//! spinning in a runaway module at real-time priority cannot starve it.
//!
//! Each block gets one budget, [`BLOCK_BUDGET`] times its real-time duration and at least
//! [`MIN_BLOCK_BUDGET`], as a [`Deadline`] on the monotonic clock. Every call the block makes
//! (parameter changes, both sides of a crossfade, the re-run after a rollback) shares it. An
//! offline render gets [`OFFLINE_BLOCK_BUDGET`] per block instead: slow modules finish, endless
//! loops are still stopped. Loading (start function, `wasp_init`) gets [`LOAD_BUDGET`]. An
//! interrupted call traps with [`TrapKind::Timeout`](super::TrapKind).
//!
//! # Memory
//!
//! All of a module's memories together may hold at most [`MEMORY_CAP`] bytes, and all its
//! tables together [`TABLE_CAP`] elements; a module may declare at most [`MAX_MEMORIES`]
//! memories and [`MAX_TABLES`] tables. Every instance of one plugin draws from one
//! [`MemoryAccount`] of [`PLUGIN_MEMORY_CAP`]: room for two instances at the cap, the running one
//! and the one kept for a second after a swap for rollback.
//!
//! A module may grow its memory while it is being loaded (start function and `wasp_init`, on the
//! worker). Once it is processing audio, `memory.grow` and `table.grow` fail (return -1)
//! instead of growing: growing would map memory on the audio thread.
//!
//! # Stack
//!
//! WebAssembly runs on the host's audio thread stack. [`WASM_STACK`] bounds how much of it a
//! module may use; deeper recursion traps with `StackOverflow` instead of overflowing the
//! host's stack. Together with Wasp's own frames, a host audio thread needs about
//! `WASM_STACK` + 64 KiB of free stack, far below any platform's default thread stack.
//!
//! # Output
//!
//! Whatever a module returns, the plugin outputs finite samples within ±[`OUTPUT_CEILING`]:
//! NaN and infinity become silence, subnormals become zero, larger samples are clamped. Each
//! correction is counted.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wasmtime::Engine;

use super::stop::{since_base, Watches};

/// How often the epoch ticker advances the engine's epoch.
pub const TICK: Duration = Duration::from_millis(1);
/// A block's time budget, in multiples of the block's real-time duration.
pub const BLOCK_BUDGET: f32 = 2.0;
/// The smallest time budget of any block.
pub const MIN_BLOCK_BUDGET: Duration = Duration::from_millis(20);
/// A block's time budget while the host renders offline (faster or slower than real time): long
/// enough for any module that finishes, short enough that an endless loop ends the render's
/// wait.
pub const OFFLINE_BLOCK_BUDGET: Duration = Duration::from_secs(10);
/// Time a module may spend in its start function or in `wasp_init`.
pub const LOAD_BUDGET: Duration = Duration::from_secs(2);
/// Largest linear memory a module may have, all its memories together.
pub const MEMORY_CAP: u64 = 64 << 20;
/// The largest state of its own (`clap.state`) Wasp saves and loads for a WCLAP.
pub const CLAP_STATE_CAP: u32 = 256 * 1024;
/// Largest number of table elements a module may have, all its tables together.
pub const TABLE_CAP: usize = 10_000;
/// Most memories a module may declare.
pub const MAX_MEMORIES: usize = 4;
/// Most tables a module may declare.
pub const MAX_TABLES: usize = 4;
/// Memory of the block driver's I/O buffers at the largest block Wasp accepts (65,536 frames).
pub(crate) const DRIVER_IO_CAP: u64 = 4 * 4 * (1 << 16);
/// Linear memory all instances of one plugin may hold at once: two instances at the cap with
/// their I/O buffers and stop page (the running one, and the previous one during its second of
/// rollback).
pub const PLUGIN_MEMORY_CAP: u64 = 2 * (MEMORY_CAP + DRIVER_IO_CAP + super::stop::BYTES);
/// Largest module file Wasp loads. Larger modules would also bloat every saved project.
pub const MODULE_SIZE_CAP: usize = 16 << 20;
/// Stack a module may use, on top of the host thread's current depth.
pub const WASM_STACK: usize = 128 << 10;
/// Largest output sample magnitude (+12 dBFS); beyond it samples are clamped.
pub const OUTPUT_CEILING: f32 = 4.0;

/// Fuel (WebAssembly instructions, roughly; see docs/SANDBOX.md) that one second of time
/// budget buys a module on the interpreter, which counts fuel instead of watching the clock.
/// A little under what the interpreter burns in a second on the 2-core development machine
/// (1.2 billion, `cargo bench --bench backends -- fuel`), so a runaway module is stopped
/// within its time budget there and no healthy one is stopped on a machine somewhat slower.
pub const FUEL_PER_SECOND: u64 = 1_000_000_000;

/// The fuel a time budget buys (see [`FUEL_PER_SECOND`]).
pub fn fuel_for(budget: Duration) -> u64 {
    let fuel = budget.as_nanos() * u128::from(FUEL_PER_SECOND) / 1_000_000_000;
    u64::try_from(fuel).unwrap_or(u64::MAX)
}

/// The point on the monotonic clock by which every call of one block must have returned, and
/// the fuel the block's calls share on the interpreter: the same time budget, said twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    at: Instant,
    /// The budget, in nanoseconds: its fuel is worked out only where fuel is counted.
    budget_ns: u64,
}

impl Deadline {
    /// The deadline `budget` from now. Realtime-safe (reads the monotonic clock).
    #[inline]
    pub fn after(budget: Duration) -> Self {
        let now = Instant::now();
        Self {
            at: now.checked_add(budget).unwrap_or(now),
            budget_ns: u64::try_from(budget.as_nanos()).unwrap_or(u64::MAX),
        }
    }

    /// The moment of the deadline.
    #[inline]
    pub(crate) fn instant(self) -> Instant {
        self.at
    }

    /// The fuel of the whole budget: a machine that counts fuel gives it once per deadline,
    /// and the calls sharing the deadline share it.
    #[inline]
    pub(crate) fn fuel(self) -> u64 {
        fuel_for(Duration::from_nanos(self.budget_ns))
    }

    /// Time left until the deadline (zero once it has passed). Realtime-safe.
    #[inline]
    pub fn remaining(self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// Epoch ticks left until the deadline, plus one for the tick already under way; 0 once it
    /// has passed, so the next call is interrupted at its first check. Realtime-safe.
    #[inline]
    pub(crate) fn ticks_left(self) -> u64 {
        let left = self.remaining();
        if left.is_zero() {
            return 0;
        }
        ticks(left)
    }
}

/// How often the ticker of a runtime whose shortest budget is `shortest` wakes up: an eighth of
/// it, from one [`TICK`] to 10 ms.
pub(crate) fn tick_period(shortest: Duration) -> Duration {
    (shortest / 8).clamp(TICK, Duration::from_millis(10))
}

/// The moment the epoch stands for: the ticker credits elapsed milliseconds once per wake-up,
/// so between wake-ups the epoch lags the clock. Deadlines add the lag, so none is early.
#[derive(Debug)]
pub(crate) struct Credit {
    /// Nanoseconds from Wasp's fixed point on the clock (`stop::since_base`) to the moment
    /// the last credited tick stands for.
    at: AtomicU64,
    /// The ticker's period.
    period: Duration,
    /// Set while the ticker is quiet (not ticking): it will not catch up the time that passes,
    /// so the lag then counts as four periods at most, or a call made meanwhile would get a
    /// deadline as long as the quiet spell.
    quiet: AtomicBool,
}

impl Credit {
    fn new(period: Duration) -> Self {
        let credit = Self {
            at: AtomicU64::new(0),
            period,
            quiet: AtomicBool::new(false),
        };
        credit.set(Instant::now());
        credit
    }

    /// Records that the epoch now stands for `moment`. Called after the epoch was advanced, so
    /// a reader that sees the new moment also sees the new epoch (release, acquire).
    fn set(&self, moment: Instant) {
        let nanos = since_base(moment).as_nanos();
        self.at
            .store(u64::try_from(nanos).unwrap_or(u64::MAX), Ordering::Release);
    }

    /// Ticks the epoch lags the clock by now, rounded up. Realtime-safe (an atomic load and a
    /// clock read).
    #[inline]
    pub(crate) fn lag_ticks(&self) -> u64 {
        let at = self.at.load(Ordering::Acquire);
        let now = since_base(Instant::now()).as_nanos();
        let mut lag = u64::try_from(now).unwrap_or(u64::MAX).saturating_sub(at);
        if self.quiet.load(Ordering::Relaxed) {
            lag = lag.min(4 * self.period.as_nanos() as u64);
        }
        lag.div_ceil(TICK.as_nanos() as u64)
    }
}

/// `ticks` from now, plus the epoch's lag behind the clock (see [`Credit`]), so the deadline
/// is never early; 0 stays 0 (a deadline already passed). Realtime-safe.
#[inline]
pub(crate) fn with_lag(ticks: u64, credit: Option<&Credit>) -> u64 {
    match credit {
        Some(credit) if ticks > 0 => ticks + credit.lag_ticks(),
        _ => ticks,
    }
}

/// Whether `bytes` bytes at byte `at` lie inside a memory of `len` bytes.
pub(crate) fn fits(at: usize, bytes: usize, len: usize) -> bool {
    at.checked_add(bytes).is_some_and(|end| end <= len)
}

/// Epoch ticks for a deadline of `budget` from now.
pub(crate) fn ticks(budget: Duration) -> u64 {
    (budget.as_nanos() / TICK.as_nanos()) as u64 + 1
}

/// The time a block of `frames` at `sample_rate` may take: `factor` times its real-time
/// duration, at least `floor`.
#[inline]
pub(crate) fn block_budget(
    frames: usize,
    sample_rate: f32,
    factor: f32,
    floor: Duration,
) -> Duration {
    let block_ns = frames as f64 / sample_rate.max(1.0) as f64 * 1e9;
    let budget_ns = (factor as f64 * block_ns).max(floor.as_nanos() as f64);
    Duration::from_nanos(budget_ns.min(u64::MAX as f64) as u64)
}

/// Linear memory held by all instances of one plugin, against [`PLUGIN_MEMORY_CAP`]. Each
/// store's [`Limits`] adds what its memories grow by and gives it all back when it is dropped.
#[derive(Debug, Default)]
pub struct MemoryAccount {
    used: AtomicU64,
}

impl MemoryAccount {
    /// Bytes of linear memory held now.
    pub fn used(&self) -> u64 {
        // Relaxed: a count; nothing else is published through it.
        self.used.load(Ordering::Relaxed)
    }

    /// Takes `bytes` if they fit under the cap.
    fn take(&self, bytes: u64) -> bool {
        // Relaxed: the count is the only data; the update is one atomic step.
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|&n| n <= PLUGIN_MEMORY_CAP)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: u64) {
        // Relaxed: as in `take`.
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// Per-store host data: the resource limiter, and what the WASI stubs need (`wasi.rs`).
pub struct HostState {
    pub(crate) limits: Limits,
    pub(crate) wasi: WasiState,
}

impl HostState {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits,
            wasi: WasiState::default(),
        }
    }
}

/// Bytes of text a module may print (WASI's standard output and error) that Wasp keeps.
pub const TEXT_CAP: usize = 4096;

/// What the WASI stubs keep of one instance: the text it printed, and its random sequence.
#[derive(Debug)]
pub struct WasiState {
    /// What it printed, [`TEXT_CAP`] bytes at most; allocated once, never grown.
    pub text: Vec<u8>,
    /// Bytes printed past [`TEXT_CAP`], dropped.
    pub dropped: u64,
    pub random: u64,
}

impl Default for WasiState {
    fn default() -> Self {
        Self {
            text: Vec::with_capacity(TEXT_CAP),
            dropped: 0,
            random: 0x9E37_79B9_7F4A_7C15,
        }
    }
}

/// The store's resource limiter: caps memory and tables per instance and per plugin, and
/// refuses all growth once the instance is processing audio.
#[derive(Debug)]
pub(crate) struct Limits {
    /// Set when loading is done: from then on the instance runs on the audio thread.
    pub processing: bool,
    /// Set while Wasp's block driver is instantiated: its I/O memory counts against
    /// [`DRIVER_IO_CAP`], not against the module's cap.
    pub driver: bool,
    /// The module has Wasp's stop memory (see `stop.rs`), created with the module's own at
    /// instantiation, before any of its code runs: the module's cap makes room for its page.
    pub stop_page: bool,
    /// Bytes of the module's memories, all together.
    module_memory: u64,
    /// Bytes of the driver's I/O memory.
    driver_memory: u64,
    /// Elements of the module's tables, all together.
    table_elements: u64,
    account: Arc<MemoryAccount>,
}

impl Limits {
    pub fn new(account: Arc<MemoryAccount>) -> Self {
        Self {
            processing: false,
            driver: false,
            stop_page: false,
            module_memory: 0,
            driver_memory: 0,
            table_elements: 0,
            account,
        }
    }

    /// Bytes of linear memory this store holds (module and driver).
    pub fn memory(&self) -> u64 {
        self.module_memory + self.driver_memory
    }
}

impl Drop for Limits {
    fn drop(&mut self) {
        self.account.give_back(self.memory());
    }
}

impl Limits {
    /// Whether a memory may grow from `current` to `desired` bytes (`maximum` its own cap);
    /// counts the growth if so. Runtimes also ask when they create a memory, with `current`
    /// 0. Growth past the memory's own maximum is refused here, so every growth granted
    /// succeeds (short of the system running out of memory, when the store over-counts until
    /// it is dropped).
    fn grant_memory(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> bool {
        if self.processing || maximum.is_some_and(|max| desired > max) {
            return false;
        }
        let delta = (desired as u64).saturating_sub(current as u64);
        let (total, cap) = if self.driver {
            (&mut self.driver_memory, DRIVER_IO_CAP)
        } else if self.stop_page {
            (&mut self.module_memory, MEMORY_CAP + super::stop::BYTES)
        } else {
            (&mut self.module_memory, MEMORY_CAP)
        };
        if total.saturating_add(delta) > cap || !self.account.take(delta) {
            return false;
        }
        *total += delta;
        true
    }

    /// Whether tables may grow from `current` to `desired` elements; counts the growth if so.
    fn grant_table(&mut self, current: usize, desired: usize) -> bool {
        let delta = (desired as u64).saturating_sub(current as u64);
        let total = self.table_elements.saturating_add(delta);
        if self.processing || total > TABLE_CAP as u64 {
            return false;
        }
        self.table_elements = total;
        true
    }
}

impl wasmtime::ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.grant_memory(current, desired, maximum))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.grant_table(current, desired))
    }
}

impl wasmi::ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, wasmi_core::LimiterError> {
        Ok(self.grant_memory(current, desired, maximum))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, wasmi_core::LimiterError> {
        Ok(self.grant_table(current, desired))
    }

    fn instances(&self) -> usize {
        // The module, and the interpreter's stack warmer (see `backend/interp.rs`).
        2
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        // The module's own, the block driver's I/O memory and the stop page.
        MAX_MEMORIES + 2
    }
}

/// Counts the audio thread's entries into module code (each block, each transport reset), in
/// every instance of the process. The shared ticker watches it to know whether audio runs.
/// Realtime-safe to bump: one relaxed atomic add.
static AUDIO_CALLS: AtomicU64 = AtomicU64::new(0);

/// Audio-thread calls into module code under way now: the ticker never stops ticking while
/// one runs, however long it runs.
static AUDIO_INSIDE: AtomicUsize = AtomicUsize::new(0);

/// Held by the audio thread around its calls into module code: counts the call for the
/// ticker and marks it under way until dropped (also when the call traps or unwinds).
/// Realtime-safe: relaxed atomic adds.
pub(crate) struct AudioCall(());

impl AudioCall {
    #[inline]
    pub(crate) fn enter() -> Self {
        // Relaxed: hints for the ticker; nothing is published through them.
        AUDIO_INSIDE.fetch_add(1, Ordering::Relaxed);
        AUDIO_CALLS.fetch_add(1, Ordering::Relaxed);
        AudioCall(())
    }
}

impl Drop for AudioCall {
    #[inline]
    fn drop(&mut self) {
        AUDIO_INSIDE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How long the ticker keeps ticking after the last audio call before it only watches for the
/// next one.
const AUDIO_IDLE: Duration = Duration::from_millis(100);
/// How often a ticker that only watches checks for audio calls. A module entered right after
/// audio resumes is stopped this much later than its budget, at worst, once.
const WATCH: Duration = Duration::from_millis(20);

/// Who needs the epoch to advance. While nobody does, a ticker that may idle sleeps without
/// waking up; while only active instances do and no audio runs, it checks every [`WATCH`]
/// instead of ticking.
///
/// Atomics and the ticker thread's park token, no lock: the ticker runs at real-time priority
/// and must never wait for a thread that holds a lock (a worker taking a guard) while that
/// thread is kept off the CPU by real-time audio. With a mutex here, a runaway module on a
/// loaded machine went on for 950 ms (Linux's real-time throttling) instead of its budget.
#[derive(Default)]
pub(crate) struct Demand {
    /// Guards that need ticks whatever the audio thread does (workers running module code);
    /// `usize::MAX` for a ticker that never idles.
    always: AtomicUsize,
    /// Guards of activated instances: ticks while audio runs.
    audio: AtomicUsize,
    /// Bumped by every new guard, so a ticker that only watches ticks again at once (module
    /// calls may follow right away, as in a plugin's activation).
    kicks: AtomicU64,
    /// The ticker thread, woken (unparked) when a guard is taken or the ticker stops.
    ticker: std::sync::OnceLock<std::thread::Thread>,
}

impl Demand {
    fn wake(&self) {
        if let Some(ticker) = self.ticker.get() {
            ticker.unpark();
        }
    }
}

/// Keeps the epoch advancing while held: [`Busy::always`] for a worker running module code,
/// [`Busy::audio`] for an instance between activation and deactivation. Not for the audio
/// thread (taking one wakes a thread).
pub struct Busy {
    demand: Arc<Demand>,
    always: bool,
}

impl Busy {
    pub(crate) fn new(demand: &Arc<Demand>, always: bool) -> Self {
        // SeqCst here and in the ticker: a guard's count and kick are seen by the ticker's
        // next check, whichever of the two goes first (the unpark token covers the rest).
        if always {
            let _ = demand
                .always
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    Some(n.saturating_add(1))
                });
        } else {
            demand.audio.fetch_add(1, Ordering::SeqCst);
        }
        demand.kicks.fetch_add(1, Ordering::SeqCst);
        demand.wake();
        Self {
            demand: demand.clone(),
            always,
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let count = if self.always {
            &self.demand.always
        } else {
            &self.demand.audio
        };
        // A ticker that never idles keeps `usize::MAX`.
        let _ = count.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n != usize::MAX).then(|| n.saturating_sub(1))
        });
    }
}

/// Advances an engine's epoch by one for every [`TICK`] of elapsed time, waking every `period`,
/// and on each wake-up stops the calls of registered stop words that are past their deadline
/// (see `stop.rs`), until dropped.
pub(crate) struct Ticker {
    stop: Arc<AtomicBool>,
    demand: Arc<Demand>,
    credit: Arc<Credit>,
    /// Stop words of instances interrupted by stop checks, checked on every wake-up.
    watches: Arc<Watches>,
    thread: Option<JoinHandle<()>>,
    /// Whether the thread got real-time scheduling.
    realtime: bool,
}

impl Ticker {
    /// Starts the ticker, waking every `period` while it ticks. With `idle`, it sleeps while no
    /// [`Busy`] guard is held; otherwise it always ticks.
    pub fn start(engine: Engine, idle: bool, period: Duration) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let demand = Arc::new(Demand::default());
        if !idle {
            demand.always.store(usize::MAX, Ordering::SeqCst);
        }
        let credit = Arc::new(Credit::new(period));
        let watches = Arc::new(Watches::default());
        let (flag, wanted, credited, watched) = (
            stop.clone(),
            demand.clone(),
            credit.clone(),
            watches.clone(),
        );
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("wasp-epoch".into())
            .spawn(move || {
                let _ = tx.send(raise_to_realtime());
                let mut start = Instant::now();
                let mut ticks: u64 = 0;
                // When audio calls were last seen to move, and the kick count then.
                let mut heard = (AUDIO_CALLS.load(Ordering::Relaxed), Instant::now());
                let mut kicks = 0u64;
                // Relaxed: the flag carries no data; the join in `drop` orders the rest.
                while !flag.load(Ordering::Relaxed) {
                    let mut fresh = false;
                    // Whether audio calls or new guards appeared since last seen.
                    let news = |heard: &mut (u64, Instant), kicks: &mut u64| {
                        let calls = AUDIO_CALLS.load(Ordering::Relaxed);
                        let kicked = wanted.kicks.load(Ordering::SeqCst);
                        let new = calls != heard.0 || kicked != *kicks;
                        if new {
                            *heard = (calls, Instant::now());
                            *kicks = kicked;
                        }
                        new
                    };
                    news(&mut heard, &mut kicks);
                    // Never quiet while an audio-thread call runs: that is when a runaway
                    // module needs the epoch most.
                    let quiet = wanted.always.load(Ordering::SeqCst) == 0
                        && AUDIO_INSIDE.load(Ordering::Relaxed) == 0
                        && heard.1.elapsed() > AUDIO_IDLE;
                    loop {
                        let audio = wanted.audio.load(Ordering::SeqCst);
                        let idle =
                            wanted.always.load(Ordering::SeqCst) == 0 && (audio == 0 || quiet);
                        if !idle || flag.load(Ordering::Relaxed) {
                            break;
                        }
                        fresh = true;
                        credited.quiet.store(true, Ordering::Relaxed);
                        if audio == 0 {
                            // Nothing needs the epoch: sleep until a guard is taken.
                            std::thread::park();
                        } else {
                            // Active instances, no audio: watch for the next call.
                            std::thread::park_timeout(WATCH);
                        }
                        if news(&mut heard, &mut kicks) {
                            break;
                        }
                    }
                    if fresh {
                        // Nothing ran meanwhile: count from now, without catching up.
                        start = Instant::now();
                        ticks = 0;
                        credited.set(start);
                        credited.quiet.store(false, Ordering::Relaxed);
                    }
                    std::thread::sleep(period);
                    // Count the ticks that have passed, however late this wake-up is.
                    let due = (start.elapsed().as_nanos() / TICK.as_nanos()) as u64;
                    while ticks < due {
                        engine.increment_epoch();
                        ticks += 1;
                    }
                    credited.set(
                        start + Duration::from_nanos(ticks.saturating_mul(TICK.as_nanos() as u64)),
                    );
                    watched.check(Instant::now());
                }
            })?;
        let _ = demand.ticker.set(thread.thread().clone());
        let realtime = rx.recv().unwrap_or(false);
        Ok(Self {
            stop,
            demand,
            credit,
            watches,
            thread: Some(thread),
            realtime,
        })
    }

    /// The stop words this ticker checks (see `stop.rs`).
    pub(crate) fn watches(&self) -> &Arc<Watches> {
        &self.watches
    }

    /// Keeps the ticker going while the guard lives (see [`Busy`]).
    pub fn busy(&self, always: bool) -> Busy {
        Busy::new(&self.demand, always)
    }

    /// How far the epoch lags the clock (see [`Credit`]).
    pub(crate) fn credit(&self) -> Arc<Credit> {
        self.credit.clone()
    }

    /// Whether the ticker runs at real-time priority.
    pub fn realtime(&self) -> bool {
        self.realtime
    }
}

/// Moves the calling thread to `SCHED_FIFO` at the highest priority it may use: the system's
/// highest for a privileged process, else the `RLIMIT_RTPRIO` limit that audio setups grant
/// (often 95). The ticker sleeps almost all the time; it only needs to outrank the threads it
/// polices.
#[cfg(target_os = "linux")]
fn raise_to_realtime() -> bool {
    let set = |priority: libc::c_int| {
        let param = libc::sched_param {
            sched_priority: priority,
        };
        // SAFETY: plain libc call on the calling thread with a valid, initialised parameter.
        unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) == 0 }
    };
    // SAFETY: plain libc queries; `limit` is a valid out-parameter.
    let (max, limit) = unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        let limited = libc::getrlimit(libc::RLIMIT_RTPRIO, &mut limit) == 0;
        let limit = if limited { limit.rlim_cur } else { 0 };
        (libc::sched_get_priority_max(libc::SCHED_FIFO), limit)
    };
    if max < 1 {
        return false;
    }
    let allowed = libc::c_int::try_from(limit).unwrap_or(max).min(max);
    set(max) || (allowed >= 1 && set(allowed))
}

#[cfg(not(target_os = "linux"))]
fn raise_to_realtime() -> bool {
    false
}

impl Drop for Ticker {
    fn drop(&mut self) {
        // Relaxed: see the loop above; joining waits for the thread to see it.
        self.stop.store(true, Ordering::Relaxed);
        // Wake a sleeping ticker so it sees the flag.
        self.demand.wake();
        if let Some(thread) = self.thread.take() {
            // Joined so no thread of ours outlives the plugin library if the host unloads it.
            let _ = thread.join();
        }
    }
}

/// Counts of output corrections in one block.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Policed {
    /// NaN or infinite samples replaced by silence.
    pub non_finite: u32,
    /// Subnormal samples flushed to zero.
    pub subnormal: u32,
    /// Samples clamped to ±[`OUTPUT_CEILING`].
    pub clipped: u32,
}

/// Makes every sample finite, normal (or zero) and within the ceiling. Realtime-safe.
#[inline]
pub(crate) fn police(channels: &mut [&mut [f32]]) -> Policed {
    let mut p = Policed::default();
    for ch in channels.iter_mut() {
        for x in ch.iter_mut() {
            let v = *x;
            if !v.is_finite() {
                *x = 0.0;
                p.non_finite += 1;
            } else if v.is_subnormal() {
                *x = 0.0;
                p.subnormal += 1;
            } else if v.abs() > OUTPUT_CEILING {
                *x = OUTPUT_CEILING.copysign(v);
                p.clipped += 1;
            }
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ticker_wakes_an_eighth_of_the_shortest_budget() {
        assert_eq!(tick_period(MIN_BLOCK_BUDGET), Duration::from_micros(2500));
        assert_eq!(tick_period(Duration::from_millis(2)), TICK);
        assert_eq!(
            tick_period(Duration::from_secs(1)),
            Duration::from_millis(10)
        );
    }

    #[test]
    fn a_slow_ticker_still_counts_every_millisecond() {
        // Waking every 10 ms, the epoch still advances once per millisecond of wall time, so
        // deadlines (counted in ticks) mean the same whatever the period.
        let engine = Engine::new(wasmtime::Config::new().epoch_interruption(true)).unwrap();
        let ticker = Ticker::start(engine.clone(), false, Duration::from_millis(10)).unwrap();
        // Measure the epoch through a store's deadline: a deadline of N ticks from now has
        // passed once the epoch moved N.
        let mut store = wasmtime::Store::new(&engine, ());
        let wasm = wat::parse_str(r#"(module (func (export "f") (loop (br 0))))"#).unwrap();
        let module = wasmtime::Module::new(&engine, wasm).unwrap();
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
        let f = instance.get_typed_func::<(), ()>(&mut store, "f").unwrap();
        for wait in [15, 3, 8] {
            // Somewhere between two wake-ups, as a host's calls are.
            std::thread::sleep(Duration::from_millis(wait));
            // 50 ms from now, plus the epoch's lag (what `DspInstance::arm` does).
            let started = Instant::now();
            store
                .set_epoch_deadline(ticks(Duration::from_millis(50)) + ticker.credit().lag_ticks());
            assert!(f.call(&mut store, ()).is_err(), "the loop is interrupted");
            let took = started.elapsed();
            // Never early: at least 50 ms; at most 50 + 1 + 10 ms, plus scheduling.
            assert!(took >= Duration::from_millis(50), "{took:?}");
            assert!(took < Duration::from_millis(500), "{took:?}");
        }
        drop(ticker);
    }

    #[test]
    fn block_budget_is_twice_the_block_with_a_floor() {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        // 2048 frames at 48 kHz last 42.7 ms.
        let long = block_budget(2048, 48_000.0, 2.0, MIN_BLOCK_BUDGET);
        assert!((ms(long) - 85.33).abs() < 0.01, "{long:?}");
        // Short blocks get the floor.
        assert_eq!(
            block_budget(64, 48_000.0, 2.0, MIN_BLOCK_BUDGET),
            MIN_BLOCK_BUDGET
        );
        let bare = block_budget(64, 48_000.0, 2.0, Duration::ZERO);
        assert!((ms(bare) - 2.667).abs() < 0.001, "{bare:?}");
    }

    #[test]
    fn a_deadline_counts_down_and_stays_at_zero_once_passed() {
        let later = Deadline::after(Duration::from_millis(50));
        let left = later.ticks_left();
        assert!((45..=51).contains(&left), "{left}");
        let passed = Deadline::after(Duration::ZERO);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(passed.ticks_left(), 0);
    }

    #[test]
    fn the_plugin_account_refuses_past_its_cap_and_gets_everything_back() {
        use wasmtime::ResourceLimiter;
        let account = Arc::new(MemoryAccount::default());
        let mut a = Limits::new(account.clone());
        let mut b = Limits::new(account.clone());
        let cap = MEMORY_CAP as usize;
        // Two memories of one module: together they may not pass the module's cap.
        assert!(a.memory_growing(0, cap / 2, None).unwrap());
        assert!(!a.memory_growing(0, cap / 2 + 65536, None).unwrap());
        assert!(a.memory_growing(0, cap / 2, None).unwrap());
        // A second instance fits beside it; a third does not.
        assert!(b.memory_growing(0, cap, None).unwrap());
        let mut c = Limits::new(account.clone());
        assert!(!c
            .memory_growing(0, DRIVER_IO_CAP as usize * 3, None)
            .unwrap());
        drop(a);
        assert_eq!(account.used(), MEMORY_CAP);
        assert!(c.memory_growing(0, 65536, None).unwrap());
        drop((b, c));
        assert_eq!(account.used(), 0);
        // Tables: all of them together.
        let mut t = Limits::new(account);
        assert!(t.table_growing(0, TABLE_CAP / 2, None).unwrap());
        assert!(!t.table_growing(0, TABLE_CAP / 2 + 1, None).unwrap());
    }

    #[test]
    fn policing_fixes_every_bad_sample_and_counts_it() {
        let mut a = [f32::NAN, 1e-40, 1e30, -1e30, 0.5, f32::NEG_INFINITY];
        let p = police(&mut [&mut a[..]]);
        assert_eq!(a, [0.0, 0.0, 4.0, -4.0, 0.5, 0.0]);
        assert_eq!(
            p,
            Policed {
                non_finite: 2,
                subnormal: 1,
                clipped: 2
            }
        );
    }
}
