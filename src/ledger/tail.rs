//! Crash recovery at open: find the last complete line, drop a torn partial line after it,
//! and recover the chain tip (last `seq` and `hash`) from it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde_json::Value;

use super::Error;
use super::chain::{self, GENESIS_HASH};

/// Backwards scan block size.
const BLOCK: u64 = 64 * 1024;

/// Where the chain continues from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChainTip {
    /// `seq` of the last record (0 when the file is empty).
    pub(crate) last_seq: u64,
    /// `hash` of the last record ([`GENESIS_HASH`] when empty).
    pub(crate) last_hash: String,
    /// File length after recovery.
    pub(crate) len: u64,
    /// Bytes of a torn last line that were truncated away.
    pub(crate) truncated_bytes: u64,
}

/// Recovers the chain tip of `file` (opened readable and writable), truncating a partial last
/// line (no trailing newline) and syncing the truncation.
///
/// # Errors
/// [`Error::Io`] on file errors; [`Error::CorruptTail`] when the last complete line is not a
/// record whose stored hash matches its content.
pub(crate) fn recover(file: &mut File, path: &Path) -> Result<ChainTip, Error> {
    let io = |op: &'static str| {
        move |source: std::io::Error| Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    };
    let len = file.metadata().map_err(io("stat"))?.len();
    let last_nl = rfind_byte(file, len, b'\n').map_err(io("read tail"))?;
    let keep = last_nl.map_or(0, |p| p + 1);
    let truncated_bytes = len - keep;
    if truncated_bytes > 0 {
        tracing::warn!(
            path = %path.display(),
            truncated_bytes,
            "ledger ends with a partial line (crash mid-write); truncating it away"
        );
        file.set_len(keep).map_err(io("truncate"))?;
        file.sync_all().map_err(io("fsync"))?;
    }
    let Some(end) = last_nl else {
        return Ok(ChainTip {
            last_seq: 0,
            last_hash: GENESIS_HASH.to_owned(),
            len: 0,
            truncated_bytes,
        });
    };
    let start = rfind_byte(file, end, b'\n')
        .map_err(io("read tail"))?
        .map_or(0, |p| p + 1);
    let mut line = vec![0u8; usize::try_from(end - start).unwrap_or(usize::MAX)];
    file.seek(SeekFrom::Start(start)).map_err(io("seek"))?;
    file.read_exact(&mut line).map_err(io("read tail"))?;
    let (last_seq, last_hash) = tip_of_line(&line).map_err(|detail| Error::CorruptTail {
        offset: start,
        detail,
    })?;
    Ok(ChainTip {
        last_seq,
        last_hash,
        len: keep,
        truncated_bytes,
    })
}

/// `seq` and `hash` of a complete line, after checking the hash against the content.
fn tip_of_line(line: &[u8]) -> Result<(u64, String), String> {
    let value: Value = serde_json::from_slice(line).map_err(|e| format!("bad json: {e}"))?;
    let seq = value
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or("missing or non-integer `seq`")?;
    let hash = value
        .get("hash")
        .and_then(Value::as_str)
        .ok_or("missing `hash`")?
        .to_owned();
    let computed = chain::recompute_hash(value)
        .map_err(|e| format!("cannot canonicalize: {e}"))?
        .ok_or("missing `prev_hash`")?;
    if computed != hash {
        return Err(format!(
            "stored hash {hash} does not match content ({computed})"
        ));
    }
    Ok((seq, hash))
}

/// Position of the last `byte` strictly before `end`, scanning backwards in blocks.
fn rfind_byte(file: &mut File, end: u64, byte: u8) -> std::io::Result<Option<u64>> {
    let mut buf = vec![0u8; BLOCK as usize];
    let mut pos = end;
    while pos > 0 {
        let n = pos.min(BLOCK);
        pos -= n;
        // n <= BLOCK, which fits in usize.
        let chunk = &mut buf[..n as usize];
        file.seek(SeekFrom::Start(pos))?;
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == byte) {
            return Ok(Some(pos + i as u64));
        }
    }
    Ok(None)
}
