//! The in-memory job queue: claimed jobs waiting for a running slot.
//!
//! The queue counts a job as queued from its claim until its runner has checkpointed it
//! as running (or given it up), so the on-disk number of queued job folders never exceeds
//! `max_queue_depth`. Freed room wakes the intake so claiming resumes at once.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use tokio::sync::Notify;
use uuid::Uuid;

#[derive(Debug, Default)]
struct Inner {
    waiting: VecDeque<Uuid>,
    /// Jobs in `waiting` or being run by this daemon.
    known: HashSet<Uuid>,
    /// Jobs claimed or adopted that have not yet been checkpointed as running.
    queued: usize,
}

/// Claimed jobs waiting to run.
pub struct JobQueue {
    inner: Mutex<Inner>,
    job_available: Notify,
    depth: usize,
    on_room: Box<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for JobQueue {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("JobQueue")
            .field("depth", &self.depth)
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl JobQueue {
    /// A queue holding at most `depth` queued jobs; `on_room` is called when room frees up.
    pub fn new(depth: usize, on_room: Box<dyn Fn() + Send + Sync>) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            job_available: Notify::new(),
            depth,
            on_room,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many more jobs may be queued now.
    pub fn room(&self) -> usize {
        self.depth.saturating_sub(self.lock().queued)
    }

    /// Jobs queued (claimed, not yet running).
    pub fn queued(&self) -> usize {
        self.lock().queued
    }

    /// Jobs this daemon knows (queued or running).
    pub fn known(&self) -> usize {
        self.lock().known.len()
    }

    /// Whether this daemon already has the job.
    pub fn contains(&self, id: Uuid) -> bool {
        self.lock().known.contains(&id)
    }

    /// Adds a job; `false` when it is already known.
    pub fn push(&self, id: Uuid) -> bool {
        {
            let mut inner = self.lock();
            if !inner.known.insert(id) {
                return false;
            }
            inner.waiting.push_back(id);
            inner.queued += 1;
        }
        self.job_available.notify_one();
        true
    }

    /// Waits for the next job.
    pub async fn pop(&self) -> Uuid {
        loop {
            let notified = self.job_available.notified();
            if let Some(id) = self.lock().waiting.pop_front() {
                return id;
            }
            notified.await;
        }
    }

    /// Puts a popped job back at the front, still queued (a drain began before it got
    /// a slot).
    pub fn put_back(&self, id: Uuid) {
        self.lock().waiting.push_front(id);
        self.job_available.notify_one();
    }

    /// The job's runner has checkpointed it as running, or given it up: it no longer
    /// counts against the queue depth.
    pub fn started(&self) {
        {
            let mut inner = self.lock();
            inner.queued = inner.queued.saturating_sub(1);
        }
        (self.on_room)();
    }

    /// The job's runner is done with it (it may be seen again by a rescan).
    pub fn forget(&self, id: Uuid) {
        self.lock().known.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn room_returns_only_when_started() {
        let queue = JobQueue::new(2, Box::new(|| {}));
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(queue.push(a));
        assert!(!queue.push(a));
        assert!(queue.push(b));
        assert_eq!(queue.room(), 0);
        assert_eq!(queue.pop().await, a);
        assert_eq!(queue.room(), 0, "popped but not started still counts");
        queue.started();
        assert_eq!(queue.room(), 1);
        queue.forget(a);
        assert!(!queue.contains(a));
        assert!(queue.contains(b));
    }
}
