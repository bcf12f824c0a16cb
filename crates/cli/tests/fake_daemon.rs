//! Runs the built `berth` against a fake Engine API server on a unix socket in a temp dir: the
//! server records each request and answers from a table of canned responses, so these tests
//! check what berth sends and how it prints what comes back, with no daemon and no root.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    /// Path without the `/v1.43` prefix.
    path: String,
    query: String,
    body: Vec<u8>,
    version_prefix: String,
}

impl Recorded {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

enum Reply {
    /// Status and JSON body, sent with Content-Length.
    Json(u16, String),
    /// Status and JSON body, sent chunked.
    Chunked(u16, String),
    /// 204 No Content.
    Empty,
    /// `101` then these bytes, with this content type.
    Hijack(&'static str, Vec<u8>),
    /// 200 with a body of this content type.
    Stream(&'static str, Vec<u8>),
}

type Route = Box<dyn Fn(&Recorded) -> Option<Reply> + Send + Sync>;

struct FakeDaemon {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeDaemon {
    fn start(routes: Vec<Route>) -> FakeDaemon {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("api.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let routes = Arc::new(routes);
        let recorded = requests.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { break };
                let routes = routes.clone();
                let recorded = recorded.clone();
                thread::spawn(move || serve(conn, &routes, &recorded));
            }
        });
        FakeDaemon {
            _dir: dir,
            socket,
            requests,
        }
    }

    fn berth(&self, args: &[&str]) -> Output {
        self.berth_with_stdin(args, "")
    }

    fn berth_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .env("BERTH_HOST", format!("unix://{}", self.socket.display()))
            .env_remove("DOCKER_HOST")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    fn find(&self, method: &str, path: &str) -> Recorded {
        self.requests()
            .into_iter()
            .find(|r| r.method == method && r.path == path)
            .unwrap_or_else(|| panic!("no {method} {path} in {:#?}", self.requests()))
    }
}

fn serve(conn: UnixStream, routes: &[Route], recorded: &Mutex<Vec<Recorded>>) {
    let mut writer = conn.try_clone().unwrap();
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap().to_string();
    let target = parts.next().unwrap().to_string();
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        match k.to_ascii_lowercase().as_str() {
            "content-length" => length = v.trim().parse().unwrap(),
            "transfer-encoding" => chunked = v.contains("chunked"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body).unwrap();
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let (prefix, path) = match path.strip_prefix("/v1.43") {
        Some(rest) => ("/v1.43".to_string(), rest.to_string()),
        None => (String::new(), path.to_string()),
    };
    let req = Recorded {
        method,
        path,
        query: query.to_string(),
        body,
        version_prefix: prefix,
    };
    recorded.lock().unwrap().push(req.clone());
    let reply = routes
        .iter()
        .find_map(|r| r(&req))
        .unwrap_or_else(|| Reply::Json(404, r#"{"message":"page not found"}"#.into()));
    let _ = match reply {
        Reply::Json(status, body) => write!(
            writer,
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
        Reply::Chunked(status, body) => {
            let (a, b) = body.split_at(body.len() / 2);
            write!(
                writer,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                a.len(),
                b.len()
            )
        }
        Reply::Empty => write!(writer, "HTTP/1.1 204 No Content\r\n\r\n"),
        Reply::Hijack(ctype, bytes) => {
            write!(writer, "HTTP/1.1 101 UPGRADED\r\nContent-Type: {ctype}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
                .and_then(|_| writer.write_all(&bytes))
        }
        Reply::Stream(ctype, bytes) => write!(
            writer,
            "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
            bytes.len()
        )
        .and_then(|_| writer.write_all(&bytes)),
    };
    let _ = writer.flush();
}

fn route(
    method: &'static str,
    path: &'static str,
    reply: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
) -> Route {
    Box::new(move |r| (r.method == method && r.path == path).then(|| reply(r)))
}

fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![stream, 0, 0, 0];
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const ID: &str = "4f2c0e1b9a7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b";

fn create_route() -> Route {
    route("POST", "/containers/create", |_| {
        Reply::Json(
            201,
            format!(r#"{{"Id":"{ID}","Warnings":["memory limit ignored"]}}"#),
        )
    })
}

#[test]
fn run_detached_prints_the_id() {
    let d = FakeDaemon::start(vec![
        create_route(),
        route(
            "POST",
            &*Box::leak(format!("/containers/{ID}/start").into_boxed_str()),
            |_| Reply::Empty,
        ),
    ]);
    let out = d.berth(&[
        "run", "-d", "--name", "web", "-e", "A=1", "-m", "64m", "alpine", "sleep", "60",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{ID}\n"));
    assert_eq!(text(&out.stderr), "WARNING: memory limit ignored\n");
    let create = d.find("POST", "/containers/create");
    assert_eq!(create.version_prefix, "/v1.43");
    assert_eq!(create.query, "name=web");
    let body = create.json();
    assert_eq!(body["Image"], "alpine");
    assert_eq!(body["Cmd"], serde_json::json!(["sleep", "60"]));
    assert_eq!(body["Env"], serde_json::json!(["A=1"]));
    assert_eq!(body["HostConfig"]["Memory"], 64 << 20);
    assert_eq!(body["AttachStdout"], false);
    d.find("POST", &format!("/containers/{ID}/start"));
}

#[test]
fn run_attached_demuxes_and_exits_with_the_wait_status() {
    let start_path: &'static str = Box::leak(format!("/containers/{ID}/start").into_boxed_str());
    let attach_path: &'static str = Box::leak(format!("/containers/{ID}/attach").into_boxed_str());
    let wait_path: &'static str = Box::leak(format!("/containers/{ID}/wait").into_boxed_str());
    let d = FakeDaemon::start(vec![
        create_route(),
        route("POST", attach_path, |_| {
            let mut bytes = frame(1, b"hello out\n");
            bytes.extend(frame(2, b"oops\n"));
            bytes.extend(frame(1, b"bye\n"));
            Reply::Hijack("application/vnd.docker.multiplexed-stream", bytes)
        }),
        route("POST", wait_path, |_| {
            Reply::Json(200, r#"{"StatusCode":3,"Error":null}"#.into())
        }),
        route("POST", start_path, |_| Reply::Empty),
    ]);
    let out = d.berth(&["run", "--rm", "alpine", "sh", "-c", "exit 3"]);
    assert_eq!(text(&out.stdout), "hello out\nbye\n");
    assert_eq!(text(&out.stderr), "WARNING: memory limit ignored\noops\n");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(d.find("POST", wait_path).query, "condition=removed");
    assert_eq!(
        d.find("POST", attach_path).query,
        "stream=1&stdout=1&stderr=1"
    );
    assert_eq!(
        d.find("POST", "/containers/create").json()["HostConfig"]["AutoRemove"],
        true
    );
}

#[test]
fn run_with_a_tty_copies_raw_output() {
    let d = FakeDaemon::start(vec![
        create_route(),
        Box::new(|r: &Recorded| {
            r.path
                .ends_with("/attach")
                .then(|| Reply::Hijack("application/vnd.docker.raw-stream", b"raw\r\n".to_vec()))
        }),
        Box::new(|r: &Recorded| {
            r.path
                .ends_with("/wait")
                .then(|| Reply::Json(200, r#"{"StatusCode":0}"#.into()))
        }),
        Box::new(|r: &Recorded| r.path.ends_with("/start").then_some(Reply::Empty)),
    ]);
    let out = d.berth(&["run", "-t", "alpine"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "raw\r\n");
}

#[test]
fn start_failures_exit_like_docker() {
    let d = FakeDaemon::start(vec![
        create_route(),
        Box::new(|r: &Recorded| {
            r.path
                .ends_with("/attach")
                .then(|| Reply::Hijack("application/vnd.docker.multiplexed-stream", Vec::new()))
        }),
        Box::new(|r: &Recorded| {
            r.path
                .ends_with("/wait")
                .then(|| Reply::Json(200, r#"{"StatusCode":127}"#.into()))
        }),
        Box::new(|r: &Recorded| {
            r.path.ends_with("/start").then(|| {
                Reply::Json(
                    400,
                    r#"{"message":"exec: \"nope\": executable file not found in $PATH"}"#.into(),
                )
            })
        }),
    ]);
    let out = d.berth(&["run", "alpine", "nope"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(text(&out.stderr).ends_with(
        "Error response from daemon: exec: \"nope\": executable file not found in $PATH\n"
    ));
}

#[test]
fn api_errors_print_the_daemon_message_and_exit_125() {
    let d = FakeDaemon::start(vec![
        route("GET", "/containers/json", |_| {
            Reply::Json(500, r#"{"message":"boom"}"#.into())
        }),
        route("POST", "/containers/create", |_| {
            Reply::Json(404, r#"{"message":"No such image: nope:latest"}"#.into())
        }),
    ]);
    let out = d.berth(&["ps"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(text(&out.stderr), "Error response from daemon: boom\n");
    assert_eq!(text(&out.stdout), "");

    let out = d.berth(&["run", "nope"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        text(&out.stderr),
        "Unable to find image 'nope:latest' locally\nError response from daemon: No such image: nope:latest\n"
    );

    // Unrouted: the fake answers 404 "page not found".
    let out = d.berth(&["rm", "-f", "a", "b"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: page not found\n".repeat(2)
    );
    assert_eq!(d.find("DELETE", "/containers/a").query, "force=1");
}

#[test]
fn usage_errors_and_unreachable_daemons() {
    let d = FakeDaemon::start(vec![]);
    let out = d.berth(&["run", "--bogus", "alpine"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        text(&out.stderr),
        "berth: unknown flag: --bogus\nSee 'berth run --help'.\n"
    );
    let out = d.berth(&["container", "ls", "--bogus"]);
    assert_eq!(
        text(&out.stderr),
        "berth: unknown flag: --bogus\nSee 'berth container ls --help'.\n"
    );
    let out = d.berth(&["stop"]);
    assert_eq!(
        text(&out.stderr),
        "berth: 'berth stop' requires at least 1 argument\nSee 'berth stop --help'.\n"
    );
    assert!(d.requests().is_empty());

    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["-H", "unix:///nonexistent/berth.sock", "ps"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        text(&out.stderr),
        "Cannot connect to the berth daemon at unix:///nonexistent/berth.sock. Is berthd running?\n"
    );
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn ps_daemon() -> FakeDaemon {
    let created = now() - 125;
    let list = format!(
        r#"[{{"Id":"{ID}","Names":["/web"],"Image":"alpine:3.19","ImageID":"sha256:aa","Command":"sh -c 'while true; do sleep 1; done'",
            "Created":{created},"Ports":[],"Labels":{{"app":"demo"}},"State":"running","Status":"Up 2 minutes","Mounts":[]}},
           {{"Id":"0123456789abcdef","Names":["/quiet_turing"],"Image":"busybox","ImageID":"sha256:bb","Command":"true",
            "Created":{created},"Ports":[],"Labels":{{}},"State":"exited","Status":"Exited (0) 1 second ago","Mounts":[]}}]"#
    );
    FakeDaemon::start(vec![route("GET", "/containers/json", move |_| {
        Reply::Chunked(200, list.clone())
    })])
}

#[test]
fn ps_prints_docker_tables() {
    let d = ps_daemon();
    let out = d.berth(&["ps", "-a"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let want = "\
CONTAINER ID   IMAGE         COMMAND                  CREATED         STATUS                    PORTS     NAMES
4f2c0e1b9a7d   alpine:3.19   \"sh -c 'while true; …\"   2 minutes ago   Up 2 minutes                        web
0123456789ab   busybox       \"true\"                   2 minutes ago   Exited (0) 1 second ago             quiet_turing
";
    assert_eq!(text(&out.stdout), want);
    assert_eq!(d.find("GET", "/containers/json").query, "all=1");

    let out = d.berth(&["ps", "-q", "--filter", "status=running", "-n", "2"]);
    assert_eq!(text(&out.stdout), "4f2c0e1b9a7d\n0123456789ab\n");
    let q = &d.requests()[1].query;
    assert_eq!(
        q,
        "limit=2&filters=%7B%22status%22%3A%7B%22running%22%3Atrue%7D%7D"
    );
}

#[test]
fn ps_formats_with_templates() {
    let d = ps_daemon();
    let out = d.berth(&[
        "ps",
        "--format",
        "{{.Names}}: {{.Status}} {{.Label \"app\"}}",
    ]);
    assert_eq!(
        text(&out.stdout),
        "web: Up 2 minutes demo\nquiet_turing: Exited (0) 1 second ago \n"
    );
    let out = d.berth(&[
        "ps",
        "--no-trunc",
        "--format",
        "table {{.ID}}\\t{{.Names}}\\t{{.State}}",
    ]);
    assert_eq!(
        text(&out.stdout),
        format!(
            "CONTAINER ID{}   NAMES          STATE\n{ID}   web            running\n0123456789abcdef{}   quiet_turing   exited\n",
            " ".repeat(ID.len() - 12),
            " ".repeat(ID.len() - 16)
        )
    );
    let out = d.berth(&["ps", "--format", "{{json .}}"]);
    let first: serde_json::Value =
        serde_json::from_str(text(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(first["Names"], "web");
    assert_eq!(first["Labels"], "app=demo");
    assert!(first.get("__labels").is_none());
    let out = d.berth(&["ps", "--format", "{{.Nope.Deeper"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).starts_with("berth: template parsing error"));
}

#[test]
fn logs_demux_and_pass_the_options() {
    let d = FakeDaemon::start(vec![route("GET", "/containers/web/logs", |_| {
        let mut bytes = frame(1, b"line 1\n");
        bytes.extend(frame(2, b"warn\n"));
        Reply::Stream("application/vnd.docker.multiplexed-stream", bytes)
    })]);
    let out = d.berth(&["logs", "-t", "--tail", "5", "--since", "1700000000", "web"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "line 1\n");
    assert_eq!(text(&out.stderr), "warn\n");
    assert_eq!(
        d.find("GET", "/containers/web/logs").query,
        "stdout=1&stderr=1&since=1700000000&timestamps=1&tail=5"
    );
}

#[test]
fn inspect_prints_json_or_a_template() {
    let d = FakeDaemon::start(vec![
        route("GET", "/containers/web/json", |_| {
            Reply::Json(200, r#"{"Id":"abc","State":{"Status":"exited","ExitCode":3},"Config":{"Image":"alpine","Labels":{"k":"v"}}}"#.into())
        }),
        route("GET", "/images/alpine/json", |_| {
            Reply::Json(
                200,
                r#"{"Id":"sha256:img","RepoTags":["alpine:latest"]}"#.into(),
            )
        }),
    ]);
    let out = d.berth(&[
        "inspect",
        "-f",
        "{{.State.ExitCode}} {{.Config.Image}} {{index .Config.Labels \"k\"}} {{json .State}}",
        "web",
    ]);
    assert_eq!(
        text(&out.stdout),
        "3 alpine v {\"Status\":\"exited\",\"ExitCode\":3}\n"
    );
    let out = d.berth(&["inspect", "alpine"]);
    assert_eq!(
        text(&out.stdout),
        "[\n    {\n        \"Id\": \"sha256:img\",\n        \"RepoTags\": [\n            \"alpine:latest\"\n        ]\n    }\n]\n"
    );
    let out = d.berth(&["inspect", "missing"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(text(&out.stdout), "[]\n");
    assert_eq!(text(&out.stderr), "Error: No such object: missing\n");
}

#[test]
fn images_and_load() {
    let d = FakeDaemon::start(vec![
        route("GET", "/images/json", |_| {
            Reply::Json(
                200,
                format!(
                    r#"[{{"Id":"sha256:0123456789abcdef","RepoTags":["alpine:3.19"],"Created":{},"Size":7800000}}]"#,
                    now() - 3 * 86400
                ),
            )
        }),
        route("POST", "/images/load", |r| {
            assert_eq!(r.body, b"TARBYTES");
            Reply::Stream(
                "application/json",
                b"{\"stream\":\"Loaded image: alpine:3.19\\n\"}\n".to_vec(),
            )
        }),
    ]);
    let out = d.berth(&["images"]);
    assert_eq!(
        text(&out.stdout),
        "REPOSITORY   TAG       IMAGE ID       CREATED      SIZE\nalpine       3.19      0123456789ab   3 days ago   7.8MB\n"
    );
    let out = d.berth_with_stdin(&["load"], "TARBYTES");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Loaded image: alpine:3.19\n");
}
