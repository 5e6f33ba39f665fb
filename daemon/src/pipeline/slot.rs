//! A job's running slot (one of `limits.max_running_jobs`). A job takes one to start
//! and gives it back when it has to wait: for the native lease (for good — the lease
//! bounds native work by itself, so recordings queued for the one GPU never keep other
//! routes' jobs from running) or for its original (taken again when that ends).

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The slot a running job holds (or has given back for a while).
#[derive(Debug)]
pub struct JobSlot {
    slots: Arc<Semaphore>,
    held: Mutex<Option<OwnedSemaphorePermit>>,
}

impl JobSlot {
    /// A job holding `permit`, one of `slots`.
    pub fn new(slots: Arc<Semaphore>, permit: OwnedSemaphorePermit) -> Self {
        Self {
            slots,
            held: Mutex::new(Some(permit)),
        }
    }

    fn held(&self) -> MutexGuard<'_, Option<OwnedSemaphorePermit>> {
        self.held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether the job holds its slot now.
    pub fn is_held(&self) -> bool {
        self.held().is_some()
    }

    /// Gives the slot back, so another job can start meanwhile.
    pub fn release(&self) {
        self.held().take();
    }

    /// Takes a slot again (waits until one is free); does nothing when one is held.
    pub async fn reacquire(&self) {
        if self.is_held() {
            return;
        }
        if let Ok(permit) = self.slots.clone().acquire_owned().await {
            *self.held() = Some(permit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_released_slot_lets_another_job_start_and_comes_back_when_free() {
        let slots = Arc::new(Semaphore::new(1));
        let permit = slots.clone().acquire_owned().await.expect("permit");
        let slot = JobSlot::new(slots.clone(), permit);
        assert!(
            slots.clone().try_acquire_owned().is_err(),
            "the one slot is held"
        );
        slot.release();
        let other = slots
            .clone()
            .try_acquire_owned()
            .expect("free while released");
        let again = tokio::spawn(async move {
            slot.reacquire().await;
            slot.is_held()
        });
        tokio::task::yield_now().await;
        assert!(!again.is_finished(), "waits while the other job runs");
        drop(other);
        assert!(again.await.expect("join"));
    }
}
