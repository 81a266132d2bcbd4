//! State migration across a live swap: each instance's resolved state layout, the plan the
//! worker computes from two layouts, and the bounded copies the audio thread applies at commit.
//!
//! The plan is computed on the worker because it matches names (strings, allocation). The bytes
//! are copied at commit time on the audio thread, because the running instance keeps changing
//! its state until the very block it is replaced: copying earlier would lose the newest samples
//! of a delay line. Applying a plan only indexes into vectors that already exist and copies
//! memory, so it is realtime-safe.
//!
//! # Bounded copies
//!
//! A declared region may be as large as the module's memory. So that a commit never costs the
//! audio thread more than [`STAGE_BYTES`] per block, a plan that copies more is *staged*: the
//! old instance keeps playing while its state is copied into the new one a slice per block, and
//! the switch happens at the block after the last slice. Ring buffers are carried exactly: the
//! slices copy the ring as it stood when staging began, and the last step appends the samples
//! the old instance wrote since (a ring is only written at its cursor). Arrays and scalars are
//! copied as they stand when their slice is copied, so an array larger than a slice carries
//! values up to the staging's length old (`size / STAGE_BYTES` blocks); delay lines belong in
//! rings.
//!
//! # Sample-rate changes
//!
//! When the new instance runs at another sample rate, rings are resampled (linear
//! interpolation) so a delay tail keeps its pitch and timing; scalars, arrays and globals are
//! carried as they are. Such plans are applied whole: they are committed when the host
//! re-activates the plugin, off the audio thread.

use super::backend::{Glob, Machine, Mem};
use super::types::ValType;

use super::error::LoadError;
use super::metadata::{Address, Metadata, RegionKind};
use super::sandbox;

/// When a swap crossfades between the running module and the new one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Crossfade {
    /// Carry declared state; crossfade only when none can be carried (the default for loads
    /// the user asks for).
    #[default]
    Auto,
    /// Always crossfade, starting the new module fresh.
    Always,
    /// Switch at the block boundary, carrying what can be carried. Used for state restores and
    /// sample-rate changes, so that rendering a project is deterministic.
    Never,
}

/// One declared state region with its address resolved for one instance.
#[derive(Debug, Clone)]
pub(crate) struct Region {
    pub name: String,
    pub kind: RegionKind,
    /// Byte address of element 0.
    pub addr: usize,
    /// Length in 4-byte elements.
    pub len: usize,
    /// Byte address of a ring buffer's `i32` write cursor.
    pub cursor: Option<usize>,
}

/// One declared state global of one instance.
#[derive(Debug, Clone)]
pub(crate) struct StateGlobal {
    pub name: String,
    pub global: Glob,
    pub ty: GlobalType,
}

/// The numeric type of a state global; only globals of the same type are carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GlobalType {
    I32,
    I64,
    F32,
    F64,
}

/// An instance's state, resolved once when it is created. The worker keeps a clone of the
/// running instance's layout to plan the next swap; its handles are only used with the machine
/// they came from.
#[derive(Debug, Default, Clone)]
pub(crate) struct StateLayout {
    pub memory: Option<Mem>,
    pub regions: Vec<Region>,
    pub globals: Vec<StateGlobal>,
    /// The module asks for its state to be carried and crossfaded (metadata `blend`).
    pub blend: bool,
    /// Every exported memory, with its size in bytes, and every exported mutable global, by
    /// name, in the order of their names (runtimes list exports in orders of their own): what
    /// a tier-up copies (see [`Plan::whole`]).
    pub every_memory: Vec<(String, Mem, usize)>,
    pub every_global: Vec<(String, Glob)>,
}

impl StateLayout {
    /// Whether a whole copy from `old`, an instance of the same code, carries everything:
    /// the same memories, of the same sizes, and the same globals.
    pub fn same_shape(&self, old: &StateLayout) -> bool {
        let memory = |(name, _, len): &(String, Mem, usize)| (name.clone(), *len);
        let global = |(name, _): &(String, Glob)| name.clone();
        self.every_memory
            .iter()
            .map(memory)
            .eq(old.every_memory.iter().map(memory))
            && self
                .every_global
                .iter()
                .map(global)
                .eq(old.every_global.iter().map(global))
    }
}

impl StateLayout {
    /// Resolves the declared state of a freshly initialised instance: reads address globals,
    /// and checks that every region lies inside memory.
    pub fn resolve(meta: &Metadata, machine: &mut dyn Machine) -> Result<Self, LoadError> {
        let memory = machine.memory("memory");
        let mem_len = memory.map_or(0, |m| machine.data(m).len());
        let mut address = |addr: &Address, what: &str| -> Result<usize, LoadError> {
            match addr {
                Address::Bytes(n) => Ok(*n as usize),
                Address::Global(name) => machine
                    .global_i32(name)
                    .map(|v| v as u32 as usize)
                    .ok_or_else(|| {
                        LoadError::Metadata(format!(
                            "{what} refers to `{name}`, which is not an exported i32 global"
                        ))
                    }),
            }
        };
        let mut regions = Vec::with_capacity(meta.state.len());
        for r in &meta.state {
            let what = format!("state region \"{}\"", r.name);
            let addr = address(&r.at, &what)?;
            let len = r.len as usize;
            if !sandbox::fits(addr, len * 4, mem_len) {
                return Err(LoadError::Metadata(format!(
                    "{what} at byte {addr} with {len} elements ends past the end of memory \
                     ({mem_len} bytes)"
                )));
            }
            let cursor = match &r.cursor {
                Some(c) => {
                    let at = address(c, &what)?;
                    if !sandbox::fits(at, 4, mem_len) {
                        return Err(LoadError::Metadata(format!(
                            "the cursor of {what} at byte {at} lies outside memory \
                             ({mem_len} bytes)"
                        )));
                    }
                    Some(at)
                }
                None => None,
            };
            regions.push(Region {
                name: r.name.clone(),
                kind: r.kind,
                addr,
                len,
                cursor,
            });
        }
        let mut globals = Vec::with_capacity(meta.globals.len());
        for name in &meta.globals {
            let (global, ty, _) = machine.global(name).ok_or_else(|| {
                LoadError::Metadata(format!("state global \"{name}\" is not exported"))
            })?;
            let ty = match ty {
                ValType::I32 => GlobalType::I32,
                ValType::I64 => GlobalType::I64,
                ValType::F32 => GlobalType::F32,
                ValType::F64 => GlobalType::F64,
                _ => {
                    return Err(LoadError::Metadata(format!(
                        "state global \"{name}\" must be numeric"
                    )))
                }
            };
            globals.push(StateGlobal {
                name: name.clone(),
                global,
                ty,
            });
        }
        let mut every_memory: Vec<_> = machine
            .memories()
            .into_iter()
            .map(|(name, m)| (name, m, machine.data(m).len()))
            .collect();
        every_memory.sort_by(|a, b| a.0.cmp(&b.0));
        let mut every_global = machine.globals();
        every_global.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Self {
            memory,
            regions,
            globals,
            blend: meta.blend,
            every_memory,
            every_global,
        })
    }
}

/// What a swap did with each piece of declared state, by name. Made on the worker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwapReport {
    /// Carried over unchanged in size.
    pub carried: Vec<String>,
    /// Carried over, but the length changed (the overlap, or the newest ring samples, kept).
    pub resized: Vec<String>,
    /// New, or changed kind: starts as the new module's `wasp_init` left it.
    pub reset: Vec<String>,
    /// Declared by the old module only: gone.
    pub dropped: Vec<String>,
    /// True when the swap crossfades between the old and new module: instead of carrying state,
    /// or as well as carrying it for a module that asks to blend (metadata `blend`).
    pub crossfade: bool,
}

/// Most bytes of declared state the audio thread copies in one block (see the module docs).
pub const STAGE_BYTES: usize = 256 << 10;

/// Most state a blending swap copies, all in the block where the new module takes over (one
/// copy of that size on the audio thread; `benches/swap.rs` measures commits of 1 and 16 MiB):
/// a blend cannot be staged (see [`plan`]).
pub const BLEND_BYTES: usize = 4 << 20;

/// The copies to make at commit: indices into the old and new layouts.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Generation of the instance this plan was computed against.
    pub from_generation: u64,
    pub regions: Vec<(usize, usize)>,
    pub globals: Vec<(usize, usize)>,
    /// Crossfade instead of (or, when nothing matches, in place of) carrying state.
    pub crossfade: bool,
    /// Carry the state and crossfade too (the new module asks for it: metadata `blend`).
    pub blend: bool,
    /// Copy every memory and mutable global whole, not the declared state: the new instance
    /// runs the same code on another runtime (a tier-up), and takes over exactly where the
    /// old one is.
    pub whole: bool,
    /// New sample rate over old: rings are resampled when it is not 1.
    pub rate_ratio: f64,
    /// Staging progress: the region being copied and how many of its elements are done.
    stage_region: usize,
    stage_done: usize,
    /// Frames the old instance has processed since staging began.
    stage_frames: usize,
    /// Each ring's cursor (reduced into the ring) when its copy began, and `stage_frames`
    /// then, by plan entry; allocated here, on the worker, so staging allocates nothing.
    stage_cursors: Vec<(usize, usize)>,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            from_generation: 0,
            regions: Vec::new(),
            globals: Vec::new(),
            crossfade: false,
            blend: false,
            whole: false,
            rate_ratio: 1.0,
            stage_region: 0,
            stage_done: 0,
            stage_frames: 0,
            stage_cursors: Vec::new(),
        }
    }
}

/// Matches old and new state by name and kind.
pub(crate) fn plan(
    old: &StateLayout,
    from_generation: u64,
    new: &StateLayout,
    crossfade: Crossfade,
    rate_ratio: f64,
) -> (Plan, SwapReport) {
    let force_crossfade = crossfade == Crossfade::Always;
    let mut plan = Plan {
        from_generation,
        rate_ratio,
        ..Plan::default()
    };
    let mut report = SwapReport::default();
    for (ni, n) in new.regions.iter().enumerate() {
        match old.regions.iter().position(|o| o.name == n.name) {
            Some(oi) if old.regions[oi].kind == n.kind => {
                plan.regions.push((oi, ni));
                if old.regions[oi].len == n.len {
                    report.carried.push(n.name.clone());
                } else {
                    report.resized.push(n.name.clone());
                }
            }
            _ => report.reset.push(n.name.clone()),
        }
    }
    for (ni, n) in new.globals.iter().enumerate() {
        match old.globals.iter().position(|o| o.name == n.name) {
            Some(oi) if old.globals[oi].ty == n.ty => {
                plan.globals.push((oi, ni));
                report.carried.push(n.name.clone());
            }
            _ => report.reset.push(n.name.clone()),
        }
    }
    for o in &old.regions {
        if !new.regions.iter().any(|n| n.name == o.name) {
            report.dropped.push(o.name.clone());
        }
    }
    for o in &old.globals {
        if !new.globals.iter().any(|n| n.name == o.name) {
            report.dropped.push(o.name.clone());
        }
    }
    let nothing_carried = plan.regions.is_empty() && plan.globals.is_empty();
    plan.crossfade = match crossfade {
        Crossfade::Always => true,
        Crossfade::Auto => nothing_carried,
        Crossfade::Never => false,
    };
    if force_crossfade {
        // Crossfading runs both instances side by side; the new one starts fresh.
        report.reset.append(&mut report.carried);
        report.reset.append(&mut report.resized);
        plan.regions.clear();
        plan.globals.clear();
    }
    // Only where the user's load would have carried: restores and rate changes stay exact.
    plan.blend = new.blend && crossfade == Crossfade::Auto && !plan.crossfade;
    if plan.blend && plan.bytes(old, new) > BLEND_BYTES {
        // A blend copies at the switch, whole: staged arrays would miss the old module's last
        // blocks. Too much for one block: a plain crossfade, the new module fresh.
        plan.blend = false;
        plan.crossfade = true;
        plan.regions.clear();
        plan.globals.clear();
        report.reset.append(&mut report.carried);
        report.reset.append(&mut report.resized);
    }
    report.crossfade = plan.crossfade || plan.blend;
    // Staging order: arrays and scalars first, then rings, longest first, so the time between
    // a ring's copy and the switch (while the old instance keeps writing it) is as short as
    // possible for the rings it matters most to.
    plan.regions.sort_by_key(|&(oi, _)| {
        let r = &old.regions[oi];
        (r.kind == RegionKind::Ring, std::cmp::Reverse(r.len))
    });
    plan.stage_cursors = vec![(0, 0); plan.regions.len()];
    (plan, report)
}

/// Elements a plan entry copies: the overlap of an array, the newest samples of a ring.
fn entry_len(o: &Region, n: &Region) -> usize {
    o.len.min(n.len)
}

impl Plan {
    /// The plan of a tier-up from the instance of generation `from_generation`: the whole
    /// instance is copied.
    pub fn whole(from_generation: u64) -> Self {
        Self {
            from_generation,
            whole: true,
            ..Self::default()
        }
    }

    /// Bytes of linear memory this plan copies.
    pub fn bytes(&self, old: &StateLayout, new: &StateLayout) -> usize {
        self.regions
            .iter()
            .map(|&(oi, ni)| 4 * entry_len(&old.regions[oi], &new.regions[ni]))
            .sum()
    }

    /// Whether applying the plan in one block would copy more than [`STAGE_BYTES`] (and the
    /// plan can be staged: resampling plans are always applied whole).
    pub fn needs_staging(&self, old: &StateLayout, new: &StateLayout) -> bool {
        self.rate_ratio == 1.0 && !self.blend && self.bytes(old, new) > STAGE_BYTES
    }
}

/// Copies the planned state from `old` into `new`, all of it. Realtime-safe: bounded copies
/// between two existing memories, no allocation; its cost grows with the declared state (see
/// [`stage`] for the bounded form).
pub(crate) fn apply(
    plan: &Plan,
    old: (&StateLayout, &mut dyn Machine),
    new: (&StateLayout, &mut dyn Machine),
) {
    let (old_layout, old_store) = old;
    let (new_layout, new_store) = new;
    if plan.whole {
        let memories = old_layout.every_memory.iter().zip(&new_layout.every_memory);
        for (&(_, o, _), &(_, n, _)) in memories {
            let (src, dst) = (old_store.data(o), new_store.data_mut(n));
            let len = src.len().min(dst.len());
            dst[..len].copy_from_slice(&src[..len]);
        }
        for (&(_, o), &(_, n)) in old_layout.every_global.iter().zip(&new_layout.every_global) {
            let value = old_store.get(o);
            new_store.set(n, value);
        }
        return;
    }
    if let (Some(old_mem), Some(new_mem)) = (old_layout.memory, new_layout.memory) {
        let src = old_store.data(old_mem);
        let dst = new_store.data_mut(new_mem);
        for &(oi, ni) in &plan.regions {
            let (o, n) = (&old_layout.regions[oi], &new_layout.regions[ni]);
            match o.kind {
                RegionKind::Scalar | RegionKind::Array => {
                    let bytes = entry_len(o, n) * 4;
                    dst[n.addr..n.addr + bytes].copy_from_slice(&src[o.addr..o.addr + bytes]);
                }
                RegionKind::Ring if plan.rate_ratio != 1.0 => {
                    resample_ring(src, o, dst, n, plan.rate_ratio)
                }
                RegionKind::Ring => copy_ring(src, o, dst, n),
            }
        }
    }
    copy_globals(plan, old_layout, old_store, new_layout, new_store);
}

fn copy_globals(
    plan: &Plan,
    old_layout: &StateLayout,
    old_store: &mut dyn Machine,
    new_layout: &StateLayout,
    new_store: &mut dyn Machine,
) {
    for &(oi, ni) in &plan.globals {
        let value = old_store.get(old_layout.globals[oi].global);
        // The plan pairs only globals of the same type, so this cannot fail; if it somehow
        // did, the new module simply keeps its own value.
        let _ = new_store.set(new_layout.globals[ni].global, value);
    }
}

/// A ring's write cursor, reduced into the ring (a module may keep it unwrapped).
fn ring_cursor(src: &[u8], r: &Region) -> Option<usize> {
    let c = r.cursor?;
    let raw = i32::from_le_bytes([src[c], src[c + 1], src[c + 2], src[c + 3]]);
    Some((raw as i64).rem_euclid(r.len as i64) as usize)
}

/// Rings up to this size are copied whole at the switch rather than brought up to date.
const SMALL_RING_BYTES: usize = 64 << 10;

/// Copies up to `budget` more bytes of a staged plan from `old` into `new`, the old instance
/// still playing; `frames` is how many frames it processed since the previous call. Returns
/// true once everything is copied: then the rings have been brought up to date, the globals
/// copied, and the new instance may replace the old one in this block. Realtime-safe: about
/// `budget` bytes of copies per call, plus at the switch the samples rings received meanwhile
/// and rings of up to 64 KiB whole.
pub(crate) fn stage(
    plan: &mut Plan,
    old: (&StateLayout, &mut dyn Machine),
    new: (&StateLayout, &mut dyn Machine),
    mut budget: usize,
    frames: usize,
) -> bool {
    plan.stage_frames = plan.stage_frames.saturating_add(frames);
    let (old_layout, old_store) = old;
    let (new_layout, new_store) = new;
    let (Some(old_mem), Some(new_mem)) = (old_layout.memory, new_layout.memory) else {
        copy_globals(plan, old_layout, old_store, new_layout, new_store);
        return true;
    };
    let src = old_store.data(old_mem);
    let dst = new_store.data_mut(new_mem);
    while plan.stage_region < plan.regions.len() {
        let entry = plan.stage_region;
        let (oi, ni) = plan.regions[entry];
        let (o, n) = (&old_layout.regions[oi], &new_layout.regions[ni]);
        let total = entry_len(o, n);
        if plan.stage_done == 0 && o.kind == RegionKind::Ring {
            let Some(c) = ring_cursor(src, o) else {
                plan.stage_region += 1;
                continue;
            };
            plan.stage_cursors[entry] = (c, plan.stage_frames);
        }
        let take = (total - plan.stage_done).min(budget / 4);
        if take == 0 && total > plan.stage_done {
            return false;
        }
        let from = plan.stage_done;
        match o.kind {
            RegionKind::Scalar | RegionKind::Array => {
                let (s, d) = (o.addr + 4 * from, n.addr + 4 * from);
                dst[d..d + 4 * take].copy_from_slice(&src[s..s + 4 * take]);
            }
            RegionKind::Ring => {
                // New element j holds the old sample written `total - j` writes before the
                // cursor seen when staging began: the newest `total`, oldest first.
                let start = (plan.stage_cursors[entry].0 + o.len - total) % o.len;
                copy_wrapped(src, o, (start + from) % o.len, dst, n, from, take);
            }
        }
        plan.stage_done += take;
        budget -= 4 * take;
        if plan.stage_done == total {
            plan.stage_region += 1;
            plan.stage_done = 0;
        }
    }
    // Everything is copied: append what the rings received since, then the globals.
    for (entry, &(oi, ni)) in plan.regions.iter().enumerate() {
        let (o, n) = (&old_layout.regions[oi], &new_layout.regions[ni]);
        if o.kind != RegionKind::Ring {
            continue;
        }
        let (Some(now), Some(nc)) = (ring_cursor(src, o), n.cursor) else {
            continue;
        };
        let k = entry_len(o, n);
        let (then, at_frames) = plan.stage_cursors[entry];
        let since = (now + o.len - then) % o.len;
        // The cursor's movement is only the writes since modulo the ring's length; a ring that
        // may have turned over since its copy (a module writes at least once per frame, rarely
        // more than twice) is carried whole, as is any small ring.
        let elapsed = plan.stage_frames - at_frames;
        if since >= k || 4 * o.len <= SMALL_RING_BYTES || elapsed.saturating_mul(2) >= o.len {
            copy_ring(src, o, dst, n);
            continue;
        }
        copy_wrapped(src, o, then, dst, n, k % n.len, since);
        let cursor = ((k + since) % n.len) as i32;
        dst[nc..nc + 4].copy_from_slice(&cursor.to_le_bytes());
    }
    copy_globals(plan, old_layout, old_store, new_layout, new_store);
    true
}

/// Copies `count` ring elements from old element `from` onwards into new element `to` onwards,
/// both wrapping around their rings.
fn copy_wrapped(
    src: &[u8],
    o: &Region,
    mut from: usize,
    dst: &mut [u8],
    n: &Region,
    mut to: usize,
    mut count: usize,
) {
    while count > 0 {
        let run = count.min(o.len - from).min(n.len - to);
        let (s, d) = (o.addr + 4 * from, n.addr + 4 * to);
        dst[d..d + 4 * run].copy_from_slice(&src[s..s + 4 * run]);
        from = (from + run) % o.len;
        to = (to + run) % n.len;
        count -= run;
    }
}

/// Carries a ring across a sample-rate change: the new ring gets as much of the old ring's
/// history as it holds, resampled by linear interpolation to the new rate, oldest first, and
/// its cursor points just past it.
fn resample_ring(src: &[u8], o: &Region, dst: &mut [u8], n: &Region, ratio: f64) {
    let (Some(c), Some(nc)) = (ring_cursor(src, o), n.cursor) else {
        return;
    };
    let sample = |age: usize| -> f32 {
        // The sample written `age` writes ago (1 = newest).
        let i = (c + o.len - age.clamp(1, o.len)) % o.len;
        f32::from_le_bytes([
            src[o.addr + 4 * i],
            src[o.addr + 4 * i + 1],
            src[o.addr + 4 * i + 2],
            src[o.addr + 4 * i + 3],
        ])
    };
    let k = n.len.min((o.len as f64 * ratio).floor() as usize);
    for j in 0..k {
        // New sample j has age k - j at the new rate, (k - j) / ratio at the old one.
        let age = ((k - j) as f64 / ratio).max(1.0);
        let whole = age.floor() as usize;
        let frac = (age - whole as f64) as f32;
        let v = sample(whole) * (1.0 - frac) + sample(whole + 1) * frac;
        let d = n.addr + 4 * j;
        dst[d..d + 4].copy_from_slice(&v.to_le_bytes());
    }
    let cursor = (k % n.len) as i32;
    dst[nc..nc + 4].copy_from_slice(&cursor.to_le_bytes());
}

/// Carries a ring buffer: the newest `min(old len, new len)` samples, oldest first, land at
/// the start of the new ring, and its cursor points just past them.
fn copy_ring(src: &[u8], o: &Region, dst: &mut [u8], n: &Region) {
    let (Some(cursor), Some(nc)) = (ring_cursor(src, o), n.cursor) else {
        return;
    };
    let k = o.len.min(n.len);
    // The newest k samples are old[cursor - k .. cursor) modulo the ring.
    copy_wrapped(src, o, (cursor + o.len - k) % o.len, dst, n, 0, k);
    let new_cursor = (k % n.len) as i32;
    dst[nc..nc + 4].copy_from_slice(&new_cursor.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(addr: usize, len: usize, cursor: usize) -> Region {
        Region {
            name: "r".into(),
            kind: RegionKind::Ring,
            addr,
            len,
            cursor: Some(cursor),
        }
    }

    fn write_f32s(mem: &mut [u8], addr: usize, values: &[f32]) {
        for (i, v) in values.iter().enumerate() {
            mem[addr + 4 * i..addr + 4 * i + 4].copy_from_slice(&v.to_le_bytes());
        }
    }

    fn read_f32s(mem: &[u8], addr: usize, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| f32::from_le_bytes(mem[addr + 4 * i..addr + 4 * i + 4].try_into().unwrap()))
            .collect()
    }

    #[test]
    fn ring_keeps_newest_samples_in_time_order() {
        // Old ring of 5 with cursor 2: written in order 3,4,5(at 2..5)... newest are at 0 and 1.
        let mut src = vec![0u8; 64];
        write_f32s(&mut src, 0, &[10.0, 11.0, 7.0, 8.0, 9.0]);
        src[40..44].copy_from_slice(&2i32.to_le_bytes());
        let o = ring(0, 5, 40);

        // Shrinking to 3 keeps the newest three: 9, 10, 11.
        let mut dst = vec![0u8; 64];
        copy_ring(&src, &o, &mut dst, &ring(0, 3, 40));
        assert_eq!(read_f32s(&dst, 0, 3), vec![9.0, 10.0, 11.0]);
        assert_eq!(i32::from_le_bytes(dst[40..44].try_into().unwrap()), 0);

        // Growing to 8 keeps all five in time order and points the cursor after them.
        let mut dst = vec![0u8; 64];
        copy_ring(&src, &o, &mut dst, &ring(0, 8, 40));
        assert_eq!(read_f32s(&dst, 0, 5), vec![7.0, 8.0, 9.0, 10.0, 11.0]);
        assert_eq!(i32::from_le_bytes(dst[40..44].try_into().unwrap()), 5);
    }

    #[test]
    fn unwrapped_cursor_is_reduced() {
        let mut src = vec![0u8; 64];
        write_f32s(&mut src, 0, &[1.0, 2.0, 3.0, 4.0]);
        src[40..44].copy_from_slice(&9i32.to_le_bytes()); // 9 mod 4 = 1: newest is index 0
        let mut dst = vec![0u8; 64];
        copy_ring(&src, &ring(0, 4, 40), &mut dst, &ring(0, 2, 40));
        assert_eq!(read_f32s(&dst, 0, 2), vec![4.0, 1.0]);
    }
}
