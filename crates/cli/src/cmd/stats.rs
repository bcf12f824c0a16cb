//! `stats`: live resource usage, computed from the daemon's StatsJSON as the docker CLI does
//! (CPU % from the delta against precpu, memory without the inactive page cache).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Ctx;
use crate::args::{bool_flag as b, value_flag as v, Parsed, Spec};
use crate::client::{check, Client, Query};
use crate::error::{Error, Result};
use crate::http::Body;
use crate::table::{short_id, Format};
use crate::units::{bytes_size, human_size_prec};
use crate::value::{obj, V};

pub const STATS_SPEC: Spec = Spec {
    command: "berth stats",
    args: "[CONTAINER...]",
    about: "Display a live stream of container(s) resource usage statistics",
    flags: &[
        b(Some('a'), "all", "Show all containers (default shows just running)"),
        v(None, "format", "string", "Format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'"),
        b(None, "no-stream", "Disable streaming stats and only pull the first result"),
        b(None, "no-trunc", "Do not truncate output"),
    ],
    aliases: &[],
    min_args: 0,
    max_args: None,
    stop_at_positional: false,
};

const DEFAULT_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// How often the streaming table is redrawn, as docker.
const REDRAW: Duration = Duration::from_millis(500);

/// One container's numbers, as the docker CLI derives them from a StatsJSON.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    pub container: String,
    pub name: String,
    pub id: String,
    pub cpu_percent: f64,
    pub memory: f64,
    pub memory_limit: f64,
    pub memory_percent: f64,
    pub net_rx: f64,
    pub net_tx: f64,
    pub block_read: f64,
    pub block_write: f64,
    pub pids: u64,
}

fn num(v: &V) -> f64 {
    match v {
        V::Int(i) => *i as f64,
        V::Float(f) => *f,
        _ => 0.0,
    }
}

/// Memory in use without the inactive page cache (v1 `total_inactive_file`, v2 `inactive_file`).
fn memory_usage(mem: &V) -> f64 {
    let usage = num(mem.get("usage"));
    let stats = mem.get("stats");
    if let Some(v) = stats.lookup("total_inactive_file") {
        if num(v) < usage {
            return usage - num(v);
        }
    }
    let inactive = num(stats.get("inactive_file"));
    if inactive < usage {
        usage - inactive
    } else {
        usage
    }
}

impl Entry {
    pub fn from_json(container: &str, s: &V) -> Entry {
        let cpu = s.get("cpu_stats");
        let pre = s.get("precpu_stats");
        let cpu_delta = num(cpu.get("cpu_usage").get("total_usage"))
            - num(pre.get("cpu_usage").get("total_usage"));
        let system_delta = num(cpu.get("system_cpu_usage")) - num(pre.get("system_cpu_usage"));
        let mut online = num(cpu.get("online_cpus"));
        if online == 0.0 {
            online = cpu.get("cpu_usage").get("percpu_usage").items().len() as f64;
        }
        let cpu_percent = if system_delta > 0.0 && cpu_delta > 0.0 {
            cpu_delta / system_delta * online * 100.0
        } else {
            0.0
        };
        let mem = s.get("memory_stats");
        let memory = memory_usage(mem);
        let memory_limit = num(mem.get("limit"));
        let memory_percent = if memory_limit != 0.0 {
            memory / memory_limit * 100.0
        } else {
            0.0
        };
        let (mut net_rx, mut net_tx) = (0.0, 0.0);
        for (_, n) in s.get("networks").members() {
            net_rx += num(n.get("rx_bytes"));
            net_tx += num(n.get("tx_bytes"));
        }
        let (mut block_read, mut block_write) = (0.0, 0.0);
        for e in s
            .get("blkio_stats")
            .get("io_service_bytes_recursive")
            .items()
        {
            match e.get("op").str().to_ascii_lowercase().as_str() {
                "read" => block_read += num(e.get("value")),
                "write" => block_write += num(e.get("value")),
                _ => {}
            }
        }
        Entry {
            container: container.to_string(),
            name: s.get("name").str().trim_start_matches('/').to_string(),
            id: s.get("id").str().to_string(),
            cpu_percent,
            memory,
            memory_limit,
            memory_percent,
            net_rx,
            net_tx,
            block_read,
            block_write,
            pids: num(s.get("pids_stats").get("current")) as u64,
        }
    }

    /// The formatter's fields, as docker names and formats them.
    fn row(&self, trunc: bool) -> V {
        let id = if trunc {
            short_id(&self.id)
        } else {
            self.id.clone()
        };
        let pair =
            |a: f64, b: f64| format!("{} / {}", human_size_prec(a, 3), human_size_prec(b, 3));
        obj(vec![
            ("Container", V::Str(self.container.clone())),
            ("Name", V::Str(self.name.clone())),
            ("ID", V::Str(id)),
            ("CPUPerc", V::Str(format!("{:.2}%", self.cpu_percent))),
            (
                "MemUsage",
                V::Str(format!(
                    "{} / {}",
                    bytes_size(self.memory),
                    bytes_size(self.memory_limit)
                )),
            ),
            ("MemPerc", V::Str(format!("{:.2}%", self.memory_percent))),
            ("NetIO", V::Str(pair(self.net_rx, self.net_tx))),
            ("BlockIO", V::Str(pair(self.block_read, self.block_write))),
            ("PIDs", V::Str(self.pids.to_string())),
        ])
    }
}

fn header() -> V {
    obj(vec![
        ("Container", V::Str("CONTAINER".into())),
        ("Name", V::Str("NAME".into())),
        ("ID", V::Str("CONTAINER ID".into())),
        ("CPUPerc", V::Str("CPU %".into())),
        ("MemUsage", V::Str("MEM USAGE / LIMIT".into())),
        ("MemPerc", V::Str("MEM %".into())),
        ("NetIO", V::Str("NET I/O".into())),
        ("BlockIO", V::Str("BLOCK I/O".into())),
        ("PIDs", V::Str("PIDS".into())),
    ])
}

/// The containers to show: the named ones, or the running (with -a: all) ones.
fn targets(ctx: &Ctx, p: &Parsed) -> Result<Vec<String>> {
    if !p.args.is_empty() {
        return Ok(p.args.clone());
    }
    let mut q = Query::new();
    q.flag("all", p.bool("all"));
    let list = ctx.client.get_json("/containers/json", &q)?;
    Ok(list
        .items()
        .iter()
        .map(|c| c.get("Id").str().to_string())
        .collect())
}

fn one(client: &Client, name: &str) -> Result<Entry> {
    let mut q = Query::new();
    q.add("stream", "0");
    let s = client.get_json(&format!("/containers/{name}/stats"), &q)?;
    Ok(Entry::from_json(name, &s))
}

pub fn stats(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let format = Format::new(p.value("format").unwrap_or(""), DEFAULT_TABLE)?;
    let trunc = !p.bool("no-trunc");
    let names = targets(ctx, &p)?;
    if p.bool("no-stream") {
        // In parallel: each answer takes the daemon a second (it primes precpu).
        let results: Vec<Result<Entry>> = std::thread::scope(|scope| {
            let handles: Vec<_> = names
                .iter()
                .map(|n| {
                    let client = ctx.client.duplicate();
                    scope.spawn(move || one(&client, n))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Error::client("stats thread panicked")))
                })
                .collect()
        });
        let mut rows = Vec::new();
        let mut failed = false;
        for r in results {
            match r {
                Ok(e) => rows.push(e.row(trunc)),
                Err(e) => {
                    eprintln!("{e}");
                    failed = true;
                }
            }
        }
        format.print(&rows, &header())?;
        return if failed { Err(Error::Exit(1)) } else { Ok(0) };
    }
    stream(ctx, &names, &format, trunc)
}

/// Follows every container's stream on its own thread and redraws the table from the latest
/// entries, until interrupted or every stream has ended.
fn stream(ctx: &Ctx, names: &[String], format: &Format, trunc: bool) -> Result<i32> {
    let latest: Arc<Mutex<HashMap<String, Entry>>> = Arc::default();
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut handles = Vec::new();
    for name in names {
        let client = ctx.client.duplicate();
        let (name, latest, errors) = (name.clone(), latest.clone(), errors.clone());
        handles.push(std::thread::spawn(move || {
            let follow = || -> Result<()> {
                let resp = check(client.send(
                    "GET",
                    &format!("/containers/{name}/stats"),
                    &Query::new(),
                    Body::Empty,
                )?)?;
                for line in BufReader::new(resp.body).lines() {
                    let line = line.map_err(|e| Error::io("reading stats", e))?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    let v = V::parse(line.as_bytes())
                        .map_err(|e| Error::Protocol(format!("bad stats JSON: {e}")))?;
                    let entry = Entry::from_json(&name, &v);
                    latest
                        .lock()
                        .expect("stats lock")
                        .insert(name.clone(), entry);
                }
                Ok(())
            };
            if let Err(e) = follow() {
                errors.lock().expect("errors lock").push(e.to_string());
            }
        }));
    }
    loop {
        std::thread::sleep(REDRAW);
        let rows: Vec<V> = {
            let latest = latest.lock().expect("stats lock");
            names
                .iter()
                .filter_map(|n| latest.get(n))
                .map(|e| e.row(trunc))
                .collect()
        };
        let text = format.render(&rows, &header())?;
        // Home, each line cleared to its end, then the rest of the screen: no flicker.
        let mut screen = String::from("\x1b[H");
        for line in text.lines() {
            screen.push_str(line);
            screen.push_str("\x1b[K\n");
        }
        for e in errors.lock().expect("errors lock").iter() {
            screen.push_str(e);
            screen.push_str("\x1b[K\n");
        }
        screen.push_str("\x1b[J");
        let mut out = std::io::stdout().lock();
        out.write_all(screen.as_bytes())
            .and_then(|_| out.flush())
            .map_err(|e| Error::io("writing output", e))?;
        if handles.iter().all(|h| h.is_finished()) {
            return if errors.lock().expect("errors lock").is_empty() {
                Ok(0)
            } else {
                Err(Error::Exit(1))
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_computed_as_docker_does() {
        let s = V::parse(
            br#"{"name":"/web","id":"0123456789abcdef0123",
                "cpu_stats":{"cpu_usage":{"total_usage":3000000},"system_cpu_usage":20000000,"online_cpus":2},
                "precpu_stats":{"cpu_usage":{"total_usage":1000000},"system_cpu_usage":10000000},
                "memory_stats":{"usage":52428800,"limit":134217728,"stats":{"total_inactive_file":2097152}},
                "blkio_stats":{"io_service_bytes_recursive":[{"op":"Read","value":1000},{"op":"Write","value":2000},{"op":"Total","value":3000}]},
                "pids_stats":{"current":2}}"#,
        )
        .unwrap();
        let e = Entry::from_json("web", &s);
        assert_eq!(e.cpu_percent, 40.0);
        assert_eq!(e.memory, 50331648.0);
        assert_eq!(e.memory_percent, 37.5);
        let row = e.row(true);
        assert_eq!(row.get("ID").str(), "0123456789ab");
        assert_eq!(row.get("Name").str(), "web");
        assert_eq!(row.get("CPUPerc").str(), "40.00%");
        assert_eq!(row.get("MemUsage").str(), "48MiB / 128MiB");
        assert_eq!(row.get("MemPerc").str(), "37.50%");
        assert_eq!(row.get("NetIO").str(), "0B / 0B");
        assert_eq!(row.get("BlockIO").str(), "1kB / 2kB");
        assert_eq!(row.get("PIDs").str(), "2");
    }

    #[test]
    fn a_stopped_container_is_zeros() {
        let s = V::parse(
            br#"{"name":"/x","id":"abc","read":"0001-01-01T00:00:00Z","memory_stats":{}}"#,
        )
        .unwrap();
        let row = Entry::from_json("x", &s).row(true);
        assert_eq!(row.get("MemUsage").str(), "0B / 0B");
        assert_eq!(row.get("CPUPerc").str(), "0.00%");
        assert_eq!(row.get("PIDs").str(), "0");
    }
}
