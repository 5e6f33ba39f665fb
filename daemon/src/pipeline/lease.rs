//! The native lease: one holder at a time, and a preference for work on the model that
//! is already loaded.
//!
//! When the lease is returned and several stages wait, a stage whose model is resident
//! goes before one that would make the daemon swap models (unload one, load another),
//! so a model stays loaded while queued jobs still need it. The preference yields after
//! [`MAX_STREAK`] grants in a row, so the other model's jobs never starve. Otherwise
//! the oldest job goes first (its rank: the claim-ordered job id), then first come,
//! first served, so an early job's summary does not wait behind every later job's
//! transcription.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio::sync::oneshot;

/// Consecutive grants to the resident model's stages while others wait.
pub const MAX_STREAK: u32 = 8;

/// The native models a stage can need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// whisper.cpp.
    Whisper,
    /// llama.cpp.
    Llama,
}

impl ModelKind {
    fn bit(self) -> u8 {
        match self {
            ModelKind::Whisper => 1,
            ModelKind::Llama => 2,
        }
    }
}

/// The lease and who waits for it.
#[derive(Debug, Default)]
pub struct Lease {
    state: Mutex<State>,
    resident: AtomicU8,
}

#[derive(Debug, Default)]
struct State {
    held: bool,
    next_id: u64,
    waiting: VecDeque<Waiter>,
    streak: u32,
}

#[derive(Debug)]
struct Waiter {
    id: u64,
    rank: u128,
    kind: ModelKind,
    grant: oneshot::Sender<()>,
}

/// Held while the lease is ours; returning it hands it to the next waiter.
#[derive(Debug)]
pub struct Grant<'a> {
    lease: &'a Lease,
}

impl Drop for Grant<'_> {
    fn drop(&mut self) {
        self.lease.hand_over();
    }
}

/// A waiter's place in the queue; leaving it (the waiting future was dropped) removes
/// it, or passes the lease on if it had just been granted.
struct Place<'a> {
    lease: &'a Lease,
    id: u64,
    granted: Option<oneshot::Receiver<()>>,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        let Some(mut receiver) = self.granted.take() else {
            return;
        };
        let mut state = self.lease.lock();
        receiver.close();
        if receiver.try_recv().is_ok() {
            drop(state);
            self.lease.hand_over();
        } else {
            state.waiting.retain(|waiter| waiter.id != self.id);
        }
    }
}

impl Lease {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records which models are loaded (for the preference).
    pub fn set_resident(&self, kind: ModelKind, loaded: bool) {
        if loaded {
            self.resident.fetch_or(kind.bit(), Ordering::SeqCst);
        } else {
            self.resident.fetch_and(!kind.bit(), Ordering::SeqCst);
        }
    }

    /// Waits for the lease, for work on a `kind` model, first come, first served.
    pub async fn acquire(&self, kind: ModelKind) -> Grant<'_> {
        self.acquire_ranked(kind, u128::MAX).await
    }

    /// Waits for the lease, for work on a `kind` model, ahead of waiters with a higher
    /// `rank` (a job's claim-ordered id: older jobs first).
    pub async fn acquire_ranked(&self, kind: ModelKind, rank: u128) -> Grant<'_> {
        let receiver = {
            let mut state = self.lock();
            if !state.held {
                state.held = true;
                state.streak = 0;
                return Grant { lease: self };
            }
            let (grant, receiver) = oneshot::channel();
            state.next_id += 1;
            let id = state.next_id;
            state.waiting.push_back(Waiter {
                id,
                rank,
                kind,
                grant,
            });
            Place {
                lease: self,
                id,
                granted: Some(receiver),
            }
        };
        let mut place = receiver;
        if let Some(receiver) = place.granted.as_mut() {
            // The sender is only dropped after sending or with the lease itself.
            let _ = receiver.await;
        }
        place.granted = None;
        Grant { lease: self }
    }

    /// Gives the lease to the next waiter, or frees it.
    fn hand_over(&self) {
        let mut state = self.lock();
        let resident = self.resident.load(Ordering::SeqCst);
        loop {
            let only_one_resident = resident == 1 || resident == 2;
            // The queue's order: rank, then arrival.
            let first_of = |keep: &dyn Fn(&Waiter) -> bool| {
                state
                    .waiting
                    .iter()
                    .enumerate()
                    .filter(|(_, waiter)| keep(waiter))
                    .min_by_key(|(_, waiter)| (waiter.rank, waiter.id))
                    .map(|(index, _)| index)
            };
            let first = first_of(&|_| true);
            let preferred = if only_one_resident && state.streak < MAX_STREAK {
                first_of(&|waiter| waiter.kind.bit() == resident)
            } else {
                None
            };
            let index = match preferred {
                Some(index) => {
                    // Jumping the queue counts towards the streak; being first does not.
                    if Some(index) != first {
                        state.streak += 1;
                    } else {
                        state.streak = 0;
                    }
                    index
                }
                None if state.waiting.is_empty() => {
                    state.held = false;
                    state.streak = 0;
                    return;
                }
                None => {
                    state.streak = 0;
                    first.unwrap_or(0)
                }
            };
            let Some(waiter) = state.waiting.remove(index) else {
                continue;
            };
            if waiter.grant.send(()).is_ok() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    /// Queues `kinds` behind a held lease, releases it, and returns the order in which
    /// the waiters got it.
    async fn grant_order(resident: &[ModelKind], kinds: &[ModelKind]) -> Vec<(usize, ModelKind)> {
        let lease = Arc::new(Lease::default());
        for kind in resident {
            lease.set_resident(*kind, true);
        }
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let first = lease.acquire(ModelKind::Whisper).await;
        let mut tasks = Vec::new();
        for (index, kind) in kinds.iter().copied().enumerate() {
            let (lease, order) = (lease.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _grant = lease.acquire(kind).await;
                order.lock().expect("order").push((index, kind));
                tokio::time::sleep(Duration::from_millis(2)).await;
            }));
            // Queue them in this order.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(first);
        for task in tasks {
            task.await.expect("waiter task");
        }
        order.lock().expect("order").clone()
    }

    use ModelKind::{Llama as L, Whisper as W};

    #[tokio::test]
    async fn the_resident_models_work_goes_first() {
        let order = grant_order(&[W], &[L, W, L, W]).await;
        assert_eq!(order, [(1, W), (3, W), (0, L), (2, L)]);
    }

    #[tokio::test]
    async fn without_a_single_resident_model_it_is_first_come_first_served() {
        assert_eq!(grant_order(&[], &[L, W, L]).await, [(0, L), (1, W), (2, L)]);
        assert_eq!(
            grant_order(&[W, L], &[L, W, L]).await,
            [(0, L), (1, W), (2, L)]
        );
    }

    #[tokio::test]
    async fn the_preference_yields_so_nobody_starves() {
        let mut kinds = vec![L];
        kinds.extend(std::iter::repeat_n(W, MAX_STREAK as usize + 2));
        let order = grant_order(&[W], &kinds).await;
        let llama_turn = order.iter().position(|(_, kind)| *kind == L);
        assert_eq!(llama_turn, Some(MAX_STREAK as usize), "{order:?}");
    }

    #[tokio::test]
    async fn an_older_job_goes_before_later_jobs_that_queued_first() {
        let lease = Arc::new(Lease::default());
        let held = lease.acquire(W).await;
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // Jobs 5, 6, 7 queue for whisper, then job 1 (the oldest) for llama.
        for (rank, kind) in [(5, W), (6, W), (7, W), (1, L)] {
            let (lease, order) = (lease.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _grant = lease.acquire_ranked(kind, rank).await;
                order.lock().expect("order").push(rank);
            }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(held);
        for task in tasks {
            task.await.expect("waiter task");
        }
        assert_eq!(*order.lock().expect("order"), [1, 5, 6, 7]);
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_does_not_keep_the_lease() {
        let lease = Lease::default();
        let held = lease.acquire(W).await;
        {
            let waiting = lease.acquire(L);
            let _ = tokio::time::timeout(Duration::from_millis(10), waiting).await;
        }
        drop(held);
        let again = tokio::time::timeout(Duration::from_secs(1), lease.acquire(W)).await;
        assert!(
            again.is_ok(),
            "the lease was lost with the waiter that gave up"
        );
    }

    #[tokio::test]
    async fn a_grant_to_a_waiter_that_left_is_passed_on() {
        let lease = Lease::default();
        let held = lease.acquire(W).await;
        let mut waiting = Box::pin(lease.acquire(L));
        assert!(futures_util::poll!(&mut waiting).is_pending());
        drop(held); // hands the lease to `waiting`...
        drop(waiting); // ...which leaves without taking it
        let again = tokio::time::timeout(Duration::from_secs(1), lease.acquire(W)).await;
        assert!(
            again.is_ok(),
            "the lease was lost with the waiter that left"
        );
    }
}
