//! `--change` instructions (docker import/commit): Dockerfile-style lines applied to an image's
//! runtime config.
//!
//! Accepted, case-insensitively: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD,
//! STOPSIGNAL, USER, VOLUME, WORKDIR. As in a Dockerfile, ENV, EXPOSE, LABEL, STOPSIGNAL, USER,
//! VOLUME and WORKDIR take shell-like words (quotes, backslash escapes, `$VAR`, `${VAR}`,
//! `${VAR:-default}`, `${VAR:+alt}` from the config's environment). An instruction string may hold
//! several lines (`\` continues a line, `#` starts a comment line). The changes apply all or not at
//! all: on an error `config` is left as it was.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::{ContainerConfig, ImageError, Result};

mod words;

use words::{process_word, processed_words, raw_words, unquoted_eq};

type Res<T> = std::result::Result<T, String>;

/// Every Dockerfile instruction, to tell "not allowed here" from "unknown".
const DOCKERFILE_INSTRUCTIONS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Applies each instruction (`CMD ["sh"]`, `ENV A=b`, …) to `config`, in order.
pub fn apply_changes(config: &mut ContainerConfig, instructions: &[String]) -> Result<()> {
    let mut work = config.clone();
    let mut cmd_set = false;
    for raw in instructions {
        for line in logical_lines(raw) {
            apply_one(&mut work, &line, &mut cmd_set).map_err(|reason| {
                ImageError::InvalidChange {
                    instruction: line.clone(),
                    reason,
                }
            })?;
        }
    }
    *config = work;
    Ok(())
}

/// Joins `\`-continued lines and drops blank and comment lines.
fn logical_lines(raw: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in raw.lines() {
        if cur.is_empty() && (line.trim().is_empty() || line.trim_start().starts_with('#')) {
            continue;
        }
        match line.trim_end().strip_suffix('\\') {
            Some(head) => cur.push_str(head),
            None => {
                cur.push_str(line);
                out.push(cur.trim().to_string());
                cur.clear();
            }
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

fn apply_one(c: &mut ContainerConfig, line: &str, cmd_set: &mut bool) -> Res<()> {
    let (keyword, rest) = match line.split_once(char::is_whitespace) {
        Some((k, r)) => (k.to_ascii_uppercase(), r.trim()),
        None => (line.to_ascii_uppercase(), ""),
    };
    let env = env_map(c);
    match keyword.as_str() {
        "CMD" => {
            c.cmd = Some(command(&keyword, rest)?);
            *cmd_set = true;
        }
        "ENTRYPOINT" => {
            c.entrypoint = Some(command(&keyword, rest)?);
            // As in a Dockerfile: a new entrypoint drops the old CMD unless these changes set one.
            if !*cmd_set {
                c.cmd = None;
            }
        }
        "ENV" => {
            for (k, v) in name_values(&keyword, rest, &env)? {
                set_env(c, &k, &v);
            }
        }
        "LABEL" => {
            let pairs = name_values(&keyword, rest, &env)?;
            c.labels.get_or_insert_with(BTreeMap::new).extend(pairs);
        }
        "WORKDIR" => {
            let dir = process_word(rest, &env)?;
            if dir.is_empty() {
                return Err("WORKDIR requires a path".into());
            }
            c.working_dir = if dir.starts_with('/') {
                clean_path(&dir)
            } else {
                clean_path(&format!("/{}/{dir}", c.working_dir))
            };
        }
        "USER" => {
            let words = processed_words(rest, &env)?;
            match words.as_slice() {
                [user] if !user.is_empty() => c.user = user.clone(),
                _ => return Err("USER requires exactly one argument".into()),
            }
        }
        "EXPOSE" => {
            let words = processed_words(rest, &env)?;
            if words.is_empty() {
                return Err("EXPOSE requires at least one port".into());
            }
            let mut keys = Vec::new();
            for w in &words {
                keys.extend(port_keys(w)?);
            }
            let ports = c.exposed_ports.get_or_insert_with(BTreeMap::new);
            for k in keys {
                ports.insert(k, json!({}));
            }
        }
        "VOLUME" => {
            let vols = if looks_like_json(rest) {
                json_array(&keyword, rest)?
            } else {
                processed_words(rest, &env)?
            };
            if vols.is_empty() {
                return Err("VOLUME requires at least one path".into());
            }
            if vols.iter().any(|v| v.trim().is_empty()) {
                return Err("VOLUME specified can not be an empty string".into());
            }
            let map = c.volumes.get_or_insert_with(BTreeMap::new);
            for v in vols {
                map.insert(v, json!({}));
            }
        }
        "STOPSIGNAL" => {
            let words = processed_words(rest, &env)?;
            let [sig] = words.as_slice() else {
                return Err("STOPSIGNAL requires exactly one argument".into());
            };
            if !valid_signal(sig) {
                return Err(format!("invalid signal {sig:?}"));
            }
            c.stop_signal = Some(sig.clone());
        }
        "ONBUILD" => {
            let trigger = rest
                .split_whitespace()
                .next()
                .ok_or("ONBUILD requires an instruction")?
                .to_ascii_uppercase();
            match trigger.as_str() {
                "ONBUILD" => {
                    return Err("chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into())
                }
                "FROM" | "MAINTAINER" => {
                    return Err(format!("{trigger} isn't allowed as an ONBUILD trigger"))
                }
                t if !DOCKERFILE_INSTRUCTIONS.contains(&t) => {
                    return Err(format!("unknown instruction: {t}"))
                }
                _ => {}
            }
            let list = c
                .extra
                .entry("OnBuild".to_string())
                .or_insert_with(|| json!([]));
            if !list.is_array() {
                *list = json!([]);
            }
            if let Value::Array(a) = list {
                a.push(Value::String(rest.to_string()));
            }
        }
        "HEALTHCHECK" => {
            let hc = healthcheck(rest)?;
            c.extra.insert("Healthcheck".to_string(), hc);
        }
        k if DOCKERFILE_INSTRUCTIONS.contains(&k) => {
            return Err(format!("{k} is not a valid change command"))
        }
        k => return Err(format!("dockerfile parse error: unknown instruction: {k}")),
    }
    Ok(())
}

/// CMD / ENTRYPOINT / HEALTHCHECK CMD: a JSON array (exec form) or a shell command.
fn command(keyword: &str, rest: &str) -> Res<Vec<String>> {
    if rest.is_empty() {
        return Err(format!("{keyword} requires an argument"));
    }
    if looks_like_json(rest) {
        return json_array(keyword, rest);
    }
    Ok(vec!["/bin/sh".into(), "-c".into(), rest.to_string()])
}

/// `["…` or `[]`: meant as a JSON array. (`[ -f x ] && y` stays a shell command.)
fn looks_like_json(rest: &str) -> bool {
    rest.strip_prefix('[')
        .map(|r| r.trim_start())
        .is_some_and(|r| r.starts_with('"') || r.starts_with(']'))
}

fn json_array(keyword: &str, rest: &str) -> Res<Vec<String>> {
    serde_json::from_str::<Vec<String>>(rest)
        .map_err(|e| format!("{keyword}: malformed JSON array of strings {rest}: {e}"))
}

fn env_map(c: &ContainerConfig) -> BTreeMap<String, String> {
    c.env
        .iter()
        .flatten()
        .map(|e| match e.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (e.clone(), String::new()),
        })
        .collect()
}

/// Sets `key` in the environment, in place of an earlier value.
fn set_env(c: &mut ContainerConfig, key: &str, value: &str) {
    let entry = format!("{key}={value}");
    let env = c.env.get_or_insert_with(Vec::new);
    match env
        .iter_mut()
        .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
    {
        Some(e) => *e = entry,
        None => env.push(entry),
    }
}

/// ENV and LABEL arguments: `a=b "c d"="e f"`, or the legacy `key value with spaces`.
fn name_values(
    keyword: &str,
    rest: &str,
    env: &BTreeMap<String, String>,
) -> Res<Vec<(String, String)>> {
    let words = raw_words(rest)?;
    let Some(first) = words.first() else {
        return Err(format!("{keyword} requires at least one argument"));
    };
    if unquoted_eq(first).is_none() {
        // Legacy form: the first word is the name, the rest of the line its value.
        let key = process_word(first, env)?;
        let value = rest[first.len()..].trim();
        if value.is_empty() {
            return Err(format!(
                "{keyword} {key} needs a value: use {keyword} {key}=value"
            ));
        }
        return Ok(vec![(key, process_word(value, env)?)]);
    }
    let mut out = Vec::new();
    for w in &words {
        let Some(i) = unquoted_eq(w) else {
            return Err(format!(
                "syntax error: can't find = in {w:?}; must be of the form name=value"
            ));
        };
        let key = process_word(&w[..i], env)?;
        if key.is_empty() {
            return Err(format!("{keyword} names can not be blank"));
        }
        out.push((key, process_word(&w[i + 1..], env)?));
    }
    Ok(out)
}

/// A lexically cleaned absolute path (`.` and `..` resolved, no trailing `/`).
fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for comp in p.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `80`, `80/tcp`, `53/udp`, `8000-8002` → "80/tcp" keys.
fn port_keys(spec: &str) -> Res<Vec<String>> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!(
            "invalid proto {proto:?} in port {spec:?}: use tcp, udp or sctp"
        ));
    }
    if ports.contains(':') {
        return Err(format!(
            "invalid port {spec:?}: EXPOSE takes container ports, not host mappings"
        ));
    }
    let port = |p: &str| -> Res<u16> {
        match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
            _ => Err(format!(
                "invalid port {p:?} in {spec:?}: a port is a number from 1 to 65535"
            )),
        }
    };
    let (start, end) = match ports.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => (port(ports)?, port(ports)?),
    };
    if end < start {
        return Err(format!(
            "invalid port range {ports:?}: the end is below the start"
        ));
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// A signal as Docker accepts it: a number, or a name with or without `SIG`.
fn valid_signal(s: &str) -> bool {
    const NAMES: &[&str] = &[
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
        "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
        "TRAP", "TSTP", "TTIN", "TTOU", "UNUSED", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU",
        "XFSZ", "RTMIN", "RTMAX",
    ];
    if let Ok(n) = s.parse::<u32>() {
        return (1..=64).contains(&n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if NAMES.contains(&name) {
        return true;
    }
    let offset = |n: &str| n.parse::<u32>().is_ok_and(|n| (1..=15).contains(&n));
    name.strip_prefix("RTMIN+").is_some_and(offset)
        || name.strip_prefix("RTMAX-").is_some_and(offset)
}

/// `HEALTHCHECK NONE` or `HEALTHCHECK [--interval=… --timeout=… --start-period=…
/// --start-interval=… --retries=N] CMD command`, as Docker's config `Healthcheck`.
fn healthcheck(rest: &str) -> Res<Value> {
    let mut obj = serde_json::Map::new();
    let mut r = rest;
    while let Some(opt) = r.strip_prefix("--") {
        let (word, tail) = opt.split_once(char::is_whitespace).unwrap_or((opt, ""));
        r = tail.trim_start();
        let (name, value) = word
            .split_once('=')
            .ok_or_else(|| format!("HEALTHCHECK option --{word} needs a value (--{word}=…)"))?;
        let key = match name {
            "interval" => "Interval",
            "timeout" => "Timeout",
            "start-period" => "StartPeriod",
            "start-interval" => "StartInterval",
            "retries" => {
                let n: u64 = value
                    .parse()
                    .map_err(|_| format!("HEALTHCHECK --retries {value:?} is not a number"))?;
                obj.insert("Retries".into(), json!(n));
                continue;
            }
            _ => return Err(format!("unknown HEALTHCHECK option --{name}")),
        };
        let ns = go_duration(value).ok_or_else(|| {
            format!("HEALTHCHECK --{name} {value:?} is not a duration (like 30s, 1m30s)")
        })?;
        if ns < 1_000_000 {
            return Err(format!(
                "HEALTHCHECK --{name} {value:?} cannot be less than 1ms"
            ));
        }
        obj.insert(key.into(), json!(ns));
    }
    let (kind, cmd) = r.split_once(char::is_whitespace).unwrap_or((r, ""));
    match kind.to_ascii_uppercase().as_str() {
        "NONE" => {
            if !obj.is_empty() {
                return Err("options cannot be specified with HEALTHCHECK NONE".into());
            }
            if !cmd.trim().is_empty() {
                return Err("HEALTHCHECK NONE takes no arguments".into());
            }
            obj.insert("Test".into(), json!(["NONE"]));
        }
        "CMD" => {
            let cmd = cmd.trim();
            let test = if looks_like_json(cmd) {
                let mut t = vec!["CMD".to_string()];
                t.extend(json_array("HEALTHCHECK CMD", cmd)?);
                t
            } else if cmd.is_empty() {
                return Err("HEALTHCHECK CMD requires a command".into());
            } else {
                vec!["CMD-SHELL".to_string(), cmd.to_string()]
            };
            obj.insert("Test".into(), json!(test));
        }
        _ => return Err("HEALTHCHECK takes NONE or [options] CMD command".into()),
    }
    Ok(Value::Object(obj))
}

/// Go's duration syntax (`300ms`, `1.5h`, `2h45m`) in nanoseconds.
fn go_duration(s: &str) -> Option<u64> {
    if s == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += num * mult;
    }
    (total < u64::MAX as f64).then_some(total as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(cs: &[&str]) -> ContainerConfig {
        let mut c = ContainerConfig::default();
        let v: Vec<String> = cs.iter().map(|s| s.to_string()).collect();
        apply_changes(&mut c, &v).unwrap();
        c
    }

    fn fail(cs: &[&str]) -> String {
        let mut c = ContainerConfig {
            user: "keep".into(),
            ..Default::default()
        };
        let v: Vec<String> = cs.iter().map(|s| s.to_string()).collect();
        let e = apply_changes(&mut c, &v).unwrap_err();
        assert!(matches!(e, ImageError::InvalidChange { .. }), "{e:?}");
        assert_eq!(
            c.user, "keep",
            "a failed change must leave the config alone"
        );
        assert!(c.env.is_none());
        e.to_string()
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn changes_cmd_exec_and_shell_forms() {
        assert_eq!(
            apply(&[r#"CMD ["sh", "-c", "x"]"#]).cmd,
            Some(s(&["sh", "-c", "x"]))
        );
        assert_eq!(
            apply(&["cmd echo hi"]).cmd,
            Some(s(&["/bin/sh", "-c", "echo hi"]))
        );
        assert_eq!(apply(&["CMD []"]).cmd, Some(vec![]));
        assert_eq!(
            apply(&["CMD [ -f /x ] && echo y"]).cmd,
            Some(s(&["/bin/sh", "-c", "[ -f /x ] && echo y"]))
        );
    }

    #[test]
    fn changes_entrypoint_resets_cmd_unless_cmd_is_set_too() {
        let mut c = ContainerConfig {
            cmd: Some(s(&["old"])),
            ..Default::default()
        };
        apply_changes(&mut c, &s(&[r#"ENTRYPOINT ["/app"]"#])).unwrap();
        assert_eq!(c.entrypoint, Some(s(&["/app"])));
        assert_eq!(c.cmd, None);
        let c = apply(&["CMD x", "Entrypoint run me"]);
        assert_eq!(c.entrypoint, Some(s(&["/bin/sh", "-c", "run me"])));
        assert_eq!(c.cmd, Some(s(&["/bin/sh", "-c", "x"])));
    }

    #[test]
    fn changes_env_forms_and_replacement() {
        let c = apply(&["ENV A=b C=d", "ENV E f g", r#"env A="x y" H=\$A"#]);
        assert_eq!(c.env, Some(s(&["A=x y", "C=d", "E=f g", "H=$A"])));
        let c = apply(&[
            "ENV P=/bin",
            "ENV P=$P:/x Q=${P}",
            "ENV R=${NOPE:-def} S=${P:+set}",
        ]);
        assert_eq!(c.env, Some(s(&["P=/bin:/x", "Q=/bin", "R=def", "S=set"])));
        let c = apply(&["ENV A='$lit' B=\"q\\\"uote\""]);
        assert_eq!(c.env, Some(s(&["A=$lit", "B=q\"uote"])));
    }

    #[test]
    fn changes_workdir_joins_relative_paths() {
        assert_eq!(
            apply(&["WORKDIR /a", "WORKDIR b/../c", "WORKDIR ./d/"]).working_dir,
            "/a/c/d"
        );
        assert_eq!(apply(&["WORKDIR rel"]).working_dir, "/rel");
        assert_eq!(apply(&["ENV D=/srv", "WORKDIR $D/x"]).working_dir, "/srv/x");
    }

    #[test]
    fn changes_user_expose_volume_stopsignal() {
        let c = apply(&[
            "USER app:app",
            "EXPOSE 80 53/udp 8000-8002 9/SCTP",
            r#"VOLUME ["/data", "/logs"]"#,
            "VOLUME /x /y",
            "STOPSIGNAL SIGKILL",
        ]);
        assert_eq!(c.user, "app:app");
        let ports: Vec<_> = c.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(
            ports,
            s(&["53/udp", "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp", "9/sctp"])
        );
        let vols: Vec<_> = c.volumes.unwrap().into_keys().collect();
        assert_eq!(vols, s(&["/data", "/logs", "/x", "/y"]));
        assert_eq!(c.stop_signal.as_deref(), Some("SIGKILL"));
        assert_eq!(apply(&["STOPSIGNAL 9"]).stop_signal.as_deref(), Some("9"));
        assert_eq!(
            apply(&["stopsignal rtmin+3"]).stop_signal.as_deref(),
            Some("rtmin+3")
        );
    }

    #[test]
    fn changes_labels_with_quotes() {
        let c = apply(&[
            r#"LABEL a=b "c d"="e f" g='h i'"#,
            "LABEL legacy form value",
        ]);
        let l = c.labels.unwrap();
        assert_eq!(l["a"], "b");
        assert_eq!(l["c d"], "e f");
        assert_eq!(l["g"], "h i");
        assert_eq!(l["legacy"], "form value");
    }

    #[test]
    fn changes_onbuild_and_healthcheck() {
        let c = apply(&["ONBUILD RUN make", "onbuild COPY . /src"]);
        assert_eq!(c.extra["OnBuild"], json!(["RUN make", "COPY . /src"]));
        let c = apply(&["HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://x/"]);
        assert_eq!(
            c.extra["Healthcheck"],
            json!({"Test": ["CMD-SHELL", "curl -f http://x/"], "Interval": 30_000_000_000u64, "Retries": 3})
        );
        let c = apply(&[r#"HEALTHCHECK --timeout=1m30s CMD ["true"]"#]);
        assert_eq!(
            c.extra["Healthcheck"],
            json!({"Test": ["CMD", "true"], "Timeout": 90_000_000_000u64})
        );
        assert_eq!(
            apply(&["HEALTHCHECK NONE"]).extra["Healthcheck"],
            json!({"Test": ["NONE"]})
        );
    }

    #[test]
    fn changes_multiline_and_blank_instructions() {
        let c = apply(&["", "# comment\nENV A=1 \\\n  B=2\nUSER u"]);
        assert_eq!(c.env, Some(s(&["A=1", "B=2"])));
        assert_eq!(c.user, "u");
    }

    #[test]
    fn changes_refuse_other_instructions() {
        assert!(fail(&["RUN echo"]).contains("RUN is not a valid change command"));
        assert!(fail(&["from busybox"]).contains("FROM is not a valid change command"));
        assert!(fail(&["COPY a b"]).contains("not a valid change command"));
        assert!(fail(&["FOO bar"]).contains("unknown instruction: FOO"));
        let e = fail(&["USER ok", "ADD x y"]);
        assert!(e.contains("\"ADD x y\""), "{e}");
    }

    #[test]
    fn changes_report_malformed_arguments() {
        assert!(fail(&[r#"CMD ["sh", ]"#]).contains("malformed JSON array"));
        assert!(fail(&[r#"ENTRYPOINT ["a", 1]"#]).contains("malformed JSON array"));
        assert!(fail(&[r#"VOLUME ["/x""#]).contains("malformed JSON array"));
        assert!(fail(&["CMD"]).contains("CMD requires an argument"));
        assert!(fail(&["ENV A"]).contains("needs a value"));
        assert!(fail(&["ENV"]).contains("requires at least one argument"));
        assert!(fail(&["ENV A=1 B"]).contains("can't find ="));
        assert!(fail(&["ENV =x"]).contains("names can not be blank"));
        assert!(fail(&["ENV A=\"x"]).contains("unmatched"));
        assert!(fail(&["ENV A=${B"]).contains("missing '}'"));
        assert!(fail(&["LABEL =x"]).contains("LABEL names can not be blank"));
        assert!(fail(&["EXPOSE"]).contains("at least one port"));
        assert!(fail(&["EXPOSE 70000"]).contains("1 to 65535"));
        assert!(fail(&["EXPOSE 0"]).contains("1 to 65535"));
        assert!(fail(&["EXPOSE http"]).contains("invalid port"));
        assert!(fail(&["EXPOSE 80/icmp"]).contains("invalid proto"));
        assert!(fail(&["EXPOSE 90-80"]).contains("below the start"));
        assert!(fail(&["EXPOSE 8080:80"]).contains("host mappings"));
        assert!(fail(&["USER"]).contains("exactly one"));
        assert!(fail(&["USER a b"]).contains("exactly one"));
        assert!(fail(&["WORKDIR"]).contains("requires a path"));
        assert!(fail(&["VOLUME"]).contains("at least one path"));
        assert!(fail(&[r#"VOLUME [""]"#]).contains("empty string"));
        assert!(fail(&["STOPSIGNAL SIGFOO"]).contains("invalid signal"));
        assert!(fail(&["STOPSIGNAL 0"]).contains("invalid signal"));
        assert!(fail(&["ONBUILD"]).contains("requires an instruction"));
        assert!(fail(&["ONBUILD ONBUILD RUN x"]).contains("isn't allowed"));
        assert!(fail(&["ONBUILD FROM x"]).contains("isn't allowed"));
        assert!(fail(&["ONBUILD BOGUS x"]).contains("unknown instruction"));
        assert!(fail(&["HEALTHCHECK --interval=5 CMD x"]).contains("not a duration"));
        assert!(fail(&["HEALTHCHECK --interval=1us CMD x"]).contains("less than 1ms"));
        assert!(fail(&["HEALTHCHECK --bogus=1 CMD x"]).contains("unknown HEALTHCHECK option"));
        assert!(fail(&["HEALTHCHECK --retries=x CMD x"]).contains("not a number"));
        assert!(fail(&["HEALTHCHECK --timeout=3s NONE"]).contains("options cannot"));
        assert!(fail(&["HEALTHCHECK CMD"]).contains("requires a command"));
        assert!(fail(&["HEALTHCHECK"]).contains("takes NONE"));
    }

    #[test]
    fn changes_go_durations() {
        assert_eq!(go_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(go_duration("300ms"), Some(300_000_000));
        assert_eq!(go_duration("2h45m"), Some(9_900_000_000_000));
        assert_eq!(go_duration("0"), Some(0));
        assert_eq!(go_duration(""), None);
        assert_eq!(go_duration("5"), None);
        assert_eq!(go_duration("5d"), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(3000))]

        #[test]
        fn changes_never_panic(
            keyword in proptest::sample::select(DOCKERFILE_INSTRUCTIONS),
            rest in proptest::collection::vec(
                proptest::sample::select(" \t\n\\'\"$={}[]:-+/.,aAzZ09_#µ".chars().collect::<Vec<_>>()),
                0..30,
            ),
        ) {
            let line = format!("{keyword} {}", rest.into_iter().collect::<String>());
            let mut c = ContainerConfig::default();
            let _ = apply_changes(&mut c, &[line]);
        }
    }
}
