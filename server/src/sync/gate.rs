//! Admission to sync work: one sync per device at a time, a bound on the
//! syncs in flight, and a memory budget that every sync reserves its
//! estimated peak from before it does the work.
//!
//! A sync that cannot be admitted is answered at once (409 or 503 with
//! `Retry-After`), before its body is read: under load the server refuses
//! cheaply instead of queueing work it cannot finish in time.
//!
//! The budget is an estimate, not a measurement: sync-core measures what
//! received changes expand to before applying them ([`Footprint`]), and
//! [`work_bytes`] turns that into bytes with factors measured on automerge
//! 0.12. The process keeps a quarter of the budget for itself (code,
//! runtime, connections, the document cache); sync work shares the rest.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use fieldsync_core::sync::Footprint;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::store::DeviceId;

/// Why a sync was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Busy {
    /// This device already has a sync running.
    DeviceSyncing,
    /// As many syncs as the server allows are running.
    InFlight,
    /// The memory budget cannot take this sync's work now.
    Memory,
}

impl Busy {
    pub fn reason(self) -> &'static str {
        match self {
            Busy::DeviceSyncing => "device_syncing",
            Busy::InFlight => "in_flight",
            Busy::Memory => "memory",
        }
    }
}

/// Bytes of automerge's peak memory per operation applied (measured: about
/// 500 on automerge 0.12, with room to spare).
const BYTES_PER_OP: u64 = 600;
/// The request body is held as received, as decoded byte strings, and
/// roughly again as the response.
const BODY_COPIES: u64 = 3;
/// Permits count KiB so a budget of many GiB still fits a `u32` request.
const KIB: u64 = 1024;

/// The memory a document's received changes cost while they are applied:
/// its operations, and its bytes and text held inflated alongside.
pub fn work_bytes(cost: &Footprint) -> u64 {
    cost.ops
        .saturating_mul(BYTES_PER_OP)
        .saturating_add(cost.decompressed_bytes.saturating_mul(2))
        .saturating_add(cost.text_bytes.saturating_mul(4))
}

/// Shared by every request of one server process.
#[derive(Debug)]
pub struct SyncGate {
    devices: Mutex<HashSet<DeviceId>>,
    in_flight: Arc<Semaphore>,
    memory: Arc<Semaphore>,
    memory_kib: u64,
}

impl SyncGate {
    /// `memory_budget` is the process's whole budget in bytes; sync work
    /// may reserve three quarters of it.
    pub fn new(max_in_flight: usize, memory_budget: u64) -> Self {
        let memory_kib = (memory_budget / 4 * 3 / KIB).min(Semaphore::MAX_PERMITS as u64);
        Self {
            devices: Mutex::new(HashSet::new()),
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
            memory: Arc::new(Semaphore::new(memory_kib as usize)),
            memory_kib,
        }
    }

    /// Admits one sync of `device` whose body declares `body_bytes`, or
    /// says why not. Dropping the [`Pass`] releases everything it holds.
    pub fn enter(self: &Arc<Self>, device: DeviceId, body_bytes: u64) -> Result<Pass, Busy> {
        let slot = DeviceSlot::take(self, device).ok_or(Busy::DeviceSyncing)?;
        let in_flight = self
            .in_flight
            .clone()
            .try_acquire_owned()
            .map_err(|_| Busy::InFlight)?;
        let mut pass = Pass {
            gate: self.clone(),
            _slot: slot,
            _in_flight: in_flight,
            memory: Vec::new(),
        };
        if !pass.reserve(body_bytes.saturating_mul(BODY_COPIES)) {
            return Err(Busy::Memory);
        }
        Ok(pass)
    }

    /// Waits up to `wait` for `bytes` of the budget, for work beside the
    /// syncs that shares it (finishing an upload). A request larger than
    /// the whole budget takes all of it: it then runs alone rather than
    /// never. `None` if the budget stayed taken.
    pub async fn reserve_waiting(
        &self,
        bytes: u64,
        wait: std::time::Duration,
    ) -> Option<OwnedSemaphorePermit> {
        let kib = bytes.div_ceil(KIB).clamp(1, self.memory_kib.max(1));
        let kib = u32::try_from(kib).unwrap_or(u32::MAX);
        tokio::time::timeout(wait, self.memory.clone().acquire_many_owned(kib))
            .await
            .ok()?
            .ok()
    }

    /// KiB of the budget not reserved right now (for tests and metrics).
    pub fn memory_free_kib(&self) -> u64 {
        self.memory.available_permits() as u64
    }

    pub fn memory_budget_kib(&self) -> u64 {
        self.memory_kib
    }
}

/// Marks a device as syncing until dropped.
#[derive(Debug)]
struct DeviceSlot {
    gate: Arc<SyncGate>,
    device: DeviceId,
}

impl DeviceSlot {
    fn take(gate: &Arc<SyncGate>, device: DeviceId) -> Option<Self> {
        let mut devices = gate.devices.lock().unwrap_or_else(PoisonError::into_inner);
        devices.insert(device).then(|| DeviceSlot {
            gate: gate.clone(),
            device,
        })
    }
}

impl Drop for DeviceSlot {
    fn drop(&mut self) {
        self.gate
            .devices
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.device);
    }
}

/// One admitted sync: its device slot, its place in flight and the memory
/// it reserved so far.
#[derive(Debug)]
pub struct Pass {
    gate: Arc<SyncGate>,
    _slot: DeviceSlot,
    _in_flight: OwnedSemaphorePermit,
    memory: Vec<OwnedSemaphorePermit>,
}

impl Pass {
    /// Reserves `bytes` more of the budget, if it has them now.
    pub fn reserve(&mut self, bytes: u64) -> bool {
        let kib = bytes.div_ceil(KIB);
        let Ok(kib) = u32::try_from(kib) else {
            return false;
        };
        if kib == 0 {
            return true;
        }
        match self.gate.memory.clone().try_acquire_many_owned(kib) {
            Ok(permit) => {
                self.memory.push(permit);
                true
            }
            Err(_) => false,
        }
    }

    /// Bytes this sync holds of the budget.
    /// Reserves for `bytes` more of a request body (as [`SyncGate::enter`]
    /// does for the body as it arrives): a compressed body's inflated bytes.
    pub fn reserve_body(&mut self, bytes: u64) -> bool {
        self.reserve(bytes.saturating_mul(BODY_COPIES))
    }

    pub fn reserved(&self) -> u64 {
        self.memory
            .iter()
            .map(|p| p.num_permits() as u64 * KIB)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sync_per_device_and_the_bound_on_syncs_in_flight() {
        let gate = Arc::new(SyncGate::new(2, 64 << 20));
        let (a, b, c) = (
            DeviceId::new_random(),
            DeviceId::new_random(),
            DeviceId::new_random(),
        );
        let first = gate.enter(a, 1000).unwrap();
        assert_eq!(gate.enter(a, 1000).unwrap_err(), Busy::DeviceSyncing);
        let second = gate.enter(b, 1000).unwrap();
        assert_eq!(gate.enter(c, 1000).unwrap_err(), Busy::InFlight);
        drop(first);
        // The device is free again, and so is its place in flight.
        let again = gate.enter(a, 1000).unwrap();
        drop((second, again));
        gate.enter(c, 1000).unwrap();
    }

    #[test]
    fn the_memory_budget_is_reserved_and_given_back() {
        // 4 MiB budget: sync work may reserve 3 MiB.
        let gate = Arc::new(SyncGate::new(10, 4 << 20));
        assert_eq!(gate.memory_budget_kib(), 3 * 1024);
        let mut pass = gate.enter(DeviceId::new_random(), 1 << 20).unwrap();
        assert_eq!(pass.reserved(), 3 << 20);
        assert!(!pass.reserve(1));
        assert_eq!(
            gate.enter(DeviceId::new_random(), 10).unwrap_err(),
            Busy::Memory
        );
        drop(pass);
        assert_eq!(gate.memory_free_kib(), 3 * 1024);
        let mut pass = gate.enter(DeviceId::new_random(), 0).unwrap();
        let cost = Footprint {
            changes: 1,
            ops: 1000,
            decompressed_bytes: 10_000,
            text_bytes: 1_000,
        };
        assert!(pass.reserve(work_bytes(&cost)));
        assert_eq!(pass.reserved(), work_bytes(&cost).div_ceil(1024) * 1024);
    }
}
