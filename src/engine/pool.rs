//! The worker threads every Wasp instance in the process shares.
//!
//! Each instance has a worker (a [`Job`]; see `worker.rs`) with its own state and request queue; the
//! pool's few threads (at most [`MAX_THREADS`], and no more than the machine has cores) run
//! whichever worker has something to do. One worker runs on one thread at a time, so its
//! state needs no more locking than before, and a slow compile holds one thread while the
//! others serve the other instances. A worker that has nothing in flight is not scheduled at
//! all until a request arrives for it.
//!
//! The pool starts with the first instance and stops when the last one goes. A thread still
//! finishing a compile then is joined when the library is unloaded (see `preparer.rs`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Most threads the pool runs.
pub const MAX_THREADS: usize = 4;

/// What a worker round asks for next .
pub(crate) enum Step {
    /// Run again as soon as possible.
    Again,
    /// Run again after this long (housekeeping while something is in flight).
    After(Duration),
    /// Run only when a request arrives.
    Idle,
    /// The plugin is gone: drop the worker.
    Stop,
}

/// What the pool runs: one instance's worker, a round at a time.
pub(crate) trait Job: Send {
    /// One round of work; says when to run the next.
    fn step(&mut self) -> Step;
}

/// One instance's worker, as the pool schedules it.
pub(crate) struct Task {
    worker: Mutex<Option<Box<dyn Job>>>,
    /// In the ready queue (or about to be).
    queued: AtomicBool,
    /// Whether a thread is in a round of it, and whether it was woken meanwhile (then that
    /// round is followed by another). Taken only briefly, never across a round.
    round: Mutex<Round>,
    /// The worker stopped and was dropped.
    finished: Mutex<bool>,
    finished_now: Condvar,
}

impl Task {
    /// Waits at most `limit` for the worker to stop; whether it did.
    pub fn wait_finished(&self, limit: Duration) -> bool {
        let finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        let (finished, _) = self
            .finished_now
            .wait_timeout_while(finished, limit, |f| !*f)
            .unwrap_or_else(|e| e.into_inner());
        *finished
    }

    fn finish(&self) {
        *self.finished.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.finished_now.notify_all();
    }
}

#[derive(Default)]
struct Round {
    running: bool,
    again: bool,
}

#[derive(Default)]
struct State {
    ready: VecDeque<Arc<Task>>,
    /// Workers to run again at a time (housekeeping while something is in flight).
    timers: Vec<(Instant, Weak<Task>)>,
    threads: Vec<JoinHandle<()>>,
    /// Preparers using the pool.
    users: usize,
    stopping: bool,
}

pub(crate) struct Pool {
    state: Mutex<State>,
    changed: Condvar,
}

/// The process's pool, while some instance uses it.
static POOL: Mutex<Weak<Pool>> = Mutex::new(Weak::new());

impl Pool {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The process's pool, started if need be, with one more user.
    pub fn join() -> Arc<Pool> {
        let mut global = POOL.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = global.upgrade() {
            // Checked and counted under one lock: `leave` cannot stop it in between.
            let mut state = pool.lock();
            if !state.stopping {
                state.users += 1;
                drop(state);
                return pool;
            }
        }
        let pool = Arc::new(Pool {
            state: Mutex::new(State {
                users: 1,
                ..State::default()
            }),
            changed: Condvar::new(),
        });
        *global = Arc::downgrade(&pool);
        pool
    }

    /// Adds a worker and runs its first round. Starts a thread if the pool has fewer than it
    /// may.
    pub fn add(self: &Arc<Self>, worker: Box<dyn Job>) -> std::io::Result<Arc<Task>> {
        let task = Arc::new(Task {
            worker: Mutex::new(Some(worker)),
            queued: AtomicBool::new(false),
            round: Mutex::new(Round::default()),
            finished: Mutex::new(false),
            finished_now: Condvar::new(),
        });
        {
            let mut state = self.lock();
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            if state.threads.len() < MAX_THREADS.min(cores).max(1) {
                let pool = self.clone();
                let thread = std::thread::Builder::new()
                    .name("wasp-worker".into())
                    .spawn(move || pool.serve())?;
                state.threads.push(thread);
            }
        }
        self.wake(&task);
        Ok(task)
    }

    /// Schedules `task` to run as soon as a thread is free.
    pub fn wake(&self, task: &Arc<Task>) {
        // Acquire/Release: pairs with the store in `run`, so a wake during a run is not lost.
        if !task.queued.swap(true, Ordering::AcqRel) {
            self.lock().ready.push_back(task.clone());
            self.changed.notify_one();
        }
    }

    /// One user fewer; the last one stops the pool and joins its threads, waiting at most
    /// `limit` for each. A thread still busy is returned, to be joined later.
    pub fn leave(&self, limit: Duration) -> Vec<JoinHandle<()>> {
        let threads = {
            let mut state = self.lock();
            state.users -= 1;
            if state.users > 0 {
                return Vec::new();
            }
            state.stopping = true;
            std::mem::take(&mut state.threads)
        };
        self.changed.notify_all();
        let started = Instant::now();
        let mut busy = Vec::new();
        for thread in threads {
            while !thread.is_finished() && started.elapsed() < limit {
                std::thread::sleep(Duration::from_millis(1));
            }
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                busy.push(thread);
            }
        }
        busy
    }

    /// A pool thread: runs ready workers and due timers until the pool stops and nothing is
    /// left to run.
    fn serve(self: Arc<Self>) {
        // wasmtime's per-thread setup registers a thread-exit destructor, which takes the C
        // library's loader lock. Do it now: a thread left to finish a compile is joined from
        // the library's destructor, which runs under that lock.
        wasmtime::Engine::tls_eager_initialize();
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            let mut i = 0;
            while i < state.timers.len() {
                if state.timers[i].0 <= now {
                    let (_, task) = state.timers.swap_remove(i);
                    if let Some(task) = task.upgrade() {
                        if !task.queued.swap(true, Ordering::AcqRel) {
                            state.ready.push_back(task);
                        }
                    }
                } else {
                    i += 1;
                }
            }
            if let Some(task) = state.ready.pop_front() {
                drop(state);
                self.run(&task);
                state = self.lock();
                continue;
            }
            if state.stopping {
                return;
            }
            state = match state.timers.iter().map(|t| t.0).min() {
                Some(due) => {
                    self.changed
                        .wait_timeout(state, due.saturating_duration_since(now))
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => self.changed.wait(state).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }

    /// Runs one round of `task`'s worker and schedules the next.
    fn run(&self, task: &Arc<Task>) {
        // Before the round: a request sent during it queues the task again. AcqRel: the
        // round sees what the last `wake` saw queued.
        task.queued.swap(false, Ordering::AcqRel);
        {
            let mut round = task.round.lock().unwrap_or_else(|e| e.into_inner());
            if round.running {
                // Another thread is in a round of it (perhaps a long compile): this thread
                // serves other workers, and that round is followed by another.
                round.again = true;
                return;
            }
            round.running = true;
        }
        let mut slot = task.worker.lock().unwrap_or_else(|e| e.into_inner());
        let step = match slot.as_mut() {
            // A bug that panics stops this worker (its callers then hear that it stopped),
            // not the pool thread that serves the others.
            Some(worker) => {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| worker.step()))
                    .unwrap_or(Step::Stop)
            }
            None => Step::Idle,
        };
        let step = {
            let mut round = task.round.lock().unwrap_or_else(|e| e.into_inner());
            round.running = false;
            let again = std::mem::take(&mut round.again);
            match step {
                Step::After(_) | Step::Idle if again => Step::Again,
                step => step,
            }
        };
        match step {
            Step::Stop => {
                *slot = None;
                drop(slot);
                task.finish();
            }
            Step::Again => {
                drop(slot);
                self.wake(task);
            }
            Step::After(wait) => {
                drop(slot);
                let due = Instant::now() + wait;
                let mut state = self.lock();
                state
                    .timers
                    .retain(|(_, t)| t.upgrade().is_some_and(|t| !Arc::ptr_eq(&t, task)));
                state.timers.push((due, Arc::downgrade(task)));
                drop(state);
                self.changed.notify_one();
            }
            Step::Idle => {}
        }
    }
}
