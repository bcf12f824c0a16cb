//! Exec instances: `docker exec`'s processes in a running container. berthd never forks: it
//! spawns `berth-runtime exec` (or `<runtime> exec` for an external OCI runtime such as runc),
//! which joins the container and exits with the process's status. With a terminal, the
//! runtime sends the pty master to a console socket berthd listens on.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::watch;

use super::container::{Handle, Status};
use super::Daemon;
use crate::error::{ApiError, ApiResult};

/// The body of `POST /containers/{id}/exec`; any other field is refused by name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ExecConfig {
    #[serde(default)]
    pub attach_stdin: Option<bool>,
    #[serde(default)]
    pub attach_stdout: Option<bool>,
    #[serde(default)]
    pub attach_stderr: Option<bool>,
    #[serde(default)]
    pub tty: Option<bool>,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub privileged: Option<bool>,
    /// docker-py spells it `detachKeys`; Docker's decoder ignores case.
    #[serde(default, alias = "detachKeys")]
    pub detach_keys: Option<String>,
    #[serde(default)]
    pub console_size: Option<Vec<u16>>,
    /// Sent by docker-py. The request's path names the container, and Docker ignores this.
    #[serde(default)]
    pub container: Option<String>,
    /// Deprecated in the API and without effect at create (the docker CLI still sends it):
    /// detaching is chosen at start.
    #[serde(default)]
    pub detach: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Created,
    Running,
    Exited,
}

struct ExecState {
    phase: Phase,
    exit_code: Option<i32>,
    /// The process's host PID once the runtime wrote it.
    pid: i32,
    /// The pty master while a terminal exec runs (for resize).
    console: Option<Arc<OwnedFd>>,
}

pub struct Exec {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    /// The bytes that detach a tty session (Docker's default ctrl-p,ctrl-q).
    pub detach_keys: Vec<u8>,
    dir: PathBuf,
    state: Mutex<ExecState>,
    done: watch::Sender<bool>,
}

impl Exec {
    pub fn tty(&self) -> bool {
        self.config.tty.unwrap_or(false)
    }

    pub fn cmd(&self) -> &[String] {
        self.config.cmd.as_deref().unwrap_or_default()
    }

    /// Docker's ExecInspect.
    pub fn inspect(&self) -> Value {
        let mut s = self.state.lock().expect("exec state");
        if s.phase == Phase::Running && s.pid == 0 {
            s.pid = std::fs::read_to_string(self.dir.join("pid"))
                .ok()
                .and_then(|p| p.trim().parse().ok())
                .unwrap_or(0);
        }
        let cmd = self.cmd();
        json!({
            "ID": self.id,
            "Running": s.phase == Phase::Running,
            "ExitCode": s.exit_code,
            "ProcessConfig": {
                "tty": self.tty(),
                "entrypoint": cmd.first().cloned().unwrap_or_default(),
                "arguments": cmd.iter().skip(1).collect::<Vec<_>>(),
                "privileged": self.config.privileged.unwrap_or(false),
                "user": self.config.user.clone().unwrap_or_default(),
            },
            "OpenStdin": self.config.attach_stdin.unwrap_or(false),
            "OpenStderr": self.config.attach_stderr.unwrap_or(false),
            "OpenStdout": self.config.attach_stdout.unwrap_or(false),
            "CanRemove": false,
            "ContainerID": self.container_id,
            "DetachKeys": self.config.detach_keys.clone().unwrap_or_default(),
            "Pid": s.pid,
        })
    }

    /// The pty master of a running terminal exec.
    pub fn console(&self) -> Option<Arc<OwnedFd>> {
        self.state.lock().expect("exec state").console.clone()
    }

    /// A receiver that turns true when the process has exited and its code is recorded.
    pub fn done(&self) -> watch::Receiver<bool> {
        self.done.subscribe()
    }

    fn finish(&self, code: i32) {
        {
            let mut s = self.state.lock().expect("exec state");
            s.phase = Phase::Exited;
            s.exit_code = Some(code);
            s.console = None;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        self.done.send_replace(true);
    }
}

/// Every exec instance, by ID.
#[derive(Default)]
pub struct ExecStore {
    by_id: Mutex<HashMap<String, Arc<Exec>>>,
}

impl ExecStore {
    pub fn get(&self, id: &str) -> ApiResult<Arc<Exec>> {
        self.by_id
            .lock()
            .expect("exec store")
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("No such exec instance: {id}")))
    }

    /// The container's instances that have not exited (Docker's `ExecIDs`), or null.
    pub fn ids_json(&self, container_id: &str) -> Value {
        let map = self.by_id.lock().expect("exec store");
        let ids: Vec<&String> = map
            .values()
            .filter(|e| e.container_id == container_id)
            .filter(|e| e.state.lock().expect("exec state").phase != Phase::Exited)
            .map(|e| &e.id)
            .collect();
        if ids.is_empty() {
            Value::Null
        } else {
            json!(ids)
        }
    }

    /// Forgets a removed container's instances.
    pub fn remove_container(&self, container_id: &str) {
        self.by_id
            .lock()
            .expect("exec store")
            .retain(|_, e| e.container_id != container_id);
    }
}

/// The command line as events name it (`exec_start: sh -c date`).
fn exec_command(exec: &Exec) -> String {
    exec.config.cmd.as_deref().unwrap_or_default().join(" ")
}

/// Fails unless the container can take an exec now, in Docker's words.
fn check_running(h: &Handle) -> ApiResult<()> {
    match h.lock().state.status {
        Status::Running => Ok(()),
        Status::Paused => Err(ApiError::Conflict(format!(
            "Container {} is paused, unpause the container before exec",
            h.id
        ))),
        Status::Restarting => Err(ApiError::Conflict(format!(
            "Container {} is restarting, wait until the container is running",
            h.id
        ))),
        _ => Err(ApiError::Conflict(format!(
            "Container {} is not running",
            h.id
        ))),
    }
}

/// `name` next to berthd, else in PATH.
fn sibling_binary(name: &str) -> Option<PathBuf> {
    let next_to_us = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .filter(|p| p.is_file());
    next_to_us.or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
        })
    })
}

/// What the start of an exec hands the API layer to relay.
pub struct Launched {
    pub stdin: Option<ChildStdin>,
    pub stdout: Option<ChildStdout>,
    /// The process's stderr without a terminal; with one, the runtime's own messages.
    pub stderr: Option<ChildStderr>,
    pub console: Option<Arc<OwnedFd>>,
}

/// How a start attaches: the streams to connect, or none (Detach).
#[derive(Debug, Clone, Copy)]
pub struct Attach {
    pub detach: bool,
}

impl Daemon {
    /// `POST /containers/{id}/exec`: records an instance; nothing runs yet.
    pub fn exec_create(&self, h: &Handle, config: ExecConfig) -> ApiResult<String> {
        check_running(h)?;
        if config.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(ApiError::BadRequest("No exec command specified".into()));
        }
        if let Some(dir) = config.working_dir.as_deref().filter(|d| !d.is_empty()) {
            if !dir.starts_with('/') {
                return Err(ApiError::BadRequest(format!(
                    "the working directory '{dir}' is invalid, it needs to be an absolute path"
                )));
            }
        }
        if let Some(size) = &config.console_size {
            if size.len() != 2 {
                return Err(ApiError::BadRequest(
                    "ConsoleSize must be [height, width]".into(),
                ));
            }
        }
        if let Some(user) = config.user.as_deref().filter(|u| !u.is_empty()) {
            // Checked now as well as at start: the docker CLI shows create errors, not start's.
            resolve_user(h, user)?;
        }
        let detach_keys = match config.detach_keys.as_deref().filter(|k| !k.is_empty()) {
            Some(k) => {
                crate::detach::parse_keys(k).map_err(|e| ApiError::BadRequest(e.to_string()))?
            }
            None => crate::detach::DEFAULT_KEYS.to_vec(),
        };
        let id = super::random_id();
        let exec = Arc::new(Exec {
            dir: self.config.exec_root.join("exec").join(&id[..16]),
            id: id.clone(),
            container_id: h.id.clone(),
            config,
            detach_keys,
            state: Mutex::new(ExecState {
                phase: Phase::Created,
                exit_code: None,
                pid: 0,
                console: None,
            }),
            done: watch::channel(false).0,
        });
        self.execs
            .by_id
            .lock()
            .expect("exec store")
            .insert(id.clone(), exec.clone());
        self.events.container(
            &h.lock(),
            &format!("exec_create: {}", exec_command(&exec)),
            &[("execID", &exec.id)],
        );
        Ok(id)
    }

    /// `POST /exec/{id}/start`: spawns the runtime and returns the streams to relay; the exit
    /// code is recorded when the runtime process exits.
    /// The checks `exec_start` makes before it launches anything, without changing state: for
    /// answering an attached start before the process runs.
    pub fn exec_can_start(&self, exec: &Exec) -> ApiResult<()> {
        match exec.state.lock().expect("exec state").phase {
            Phase::Running => {
                return Err(ApiError::Conflict(format!(
                    "Error: Exec command {} is already running",
                    exec.id
                )))
            }
            Phase::Exited => {
                return Err(ApiError::Conflict(format!(
                    "Error: Exec command {} has already run",
                    exec.id
                )))
            }
            Phase::Created => {}
        }
        let h = self.find(&exec.container_id)?;
        check_running(&h)
    }

    pub async fn exec_start(
        self: &Arc<Self>,
        exec: &Arc<Exec>,
        attach: Attach,
        console_size: Option<(u16, u16)>,
    ) -> ApiResult<Launched> {
        {
            let mut s = exec.state.lock().expect("exec state");
            match s.phase {
                Phase::Running => {
                    return Err(ApiError::Conflict(format!(
                        "Error: Exec command {} is already running",
                        exec.id
                    )))
                }
                Phase::Exited => {
                    return Err(ApiError::Conflict(format!(
                        "Error: Exec command {} has already run",
                        exec.id
                    )))
                }
                Phase::Created => s.phase = Phase::Running,
            }
        }
        let h = match self.find(&exec.container_id).and_then(|h| {
            check_running(&h)?;
            Ok(h)
        }) {
            Ok(h) => h,
            Err(e) => {
                exec.state.lock().expect("exec state").phase = Phase::Created;
                return Err(e);
            }
        };
        let daemon = self.clone();
        let e = exec.clone();
        let container = h.clone();
        let spawned = tokio::task::spawn_blocking(move || {
            daemon.spawn_exec(&container, &e, attach, console_size)
        })
        .await
        .map_err(ApiError::internal)?;
        let (mut child, launched) = match spawned {
            Ok(s) => s,
            Err(err) => {
                exec.finish(126);
                return Err(err);
            }
        };
        exec.state.lock().expect("exec state").console = launched.console.clone();
        self.events.container(
            &h.lock(),
            &format!("exec_start: {}", exec_command(exec)),
            &[("execID", &exec.id)],
        );
        let e = exec.clone();
        let daemon = self.clone();
        tokio::task::spawn_blocking(move || {
            let code = match child.wait() {
                Ok(status) => exit_code(status),
                Err(_) => 128,
            };
            // Before the exit is visible, so a client that saw it also finds the event.
            let code_text = code.to_string();
            daemon.events.container(
                &h.lock(),
                "exec_die",
                &[("execID", &e.id), ("exitCode", &code_text)],
            );
            e.finish(code);
        });
        Ok(launched)
    }

    fn spawn_exec(
        &self,
        h: &Handle,
        exec: &Exec,
        attach: Attach,
        console_size: Option<(u16, u16)>,
    ) -> ApiResult<(Child, Launched)> {
        let c = h.snapshot();
        let process = self.exec_process(h, exec, console_size)?;
        std::fs::create_dir_all(&exec.dir)
            .map_err(|e| ApiError::internal(format!("create {}: {e}", exec.dir.display())))?;
        let process_file = exec.dir.join("process.json");
        std::fs::write(&process_file, process.to_string())
            .map_err(|e| ApiError::internal(format!("write {}: {e}", process_file.display())))?;

        let runtime = self.config.runtime_path(&c.runtime).ok_or_else(|| {
            ApiError::BadRequest(format!("unknown or invalid runtime name: {}", c.runtime))
        })?;
        let binary = match runtime {
            Some(path) => path.to_path_buf(),
            None => sibling_binary("berth-runtime").ok_or_else(|| {
                ApiError::internal(
                    "berth-runtime not found next to berthd or in PATH; install berth completely",
                )
            })?,
        };
        // An external runtime hands an exec's pty out only when it detaches (and then the exit
        // status is lost), so under one berthd gives it a terminal of its own instead: runc then
        // makes the process's pty and copies between the two, and follows our terminal's size
        // (SIGWINCH reaches it as the session leader `setsid -c` makes it).
        let outer = match (exec.tty(), runtime.is_some()) {
            (true, true) => Some(open_pty(console_size)?),
            _ => None,
        };
        let mut cmd = match &outer {
            Some(_) => {
                let mut setsid = Command::new("setsid");
                setsid.args(["--wait", "--ctty"]).arg(&binary);
                setsid
            }
            None => Command::new(&binary),
        };
        cmd.arg("--root")
            .arg(self.runtime_root(&c.runtime))
            .arg("exec")
            .arg("--process")
            .arg(&process_file)
            .arg("--pid-file")
            .arg(exec.dir.join("pid"));
        let console = if exec.tty() && outer.is_none() {
            let path = exec.dir.join("console.sock");
            let sock = berth_runtime::console::ConsoleSocket::bind(&path)
                .map_err(|e| ApiError::internal(format!("bind {}: {e}", path.display())))?;
            cmd.arg("--tty").arg("--console-socket").arg(&path);
            Some(sock)
        } else {
            None
        };
        cmd.arg(&c.id);
        let attached = !attach.detach;
        let pipe_if = |on: bool| if on { Stdio::piped() } else { Stdio::null() };
        let cfg = &exec.config;
        cmd.stdin(pipe_if(
            attached && !exec.tty() && cfg.attach_stdin.unwrap_or(false),
        ))
        .stdout(pipe_if(
            attached && !exec.tty() && cfg.attach_stdout.unwrap_or(false),
        ))
        // With a terminal, stderr carries only the runtime's own failure messages.
        .stderr(pipe_if(
            attached && (exec.tty() || cfg.attach_stderr.unwrap_or(false)),
        ));
        let outer_master = match outer {
            Some((master, slave)) => {
                let copy = |fd: &OwnedFd| {
                    fd.try_clone()
                        .map(Stdio::from)
                        .map_err(|e| ApiError::internal(format!("dup the exec's terminal: {e}")))
                };
                cmd.stdin(copy(&slave)?)
                    .stdout(copy(&slave)?)
                    .stderr(Stdio::from(slave));
                Some(master)
            }
            None => None,
        };
        let mut child = cmd
            .spawn()
            .map_err(|e| ApiError::internal(format!("spawn {}: {e}", binary.display())))?;
        let master = match console {
            Some(sock) => receive_pty(&sock, &mut child)?,
            None => outer_master,
        };
        let launched = Launched {
            stdin: child.stdin.take(),
            stdout: child.stdout.take(),
            stderr: child.stderr.take(),
            console: master.map(Arc::new),
        };
        Ok((child, launched))
    }

    /// The OCI process for `exec`: the container's own process with the exec's command,
    /// merged env, user, working directory, terminal and (when privileged) every capability.
    fn exec_process(
        &self,
        h: &Handle,
        exec: &Exec,
        console_size: Option<(u16, u16)>,
    ) -> ApiResult<Value> {
        let bundle = h.dir.join("bundle").join("config.json");
        let spec: Value = std::fs::read(&bundle)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| ApiError::internal(format!("reading {}", bundle.display())))?;
        let mut p = spec["process"].clone();
        let cfg = &exec.config;
        p["args"] = json!(exec.cmd());
        p["terminal"] = json!(exec.tty());
        let size = console_size.or_else(|| {
            cfg.console_size
                .as_ref()
                .filter(|s| s.len() == 2 && s[0] > 0)
                .map(|s| (s[0], s[1]))
        });
        match size {
            Some((hgt, w)) if exec.tty() => p["consoleSize"] = json!({"height": hgt, "width": w}),
            _ => {
                if let Some(o) = p.as_object_mut() {
                    o.remove("consoleSize");
                }
            }
        }
        let mut env: Vec<String> = serde_json::from_value(p["env"].clone()).unwrap_or_default();
        for e in cfg.env.as_deref().unwrap_or_default() {
            let key = e.split('=').next().unwrap_or(e);
            match env.iter_mut().find(|x| x.split('=').next() == Some(key)) {
                Some(slot) => *slot = e.clone(),
                None => env.push(e.clone()),
            }
        }
        if let Some(dir) = cfg.working_dir.as_deref().filter(|d| !d.is_empty()) {
            p["cwd"] = json!(dir);
        }
        if let Some(user) = cfg.user.as_deref().filter(|u| !u.is_empty()) {
            let resolved = resolve_user(h, user)?;
            p["user"]["uid"] = json!(resolved.uid);
            p["user"]["gid"] = json!(resolved.gid);
            p["user"]["additionalGids"] = json!(resolved.additional_gids);
            // HOME in the container's process came from its own user unless someone set it;
            // an exec as another user gets that user's home, as runc gives it.
            let set_by_user = |list: Option<&Vec<String>>| {
                list.is_some_and(|l| l.iter().any(|e| e.starts_with("HOME=")))
            };
            let container_env = h.lock().config.env.clone();
            if !set_by_user(container_env.as_ref()) && !set_by_user(cfg.env.as_ref()) {
                env.retain(|e| !e.starts_with("HOME="));
                env.push(format!("HOME={}", resolved.home));
            }
        }
        p["env"] = json!(env);
        if cfg.privileged.unwrap_or(false) {
            let all = json!(self.bounding_caps);
            p["capabilities"] = json!({
                "bounding": all, "effective": all, "permitted": all,
            });
        }
        Ok(p)
    }
}

/// `user` resolved against the running container's rootfs and its GroupAdd.
fn resolve_user(h: &Handle, user: &str) -> ApiResult<crate::spec::user::ResolvedUser> {
    let bundle = h.dir.join("bundle").join("config.json");
    let spec: Value = std::fs::read(&bundle)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| ApiError::internal(format!("reading {}", bundle.display())))?;
    let root = spec["root"]["path"].as_str().unwrap_or_default();
    let group_add = h.lock().host_config.group_add.clone().unwrap_or_default();
    Ok(crate::spec::user::resolve(
        Path::new(root),
        user,
        &group_add,
    )?)
}

/// Waits for the runtime to send the pty master, or to exit without one (its stderr says why).
fn receive_pty(
    sock: &berth_runtime::console::ConsoleSocket,
    child: &mut Child,
) -> ApiResult<Option<OwnedFd>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(fd) = sock.receive_pty(Duration::from_millis(100)) {
            return Ok(Some(fd));
        }
        if child.try_wait().ok().flatten().is_some() {
            // It may have handed the master over (and its process finished) between the
            // poll above and its exit: the connection then waits in the backlog.
            return Ok(sock.receive_pty(Duration::from_millis(50)).ok());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(ApiError::internal(
                "the runtime did not hand over the exec's terminal within 10s",
            ));
        }
    }
}

/// A new pty pair (master, slave), sized when the client told its size.
fn open_pty(size: Option<(u16, u16)>) -> ApiResult<(OwnedFd, OwnedFd)> {
    let (master, slave) = berth_runtime::os::open_pty()
        .map_err(|e| ApiError::internal(format!("open a terminal for the exec: {e}")))?;
    if let Some((h, w)) = size {
        let _ = berth_runtime::os::set_winsize(master.as_raw_fd(), h, w);
    }
    Ok((master, slave))
}

/// A runtime's exit status as Docker reports it: its code, or 128+signal.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(128)
}

/// Sets the window size of a pty master (resize).
pub fn resize(master: &OwnedFd, height: u16, width: u16) -> std::io::Result<()> {
    berth_runtime::os::set_winsize(master.as_raw_fd(), height, width)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_exec_fields_are_named() {
        let err = serde_json::from_str::<ExecConfig>(r#"{"Cmd":["true"],"Bogus":1}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("Bogus"), "{err}");
    }
}
