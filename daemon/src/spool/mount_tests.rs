#![allow(clippy::unwrap_used)]
use super::*;

const TABLE: &str = "\
22 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro
40 22 0:40 / /srv/nfs3 rw,relatime shared:20 - nfs srv:/export rw,vers=3,rsize=1048576,hard,proto=tcp
41 22 0:41 / /srv/nfs4 rw,relatime shared:21 - nfs4 srv:/export rw,vers=4.2,hard,proto=tcp,local_lock=none
42 22 0:42 / /srv/nolock rw,relatime shared:22 - nfs4 srv:/export rw,vers=4.1,nolock,local_lock=all
43 22 0:43 / /srv/gluster rw,relatime shared:23 - fuse.glusterfs 198.18.0.1:/spool rw,user_id=0,group_id=0,allow_other
44 22 0:44 / /srv/lustre rw shared:24 - lustre mgs@tcp:/fs rw,localflock
45 22 0:45 / /srv/my\\040spool rw shared:25 - tmpfs tmpfs rw
";

fn mount(point: &str) -> SpoolMount {
    parse_mountinfo(TABLE)
        .into_iter()
        .find(|mount| mount.mount_point == Path::new(point))
        .unwrap()
}

#[test]
fn mountinfo_lines_give_type_source_and_both_option_sets() {
    let gluster = mount("/srv/gluster");
    assert_eq!(gluster.fstype, "fuse.glusterfs");
    assert_eq!(gluster.source, "198.18.0.1:/spool");
    assert!(gluster.has("relatime") && gluster.has("allow_other"));
    assert_eq!(mount("/srv/nfs4").option("vers"), Some("4.2"));
    // Escaped spaces in a mount point come back as spaces.
    assert_eq!(mount("/srv/my spool").fstype, "tmpfs");
}

#[test]
fn host_local_locks_are_refused_unless_the_spool_is_not_shared() {
    let shared = SpoolConfig::default();
    let settle = Duration::from_secs(5);
    for (point, says) in [
        ("/srv/nfs3", "NFSv3"),
        ("/srv/nolock", "`nolock`"),
        ("/srv/lustre", "`-o flock`"),
    ] {
        let verdict = mount(point).verdict(&shared, settle);
        let refusal = verdict.refusal.unwrap_or_default();
        assert!(refusal.contains(says), "{point}: {refusal}");
        assert!(refusal.contains("`shared = false`"), "{refusal}");
    }
    let mut local_lock = mount("/srv/nolock");
    local_lock.options.retain(|option| option != "nolock");
    assert!(
        local_lock
            .unsafe_for_sharing()
            .unwrap()
            .contains("local_lock=all")
    );
    let alone = SpoolConfig {
        shared: false,
        ..SpoolConfig::default()
    };
    let verdict = mount("/srv/nfs3").verdict(&alone, settle);
    assert_eq!(verdict.refusal, None);
    assert!(verdict.warnings.is_empty());
    for point in ["/srv/nfs4", "/srv/gluster", "/"] {
        assert_eq!(
            mount(point).verdict(&shared, settle).refusal,
            None,
            "{point}"
        );
    }
}

#[test]
fn short_leases_and_rescans_on_a_network_filesystem_are_warned_about() {
    let local = mount("/").verdict(&SpoolConfig::default(), Duration::ZERO);
    assert_eq!(local.network, None);
    assert!(local.warnings.is_empty());
    // Defaults (lease 5 min, rescan 30 s) suit GlusterFS but not NFS's 60 s cache.
    let gluster = mount("/srv/gluster").verdict(&SpoolConfig::default(), Duration::from_secs(5));
    assert!(gluster.warnings.is_empty(), "{:?}", gluster.warnings);
    let nfs = mount("/srv/nfs4").verdict(&SpoolConfig::default(), Duration::from_secs(5));
    assert_eq!(nfs.warnings.len(), 2, "{:?}", nfs.warnings);
    assert!(nfs.warnings[0].contains("spool.rescan_interval (30s)"));
    assert!(nfs.warnings[1].contains("watch.settle (5s)"));
    let short = SpoolConfig {
        owner_lease: Duration::from_secs(10),
        ..SpoolConfig::default()
    };
    let warned = mount("/srv/gluster").verdict(&short, Duration::from_secs(5));
    assert_eq!(warned.warnings.len(), 1);
    assert!(warned.warnings[0].contains("spool.owner_lease (10s)"));
    assert!(warned.warnings[0].contains("GlusterFS"));
}

#[test]
fn the_deepest_mount_holds_a_path() {
    let root = mount_of(Path::new("/proc/self")).unwrap();
    assert_eq!(root.fstype, "proc");
    assert!(is_unreachable(&std::io::Error::from_raw_os_error(107)));
    assert!(!is_unreachable(&std::io::Error::from_raw_os_error(2)));
}
