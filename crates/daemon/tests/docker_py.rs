//! docker-py (the Python SDK, 7.x) against berthd: run, list, logs, remove.

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
