//! info, version, system df, system prune.

use super::container::prune_containers;
use super::image::prune_images;
use super::Ctx;
use crate::args::{bool_flag as b, value_flag as v, Parsed, Spec};
use crate::client::{Query, API_VERSION};
use crate::error::{Error, Result};
use crate::table::{ellipsis, short_id, tabwrite, Format};
use crate::template::Template;
use crate::units::{bytes_size, human_size, human_size_prec, since};
use crate::value::{obj, V};

pub const INFO_SPEC: Spec = Spec {
    command: "berth info",
    args: "",
    about: "Display system-wide information",
    flags: &[v(
        Some('f'),
        "format",
        "string",
        "Format output using a custom template",
    )],
    aliases: &[],
    min_args: 0,
    max_args: Some(0),
    stop_at_positional: false,
};
pub const VERSION_SPEC: Spec = Spec {
    command: "berth version",
    about: "Show the berth version information",
    ..INFO_SPEC
};
pub const DF_SPEC: Spec = Spec {
    command: "berth system df",
    args: "",
    about: "Show berth disk usage",
    flags: &[
        v(
            None,
            "format",
            "string",
            "Format output using a custom template",
        ),
        b(
            Some('v'),
            "verbose",
            "Show detailed information on space usage",
        ),
    ],
    aliases: &[],
    min_args: 0,
    max_args: Some(0),
    stop_at_positional: false,
};
pub const PRUNE_SPEC: Spec = Spec {
    command: "berth system prune",
    args: "",
    about: "Remove unused data",
    flags: &[
        b(
            Some('a'),
            "all",
            "Remove all unused images not just dangling ones",
        ),
        v(
            None,
            "filter",
            "filter",
            "Provide filter values (e.g. \"label=<key>=<value>\")",
        ),
        b(Some('f'), "force", "Do not prompt for confirmation"),
        b(None, "volumes", "Prune anonymous volumes"),
    ],
    aliases: &[],
    min_args: 0,
    max_args: Some(0),
    stop_at_positional: false,
};

fn client_info() -> V {
    obj(vec![
        ("Version", V::from(env!("CARGO_PKG_VERSION"))),
        ("ApiVersion", V::from(API_VERSION)),
        ("DefaultAPIVersion", V::from(API_VERSION)),
        ("Os", V::from(std::env::consts::OS)),
        ("Arch", V::from(go_arch())),
        ("Context", V::from("default")),
    ])
}

/// Go's GOARCH names, which the API and docker print.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

fn print_template(format: &str, data: &V) -> Result<i32> {
    let t = Template::parse(format).map_err(Error::client)?;
    println!("{}", t.execute(data).map_err(Error::client)?);
    Ok(0)
}

pub fn info(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let info = ctx.client.get_json("/info", &Query::new())?;
    if let Some(f) = p.value("format").filter(|f| !f.is_empty()) {
        let mut data = info.clone();
        if let V::Obj(m) = &mut data {
            m.push(("ClientInfo".into(), client_info()));
        }
        let f = if f == "json" { "{{json .}}" } else { f };
        return print_template(f, &data);
    }
    let c = client_info();
    let mut out = format!(
        "Client:\n Version:    {}\n Context:    default\n Debug Mode: false\n\nServer:\n",
        c.get("Version").str()
    );
    let line = |out: &mut String, label: &str, value: String| {
        out.push_str(&format!(" {label}: {value}\n"))
    };
    line(
        &mut out,
        "Containers",
        info.get("Containers").i64().to_string(),
    );
    out.push_str(&format!(
        "  Running: {}\n",
        info.get("ContainersRunning").i64()
    ));
    out.push_str(&format!(
        "  Paused: {}\n",
        info.get("ContainersPaused").i64()
    ));
    out.push_str(&format!(
        "  Stopped: {}\n",
        info.get("ContainersStopped").i64()
    ));
    line(&mut out, "Images", info.get("Images").i64().to_string());
    for (label, key) in [
        ("Server Version", "ServerVersion"),
        ("Storage Driver", "Driver"),
    ] {
        line(&mut out, label, info.get(key).str().to_string());
    }
    for pair in info.get("DriverStatus").items() {
        let kv = pair.items();
        if kv.len() == 2 {
            out.push_str(&format!("  {}: {}\n", kv[0].str(), kv[1].str()));
        }
    }
    for (label, key) in [
        ("Logging Driver", "LoggingDriver"),
        ("Cgroup Driver", "CgroupDriver"),
        ("Cgroup Version", "CgroupVersion"),
    ] {
        line(&mut out, label, info.get(key).str().to_string());
    }
    let mut runtimes: Vec<&str> = info
        .get("Runtimes")
        .members()
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    runtimes.sort();
    line(&mut out, "Runtimes", runtimes.join(" "));
    line(
        &mut out,
        "Default Runtime",
        info.get("DefaultRuntime").str().to_string(),
    );
    let security = info.get("SecurityOptions").strings();
    if !security.is_empty() {
        out.push_str(" Security Options:\n");
        for opt in security {
            // "name=seccomp,profile=builtin" → "seccomp" with "Profile: builtin" below it.
            let mut parts = opt.split(',');
            let name = parts.next().unwrap_or("").trim_start_matches("name=");
            out.push_str(&format!("  {name}\n"));
            for kv in parts {
                if let Some((k, v)) = kv.split_once('=') {
                    let mut k = k.to_string();
                    if let Some(first) = k.get_mut(0..1) {
                        first.make_ascii_uppercase();
                    }
                    out.push_str(&format!("   {k}: {v}\n"));
                }
            }
        }
    }
    for (label, key) in [
        ("Kernel Version", "KernelVersion"),
        ("Operating System", "OperatingSystem"),
        ("OSType", "OSType"),
        ("Architecture", "Architecture"),
    ] {
        line(&mut out, label, info.get(key).str().to_string());
    }
    line(&mut out, "CPUs", info.get("NCPU").i64().to_string());
    line(
        &mut out,
        "Total Memory",
        bytes_size(info.get("MemTotal").i64() as f64),
    );
    line(&mut out, "Name", info.get("Name").str().to_string());
    line(&mut out, "ID", info.get("ID").str().to_string());
    line(
        &mut out,
        "Docker Root Dir",
        info.get("DockerRootDir").str().to_string(),
    );
    line(&mut out, "Debug Mode", info.get("Debug").bool().to_string());
    line(
        &mut out,
        "Experimental",
        info.get("ExperimentalBuild").bool().to_string(),
    );
    line(
        &mut out,
        "Live Restore Enabled",
        info.get("LiveRestoreEnabled").bool().to_string(),
    );
    print!("{out}");
    for w in info.get("Warnings").strings() {
        eprintln!("{w}");
    }
    Ok(0)
}

pub fn version(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let server = ctx.client.get_json("/version", &Query::new());
    let client = client_info();
    if let Some(f) = p.value("format").filter(|f| !f.is_empty()) {
        let data = obj(vec![
            ("Client", client),
            ("Server", server.as_ref().cloned().unwrap_or(V::Null)),
        ]);
        let f = if f == "json" { "{{json .}}" } else { f };
        print_template(f, &data)?;
        return server.map(|_| 0);
    }
    println!(
        "Client:\n Version:           {}\n API version:       {}\n OS/Arch:           {}/{}\n Context:           default",
        client.get("Version").str(),
        API_VERSION,
        client.get("Os").str(),
        client.get("Arch").str()
    );
    let s = server?;
    let engine = s.get("Platform").get("Name").str();
    println!(
        "\nServer:{}\n Engine:\n  Version:          {}\n  API version:      {} (minimum version {})\n  Go version:       {}\n  Git commit:       {}\n  Built:            {}\n  OS/Arch:          {}/{}\n  Experimental:     {}",
        if engine.is_empty() { String::new() } else { format!(" {engine}") },
        s.get("Version").str(),
        s.get("ApiVersion").str(),
        s.get("MinAPIVersion").str(),
        s.get("GoVersion").str(),
        s.get("GitCommit").str(),
        s.get("BuildTime").str(),
        s.get("Os").str(),
        s.get("Arch").str(),
        s.get("Experimental").bool()
    );
    Ok(0)
}

const DF_TABLE: &str = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";

fn reclaimable(amount: i64, total: i64) -> String {
    if total > 0 {
        format!("{} ({}%)", human_size(amount as f64), amount * 100 / total)
    } else {
        human_size(amount as f64)
    }
}

pub fn df(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let du = ctx.client.get_json("/system/df", &Query::new())?;
    let images = du.get("Images").items();
    let containers = du.get("Containers").items();
    let volumes = du.get("Volumes").items();
    let cache = du.get("BuildCache").items();

    let layers = du.get("LayersSize").i64();
    let used: i64 = images
        .iter()
        .filter(|i| i.get("Containers").i64() > 0 && i.get("SharedSize").i64() >= 0)
        .map(|i| i.get("Size").i64() - i.get("SharedSize").i64())
        .sum();
    let running = |c: &V| matches!(c.get("State").str(), "running" | "paused" | "restarting");
    let c_size: i64 = containers.iter().map(|c| c.get("SizeRw").i64()).sum();
    let c_free: i64 = containers
        .iter()
        .filter(|c| !running(c))
        .map(|c| c.get("SizeRw").i64())
        .sum();
    let v_size: i64 = volumes
        .iter()
        .map(|v| v.get("UsageData").get("Size").i64().max(0))
        .sum();
    let v_free: i64 = volumes
        .iter()
        .filter(|v| v.get("UsageData").get("RefCount").i64() == 0)
        .map(|v| v.get("UsageData").get("Size").i64().max(0))
        .sum();
    let b_size: i64 = cache
        .iter()
        .filter(|b| !b.get("Shared").bool())
        .map(|b| b.get("Size").i64())
        .sum();
    let b_free: i64 = cache
        .iter()
        .filter(|b| !b.get("InUse").bool() && !b.get("Shared").bool())
        .map(|b| b.get("Size").i64())
        .sum();
    let row = |t: &str, total: usize, active: usize, size: i64, free: String| {
        obj(vec![
            ("Active", V::Str(active.to_string())),
            ("Reclaimable", V::Str(free)),
            ("Size", V::Str(human_size(size as f64))),
            ("TotalCount", V::Str(total.to_string())),
            ("Type", V::from(t)),
        ])
    };
    let rows = vec![
        row(
            "Images",
            images.len(),
            images
                .iter()
                .filter(|i| i.get("Containers").i64() > 0)
                .count(),
            layers,
            reclaimable(layers - used, layers),
        ),
        row(
            "Containers",
            containers.len(),
            containers.iter().filter(|c| running(c)).count(),
            c_size,
            reclaimable(c_free, c_size),
        ),
        row(
            "Local Volumes",
            volumes.len(),
            volumes
                .iter()
                .filter(|v| v.get("UsageData").get("RefCount").i64() > 0)
                .count(),
            v_size,
            reclaimable(v_free, v_size),
        ),
        row(
            "Build Cache",
            cache.len(),
            cache.iter().filter(|b| b.get("InUse").bool()).count(),
            b_size,
            human_size(b_free as f64),
        ),
    ];
    let header = obj(vec![
        ("Type", V::from("TYPE")),
        ("TotalCount", V::from("TOTAL")),
        ("Active", V::from("ACTIVE")),
        ("Size", V::from("SIZE")),
        ("Reclaimable", V::from("RECLAIMABLE")),
    ]);
    if !p.bool("verbose") || p.value("format").is_some_and(|f| !f.is_empty()) {
        Format::new(p.value("format").unwrap_or(""), DF_TABLE)?.print(&rows, &header)?;
        return Ok(0);
    }
    print!("{}", df_verbose(images, containers, volumes));
    Ok(0)
}

/// `system df -v`: one table per kind.
fn df_verbose(images: &[V], containers: &[V], volumes: &[V]) -> String {
    let mut out = String::from("Images space usage:\n\n");
    let mut lines = vec![
        "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS"
            .to_string(),
    ];
    for img in images {
        for r in super::image::image_rows(img, true) {
            lines.push(format!(
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                r.get("Repository").str(),
                r.get("Tag").str(),
                r.get("ID").str(),
                r.get("CreatedSince").str(),
                r.get("Size").str(),
                r.get("SharedSize").str(),
                r.get("UniqueSize").str(),
                r.get("Containers").str()
            ));
        }
    }
    out.push_str(&tabwrite(&lines));
    out.push_str("\nContainers space usage:\n\n");
    let mut lines = vec![
        "CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES".to_string(),
    ];
    for c in containers {
        let names: Vec<String> = c
            .get("Names")
            .strings()
            .iter()
            .map(|n| n.trim_start_matches('/').to_string())
            .collect();
        lines.push(format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            short_id(c.get("Id").str()),
            c.get("Image").str(),
            super::ps::go_quote(&ellipsis(c.get("Command").str(), 20)),
            c.get("Mounts")
                .items()
                .iter()
                .filter(|m| m.get("Driver").str() == "local")
                .count(),
            human_size_prec(c.get("SizeRw").i64() as f64, 3),
            since(c.get("Created").i64()),
            c.get("Status").str(),
            names.join(",")
        ));
    }
    out.push_str(&tabwrite(&lines));
    out.push_str("\nLocal Volumes space usage:\n\n");
    let mut lines = vec!["VOLUME NAME\tLINKS\tSIZE".to_string()];
    for v in volumes {
        lines.push(format!(
            "{}\t{}\t{}",
            v.get("Name").str(),
            v.get("UsageData").get("RefCount").i64(),
            human_size(v.get("UsageData").get("Size").i64().max(0) as f64)
        ));
    }
    out.push_str(&tabwrite(&lines));
    out
}

pub fn prune(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let all = p.bool("all");
    let images = if all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    };
    // berth has no build cache yet, so the warning names only what it removes.
    let volumes = p.bool("volumes");
    let volume_line = if volumes {
        "  - all anonymous volumes not used by at least one container\n"
    } else {
        ""
    };
    let warning = format!(
        "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n{volume_line}  - {images}\n\nAre you sure you want to continue?"
    );
    if !p.bool("force") && !super::common::confirm(&warning) {
        return Ok(0);
    }
    let filters = p.values("filter");
    let (c_text, c_space) = prune_containers(ctx, &filters)?;
    let n_text = super::network::prune_networks(ctx, &filters)?;
    // Like docker's, `--volumes` prunes anonymous volumes only, even with `-a`.
    let (v_text, v_space) = if volumes {
        super::volume::prune_volumes(ctx, false, &filters)?
    } else {
        (String::new(), 0)
    };
    let (i_text, i_space) = prune_images(ctx, all, &filters)?;
    println!(
        "{c_text}{n_text}{v_text}{i_text}Total reclaimed space: {}",
        human_size((c_space + v_space + i_space) as f64)
    );
    Ok(0)
}
