//! `GET /containers/{id}/top?ps_args=`: the host's `ps` with the client's arguments, keeping the
//! rows whose PID is in the container's cgroup, as Docker does.

use std::sync::Arc;

use serde_json::json;

use super::find;
use crate::engine::{Daemon, Status};
use crate::error::{ApiError, ApiResult};
use crate::server::body::{self, Response};
use crate::server::Request;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TopError {
    #[error("Container {0} is not running")]
    NotRunning(String),
    #[error("Container {0} is restarting, wait until the container is running")]
    Restarting(String),
    #[error("specifying \"{0}\" is not allowed")]
    PidRenamed(String),
    /// `ps` failed: the first line of its stderr, as Docker reports it.
    #[error("ps: {0}")]
    Ps(String),
    #[error("Couldn't find PID field in ps output")]
    NoPidColumn,
    #[error("Unexpected pid '{0}': invalid syntax")]
    BadPid(String),
    #[error("reading the cgroup of container {id}: {reason}")]
    Cgroup { id: String, reason: String },
}

impl From<TopError> for ApiError {
    fn from(e: TopError) -> ApiError {
        match e {
            TopError::NotRunning(_) | TopError::Restarting(_) => ApiError::Conflict(e.to_string()),
            TopError::PidRenamed(_) => ApiError::BadRequest(e.to_string()),
            _ => ApiError::Internal(e.to_string()),
        }
    }
}

/// Docker refuses renaming the PID column (`-o pid=PROCESS`): the rows could not be matched.
fn check_ps_args(args: &[String]) -> Result<(), TopError> {
    for a in args {
        for part in a.split(',') {
            if let Some((k, v)) = part.split_once('=') {
                let k = k.rsplit(' ').next().unwrap_or(k);
                if v.trim_start().starts_with("PID") && k != "pid" {
                    return Err(TopError::PidRenamed(format!("{k}={}", v.trim_start())));
                }
            }
        }
    }
    Ok(())
}

/// Splits `ps` output into titles and the rows of `pids`. A row has as many fields as there
/// are titles; the last (the command) keeps its spaces.
pub fn parse_ps(output: &str, pids: &[i32]) -> Result<(Vec<String>, Vec<Vec<String>>), TopError> {
    let mut lines = output.lines().filter(|l| !l.trim().is_empty());
    let titles: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or(TopError::NoPidColumn)?;
    let mut rows = Vec::new();
    for line in lines {
        let mut fields = Vec::new();
        let mut rest = line.trim_start();
        while fields.len() + 1 < titles.len() && !rest.is_empty() {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            fields.push(rest[..end].to_string());
            rest = rest[end..].trim_start();
        }
        if !rest.is_empty() {
            fields.push(rest.to_string());
        }
        let Some(pid) = fields.get(pid_col) else {
            continue;
        };
        let pid: i32 = pid.parse().map_err(|_| TopError::BadPid(pid.to_string()))?;
        if pids.contains(&pid) {
            rows.push(fields);
        }
    }
    Ok((titles, rows))
}

/// Runs `ps ARGS` (first narrowed to the container's PIDs with `-q`, then, as Docker, without
/// for options that do not combine with it).
fn run_ps(args: &[String], pids: &[i32]) -> Result<String, TopError> {
    let list = pids
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let narrowed = std::process::Command::new("ps")
        .args(args)
        .args(["-q", &list])
        .output();
    if let Ok(out) = &narrowed {
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
    }
    let out = std::process::Command::new("ps")
        .args(args)
        .output()
        .map_err(|e| TopError::Ps(e.to_string()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr.lines().find(|l| !l.trim().is_empty());
        return Err(TopError::Ps(first.map_or_else(
            || format!("exit status {}", out.status.code().unwrap_or(-1)),
            str::to_string,
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub async fn top(daemon: &Arc<Daemon>, id: &str, req: Request) -> ApiResult<Response> {
    let h = find(daemon, id)?;
    match h.lock().state.status {
        Status::Running | Status::Paused => {}
        Status::Restarting => return Err(TopError::Restarting(h.id.clone()).into()),
        _ => return Err(TopError::NotRunning(h.id.clone()).into()),
    }
    let ps_args = req
        .query("ps_args")
        .filter(|a| !a.is_empty())
        .unwrap_or("-ef");
    let args: Vec<String> = ps_args.split_whitespace().map(str::to_string).collect();
    check_ps_args(&args)?;
    let d = daemon.clone();
    let cid = h.id.clone();
    let (titles, rows) = tokio::task::spawn_blocking(move || {
        let pids = d
            .cgroup(&cid)
            .and_then(|cg| cg.pids())
            .map_err(|e| TopError::Cgroup {
                id: cid.clone(),
                reason: e.to_string(),
            })?;
        parse_ps(&run_ps(&args, &pids)?, &pids)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(body::ok_json(
        &json!({ "Titles": titles, "Processes": rows }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_the_containers_pids_with_the_command_whole() {
        let out = "UID          PID    PPID  C STIME TTY          TIME CMD\n\
                   root           1       0  0 10:00 ?        00:00:01 /sbin/init splash\n\
                   root         42       1  0 10:01 ?        00:00:00 sleep 1000 --x\n";
        let (titles, rows) = parse_ps(out, &[42]).unwrap();
        assert_eq!(titles.len(), 8);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0][1], "42");
        assert_eq!(rows[0][7], "sleep 1000 --x");
        assert_eq!(parse_ps("A B\n1 2\n", &[1]), Err(TopError::NoPidColumn));
        assert_eq!(
            parse_ps("PID CMD\nx sh\n", &[1]),
            Err(TopError::BadPid("x".into()))
        );
    }

    #[test]
    fn renaming_the_pid_column_is_refused() {
        let args = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        assert!(check_ps_args(&args("-o pid=PID,comm")).is_ok());
        assert_eq!(
            check_ps_args(&args("-o user=PID")).unwrap_err().to_string(),
            "specifying \"user=PID\" is not allowed"
        );
        assert!(check_ps_args(&args("aux")).is_ok());
    }
}
