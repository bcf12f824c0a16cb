//! Networking end to end, with real traffic, through the real docker CLI: the default bridge,
//! published ports (from the host, from an "outside" network namespace the test makes, and
//! from containers), NAT out, user networks with DNS, `--internal`, the other network modes,
//! connect/disconnect, and that nothing stays behind on the host.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

fn sh(cmd: &str) -> std::process::Output {
    Command::new("sh").arg("-c").arg(cmd).output().unwrap()
}

/// `http GET /` over busybox nc, from inside a container or the host: the body's last line.
const FETCH: &str = r#"printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3"#;

fn inspect(d: &TestDaemon, c: &str, format: &str) -> String {
    let out = d.docker(&["inspect", "-f", format, c]);
    assert_ok(&out, "docker inspect");
    stdout(&out).trim().to_string()
}

/// A container serving `body` over HTTP on port 80.
fn web(d: &TestDaemon, name: &str, body: &str, extra: &[&str]) {
    let script =
        format!("mkdir -p /www; echo {body} > /www/index.html; exec httpd -f -p 80 -h /www");
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[IMAGE, "sh", "-c", &script]);
    assert_ok(&d.docker(&args), "run web");
}

/// Fetches http://addr:port/ from the host with busybox nc; the reply's last line.
fn host_fetch(addr: &str, port: &str) -> String {
    let fetch = FETCH.replace("| nc", "| /bin/busybox nc");
    let out = sh(&format!("{fetch} {addr} {port} | tail -n1"));
    stdout(&out).trim().to_string()
}

/// Waits (up to 5 s) for a web container's server to answer `want` through addr:port.
#[track_caller]
fn assert_serves(addr: &str, port: &str, want: &str) {
    let got = eventually(Duration::from_secs(5), || {
        (host_fetch(addr, port) == want).then_some(())
    });
    assert!(got.is_some(), "{addr}:{port} did not answer {want:?}");
}

/// Runs `script` in a throwaway container and returns its stdout.
fn in_container(d: &TestDaemon, extra: &[&str], script: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[IMAGE, "sh", "-c", script]);
    stdout(&d.docker(&args)).trim().to_string()
}

/// An "outside" host: a network namespace joined to the host by a veth pair on a /30 of its
/// own, serving HTTP on port 9999. Removed on drop.
struct Outside {
    ns: String,
    host_if: String,
    host_ip: String,
    ip: String,
    server: Child,
}

impl Outside {
    fn new(tag: u32) -> Outside {
        berth_testutil::require_tool("ip", "iproute2");
        let pid = std::process::id();
        let ns = format!("berth-out-{pid}-{tag}");
        let host_if = format!("berthO{}{tag}", base36(pid));
        let base = format!("192.168.{}.{}", 200 + pid % 50, tag * 4);
        let net = base.rsplit_once('.').unwrap().0.to_string();
        let host_ip = format!("{net}.{}", tag * 4 + 1);
        let ip = format!("{net}.{}", tag * 4 + 2);
        let peer = format!("{host_if}p");
        for cmd in [
            format!("ip netns add {ns}"),
            format!("ip link add {host_if} type veth peer name {peer} netns {ns}"),
            format!("ip addr add {host_ip}/30 dev {host_if}"),
            format!("ip link set {host_if} up"),
            format!("ip -n {ns} addr add {ip}/30 dev {peer}"),
            format!("ip -n {ns} link set {peer} up"),
            format!("ip -n {ns} link set lo up"),
            format!("mkdir -p /tmp/{ns} && echo outside-ok > /tmp/{ns}/index.html"),
        ] {
            let out = sh(&cmd);
            assert!(out.status.success(), "{cmd}: {}", stderr(&out));
        }
        let server = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns,
                "/bin/busybox",
                "httpd",
                "-f",
                "-p",
                "9999",
            ])
            .arg("-h")
            .arg(format!("/tmp/{ns}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        Outside {
            ns,
            host_if,
            host_ip,
            ip,
            server,
        }
    }

    /// Runs a shell command inside the outside namespace (busybox applets on PATH).
    fn run(&self, cmd: &str) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns, "/bin/busybox", "sh", "-c"])
            .arg(cmd)
            .env("PATH", "/bin:/usr/bin")
            .output()
            .unwrap();
        stdout(&out).trim().to_string()
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = sh(&format!("ip link del {}", self.host_if));
        let _ = sh(&format!("ip netns del {}", self.ns));
        let _ = std::fs::remove_dir_all(format!("/tmp/{}", self.ns));
    }
}

/// A global IPv4 address of the host that is not one of berth's (the machine's own NIC).
fn host_address(fallback: &str) -> String {
    let out = sh("ip -4 -o addr show scope global");
    stdout(&out)
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let ifname = w.nth(1)?;
            let addr = w.nth(1)?.split('/').next()?;
            (!ifname.starts_with("berth") && !ifname.starts_with("docker"))
                .then(|| addr.to_string())
        })
        .next()
        .unwrap_or_else(|| fallback.to_string())
}

#[test]
fn published_ports_reach_the_container_from_host_outside_and_containers() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let outside = Outside::new(1);
    let port_lo = 20000 + std::process::id() % 10000;
    let port_all = port_lo + 1;
    web(
        &d,
        "lo-only",
        "hello-lo",
        &["-p", &format!("127.0.0.1:{port_lo}:80")],
    );
    web(
        &d,
        "everywhere",
        "hello-all",
        &["-p", &format!("{port_all}:80")],
    );
    let ip = inspect(&d, "everywhere", "{{.NetworkSettings.IPAddress}}");
    assert!(ip.starts_with(&d.net.prefix24), "{ip} on {}", d.net.bip);
    // IPv4 only, as Docker's networks without IPv6: no link-local IPv6 address either.
    let inet6 = d.docker(&["exec", "everywhere", "ip", "-6", "addr"]);
    assert_eq!(stdout(&inet6).trim(), "", "{}", stdout(&inet6));
    assert_eq!(
        inspect(&d, "everywhere", "{{.NetworkSettings.Gateway}}"),
        format!("{}.1", d.net.prefix24)
    );

    // The acceptance path: host → 127.0.0.1:PORT.
    assert_serves("127.0.0.1", &port_lo.to_string(), "hello-lo");
    assert_serves("127.0.0.1", &port_all.to_string(), "hello-all");
    // Over the host's own address; the 127.0.0.1-only port is not there.
    let addr = host_address(&outside.host_ip);
    assert_eq!(host_fetch(&addr, &port_all.to_string()), "hello-all");
    assert_eq!(host_fetch(&addr, &port_lo.to_string()), "");
    // From another host (the outside namespace), to the host's address on its link.
    let fetched = outside.run(&format!(
        "{FETCH} {} {port_all} | tail -n1",
        outside.host_ip
    ));
    assert_eq!(fetched, "hello-all");
    // From containers: by IP across the bridge, and back in through the published port
    // (hairpin NAT).
    assert_eq!(
        in_container(&d, &[], &format!("{FETCH} {ip} 80 | tail -n1")),
        "hello-all"
    );
    assert_eq!(
        in_container(&d, &[], &format!("{FETCH} {addr} {port_all} | tail -n1")),
        "hello-all"
    );
    // docker port and ps show the mapping.
    let port = stdout(&d.docker(&["port", "everywhere"]));
    assert_eq!(port.trim(), format!("80/tcp -> 0.0.0.0:{port_all}"));
    let ps = stdout(&d.docker(&["ps", "--format", "{{.Names}} {{.Ports}}"]));
    assert!(
        ps.contains(&format!("lo-only 127.0.0.1:{port_lo}->80/tcp")),
        "{ps}"
    );

    // Container → outside through NAT: the outside has no route back to the bridge's subnet,
    // so only a masqueraded connection gets an answer.
    let out = in_container(&d, &[], &format!("{FETCH} {} 9999 | tail -n1", outside.ip));
    assert_eq!(out, "outside-ok");
}

#[test]
fn a_host_port_in_use_fails_the_start_cleanly() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let port = (21000 + std::process::id() % 9000).to_string();
    web(&d, "first", "one", &["-p", &format!("127.0.0.1:{port}:80")]);
    assert_serves("127.0.0.1", &port, "one");
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "second",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        IMAGE,
        "sleep",
        "100",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "Bind for 127.0.0.1:{port} failed: port is already allocated"
        )),
        "{err}"
    );
    assert_eq!(inspect(&d, "second", "{{.State.Running}}"), "false");
    let id = inspect(&d, "second", "{{.Id}}");
    // Nothing of the failed start stays: no veth, no lease, no namespace, no rule.
    let veth = format!("bv{}", &id[..13]);
    let gone = eventually(Duration::from_secs(10), || {
        (!stdout(&sh("ip -o link show")).contains(&veth)).then_some(())
    });
    assert!(gone.is_some(), "{veth} left behind");
    let leases = lease_owners(&d);
    assert!(!leases.contains(&id), "{leases:?}");
    assert!(!nft_comments(&d).contains(&id));
    assert_eq!(host_fetch("127.0.0.1", &port), "one");
}

/// Owners of every lease on every network of the daemon.
fn lease_owners(d: &TestDaemon) -> Vec<String> {
    let dir = d.dir.path().join("root/network/ipam");
    let mut owners = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
        for (_, owner) in v["leases"].as_object().unwrap() {
            owners.push(owner.as_str().unwrap().to_string());
        }
    }
    owners
}

/// The daemon's nft table as text ("" once it is gone).
fn nft_comments(d: &TestDaemon) -> String {
    stdout(&sh(&format!(
        "nft list table ip {} 2>/dev/null",
        d.net.table
    )))
}

#[test]
fn user_networks_resolve_names_and_aliases_and_internal_ones_stay_inside() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let outside = Outside::new(2);
    assert_ok(&d.docker(&["network", "create", "x"]), "network create");
    web(
        &d,
        "srv",
        "by-name",
        &["--network", "x", "--network-alias", "db"],
    );
    assert_ok(
        &d.docker(&[
            "run",
            "-d",
            "--name",
            "peer",
            "--network",
            "x",
            IMAGE,
            "sleep",
            "100",
        ]),
        "run peer",
    );
    // The acceptance path: two containers on `x` ping each other by name.
    let ping = d.docker(&["exec", "peer", "ping", "-c", "1", "-W", "3", "srv"]);
    assert_ok(&ping, "ping by name");
    let ping = d.docker(&["exec", "srv", "ping", "-c", "1", "-W", "3", "peer"]);
    assert_ok(&ping, "ping back by name");
    let by_alias = stdout(&d.docker(&[
        "exec",
        "peer",
        "sh",
        "-c",
        &format!("{FETCH} db 80 | tail -n1"),
    ]));
    assert_eq!(by_alias.trim(), "by-name");
    // Names not on the network are not answered from it.
    let out = d.docker(&["exec", "peer", "nslookup", "no-such-container-xyz"]);
    assert!(!out.status.success());
    // Out through NAT works from a user network too.
    let out = stdout(&d.docker(&[
        "exec",
        "peer",
        "sh",
        "-c",
        &format!("{FETCH} {} 9999 | tail -n1", outside.ip),
    ]));
    assert_eq!(out.trim(), "outside-ok");

    // Networks are isolated from each other: a container on another network can't reach
    // srv by address (only through a published port).
    assert_ok(&d.docker(&["network", "create", "y"]), "network create y");
    let srv_ip = inspect(&d, "srv", "{{.NetworkSettings.Networks.x.IPAddress}}");
    let across = in_container(
        &d,
        &["--network", "y"],
        &format!("{FETCH} {srv_ip} 80 | tail -n1"),
    );
    assert_eq!(across, "", "network y reached a container on x");
    assert_eq!(
        in_container(
            &d,
            &["--network", "x"],
            &format!("{FETCH} {srv_ip} 80 | tail -n1")
        ),
        "by-name"
    );
    assert_ok(
        &d.docker(&["network", "create", "--internal", "inner"]),
        "create internal",
    );
    assert_ok(
        &d.docker(&[
            "run",
            "-d",
            "--name",
            "in1",
            "--network",
            "inner",
            IMAGE,
            "sleep",
            "100",
        ]),
        "run in1",
    );
    assert_ok(
        &d.docker(&[
            "run",
            "-d",
            "--name",
            "in2",
            "--network",
            "inner",
            IMAGE,
            "sleep",
            "100",
        ]),
        "run in2",
    );
    assert_ok(
        &d.docker(&["exec", "in1", "ping", "-c", "1", "-W", "3", "in2"]),
        "ping inside internal",
    );
    let escaped = stdout(&d.docker(&[
        "exec",
        "in1",
        "sh",
        "-c",
        &format!("{FETCH} {} 9999 | tail -n1", outside.ip),
    ]));
    assert_eq!(escaped.trim(), "", "an internal network has no way out");

    // In use: rm is refused; once the containers are gone, it works.
    let out = d.docker(&["network", "rm", "inner"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("has active endpoints"),
        "{}",
        stderr(&out)
    );
    assert_ok(&d.docker(&["rm", "-f", "in1", "in2"]), "rm");
    assert_ok(&d.docker(&["network", "rm", "inner"]), "network rm");
    let err = stderr(&d.docker(&["network", "rm", "bridge"]));
    assert!(
        err.contains("bridge is a pre-defined network and cannot be removed"),
        "{err}"
    );
}

#[test]
fn modes_and_name_options() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let links = in_container(
        &d,
        &["--network", "none"],
        "ls /sys/class/net | tr '\\n' ' '",
    );
    assert_eq!(links, "lo");
    // Host mode: the host's own network namespace.
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_eq!(
        in_container(&d, &["--network", "host"], "readlink /proc/self/ns/net"),
        host_ns.display().to_string()
    );
    assert_ok(
        &d.docker(&["run", "-d", "--name", "owner", IMAGE, "sleep", "100"]),
        "run owner",
    );
    let ip = inspect(&d, "owner", "{{.NetworkSettings.IPAddress}}");
    let shared = in_container(
        &d,
        &["--network", "container:owner"],
        "ip -4 -o addr show eth0",
    );
    assert!(shared.contains(&format!("inet {ip}/24")), "{shared}");

    let resolv = in_container(
        &d,
        &[
            "--dns",
            "192.0.2.53",
            "--dns-search",
            "corp.example",
            "--dns-option",
            "ndots:2",
        ],
        "cat /etc/resolv.conf",
    );
    assert!(
        resolv.contains("nameserver 192.0.2.53\nsearch corp.example\noptions ndots:2"),
        "{resolv}"
    );
    let hosts = in_container(
        &d,
        &[
            "--hostname",
            "box",
            "--add-host",
            "db.local:192.0.2.7",
            "--add-host",
            "gw:host-gateway",
        ],
        "cat /etc/hosts; hostname",
    );
    assert!(hosts.contains("192.0.2.7\tdb.local\n"), "{hosts}");
    assert!(
        hosts.contains(&format!("{}.1\tgw\n", d.net.prefix24)),
        "{hosts}"
    );
    assert!(
        hosts.contains("\tbox\n") && hosts.ends_with("box"),
        "{hosts}"
    );

    let pool_net = format!("10.{}.{}", 180 + std::process::id() % 20, 7);
    assert_ok(
        &d.docker(&[
            "network",
            "create",
            "--subnet",
            &format!("{pool_net}.0/24"),
            "fixed",
        ]),
        "network create --subnet",
    );
    let got = in_container(
        &d,
        &["--network", "fixed", "--ip", &format!("{pool_net}.77")],
        "ip -4 -o addr show eth0",
    );
    assert!(got.contains(&format!("inet {pool_net}.77/24")), "{got}");
    // -P: every exposed port on an ephemeral host port, reported by port and inspect.
    assert_ok(
        &d.docker(&[
            "run", "-d", "--name", "pub", "-P", "--expose", "80", "--expose", "53/udp", IMAGE,
            "sleep", "100",
        ]),
        "run -P",
    );
    let ports = stdout(&d.docker(&["port", "pub"]));
    let lines: Vec<&str> = ports.lines().collect();
    assert_eq!(lines.len(), 2, "{ports}");
    assert!(
        lines.iter().any(|l| l.starts_with("80/tcp -> 0.0.0.0:")),
        "{ports}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("53/udp -> 0.0.0.0:")),
        "{ports}"
    );
    let host_port = inspect(
        &d,
        "pub",
        "{{(index (index .NetworkSettings.Ports \"80/tcp\") 0).HostPort}}",
    );
    assert!(host_port.parse::<u16>().unwrap() > 0, "{host_port}");
    let err = stderr(&d.docker(&["run", "--rm", "--ip", "10.9.9.9", IMAGE, "true"]));
    assert!(
        err.contains("user specified IP address is supported on user defined networks only"),
        "{err}"
    );
    let err = stderr(&d.docker(&["run", "--rm", "--network", "nonexistent-net", IMAGE, "true"]));
    assert!(err.contains("network nonexistent-net not found"), "{err}");
}

#[test]
fn connect_and_disconnect_a_running_container() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    assert_ok(&d.docker(&["network", "create", "side"]), "network create");
    assert_ok(
        &d.docker(&["run", "-d", "--name", "mover", IMAGE, "sleep", "100"]),
        "run",
    );
    assert_ok(
        &d.docker(&[
            "run",
            "-d",
            "--name",
            "sider",
            "--network",
            "side",
            IMAGE,
            "sleep",
            "100",
        ]),
        "run",
    );
    assert_ok(
        &d.docker(&["network", "connect", "--alias", "moved", "side", "mover"]),
        "connect",
    );
    let links = stdout(&d.docker(&["exec", "mover", "ls", "/sys/class/net"]));
    assert!(links.contains("eth1"), "{links}");
    // Connected to a user network, it resolves that network's names too.
    assert_ok(
        &d.docker(&["exec", "mover", "ping", "-c", "1", "-W", "3", "sider"]),
        "ping by name after connect",
    );
    assert_ok(
        &d.docker(&["exec", "sider", "ping", "-c", "1", "-W", "3", "moved"]),
        "ping the alias",
    );
    let nets = inspect(
        &d,
        "mover",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
    );
    assert_eq!(nets, "bridge side");
    assert_ok(
        &d.docker(&["network", "disconnect", "side", "mover"]),
        "disconnect",
    );
    let links = stdout(&d.docker(&["exec", "mover", "ls", "/sys/class/net"]));
    assert!(!links.contains("eth1"), "{links}");
    let out = d.docker(&["exec", "sider", "ping", "-c", "1", "-W", "1", "moved"]);
    assert!(!out.status.success());
}

#[test]
fn restart_keeps_rules_once_and_fifty_containers_leave_nothing() {
    let mut d = TestDaemon::start();
    d.import_busybox(IMAGE);
    assert_ok(&d.docker(&["network", "create", "keep"]), "network create");
    let port = (22000 + std::process::id() % 9000).to_string();
    web(
        &d,
        "kept",
        "still-here",
        &["--network", "keep", "-p", &format!("127.0.0.1:{port}:80")],
    );
    assert_ok(
        &d.docker(&[
            "run",
            "-d",
            "--name",
            "asker",
            "--network",
            "keep",
            IMAGE,
            "sleep",
            "100",
        ]),
        "run",
    );
    assert_serves("127.0.0.1", &port, "still-here");
    let before = nft_comments(&d);
    d.kill9_and_restart();
    assert_eq!(host_fetch("127.0.0.1", &port), "still-here");
    assert_eq!(
        nft_comments(&d).matches("dnat to").count(),
        before.matches("dnat to").count()
    );
    assert_ok(
        &d.docker(&["exec", "asker", "ping", "-c", "1", "-W", "3", "kept"]),
        "DNS after restart",
    );
    // The port is still held: another container can't take it.
    let out = d.docker(&[
        "run",
        "-d",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        IMAGE,
        "sleep",
        "1",
    ]);
    assert!(!out.status.success());
    assert_ok(&d.docker(&["rm", "-f", "kept", "asker"]), "rm");
    let table = nft_comments(&d);
    assert!(!table.contains("dnat to"), "{table}\n{}", d.log_text());

    let mut ids = Vec::new();
    for i in 0..50 {
        let out = d.docker(&["run", "-d", "-p", "80", IMAGE, "sleep", "100"]);
        assert_ok(&out, &format!("run {i}"));
        ids.push(stdout(&out).trim().to_string());
    }
    let published = nft_comments(&d).matches("dnat to").count();
    assert_eq!(published, 50);
    let mut rm = vec!["rm", "-f"];
    rm.extend(ids.iter().map(String::as_str));
    assert_ok(&d.docker(&rm), "rm 50");
    let gone = eventually(Duration::from_secs(20), || {
        (lease_owners(&d).is_empty() && !nft_comments(&d).contains("dnat to")).then_some(())
    });
    assert!(
        gone.is_some(),
        "leases {:?}, rules:\n{}",
        lease_owners(&d),
        nft_comments(&d)
    );
    // The kernel destroys each namespace, and its veth pair with it, in the background.
    let veths_gone = eventually(Duration::from_secs(20), || {
        let links = stdout(&sh("ip -o link show"));
        ids.iter()
            .all(|id| !links.contains(&format!("bv{}", &id[..13])))
            .then_some(())
    });
    assert!(veths_gone.is_some(), "veths left behind");
    let pinned = std::fs::read_dir(d.dir.path().join("exec/netns"))
        .unwrap()
        .count();
    assert_eq!(pinned, 0);
}

#[test]
fn a_container_that_died_while_berthd_was_down_leaves_nothing_and_a_stopped_berthd_leaves_nothing()
{
    let mut d = TestDaemon::start();
    d.import_busybox(IMAGE);
    assert_ok(&d.docker(&["network", "create", "gone"]), "network create");
    let port = (23000 + std::process::id() % 9000).to_string();
    web(
        &d,
        "victim",
        "x",
        &["--network", "gone", "-p", &format!("127.0.0.1:{port}:80")],
    );
    let id = inspect(&d, "victim", "{{.Id}}");
    let pid: i32 = inspect(&d, "victim", "{{.State.Pid}}").parse().unwrap();
    d.kill9();
    unsafe { libc::kill(pid, libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(300));
    d.respawn();
    assert_eq!(inspect(&d, "victim", "{{.State.Running}}"), "false");
    let clean = eventually(Duration::from_secs(10), || {
        (!lease_owners(&d).contains(&id) && !nft_comments(&d).contains("dnat to")).then_some(())
    });
    assert!(
        clean.is_some(),
        "leases {:?}\n{}",
        lease_owners(&d),
        nft_comments(&d)
    );
    assert_eq!(
        std::fs::read_dir(d.dir.path().join("exec/netns"))
            .unwrap()
            .count(),
        0
    );
    // The port is free again.
    web(&d, "heir", "y", &["-p", &format!("127.0.0.1:{port}:80")]);
    assert_serves("127.0.0.1", &port, "y");

    // Everything removed and berthd stopped: nothing of berth's in nft or ip link.
    assert_ok(&d.docker(&["rm", "-f", "victim", "heir"]), "rm");
    assert_ok(&d.docker(&["network", "rm", "gone"]), "network rm");
    d.stop_gracefully();
    assert_eq!(nft_comments(&d), "", "the table is still there");
    let links = stdout(&sh("ip -o link show"));
    assert!(!links.contains(&format!(" {}:", d.net.bridge)), "{links}");
}
