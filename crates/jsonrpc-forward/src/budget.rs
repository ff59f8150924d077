//! Memory bounded by bytes, not by count: the lines read ahead of the bridge and the
//! messages queued for stdout each draw on a byte budget, and whoever would pass it waits.
//!
//! A count bound is no bound when one message may be 64 MiB: 1024 queued notifications of
//! 1 MiB each are a gigabyte. With a budget, a client that reads stdout slowly holds the
//! server's stream back (its task waits here, so TCP stops it), and a client that writes
//! faster than the server answers waits for stdin to be read.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Budgets are kept in units of this many bytes, so that a `u32` of permits covers them.
const UNIT: usize = 1024;

/// A shared byte budget. Cheap to clone; clones share it.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    permits: Arc<Semaphore>,
    units: u32,
}

/// Bytes drawn from a [`Budget`]; they go back when this is dropped.
#[derive(Debug)]
pub(crate) struct Charge {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Charge {
    /// A charge of nothing: for the few small lines that must never wait (the answers of a
    /// shutdown).
    pub(crate) fn none() -> Self {
        Self { _permit: None }
    }
}

impl Budget {
    /// A budget of `bytes` (at least one unit).
    pub(crate) fn new(bytes: usize) -> Self {
        let units = bytes
            .div_ceil(UNIT)
            .clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        let units = u32::try_from(units).unwrap_or(u32::MAX);
        Self {
            permits: Arc::new(Semaphore::new(units as usize)),
            units,
        }
    }

    /// The units `len` bytes take: never more than the whole budget, so that one item larger
    /// than it still passes, alone.
    fn units_for(&self, len: usize) -> u32 {
        u32::try_from(len.div_ceil(UNIT).max(1))
            .unwrap_or(u32::MAX)
            .min(self.units)
    }

    /// Draws `len` bytes, waiting until they are free.
    pub(crate) async fn charge(&self, len: usize) -> Charge {
        let units = self.units_for(len);
        // The semaphore is never closed, so this only fails if it were.
        Charge {
            _permit: Arc::clone(&self.permits)
                .acquire_many_owned(units)
                .await
                .ok(),
        }
    }

    /// Draws `len` bytes if they are free now.
    pub(crate) fn try_charge(&self, len: usize) -> Option<Charge> {
        let units = self.units_for(len);
        Arc::clone(&self.permits)
            .try_acquire_many_owned(units)
            .ok()
            .map(|p| Charge { _permit: Some(p) })
    }

    /// The bytes in use now (for tests and benchmarks).
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        (self.units as usize - self.permits.available_permits()) * UNIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn budget_holds_charges_back_until_bytes_are_returned() {
        let budget = Budget::new(10 * UNIT);
        let first = budget.charge(6 * UNIT).await;
        assert!(budget.try_charge(5 * UNIT).is_none(), "over the budget");
        let second = budget.try_charge(4 * UNIT).expect("fits");
        assert_eq!(budget.used(), 10 * UNIT);
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.charge(UNIT).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "waits while the budget is spent");
        drop(first);
        let third = waiting.await.expect("charged once bytes came back");
        assert_eq!(budget.used(), 5 * UNIT);
        drop((second, third));
        assert_eq!(budget.used(), 0);
    }

    #[tokio::test]
    async fn budget_lets_an_item_larger_than_itself_pass_alone() {
        let budget = Budget::new(4 * UNIT);
        let big = budget.charge(100 * UNIT).await;
        assert!(budget.try_charge(1).is_none());
        drop(big);
        assert!(budget.try_charge(1).is_some());
        assert!(
            Budget::new(0).try_charge(usize::MAX).is_some(),
            "no overflow"
        );
    }
}
