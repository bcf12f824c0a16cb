//! The shim's command line.

use std::path::{Path, PathBuf};

use crate::builtin::{Builtin, DEFAULT_ROOT};
use crate::external::External;
use crate::OciRuntime;

pub const USAGE: &str = "usage: berth-shim --id ID --bundle DIR --state-dir DIR [OPTIONS]

Starts container ID from the OCI bundle DIR, logs its output in json-file format, reaps it,
records its exit in <state-dir>/shim.json, deletes it, then exits.

options:
  --runtime builtin|PATH   OCI runtime: berth's own (default) or a binary such as /usr/sbin/runc
  --runtime-root DIR       the runtime's state root (builtin: /run/berth-runtime, PATH: /run/<name>)
  --log-path FILE          json-file log (default <state-dir>/<id>-json.log)
  --terminal               give the container a pty (the spec must set process.terminal)
  --no-stdin               the container's stdin is /dev/null instead of a pipe the shim feeds
                           from <state-dir>/stdin.sock
  --stdin-once             close the container's stdin when the first stdin.sock client is done
  --attach-stdin           the shim's stdin is a unix socket: send it the container's live
                           output, as to clients of <state-dir>/attach.sock
  --start-gate             the shim's stdin is a unix socket: create the container, print its
                           PID, and start it when one byte arrives there (with, as SCM_RIGHTS,
                           an optional first attach client); at EOF delete it and exit";

/// Which [`OciRuntime`] starts the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeKind {
    Builtin,
    /// An OCI runtime binary, such as runc.
    External(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub id: String,
    pub bundle: PathBuf,
    pub state_dir: PathBuf,
    pub runtime: RuntimeKind,
    pub runtime_root: Option<PathBuf>,
    pub log_path: Option<PathBuf>,
    pub terminal: bool,
    pub no_stdin: bool,
    pub stdin_once: bool,
    /// The shim's stdin is an attached client's socket.
    pub attach_stdin: bool,
    /// The shim's stdin is a gate socket: the container is created, its PID printed, and it
    /// starts only when the gate says so (see [`super::gate`]).
    pub start_gate: bool,
}

impl Config {
    /// Parses the arguments after the program name. `Err("")` means `--help` was asked for.
    pub fn parse(mut argv: impl Iterator<Item = String>) -> Result<Config, String> {
        let (mut id, mut bundle, mut state_dir) = (None, None, None);
        let mut cfg = Config {
            id: String::new(),
            bundle: PathBuf::new(),
            state_dir: PathBuf::new(),
            runtime: RuntimeKind::Builtin,
            runtime_root: None,
            log_path: None,
            terminal: false,
            no_stdin: false,
            stdin_once: false,
            attach_stdin: false,
            start_gate: false,
        };
        while let Some(arg) = argv.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| argv.next())
                    .filter(|v| !v.is_empty())
                    .ok_or(format!("flag {flag} needs a value"))
            };
            match flag.as_str() {
                "--id" => id = Some(value()?),
                "--bundle" => bundle = Some(PathBuf::from(value()?)),
                "--state-dir" => state_dir = Some(PathBuf::from(value()?)),
                "--runtime" => {
                    cfg.runtime = match value()?.as_str() {
                        "builtin" => RuntimeKind::Builtin,
                        path => RuntimeKind::External(path.into()),
                    }
                }
                "--runtime-root" => cfg.runtime_root = Some(value()?.into()),
                "--log-path" => cfg.log_path = Some(value()?.into()),
                "--terminal" | "-t" => cfg.terminal = true,
                "--no-stdin" => cfg.no_stdin = true,
                "--stdin-once" => cfg.stdin_once = true,
                "--attach-stdin" => cfg.attach_stdin = true,
                "--start-gate" => cfg.start_gate = true,
                "--help" | "-h" => return Err(String::new()),
                other => return Err(format!("unexpected argument {other:?}")),
            }
        }
        cfg.id = id.ok_or("--id is required")?;
        cfg.bundle = bundle.ok_or("--bundle is required")?;
        cfg.state_dir = state_dir.ok_or("--state-dir is required")?;
        if cfg.attach_stdin && cfg.start_gate {
            // Both would be the shim's stdin; a gated start hands the client over the gate.
            return Err("--attach-stdin and --start-gate cannot be combined".into());
        }
        Ok(cfg)
    }

    /// The same configuration with every path absolute, so the shim can leave its working
    /// directory (and not pin the mount it is on).
    pub fn absolute(&self) -> std::io::Result<Config> {
        let abs = |p: &Path| std::path::absolute(p);
        let mut cfg = self.clone();
        cfg.bundle = abs(&self.bundle)?;
        cfg.state_dir = abs(&self.state_dir)?;
        if let RuntimeKind::External(binary) = &self.runtime {
            // A bare name is looked up in PATH by the runtime backend; a path is made absolute.
            if binary.components().count() > 1 {
                cfg.runtime = RuntimeKind::External(abs(binary)?);
            }
        }
        cfg.runtime_root = self.runtime_root.as_deref().map(abs).transpose()?;
        cfg.log_path = self.log_path.as_deref().map(abs).transpose()?;
        Ok(cfg)
    }

    /// `--log-path`, or `<state-dir>/<id>-json.log`.
    pub fn log_path(&self) -> PathBuf {
        self.log_path
            .clone()
            .unwrap_or_else(|| self.state_dir.join(format!("{}-json.log", self.id)))
    }

    /// The runtime's state root: `--runtime-root`, or the runtime's usual default.
    pub fn runtime_root(&self) -> PathBuf {
        if let Some(root) = &self.runtime_root {
            return root.clone();
        }
        match &self.runtime {
            RuntimeKind::Builtin => PathBuf::from(DEFAULT_ROOT),
            RuntimeKind::External(binary) => {
                let name = binary.file_name().unwrap_or(binary.as_os_str());
                Path::new("/run").join(name)
            }
        }
    }

    /// The runtime backend this configuration names.
    pub fn runtime(&self) -> Box<dyn OciRuntime> {
        match &self.runtime {
            RuntimeKind::Builtin => Box::new(Builtin::new(self.runtime_root())),
            RuntimeKind::External(binary) => {
                Box::new(External::new(binary.clone(), self.runtime_root()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        Config::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn a_start_gate_excludes_an_attached_stdin() {
        let base = ["--id", "c1", "--bundle", "/b", "--state-dir", "/s"];
        let gated = parse(&[&base[..], &["--start-gate"]].concat()).unwrap();
        assert!(gated.start_gate && !gated.attach_stdin);
        let both = parse(&[&base[..], &["--start-gate", "--attach-stdin"]].concat());
        assert!(both.unwrap_err().contains("cannot be combined"));
    }

    #[test]
    fn required_flags_and_defaults() {
        let cfg = parse(&["--id", "c1", "--bundle", "/b", "--state-dir=/s"]).unwrap();
        assert_eq!(cfg.id, "c1");
        assert_eq!(cfg.runtime, RuntimeKind::Builtin);
        assert_eq!(cfg.log_path(), PathBuf::from("/s/c1-json.log"));
        assert_eq!(cfg.runtime_root(), PathBuf::from(DEFAULT_ROOT));
        assert!(!cfg.terminal && !cfg.no_stdin);
        for missing in [
            &["--bundle", "/b", "--state-dir", "/s"][..],
            &["--id", "c1", "--state-dir", "/s"],
            &["--id", "c1", "--bundle", "/b"],
        ] {
            assert!(parse(missing).unwrap_err().contains("is required"));
        }
    }

    #[test]
    fn every_option_is_understood() {
        let cfg = parse(&[
            "--id",
            "c1",
            "--bundle",
            "/b",
            "--state-dir",
            "/s",
            "--runtime",
            "/usr/sbin/runc",
            "--log-path",
            "/l/x.log",
            "--terminal",
            "--no-stdin",
        ])
        .unwrap();
        assert_eq!(cfg.runtime, RuntimeKind::External("/usr/sbin/runc".into()));
        assert_eq!(cfg.runtime_root(), PathBuf::from("/run/runc"));
        assert_eq!(cfg.log_path(), PathBuf::from("/l/x.log"));
        assert!(cfg.terminal && cfg.no_stdin);
        let cfg = parse(&[
            "--id=c",
            "--bundle=b",
            "--state-dir=s",
            "--runtime=builtin",
            "--runtime-root=r",
        ])
        .unwrap();
        let abs = cfg.absolute().unwrap();
        assert!(abs.bundle.is_absolute() && abs.state_dir.is_absolute());
        assert!(abs.runtime_root().is_absolute());
    }

    #[test]
    fn bad_arguments_are_named() {
        assert_eq!(parse(&["--help"]), Err(String::new()));
        assert!(parse(&["--bogus"]).unwrap_err().contains("--bogus"));
        assert!(parse(&["--id"]).unwrap_err().contains("--id needs a value"));
        assert!(parse(&["--id", "x", "stray"])
            .unwrap_err()
            .contains("stray"));
    }
}
