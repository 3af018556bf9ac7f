//! Reading the ledger back: a streaming record iterator and chain verification. Blocking file
//! I/O: async callers run these in `spawn_blocking`.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::chain::{self, GENESIS_HASH};
use super::{Error, LedgerRecord};

/// Streaming iterator over the records of a ledger file, in file order. Each item is one line:
/// a bad line yields an `Err` ([`Error::Decode`], or [`Error::TruncatedLine`] for an
/// unterminated last line) and iteration continues; an I/O error ends it.
#[derive(Debug)]
pub struct Records {
    reader: BufReader<File>,
    path: PathBuf,
    line: u64,
    buf: Vec<u8>,
    done: bool,
    /// Byte offset just past the last newline-terminated line read.
    offset: u64,
}

/// Result of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Lines that verified, before the first break (all of them when intact).
    pub records: u64,
    /// `seq` of the last verified record (0 when none).
    pub last_seq: u64,
    /// `hash` of the last verified record ([`GENESIS_HASH`] when none).
    pub last_hash: String,
    /// The first problem found, if any; verification stops there.
    pub first_break: Option<ChainBreak>,
}

/// Where and how the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// 1-based line number in the file.
    pub line: u64,
    /// The line's `seq`, when it could be read.
    pub seq: Option<u64>,
    /// What is wrong.
    pub kind: BreakKind,
}

/// What is wrong with a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakKind {
    /// Not valid JSON (or not an object).
    BadJson {
        /// Parser message.
        detail: String,
    },
    /// A chain field is missing or has the wrong type.
    MissingField {
        /// The field name.
        field: &'static str,
    },
    /// `seq` is not the previous `seq` + 1 (deleted, inserted or reordered lines).
    SeqGap {
        /// The expected seq.
        expected: u64,
        /// The seq found.
        found: u64,
    },
    /// `prev_hash` is not the previous line's `hash`.
    PrevHashMismatch {
        /// The previous line's hash.
        expected: String,
        /// The stored prev_hash.
        found: String,
    },
    /// The stored `hash` does not match the line's content (edited line).
    HashMismatch {
        /// The stored hash.
        stored: String,
        /// The hash of the content.
        computed: String,
    },
    /// The last line has no trailing newline (torn write).
    TruncatedLine,
}

/// Opens `path` for streaming reads. At startup call it after [`super::Ledger::open`], which
/// repairs a torn last line; a file being appended to may end in a line still being written
/// ([`Error::TruncatedLine`]).
///
/// # Errors
/// [`Error::Io`] when the file cannot be opened.
pub fn read_records(path: &Path) -> Result<Records, Error> {
    read_records_from(path, 0)
}

/// [`read_records`] from byte `offset`, which must be the start of a line (an earlier
/// [`Records::offset`]): a reader that remembers where it stopped reads only what was appended
/// since. Line numbers in errors count from `offset`.
///
/// # Errors
/// [`Error::Io`] when the file cannot be opened or `offset` cannot be reached.
pub fn read_records_from(path: &Path, offset: u64) -> Result<Records, Error> {
    let io = |op, source| Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(|e| io("open", e))?;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset)).map_err(|e| io("seek", e))?;
    Ok(Records {
        reader: BufReader::with_capacity(256 * 1024, file),
        path: path.to_path_buf(),
        line: 0,
        buf: Vec::new(),
        done: false,
        offset,
    })
}

/// Verifies the whole chain of `path`: JSON of each line, `seq` continuity from 1, `prev_hash`
/// links from [`GENESIS_HASH`] and recomputed hashes. Stops at the first break.
///
/// Cannot detect lines removed from the end of the file: compare `last_seq`/`last_hash` with
/// a value kept elsewhere for that.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read (a broken chain is not an error: see the report).
pub fn verify(path: &Path) -> Result<VerifyReport, Error> {
    let io = |source| Error::Io {
        op: "read",
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut report = VerifyReport {
        records: 0,
        last_seq: 0,
        last_hash: GENESIS_HASH.to_owned(),
        first_break: None,
    };
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(io)? == 0 {
            return Ok(report);
        }
        line += 1;
        let checked = match buf.strip_suffix(b"\n") {
            None => Err((None, BreakKind::TruncatedLine)),
            Some(text) => check_line(text, report.last_seq + 1, &report.last_hash),
        };
        match checked {
            Ok((seq, hash)) => {
                report.records += 1;
                report.last_seq = seq;
                report.last_hash = hash;
            }
            Err((seq, kind)) => {
                report.first_break = Some(ChainBreak { line, seq, kind });
                return Ok(report);
            }
        }
    }
}

/// Checks one line against the expected seq and previous hash; returns its seq and hash.
fn check_line(
    text: &[u8],
    expected_seq: u64,
    prev_hash: &str,
) -> Result<(u64, String), (Option<u64>, BreakKind)> {
    let bad_json = |detail: String| (None, BreakKind::BadJson { detail });
    let value: Value = serde_json::from_slice(text).map_err(|e| bad_json(e.to_string()))?;
    let missing = |seq, field| (seq, BreakKind::MissingField { field });
    let obj = value
        .as_object()
        .ok_or_else(|| bad_json("not a JSON object".to_owned()))?;
    let seq = obj
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or(missing(None, "seq"))?;
    let field = |name: &'static str| {
        obj.get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(missing(Some(seq), name))
    };
    let stored = field("hash")?;
    let stored_prev = field("prev_hash")?;
    field("kind")?;
    if seq != expected_seq {
        let kind = BreakKind::SeqGap {
            expected: expected_seq,
            found: seq,
        };
        return Err((Some(seq), kind));
    }
    if stored_prev != prev_hash {
        let kind = BreakKind::PrevHashMismatch {
            expected: prev_hash.to_owned(),
            found: stored_prev,
        };
        return Err((Some(seq), kind));
    }
    let computed = chain::recompute_hash(value)
        .map_err(|e| {
            (
                Some(seq),
                BreakKind::BadJson {
                    detail: e.to_string(),
                },
            )
        })?
        .ok_or(missing(Some(seq), "prev_hash"))?;
    if computed != stored {
        return Err((Some(seq), BreakKind::HashMismatch { stored, computed }));
    }
    Ok((seq, stored))
}

// --- Records ---

impl Records {
    /// Byte offset just past the last whole line read so far: where a later
    /// [`read_records_from`] picks up.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl Iterator for Records {
    type Item = Result<LedgerRecord, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        self.buf.clear();
        match self.reader.read_until(b'\n', &mut self.buf) {
            Ok(0) => {
                self.done = true;
                return None;
            }
            Ok(_) => {}
            Err(source) => {
                self.done = true;
                let path = self.path.clone();
                return Some(Err(Error::Io {
                    op: "read",
                    path,
                    source,
                }));
            }
        }
        self.line += 1;
        let line = self.line;
        let Some(text) = self.buf.strip_suffix(b"\n") else {
            return Some(Err(Error::TruncatedLine { line }));
        };
        // Only whole lines move the offset: a torn last line is read again next time.
        self.offset += self.buf.len() as u64;
        Some(serde_json::from_slice(text).map_err(|e| Error::Decode {
            line,
            detail: e.to_string(),
        }))
    }
}

// --- VerifyReport ---

impl VerifyReport {
    /// Whether the whole file verified.
    pub fn is_ok(&self) -> bool {
        self.first_break.is_none()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.first_break {
            None => write!(
                f,
                "OK: {} records, last seq {}, last hash {}",
                self.records, self.last_seq, self.last_hash
            ),
            Some(b) => {
                write!(f, "BROKEN at line {}", b.line)?;
                if let Some(seq) = b.seq {
                    write!(f, " (seq {seq})")?;
                }
                write!(
                    f,
                    ": {}; {} records verified before it, last good seq {}, hash {}",
                    b.kind, self.records, self.last_seq, self.last_hash
                )
            }
        }
    }
}

impl fmt::Display for BreakKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreakKind::BadJson { detail } => write!(f, "bad json ({detail})"),
            BreakKind::MissingField { field } => write!(f, "missing or invalid field `{field}`"),
            BreakKind::SeqGap { expected, found } => {
                write!(f, "seq gap: expected {expected}, found {found}")
            }
            BreakKind::PrevHashMismatch { expected, found } => {
                write!(f, "prev_hash mismatch: expected {expected}, found {found}")
            }
            BreakKind::HashMismatch { stored, computed } => {
                write!(
                    f,
                    "hash mismatch: stored {stored}, content hashes to {computed}"
                )
            }
            BreakKind::TruncatedLine => write!(f, "truncated line (no trailing newline)"),
        }
    }
}
