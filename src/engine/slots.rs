//! Host parameter slots: a fixed bank of [`MAX_PARAMS`] host parameters that module parameters
//! are bound to by id.
//!
//! A host stores automation against a parameter's host id, which must never change. Module
//! parameters come and go with every swap, so each module parameter id is bound to a slot and
//! keeps it for as long as the plugin instance (and the project, which saves the map) lives: a
//! module edited, reordered or swapped for another that declares "cutoff" drives the same host
//! parameter as before. A new id takes the lowest slot no id has used yet; once all are used,
//! it takes the slot whose id has gone unused the longest (never one the module itself uses).

use std::collections::BTreeMap;
use std::sync::Weak;

use super::params::MAX_PARAMS;

/// Marks a slot no parameter of the module is bound to.
pub const UNBOUND: u8 = u8::MAX;

/// Which module parameter id each host slot holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlotMap {
    ids: Vec<Option<String>>,
    /// When each slot was last bound, for choosing which to reuse.
    used: Vec<u64>,
    clock: u64,
}

impl SlotMap {
    /// The map as a project saves it: slot index by parameter id.
    pub fn to_saved(&self) -> BTreeMap<String, u8> {
        self.ids
            .iter()
            .enumerate()
            .filter_map(|(slot, id)| id.clone().map(|id| (id, slot as u8)))
            .collect()
    }

    /// A map read back from a project. Entries outside the bank, and second claims on a slot,
    /// are dropped.
    pub fn from_saved(saved: &BTreeMap<String, u8>) -> Self {
        let mut map = Self::default();
        map.grow();
        for (id, &slot) in saved {
            let slot = slot as usize;
            if slot < MAX_PARAMS && map.ids[slot].is_none() {
                map.ids[slot] = Some(id.clone());
            }
        }
        map
    }

    fn grow(&mut self) {
        self.ids.resize(MAX_PARAMS, None);
        self.used.resize(MAX_PARAMS, 0);
    }

    /// The id bound to `slot`, if any.
    pub fn id(&self, slot: usize) -> Option<&str> {
        self.ids.get(slot).and_then(|id| id.as_deref())
    }

    /// Binds a module's parameter ids (in declaration order, at most [`MAX_PARAMS`], all
    /// different) to slots and returns the slot of each.
    pub fn bind(&mut self, ids: &[&str]) -> Vec<u8> {
        self.grow();
        self.clock += 1;
        let mut slots: Vec<Option<usize>> = ids
            .iter()
            .map(|id| self.ids.iter().position(|s| s.as_deref() == Some(*id)))
            .collect();
        for slot in slots.iter().flatten() {
            self.used[*slot] = self.clock;
        }
        for (i, id) in ids.iter().enumerate().take(MAX_PARAMS) {
            if slots[i].is_some() {
                continue;
            }
            let free = self.ids.iter().position(Option::is_none);
            // Otherwise the slot unused the longest among those this module does not use.
            let reuse = || {
                (0..MAX_PARAMS)
                    .filter(|&s| self.used[s] != self.clock)
                    .min_by_key(|&s| self.used[s])
            };
            if let Some(slot) = free.or_else(reuse) {
                self.ids[slot] = Some((*id).to_owned());
                self.used[slot] = self.clock;
                slots[i] = Some(slot);
            }
        }
        slots
            .into_iter()
            .map(|s| s.map_or(UNBOUND, |s| s as u8))
            .collect()
    }
}

/// Where the plugin keeps the host's parameter values, normalized (0 to 1) along the bound
/// parameter's scale. Installed with [`Controller::set_host_values`](super::Controller): the
/// worker then carries values across swaps from here, and saved states read them here.
pub trait HostValues: Send + Sync {
    /// The normalized value of `slot`.
    fn normalized(&self, slot: usize) -> f32;
}

/// A weak handle, so the values' owner (the plugin's parameters) can refer back to the
/// controller without a reference cycle.
pub(crate) type HostValuesRef = Weak<dyn HostValues>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_their_slots_across_reorders_and_swaps() {
        let mut map = SlotMap::default();
        assert_eq!(map.bind(&["cutoff", "res", "drive"]), vec![0, 1, 2]);
        // Reordered, one gone, one new: the survivors keep their slots, the new id does not
        // take the slot of an id that may come back.
        assert_eq!(map.bind(&["res", "mix", "cutoff"]), vec![1, 3, 0]);
        assert_eq!(map.bind(&["drive"]), vec![2]);
        let saved = map.to_saved();
        assert_eq!(saved["mix"], 3);
        let mut reopened = SlotMap::from_saved(&saved);
        assert_eq!(reopened.bind(&["mix", "cutoff"]), vec![3, 0]);
    }

    #[test]
    fn a_full_bank_reuses_the_slot_unused_the_longest() {
        let mut map = SlotMap::default();
        let first: Vec<String> = (0..MAX_PARAMS).map(|i| format!("a{i}")).collect();
        let ids: Vec<&str> = first.iter().map(String::as_str).collect();
        assert_eq!(map.bind(&ids), (0..MAX_PARAMS as u8).collect::<Vec<_>>());
        // Slot 5 is used again now, so "new" reuses slot 0, whose id was bound longest ago.
        assert_eq!(map.bind(&["a5"]), vec![5]);
        assert_eq!(map.bind(&["new", "a5"]), vec![0, 5]);
        assert_eq!(map.id(0), Some("new"));
        // A module of 64 new ids still gets 64 distinct slots.
        let second: Vec<String> = (0..MAX_PARAMS).map(|i| format!("b{i}")).collect();
        let ids: Vec<&str> = second.iter().map(String::as_str).collect();
        let mut slots = map.bind(&ids);
        slots.sort_unstable();
        slots.dedup();
        assert_eq!(slots.len(), MAX_PARAMS);
    }

    #[test]
    fn damaged_saved_maps_are_tamed() {
        let saved = BTreeMap::from([("a".into(), 200u8), ("b".into(), 3), ("c".into(), 3)]);
        let map = SlotMap::from_saved(&saved);
        assert_eq!(map.id(3), Some("b"));
        assert_eq!(map.to_saved().len(), 1);
    }
}
