//! `berth network …` against berthd: create with a subnet and labels, list and filter, inspect
//! with templates, connect and disconnect a running container, removal refused while in use,
//! and prune. The docker CLI checks that both clients see the same networks.

mod common;

use berth_testutil::unique_name;
use common::*;

/// A /24 of its own for each network a test makes: berthd's bridges live in the host's network
/// namespace, so test processes running side by side must not pick the same subnet.
fn subnet(n: u32) -> (String, String, String) {
    let second = 100 + std::process::id() % 100;
    let third = (std::process::id() / 100 + n) % 250;
    (
        format!("10.{second}.{third}.0/24"),
        format!("10.{second}.{third}.1"),
        format!("10.{second}.{third}.10"),
    )
}

/// `NAME=IP ` for each network the container is on, in name order.
fn container_networks(d: &TestDaemon, container: &str) -> String {
    let out = d.berth(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}",
        container,
    ]);
    assert_ok(&out, "berth inspect networks");
    stdout(&out).trim().to_string()
}

#[test]
fn berth_network_create_list_inspect_and_remove() {
    let d = TestDaemon::start();
    let name = unique_name("net");
    let (sub, gw, _) = subnet(0);

    let out = d.berth(&[
        "network",
        "create",
        "--subnet",
        &sub,
        "--gateway",
        &gw,
        "--label",
        "purpose=e2e",
        "--label",
        "bare",
        &name,
    ]);
    assert_ok(&out, "berth network create");
    let id = stdout(&out).trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");

    assert_fails_with(&d.berth(&["network", "create", &name]), 1, "already exists");
    // Refused by the CLI itself, before anything reaches berthd.
    assert_fails_with(
        &d.berth(&["network", "create", "-d", "overlay", "x"]),
        1,
        "not supported by berth",
    );
    assert_fails_with(
        &d.berth(&["network", "create", "--ipv6", "x"]),
        1,
        "not supported by berth",
    );

    let ls = d.berth(&["network", "ls"]);
    assert_ok(&ls, "berth network ls");
    let text = stdout(&ls);
    assert!(
        text.starts_with("NETWORK ID     NAME"),
        "header missing:\n{text}"
    );
    let row = text
        .lines()
        .find(|l| l.starts_with(&id[..12]))
        .unwrap_or_else(|| panic!("no row for {id}:\n{text}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols, [&id[..12], name.as_str(), "bridge", "local"]);

    let filtered = d.berth(&[
        "network",
        "ls",
        "-f",
        "label=purpose=e2e",
        "--format",
        "{{.Name}} {{.Driver}} {{.Scope}} {{.Label \"purpose\"}}",
    ]);
    assert_ok(&filtered, "berth network ls -f label");
    assert_eq!(stdout(&filtered), format!("{name} bridge local e2e\n"));
    let quiet = d.berth(&[
        "network",
        "ls",
        "-q",
        "--no-trunc",
        "-f",
        &format!("name={name}"),
    ]);
    assert_ok(&quiet, "berth network ls -q");
    assert_eq!(stdout(&quiet), format!("{id}\n"));

    let out = d.berth(&[
        "network",
        "inspect",
        "-f",
        "{{.Name}} {{.Driver}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{index .Labels \"purpose\"}} {{.Internal}}",
        &name,
    ]);
    assert_ok(&out, "berth network inspect -f");
    assert_eq!(
        stdout(&out),
        format!("{name} bridge {sub} {gw} e2e false\n")
    );
    let out = d.berth(&["network", "inspect", &id[..12]]);
    assert_ok(&out, "berth network inspect");
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v[0]["Id"], id.as_str());
    assert_eq!(v[0]["Labels"]["bare"], "");
    let out = d.berth(&["network", "inspect", "berth-no-such-network"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "[]\n");

    // The docker CLI sees the same network.
    let out = d.docker(&["network", "ls", "--format", "{{.ID}} {{.Name}}"]);
    assert_ok(&out, "docker network ls");
    assert!(
        stdout(&out).contains(&format!("{} {name}\n", &id[..12])),
        "{}",
        stdout(&out)
    );

    let out = d.berth(&["network", "rm", &name, "berth-no-such-network"]);
    assert_eq!(stdout(&out), format!("{name}\n"));
    assert_fails_with(&out, 1, "berth-no-such-network");
    assert_ok(
        &d.berth(&["network", "rm", "-f", "berth-no-such-network"]),
        "berth network rm -f of a missing network",
    );
    let out = d.berth(&["network", "ls", "-q", "-f", &format!("name={name}")]);
    assert_ok(&out, "berth network ls after rm");
    assert_eq!(stdout(&out), "");
}

#[test]
fn berth_network_connect_disconnect_and_prune() {
    let d = TestDaemon::start();
    d.import_busybox(IMAGE);
    let first = unique_name("front");
    let second = unique_name("back");
    let spare = unique_name("spare");
    let container = unique_name("c");
    let (sub1, _, ip1) = subnet(1);
    let (sub2, _, ip2) = subnet(2);
    for (n, s) in [(&first, &sub1), (&second, &sub2)] {
        assert_ok(
            &d.berth(&["network", "create", "--subnet", s, n]),
            "berth network create",
        );
    }
    assert_ok(
        &d.berth(&["network", "create", &spare]),
        "berth network create (spare)",
    );

    let out = d.berth(&[
        "run",
        "-d",
        "--name",
        &container,
        "--network",
        &first,
        "--network-alias",
        "web",
        "--ip",
        &ip1,
        IMAGE,
        "sleep",
        "1000",
    ]);
    assert_ok(&out, "berth run --network --ip");
    assert_eq!(container_networks(&d, &container), format!("{first}={ip1}"));
    let aliases = d.berth(&[
        "inspect",
        "-f",
        &format!("{{{{json (index .NetworkSettings.Networks \"{first}\").Aliases}}}}"),
        &container,
    ]);
    assert_ok(&aliases, "berth inspect aliases");
    assert!(stdout(&aliases).contains("\"web\""), "{}", stdout(&aliases));

    let out = d.berth(&[
        "network", "connect", "--alias", "api", "--ip", &ip2, &second, &container,
    ]);
    assert_ok(&out, "berth network connect");
    let mut want = [format!("{first}={ip1}"), format!("{second}={ip2}")];
    want.sort();
    assert_eq!(container_networks(&d, &container), want.join(" "));
    let addrs = d.berth(&["exec", &container, "ip", "-4", "-o", "addr"]);
    assert_ok(&addrs, "ip addr in the container");
    assert!(
        stdout(&addrs).contains(&format!("{ip2}/24")),
        "{}",
        stdout(&addrs)
    );
    let out = d.berth(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}",
        &second,
    ]);
    assert_ok(&out, "berth network inspect containers");
    assert_eq!(stdout(&out), format!("{container} {ip2}/24\n"));

    // In use: refused, and the network stays.
    assert_fails_with(
        &d.berth(&["network", "rm", &second]),
        1,
        "has active endpoints",
    );

    assert_ok(
        &d.berth(&["network", "disconnect", &second, &container]),
        "berth network disconnect",
    );
    assert_eq!(container_networks(&d, &container), format!("{first}={ip1}"));
    let addrs = d.berth(&["exec", &container, "ip", "-4", "-o", "addr"]);
    assert!(!stdout(&addrs).contains(&ip2), "{}", stdout(&addrs));
    assert_fails_with(
        &d.berth(&["network", "disconnect", &second, &container]),
        1,
        "Error response from daemon",
    );

    // Prune: declining keeps everything; -f removes the unused networks only.
    let out = d.berth_with_stdin(&["network", "prune"], "n\n");
    assert_ok(&out, "berth network prune (declined)");
    assert!(
        stdout(&out).starts_with("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] "),
        "{}",
        stdout(&out)
    );
    let out = d.berth(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(stdout(&out).contains(&spare), "{}", stdout(&out));
    let out = d.berth(&["network", "prune", "-f"]);
    assert_ok(&out, "berth network prune -f");
    let text = stdout(&out);
    assert!(text.starts_with("Deleted Networks:\n"), "{text}");
    let deleted: Vec<&str> = text.lines().skip(1).filter(|l| !l.is_empty()).collect();
    assert!(
        deleted.contains(&spare.as_str()) && deleted.contains(&second.as_str()),
        "{text}"
    );
    assert!(!deleted.contains(&first.as_str()), "{text}");
    let out = d.berth(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(stdout(&out).contains(&first), "{}", stdout(&out));

    assert_ok(&d.berth(&["rm", "-f", &container]), "berth rm -f");
    let out = d.berth(&["network", "rm", &first]);
    assert_ok(&out, "berth network rm after the container left");
    assert_eq!(stdout(&out), format!("{first}\n"));
}
