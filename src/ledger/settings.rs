//! `[ledger]` settings.
//!
//! ```toml
//! [ledger]
//! path = "ledger.jsonl"      # relative to the data dir (default ./purser-data/)
//! fsync = "group"            # "group" | "every_record" | "off"
//! fsync_interval = "5ms"     # group mode: longest a written record waits for its fsync
//! channel_capacity = 8192    # records queued before appenders wait (backpressure)
//! store_bodies = "off"       # "off" | "redacted"
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Error;

/// Ledger settings (the `[ledger]` table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Ledger file; relative paths are resolved against the data dir.
    pub path: PathBuf,
    /// When to fsync.
    pub fsync: FsyncPolicy,
    /// In `group` mode, the longest a written record waits for its fsync (on the syncer thread,
    /// off the write path); a record whose appender waits for durability is synced at once.
    /// A duration such as `"5ms"`, `"250us"`, `"1s"`.
    pub fsync_interval: String,
    /// Capacity of the bounded channel to the writer; must be at least 1.
    pub channel_capacity: usize,
    /// Whether request records carry a (redacted) body. The caller fills `body`; the ledger
    /// stores what it is given.
    pub store_bodies: StoreBodies,
}

/// When the writer calls `fsync` (`sync_data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncPolicy {
    /// Once per group of records written together (group commit).
    #[default]
    Group,
    /// After every record (slow; for tests of durability or tiny volumes).
    EveryRecord,
    /// Never while running (the OS decides); once at shutdown. Acks mean "written", not durable.
    Off,
}

/// Whether request bodies are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreBodies {
    /// Never store bodies.
    #[default]
    Off,
    /// Store the redacted request/response the caller provides.
    Redacted,
}

// --- Settings ---

impl Default for Settings {
    fn default() -> Self {
        Self {
            path: PathBuf::from("ledger.jsonl"),
            fsync: FsyncPolicy::Group,
            fsync_interval: "5ms".to_owned(),
            channel_capacity: 8192,
            store_bodies: StoreBodies::Off,
        }
    }
}

impl Settings {
    /// The default data dir, used when the config names none.
    pub const DEFAULT_DATA_DIR: &'static str = "./purser-data";

    /// The ledger file: `path` if absolute, else `data_dir/path`.
    pub fn resolve_path(&self, data_dir: &Path) -> PathBuf {
        if self.path.is_absolute() {
            self.path.clone()
        } else {
            data_dir.join(&self.path)
        }
    }

    /// `fsync_interval` parsed.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] when it is not a duration like `"5ms"`.
    pub fn fsync_interval(&self) -> Result<Duration, Error> {
        crate::types::duration::parse(&self.fsync_interval).map_err(|_| Error::InvalidSetting {
            key: "fsync_interval",
            detail: format!(
                "`{}` is not a duration like \"5ms\", \"250us\" or \"1s\"",
                self.fsync_interval
            ),
        })
    }

    /// Every problem with these settings (empty when valid), for config loading.
    pub fn validate(&self) -> Vec<Error> {
        let mut errors = Vec::new();
        if let Err(e) = self.fsync_interval() {
            errors.push(e);
        }
        if self.channel_capacity == 0 {
            errors.push(Error::InvalidSetting {
                key: "channel_capacity",
                detail: "must be at least 1".to_owned(),
            });
        }
        if self.path.as_os_str().is_empty() {
            errors.push(Error::InvalidSetting {
                key: "path",
                detail: "must not be empty".to_owned(),
            });
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_from_toml_and_deny_unknown_keys() {
        let s: Settings = toml::from_str(
            "path = \"l.jsonl\"\nfsync = \"every_record\"\nfsync_interval = \"1ms\"\nstore_bodies = \"redacted\"",
        )
        .unwrap();
        assert_eq!(s.fsync, FsyncPolicy::EveryRecord);
        assert_eq!(s.store_bodies, StoreBodies::Redacted);
        assert_eq!(s.channel_capacity, 8192);
        assert!(s.validate().is_empty());
        assert!(toml::from_str::<Settings>("fsnyc = \"off\"").is_err());
        let bad = Settings {
            channel_capacity: 0,
            fsync_interval: "soon".into(),
            ..Settings::default()
        };
        assert_eq!(bad.validate().len(), 2);
    }

    #[test]
    fn relative_path_resolves_against_data_dir() {
        let s = Settings::default();
        assert_eq!(
            s.resolve_path(Path::new("/data")),
            PathBuf::from("/data/ledger.jsonl")
        );
        let abs = Settings {
            path: PathBuf::from("/var/l.jsonl"),
            ..Settings::default()
        };
        assert_eq!(
            abs.resolve_path(Path::new("/data")),
            PathBuf::from("/var/l.jsonl")
        );
    }
}
