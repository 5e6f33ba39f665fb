//! The intake: watches the inboxes, decides when an entry is complete, claims ready
//! entries in batches while the queue has room, and adopts orphaned jobs.
//!
//! Watcher events are hints; the directory scan is the truth. A full rescan runs at
//! start, every `spool.rescan_interval`, and whenever the watcher reports an overflow.
//! The intake runs on its own thread because all of its work is blocking file I/O.
//!
//! When an entry is complete: a close-after-write or a rename into the inbox says so at
//! once. Anything else (an entry found by a scan — at start-up, when a second daemon
//! joins, after an overflow — or one seen written but never closed) is taken only after
//! this daemon has watched it unchanged for `watch.settle` (`watch.open_file_timeout`
//! after write events) **and** no process on this host has one of its files open for
//! writing (`open_files`). An old mtime alone proves nothing: the writer may be paused.

pub mod config;
mod inboxes;
mod open_files;

use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

use notify::EventKind;
use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};

use crate::claim::{ClaimOutcome, ClaimRequest, Claimer};
use crate::config::Config;
use crate::job::{self, JobLock};
use crate::pipeline::config::RouteConfig;
use crate::queue::JobQueue;
use crate::spool::Spool;
use crate::spool::config::ClaimCommit;
use crate::spool::entry::{self, FileId, InputKind, Inspection, Rejection};
use crate::spool::owner::{Liveness, Owner};
use crate::status::{ClaimHold, DaemonStatus};

/// Messages the intake thread reacts to.
#[derive(Debug)]
pub enum IntakeMessage {
    /// A filesystem event from the watcher.
    Fs(notify::Result<notify::Event>),
    /// The queue has room again.
    QueueRoom,
    /// The configuration was reloaded: follow its routes (watch new inboxes).
    Reload(Arc<Config>),
    /// Stop.
    Shutdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Readiness {
    /// Seen by a scan only: ready once unchanged for `watch.settle` and not open for
    /// writing on this host.
    Settling,
    /// Seen being written (create/modify events): ready when closed or renamed in, or
    /// after `watch.open_file_timeout` of quiet once no process here holds it open.
    Writing,
    /// Complete: claim it.
    Ready,
}

#[derive(Debug)]
struct Candidate {
    readiness: Readiness,
    fingerprint: (u64, SystemTime, usize),
    last_change: Instant,
    /// Last seen open for writing by a process on this host: looked at again every
    /// tick, and settled from the moment it is seen closed.
    held_open: bool,
}

type Key = (usize, OsString);

/// The intake's state; owned by its thread.
pub struct Intake {
    spool: Spool,
    config: Arc<Config>,
    routes: Vec<RouteConfig>,
    inbox_dirs: HashMap<PathBuf, usize>,
    /// `jobs/`, watched for jobs renamed in by `chute retry`.
    jobs_dir: PathBuf,
    candidates: HashMap<Key, Candidate>,
    ready: VecDeque<Key>,
    queue: Arc<JobQueue>,
    claimer: Claimer,
    liveness: Liveness,
    me: Owner,
    queue_full_logged: bool,
    /// What may hold claiming (operator, disk); asked before every claim round.
    status: Arc<DaemonStatus>,
    /// The hold last logged, so each change is logged once.
    hold_logged: Option<ClaimHold>,
    /// No walk of `/proc` before this: walks take at most a tenth of the intake's time
    /// on a host with many open files.
    next_writer_walk: Instant,
    /// The inbox watcher (kept here so a reload can watch new inboxes).
    watcher: Option<notify::RecommendedWatcher>,
    /// Stamped every turn of the loop (the systemd watchdog asks for it).
    alive: Arc<crate::daemon::notify::AliveStamp>,
    /// Told once the first full rescan is done (the daemon is ready after it).
    first_scan: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Intake {
    /// An intake for these routes feeding `queue`.
    pub fn new(
        spool: Spool,
        config: Arc<Config>,
        routes: Vec<RouteConfig>,
        queue: Arc<JobQueue>,
        status: Arc<DaemonStatus>,
    ) -> Self {
        let inbox_dirs = routes
            .iter()
            .enumerate()
            .map(|(index, route)| (spool.inbox(&route.name), index))
            .collect();
        let sync_batches = match (config.spool.fsync, config.spool.claim_commit) {
            (false, _) => false,
            (true, ClaimCommit::Batch) => true,
            (true, ClaimCommit::Auto) => !job::folders_keep_route_tags(&spool.jobs()),
        };
        tracing::info!(
            sync_per_batch = sync_batches,
            "Claims are made durable by {}.",
            if sync_batches {
                "one filesystem sync per batch"
            } else {
                "journaled metadata (route attribute on each job folder)"
            }
        );
        let claimer = Claimer::new(spool.clone(), sync_batches);
        let liveness = Liveness::new(&spool.daemons(), config.spool.owner_lease);
        Self {
            jobs_dir: spool.jobs(),
            spool,
            config,
            routes,
            inbox_dirs,
            candidates: HashMap::new(),
            ready: VecDeque::new(),
            queue,
            claimer,
            liveness,
            me: Owner::current(),
            queue_full_logged: false,
            status,
            hold_logged: None,
            next_writer_walk: Instant::now(),
            watcher: None,
            alive: Arc::default(),
            first_scan: None,
        }
    }

    /// Stamps `alive` every turn of the loop and tells `first_scan` once the first full
    /// rescan is done.
    pub fn signal(
        &mut self,
        alive: Arc<crate::daemon::notify::AliveStamp>,
        first_scan: tokio::sync::oneshot::Sender<()>,
    ) {
        self.alive = alive;
        self.first_scan = Some(first_scan);
    }

    /// Runs until a `Shutdown` message; blocking.
    pub fn run(mut self, messages: Receiver<IntakeMessage>) {
        let rescan_every = self.config.spool.rescan_interval;
        self.full_rescan();
        if let Some(first_scan) = self.first_scan.take() {
            let _ = first_scan.send(());
        }
        let mut next_rescan = Instant::now() + rescan_every;
        let mut next_tick = Instant::now() + self.tick_interval();
        loop {
            self.alive.stamp();
            self.claim_ready();
            let now = Instant::now();
            let wait = next_tick.min(next_rescan).saturating_duration_since(now);
            match messages.recv_timeout(wait) {
                Ok(IntakeMessage::Shutdown) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(IntakeMessage::Fs(event)) => self.on_event(event),
                Ok(IntakeMessage::Reload(config)) => self.reload(config),
                Ok(IntakeMessage::QueueRoom) => {}
                Err(RecvTimeoutError::Timeout) => {}
            }
            // Drain whatever else arrived, so a burst of events costs one claim round.
            while let Ok(message) = messages.try_recv() {
                match message {
                    IntakeMessage::Shutdown => return,
                    IntakeMessage::Fs(event) => self.on_event(event),
                    IntakeMessage::Reload(config) => self.reload(config),
                    IntakeMessage::QueueRoom => {}
                }
            }
            let now = Instant::now();
            if now >= next_tick {
                self.tick();
                next_tick = now + self.tick_interval();
            }
            if now >= next_rescan {
                self.full_rescan();
                next_rescan = now + jittered(rescan_every);
            }
        }
    }

    /// How often entries that are not ready are looked at again.
    fn tick_interval(&self) -> Duration {
        (self.config.watch.settle / 4).clamp(Duration::from_millis(50), Duration::from_millis(500))
    }

    fn locate(&self, path: &Path) -> Option<Key> {
        let route = *self.inbox_dirs.get(path.parent()?)?;
        let name = path.file_name()?.to_owned();
        (!entry::is_waiting_name(&name)).then_some((route, name))
    }

    fn on_event(&mut self, event: notify::Result<notify::Event>) {
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                tracing::warn!(%error, "The file watcher reported an error; rescanning the inboxes.");
                self.full_rescan();
                return;
            }
        };
        if event.need_rescan() {
            tracing::warn!(
                "The file watcher's queue overflowed; rescanning the inboxes (raise fs.inotify.max_queued_events if this repeats)."
            );
            self.full_rescan();
            return;
        }
        tracing::trace!(?event, "Watcher event.");
        if event
            .paths
            .iter()
            .any(|path| path.parent() == Some(self.jobs_dir.as_path()))
        {
            // Claims create their folders in place; only a rename brings a job in.
            let renamed_in = matches!(
                event.kind,
                EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both))
            );
            if renamed_in && let Err(error) = self.adopt_orphans() {
                tracing::warn!(%error, "Could not scan jobs/ for a job put back by chute retry.");
            }
            return;
        }
        match event.kind {
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)) if event.paths.len() == 2 => {
                self.forget_path(&event.paths[0]);
                self.mark(&event.paths[1], Readiness::Ready);
            }
            EventKind::Modify(ModifyKind::Name(RenameMode::To)) => {
                for path in &event.paths {
                    self.mark(path, Readiness::Ready);
                }
            }
            EventKind::Modify(ModifyKind::Name(RenameMode::From)) | EventKind::Remove(_) => {
                for path in &event.paths {
                    self.forget_path(path);
                }
            }
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => {
                for path in &event.paths {
                    self.mark(path, Readiness::Ready);
                }
            }
            EventKind::Create(CreateKind::Folder) => {
                for path in &event.paths {
                    self.mark(path, Readiness::Settling);
                }
            }
            EventKind::Create(_) | EventKind::Modify(_) => {
                for path in &event.paths {
                    self.mark(path, Readiness::Writing);
                }
            }
            _ => {}
        }
    }

    fn forget_path(&mut self, path: &Path) {
        if let Some(key) = self.locate(path) {
            self.candidates.remove(&key);
        }
    }

    /// Records what an event says about an entry. Entries that are not regular files
    /// (links, FIFOs, hard-linked files) are never "being written": they are ready to be
    /// refused at once.
    fn mark(&mut self, path: &Path, readiness: Readiness) {
        let Some(key) = self.locate(path) else { return };
        let Ok(inspection) = entry::inspect(path, &self.routes[key.0].entry_limits()) else {
            self.candidates.remove(&key);
            return;
        };
        let readiness = match inspection.verdict {
            Err(
                Rejection::Symlink
                | Rejection::Fifo
                | Rejection::Socket
                | Rejection::Device
                | Rejection::HardLinked(_),
            ) => Readiness::Ready,
            _ => readiness,
        };
        let now = Instant::now();
        let fingerprint = inspection.fingerprint();
        let candidate = self.candidates.entry(key.clone()).or_insert(Candidate {
            readiness: Readiness::Settling,
            fingerprint,
            last_change: now,
            held_open: false,
        });
        if candidate.readiness == Readiness::Ready {
            return;
        }
        if candidate.fingerprint != fingerprint {
            candidate.fingerprint = fingerprint;
            candidate.last_change = now;
        }
        // An event can only make an entry more definite: Settling -> Writing -> Ready.
        if readiness != Readiness::Settling {
            candidate.readiness = readiness;
        }
        if readiness == Readiness::Ready {
            self.ready.push_back(key);
        }
    }

    /// Re-checks entries that are not ready yet.
    fn tick(&mut self) {
        let now = Instant::now();
        let settle = self.config.watch.settle;
        let open_timeout = self.config.watch.open_file_timeout;
        let mut gone = Vec::new();
        let mut due = Vec::new();
        for (key, candidate) in &mut self.candidates {
            if candidate.readiness == Readiness::Ready {
                continue;
            }
            let path = self.spool.inbox(&self.routes[key.0].name).join(&key.1);
            match entry::inspect(&path, &self.routes[key.0].entry_limits()) {
                Ok(inspection) => {
                    if inspection.fingerprint() != candidate.fingerprint {
                        candidate.fingerprint = inspection.fingerprint();
                        candidate.last_change = now;
                        continue;
                    }
                    let quiet = now.duration_since(candidate.last_change);
                    let needed = match candidate.readiness {
                        Readiness::Writing => open_timeout,
                        _ => settle,
                    };
                    if quiet >= needed || candidate.held_open {
                        due.push((key.clone(), file_ids(&path, &inspection)));
                    }
                }
                Err(_) => gone.push(key.clone()),
            }
        }
        for key in gone {
            self.candidates.remove(&key);
        }
        self.ready_unless_open(due, now);
    }

    /// Declares the `due` entries ready, except those with a file that a process on this
    /// host has open for writing: they stay candidates, looked at again next tick, and
    /// settle from the moment they are seen closed. One walk of `/proc` for all of them.
    fn ready_unless_open(&mut self, due: Vec<(Key, Vec<FileId>)>, now: Instant) {
        if due.is_empty() || now < self.next_writer_walk {
            return;
        }
        let wanted: HashSet<FileId> = due.iter().flat_map(|(_, ids)| ids).copied().collect();
        let started = Instant::now();
        let open = open_files::open_for_writing(&wanted);
        let walk = started.elapsed();
        tracing::trace!(?walk, files = wanted.len(), "Looked for writers in /proc.");
        self.next_writer_walk = started + walk * 10;
        for (key, ids) in due {
            let Some(candidate) = self.candidates.get_mut(&key) else {
                continue;
            };
            let route = &self.routes[key.0].name;
            if ids.iter().any(|id| open.contains(id)) {
                if !candidate.held_open {
                    tracing::debug!(%route, input = ?key.1, "An inbox entry is still open for writing by a process on this host; it is taken once closed and settled.");
                    candidate.held_open = true;
                }
                candidate.last_change = now;
            } else if candidate.held_open {
                tracing::debug!(%route, input = ?key.1, "An inbox entry was closed by its writer; it is taken once settled.");
                candidate.held_open = false;
                candidate.readiness = Readiness::Settling;
                candidate.last_change = now;
            } else {
                candidate.readiness = Readiness::Ready;
                self.ready.push_back(key);
            }
        }
    }

    /// The truth: adopt orphaned jobs, then list every inbox.
    pub fn full_rescan(&mut self) {
        if let Err(error) = self.adopt_orphans() {
            tracing::warn!(%error, "Could not scan jobs/ for orphaned jobs.");
        }
        let now = Instant::now();
        let mut seen = HashSet::new();
        for (index, route) in self.routes.iter().enumerate() {
            let dir = self.spool.inbox(&route.name);
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(error) => {
                    tracing::warn!(route = %route.name, %error, "Could not list the inbox.");
                    continue;
                }
            };
            for dir_entry in entries.flatten() {
                let name = dir_entry.file_name();
                if entry::is_waiting_name(&name) {
                    continue;
                }
                let key = (index, name);
                seen.insert(key.clone());
                if self.candidates.contains_key(&key) {
                    continue;
                }
                let Ok(inspection) = entry::inspect(&dir_entry.path(), &route.entry_limits())
                else {
                    continue;
                };
                // Refused entries go at once; anything else settles under watch, however
                // old its mtime (a paused writer leaves an old mtime behind).
                let ready = inspection.verdict.is_err();
                self.candidates.insert(
                    key.clone(),
                    Candidate {
                        readiness: if ready {
                            Readiness::Ready
                        } else {
                            Readiness::Settling
                        },
                        fingerprint: inspection.fingerprint(),
                        last_change: now,
                        held_open: false,
                    },
                );
                if ready {
                    self.ready.push_back(key);
                }
            }
        }
        self.candidates.retain(|key, _| seen.contains(key));
    }

    /// Claims ready entries while the queue has room and nothing holds claiming.
    fn claim_ready(&mut self) {
        if self.held() {
            return;
        }
        loop {
            let room = self.queue.room();
            if self.ready.is_empty() {
                return;
            }
            if room == 0 {
                if !self.queue_full_logged {
                    tracing::info!(
                        queued = self.queue.queued(),
                        waiting = self.ready.len(),
                        "The job queue is full; new inputs stay safely in the inbox until jobs finish."
                    );
                    self.queue_full_logged = true;
                }
                return;
            }
            if self.queue_full_logged {
                tracing::info!("The job queue has room again; claiming resumes.");
                self.queue_full_logged = false;
            }
            let limit = room.min(self.config.limits.claim_batch);
            let mut batch = Vec::with_capacity(limit);
            while batch.len() < limit {
                let Some(key) = self.ready.pop_front() else {
                    break;
                };
                let Some(candidate) = self.candidates.get(&key) else {
                    continue;
                };
                if candidate.readiness != Readiness::Ready {
                    continue;
                }
                self.candidates.remove(&key);
                let route = self.routes[key.0].clone();
                let path = self.spool.inbox(&route.name).join(&key.1);
                match entry::inspect(&path, &route.entry_limits()) {
                    Ok(inspection) => batch.push(ClaimRequest {
                        route,
                        name: key.1,
                        inspection,
                    }),
                    Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                    Err(error) => {
                        tracing::warn!(route = %route.name, %error, "Could not inspect an inbox entry; it stays in the inbox.")
                    }
                }
            }
            if batch.is_empty() {
                continue;
            }
            for outcome in self.claimer.claim_batch(batch) {
                match outcome {
                    ClaimOutcome::Claimed {
                        id,
                        route,
                        input,
                        size,
                    } => {
                        // The name is escaped: a name may hold newlines or escapes.
                        tracing::info!(job_id = %id, %route, input = ?input, size, "Claimed an input.");
                        self.queue.push(id);
                    }
                    ClaimOutcome::Lost => {}
                    ClaimOutcome::Failed(error) => {
                        tracing::error!(%error, "A claim failed; the input stays in the inbox and is retried at the next rescan.");
                    }
                }
            }
        }
    }

    /// Whether claiming is held (paused, draining, disk full); logs each change once.
    /// Held inputs stay in the inbox, untouched, and are claimed once the hold lifts.
    fn held(&mut self) -> bool {
        let hold = self.status.claim_hold();
        if hold != self.hold_logged {
            match hold {
                Some(hold) => tracing::info!(
                    waiting = self.ready.len(),
                    "Claiming is held: {}; new inputs wait in the inbox.",
                    hold.describe()
                ),
                None => tracing::info!("Claiming resumes."),
            }
            self.hold_logged = hold;
        }
        hold.is_some()
    }

    /// Queues jobs in jobs/ that nobody runs: lock free and owner dead (or this daemon
    /// itself, when it gave the job up after an error).
    fn adopt_orphans(&mut self) -> io::Result<()> {
        for job in job::list_job_dirs(&self.spool.jobs())? {
            if self.queue.contains(job.id) {
                continue;
            }
            // A missing or torn job.json is rebuilt by the runner if the lock is free.
            // A job of this daemon that is not in its queue was given up after an error
            // (logged by the runner): it is retried here like an orphan.
            if let Ok(Some(record)) = job.read_record()
                && !record.owner.same_process(&self.me)
                && self.liveness.is_alive(&record.owner)
            {
                continue;
            }
            if !JobLock::is_free(&job.lock_path()).unwrap_or(false) && job.lock_path().exists() {
                continue;
            }
            if self.queue.room() == 0 {
                break;
            }
            if self.queue.push(job.id) {
                tracing::info!(job_id = %job.id, "Adopting a job whose owner is gone; it resumes from its last checkpoint.");
            }
        }
        Ok(())
    }
}

/// The files whose writers must have let go before an entry is taken: the file itself,
/// or every file inside a folder (an unreadable folder: none, the settle rule decides).
fn file_ids(path: &Path, inspection: &Inspection) -> Vec<FileId> {
    match inspection.verdict {
        Ok(InputKind::Directory) => entry::folder_file_ids(path).unwrap_or_default(),
        _ => vec![inspection.id()],
    }
}

/// `interval` ± 10 %, so daemons sharing a spool do not rescan in lockstep.
fn jittered(interval: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let factor = 0.9 + f64::from(nanos % 1000) / 5000.0;
    interval.mul_f64(factor)
}
