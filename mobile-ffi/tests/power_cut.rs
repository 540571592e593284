//! A power cut keeps every action whose call returned, and what the last
//! sync acknowledged: the store's `sync_all` calls are what make that true.
//!
//! A killed process cannot show it (the kernel's page cache outlives the
//! process and is written out later), so this test cuts the power under
//! the store instead: the store lives on an ext4 file system in a file
//! mounted through a loop device, and the test shuts that file system down
//! the way a power cut would (`EXT4_IOC_SHUTDOWN` with `NOLOGFLUSH`: the
//! journal is not flushed, whatever is only in the page cache is dropped),
//! unmounts it, mounts it again and reopens the store.
//!
//! It is mounted with `noauto_da_alloc`: ext4's default guesses that a
//! file renamed over another wants its data written first, which would hide
//! a missing `sync_all` here but not on the file systems phones use where
//! that guess does not exist (f2fs, and ext4 itself when the heuristic does
//! not fire). Needs root, `mkfs.ext4`, loop devices and `python3` (for the
//! ioctl); without them it fails, saying so, rather than skipping.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use fieldsync_ffi::FieldsyncClient;

/// _IOR('X', 125, __u32): ext4's (and XFS's) "going down" ioctl.
const FS_IOC_SHUTDOWN: u32 = 0x8004_587d;
/// Shut down without flushing the journal: a power cut.
const SHUTDOWN_NOLOGFLUSH: u32 = 2;

const WHY: &str =
    "the power-cut test needs root, mkfs.ext4, loop devices (mount -o loop) and python3";

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{WHY}: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{WHY}: {cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An ext4 file system in a file, mounted through a loop device.
struct Disk {
    image: PathBuf,
    mnt: PathBuf,
    mounted: bool,
    _dir: tempfile::TempDir,
}

impl Disk {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("disk.img");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        std::fs::File::create(&image)
            .unwrap()
            .set_len(64 << 20)
            .unwrap();
        run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image));
        let mut disk = Self {
            image,
            mnt,
            mounted: false,
            _dir: dir,
        };
        disk.mount();
        disk
    }

    fn mount(&mut self) {
        run(Command::new("mount")
            .args(["-o", "loop,noauto_da_alloc"])
            .arg(&self.image)
            .arg(&self.mnt));
        self.mounted = true;
    }

    /// Drops whatever the file system holds only in memory, then unmounts.
    fn power_cut(&mut self) {
        let script = format!(
            "import fcntl, os, struct, sys\n\
             fd = os.open(sys.argv[1], os.O_RDONLY)\n\
             fcntl.ioctl(fd, {FS_IOC_SHUTDOWN:#x}, struct.pack('I', {SHUTDOWN_NOLOGFLUSH}))\n"
        );
        run(Command::new("python3").arg("-c").arg(script).arg(&self.mnt));
        run(Command::new("umount").arg(&self.mnt));
        self.mounted = false;
    }

    fn path(&self, name: &str) -> PathBuf {
        self.mnt.join(name)
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        if self.mounted {
            // The loop device goes with the mount (mount -o loop sets autoclear).
            let _ = Command::new("umount").arg(&self.mnt).status();
        }
    }
}

fn open(dir: &Path) -> std::sync::Arc<FieldsyncClient> {
    FieldsyncClient::open(dir.to_str().unwrap().into())
        .unwrap_or_else(|e| panic!("the store does not open after the power cut: {e}"))
}

#[test]
fn a_power_cut_keeps_every_returned_action_and_the_last_sync() {
    let mut disk = Disk::new();
    let store = disk.path("store");
    let mut office = Office::new();
    let job = office.job.to_string();
    let (mut labour, mut parts, mut payments, mut notes) = (
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
        Vec::new(),
    );
    let pending = {
        let client = synced_client(&store, &mut office);
        client.start_travel(job.clone()).unwrap();
        client.arrive(job.clone()).unwrap();
        // A sync that downloads an office edit: documents and sync state written.
        office.office_note("office: customer called");
        office.sync(&client);
        assert_eq!(client.pending_change_count().unwrap(), 0);
        for i in 0..12 {
            labour.insert(
                client
                    .add_labour(job.clone(), 10, "standard".into(), format!("work {i}"))
                    .unwrap(),
            );
            parts.insert(
                client
                    .use_part(job.clone(), "VALVE-1".into(), 1, vec![], None)
                    .unwrap(),
            );
            payments.insert(
                client
                    .record_payment(job.clone(), "cash".into(), 100 + i, None)
                    .unwrap(),
            );
            let note = format!("note {i}");
            client.add_note(job.clone(), note.clone()).unwrap();
            notes.push(note);
        }
        client.pending_change_count().unwrap()
        // Dropped here: files closed, nothing more written or flushed.
    };
    assert_eq!(pending, 48);

    disk.power_cut();
    disk.mount();

    let client = open(&store);
    let detail = client
        .job(job.clone())
        .unwrap_or_else(|e| panic!("the job is unreadable after the power cut: {e}"));
    let ids = |v: Vec<String>| v.into_iter().collect::<BTreeSet<_>>();
    assert_eq!(
        ids(detail.labour.iter().map(|l| l.id.clone()).collect()),
        labour
    );
    assert_eq!(
        ids(detail.parts.iter().map(|p| p.id.clone()).collect()),
        parts
    );
    assert_eq!(
        ids(detail.payments.iter().map(|p| p.id.clone()).collect()),
        payments
    );
    let lines: Vec<&str> = detail.notes.lines().collect();
    assert_eq!(lines[0], "office: customer called", "{lines:?}");
    assert_eq!(&lines[1..], notes.as_slice());
    // The last sync's acknowledged heads survived too: exactly the changes
    // made since are unsynced, and the next sync sends them in one round.
    assert_eq!(client.pending_change_count().unwrap(), pending);
    let actor =
        fieldsync_core::automerge::ActorId::from(hex::decode(client.actor_id().unwrap()).unwrap());
    let response = office.serve_bytes(&client.sync_request().unwrap(), &actor);
    assert!(!client.apply_sync_response(response).unwrap().more_rounds);
    assert_eq!(client.pending_change_count().unwrap(), 0);
    assert_eq!(office.job_doc().read().unwrap().labour.len(), 12);
}
