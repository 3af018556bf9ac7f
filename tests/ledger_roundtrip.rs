//! Property: every body appended comes back identical, in order, with a valid chain.
#![expect(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns; a panic there is a test failure"
)]

#[cfg(test)]
mod ledger_support;

use ledger_support::{TempLedger, record_body};
use proptest::prelude::*;
use purser::ledger::{FsyncPolicy, GENESIS_HASH, RecordBody, read_records, verify};

fn write_then_read(bodies: &[RecordBody]) -> Vec<purser::ledger::LedgerRecord> {
    let t = TempLedger::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (h, task) = t.open(FsyncPolicy::Off);
        for b in bodies {
            h.append(b).await.unwrap();
        }
        drop(h);
        task.wait().await.unwrap();
    });
    let report = verify(&t.path).unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.records, bodies.len() as u64);
    read_records(&t.path).unwrap().map(Result::unwrap).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn ledger_write_then_read_round_trips_every_body(
        bodies in proptest::collection::vec(record_body(), 1..8)
    ) {
        let records = write_then_read(&bodies);
        prop_assert_eq!(records.len(), bodies.len());
        let mut prev = GENESIS_HASH.to_owned();
        for (i, (rec, body)) in records.iter().zip(&bodies).enumerate() {
            prop_assert_eq!(&rec.body, body);
            prop_assert_eq!(rec.kind, body.kind());
            prop_assert_eq!(rec.seq, i as u64 + 1);
            prop_assert_eq!(&rec.prev_hash, &prev);
            prop_assert_eq!(rec.schema_version, purser::ledger::SCHEMA_VERSION);
            prev = rec.hash.clone();
        }
    }
}
