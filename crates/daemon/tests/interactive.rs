//! Interactive sessions driven through a real terminal: `run -it`, `attach` and the detach keys,
//! with the docker CLI and with berth, each inside a tmux pane of its own.

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;

/// A private tmux server (its own socket name) with one 100x30 window running `sh`; killed on
/// drop, also after a failed assertion.
struct Tmux {
    server: String,
}

impl Tmux {
    fn new(env: &[(&str, String)]) -> Tmux {
        berth_testutil::require_tool("tmux", "tmux");
        static N: AtomicUsize = AtomicUsize::new(0);
        let server = format!(
            "berth-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let t = Tmux { server };
        let mut args = vec![
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "main",
            "-x",
            "100",
            "-y",
            "30",
        ];
        let pairs: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for p in &pairs {
            args.extend(["-e", p.as_str()]);
        }
        args.push("sh");
        t.run(&args);
        t
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.server)
            .args(args)
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `text` and presses Enter.
    fn line(&self, text: &str) {
        self.run(&["send-keys", "-t", "main", "-l", text]);
        self.run(&["send-keys", "-t", "main", "Enter"]);
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend(keys);
        self.run(&args);
    }

    /// Resizes the window and waits until `stty size` in the session shows it (the resize
    /// travels as SIGWINCH → POST /resize → TIOCSWINSZ).
    fn resize_and_check(&self, rows: u16, cols: u16) {
        let (x, y) = (cols.to_string(), rows.to_string());
        self.run(&["resize-window", "-t", "main", "-x", &x, "-y", &y]);
        let want = format!("{rows} {cols}");
        let resized = eventually(Duration::from_secs(10), || {
            self.line("stty size");
            std::thread::sleep(Duration::from_millis(300));
            self.screen().contains(&want).then_some(())
        });
        assert!(
            resized.is_some(),
            "window size never became {want}:\n{}",
            self.screen()
        );
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "main", "-S", "-200"])
    }

    /// Waits until the pane shows `text`; the screen is in the panic message otherwise.
    fn expect(&self, text: &str) {
        let found = eventually(Duration::from_secs(15), || {
            self.screen().contains(text).then_some(())
        });
        assert!(
            found.is_some(),
            "the terminal never showed {text:?}:\n{}",
            self.screen()
        );
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.server, "kill-server"])
            .output();
    }
}

fn terminal_for(d: &TestDaemon) -> Tmux {
    Tmux::new(&[
        ("DOCKER_HOST", d.host()),
        ("BERTH_HOST", d.host()),
        (
            "DOCKER_CONFIG",
            d.dir.path().join("docker-config").display().to_string(),
        ),
        ("BERTH", workspace_bin("berth").display().to_string()),
    ])
}

fn inspect(d: &TestDaemon, name: &str, format: &str) -> String {
    let out = d.docker(&["inspect", "-f", format, name]);
    assert_ok(&out, "inspect");
    stdout(&out).trim().to_string()
}

/// A shell in a container, typed at: a prompt, a command, the window size (also after the
/// window changes), and `exit` ending the session with the shell's status.
fn shell_session(d: &TestDaemon, client: &str, name: &str) {
    let t = terminal_for(d);
    t.line(&format!(
        "{client} run -it --name {name} {IMAGE} sh; echo client-status-$?"
    ));
    t.expect("/ #");
    t.line("echo sum-$((40+2)); stty size");
    t.expect("sum-42");
    t.expect("30 100");
    t.resize_and_check(40, 120);
    t.line("exit 7");
    t.expect("client-status-7");
    assert_eq!(inspect(d, name, "{{.State.ExitCode}}"), "7");
}

#[test]
fn docker_run_it_gives_a_working_shell() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    shell_session(&d, "docker", "it-docker");
}

#[test]
fn berth_run_it_gives_a_working_shell() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    shell_session(&d, "$BERTH", "it-berth");
}

/// ctrl-p ctrl-q leaves the container running; `attach` brings the same shell back.
fn detach_and_attach(d: &TestDaemon, client: &str, name: &str) {
    let t = terminal_for(d);
    t.line(&format!(
        "{client} run -it --name {name} {IMAGE} sh; echo detached-$?"
    ));
    t.expect("/ #");
    t.line("export MARK=still-$((1+1))");
    t.keys(&["C-p", "C-q"]);
    t.expect("detached-0");
    assert_eq!(inspect(d, name, "{{.State.Running}}"), "true");
    t.line(&format!("{client} attach {name}; echo attach-status-$?"));
    std::thread::sleep(Duration::from_millis(500));
    t.line("echo $MARK");
    t.expect("still-2");
    t.line("exit");
    t.expect("attach-status-0");
    assert_eq!(inspect(d, name, "{{.State.Running}}"), "false");
}

#[test]
fn detach_keys_leave_the_container_running_docker() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    detach_and_attach(&d, "docker", "dk");
}

#[test]
fn detach_keys_leave_the_container_running_berth() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    detach_and_attach(&d, "$BERTH", "bk");
}

#[test]
fn piped_stdin_reaches_run_i() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    for client in ["docker", "berth"] {
        let mut cmd = if client == "docker" {
            d.docker_cmd(&[
                "run",
                "--rm",
                "-i",
                IMAGE,
                "sh",
                "-c",
                "tr a-z A-Z; echo end",
            ])
        } else {
            d.berth_cmd(&[
                "run",
                "--rm",
                "-i",
                IMAGE,
                "sh",
                "-c",
                "tr a-z A-Z; echo end",
            ])
        };
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"piped text\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_ok(&out, "run -i");
        assert_eq!(stdout(&out), "PIPED TEXT\nend\n", "{client}");
    }
}

/// `exec -it`: a second shell in a running container, with the terminal's size, typed input
/// and the shell's exit status.
fn exec_session(d: &TestDaemon, client: &str, name: &str, run_flags: &[&str]) {
    let mut run = vec!["run", "-d", "--name", name];
    run.extend(run_flags);
    run.extend([IMAGE, "sleep", "1000"]);
    assert_ok(&d.docker(&run), "run -d");
    let t = terminal_for(d);
    t.line(&format!("{client} exec -it {name} sh; echo exec-status-$?"));
    t.expect("/ #");
    t.line("echo in-$((2+3)); stty size; cat /proc/1/cmdline");
    t.expect("in-5");
    t.expect("30 100");
    t.expect("sleep1000");
    t.resize_and_check(25, 90);
    t.line("exit 3");
    t.expect("exec-status-3");
    assert_eq!(inspect(d, name, "{{.State.Running}}"), "true");
    assert_ok(&d.docker(&["rm", "-f", name]), "rm -f");
}

#[test]
fn docker_exec_it_gives_a_second_shell() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    exec_session(&d, "docker", "ex-docker", &[]);
}

#[test]
fn berth_exec_it_gives_a_second_shell() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    exec_session(&d, "$BERTH", "ex-berth", &[]);
}

#[test]
fn docker_exec_it_under_runc() {
    let runc = berth_testutil::require_tool("runc", "runc");
    let d = TestDaemon::start_with_args(&["--add-runtime", &format!("runc={}", runc.display())]);
    d.import_busybox(IMAGE);
    exec_session(&d, "docker", "ex-runc", &["--runtime", "runc"]);
}
