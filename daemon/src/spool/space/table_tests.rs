#![allow(clippy::unwrap_used)]
use super::*;
use crate::spool::space::test_fs::{Unmount, small_tmpfs};

const MIB: u64 = 1 << 20;

fn table(dir: &Path, reserve: SpaceReserve) -> Arc<SpaceTable> {
    SpaceTable::new(&Spool::new(dir), reserve)
}

fn room(free: u64, total: u64) -> Room {
    Room { free, total }
}

#[test]
fn reservations_add_up_and_are_given_back_when_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let table = table(dir.path(), SpaceReserve::Bytes(4 * MIB));
    let disk = room(40 * MIB, 64 * MIB);
    let first = table
        .try_reserve_in(disk, "a/decode", 20 * MIB, None)
        .unwrap();
    let second = table
        .try_reserve_in(disk, "b/decode", 16 * MIB, None)
        .unwrap();
    // 40 free − 4 reserve − 36 held: nothing left for a third.
    let refused = table
        .try_reserve_in(disk, "c/decode", MIB, None)
        .unwrap_err();
    assert_eq!(refused.available, 0);
    assert_eq!(refused.capacity, 60 * MIB);
    assert!(!refused.never_fits());
    assert_eq!(table.holders().len(), 2);
    drop(first);
    let third = table
        .try_reserve_in(disk, "c/decode", 20 * MIB, None)
        .unwrap();
    assert_eq!(table.outstanding(), 36 * MIB);
    drop((second, third));
    assert_eq!(table.outstanding(), 0);
    let huge = table
        .try_reserve_in(disk, "d/decode", 61 * MIB, None)
        .unwrap_err();
    assert!(huge.never_fits(), "{huge:?}");
    assert!(
        huge.describe().starts_with("needs 61.0 MiB"),
        "{}",
        huge.describe()
    );
}

#[test]
fn what_a_file_already_holds_is_not_counted_twice() {
    let dir = tempfile::tempdir().unwrap();
    let table = table(dir.path(), SpaceReserve::Bytes(0));
    let output = dir.path().join("audio.f32");
    let disk = room(10 * MIB, 64 * MIB);
    let held = table
        .try_reserve_in(disk, "a/decode", 8 * MIB, Some(&output))
        .unwrap();
    assert_eq!(table.outstanding(), 8 * MIB);
    std::fs::write(&output, vec![0u8; 3 * MIB as usize]).unwrap();
    assert_eq!(table.outstanding(), 5 * MIB);
    // The file's 3 MiB left the free space: 7 free, 5 still owed, 2 to give.
    assert!(table.check(room(7 * MIB, 64 * MIB), 2 * MIB).is_ok());
    assert!(table.check(room(7 * MIB, 64 * MIB), 2 * MIB + 1).is_err());
    std::fs::write(&output, vec![0u8; 9 * MIB as usize]).unwrap();
    assert_eq!(
        table.outstanding(),
        0,
        "a file past its estimate owes nothing"
    );
    drop(held);
}

#[test]
fn the_automatic_reserve_is_five_percent_up_to_256_mib() {
    assert_eq!(SpaceReserve::Auto.bytes(64 * MIB), 64 * MIB / 100 * 5);
    assert_eq!(SpaceReserve::Auto.bytes(1 << 40), 256 * MIB);
    assert_eq!(SpaceReserve::Bytes(7).bytes(1 << 40), 7);
}

#[tokio::test]
async fn a_waiter_goes_on_when_a_reservation_is_given_back_and_stops_on_cancel() {
    let dir = tempfile::tempdir().unwrap();
    let table = table(dir.path(), SpaceReserve::Bytes(0));
    let free = table.room().unwrap().free;
    // Everything but 1 MiB is held: a wait for 2 MiB cannot end until it is given back.
    let held = table
        .try_reserve_in(table.room().unwrap(), "a/decode", free - MIB, None)
        .unwrap();
    let signals = StopSignals::default();
    let waiter = {
        let table = table.clone();
        let signals = signals.clone();
        tokio::spawn(async move {
            let mut said = None;
            let result = table
                .wait_for_room(2 * MIB, &signals, |shortfall| said = Some(*shortfall))
                .await;
            (result, said)
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiter.is_finished());
    drop(held);
    let (result, said) = waiter.await.unwrap();
    assert!(result.is_ok());
    assert_eq!(said.unwrap().needed, 2 * MIB);

    let cancelled = {
        let table = table.clone();
        let signals = signals.clone();
        tokio::spawn(async move { table.wait_for_room(u64::MAX, &signals, |_| {}).await })
    };
    signals.cancel.cancel();
    assert_eq!(cancelled.await.unwrap(), Err(Stopped::Cancelled));
}

#[test]
fn on_a_real_small_filesystem_two_decodes_fit_and_a_third_waits() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mount) = small_tmpfs(dir.path(), "16m") else {
        return;
    };
    let _unmount = Unmount(mount.clone());
    let table = table(&mount, SpaceReserve::Auto);
    let room = table.room().unwrap();
    assert_eq!(room.total, 16 * MIB);
    let each = 7 * MIB;
    let first = table.try_reserve("a/decode", each, None).unwrap().unwrap();
    let _second = table.try_reserve("b/decode", each, None).unwrap().unwrap();
    let third = table
        .try_reserve("c/decode", each, None)
        .unwrap()
        .unwrap_err();
    assert!(!third.never_fits());
    drop(first);
    assert!(table.try_reserve("c/decode", each, None).unwrap().is_ok());
}
