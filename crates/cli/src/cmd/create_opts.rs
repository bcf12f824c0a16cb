//! `run`/`create` flags and the `POST /containers/create` body docker builds from them. Only
//! what the user set is sent (plus the attach/tty booleans and `NetworkMode`, which docker always
//! sends), so berthd can refuse what it does not support rather than silently ignore it.

use serde_json::{json, Map, Value};

use super::opt_parsers::{
    expand_range, normalize_cap, parse_device, parse_memory_swap, parse_nano_cpus, parse_publish,
    parse_restart, parse_security_opt, parse_ulimit,
};

use super::common::{parse_kv_file, EnvLookup};
use super::mount_opts;
use super::net_opts;
use crate::args::{bool_flag as b, value_flag as v, Flag, Parsed, Spec};
use crate::error::{Error, Result};
use crate::units::parse_bytes;

macro_rules! container_flags {
    ($($extra:expr),* $(,)?) => {
        &[
            $($extra,)*
            v(None, "add-host", "list", "Add a custom host-to-IP mapping (host:ip)"),
            v(Some('a'), "attach", "list", "Attach to STDIN, STDOUT or STDERR"),
            v(None, "cap-add", "list", "Add Linux capabilities"),
            v(None, "cap-drop", "list", "Drop Linux capabilities"),
            v(None, "cgroup-parent", "string", "Optional parent cgroup for the container"),
            v(None, "cgroupns", "string", "Cgroup namespace to use (host|private)"),
            v(None, "cidfile", "string", "Write the container ID to the file"),
            v(None, "cpu-period", "int", "Limit CPU CFS (Completely Fair Scheduler) period"),
            v(None, "cpu-quota", "int", "Limit CPU CFS (Completely Fair Scheduler) quota"),
            v(Some('c'), "cpu-shares", "int", "CPU shares (relative weight)"),
            v(None, "cpus", "decimal", "Number of CPUs"),
            v(None, "cpuset-cpus", "string", "CPUs in which to allow execution (0-3, 0,1)"),
            v(None, "cpuset-mems", "string", "MEMs in which to allow execution (0-3, 0,1)"),
            v(None, "device", "list", "Add a host device to the container"),
            v(None, "dns", "list", "Set custom DNS servers"),
            v(None, "dns-option", "list", "Set DNS options"),
            v(None, "dns-search", "list", "Set custom DNS search domains"),
            v(None, "domainname", "string", "Container NIS domain name"),
            v(None, "entrypoint", "string", "Overwrite the default ENTRYPOINT of the image"),
            v(Some('e'), "env", "list", "Set environment variables"),
            v(None, "env-file", "list", "Read in a file of environment variables"),
            v(None, "expose", "list", "Expose a port or a range of ports"),
            v(None, "group-add", "list", "Add additional groups to join"),
            v(Some('h'), "hostname", "string", "Container host name"),
            b(None, "init", "Run an init inside the container that forwards signals and reaps processes"),
            b(Some('i'), "interactive", "Keep STDIN open even if not attached"),
            v(None, "ipc", "string", "IPC mode to use"),
            v(Some('l'), "label", "list", "Set meta data on a container"),
            v(None, "label-file", "list", "Read in a line delimited file of labels"),
            v(None, "log-driver", "string", "Logging driver for the container"),
            v(None, "log-opt", "list", "Log driver options"),
            v(Some('m'), "memory", "bytes", "Memory limit"),
            v(None, "memory-reservation", "bytes", "Memory soft limit"),
            v(None, "memory-swap", "bytes", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap"),
            v(None, "memory-swappiness", "int", "Tune container memory swappiness (0 to 100)"),
            v(None, "mount", "mount", "Attach a filesystem mount to the container"),
            v(None, "name", "string", "Assign a name to the container"),
            v(None, "network", "network", "Connect a container to a network"),
            v(None, "network-alias", "list", "Add network-scoped alias for the container"),
            v(None, "ip", "string", "IPv4 address (e.g., 172.30.100.104)"),
            b(None, "oom-kill-disable", "Disable OOM Killer"),
            v(None, "oom-score-adj", "int", "Tune host's OOM preferences (-1000 to 1000)"),
            v(None, "pid", "string", "PID namespace to use"),
            v(None, "pids-limit", "int", "Tune container pids limit (set -1 for unlimited)"),
            v(None, "platform", "string", "Set platform if server is multi-platform capable"),
            b(None, "privileged", "Give extended privileges to this container"),
            v(Some('p'), "publish", "list", "Publish a container's port(s) to the host"),
            b(Some('P'), "publish-all", "Publish all exposed ports to random ports"),
            v(None, "pull", "string", "Pull image before running (\"always\", \"missing\", \"never\")"),
            b(Some('q'), "quiet", "Suppress the pull output"),
            b(None, "read-only", "Mount the container's root filesystem as read only"),
            v(None, "restart", "string", "Restart policy to apply when a container exits (default \"no\")"),
            b(None, "rm", "Automatically remove the container and its associated anonymous volumes when it exits"),
            v(None, "runtime", "string", "Runtime to use for this container"),
            v(None, "security-opt", "list", "Security Options"),
            v(None, "shm-size", "bytes", "Size of /dev/shm"),
            v(None, "stop-signal", "string", "Signal to stop the container"),
            v(None, "stop-timeout", "int", "Timeout (in seconds) to stop a container"),
            v(None, "sysctl", "map", "Sysctl options"),
            v(None, "tmpfs", "list", "Mount a tmpfs directory"),
            b(Some('t'), "tty", "Allocate a pseudo-TTY"),
            v(None, "ulimit", "ulimit", "Ulimit options"),
            v(Some('u'), "user", "string", "Username or UID (format: <name|uid>[:<group|gid>])"),
            v(None, "uts", "string", "UTS namespace to use"),
            v(Some('v'), "volume", "list", "Bind mount a volume"),
            v(None, "volumes-from", "list", "Mount volumes from the specified container(s)"),
            v(Some('w'), "workdir", "string", "Working directory inside the container"),
        ]
    };
}

const RUN_FLAGS: &[Flag] = container_flags!(
    v(
        None,
        "detach-keys",
        "string",
        "Override the key sequence for detaching a container"
    ),
    b(
        Some('d'),
        "detach",
        "Run container in background and print container ID"
    ),
    b(
        None,
        "sig-proxy",
        "Proxy received signals to the process (default true)"
    ),
);
const CREATE_FLAGS: &[Flag] = container_flags!();
const ALIASES: &[(&str, &str)] = &[("net", "network"), ("net-alias", "network-alias")];

pub const RUN_SPEC: Spec = Spec {
    command: "berth run",
    args: "IMAGE [COMMAND] [ARG...]",
    about: "Create and run a new container from an image",
    flags: RUN_FLAGS,
    aliases: ALIASES,
    min_args: 1,
    max_args: None,
    stop_at_positional: true,
};

pub const CREATE_SPEC: Spec = Spec {
    command: "berth create",
    args: "IMAGE [COMMAND] [ARG...]",
    about: "Create a new container",
    flags: CREATE_FLAGS,
    aliases: ALIASES,
    min_args: 1,
    max_args: None,
    stop_at_positional: true,
};

/// What `run`/`create` send, plus what the client itself needs afterwards.
#[derive(Debug)]
pub struct CreateRequest {
    pub image: String,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub body: Value,
    pub detach: bool,
    pub auto_remove: bool,
    pub tty: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub cidfile: Option<String>,
}

pub fn build(spec: &Spec, p: &Parsed, env: EnvLookup) -> Result<CreateRequest> {
    let bad = |long: &str, value: &str, why: String| {
        let names = match spec
            .flags
            .iter()
            .find(|f| f.long == long)
            .and_then(|f| f.short)
        {
            Some(c) => format!("-{c}, --{long}"),
            None => format!("--{long}"),
        };
        Error::usage(
            spec.command,
            format!("invalid argument {value:?} for \"{names}\" flag: {why}"),
        )
    };
    let detach = p.bool("detach");
    let image = p.args[0].clone();
    let mut config = Map::new();
    let mut host = Map::new();

    // Attach: -a picks streams; without it stdout and stderr; -i adds stdin. Detached: none.
    let mut attach = [false; 3];
    for s in p.values("attach") {
        match s.to_lowercase().as_str() {
            "stdin" => attach[0] = true,
            "stdout" => attach[1] = true,
            "stderr" => attach[2] = true,
            _ => {
                return Err(bad(
                    "attach",
                    &s,
                    "valid streams are STDIN, STDOUT and STDERR".into(),
                ))
            }
        }
    }
    let interactive = p.bool("interactive");
    if interactive {
        attach[0] = true;
    }
    if !p.is_set("attach") {
        attach[1] = true;
        attach[2] = true;
    }
    if detach {
        if p.is_set("attach") {
            return Err(Error::client("Conflicting options: -a and -d"));
        }
        attach = [false; 3];
    }
    let tty = p.bool("tty");
    config.insert("Image".into(), json!(image));
    config.insert("AttachStdin".into(), json!(attach[0]));
    config.insert("AttachStdout".into(), json!(attach[1]));
    config.insert("AttachStderr".into(), json!(attach[2]));
    config.insert("Tty".into(), json!(tty));
    config.insert("OpenStdin".into(), json!(interactive));
    config.insert("StdinOnce".into(), json!(interactive && attach[0]));
    if p.args.len() > 1 {
        config.insert("Cmd".into(), json!(p.args[1..]));
    }
    if let Some(ep) = p.value("entrypoint") {
        // docker passes the flag as one word; an empty one clears the image's entrypoint.
        config.insert("Entrypoint".into(), json!([ep]));
    }

    // Environment: env files first, then -e, as docker orders them.
    let mut envs = Vec::new();
    for f in p.values("env-file") {
        envs.extend(parse_kv_file(&f, Some(env))?);
    }
    for e in p.values("env") {
        match e.split_once('=') {
            Some(("", _)) => return Err(bad("env", &e, "invalid environment variable".into())),
            Some(_) => envs.push(e),
            None => {
                if let Some(val) = env(&e) {
                    envs.push(format!("{e}={val}"));
                }
            }
        }
    }
    if !envs.is_empty() {
        config.insert("Env".into(), json!(envs));
    }

    let mut labels = Map::new();
    let mut label_lines = Vec::new();
    for f in p.values("label-file") {
        label_lines.extend(parse_kv_file(&f, None)?);
    }
    label_lines.extend(p.values("label"));
    for l in label_lines {
        let (k, val) = l.split_once('=').unwrap_or((&l, ""));
        labels.insert(k.to_string(), json!(val));
    }
    if !labels.is_empty() {
        config.insert("Labels".into(), Value::Object(labels));
    }

    for (flag, key) in [
        ("workdir", "WorkingDir"),
        ("user", "User"),
        ("hostname", "Hostname"),
        ("domainname", "Domainname"),
        ("stop-signal", "StopSignal"),
    ] {
        if let Some(val) = p.value(flag) {
            config.insert(key.into(), json!(val));
        }
    }
    if let Some(h) = p.value("hostname") {
        if h.len() > 64 {
            return Err(Error::client(format!(
                "invalid hostname ({h}): hostname cannot exceed 64 characters"
            )));
        }
    }
    if let Some(t) = p.int(spec, "stop-timeout")? {
        config.insert("StopTimeout".into(), json!(t));
    }

    // Resources.
    for (flag, key) in [
        ("memory", "Memory"),
        ("memory-reservation", "MemoryReservation"),
        ("shm-size", "ShmSize"),
    ] {
        if let Some(val) = p.value(flag) {
            host.insert(
                key.into(),
                json!(parse_bytes(val).map_err(|e| bad(flag, val, e))?),
            );
        }
    }
    if let Some(val) = p.value("memory-swap") {
        let n = parse_memory_swap(val).map_err(|e| bad("memory-swap", val, e))?;
        host.insert("MemorySwap".into(), json!(n));
    }
    if let Some(val) = p.value("cpus") {
        host.insert(
            "NanoCpus".into(),
            json!(parse_nano_cpus(val).map_err(|e| bad("cpus", val, e))?),
        );
    }
    for (flag, key) in [
        ("cpu-shares", "CpuShares"),
        ("cpu-quota", "CpuQuota"),
        ("cpu-period", "CpuPeriod"),
        ("pids-limit", "PidsLimit"),
        ("memory-swappiness", "MemorySwappiness"),
        ("oom-score-adj", "OomScoreAdj"),
    ] {
        if let Some(n) = p.int(spec, flag)? {
            host.insert(key.into(), json!(n));
        }
    }
    for (flag, key) in [
        ("cpuset-cpus", "CpusetCpus"),
        ("cpuset-mems", "CpusetMems"),
        ("runtime", "Runtime"),
        ("cgroup-parent", "CgroupParent"),
        ("ipc", "IpcMode"),
        ("pid", "PidMode"),
        ("uts", "UTSMode"),
        ("cgroupns", "CgroupnsMode"),
    ] {
        if let Some(val) = p.value(flag) {
            host.insert(key.into(), json!(val));
        }
    }
    for (flag, key) in [
        ("read-only", "ReadonlyRootfs"),
        ("privileged", "Privileged"),
        ("oom-kill-disable", "OomKillDisable"),
        ("publish-all", "PublishAllPorts"),
    ] {
        if p.is_set(flag) {
            host.insert(key.into(), json!(p.bool(flag)));
        }
    }
    if p.bool("init") {
        host.insert("Init".into(), json!(true));
    }
    for (flag, key, check) in [
        (
            "add-host",
            "ExtraHosts",
            net_opts::extra_host as fn(&str) -> std::result::Result<String, String>,
        ),
        ("dns", "Dns", net_opts::dns_server),
    ] {
        let vals = p.values(flag);
        let vals: Vec<String> = vals
            .iter()
            .map(|v| check(v).map_err(|why| bad(flag, v, why)))
            .collect::<Result<_>>()?;
        if !vals.is_empty() {
            host.insert(key.into(), json!(vals));
        }
    }
    for (flag, key) in [
        ("dns-search", "DnsSearch"),
        ("dns-option", "DnsOptions"),
        ("group-add", "GroupAdd"),
        ("volumes-from", "VolumesFrom"),
    ] {
        let vals = p.values(flag);
        if !vals.is_empty() {
            host.insert(key.into(), json!(vals));
        }
    }
    let cap_add: Vec<String> = p
        .values("cap-add")
        .iter()
        .map(|c| normalize_cap(c))
        .collect();
    let cap_drop: Vec<String> = p
        .values("cap-drop")
        .iter()
        .map(|c| normalize_cap(c))
        .collect();
    if !cap_add.is_empty() {
        host.insert("CapAdd".into(), json!(cap_add));
    }
    if !cap_drop.is_empty() {
        host.insert("CapDrop".into(), json!(cap_drop));
    }

    let auto_remove = p.bool("rm");
    if let Some(r) = p.value("restart") {
        let (name, retries) = parse_restart(r).map_err(|e| bad("restart", r, e))?;
        if auto_remove && !name.is_empty() && name != "no" {
            return Err(Error::client("Conflicting options: --restart and --rm"));
        }
        host.insert(
            "RestartPolicy".into(),
            json!({"Name": name, "MaximumRetryCount": retries}),
        );
    }
    if auto_remove {
        host.insert("AutoRemove".into(), json!(true));
    }

    let mut tmpfs = Map::new();
    for t in p.values("tmpfs") {
        let (path, opts) = t.split_once(':').unwrap_or((&t, ""));
        tmpfs.insert(path.to_string(), json!(opts));
    }
    if !tmpfs.is_empty() {
        host.insert("Tmpfs".into(), Value::Object(tmpfs));
    }
    let mut ulimits = Vec::new();
    for u in p.values("ulimit") {
        ulimits.push(parse_ulimit(&u).map_err(|e| bad("ulimit", &u, e))?);
    }
    if !ulimits.is_empty() {
        host.insert("Ulimits".into(), json!(ulimits));
    }
    let mut security = Vec::new();
    for s in p.values("security-opt") {
        security.push(parse_security_opt(&s)?);
    }
    if !security.is_empty() {
        host.insert("SecurityOpt".into(), json!(security));
    }
    let mut sysctls = Map::new();
    for s in p.values("sysctl") {
        let (k, val) = s
            .split_once('=')
            .ok_or_else(|| bad("sysctl", &s, "expected KEY=VALUE".into()))?;
        sysctls.insert(k.to_string(), json!(val));
    }
    if !sysctls.is_empty() {
        host.insert("Sysctls".into(), Value::Object(sysctls));
    }
    let mut devices = Vec::new();
    for d in p.values("device") {
        devices.push(parse_device(&d).map_err(|e| bad("device", &d, e))?);
    }
    if !devices.is_empty() {
        host.insert("Devices".into(), json!(devices));
    }

    // Storage: `-v` with a source is a bind, without one an anonymous volume; `--mount` objects.
    let cwd = std::env::current_dir().map_err(|e| Error::io("reading the working directory", e))?;
    let storage =
        mount_opts::storage(&p.values("volume"), &p.values("mount"), &cwd).map_err(|r| {
            match (r.flag, r.error) {
                (_, e @ mount_opts::MountError::RecursiveReadonlyApi) => {
                    Error::client(e.to_string())
                }
                ("mount", e) => bad("mount", &r.value, e.to_string()),
                (_, e) => Error::usage(spec.command, e.to_string()),
            }
        })?;
    if !storage.binds.is_empty() {
        host.insert("Binds".into(), json!(storage.binds));
    }
    if !storage.mounts.is_empty() {
        host.insert("Mounts".into(), json!(storage.mounts));
    }
    if !storage.volumes.is_empty() {
        config.insert("Volumes".into(), Value::Object(storage.volumes));
    }

    // Ports: -p fills both ExposedPorts and PortBindings, --expose only the former.
    let mut exposed = Map::new();
    let mut bindings: Map<String, Value> = Map::new();
    for pub_spec in p.values("publish") {
        for (port, binding) in parse_publish(&pub_spec).map_err(|e| bad("publish", &pub_spec, e))? {
            exposed.insert(port.clone(), json!({}));
            if let Some(Value::Array(list)) = bindings.get_mut(&port) {
                list.push(binding);
            } else {
                bindings.insert(port, json!([binding]));
            }
        }
    }
    for e in p.values("expose") {
        let (range, proto) = e.split_once('/').unwrap_or((&e, "tcp"));
        for port in expand_range(range).map_err(|why| bad("expose", &e, why))? {
            exposed.insert(format!("{port}/{proto}"), json!({}));
        }
    }
    if !exposed.is_empty() {
        config.insert("ExposedPorts".into(), Value::Object(exposed));
    }
    if !bindings.is_empty() {
        host.insert("PortBindings".into(), Value::Object(bindings));
    }

    if p.is_set("log-driver") || p.is_set("log-opt") {
        let mut opts = Map::new();
        for o in p.values("log-opt") {
            let (k, val) = o
                .split_once('=')
                .ok_or_else(|| bad("log-opt", &o, "expected KEY=VALUE".into()))?;
            opts.insert(k.to_string(), json!(val));
        }
        host.insert(
            "LogConfig".into(),
            json!({"Type": p.value("log-driver").unwrap_or(""), "Config": opts}),
        );
    }
    let (network_mode, networking_config) = net_opts::networking(spec, p)?;
    host.insert("NetworkMode".into(), json!(network_mode));
    if let Some(pull) = p.value("pull") {
        if !matches!(pull, "missing" | "never" | "always") {
            return Err(bad(
                "pull",
                pull,
                "must be one of \"always\", \"missing\", \"never\"".into(),
            ));
        }
    }

    config.insert("HostConfig".into(), Value::Object(host));
    if let Some(nc) = networking_config {
        config.insert("NetworkingConfig".into(), nc);
    }
    Ok(CreateRequest {
        image,
        name: p.value("name").map(String::from),
        platform: p.value("platform").map(String::from),
        body: Value::Object(config),
        detach,
        auto_remove,
        tty,
        attach_stdin: attach[0],
        attach_stdout: attach[1],
        attach_stderr: attach[2],
        cidfile: p.value("cidfile").map(String::from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::parse;

    fn body(cmdline: &str) -> Value {
        let argv: Vec<String> = cmdline.split_whitespace().map(String::from).collect();
        let p = parse(&RUN_SPEC, &argv).unwrap();
        let env = |k: &str| (k == "FROM_ENV").then(|| "yes".to_string());
        build(&RUN_SPEC, &p, &env).unwrap().body
    }

    fn err(cmdline: &str) -> String {
        let argv: Vec<String> = cmdline.split_whitespace().map(String::from).collect();
        let p = parse(&RUN_SPEC, &argv).unwrap();
        build(&RUN_SPEC, &p, &|_| None).unwrap_err().to_string()
    }

    #[test]
    fn command_lines_become_create_bodies() {
        let cases: &[(&str, Value)] = &[
            (
                "alpine",
                json!({"Image":"alpine","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"Tty":false,
                       "OpenStdin":false,"StdinOnce":false,"HostConfig":{"NetworkMode":"default"}}),
            ),
            (
                "-d --name web alpine sleep 10",
                json!({"Image":"alpine","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,
                       "OpenStdin":false,"StdinOnce":false,"Cmd":["sleep","10"],"HostConfig":{"NetworkMode":"default"}}),
            ),
            (
                "-it --rm -e A=1 -e FROM_ENV -e UNSET -w /tmp -u 1000:1000 -h box --entrypoint /bin/sh -l a=1 -l b busybox -c ls",
                json!({"Image":"busybox","AttachStdin":true,"AttachStdout":true,"AttachStderr":true,"Tty":true,
                       "OpenStdin":true,"StdinOnce":true,"Cmd":["-c","ls"],"Entrypoint":["/bin/sh"],
                       "Env":["A=1","FROM_ENV=yes"],"WorkingDir":"/tmp","User":"1000:1000","Hostname":"box",
                       "Labels":{"a":"1","b":""},
                       "HostConfig":{"AutoRemove":true,"NetworkMode":"default"}}),
            ),
            (
                "-m 512m --memory-swap -1 --memory-reservation 256m --cpus 1.5 -c 512 --cpu-quota 50000 --cpu-period 100000 --cpuset-cpus 0-1 --pids-limit 100 alpine",
                json!({"Image":"alpine","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"Tty":false,
                       "OpenStdin":false,"StdinOnce":false,
                       "HostConfig":{"Memory":536870912,"MemorySwap":-1,"MemoryReservation":268435456,"NanoCpus":1500000000,
                                     "CpuShares":512,"CpuQuota":50000,"CpuPeriod":100000,"CpusetCpus":"0-1","PidsLimit":100,
                                     "NetworkMode":"default"}}),
            ),
            (
                "--read-only --cap-add net_admin --cap-drop ALL --privileged --restart on-failure:3 --runtime runc --init --net host --stop-signal SIGINT --stop-timeout 5 alpine",
                json!({"Image":"alpine","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"Tty":false,
                       "OpenStdin":false,"StdinOnce":false,"StopSignal":"SIGINT","StopTimeout":5,
                       "HostConfig":{"ReadonlyRootfs":true,"CapAdd":["CAP_NET_ADMIN"],"CapDrop":["ALL"],"Privileged":true,
                                     "RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3},"Runtime":"runc","Init":true,
                                     "NetworkMode":"host"}}),
            ),
            (
                "--ulimit nofile=1024:2048 --ulimit nproc=64 --tmpfs /run:rw,size=64m --tmpfs /tmp --security-opt no-new-privileges --security-opt apparmor=unconfined --shm-size 64m --sysctl net.ipv4.ip_forward=1 --device /dev/fuse --device /dev/sda:/dev/xvda:r alpine",
                json!({"Image":"alpine","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"Tty":false,
                       "OpenStdin":false,"StdinOnce":false,
                       "HostConfig":{"Ulimits":[{"Name":"nofile","Soft":1024,"Hard":2048},{"Name":"nproc","Soft":64,"Hard":64}],
                                     "Tmpfs":{"/run":"rw,size=64m","/tmp":""},
                                     "SecurityOpt":["no-new-privileges","apparmor=unconfined"],"ShmSize":67108864,
                                     "Sysctls":{"net.ipv4.ip_forward":"1"},
                                     "Devices":[{"PathOnHost":"/dev/fuse","PathInContainer":"/dev/fuse","CgroupPermissions":"rwm"},
                                                {"PathOnHost":"/dev/sda","PathInContainer":"/dev/xvda","CgroupPermissions":"r"}],
                                     "NetworkMode":"default"}}),
            ),
            (
                "-a stdout -p 8080:80 -p 127.0.0.1::53/udp -v /data:/data:ro -v /anon alpine",
                json!({"Image":"alpine","AttachStdin":false,"AttachStdout":true,"AttachStderr":false,"Tty":false,
                       "OpenStdin":false,"StdinOnce":false,"Volumes":{"/anon":{}},
                       "ExposedPorts":{"80/tcp":{},"53/udp":{}},
                       "HostConfig":{"Binds":["/data:/data:ro"],
                                     "PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}],"53/udp":[{"HostIp":"127.0.0.1","HostPort":""}]},
                                     "NetworkMode":"default"}}),
            ),
            (
                "--network n1 --network-alias web --ip 10.1.0.5 --add-host h=host-gateway --add-host g:[::1] --dns 1.1.1.1 --dns-search x.com --dns-option ndots:2 -h box -P alpine",
                json!({"Image":"alpine","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"Tty":false,
                       "OpenStdin":false,"StdinOnce":false,"Hostname":"box",
                       "HostConfig":{"ExtraHosts":["h:host-gateway","g:::1"],"Dns":["1.1.1.1"],"DnsSearch":["x.com"],
                                     "DnsOptions":["ndots:2"],"PublishAllPorts":true,"NetworkMode":"n1"},
                       "NetworkingConfig":{"EndpointsConfig":{"n1":{"IPAMConfig":{"IPv4Address":"10.1.0.5"},"Aliases":["web"]}}}}),
            ),
        ];
        for (cmdline, want) in cases {
            assert_eq!(&body(cmdline), want, "for `berth run {cmdline}`");
        }
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(err("-m lots alpine")
            .contains("invalid argument \"lots\" for \"-m, --memory\" flag: invalid size: 'lots'"));
        assert_eq!(
            err("--rm --restart always alpine"),
            "berth: Conflicting options: --restart and --rm"
        );
        assert_eq!(
            err("-d -a stdout alpine"),
            "berth: Conflicting options: -a and -d"
        );
        assert!(err("--restart always:3 alpine")
            .contains("maximum retry count can only be used with 'on-failure'"));
        assert!(err("--ulimit bogus=1 alpine").contains("invalid ulimit type: bogus"));
        assert!(
            err("--ulimit nofile=10:5 alpine").contains("soft limit must be less than or equal")
        );
        assert!(err("--cpus 0.0000000001 alpine").contains("value is too precise"));
        assert!(err("-a stdio alpine").contains("valid streams are STDIN, STDOUT and STDERR"));
        assert!(err("--security-opt bogus alpine").contains("Invalid --security-opt"));
        assert!(err("--device /a:/b:c:d alpine").contains("invalid device specification"));
    }

    #[test]
    fn env_files_and_label_files() {
        let dir = tempfile::tempdir().unwrap();
        let envf = dir.path().join("env");
        std::fs::write(&envf, "# c\nX=1\nFROM_ENV\n").unwrap();
        let labf = dir.path().join("labels");
        std::fs::write(&labf, "k=v\nflag\n").unwrap();
        let b = body(&format!(
            "--env-file {} -e Y=2 --label-file {} -l k=override alpine",
            envf.display(),
            labf.display()
        ));
        assert_eq!(b["Env"], json!(["X=1", "FROM_ENV=yes", "Y=2"]));
        assert_eq!(b["Labels"], json!({"k":"override","flag":""}));
    }
}
