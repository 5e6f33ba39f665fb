//! What a fake does instead of answering well: scripted faults (a queue per kind of
//! call, taken in order), a storm (a share of calls fails, drawn from a seeded random
//! sequence so a run can be repeated) and fixed latencies. Each provider's module turns
//! a [`Fault`] into that provider's own wire format.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A kind of call, for aiming faults and latencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    /// Text generation.
    Text,
    /// Image generation.
    Image,
    /// Speech synthesis.
    Speech,
    /// Submitting a video.
    Submit,
    /// Polling a video operation.
    Poll,
    /// Downloading a result file.
    Download,
    /// Minting a session token from a cookie (Google Labs).
    Session,
    /// Creating a project, captioning or uploading a reference image (Google Labs).
    Upload,
}

/// A failure to inject, rendered in the provider's own format.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 429 for a per-minute limit, with the provider's retry hint of this length.
    RateLimited(Duration),
    /// 429 with no hint at all (Google's bare `RESOURCE_EXHAUSTED`).
    BareRateLimit,
    /// The provider's "too many requests at once" answer (ElevenLabs' concurrency 429).
    TooManyConcurrent,
    /// The per-day quota or the credit balance is spent.
    QuotaExhausted,
    /// 401: the key is not accepted.
    Unauthorized,
    /// 403: the key may not do this.
    Forbidden,
    /// 404: the model was retired.
    ModelGone,
    /// 500.
    Internal,
    /// 503.
    Unavailable,
    /// 200 with a body that is not the API's shape.
    Malformed,
    /// The provider's safety filter refuses the prompt or the output.
    Blocked,
    /// The answer is cut off (`MAX_TOKENS`, `finish_reason: length`).
    Truncated,
    /// Answer normally, but only after this long.
    Slow(Duration),
}

/// A share of calls that fail with one fault.
#[derive(Debug, Clone)]
struct Storm {
    share: f64,
    fault: Fault,
    calls: Option<Vec<Call>>,
}

#[derive(Default)]
struct Inner {
    queued: HashMap<Option<Call>, VecDeque<Fault>>,
    storm: Option<Storm>,
    random: Option<StdRng>,
    latency: HashMap<Call, Duration>,
    injected: usize,
}

/// The fault plan of one fake, shared by its handlers and the test.
#[derive(Clone, Default)]
pub struct Faults(Arc<Mutex<Inner>>);

impl Faults {
    /// Queues faults for the next calls of any kind.
    pub fn script(&self, faults: impl IntoIterator<Item = Fault>) {
        self.lock().queued.entry(None).or_default().extend(faults);
    }

    /// Queues faults for the next calls of one kind.
    pub fn script_for(&self, call: Call, faults: impl IntoIterator<Item = Fault>) {
        self.lock()
            .queued
            .entry(Some(call))
            .or_default()
            .extend(faults);
    }

    /// Fails `share` (0..1) of all later calls with `fault`, drawn from a sequence
    /// seeded with `seed`.
    pub fn storm(&self, share: f64, fault: Fault, seed: u64) {
        let mut inner = self.lock();
        inner.storm = Some(Storm {
            share,
            fault,
            calls: None,
        });
        inner.random = Some(StdRng::seed_from_u64(seed));
    }

    /// Like [`Faults::storm`], for some kinds of call only.
    pub fn storm_on(&self, calls: &[Call], share: f64, fault: Fault, seed: u64) {
        self.storm(share, fault, seed);
        if let Some(storm) = self.lock().storm.as_mut() {
            storm.calls = Some(calls.to_vec());
        }
    }

    /// Ends a storm.
    pub fn calm(&self) {
        self.lock().storm = None;
    }

    /// Every call of this kind takes at least `latency` (for video submits: from the
    /// submit until the operation is done).
    pub fn latency(&self, call: Call, latency: Duration) {
        self.lock().latency.insert(call, latency);
    }

    /// The latency set for a kind of call.
    pub fn latency_of(&self, call: Call) -> Duration {
        self.lock()
            .latency
            .get(&call)
            .copied()
            .unwrap_or(Duration::ZERO)
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> usize {
        self.lock().injected
    }

    /// The fault for the next call of this kind: its own queue first, then the
    /// queue for any call, then the storm.
    pub fn next(&self, call: Call) -> Option<Fault> {
        let mut inner = self.lock();
        let queued = inner
            .queued
            .get_mut(&Some(call))
            .and_then(VecDeque::pop_front)
            .or_else(|| inner.queued.get_mut(&None).and_then(VecDeque::pop_front));
        let fault = queued.or_else(|| {
            let storm = inner.storm.clone()?;
            if storm
                .calls
                .as_ref()
                .is_some_and(|calls| !calls.contains(&call))
            {
                return None;
            }
            let draw: f64 = inner.random.as_mut()?.random();
            (draw < storm.share).then_some(storm.fault)
        });
        if fault.is_some() {
            inner.injected += 1;
        }
        fault
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_faults_come_first_in_order_then_the_storm_share() {
        let faults = Faults::default();
        faults.script_for(Call::Image, [Fault::Internal, Fault::Unavailable]);
        faults.script([Fault::Forbidden]);
        assert_eq!(faults.next(Call::Text), Some(Fault::Forbidden));
        assert_eq!(faults.next(Call::Image), Some(Fault::Internal));
        assert_eq!(faults.next(Call::Image), Some(Fault::Unavailable));
        assert_eq!(faults.next(Call::Image), None);
        faults.storm(0.3, Fault::BareRateLimit, 7);
        let hit = (0..1000)
            .filter(|_| faults.next(Call::Speech).is_some())
            .count();
        assert!((250..350).contains(&hit), "{hit} of 1000 calls failed");
        faults.calm();
        assert_eq!(faults.next(Call::Speech), None);
    }

    #[test]
    fn a_storm_aimed_at_some_calls_spares_the_others() {
        let faults = Faults::default();
        faults.storm_on(&[Call::Submit], 1.0, Fault::Unavailable, 1);
        assert_eq!(faults.next(Call::Poll), None);
        assert_eq!(faults.next(Call::Submit), Some(Fault::Unavailable));
    }
}
