//! `DspInstance`: one instantiated module with its own store, ready to process audio.
//!
//! Created on a worker thread (instantiation allocates and runs module code), then moved to the
//! audio thread, where only [`DspInstance::process`] and [`DspInstance::reset`] are called.

use wasmtime::{Memory, Store, TypedFunc};

use super::contract::{names, DspShape};
use super::error::{Fault, LoadError};
use super::migrate::{self, Plan, StateLayout};
use super::patch::Patch;
use super::runtime::Runtime;

/// Per-store host data. Holds whatever the host needs while module code runs.
#[derive(Default)]
pub struct HostState {
    _private: (),
}

/// The host's audio settings a module is prepared for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessConfig {
    /// Sample rate in Hz, passed to `wasp_init`.
    pub sample_rate: f32,
    /// Largest block the host will ask for, passed to `wasp_init`.
    pub max_frames: u32,
}

impl Default for ProcessConfig {
    fn default() -> Self {
        Self {
            sample_rate: 48_000.0,
            max_frames: 1024,
        }
    }
}

/// The typed per-sample entry point, one variant per `dsp` shape.
enum Kernel {
    Mono(TypedFunc<f32, f32>),
    Stereo(TypedFunc<(f32, f32), (f32, f32)>),
    Frame {
        func: TypedFunc<(f32, f32), ()>,
        memory: Memory,
        /// Byte address of the `[left, right]` output pair, checked to lie inside memory.
        addr: usize,
    },
}

/// An instantiated, initialised module. Owns its wasmtime store, so it can move between threads
/// but is used by one at a time.
pub struct DspInstance {
    store: Store<HostState>,
    kernel: Kernel,
    reset: Option<TypedFunc<(), ()>>,
    patch: Patch,
    config: ProcessConfig,
    /// The declared state, resolved for this instance; what a swap carries.
    state: StateLayout,
    /// Set on the first trap; a faulted instance outputs silence until it is replaced, because
    /// its memory may be in any state after the trap.
    fault: Option<Fault>,
    /// Whether the audio engine has already published `fault`.
    fault_reported: bool,
}

impl DspInstance {
    /// Instantiates `patch` and runs its `wasp_init`. Allocates and runs module code: worker
    /// threads only.
    pub fn new(runtime: &Runtime, patch: &Patch, config: ProcessConfig) -> Result<Self, LoadError> {
        let mut store = Store::new(&runtime.engine, HostState::default());
        let instance = runtime
            .linker
            .instantiate(&mut store, &patch.0.module)
            .map_err(|e| LoadError::Instantiate(format!("{e:#}")))?;
        let layout = patch.0.layout;
        let wrong = |e: wasmtime::Error| LoadError::Abi(format!("{e:#}"));

        if layout.has_init {
            let init = instance
                .get_typed_func::<(f32, i32), ()>(&mut store, names::INIT)
                .map_err(wrong)?;
            let max_frames = i32::try_from(config.max_frames).unwrap_or(i32::MAX);
            init.call(&mut store, (config.sample_rate, max_frames))
                .map_err(|e| LoadError::Trap {
                    export: names::INIT,
                    message: format!("{e:#}"),
                })?;
        }
        let reset = if layout.has_reset {
            Some(
                instance
                    .get_typed_func::<(), ()>(&mut store, names::RESET)
                    .map_err(wrong)?,
            )
        } else {
            None
        };

        let kernel = match layout.shape {
            DspShape::Mono => Kernel::Mono(
                instance
                    .get_typed_func(&mut store, names::DSP)
                    .map_err(wrong)?,
            ),
            DspShape::Stereo => Kernel::Stereo(
                instance
                    .get_typed_func(&mut store, names::DSP)
                    .map_err(wrong)?,
            ),
            DspShape::StereoFrame => {
                let func = instance
                    .get_typed_func(&mut store, names::DSP)
                    .map_err(wrong)?;
                let memory = instance
                    .get_memory(&mut store, names::MEMORY)
                    .ok_or_else(|| LoadError::Abi("the module exports no `memory`".into()))?;
                let global = instance
                    .get_global(&mut store, names::FRAME)
                    .ok_or_else(|| LoadError::Abi("the module exports no `wasp_frame`".into()))?;
                // The address is read after `wasp_init`, so a module may set it up there.
                let addr = global.get(&mut store).i32().unwrap_or(-1) as u32 as usize;
                let len = memory.data_size(&store);
                if addr.checked_add(8).is_none_or(|end| end > len) {
                    return Err(LoadError::Abi(format!(
                        "`wasp_frame` points at byte {addr}, but the output pair needs 8 bytes \
                         there and memory is only {len} bytes long"
                    )));
                }
                Kernel::Frame { func, memory, addr }
            }
        };

        let state = StateLayout::resolve(&patch.0.meta, &instance, &mut store)?;

        Ok(Self {
            store,
            kernel,
            reset,
            patch: patch.clone(),
            config,
            state,
            fault: None,
            fault_reported: false,
        })
    }

    /// The patch this instance runs.
    pub fn patch(&self) -> &Patch {
        &self.patch
    }

    /// The audio settings this instance was initialised for.
    pub fn config(&self) -> ProcessConfig {
        self.config
    }

    /// The resolved declared state, for planning a swap (worker side).
    pub(crate) fn state(&self) -> &StateLayout {
        &self.state
    }

    /// Copies declared state from `old` into this instance following `plan`.
    /// Realtime-safe: bounded copies between existing memories.
    pub(crate) fn migrate_from(&mut self, old: &mut DspInstance, plan: &Plan) {
        migrate::apply(
            plan,
            (&old.state, &mut old.store),
            (&self.state, &mut self.store),
        );
    }

    /// Touches every page of linear memory so the first real block does not page-fault on
    /// fresh pages (writes each page's first byte back unchanged). Worker threads only.
    pub(crate) fn warm_up(&mut self) {
        if let Some(memory) = self.state.memory {
            let data = memory.data_mut(&mut self.store);
            for i in (0..data.len()).step_by(4096) {
                // `black_box` hides the value from the optimiser, so the store is kept.
                data[i] = std::hint::black_box(data[i]);
            }
        }
    }

    /// The fault that stopped this instance, if any.
    pub fn fault(&self) -> Option<Fault> {
        self.fault
    }

    /// True exactly once after a fault, so it is reported once. Realtime-safe.
    pub(crate) fn fault_is_new(&mut self) -> bool {
        let new = self.fault.is_some() && !self.fault_reported;
        self.fault_reported |= new;
        new
    }

    /// Calls `wasp_reset` if the module has one (the host's transport reset).
    ///
    /// Realtime-safe unless the module traps: wasmtime allocates while unwinding a trap.
    pub fn reset(&mut self) -> Result<(), Fault> {
        if let (Some(reset), None) = (&self.reset, self.fault) {
            if reset.call(&mut self.store, ()).is_err() {
                let fault = Fault::Trap {
                    export: names::RESET,
                    frame: 0,
                };
                self.fault = Some(fault);
                return Err(fault);
            }
        }
        Ok(())
    }

    /// Processes one block in place: `channels` holds one slice per host channel (1 or 2, all of
    /// the same length). A mono module on a stereo host hears the average of both channels and
    /// feeds both; a stereo module on a mono host hears the channel twice and its two outputs
    /// are averaged.
    ///
    /// Realtime-safe (no allocation, lock, logging or freeing) unless the module traps: wasmtime
    /// allocates the trap's error. After a trap the block and every later block are silence.
    pub fn process(&mut self, channels: &mut [&mut [f32]]) -> Result<(), Fault> {
        if self.fault.is_some() {
            silence(channels);
            return Err(self.fault.unwrap_or(Fault::Trap {
                export: names::DSP,
                frame: 0,
            }));
        }
        let result = match channels {
            [] => Ok(()),
            [mono] => self.run_mono_host(mono),
            [left, right, ..] => {
                let frames = left.len().min(right.len());
                self.run_stereo(left, right, frames)
            }
        };
        if let Err(fault) = result {
            self.fault = Some(fault);
            silence(channels);
        }
        result
    }

    /// Runs `dsp` over a mono host buffer.
    fn run_mono_host(&mut self, mono: &mut [f32]) -> Result<(), Fault> {
        let mono_kernel = matches!(self.kernel, Kernel::Mono(_));
        for (i, x) in mono.iter_mut().enumerate() {
            let (l, r) = self.frame(*x, *x, i)?;
            *x = if mono_kernel { l } else { 0.5 * (l + r) };
        }
        Ok(())
    }

    fn run_stereo(
        &mut self,
        left: &mut [f32],
        right: &mut [f32],
        frames: usize,
    ) -> Result<(), Fault> {
        // Specialise the hot loops per kernel so each frame is one typed call and no branches.
        let trap = |frame: usize| Fault::Trap {
            export: names::DSP,
            frame: frame as u32,
        };
        match &self.kernel {
            Kernel::Mono(f) => {
                for i in 0..frames {
                    let y = f
                        .call(&mut self.store, 0.5 * (left[i] + right[i]))
                        .map_err(|_| trap(i))?;
                    left[i] = y;
                    right[i] = y;
                }
            }
            Kernel::Stereo(f) => {
                for i in 0..frames {
                    let (l, r) = f
                        .call(&mut self.store, (left[i], right[i]))
                        .map_err(|_| trap(i))?;
                    left[i] = l;
                    right[i] = r;
                }
            }
            Kernel::Frame { func, memory, addr } => {
                for i in 0..frames {
                    func.call(&mut self.store, (left[i], right[i]))
                        .map_err(|_| trap(i))?;
                    let (l, r) = read_pair(memory.data(&self.store), *addr);
                    left[i] = l;
                    right[i] = r;
                }
            }
        }
        Ok(())
    }

    /// Runs `dsp` for one frame whatever its shape, returning a stereo pair.
    fn frame(&mut self, l: f32, r: f32, i: usize) -> Result<(f32, f32), Fault> {
        let trap = Fault::Trap {
            export: names::DSP,
            frame: i as u32,
        };
        match &self.kernel {
            Kernel::Mono(f) => {
                let y = f.call(&mut self.store, l).map_err(|_| trap)?;
                Ok((y, y))
            }
            Kernel::Stereo(f) => f.call(&mut self.store, (l, r)).map_err(|_| trap),
            Kernel::Frame { func, memory, addr } => {
                func.call(&mut self.store, (l, r)).map_err(|_| trap)?;
                Ok(read_pair(memory.data(&self.store), *addr))
            }
        }
    }
}

/// Reads the `[left, right]` output pair at `addr`. The address was checked against the memory
/// size at creation and memories never shrink, so the fallback is unreachable in practice.
#[inline]
fn read_pair(data: &[u8], addr: usize) -> (f32, f32) {
    match data.get(addr..addr + 8) {
        Some(b) => (
            f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            f32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        ),
        None => (0.0, 0.0),
    }
}

fn silence(channels: &mut [&mut [f32]]) {
    for ch in channels {
        ch.fill(0.0);
    }
}
