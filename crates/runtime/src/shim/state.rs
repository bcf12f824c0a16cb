//! `<state-dir>/shim.json`: what the shim tells berthd about its container, replaced atomically
//! at every change.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The file's name inside the state directory.
pub const STATE_FILE: &str = "shim.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShimStatus {
    Running,
    Exited,
}

/// The container as its shim sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShimState {
    pub shim_pid: i32,
    /// Host PID of the container's init; 0 when it never started.
    pub pid: i32,
    pub status: ShimStatus,
    /// The init's exit code, 128 + signal when a signal ended it; `null` while it runs.
    pub exit_code: Option<i32>,
    /// The OOM killer killed a process of the container.
    pub oom_killed: bool,
    /// RFC 3339 with nanoseconds, UTC.
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Why the container did not start (or how the shim failed), empty otherwise.
    #[serde(default)]
    pub error: String,
}

impl ShimState {
    pub fn new(shim_pid: i32) -> ShimState {
        ShimState {
            shim_pid,
            pid: 0,
            status: ShimStatus::Running,
            exit_code: None,
            oom_killed: false,
            started_at: None,
            finished_at: None,
            error: String::new(),
        }
    }

    /// Writes the state to `<state_dir>/shim.json` (temp file, fsync, rename).
    pub fn save(&self, state_dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("shim state serialises");
        crate::fsutil::write_atomic(&state_dir.join(STATE_FILE), &json)
    }

    /// Like [`ShimState::save`] without the fsyncs, for states a crash makes moot anyway.
    pub fn save_volatile(&self, state_dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).expect("shim state serialises");
        crate::fsutil::write_atomic_volatile(&state_dir.join(STATE_FILE), &json)
    }

    /// Reads `<state_dir>/shim.json`.
    pub fn load(state_dir: &Path) -> std::io::Result<ShimState> {
        let bytes = std::fs::read(state_dir.join(STATE_FILE))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_with_the_documented_field_names() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ShimState::new(42);
        s.pid = 43;
        s.status = ShimStatus::Exited;
        s.exit_code = Some(137);
        s.oom_killed = true;
        s.started_at = Some("2026-11-28T04:10:00.000000000Z".into());
        s.save(dir.path()).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(STATE_FILE)).unwrap()).unwrap();
        assert_eq!(v["status"], "exited");
        assert_eq!(v["exit_code"], 137);
        assert_eq!(v["oom_killed"], true);
        assert_eq!(v["shim_pid"], 42);
        assert!(v["finished_at"].is_null());
        assert_eq!(v["error"], "");
        assert_eq!(ShimState::load(dir.path()).unwrap(), s);
    }
}
