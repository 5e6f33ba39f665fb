//! Remote operations as a library: the driver any stage uses to submit long-running
//! work (a video render) or make one-shot calls, resume it from a saved handle, poll
//! it without blocking anything else, and turn the result into a checked file.
//!
//! - [`RemoteOperations::submit_or_resume`]: the saved handle under a key if there is
//!   one (never a second submit), else the result cache, else a submit through the
//!   chain, whose handle is saved before anything else happens.
//! - [`RemoteOperations::check`] (one status check, no waiting) and
//!   [`RemoteOperations::poll_until_done`] (checks on the provider's poll-after hint,
//!   backing off while the provider is down, within the operation's deadline).
//! - [`RemoteOperations::materialize`]: bytes or a streamed download into a target
//!   file, its type checked by magic bytes against the one media table, the result
//!   cache fed.
//!
//! Every method takes `&self` and owns nothing per operation, so a stage runs N
//! operations at once (`join!`, `join_all`, `buffer_unordered` over one driver);
//! status checks are bounded per provider by its `max_concurrent_polls`. Waits run on
//! tokio's clock and end early on the job's stop signals.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::call::{CallError, CallRecord, Served};
use super::handle::{HANDLE_VERSION, HandleStore, RemoteHandle};
use super::media_type::{MEDIA_TYPES, MediaKind, MediaType, SNIFF_BYTES, by_mime, sniff};
use super::plugin::{Answer, CallOperation, Image, Media, Operation, Progress, VideoRequest};
use super::poll::{PollSchedule, StatusCheck};
use super::registry::{Provider, Providers};
use crate::stop::StopSignals;

pub use super::operation_error::{Consequence, OperationError};
pub use super::poll::OperationLimits;

/// The driver: one per stage run (or per task), borrowing the providers, the stage's
/// handle store and its stop signals.
pub struct RemoteOperations<'a> {
    providers: &'a Providers,
    handles: &'a dyn HandleStore,
    signals: StopSignals,
    job: Option<String>,
    limits: OperationLimits,
}

/// What [`RemoteOperations::submit_or_resume`] found or started.
pub enum Submitted {
    /// A result is ready without waiting: from the result cache, or the provider
    /// finished at once.
    Finished(Finished),
    /// The operation runs at the provider; its handle is saved.
    Running(RemoteOperation),
}

/// An operation running at a provider, with its saved handle.
pub struct RemoteOperation {
    handle_key: String,
    handle: RemoteHandle,
    status: Arc<dyn StatusCheck>,
    record: CallRecord,
    cache_key: Option<String>,
    schedule: PollSchedule,
    checks: u32,
    resumed: bool,
}

impl RemoteOperation {
    /// The key its handle is saved under.
    pub fn handle_key(&self) -> &str {
        &self.handle_key
    }
    /// The saved handle (provider, poll state, key, submit time).
    pub fn handle(&self) -> &RemoteHandle {
        &self.handle
    }
    /// Status checks made by this driver so far.
    pub fn checks(&self) -> u32 {
        self.checks
    }
    /// True when it was resumed from a saved handle rather than submitted now.
    pub fn resumed(&self) -> bool {
        self.resumed
    }
    /// Who serves it and every exchange so far.
    pub fn record(&self) -> &CallRecord {
        &self.record
    }
}

/// A finished result, not yet a file: give it to [`RemoteOperations::materialize`].
pub struct Finished {
    provider: String,
    record: CallRecord,
    result: FinishedResult,
    cache_key: Option<String>,
}

enum FinishedResult {
    Media(Media),
    CachedFile(PathBuf),
}

impl Finished {
    /// Who served it, with which key, and every exchange.
    pub fn record(&self) -> &CallRecord {
        &self.record
    }
}

/// A result written to its target file, its type checked.
#[derive(Debug)]
pub struct MaterializedFile {
    /// The file written (`<directory>/<stem>.<extension>`).
    pub path: PathBuf,
    /// Its name within the directory.
    pub file_name: String,
    /// The declared or sniffed MIME type.
    pub mime: String,
    /// Bytes written.
    pub bytes: u64,
    /// Who served it, with every exchange (the download's included).
    pub record: CallRecord,
}

impl Providers {
    /// The remote operation driver for one stage (or task): `handles` keeps its
    /// handles, `signals` end its waits early, `job` names it in logs and budgets.
    pub fn operations<'a>(
        &'a self,
        handles: &'a dyn HandleStore,
        signals: StopSignals,
        job: Option<&str>,
    ) -> RemoteOperations<'a> {
        RemoteOperations {
            providers: self,
            handles,
            signals,
            job: job.map(str::to_owned),
            limits: OperationLimits::default(),
        }
    }
}

impl<'a> RemoteOperations<'a> {
    /// The same driver with other time limits.
    pub fn with_limits(mut self, limits: OperationLimits) -> Self {
        self.limits = limits;
        self
    }

    /// A one-shot call through a chain (cache, budget, retries over keys, fallback).
    pub async fn call(
        &self,
        chain: &[String],
        operation: CallOperation,
    ) -> Result<Served, OperationError> {
        let operation = Operation::from(operation);
        self.handles.confirm_owner(operation.name())?;
        self.providers
            .call_chain(chain, operation, self.job.as_deref())
            .await
            .map_err(|failed| OperationError::Call(Box::new(failed)))
    }

    /// A served answer's media (an image, speech), ready for [`materialize`](Self::materialize).
    pub fn finished(&self, record: CallRecord, media: Media) -> Finished {
        Finished {
            provider: record.provider.clone(),
            record,
            result: FinishedResult::Media(media),
            cache_key: None,
        }
    }

    /// The operation saved under `handle_key` if there is one (resumed, never
    /// submitted again); else the same request's file from the result cache; else a
    /// submit through `chain`, its handle saved before this returns.
    pub async fn submit_or_resume(
        &self,
        handle_key: &str,
        chain: &[String],
        request: VideoRequest,
    ) -> Result<Submitted, OperationError> {
        let job = self.job.as_deref().unwrap_or("-");
        let submit = Operation::SubmitVideo(request);
        if let Some(handle) = self.handles.load(handle_key)? {
            if let Some(reason) = handle.unusable() {
                return Err(OperationError::BadHandle {
                    handle_key: handle_key.to_owned(),
                    reason,
                });
            }
            let provider = self.provider(&handle.provider)?;
            tracing::info!(job_id = job, provider = %handle.provider, handle = handle_key, "Resuming a video operation from its saved handle; not submitting again.");
            let record = CallRecord {
                provider: handle.provider.clone(),
                operation: submit.name().into(),
                key: handle.key.clone(),
                ..CallRecord::default()
            };
            let schedule = PollSchedule::new(self.limits.clone(), &handle, Duration::ZERO);
            return Ok(Submitted::Running(RemoteOperation {
                handle_key: handle_key.to_owned(),
                cache_key: provider.result_key(&submit),
                status: Arc::new(provider),
                handle,
                record,
                schedule,
                checks: 0,
                resumed: true,
            }));
        }
        // The same request made before (by any job) is not paid for again.
        for name in chain {
            let Some(provider) = self.providers.get(name) else {
                continue;
            };
            let Some(cache_key) = provider.result_key(&submit) else {
                continue;
            };
            let cached = MEDIA_TYPES
                .iter()
                .filter(|known| known.kind == MediaKind::Video)
                .find_map(|known| provider.cache.get_file(&cache_key, known.extension));
            if let Some(file) = cached {
                tracing::info!(job_id = job, provider = %name, "Video served from the result cache.");
                let record = CallRecord {
                    provider: name.clone(),
                    operation: submit.name().into(),
                    cached: true,
                    ..CallRecord::default()
                };
                return Ok(Submitted::Finished(Finished {
                    provider: name.clone(),
                    record,
                    result: FinishedResult::CachedFile(file),
                    cache_key: None,
                }));
            }
        }
        self.handles.confirm_owner(handle_key)?;
        let served = self
            .providers
            .call_chain(chain, submit.clone(), self.job.as_deref())
            .await
            .map_err(|failed| {
                if failed.error.may_have_been_accepted() {
                    OperationError::MaybeAccepted(Box::new(failed))
                } else {
                    OperationError::Call(Box::new(failed))
                }
            })?;
        let provider = self.provider(&served.record.provider)?;
        let cache_key = provider.result_key(&submit);
        match served.answer {
            Answer::Progress(Progress::Pending(pending)) => {
                // The key that started it: the operation belongs to its project.
                let handle = RemoteHandle::submitted(
                    &served.record.provider,
                    pending.state,
                    served.record.key.clone(),
                );
                self.handles.save(handle_key, &handle)?;
                let schedule = PollSchedule::new(
                    self.limits.clone(),
                    &handle,
                    Duration::from_millis(pending.poll_after_ms),
                );
                Ok(Submitted::Running(RemoteOperation {
                    handle_key: handle_key.to_owned(),
                    handle,
                    status: Arc::new(provider),
                    record: served.record,
                    cache_key,
                    schedule,
                    checks: 0,
                    resumed: false,
                }))
            }
            Answer::Progress(Progress::Done(media)) => Ok(Submitted::Finished(Finished {
                provider: served.record.provider.clone(),
                record: served.record,
                result: FinishedResult::Media(media),
                cache_key,
            })),
            other => Err(OperationError::unexpected(submit.name(), &other)),
        }
    }

    /// One status check, now: `Some` when the operation is done. A failure worth
    /// waiting out (the provider down or limiting) is `None` too, with the next check
    /// backed off; a changed poll state is saved before this returns.
    pub async fn check(
        &self,
        operation: &mut RemoteOperation,
    ) -> Result<Option<Finished>, OperationError> {
        let result = operation
            .status
            .check(
                &operation.handle.state,
                operation.handle.key.as_deref(),
                self.job.as_deref(),
            )
            .await;
        operation.checks += 1;
        let served = match result {
            Ok(served) => served,
            // A provider outage while polling is waited out (up to the deadline): the
            // saved operation is still the one to finish.
            Err(failed) if failed.error.is_worth_retrying_later() => {
                tracing::warn!(
                    job = self.job.as_deref().unwrap_or("-"),
                    handle = operation.handle_key,
                    "Status check failed; checking again later: {failed}"
                );
                operation.record.exchanges.extend(failed.record.exchanges);
                operation.schedule.after_failure();
                return Ok(None);
            }
            Err(failed) => return Err(OperationError::Call(Box::new(failed))),
        };
        let record = &mut operation.record;
        record.exchanges.extend(served.record.exchanges);
        record.attempts += served.record.attempts;
        record.key = served.record.key.or(record.key.take());
        match served.answer {
            Answer::Progress(Progress::Pending(pending)) => {
                if pending.state != operation.handle.state || operation.handle.version == 0 {
                    let mut handle = operation.handle.clone();
                    handle.state = pending.state;
                    handle.version = HANDLE_VERSION;
                    self.handles.save(&operation.handle_key, &handle)?;
                    operation.handle = handle;
                }
                operation
                    .schedule
                    .after_pending(Duration::from_millis(pending.poll_after_ms));
                Ok(None)
            }
            Answer::Progress(Progress::Done(media)) => Ok(Some(Finished {
                provider: operation.handle.provider.clone(),
                record: operation.record.clone(),
                result: FinishedResult::Media(media),
                cache_key: operation.cache_key.clone(),
            })),
            other => Err(OperationError::unexpected("poll-video", &other)),
        }
    }

    /// Checks on the provider's schedule until the operation is done, calling
    /// `on_pending` after every check that was not. Ends early on cancel or
    /// shutdown, and fails once the operation's deadline has passed.
    pub async fn poll_until_done(
        &self,
        mut operation: RemoteOperation,
        mut on_pending: impl FnMut(&RemoteOperation) + Send,
    ) -> Result<Finished, OperationError> {
        loop {
            self.signals.sleep(operation.schedule.wait()).await?;
            if operation.schedule.expired() {
                return Err(OperationError::DeadlineExceeded(
                    self.limits.operation_deadline,
                ));
            }
            if let Some(finished) = self.check(&mut operation).await? {
                return Ok(finished);
            }
            on_pending(&operation);
        }
    }

    /// Writes a finished result to `<directory>/<stem>.<extension>`: bytes as they
    /// are, a download streamed (with the key that made it, never to another
    /// origin), a cached file copied. The type must be `expected`, by the declared
    /// MIME type and the magic bytes; the extension comes from the media table.
    pub async fn materialize(
        &self,
        finished: Finished,
        directory: &Path,
        stem: &str,
        expected: MediaKind,
    ) -> Result<MaterializedFile, OperationError> {
        let Finished {
            provider,
            mut record,
            result,
            cache_key,
        } = finished;
        std::fs::create_dir_all(directory)?;
        let (path, mime, known, bytes) = match result {
            FinishedResult::Media(Media::Bytes(Image { mime_type, data })) => {
                // Headerless PCM is written as WAV: a file every player can read.
                let (mime_type, data) = if super::pcm::is_raw_pcm(&mime_type) {
                    (
                        "audio/wav".to_owned(),
                        super::pcm::to_wav(&mime_type, &data)?,
                    )
                } else {
                    (mime_type, data)
                };
                let (extension, known) = identify(&mime_type, &data, expected)?;
                let path = directory.join(format!("{stem}.{extension}"));
                crate::spool::fsutil::write_atomic(&path, &data, true)?;
                (path, mime_type, known, data.len() as u64)
            }
            FinishedResult::Media(Media::Download(download)) => {
                let staging = directory.join(format!(".{stem}.download"));
                let written = self
                    .download(&provider, &download.url, &staging, &mut record)
                    .await?;
                let head = read_head(&staging)?;
                let (extension, known) = match identify(&download.mime_type, &head, expected) {
                    Ok(identified) => identified,
                    Err(error) => {
                        let _ = std::fs::remove_file(&staging);
                        return Err(error);
                    }
                };
                let path = directory.join(format!("{stem}.{extension}"));
                std::fs::rename(&staging, &path)?;
                (path, download.mime_type, known, written)
            }
            FinishedResult::CachedFile(source) => {
                let (extension, known) = identify("", &read_head(&source)?, expected)?;
                let path = directory.join(format!("{stem}.{extension}"));
                let bytes = std::fs::copy(&source, &path)?;
                (path, String::new(), known, bytes)
            }
        };
        if let (Some(cache_key), Some(known), Some(provider)) =
            (cache_key, known, self.providers.get(&provider))
        {
            provider.cache.put_file(&cache_key, known.extension, &path);
        }
        let file_name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(MaterializedFile {
            mime: known.map_or(mime, |known| known.mime.to_owned()),
            path,
            file_name,
            bytes,
            record,
        })
    }

    /// Streams `url` into `destination` with the key that made the result.
    async fn download(
        &self,
        provider_name: &str,
        url: &str,
        destination: &Path,
        record: &mut CallRecord,
    ) -> Result<u64, OperationError> {
        let provider = self.provider(provider_name)?;
        let key = if provider.keys.is_empty() {
            None
        } else {
            let lease = provider.wait_for_key(record.key.as_deref()).await;
            Some(lease.map_err(|error| {
                OperationError::Call(Box::new(CallError {
                    error,
                    record: record.clone(),
                }))
            })?)
        };
        let download = provider.http.download(url, key.as_ref(), destination);
        let deadline = self.limits.download_deadline;
        let (written, exchanges) = self
            .signals
            .run(tokio::time::timeout(deadline, download))
            .await?
            .map_err(|_| OperationError::DownloadTimeout(deadline))?
            .map_err(OperationError::Download)?;
        record.exchanges.extend(exchanges);
        Ok(written)
    }

    fn provider(&self, name: &str) -> Result<Arc<Provider>, OperationError> {
        self.providers
            .get(name)
            .cloned()
            .ok_or_else(|| OperationError::ProviderGone(name.to_owned()))
    }
}

/// The extension and known type of a result, when it is what was asked for: a
/// declared type the table knows must match the bytes; a declared type it does not
/// know (raw PCM) is taken as it is when its top level fits; with nothing declared,
/// the bytes are sniffed.
fn identify(
    declared: &str,
    head: &[u8],
    expected: MediaKind,
) -> Result<(&'static str, Option<&'static MediaType>), OperationError> {
    let wrong = |found: String| OperationError::WrongType { expected, found };
    let bare = declared.split(';').next().unwrap_or("").trim();
    if let Some(known) = by_mime(declared) {
        if !known.matches(head) {
            return Err(wrong(format!("the bytes are not {}", known.mime)));
        }
        if known.kind != expected {
            return Err(wrong(known.mime.to_owned()));
        }
        return Ok((known.extension, Some(known)));
    }
    if !bare.is_empty() && bare.split('/').next() == Some(expected.top_level()) {
        return if head.is_empty() {
            Err(wrong("an empty file".into()))
        } else {
            Ok(("bin", None))
        };
    }
    match sniff(head) {
        Some(known) if known.kind == expected => Ok((known.extension, Some(known))),
        Some(known) => Err(wrong(known.mime.to_owned())),
        None => Err(wrong(format!(
            "unrecognised data (first bytes {:02x?})",
            &head[..head.len().min(8)]
        ))),
    }
}

fn read_head(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    std::fs::File::open(path)?
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut head)?;
    Ok(head)
}

#[cfg(test)]
#[path = "operation_tests.rs"]
mod tests;
