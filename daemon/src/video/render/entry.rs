//! The child's side of `chute render KIND --plan FILE`: limits its own address space,
//! reads the plan, renders, and reports on stderr in JSON lines (see
//! [`super::child::ChildReport`]).

use std::io::Write;
use std::path::Path;

use serde::de::DeserializeOwned;

use super::child::{ChildReport, RenderKind};
use super::error::RenderError;
use super::video::Progress;
use super::{card, last_frame, thumbnail, video};

/// Largest plan file read.
const MAX_PLAN_BYTES: u64 = 16 << 20;

/// Runs one render; returns the process exit code (0 done, 1 failed).
pub fn run_child(kind: RenderKind, plan: &Path, max_memory: u64) -> u8 {
    let outcome = limit_memory(max_memory).and_then(|()| match kind {
        RenderKind::Video => read_plan(plan)
            .and_then(|plan| video::render(&plan, &mut Reporter).map(ChildReport::Video)),
        RenderKind::Card => {
            read_plan(plan).and_then(|plan| card::render(&plan).map(|()| ChildReport::Card))
        }
        RenderKind::LastFrame => read_plan(plan)
            .and_then(|plan| last_frame::render(&plan).map(|()| ChildReport::LastFrame)),
        RenderKind::Thumbnail => {
            read_plan(plan).and_then(|plan| thumbnail::render(&plan).map(ChildReport::Thumbnail))
        }
    });
    match outcome {
        Ok(done) => {
            report(&done);
            0
        }
        Err(error) => {
            report(&ChildReport::Failed(error));
            1
        }
    }
}

fn limit_memory(max_memory: u64) -> Result<(), RenderError> {
    let limit = rustix::process::Rlimit {
        current: Some(max_memory),
        maximum: Some(max_memory),
    };
    rustix::process::setrlimit(rustix::process::Resource::As, limit)
        .map_err(|error| RenderError::Spawn(format!("cannot set the memory limit: {error}")))
}

fn read_plan<T: DeserializeOwned>(path: &Path) -> Result<T, RenderError> {
    let unusable = |why: String| RenderError::Plan(format!("{}: {why}", path.display()));
    let size = std::fs::metadata(path)
        .map_err(|error| unusable(error.to_string()))?
        .len();
    if size > MAX_PLAN_BYTES {
        return Err(unusable(format!("{size} bytes is too large for a plan")));
    }
    let text = std::fs::read(path).map_err(|error| unusable(error.to_string()))?;
    serde_json::from_slice(&text).map_err(|error| unusable(error.to_string()))
}

/// Sends progress to the parent; stderr is unbuffered, so a line is out before the
/// work it announces can crash.
struct Reporter;

impl Progress for Reporter {
    fn working(&mut self, what: String) {
        report(&ChildReport::Working(what));
    }

    fn fraction(&mut self, done: f64) {
        report(&ChildReport::Progress(done));
    }
}

fn report(line: &ChildReport) {
    if let Ok(text) = serde_json::to_string(line) {
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "{text}");
    }
}
