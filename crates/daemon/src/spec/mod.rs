//! The OCI runtime spec of a container, built from its create config the way Docker builds it:
//! default capabilities, seccomp profile, masked and read-only /proc paths, the standard mounts,
//! cgroup limits, user resolution from the image's /etc files. Plus the create request checks
//! and the init layer's files.
//!
//! Only fields `berth_runtime::spec` accepts are produced (no hooks, apparmor, selinux, time
//! namespace, personality…), so the builtin runtime and runc run the same spec.

mod defaults;
mod init_layer;
mod merge;
mod resources;
pub(crate) mod rootfs;
mod seccomp;
pub mod user;
mod validate;

use std::path::{Path, PathBuf};

use bollard_stubs::models::{ContainerCreateBody, HostConfig};
use oci_spec::runtime::Spec;
use serde_json::{json, Value};

pub use defaults::{capabilities, DEFAULT_CAPS, MASKED_PATHS, READONLY_PATHS};
pub use init_layer::{container_resolv_conf, write_init_layer};
pub use merge::{merge_image_config, DEFAULT_PATH};
pub use resources::cgroup_resources;
pub use seccomp::{default_seccomp, load_profile as load_seccomp_profile};
pub use user::{resolve as resolve_user, ResolvedUser};
pub use validate::{check_endpoint, check_supported, network_setup};

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A create option berth does not implement, named by its API field.
    #[error("unsupported container option {0}: berth does not implement it yet")]
    Unsupported(String),
    /// A bad value, worded like Docker's message where Docker has one.
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkSetup {
    /// The host's network namespace.
    Host,
    /// A new network namespace with loopback only.
    Private,
}

pub struct SpecContext<'a> {
    /// The container's 64-hex ID.
    pub container_id: &'a str,
    /// The mounted container rootfs (the overlay's merged directory).
    pub rootfs: &'a Path,
    /// berthd's own bounding set as "CAP_…" names: what `--privileged` grants.
    pub bounding_caps: &'a [String],
    /// e.g. "/berth/<id>".
    pub cgroups_path: &'a str,
    /// A static init for `--init`, bind-mounted read-only at /sbin/docker-init.
    pub init_binary: Option<&'a Path>,
    pub network: NetworkSetup,
    /// The network namespace to join (a sandbox berthd made, or another container's); None
    /// with `NetworkSetup::Private` makes a new one with loopback only.
    pub netns: Option<&'a Path>,
    /// Files bind-mounted over the image's (hosts and resolv.conf of a networked container).
    pub etc_mounts: &'a [(PathBuf, &'static str)],
    /// Binds, volumes and `--mount` tmpfs: OCI mount entries, parents first.
    pub user_mounts: &'a [Value],
}

/// Where `--init` puts the init, as Docker.
const INIT_PATH: &str = "/sbin/docker-init";
/// Linux's HOST_NAME_MAX.
const MAX_HOSTNAME: usize = 64;

fn invalid(msg: impl Into<String>) -> SpecError {
    SpecError::Invalid(msg.into())
}

/// The container's hostname as Docker picks it: Config.Hostname, else with host networking the
/// host's name, else the first 12 characters of the ID. The init layer's /etc/hostname should
/// hold the same.
pub fn container_hostname(
    config: &ContainerCreateBody,
    host: &HostConfig,
    container_id: &str,
) -> String {
    if let Some(h) = config.hostname.as_deref().filter(|h| !h.is_empty()) {
        return h.to_string();
    }
    if host.network_mode.as_deref() == Some("host") {
        if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            if !h.trim().is_empty() {
                return h.trim().to_string();
            }
        }
    }
    container_id.chars().take(12).collect()
}

/// Docker's ReplaceOrAppendEnvValues: `overrides` replace same-named `defaults` or are
/// appended; a name without "=" removes the variable.
fn replace_or_append_env(mut defaults: Vec<String>, overrides: &[String]) -> Vec<String> {
    let key = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_string();
    let index: std::collections::HashMap<String, usize> = defaults
        .iter()
        .enumerate()
        .map(|(i, e)| (key(e), i))
        .collect();
    for o in overrides {
        match (o.contains('='), index.get(&key(o))) {
            (false, Some(&i)) => defaults[i].clear(),
            (false, None) => {}
            (true, Some(&i)) => defaults[i] = o.clone(),
            (true, None) => defaults.push(o.clone()),
        }
    }
    defaults.retain(|e| !e.is_empty());
    defaults
}

/// strconv.ParseBool's spellings.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// What SecurityOpt asks for.
struct Security {
    no_new_privileges: bool,
    /// None: the default profile; Some(None): unconfined; Some(Some(json)): a custom profile.
    seccomp: Option<Option<String>>,
    writable_cgroups: Option<bool>,
    unconfined_paths: bool,
}

fn security_options(host: &HostConfig) -> Result<Security, SpecError> {
    let mut s = Security {
        no_new_privileges: false,
        seccomp: None,
        writable_cgroups: None,
        unconfined_paths: false,
    };
    for opt in host.security_opt.iter().flatten() {
        if opt == "no-new-privileges" {
            s.no_new_privileges = true;
            continue;
        }
        let refuse = || SpecError::Unsupported(format!("HostConfig.SecurityOpt {opt:?}"));
        // "=" is the separator; ":" is Docker's deprecated one.
        let (key, value) = match (opt.split_once('='), opt.split_once(':')) {
            (Some(kv), _) => kv,
            (None, Some(kv)) => kv,
            (None, None) => return Err(invalid(format!("invalid --security-opt 1: {opt:?}"))),
        };
        match key {
            "no-new-privileges" => {
                s.no_new_privileges = parse_bool(value)
                    .ok_or_else(|| invalid(format!("invalid --security-opt 2: {opt:?}")))?
            }
            "writable-cgroups" => {
                s.writable_cgroups = Some(
                    parse_bool(value)
                        .ok_or_else(|| invalid(format!("invalid --security-opt 2: {opt:?}")))?,
                )
            }
            "seccomp" => {
                s.seccomp = match value {
                    "unconfined" => Some(None),
                    "" | "builtin" => None,
                    profile if profile.trim_start().starts_with('{') => Some(Some(profile.to_string())),
                    // The docker CLI reads FILE and sends its content; a path means an API client
                    // expected the daemon to read it, which Docker does not do either.
                    _ => return Err(invalid(format!(
                        "invalid seccomp profile in --security-opt {opt:?}: expected the profile's JSON content or \"unconfined\""
                    ))),
                }
            }
            "systempaths" if value == "unconfined" => s.unconfined_paths = true,
            // Neither is applied by berth at all, so these two ask for nothing berth does.
            "apparmor" if value == "unconfined" => {}
            "label" if value == "disable" => {}
            "apparmor" | "label" | "systempaths" => return Err(refuse()),
            _ => return Err(refuse()),
        }
    }
    Ok(s)
}

fn mount(dest: &str, typ: &str, source: &str, options: Vec<String>) -> Value {
    json!({ "destination": dest, "type": typ, "source": source, "options": options })
}

/// Docker's MergeTmpfsOptions: later options win over earlier ones of the same kind (one
/// implementation, shared with `--mount type=tmpfs`).
fn merge_tmpfs_options(options: &[&str]) -> Result<Vec<String>, SpecError> {
    berth_volume::merge_tmpfs_options(options).map_err(|e| invalid(e.to_string()))
}

/// The mounts: Docker's standard ones adjusted for ShmSize, IpcMode, ReadonlyRootfs and
/// Privileged, then Tmpfs, then the init.
fn mounts(
    host: &HostConfig,
    ctx: &SpecContext,
    writable_cgroups: bool,
) -> Result<Vec<Value>, SpecError> {
    let privileged = host.privileged.unwrap_or(false);
    let shm = host.shm_size.unwrap_or(0);
    if shm < 0 {
        return Err(invalid("SHM size can not be less than 0"));
    }
    let shm = if shm == 0 {
        defaults::DEFAULT_SHM_SIZE
    } else {
        shm
    };
    let tmpfs: Vec<(&String, &String)> = {
        let mut t: Vec<_> = host.tmpfs.iter().flatten().collect();
        t.sort();
        t
    };
    for (dest, _) in &tmpfs {
        if !dest.starts_with('/') {
            return Err(invalid(format!(
                "invalid mount config for type \"tmpfs\": invalid mount path: '{dest}' mount path must be absolute"
            )));
        }
        if Path::new(dest.as_str()) == Path::new("/") {
            return Err(invalid(
                "invalid mount config for type \"tmpfs\": destination can't be '/'",
            ));
        }
    }
    let user_dest = |d: &str| {
        tmpfs
            .iter()
            .any(|(t, _)| Path::new(t.as_str()) == Path::new(d))
    };
    let user_dev = user_dest("/dev");
    let readonly = host.readonly_rootfs.unwrap_or(false);
    let mut out = Vec::new();
    for (dest, typ, source, options) in defaults::MOUNTS {
        if user_dest(dest) || (user_dev && dest.starts_with("/dev/")) {
            continue;
        }
        let mut options: Vec<String> = options.iter().map(|s| s.to_string()).collect();
        if *dest == "/dev/shm" {
            if host.ipc_mode.as_deref() == Some("none") {
                continue;
            }
            options.push(format!("size={shm}"));
        }
        if readonly
            && !matches!(
                *dest,
                "/proc" | "/dev/pts" | "/dev/shm" | "/dev/mqueue" | "/dev"
            )
            && !options.iter().any(|o| o == "ro")
        {
            options.push("ro".into());
        }
        if (privileged && *dest == "/sys") || (writable_cgroups && *typ == "cgroup") {
            options.retain(|o| o != "ro");
        }
        out.push(mount(dest, typ, source, options));
    }
    for (dest, opts) in tmpfs {
        let mut all = vec!["noexec", "nosuid", "nodev", "rprivate"];
        all.extend(opts.split(','));
        out.push(mount(dest, "tmpfs", "tmpfs", merge_tmpfs_options(&all)?));
    }
    out.extend(ctx.user_mounts.iter().cloned());
    for (source, dest) in ctx.etc_mounts {
        // A user's own mount of the file wins, as in Docker.
        if ctx.user_mounts.iter().any(|m| m["destination"] == *dest) {
            continue;
        }
        out.push(json!({
            "destination": dest, "type": "bind", "source": source, "options": ["rbind", "rprivate"]
        }));
    }
    if host.init.unwrap_or(false) && host.pid_mode.as_deref().unwrap_or("").is_empty() {
        let bin = ctx.init_binary.ok_or_else(|| {
            invalid("--init needs a static init binary on the host (Debian: apt-get install tini, for /usr/bin/tini-static)")
        })?;
        out.push(json!({
            "destination": INIT_PATH, "type": "bind", "source": bin, "options": ["bind", "ro"]
        }));
    }
    Ok(out)
}

/// Whether the host runs cgroup v2 only (Docker then gives containers a private cgroup
/// namespace by default).
fn cgroup_v2_host() -> bool {
    matches!(
        berth_cgroups::host_layout(),
        Ok(berth_cgroups::HostLayout::Unified { .. })
    )
}

/// The checks `build` makes that need neither the rootfs nor the host's devices, for
/// POST /containers/create to fail early with Docker's messages, as Docker does. Returns
/// Docker's warnings (e.g. a swap limit the kernel can't enforce).
pub fn validate_create(
    config: &ContainerCreateBody,
    host: &HostConfig,
    bounding_caps: &[String],
) -> Result<Vec<String>, SpecError> {
    let network = network_setup(host)?;
    capabilities(host, bounding_caps)?;
    security_options(host)?;
    let hostname = config.hostname.as_deref().unwrap_or("");
    if hostname.len() > MAX_HOSTNAME {
        return Err(invalid(format!(
            "hostname {hostname:?} is too long (maximum {MAX_HOSTNAME} bytes)"
        )));
    }
    let oom = host.oom_score_adj.unwrap_or(0);
    if !(-1000..=1000).contains(&oom) {
        return Err(invalid(format!(
            "Invalid value {oom}, range for oom score adj is [-1000, 1000]"
        )));
    }
    let mut warnings = Vec::new();
    resources::cgroup_resources(host, &mut warnings)?;
    resources::rlimits(host, bounding_caps.iter().any(|c| c == "CAP_SYS_RESOURCE"))?;
    resources::sysctls(host, network)?;
    let ctx_free = SpecContext {
        container_id: "",
        rootfs: Path::new("/nonexistent"),
        bounding_caps,
        cgroups_path: "",
        // --init without a host init is reported at start, where the daemon's init is known.
        init_binary: Some(Path::new(INIT_PATH)),
        network,
        netns: None,
        etc_mounts: &[],
        user_mounts: &[],
    };
    mounts(host, &ctx_free, false)?;
    Ok(warnings)
}

/// The OCI spec for a container from its (already merged) create config and host config.
pub fn build(
    config: &ContainerCreateBody,
    host: &HostConfig,
    ctx: &SpecContext,
) -> Result<Spec, SpecError> {
    let privileged = host.privileged.unwrap_or(false);
    for (field, value, allowed) in [
        ("PidMode", host.pid_mode.as_deref(), &["", "private"][..]),
        (
            "IpcMode",
            host.ipc_mode.as_deref(),
            &["", "private", "shareable", "none"],
        ),
        ("UTSMode", host.uts_mode.as_deref(), &[""]),
        ("UsernsMode", host.userns_mode.as_deref(), &["", "host"]),
    ] {
        if let Some(v) = value.filter(|v| !allowed.contains(v)) {
            return Err(SpecError::Unsupported(format!("HostConfig.{field}={v}")));
        }
    }
    let caps = capabilities(host, ctx.bounding_caps)?;
    let security = security_options(host)?;

    let hostname = container_hostname(config, host, ctx.container_id);
    if hostname.len() > MAX_HOSTNAME {
        return Err(invalid(format!(
            "hostname {hostname:?} is too long (maximum {MAX_HOSTNAME} bytes)"
        )));
    }
    let user = user::resolve(
        ctx.rootfs,
        config.user.as_deref().unwrap_or(""),
        host.group_add.as_deref().unwrap_or_default(),
    )?;

    let mut args: Vec<String> = config.entrypoint.clone().unwrap_or_default();
    args.extend(config.cmd.clone().unwrap_or_default());
    if args.first().is_none_or(|a| a.is_empty()) {
        return Err(invalid("no command specified"));
    }
    if host.init.unwrap_or(false) && host.pid_mode.as_deref().unwrap_or("").is_empty() {
        args.splice(0..0, [INIT_PATH.to_string(), "--".to_string()]);
    }

    // Docker's CreateDaemonEnvironment, then HOME as runc adds it.
    let tty = config.tty.unwrap_or(false);
    let mut base = vec![DEFAULT_PATH.to_string(), format!("HOSTNAME={hostname}")];
    if tty {
        base.push("TERM=xterm".into());
    }
    let mut env = replace_or_append_env(base, config.env.as_deref().unwrap_or_default());
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }

    let cwd = config
        .working_dir
        .clone()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(invalid(format!(
            "the working directory '{cwd}' is invalid, it needs to be an absolute path"
        )));
    }
    // Docker creates the working directory before the rootfs may become read-only.
    rootfs::mkdir_all(ctx.rootfs, &cwd, 0o755)
        .map_err(|e| invalid(format!("Cannot mkdir: {cwd}: {e}")))?;

    let seccomp = match (&security.seccomp, privileged) {
        (_, true) | (Some(None), _) => None,
        (None, false) => Some(default_seccomp(&caps)),
        (Some(Some(profile)), false) => Some(seccomp::load_profile(profile, &caps)?),
    };
    let writable_cgroups = security.writable_cgroups.unwrap_or(privileged);

    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    if ctx.network == NetworkSetup::Private {
        match ctx.netns {
            Some(path) => namespaces.push(json!({"type": "network", "path": path})),
            None => namespaces.push(json!({"type": "network"})),
        }
    }
    let cgroupns = match host.cgroupns_mode.map(|m| m.to_string()).as_deref() {
        Some("private") => true,
        Some("host") => false,
        _ => cgroup_v2_host(),
    };
    if cgroupns {
        namespaces.push(json!({"type": "cgroup"}));
    }

    let mut warnings = Vec::new();
    let mut res = resources::cgroup_resources(host, &mut warnings)?;
    let (devices, device_rules) = resources::devices(host, privileged)?;
    res.insert("devices".into(), json!(device_rules));
    let mut linux = json!({
        "namespaces": namespaces,
        "cgroupsPath": ctx.cgroups_path,
        "resources": res,
        "sysctl": resources::sysctls(host, ctx.network)?,
    });
    if !devices.is_empty() {
        linux["devices"] = json!(devices);
    }
    if !privileged && !security.unconfined_paths {
        let masked = host
            .masked_paths
            .clone()
            .unwrap_or_else(defaults::masked_paths);
        let readonly = host
            .readonly_paths
            .clone()
            .unwrap_or_else(|| READONLY_PATHS.iter().map(|s| s.to_string()).collect());
        if !masked.is_empty() {
            linux["maskedPaths"] = json!(masked);
        }
        if !readonly.is_empty() {
            linux["readonlyPaths"] = json!(readonly);
        }
    }
    if let Some(s) = seccomp {
        linux["seccomp"] = serde_json::to_value(s).expect("seccomp serialises");
    }

    let oom = host.oom_score_adj.unwrap_or(0);
    if !(-1000..=1000).contains(&oom) {
        return Err(invalid(format!(
            "Invalid value {oom}, range for oom score adj is [-1000, 1000]"
        )));
    }
    let can_raise_rlimits = ctx.bounding_caps.iter().any(|c| c == "CAP_SYS_RESOURCE");
    let mut process = json!({
        "terminal": tty,
        "user": { "uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids },
        "args": args,
        "env": env,
        "cwd": cwd,
        "capabilities": { "bounding": caps, "effective": caps, "permitted": caps },
        "noNewPrivileges": security.no_new_privileges,
        "rlimits": resources::rlimits(host, can_raise_rlimits)?,
    });
    if tty {
        if let Some([h, w]) = host
            .console_size
            .as_deref()
            .and_then(|s| <&[usize; 2]>::try_from(s).ok())
        {
            if *h > 0 && *w > 0 {
                process["consoleSize"] = json!({ "height": h, "width": w });
            }
        }
    }
    // Inherited when 0: writing 0 below an inherited positive adjustment needs CAP_SYS_RESOURCE.
    if oom != 0 {
        process["oomScoreAdj"] = json!(oom);
    }
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": { "path": ctx.rootfs, "readonly": host.readonly_rootfs.unwrap_or(false) },
        "hostname": hostname,
        "mounts": mounts(host, ctx, writable_cgroups)?,
        "linux": linux,
    });
    if let Some(d) = config.domainname.as_deref().filter(|d| !d.is_empty()) {
        spec["domainname"] = json!(d);
    }
    serde_json::from_value(spec).map_err(|e| invalid(format!("building the runtime spec: {e}")))
}

#[cfg(test)]
mod tests;
