//! What a module makes the host hold: every object the host creates for a module is
//! charged here, against the module's memory limit, and given back when it is freed.
//!
//! Engine objects share their parents (a container after `with-exec` points at the
//! container before it), so dropping a handle does not free what a live object derived
//! from it still uses. A dropped object's charge therefore moves to one of its live
//! children, and is given back only when none is left: the bytes a module can reach are
//! always charged to a live object, counted once.
//!
//! Going over the limit traps, as running out of linear memory does: the module is
//! stopped with [`super::RuntimeError::HostMemoryExceeded`] rather than handed an error
//! it could ignore while still holding everything.

use std::collections::HashMap;

use crate::engine::{CacheVolume, Container, Directory, File, GitRef, GitRepository, Secret, Service};

/// The fixed cost of one host object (its node, its table slot, its digest), on top of
/// the strings it holds. Larger than the structs themselves, so that a module cannot
/// hold a million tiny objects for free.
pub const OBJECT_BYTES: usize = 512;

/// An object the host makes for a module.
pub trait HostObject {
    /// Bytes the new object copies from the object it was derived from, beyond what the
    /// module handed over for it (a container copies its configuration and mounts into
    /// each container and command derived from it).
    fn copied_bytes(&self) -> usize {
        0
    }
}

impl HostObject for Container {
    fn copied_bytes(&self) -> usize {
        let config = &self.0.config;
        let strings = |items: &Option<Vec<String>>| items.iter().flatten().map(String::len).sum::<usize>();
        let bytes = config
            .env
            .iter()
            .map(|(name, value)| name.len() + value.as_ref().map_or(0, String::len))
            .sum::<usize>()
            + config.labels.iter().map(|(name, value)| name.len() + value.len()).sum::<usize>()
            + config.workdir.as_ref().map_or(0, String::len)
            + config.user.as_ref().map_or(0, String::len)
            + strings(&config.entrypoint)
            + strings(&config.default_args)
            + self.0.mounts.iter().map(|mount| mount.path.len()).sum::<usize>();
        // Once in the container, once more in the command that runs in it.
        bytes.saturating_mul(2)
    }
}

impl HostObject for Directory {}
impl HostObject for File {}
impl HostObject for CacheVolume {}
impl HostObject for GitRepository {}
impl HostObject for GitRef {}
impl HostObject for Secret {}
impl HostObject for Service {}

/// One live object's charge.
struct Charge {
    /// Distinguishes this object from a later one given the same table slot.
    generation: u64,
    bytes: usize,
    /// Objects derived from this one, as (slot, generation); some may be gone.
    children: Vec<(u32, u64)>,
}

/// The bytes held in host objects by one invocation.
#[derive(Default)]
pub struct HostMemory {
    used: usize,
    charges: HashMap<u32, Charge>,
    next_generation: u64,
}

impl HostMemory {
    /// Bytes currently charged.
    pub fn used(&self) -> usize {
        self.used
    }

    /// How many objects are charged.
    pub fn objects(&self) -> usize {
        self.charges.len()
    }

    /// Charges `bytes` for the object in table slot `rep`, derived from the objects in
    /// `parents` (so that dropping them does not give back what it still uses).
    pub fn charge(&mut self, rep: u32, bytes: usize, parents: &[u32]) {
        let generation = self.next_generation;
        self.next_generation += 1;
        // A slot whose object left the table without a `drop` (handed to another module,
        // returned as a result) keeps its charge: it may still be alive elsewhere.
        self.charges.remove(&rep);
        self.used = self.used.saturating_add(bytes);
        self.charges.insert(
            rep,
            Charge {
                generation,
                bytes,
                children: Vec::new(),
            },
        );
        for parent in parents {
            let Some(charge) = self.charges.get_mut(parent) else {
                continue;
            };
            charge.children.push((rep, generation));
            // Children that are gone need no place in the list: pruning at each power of
            // two keeps it as long as the live children, not as long as history.
            if charge.children.len() >= 64 && charge.children.len().is_power_of_two() {
                let mut children = std::mem::take(&mut charge.children);
                children.retain(|(child, generation)| self.charges.get(child).is_some_and(|live| live.generation == *generation));
                if let Some(charge) = self.charges.get_mut(parent) {
                    charge.children = children;
                }
            }
        }
    }

    /// The object in slot `rep` was dropped by the module: its bytes go to a live child,
    /// or back to the module's budget when it has none.
    pub fn release(&mut self, rep: u32) {
        let Some(charge) = self.charges.remove(&rep) else {
            return;
        };
        let heir = charge
            .children
            .iter()
            .copied()
            .find(|(child, generation)| self.charges.get(child).is_some_and(|live| live.generation == *generation));
        match heir {
            Some((child, _)) => {
                if let Some(live) = self.charges.get_mut(&child) {
                    live.bytes = live.bytes.saturating_add(charge.bytes);
                }
            }
            None => self.used = self.used.saturating_sub(charge.bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_an_object_gives_its_bytes_back() {
        let mut memory = HostMemory::default();
        memory.charge(1, 100, &[]);
        memory.charge(2, 50, &[]);
        assert_eq!(memory.used(), 150);
        memory.release(1);
        assert_eq!(memory.used(), 50);
        memory.release(2);
        assert_eq!(memory.used(), 0);
        assert_eq!(memory.objects(), 0);
    }

    #[test]
    fn a_live_child_keeps_its_parents_bytes_charged() {
        let mut memory = HostMemory::default();
        memory.charge(1, 1000, &[]);
        memory.charge(2, 10, &[1]);
        memory.release(1);
        assert_eq!(memory.used(), 1010, "the child still holds its parent's data");
        memory.release(2);
        assert_eq!(memory.used(), 0);
    }

    #[test]
    fn a_reused_slot_is_not_mistaken_for_the_child_that_had_it() {
        let mut memory = HostMemory::default();
        memory.charge(1, 1000, &[]);
        memory.charge(2, 10, &[1]);
        memory.release(2);
        // Slot 2 now holds an unrelated object: the parent's bytes are not its own.
        memory.charge(2, 10, &[]);
        memory.release(1);
        assert_eq!(memory.used(), 10);
    }

    #[test]
    fn an_object_that_left_without_drop_stays_charged() {
        let mut memory = HostMemory::default();
        memory.charge(1, 100, &[]);
        memory.charge(1, 100, &[]);
        assert_eq!(memory.used(), 200);
    }
}
