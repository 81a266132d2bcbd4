//! A running engine for tests: the worker plus the audio side, driven from the test thread.

use std::time::Duration;

use wasp::{
    AudioEngine, Controller, Crossfade, LoadOptions, LoadOutcome, Preparer, ProcessConfig,
    Processed, Runtime, RuntimeOptions, Source, SwapReport,
};

pub const SR: f32 = 48_000.0;
pub const BLOCK: usize = 256;

/// A worker plus an audio engine, configured for 48 kHz and 256-frame blocks.
pub struct Rig {
    pub preparer: Preparer,
    pub audio: AudioEngine,
}

impl Rig {
    /// A rig whose blocks may take up to half a second before a module is interrupted. Test
    /// machines are shared and busy: a test thread can be descheduled for longer than a real
    /// audio thread ever is, and that must not be mistaken for a runaway module. Runaway
    /// modules are still stopped, half a second later.
    pub fn new() -> Self {
        Self::with_options(RuntimeOptions {
            min_block_budget: Duration::from_millis(500),
            ..RuntimeOptions::default()
        })
    }

    /// A rig with the plugin's own time budget.
    pub fn strict() -> Self {
        Self::with_options(RuntimeOptions::default())
    }

    pub fn with_options(options: RuntimeOptions) -> Self {
        let runtime = Runtime::with_options(options).unwrap();
        let (preparer, audio) = Preparer::spawn(runtime).unwrap();
        let outcome = preparer.controller().configure(ProcessConfig {
            sample_rate: SR,
            max_frames: BLOCK as u32,
        });
        assert!(matches!(outcome, LoadOutcome::Prepared(_)), "{outcome:?}");
        Self { preparer, audio }
    }

    pub fn controller(&self) -> &Controller {
        self.preparer.controller()
    }

    /// Loads a module and waits until it is prepared (committed at the next block).
    pub fn load_source(&self, source: Source, crossfade: Crossfade) -> u64 {
        match self
            .controller()
            .load_blocking_with(source, LoadOptions { crossfade })
        {
            LoadOutcome::Prepared(info) => info.generation,
            other => panic!("loading failed: {other:?}"),
        }
    }

    /// Processes mono blocks of `input`, returning the output and what each block did.
    pub fn run_raw(&mut self, input: &[f32]) -> (Vec<f32>, Vec<Processed>) {
        let mut out = input.to_vec();
        let mut results = Vec::new();
        for block in out.chunks_mut(BLOCK) {
            results.push(self.audio.process(&mut [block]));
        }
        (out, results)
    }

    /// Processes mono blocks of `input`, asserting every block ran normally.
    pub fn run(&mut self, input: &[f32]) -> Vec<f32> {
        let (out, results) = self.run_raw(input);
        assert!(
            results.iter().all(|r| *r == Processed::Ran),
            "not every block ran: {results:?}"
        );
        out
    }

    pub fn report(&self, generation: u64) -> SwapReport {
        self.controller().swap_report(generation).unwrap()
    }
}
