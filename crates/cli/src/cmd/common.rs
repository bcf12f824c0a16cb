//! Helpers several commands share: `--filter` values, env and label files, confirmation
//! prompts, and commands that act on several objects and report each failure.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use crate::error::{Error, Result};

/// `-f key=value` (repeatable) to the API's `filters` JSON, `{"key":{"value":true}}`, or None.
pub fn filters_json(values: &[String]) -> Result<Option<String>> {
    if values.is_empty() {
        return Ok(None);
    }
    let mut map: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    for v in values {
        let (k, val) = v.split_once('=').ok_or_else(|| {
            Error::client(format!("bad format of filter (expected name=value): {v}"))
        })?;
        map.entry(k.trim().to_lowercase())
            .or_default()
            .insert(val.trim().to_string(), true);
    }
    Ok(Some(
        serde_json::to_string(&map).expect("filters serialize"),
    ))
}

/// Where a bare `KEY` in an env file gets its value (the process environment, in practice).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// docker's `parseKeyValueFile`: `KEY=VALUE` lines (leading blanks dropped), `#` comments and
/// empty lines skipped. A bare `KEY` takes its value from `lookup` and is dropped when that has
/// none; without a lookup (label files) it stays bare.
pub fn parse_kv_file(path: &str, lookup: Option<EnvLookup>) -> Result<Vec<String>> {
    let data = std::fs::read(path).map_err(|e| Error::io(format!("open {path}"), e))?;
    let text = String::from_utf8(data)
        .map_err(|_| Error::client(format!("env file {path} contains invalid utf8 bytes")))?;
    parse_kv_lines(path, &text, lookup)
}

pub fn parse_kv_lines(path: &str, text: &str, lookup: Option<EnvLookup>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        if key.is_empty() {
            return Err(Error::client(format!("no variable name on line '{line}'")));
        }
        if key.contains(char::is_whitespace) {
            return Err(Error::client(format!(
                "variable '{}' contains whitespaces (line {} of {path})",
                key.trim_end(),
                n + 1
            )));
        }
        match (value, lookup) {
            (Some(_), _) => out.push(line.to_string()),
            (None, Some(lookup)) => {
                if let Some(v) = lookup(key) {
                    out.push(format!("{key}={v}"));
                }
            }
            (None, None) => out.push(key.to_string()),
        }
    }
    Ok(out)
}

/// Asks on stdout and reads the answer from stdin; anything but y/Y (or EOF) declines.
pub fn confirm(question: &str) -> bool {
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    // A piped answer counts too (`echo y | berth system prune`), as with docker.
    let stdin = std::io::stdin();
    let mut line = String::new();
    if stdin.lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim(), "y" | "Y" | "yes")
}

/// Runs `op` on each name; prints what `op` returns on stdout and each error on stderr, and
/// fails (exit 125) at the end if any did.
pub fn for_each(
    names: &[String],
    mut op: impl FnMut(&str) -> Result<Option<String>>,
) -> Result<i32> {
    let mut failed = false;
    for name in names {
        match op(name) {
            Ok(Some(line)) => println!("{line}"),
            Ok(None) => {}
            Err(e) => {
                let _ = std::io::stdout().flush();
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        Err(Error::Exit(125))
    } else {
        Ok(0)
    }
}

/// `network inspect`/`volume inspect`: GETs each object at `paths`, prints them as `--format`
/// asks (a template per object, `json` as docker's one-line array, else its indented array),
/// then the errors; exit 1 if any.
pub fn inspect_each(
    ctx: &super::Ctx,
    paths: impl Iterator<Item = String>,
    query: &crate::client::Query,
    format: &str,
) -> Result<i32> {
    use crate::template::Template;
    use crate::value::V;
    let template = match format {
        "" | "json" => None,
        f => Some(Template::parse(f).map_err(Error::client)?),
    };
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match ctx.client.get_json(&path, query) {
            Ok(v) => found.push(v),
            Err(e) => errors.push(e),
        }
    }
    let text = match (&template, format) {
        (Some(t), _) => {
            let mut text = String::new();
            for v in &found {
                text.push_str(&t.execute(v).map_err(Error::client)?);
                text.push('\n');
            }
            text
        }
        (None, "json") => format!("{}\n", V::Arr(found).to_json()),
        (None, _) => format!("{}\n", V::Arr(found).to_json_pretty("    ")),
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| Error::io("writing output", e))?;
    drop(out);
    if errors.is_empty() {
        return Ok(0);
    }
    for e in &errors {
        eprintln!("{e}");
    }
    Err(Error::Exit(1))
}

/// docker's network and volume commands: an error is printed and the exit status is 1 (usage
/// errors and explicit exits pass through).
pub fn exit_one(r: Result<i32>) -> Result<i32> {
    match r {
        Err(e @ (Error::Usage { .. } | Error::Exit(_))) => Err(e),
        Err(e) => {
            let _ = std::io::stdout().flush();
            eprintln!("{e}");
            Err(Error::Exit(1))
        }
        ok => ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_encode_as_sets() {
        assert_eq!(filters_json(&[]).unwrap(), None);
        let f = filters_json(&[
            "status=exited".into(),
            "label=a=b".into(),
            "status=created".into(),
        ])
        .unwrap();
        assert_eq!(
            f.unwrap(),
            r#"{"label":{"a=b":true},"status":{"created":true,"exited":true}}"#
        );
        assert!(filters_json(&["nokey".into()]).is_err());
    }

    #[test]
    fn env_files_parse_like_docker() {
        let lookup = |k: &str| (k == "HOME_SET").then(|| "/root".to_string());
        let text = "\u{feff}# comment\n\n  A=1\nB=two words\nHOME_SET\nUNSET_VAR\nC=\nD=x=y\n";
        let got = parse_kv_lines("f", text, Some(&lookup)).unwrap();
        assert_eq!(got, ["A=1", "B=two words", "HOME_SET=/root", "C=", "D=x=y"]);
        let labels = parse_kv_lines("f", "a=1\nbare\n", None).unwrap();
        assert_eq!(labels, ["a=1", "bare"]);
        assert!(parse_kv_lines("f", "BAD KEY=1\n", None)
            .unwrap_err()
            .to_string()
            .contains("contains whitespaces"));
        assert!(parse_kv_lines("f", "=x\n", None).is_err());
    }
}
