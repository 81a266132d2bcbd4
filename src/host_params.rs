//! The host's view of module parameters: a fixed bank of [`MAX_PARAMS`] host parameters
//! ("slot01" to "slot64"), each driving whichever module parameter is bound to it by id (see
//! `engine/slots.rs`). Names, defaults, visibility and value texts follow the playing module;
//! the values are normalized along the module parameter's own scale, so a host's automation
//! lanes and generic editors move exactly like the module's sliders.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use nice_plug::params::internals::ParamPtr;
use nice_plug::params::persist::PersistentField;
use nice_plug::params::DynamicParamInfo;
use nice_plug::prelude::*;

use crate::engine::{Bindings, Controller, HostValues, ModuleInfo, SlotMap, MAX_PARAMS};

/// Host id of slot `slot` (0-based): "slot01" to "slot64". Never change these: projects store
/// automation against them.
pub fn slot_id(slot: usize) -> String {
    format!("slot{:02}", slot + 1)
}

/// The bank of host parameters.
pub struct HostBank {
    params: Box<[FloatParam]>,
    /// Bit per slot: the host (or a restored state) set the slot since Wasp last wrote it.
    /// When a module takes over, a touched slot's value wins over the module's own.
    touched: Arc<AtomicU64>,
}

impl HostBank {
    pub fn new(bindings: Bindings) -> Self {
        let touched = Arc::new(AtomicU64::new(0));
        let params = (0..MAX_PARAMS)
            .map(|slot| {
                let (text, parse, info) = (bindings.clone(), bindings.clone(), bindings.clone());
                let touch = touched.clone();
                FloatParam::new(
                    format!("Unused {}", slot + 1),
                    0.0,
                    FloatRange::Linear { min: 0.0, max: 1.0 },
                )
                .with_value_to_string(Arc::new(move |normalized| match text.param(slot) {
                    Some(p) => p.format(p.denormalize(normalized)),
                    // An unused slot still has a value a host can write and read back.
                    None => format!("{normalized:.4}"),
                }))
                .with_string_to_value(Arc::new(move |typed| match parse.param(slot) {
                    Some(p) => p.parse(typed).map(|plain| p.normalize(plain)),
                    None => typed
                        .trim()
                        .parse::<f32>()
                        .ok()
                        .filter(|v| v.is_finite())
                        .map(|v| v.clamp(0.0, 1.0)),
                }))
                .with_callback(Arc::new(move |_| {
                    // Relaxed: read on the audio thread or in `activate`, after the host's
                    // own synchronisation with them.
                    touch.fetch_or(1 << slot, Ordering::Relaxed);
                }))
                .with_dynamic_info(Arc::new(move || {
                    Some(match info.param(slot) {
                        Some(p) => DynamicParamInfo {
                            name: p.name.clone(),
                            default_normalized: p.normalize(p.default),
                            hidden: false,
                        },
                        None => DynamicParamInfo {
                            name: format!("Unused {}", slot + 1),
                            default_normalized: 0.0,
                            hidden: true,
                        },
                    })
                }))
            })
            .collect();
        Self { params, touched }
    }

    /// Sets the slots of a module shown before it can run (see `Controller::preview`) to its
    /// parameters' defaults.
    pub fn show_defaults(&self, module: &ModuleInfo) {
        for (p, &slot) in module.metadata.params.iter().zip(&module.slots) {
            self.set(slot as usize, p.normalize(p.default));
        }
        self.take_touched();
    }

    /// Takes the touched bits (see [`HostBank::sync`]). Realtime-safe.
    fn take_touched(&self) -> u64 {
        self.touched.swap(0, Ordering::Relaxed)
    }

    /// Brings the bank and a module that just took over into agreement: a slot the host set
    /// since the last sync passes its value to the module; any other slot the module uses
    /// takes the module's value. `module` lists (slot, normalized value) of the module's
    /// parameters, `send` passes a host value on; `seen` gets the values the slots now hold.
    /// Realtime-safe.
    pub fn sync(
        &self,
        module: impl Iterator<Item = (usize, f32)>,
        mut send: impl FnMut(usize, f32),
        seen: &mut [f32; MAX_PARAMS],
    ) {
        let touched = self.take_touched();
        for (slot, value) in module {
            let Some(s) = seen.get_mut(slot) else {
                continue;
            };
            let current = self.value(slot);
            if touched & (1 << slot) != 0 {
                *s = current;
                send(slot, current);
            } else if (current - value).abs() > 1e-6 {
                *s = self.set(slot, value);
            } else {
                // The same value but for rounding (log scales lose a bit on the way through
                // plain values): the host's copy stays as it is.
                *s = current;
            }
        }
        // Wasp's own writes above touched their slots too.
        self.take_touched();
    }

    /// The host parameter of `slot`.
    pub fn param(&self, slot: usize) -> Option<&FloatParam> {
        self.params.get(slot)
    }

    /// Current normalized value of `slot`, with any host modulation. Realtime-safe.
    pub fn value(&self, slot: usize) -> f32 {
        self.params
            .get(slot)
            .map_or(0.0, |p| p.modulated_normalized_value())
    }

    /// Sets `slot` from the plugin side (after a swap binds a new parameter there) and returns
    /// the value it now holds. The host learns of it through a parameter rescan.
    /// Realtime-safe: the parameter's values are atomics.
    pub fn set(&self, slot: usize, normalized: f32) -> f32 {
        let Some(param) = self.params.get(slot) else {
            return 0.0;
        };
        // SAFETY: the pointer is to a parameter this bank owns and outlives the call. Setting
        // a value is what the wrappers do from the audio thread for host automation.
        unsafe {
            param.as_ptr()._internal_set_normalized_value(normalized);
        }
        param.modulated_normalized_value()
    }
}

impl HostValues for HostBank {
    fn normalized(&self, slot: usize) -> f32 {
        self.params
            .get(slot)
            .map_or(0.0, |p| p.unmodulated_normalized_value())
    }
}

// SAFETY: every pointer returned points into `self.params`, a boxed slice that lives (and
// never moves) as long as the bank.
unsafe impl Params for HostBank {
    fn param_map(&self) -> Vec<(String, ParamPtr, String)> {
        self.params
            .iter()
            .enumerate()
            .map(|(slot, p)| (slot_id(slot), p.as_ptr(), String::new()))
            .collect()
    }
}

/// The slot map in the plugin state ("bindings", restored before "module" because persisted
/// fields are restored in key order), so a reopened project binds each parameter id to the
/// host parameter its automation was recorded on.
pub struct BindingsField(pub Controller);

impl<'a> PersistentField<'a, BTreeMap<String, u8>> for BindingsField {
    fn set(&self, new_value: BTreeMap<String, u8>) {
        self.0.set_slot_map(SlotMap::from_saved(&new_value));
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&BTreeMap<String, u8>) -> R,
    {
        f(&self.0.slot_map().to_saved())
    }
}
