//! The load generator's smoke run: `fieldsync-bench --quick` against the
//! real server on SQLite, a few technicians, a few seconds. It checks what
//! the run did (every sync completed, nothing rejected, the replay merged
//! the same changes, the figures are written), never how fast: the
//! machine is shared and noisy.

use std::process::Command;

use serde_json::Value;

#[test]
fn quick_run_syncs_a_day_and_writes_the_figures() {
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_fieldsync-bench"))
        .args(["--quick", "--burst-window-ms", "200", "--out"])
        .arg(out.path())
        .status()
        .expect("run fieldsync-bench");
    assert!(status.success(), "fieldsync-bench --quick failed: {status}");

    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("sqlite.json")).unwrap())
            .unwrap();
    let runs = json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run["technicians"], 3);
    assert_eq!(run["jobs"], 18);
    let routine = &run["routine"];
    // The morning burst and six stretches, per technician.
    assert_eq!(routine["syncs"], 3 * 7);
    // Six visits of at least 20 changes each, plus the morning's travel.
    let changes = routine["changes_up"].as_u64().unwrap();
    assert!(changes >= 3 * (6 * 20 + 1), "only {changes} changes sent");
    assert_eq!(run["ceiling_changes"].as_u64().unwrap(), changes);
    assert_eq!(routine["rejected_documents"], 0);
    assert_eq!(run["initial"]["rejected_documents"], 0);
    assert!(routine["wire_over_raw"].as_f64().unwrap() > 0.0);
    assert!(run["server_cpu_secs"].as_f64().unwrap() > 0.0);
    assert!(run["server_peak_rss_mib"].as_f64().unwrap() > 1.0);
    assert!(json["machine"]["cores"].as_u64().unwrap() >= 1);

    let table = std::fs::read_to_string(out.path().join("sqlite.md")).unwrap();
    assert!(table.contains("| sqlite x3 |"), "{table}");
    assert!(table.contains("end-to-end / ceiling"), "{table}");
}

/// `--photos-per-visit`: every photo is uploaded through the device's
/// protocol beside the syncs, and the same bytes by curl for comparison.
#[test]
fn quick_run_with_photos_uploads_each_one_and_compares_with_curl() {
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_fieldsync-bench"))
        .args(["--quick", "--burst-window-ms", "200"])
        .args([
            "--photos-per-visit",
            "2",
            "--photo-bytes",
            "300000",
            "--out",
        ])
        .arg(out.path())
        .status()
        .expect("run fieldsync-bench");
    assert!(
        status.success(),
        "fieldsync-bench --photos-per-visit failed: {status}"
    );
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("sqlite.json")).unwrap())
            .unwrap();
    let run = &json["runs"][0];
    assert_eq!(run["routine"]["rejected_documents"], 0);
    let photos = &run["photos"];
    // 3 technicians, visits 1, 3 and 5, 2 photos each; every upload ended
    // with the server's `complete: true` (the bench fails otherwise).
    assert_eq!(photos["uploads"], 3 * 3 * 2, "{photos}");
    assert_eq!(photos["upload_bytes"], 3 * 3 * 2 * 300_000);
    // The status query, then 262,144 + 37,856 bytes.
    assert_eq!(photos["requests_per_upload"].as_f64().unwrap(), 3.0);
    assert_eq!(photos["compare_uploads"], 4);
    assert!(photos["curl_mb_per_sec"].as_f64().unwrap() > 0.0);
    assert!(photos["protocol_mb_per_sec"].as_f64().unwrap() > 0.0);
    assert!(photos["latency_with_uploads"]["p50_ms"].as_f64().unwrap() > 0.0);
    assert!(
        photos["latency_without_uploads"]["p50_ms"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let table = std::fs::read_to_string(out.path().join("sqlite.md")).unwrap();
    assert!(table.contains("curl / protocol upload rate"), "{table}");
    assert_eq!(photos["uploaded"], "on");
    assert_eq!(run["stretch_latency"].as_array().unwrap().len(), 6);

    // The control run: the same references and syncs, nothing uploaded.
    let control = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_fieldsync-bench"))
        .args(["--quick", "--burst-window-ms", "200"])
        .args(["--photos-per-visit", "2", "--photo-bytes", "300000"])
        .args(["--photos-upload", "off", "--out"])
        .arg(control.path())
        .status()
        .expect("run fieldsync-bench");
    assert!(
        status.success(),
        "fieldsync-bench --photos-upload off failed: {status}"
    );
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(control.path().join("sqlite.json")).unwrap())
            .unwrap();
    let off = &json["runs"][0];
    assert_eq!(off["photos"]["uploaded"], "off");
    assert_eq!(off["photos"]["uploads"], 0);
    assert_eq!(off["photos"]["compare_uploads"], 0);
    assert_eq!(off["routine"]["changes_up"], run["routine"]["changes_up"]);
    assert_eq!(off["routine"]["syncs"], run["routine"]["syncs"]);
    assert_eq!(off["routine"]["rejected_documents"], 0);
    assert!(
        off["latency_stretches_2_4_6"]["p50_ms"].as_f64().unwrap() > 0.0,
        "{off}"
    );
}
