//! SIGKILL at random moments never loses an action whose call returned and
//! never leaves a store that does not open.
//!
//! The child is this test binary again, running the ignored test
//! `crash_child`: it records actions as fast as it can and prints an `ACK`
//! line after each call returns. The parent kills it after a random delay,
//! reopens the store and checks every acknowledged action is there.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use fieldsync_ffi::FieldsyncClient;

const KILLS: usize = 120;
const DIR_VAR: &str = "FIELDSYNC_CRASH_DIR";
const RUN_VAR: &str = "FIELDSYNC_CRASH_RUN";

#[derive(Default)]
struct Acked {
    labour: BTreeSet<String>,
    parts: BTreeSet<String>,
    voided: BTreeSet<String>,
    payments: BTreeSet<String>,
    notes: BTreeSet<String>,
}

impl Acked {
    fn record(&mut self, line: &str) {
        let mut words = line.split_whitespace();
        let (Some("ACK"), Some(kind), Some(id)) = (words.next(), words.next(), words.next()) else {
            return;
        };
        let set = match kind {
            "labour" => &mut self.labour,
            "part" => &mut self.parts,
            "void" => &mut self.voided,
            "payment" => &mut self.payments,
            "note" => &mut self.notes,
            other => panic!("unknown ack {other}"),
        };
        set.insert(id.to_owned());
    }

    fn len(&self) -> usize {
        self.labour.len() + self.parts.len() + self.payments.len() + self.notes.len()
    }

    /// Every acknowledged action is in the reopened store.
    fn check(&self, dir: &std::path::Path, job: &str) {
        let client = FieldsyncClient::open(dir.to_str().unwrap().into())
            .unwrap_or_else(|e| panic!("store does not open after a kill: {e}"));
        let detail = client
            .job(job.into())
            .unwrap_or_else(|e| panic!("job unreadable after a kill: {e}"));
        let labour: BTreeSet<_> = detail.labour.iter().map(|l| l.id.clone()).collect();
        let parts: BTreeSet<_> = detail.parts.iter().map(|p| p.id.clone()).collect();
        let voided: BTreeSet<_> = detail
            .parts
            .iter()
            .filter(|p| p.voided)
            .map(|p| p.id.clone())
            .collect();
        let payments: BTreeSet<_> = detail.payments.iter().map(|p| p.id.clone()).collect();
        assert!(self.labour.is_subset(&labour), "labour entry lost");
        assert!(self.parts.is_subset(&parts), "part line lost");
        assert!(self.voided.is_subset(&voided), "void lost");
        assert!(self.payments.is_subset(&payments), "payment lost");
        for n in &self.notes {
            assert!(detail.notes.contains(n.as_str()), "note {n} lost");
        }
        // The store stays usable: the job list and billing read cleanly.
        assert_eq!(client.jobs().unwrap().len(), 1);
        assert!(detail.billing.is_some());
    }
}

#[test]
fn sigkill_at_random_moments_loses_no_returned_action() {
    let dir = tempfile::tempdir().unwrap();
    let mut office = Office::new();
    let job = office.job.to_string();
    {
        let client = synced_client(dir.path(), &mut office);
        client.start_travel(job.clone()).unwrap();
        client.arrive(job.clone()).unwrap();
    }

    let exe = std::env::current_exe().unwrap();
    let mut acked = Acked::default();
    let mut kills_mid_work = 0;
    let started = Instant::now();
    for run in 0..KILLS {
        let mut child = Command::new(&exe)
            .args(["--ignored", "--exact", "crash_child", "--nocapture"])
            .env(DIR_VAR, dir.path())
            .env(RUN_VAR, run.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Every other run, wait for a few acknowledged actions first, so
        // half the kills land among the actions however slow the machine;
        // the others may land anywhere, opening the store included.
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut out = String::new();
        if run % 2 == 0 {
            let acks = rand::random_range(1..=4);
            while out.matches("ACK").count() < acks {
                assert!(stdout.read_line(&mut out).unwrap() > 0, "child died: {out}");
            }
        }
        std::thread::sleep(Duration::from_micros(rand::random_range(0..50_000)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        stdout.read_to_string(&mut out).unwrap();
        let before = acked.len();
        // Only whole lines: the last one may have been cut by the kill.
        for line in out.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
            acked.record(line);
        }
        if acked.len() > before {
            kills_mid_work += 1;
        }
        assert!(
            !out.contains("FINISHED"),
            "the child ran out of work before the kill"
        );
        acked.check(dir.path(), &job);
    }
    eprintln!(
        "{KILLS} kills ({kills_mid_work} after some actions), {} actions acknowledged, {:?}",
        acked.len(),
        started.elapsed()
    );
    assert!(kills_mid_work >= KILLS / 2, "too few kills landed mid-work");
}

/// The child side (run only by the test above, with the store's directory).
#[test]
#[ignore = "the child process of sigkill_at_random_moments_loses_no_returned_action"]
fn crash_child() {
    let dir = std::env::var(DIR_VAR).expect("run by the crash test");
    let run = std::env::var(RUN_VAR).unwrap();
    let client = FieldsyncClient::open(dir).unwrap();
    let job = client.jobs().unwrap()[0].id.clone();
    for i in 0..5_000 {
        match i % 5 {
            0 => {
                let id = client
                    .add_labour(job.clone(), 5, "standard".into(), format!("r{run}-{i}"))
                    .unwrap();
                println!("ACK labour {id}");
            }
            1 => {
                let id = client
                    .use_part(job.clone(), "VALVE-1".into(), 1, vec![], None)
                    .unwrap();
                println!("ACK part {id}");
                if i % 3 == 0 {
                    client.void_part_line(job.clone(), id.clone()).unwrap();
                    println!("ACK void {id}");
                }
            }
            2 => {
                let id = client
                    .record_payment(job.clone(), "cash".into(), 100, None)
                    .unwrap();
                println!("ACK payment {id}");
            }
            _ => {
                let token = format!("n{run}x{i}");
                client.add_note(job.clone(), token.clone()).unwrap();
                println!("ACK note {token}");
            }
        }
    }
    println!("FINISHED");
}
