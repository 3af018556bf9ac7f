//! The writer: crash recovery, reopen, concurrency, shutdown draining, fsync policies, locking.
#![expect(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns; a panic there is a test failure"
)]

#[cfg(test)]
mod ledger_support;

use std::collections::HashSet;

use ledger_support::{TempLedger, sample_request};
use purser::ledger::{
    Error, FsyncPolicy, Ledger, RecordBody, Settings, WriterStats, read_records, verify,
};

async fn append_n(t: &TempLedger, fsync: FsyncPolicy, range: std::ops::Range<u64>) -> WriterStats {
    let (h, task) = t.open(fsync);
    for i in range {
        h.append(&sample_request(i)).await.unwrap();
    }
    h.shutdown().await.unwrap();
    task.wait().await.unwrap()
}

fn request_ids(t: &TempLedger) -> Vec<String> {
    read_records(&t.path)
        .unwrap()
        .map(|r| match r.unwrap().body {
            RecordBody::Request(r) => r.request_id,
            other => format!("unexpected body kind {:?}", other.kind()),
        })
        .collect()
}

#[tokio::test]
async fn reopen_truncates_torn_last_line_and_continues_the_chain() {
    let t = TempLedger::new();
    append_n(&t, FsyncPolicy::Group, 0..5).await;
    let text = std::fs::read_to_string(&t.path).unwrap();
    std::fs::write(&t.path, &text[..text.len() - 15]).unwrap();

    let (h, task) = t.open(FsyncPolicy::Group);
    let first = h.append_acked(&sample_request(100)).await.unwrap();
    assert_eq!(first.seq, 5, "seq continues after the 4 intact records");
    h.append(&sample_request(101)).await.unwrap();
    h.shutdown().await.unwrap();
    let stats = task.wait().await.unwrap();
    assert_eq!(
        stats.truncated_bytes,
        (text.lines().last().unwrap().len() + 1 - 15) as u64
    );

    let report = verify(&t.path).unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.last_seq, 6);
    assert_eq!(
        request_ids(&t),
        ["req-0", "req-1", "req-2", "req-3", "req-100", "req-101"]
    );
}

#[tokio::test]
async fn file_holding_only_a_partial_line_restarts_at_genesis() {
    let t = TempLedger::new();
    std::fs::write(&t.path, "{\"schema_version\":1,\"seq\":1,\"ts\"").unwrap();
    let (h, task) = t.open(FsyncPolicy::Group);
    let a = h.append_acked(&sample_request(0)).await.unwrap();
    assert_eq!(a.seq, 1);
    drop(h);
    task.wait().await.unwrap();
    assert!(verify(&t.path).unwrap().is_ok());
}

#[tokio::test]
async fn reopen_continues_seq_and_hash_from_the_last_record() {
    let t = TempLedger::new();
    append_n(&t, FsyncPolicy::Off, 0..3).await;
    let before = verify(&t.path).unwrap();
    let (h, task) = t.open(FsyncPolicy::Group);
    let a = h.append_acked(&sample_request(3)).await.unwrap();
    drop(h);
    task.wait().await.unwrap();
    assert_eq!(a.seq, 4);
    let rec = read_records(&t.path).unwrap().last().unwrap().unwrap();
    assert_eq!(rec.prev_hash, before.last_hash);
    assert_eq!(rec.hash, a.hash);
    assert!(verify(&t.path).unwrap().is_ok());
}

#[tokio::test]
async fn open_refuses_a_corrupt_complete_last_line() {
    let t = TempLedger::new();
    append_n(&t, FsyncPolicy::Off, 0..3).await;
    let mut lines = t.lines();
    lines[2] = lines[2].replace("\"cost_micros\":1002", "\"cost_micros\":1");
    t.write_lines(&lines);
    let err = Ledger::open(&t.settings(FsyncPolicy::Group), t.dir.path()).unwrap_err();
    assert!(matches!(err, Error::CorruptTail { .. }), "{err:?}");
}

#[tokio::test]
async fn second_writer_on_the_same_file_is_refused() {
    let t = TempLedger::new();
    let (h, task) = t.open(FsyncPolicy::Group);
    let err = Ledger::open(&t.settings(FsyncPolicy::Group), t.dir.path()).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    drop(h);
    task.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_keep_seq_contiguous_and_chain_valid() {
    let t = TempLedger::new();
    let settings = Settings {
        channel_capacity: 32,
        ..t.settings(FsyncPolicy::Group)
    };
    let (h, task) = Ledger::open(&settings, t.dir.path()).unwrap();
    let mut joins = Vec::new();
    for task_no in 0..16u64 {
        let h = h.clone();
        joins.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..250u64 {
                let body = sample_request(task_no * 1000 + i);
                if i % 5 == 0 {
                    seqs.push(h.append_acked(&body).await.unwrap().seq);
                } else {
                    h.append(&body).await.unwrap();
                }
            }
            seqs
        }));
    }
    let mut acked = HashSet::new();
    for j in joins {
        for seq in j.await.unwrap() {
            assert!(acked.insert(seq), "seq {seq} acknowledged twice");
        }
    }
    h.shutdown().await.unwrap();
    let stats = task.wait().await.unwrap();
    assert_eq!(stats.records, 4000);
    let report = verify(&t.path).unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.last_seq, 4000);
    let ids: HashSet<String> = request_ids(&t).into_iter().collect();
    assert_eq!(ids.len(), 4000, "every record written exactly once");
}

/// Direct group writes (the request path) interleave with channel appends without breaking
/// the chain, land contiguously, and report the last record's place; the syncer makes them
/// durable without an acked append asking for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn direct_group_writes_interleave_with_queued_appends() {
    let t = TempLedger::new();
    let (h, task) = t.open(FsyncPolicy::Group);
    let mut joins = Vec::new();
    for task_no in 0..8u64 {
        let h = h.clone();
        joins.push(tokio::spawn(async move {
            let mut landed = Vec::new();
            for i in 0..100u64 {
                let base = task_no * 10_000 + i * 10;
                if i % 2 == 0 {
                    let group = [sample_request(base), sample_request(base + 1)];
                    let at = h.append_all_written(&group).await.unwrap();
                    landed.push((at.seq, base + 1));
                } else {
                    h.append(&sample_request(base)).await.unwrap();
                }
            }
            landed
        }));
    }
    let mut landed = Vec::new();
    for j in joins {
        landed.extend(j.await.unwrap());
    }
    h.shutdown().await.unwrap();
    assert!(
        matches!(
            h.append_all_written(&[sample_request(1)]).await,
            Err(Error::Closed)
        ),
        "direct writes after shutdown are refused"
    );
    let stats = task.wait().await.unwrap();
    assert_eq!(stats.records, 8 * (50 * 2 + 50));
    assert!(stats.fsyncs >= 1);
    let report = verify(&t.path).unwrap();
    assert!(report.is_ok(), "{report}");
    let ids = request_ids(&t);
    for (seq, last_id) in landed {
        // The group's two records sit together, the second at the reported seq.
        let idx = seq as usize - 1;
        assert_eq!(ids[idx], sample_request_id(last_id));
        assert_eq!(ids[idx - 1], sample_request_id(last_id - 1));
    }
}

fn sample_request_id(i: u64) -> String {
    match sample_request(i) {
        RecordBody::Request(r) => r.request_id,
        other => format!("unexpected body kind {:?}", other.kind()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_everything_queued() {
    let t = TempLedger::new();
    let settings = Settings {
        channel_capacity: 64,
        ..t.settings(FsyncPolicy::Group)
    };
    let (h, task) = Ledger::open(&settings, t.dir.path()).unwrap();
    for i in 0..10_000 {
        h.append(&sample_request(i)).await.unwrap();
    }
    h.shutdown().await.unwrap();
    assert!(matches!(
        h.append(&sample_request(0)).await,
        Err(Error::Closed)
    ));
    let stats = task.wait().await.unwrap();
    assert_eq!(stats.records, 10_000);
    assert_eq!(stats.failed_records, 0);
    // Count what is in the file (full decode); the chain itself is checked by the
    // concurrency test, keeping this one fast in debug builds.
    let seqs: Vec<u64> = read_records(&t.path)
        .unwrap()
        .map(|r| r.unwrap().seq)
        .collect();
    assert_eq!(seqs.len(), 10_000);
    assert_eq!(seqs.last(), Some(&10_000));
}

#[tokio::test]
async fn dropping_every_handle_flushes_and_ends_the_writer() {
    let t = TempLedger::new();
    let (h, task) = t.open(FsyncPolicy::Group);
    let h2 = h.clone();
    let mut accepted = 0u64;
    for i in 0..500 {
        h.append(&sample_request(i)).await.unwrap();
        match h2.try_append(&sample_request(10_000 + i)) {
            Ok(()) => accepted += 1,
            Err(Error::ChannelFull) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    drop(h);
    drop(h2);
    let stats = task.wait().await.unwrap();
    assert_eq!(
        stats.records,
        500 + accepted,
        "every accepted record is written"
    );
    assert_eq!(read_records(&t.path).unwrap().count() as u64, stats.records);
    assert!(verify(&t.path).unwrap().is_ok());
}

#[tokio::test]
async fn every_record_policy_syncs_each_record_and_off_only_at_shutdown() {
    let t = TempLedger::new();
    let stats = append_n(&t, FsyncPolicy::EveryRecord, 0..20).await;
    assert_eq!((stats.records, stats.fsyncs), (20, 20));

    let t = TempLedger::new();
    let stats = append_n(&t, FsyncPolicy::Off, 0..20).await;
    assert_eq!((stats.records, stats.fsyncs), (20, 1));
}

#[tokio::test]
async fn acked_append_reports_the_seq_and_hash_in_the_file() {
    let t = TempLedger::new();
    let (h, task) = t.open(FsyncPolicy::Group);
    let mut acks = Vec::new();
    for i in 0..3 {
        acks.push(h.append_acked(&sample_request(i)).await.unwrap());
    }
    assert!(
        h.stats().fsyncs >= 1,
        "acked records are synced before the ack"
    );
    h.shutdown().await.unwrap();
    h.shutdown().await.unwrap();
    task.wait().await.unwrap();
    let recs: Vec<_> = read_records(&t.path).unwrap().map(Result::unwrap).collect();
    for (ack, rec) in acks.iter().zip(&recs) {
        assert_eq!((ack.seq, &ack.hash), (rec.seq, &rec.hash));
    }
}

#[tokio::test]
async fn reader_flags_a_torn_last_line_without_failing_earlier_records() {
    let t = TempLedger::new();
    append_n(&t, FsyncPolicy::Off, 0..3).await;
    let text = std::fs::read_to_string(&t.path).unwrap();
    std::fs::write(&t.path, &text[..text.len() - 5]).unwrap();
    let items: Vec<_> = read_records(&t.path).unwrap().collect();
    assert_eq!(items.len(), 3);
    assert!(items[..2].iter().all(Result::is_ok));
    assert!(matches!(items[2], Err(Error::TruncatedLine { line: 3 })));
}

#[tokio::test]
async fn request_bodies_are_not_stored_when_store_bodies_is_off() {
    let t = TempLedger::new();
    let settings = Settings {
        store_bodies: purser::ledger::StoreBodies::Off,
        ..t.settings(FsyncPolicy::Off)
    };
    let (h, task) = Ledger::open(&settings, t.dir.path()).unwrap();
    let mut body = sample_request(1);
    if let RecordBody::Request(r) = &mut body {
        r.body = Some(serde_json::json!({"messages": "redacted text"}));
    }
    h.append(&body).await.unwrap();
    drop(h);
    task.wait().await.unwrap();
    assert!(
        !std::fs::read_to_string(&t.path)
            .unwrap()
            .contains("redacted text")
    );
    let rec = read_records(&t.path).unwrap().next().unwrap().unwrap();
    assert!(matches!(rec.body, RecordBody::Request(r) if r.body.is_none()));
}

/// The writer closes its file (and so releases the lock) when it ends, even while a handle
/// still lives: a restart in the same process can reopen the ledger at once.
#[tokio::test]
async fn ended_writer_releases_the_file_while_handles_live() {
    let t = TempLedger::new();
    let (h, task) = t.open(FsyncPolicy::Group);
    h.append_all_written(&[sample_request(0)]).await.unwrap();
    h.shutdown().await.unwrap();
    task.wait().await.unwrap();
    let (h2, task2) = t.open(FsyncPolicy::Group);
    let at = h2.append_all_written(&[sample_request(1)]).await.unwrap();
    assert_eq!(at.seq, 2);
    drop(h);
    h2.shutdown().await.unwrap();
    task2.wait().await.unwrap();
}
