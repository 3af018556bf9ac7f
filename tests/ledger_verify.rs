//! `verify` finds tampering and names the line: flipped byte, edited amount, deleted line,
//! reordered lines, torn last line. Also the CLI entry point.
#![expect(
    clippy::unwrap_used,
    reason = "helpers outside #[test] fns; a panic there is a test failure"
)]

#[cfg(test)]
mod ledger_support;

use ledger_support::{TempLedger, sample_request};
use purser::ledger::cli::{VerifyArgs, run_verify};
use purser::ledger::{BreakKind, FsyncPolicy, verify};

/// A ledger with `n` request records, written through the real writer.
async fn ledger_with(n: u64) -> TempLedger {
    let t = TempLedger::new();
    let (h, task) = t.open(FsyncPolicy::Off);
    for i in 0..n {
        h.append(&sample_request(i)).await.unwrap();
    }
    h.shutdown().await.unwrap();
    task.wait().await.unwrap();
    t
}

#[tokio::test]
async fn intact_ledger_verifies_with_count_and_last_hash() {
    let t = ledger_with(5).await;
    let report = verify(&t.path).unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.records, 5);
    assert_eq!(report.last_seq, 5);
    let last: serde_json::Value = serde_json::from_str(&t.lines()[4]).unwrap();
    assert_eq!(report.last_hash, last["hash"].as_str().unwrap());
}

#[tokio::test]
async fn verify_detects_edited_amount_on_its_line() {
    let t = ledger_with(5).await;
    let mut lines = t.lines();
    assert!(lines[2].contains("\"cost_micros\":1002"));
    lines[2] = lines[2].replace("\"cost_micros\":1002", "\"cost_micros\":2");
    t.write_lines(&lines);
    let report = verify(&t.path).unwrap();
    let b = report.first_break.unwrap();
    assert_eq!((b.line, b.seq), (3, Some(3)));
    assert!(
        matches!(b.kind, BreakKind::HashMismatch { .. }),
        "{:?}",
        b.kind
    );
    assert_eq!(report.records, 2);
}

#[tokio::test]
async fn verify_detects_flipped_byte_on_its_line() {
    let t = ledger_with(4).await;
    let mut bytes = std::fs::read(&t.path).unwrap();
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(
            bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .collect();
    // Flip a bit inside the prompt_hash (a hex string) of line 2.
    let line2 = &bytes[line_starts[1]..line_starts[2]];
    let at = line_starts[1]
        + line2
            .windows(13)
            .position(|w| w == b"\"prompt_hash\"")
            .unwrap()
        + 20;
    bytes[at] ^= 0x01;
    std::fs::write(&t.path, &bytes).unwrap();
    let b = verify(&t.path).unwrap().first_break.unwrap();
    assert_eq!(b.line, 2);
    assert!(
        matches!(b.kind, BreakKind::HashMismatch { .. }),
        "{:?}",
        b.kind
    );
}

#[tokio::test]
async fn verify_detects_flipped_byte_that_breaks_json() {
    let t = ledger_with(3).await;
    let mut lines = t.lines();
    lines[1] = lines[1].replacen('{', "[", 1);
    t.write_lines(&lines);
    let b = verify(&t.path).unwrap().first_break.unwrap();
    assert_eq!((b.line, b.seq), (2, None));
    assert!(matches!(b.kind, BreakKind::BadJson { .. }), "{:?}", b.kind);
}

#[tokio::test]
async fn verify_detects_deleted_line_as_seq_gap() {
    let t = ledger_with(5).await;
    let mut lines = t.lines();
    lines.remove(1);
    t.write_lines(&lines);
    let b = verify(&t.path).unwrap().first_break.unwrap();
    assert_eq!(b.line, 2);
    assert_eq!(
        b.kind,
        BreakKind::SeqGap {
            expected: 2,
            found: 3
        }
    );
}

#[tokio::test]
async fn verify_detects_deleted_line_even_with_renumbered_seq() {
    let t = ledger_with(5).await;
    let mut lines = t.lines();
    lines.remove(1);
    lines[1] = lines[1].replace("\"seq\":3", "\"seq\":2");
    t.write_lines(&lines);
    let b = verify(&t.path).unwrap().first_break.unwrap();
    assert_eq!((b.line, b.seq), (2, Some(2)));
    assert!(
        matches!(b.kind, BreakKind::PrevHashMismatch { .. }),
        "{:?}",
        b.kind
    );
}

#[tokio::test]
async fn verify_detects_reordered_lines() {
    let t = ledger_with(5).await;
    let mut lines = t.lines();
    lines.swap(2, 3);
    t.write_lines(&lines);
    let b = verify(&t.path).unwrap().first_break.unwrap();
    assert_eq!(b.line, 3);
    assert_eq!(
        b.kind,
        BreakKind::SeqGap {
            expected: 3,
            found: 4
        }
    );
}

#[tokio::test]
async fn verify_reports_torn_last_line() {
    let t = ledger_with(3).await;
    let text = std::fs::read_to_string(&t.path).unwrap();
    std::fs::write(&t.path, &text[..text.len() - 10]).unwrap();
    let report = verify(&t.path).unwrap();
    assert_eq!(report.records, 2);
    let b = report.first_break.unwrap();
    assert_eq!((b.line, b.kind), (3, BreakKind::TruncatedLine));
}

#[tokio::test]
async fn cli_verify_prints_ok_or_the_broken_line() {
    let t = ledger_with(3).await;
    let args = VerifyArgs {
        file: t.path.clone(),
    };
    let mut out = Vec::new();
    assert!(run_verify(&args, &mut out).unwrap());
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("OK: 3 records, last seq 3"), "{text}");

    let mut lines = t.lines();
    lines[1] = lines[1].replace("\"cost_micros\":1001", "\"cost_micros\":1");
    t.write_lines(&lines);
    let mut out = Vec::new();
    assert!(!run_verify(&args, &mut out).unwrap());
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("BROKEN at line 2 (seq 2): hash mismatch"),
        "{text}"
    );
}

#[test]
fn cli_args_parse_the_file_argument() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        verify: VerifyArgs,
    }
    let cli = Cli::try_parse_from(["purser", "some/ledger.jsonl"]).unwrap();
    assert_eq!(
        cli.verify.file,
        std::path::PathBuf::from("some/ledger.jsonl")
    );
    assert!(Cli::try_parse_from(["purser"]).is_err());
}
