//! Docker-style (pflag) command-line parsing: `-d`, bundled `-dit`, `-e X`, `-eX`, `--name x`,
//! `--name=x`, `--rm=false`, repeatable flags, `--` to end flags. Commands that run something
//! (`run`, `create`) stop at the first positional argument, so the container's own flags are
//! left alone. `--help` prints help generated from the same table.

use std::collections::HashMap;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    /// Takes a value; the string names its type in help (`string`, `list`, `int`, `bytes`…).
    Value(&'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct Flag {
    pub short: Option<char>,
    pub long: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

/// Shorthand constructors keep the command tables readable.
pub const fn bool_flag(short: Option<char>, long: &'static str, help: &'static str) -> Flag {
    Flag {
        short,
        long,
        kind: Kind::Bool,
        help,
    }
}

pub const fn value_flag(
    short: Option<char>,
    long: &'static str,
    ty: &'static str,
    help: &'static str,
) -> Flag {
    Flag {
        short,
        long,
        kind: Kind::Value(ty),
        help,
    }
}

#[derive(Clone, Copy)]
pub struct Spec {
    /// Full command path, e.g. "berth run" or "berth system df".
    pub command: &'static str,
    /// What follows `[OPTIONS]` in the usage line.
    pub args: &'static str,
    pub about: &'static str,
    pub flags: &'static [Flag],
    /// Alternative spellings of a long flag: (alias, canonical).
    pub aliases: &'static [(&'static str, &'static str)],
    pub min_args: usize,
    pub max_args: Option<usize>,
    /// Flags stop at the first positional argument.
    pub stop_at_positional: bool,
}

/// Parsed flags (by long name, every occurrence in order) and positional arguments.
#[derive(Debug, Default)]
pub struct Parsed {
    values: HashMap<&'static str, Vec<String>>,
    pub args: Vec<String>,
    pub help: bool,
}

impl Parsed {
    /// The last value given for a flag.
    pub fn value(&self, long: &str) -> Option<&str> {
        self.values
            .get(long)
            .and_then(|v| v.last())
            .map(String::as_str)
    }

    /// Every value given for a repeatable flag.
    pub fn values(&self, long: &str) -> Vec<String> {
        self.values.get(long).cloned().unwrap_or_default()
    }

    pub fn is_set(&self, long: &str) -> bool {
        self.values.contains_key(long)
    }

    pub fn bool(&self, long: &str) -> bool {
        self.value(long) == Some("true")
    }

    /// A bool flag with a default of true (`--pause`, `--sig-proxy`).
    pub fn bool_or(&self, long: &str, default: bool) -> bool {
        self.value(long).map_or(default, |v| v == "true")
    }

    /// An integer flag; a bad number is a usage error worded as pflag does.
    pub fn int(&self, spec: &Spec, long: &str) -> Result<Option<i64>> {
        match self.value(long) {
            None => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| {
                Error::usage(
                    spec.command,
                    format!("invalid argument {v:?} for \"{}\" flag: strconv.ParseInt: parsing {v:?}: invalid syntax", flag_names(spec, long)),
                )
            }),
        }
    }
}

fn flag_names(spec: &Spec, long: &str) -> String {
    match spec
        .flags
        .iter()
        .find(|f| f.long == long)
        .and_then(|f| f.short)
    {
        Some(c) => format!("-{c}, --{long}"),
        None => format!("--{long}"),
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

pub fn parse(spec: &Spec, argv: &[String]) -> Result<Parsed> {
    let usage = |m: String| Error::usage(spec.command, m);
    let mut p = Parsed::default();
    let mut i = 0;
    let mut only_args = false;
    while i < argv.len() {
        let arg = &argv[i];
        i += 1;
        if only_args || arg == "-" || !arg.starts_with('-') {
            p.args.push(arg.clone());
            if spec.stop_at_positional {
                only_args = true;
            }
            continue;
        }
        if arg == "--" {
            only_args = true;
            continue;
        }
        if let Some(body) = arg.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let name = spec
                .aliases
                .iter()
                .find(|(a, _)| *a == name)
                .map_or(name, |(_, c)| *c);
            let Some(flag) = spec.flags.iter().find(|f| f.long == name) else {
                if name == "help" {
                    p.help = true;
                    continue;
                }
                return Err(usage(format!("unknown flag: --{name}")));
            };
            match flag.kind {
                Kind::Bool => {
                    let v = match inline {
                        None => true,
                        Some(v) => parse_bool(&v).ok_or_else(|| {
                            usage(format!("invalid argument {v:?} for \"{}\" flag: strconv.ParseBool: parsing {v:?}: invalid syntax", flag_names(spec, flag.long)))
                        })?,
                    };
                    p.values.entry(flag.long).or_default().push(v.to_string());
                }
                Kind::Value(_) => {
                    let v = match inline {
                        Some(v) => v,
                        None if i < argv.len() => {
                            i += 1;
                            argv[i - 1].clone()
                        }
                        None => return Err(usage(format!("flag needs an argument: --{name}"))),
                    };
                    p.values.entry(flag.long).or_default().push(v);
                }
            }
            continue;
        }
        // A bundle of shorthands: -dit, -e FOO, -eFOO, -e=FOO.
        let shorts: Vec<char> = arg[1..].chars().collect();
        let mut j = 0;
        while j < shorts.len() {
            let c = shorts[j];
            j += 1;
            let Some(flag) = spec.flags.iter().find(|f| f.short == Some(c)) else {
                if c == 'h' {
                    p.help = true;
                    continue;
                }
                return Err(usage(format!("unknown shorthand flag: '{c}' in {arg}")));
            };
            let rest: String = shorts[j..].iter().collect();
            match flag.kind {
                Kind::Bool => {
                    if let Some(v) = rest.strip_prefix('=') {
                        let b = parse_bool(v).ok_or_else(|| {
                            usage(format!(
                                "invalid argument {v:?} for \"{}\" flag",
                                flag_names(spec, flag.long)
                            ))
                        })?;
                        p.values.entry(flag.long).or_default().push(b.to_string());
                        break;
                    }
                    p.values.entry(flag.long).or_default().push("true".into());
                }
                Kind::Value(_) => {
                    let v = if !rest.is_empty() {
                        rest.strip_prefix('=').unwrap_or(&rest).to_string()
                    } else if i < argv.len() {
                        i += 1;
                        argv[i - 1].clone()
                    } else {
                        return Err(usage(format!("flag needs an argument: '{c}' in {arg}")));
                    };
                    p.values.entry(flag.long).or_default().push(v);
                    break;
                }
            }
        }
    }
    if p.help {
        return Ok(p);
    }
    let n = p.args.len();
    if n < spec.min_args {
        let what = if spec.min_args == 1 {
            "1 argument".to_string()
        } else {
            format!("{} arguments", spec.min_args)
        };
        let msg = if spec.max_args == Some(spec.min_args) {
            format!("'{}' requires exactly {what}", spec.command)
        } else {
            format!("'{}' requires at least {what}", spec.command)
        };
        return Err(usage(msg));
    }
    if let Some(max) = spec.max_args {
        if n > max {
            let msg = match (max, spec.min_args) {
                (0, _) => format!("'{}' accepts no arguments", spec.command),
                (m, n) if m == n => format!(
                    "'{}' requires exactly {m} argument{}",
                    spec.command,
                    if m == 1 { "" } else { "s" }
                ),
                (m, _) => format!(
                    "'{}' requires at most {m} argument{}",
                    spec.command,
                    if m == 1 { "" } else { "s" }
                ),
            };
            return Err(usage(msg));
        }
    }
    Ok(p)
}

/// Help text in docker's layout.
pub fn help(spec: &Spec) -> String {
    let mut out = format!(
        "\nUsage:  {} [OPTIONS]{}{}\n\n{}\n",
        spec.command,
        if spec.args.is_empty() { "" } else { " " },
        spec.args,
        spec.about
    );
    if spec.flags.is_empty() {
        return out;
    }
    out.push_str("\nOptions:\n");
    // Sorted by long name, as docker lists them.
    let mut flags: Vec<&Flag> = spec.flags.iter().collect();
    flags.sort_by_key(|f| f.long);
    let left: Vec<String> = flags
        .iter()
        .map(|f| {
            let short = f.short.map_or("    ".to_string(), |c| format!("-{c}, "));
            let ty = match f.kind {
                Kind::Bool => String::new(),
                Kind::Value(t) => format!(" {t}"),
            };
            format!("  {short}--{}{ty}", f.long)
        })
        .collect();
    let width = left.iter().map(|l| l.len()).max().unwrap_or(0) + 3;
    for (l, f) in left.iter().zip(&flags) {
        out.push_str(&format!("{l:width$}{}\n", f.help));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAGS: &[Flag] = &[
        bool_flag(Some('d'), "detach", "detach"),
        bool_flag(Some('i'), "interactive", "stdin"),
        bool_flag(Some('t'), "tty", "tty"),
        bool_flag(None, "rm", "remove"),
        value_flag(Some('e'), "env", "list", "env"),
        value_flag(None, "name", "string", "name"),
        value_flag(Some('n'), "last", "int", "last"),
        value_flag(None, "network", "network", "network"),
    ];
    const SPEC: Spec = Spec {
        command: "berth run",
        args: "IMAGE [COMMAND] [ARG...]",
        about: "Create and run a new container from an image",
        flags: FLAGS,
        aliases: &[("net", "network")],
        min_args: 1,
        max_args: None,
        stop_at_positional: true,
    };

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn flags_and_positionals() {
        let p = parse(
            &SPEC,
            &argv("-dit --rm=false -eA=1 -e B --name=x --net host img ls -l -d"),
        )
        .unwrap();
        assert!(p.bool("detach") && p.bool("interactive") && p.bool("tty"));
        assert!(!p.bool("rm") && p.is_set("rm"));
        assert_eq!(p.values("env"), ["A=1", "B"]);
        assert_eq!(p.value("name"), Some("x"));
        assert_eq!(p.value("network"), Some("host"));
        assert_eq!(p.args, argv("img ls -l -d"));
        let p = parse(&SPEC, &argv("-n5 -- -img")).unwrap();
        assert_eq!(p.int(&SPEC, "last").unwrap(), Some(5));
        assert_eq!(p.args, ["-img"]);
    }

    #[test]
    fn usage_errors() {
        let err = |s: &str| parse(&SPEC, &argv(s)).unwrap_err().to_string();
        assert_eq!(
            err("--foo img"),
            "berth: unknown flag: --foo\nSee 'berth run --help'."
        );
        assert_eq!(
            err("-x img"),
            "berth: unknown shorthand flag: 'x' in -x\nSee 'berth run --help'."
        );
        assert_eq!(
            parse(&SPEC, &argv("img --name")).unwrap().args,
            ["img", "--name"]
        );
        assert_eq!(
            err("--name"),
            "berth: flag needs an argument: --name\nSee 'berth run --help'."
        );
        assert_eq!(
            err("-d"),
            "berth: 'berth run' requires at least 1 argument\nSee 'berth run --help'."
        );
        assert!(err("--rm=maybe x").contains("invalid argument \"maybe\""));
        assert!(parse(&SPEC, &argv("-n x img"))
            .unwrap()
            .int(&SPEC, "last")
            .is_err());
        assert!(parse(&SPEC, &argv("--help")).unwrap().help);
    }

    #[test]
    fn help_lists_flags() {
        let h = help(&SPEC);
        assert!(h.contains("Usage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]"));
        assert!(h.contains("  -e, --env list"));
        assert!(h.contains("      --rm "));
    }
}
