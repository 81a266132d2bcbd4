//! What travels between the worker and the audio thread: a [`Prepared`] instance with the
//! buffers and bookkeeping its commit needs. Built on a worker thread, committed on the audio
//! thread, handed back to the worker to be dropped.

use super::instance::DspInstance;
use super::migrate::Plan;
use super::params::MAX_PARAMS;

/// A prepared instance in transit to the audio thread, with everything its commit needs.
pub struct Prepared {
    pub(crate) instance: DspInstance,
    pub(crate) generation: u64,
    /// How to carry state from the instance it replaces.
    pub(crate) plan: Plan,
    /// Whether the instance this one replaces may be switched back to if this one crashes
    /// soon after: true for the user's live swaps; false for restoring a saved state (the
    /// project's module is not a live edit) and for new audio settings (the old instance was
    /// prepared for the old ones).
    pub(crate) rollback: bool,
    /// The module parameter bound to each host slot (`UNBOUND` for none).
    pub(crate) slot_params: [u8; MAX_PARAMS],
    /// The plain value each parameter last received, by index.
    pub(crate) values: [f32; MAX_PARAMS],
    /// Buffers for running the outgoing instance during a crossfade, `max_frames` long each,
    /// allocated and touched on the worker.
    pub(crate) scratch: [Vec<f32>; 2],
    /// A copy of each block's input, `max_frames` long each: played back in the dry fault mode,
    /// and re-processed by the previous instance after a rollback.
    pub(crate) dry: [Vec<f32>; 2],
}

impl Prepared {
    /// Longest piece of a block this instance's buffers hold.
    pub(crate) fn frames(&self) -> usize {
        let [a, b] = &self.dry;
        let [c, d] = &self.scratch;
        a.len().min(b.len()).min(c.len()).min(d.len())
    }
}

/// Copies `buffers` (up to `frames` of each) into the host channels.
pub(crate) fn restore(buffers: &[Vec<f32>; 2], channels: &mut [&mut [f32]], frames: usize) {
    for (ch, buf) in channels.iter_mut().zip(buffers.iter()) {
        let n = frames.min(ch.len()).min(buf.len());
        ch[..n].copy_from_slice(&buf[..n]);
    }
}
