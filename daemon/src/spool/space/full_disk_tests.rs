//! The records that end or pause a job, written on a really full filesystem (a tmpfs
//! filled to the last block).
#![allow(clippy::unwrap_used)]

use super::test_fs::{Unmount, fill, small_tmpfs};
use super::*;
use crate::job::{JobDir, JobState};
use crate::spool::{Spool, fsutil};

#[test]
fn events_state_and_the_cancel_file_are_written_on_a_full_disk() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mount) = small_tmpfs(dir.path(), "4m") else {
        return;
    };
    let _unmount = Unmount(mount.clone());
    let spool = Spool::new(&mount);
    let reserve = EmergencyReserve::for_spool(&spool);
    assert!(reserve.ensure(0).unwrap());
    reserve.install();
    let id = uuid::Uuid::now_v7();
    let job = JobDir::new(id, spool.job_dir(id));
    std::fs::create_dir_all(&job.path).unwrap();
    let mut state = JobState::new(&["prepare", "decode"]);
    job.write_state(&state, true).unwrap();
    job.events()
        .append("decode", 0, "started (attempt 1)")
        .unwrap();

    let ballast = fill(&mount);
    let refused = std::fs::write(mount.join("another"), vec![0u8; 8192]).unwrap_err();
    assert!(is_out_of_space(&refused), "{refused}");
    assert_eq!(room(&mount).unwrap().free, 0);

    // The log's pre-allocated tail takes the lines: the reserve is not even needed.
    for line in 0..40 {
        job.events()
            .append("decode", 0, &format!("{WAITING_FOR_SPACE} ({line})"))
            .unwrap();
    }
    assert!(reserve.is_in_place(), "events needed no new space");
    assert_eq!(job.events().read_all().unwrap().len(), 41);

    // Routine writes never take the reserve's room: job.json's heartbeat waits.
    let heartbeat = fsutil::write_atomic(&job.record_path(), &[b'x'; 64 << 10], false);
    assert!(heartbeat.is_err_and(|error| is_out_of_space(&error)));
    assert!(
        reserve.is_in_place(),
        "the heartbeat left the reserve alone"
    );

    // A state.json rewrite meets the full disk, releases the reserve and is written.
    state.stages[1].attempts = 1;
    job.write_state(&state, true).unwrap();
    assert!(!reserve.is_in_place(), "the reserve made the room");
    let read = job.read_state().unwrap().unwrap();
    assert_eq!(read.stages[1].attempts, 1);
    let cancel = job.cancel_path();
    with_reserve_released(&cancel, || fsutil::write_atomic(&cancel, b"", false)).unwrap();
    assert!(cancel.exists());

    // Space returns: the reserve goes back in place.
    std::fs::remove_file(ballast).unwrap();
    assert!(reserve.ensure(0).unwrap());
    assert!(reserve.is_in_place());
}

#[test]
fn without_a_reserve_a_record_write_on_a_full_disk_fails_as_out_of_space() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mount) = small_tmpfs(dir.path(), "2m") else {
        return;
    };
    let _unmount = Unmount(mount.clone());
    let _ballast = fill(&mount);
    let error = fsutil::write_json_atomic(
        &mount.join("state.json"),
        &serde_json::json!({"padding": "x".repeat(8192)}),
        false,
    )
    .unwrap_err();
    assert!(is_out_of_space(&error), "{error}");
    let stage_error = crate::pipeline::StageError::from(error);
    assert!(
        matches!(stage_error, crate::pipeline::StageError::OutOfSpace(_)),
        "{stage_error:?}"
    );
}
