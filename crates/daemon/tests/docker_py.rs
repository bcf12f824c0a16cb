//! docker-py (the Python SDK, 7.x) against berthd: run, list, logs, exec, attach, top, stats,
//! pause, archives, remove.

mod common;

use common::*;

const SCRIPT: &str = r#"
import sys, time
import docker
client = docker.DockerClient(base_url=sys.argv[1])
image = sys.argv[2]
assert client.ping()
out = client.containers.run(image, ["echo", "hi from docker-py"], remove=True)
assert out == b"hi from docker-py\n", out
c = client.containers.run(image, ["sh", "-c", "echo ready; sleep 1000"], detach=True, name="pyc", labels={"suite": "py"})
listed = client.containers.list(filters={"label": "suite=py"})
assert [x.id for x in listed] == [c.id], listed
assert client.containers.get("pyc").status == "running"
for _ in range(100):
    if c.logs() == b"ready\n":
        break
    time.sleep(0.05)
assert c.logs() == b"ready\n", c.logs()
r = c.exec_run(["sh", "-c", "echo out; echo err >&2; exit 3"])
# Two pipes: their order in the combined stream is not fixed.
assert r.exit_code == 3 and sorted(r.output.splitlines()) == [b"err", b"out"], r
r = c.exec_run(["sh", "-c", "echo a; echo b >&2"], demux=True)
assert r.output == (b"a\n", b"b\n"), r
r = c.exec_run("tty", tty=True)
assert r.exit_code == 0 and r.output.startswith(b"/dev/pts/"), r
assert "PID" in c.top()["Titles"]
assert c.stats(stream=False)["memory_stats"]["usage"] > 0
c.pause(); c.reload(); assert c.status == "paused", c.status
c.unpause(); c.reload(); assert c.status == "running", c.status
bits, stat = c.get_archive("/etc/hostname")
assert stat["name"] == "hostname" and stat["size"] > 0, stat
a = client.containers.run(image, ["sh", "-c", "sleep 0.3; echo one; echo two"], detach=True)
assert b"".join(a.attach(stream=True, logs=True)) == b"one\ntwo\n"
a.remove(force=True)
c.remove(force=True)
assert client.containers.list(all=True) == []
try:
    client.containers.get("pyc")
    raise SystemExit("removed container still found")
except docker.errors.NotFound:
    pass
print("ok")
"#;

#[test]
fn docker_py_runs_lists_logs_and_removes() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    berth_testutil::require_tool("python3", "python3");
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(d.host())
        .arg(IMAGE)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker-py script failed (is the python3 docker package installed? pip install docker):\n{}\n{}\n{}",
        stdout(&out),
        stderr(&out),
        d.log_text()
    );
    assert_eq!(stdout(&out).trim(), "ok");
}
