//! Executing a parsed template against a JSON value, with Go's printing rules and the functions
//! docker adds (`json`, `join`, `split`, `upper`, `lower`, `title`, `pad`, `truncate`,
//! `println`) plus text/template's builtins (`index`, `len`, `eq`, `ne`, `lt`, `le`, `gt`,
//! `ge`, `not`, `and`, `or`, `print`, `printf`).

use super::parse::{Arg, Node, Pipe};
use crate::value::V;

/// Formatter rows keep `.Label "key"`'s data under this key; `json` leaves it out.
pub const LABELS_KEY: &str = "__labels";

struct Ctx<'a> {
    root: &'a V,
    vars: Vec<(String, V)>,
}

pub fn execute(nodes: &[Node], data: &V) -> Result<String, String> {
    // `$` is `root`, looked up apart from the declared variables (no copy of the data).
    let mut ctx = Ctx {
        root: data,
        vars: Vec::new(),
    };
    let mut out = String::new();
    run(&mut ctx, nodes, data, &mut out)?;
    Ok(out)
}

fn run(ctx: &mut Ctx, nodes: &[Node], dot: &V, out: &mut String) -> Result<(), String> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(pipe) => {
                let v = eval_pipe(ctx, pipe, dot)?;
                if pipe.decl.is_empty() {
                    out.push_str(&v.go_string());
                } else {
                    ctx.vars.push((pipe.decl[0].clone(), v));
                }
            }
            Node::If(pipe, body, else_body) => {
                let v = eval_pipe(ctx, pipe, dot)?;
                let depth = ctx.vars.len();
                if v.truthy() {
                    run(ctx, body, dot, out)?;
                } else {
                    run(ctx, else_body, dot, out)?;
                }
                ctx.vars.truncate(depth);
            }
            Node::With(pipe, body, else_body) => {
                let v = eval_pipe(ctx, pipe, dot)?;
                let depth = ctx.vars.len();
                if v.truthy() {
                    run(ctx, body, &v, out)?;
                } else {
                    run(ctx, else_body, dot, out)?;
                }
                ctx.vars.truncate(depth);
            }
            Node::Range(pipe, body, else_body) => {
                let v = eval_pipe(ctx, pipe, dot)?;
                let entries: Vec<(V, V)> = match &v {
                    V::Arr(items) => items
                        .iter()
                        .enumerate()
                        .map(|(i, x)| (V::Int(i as i64), x.clone()))
                        .collect(),
                    // Go ranges over maps in key order.
                    V::Obj(members) => {
                        let mut m: Vec<(V, V)> = members
                            .iter()
                            .map(|(k, x)| (V::Str(k.clone()), x.clone()))
                            .collect();
                        m.sort_by(|a, b| a.0.str().cmp(b.0.str()));
                        m
                    }
                    V::Null => Vec::new(),
                    V::Int(n) => (0..*n).map(|i| (V::Int(i), V::Int(i))).collect(),
                    other => return Err(format!("range can't iterate over {}", other.go_string())),
                };
                if entries.is_empty() {
                    run(ctx, else_body, dot, out)?;
                    continue;
                }
                for (key, elem) in entries {
                    let depth = ctx.vars.len();
                    match pipe.decl.as_slice() {
                        [] => {}
                        [v] => ctx.vars.push((v.clone(), elem.clone())),
                        [k, v, ..] => {
                            ctx.vars.push((k.clone(), key));
                            ctx.vars.push((v.clone(), elem.clone()));
                        }
                    }
                    run(ctx, body, &elem, out)?;
                    ctx.vars.truncate(depth);
                }
            }
        }
    }
    Ok(())
}

fn eval_pipe(ctx: &mut Ctx, pipe: &Pipe, dot: &V) -> Result<V, String> {
    let mut last: Option<V> = None;
    for cmd in &pipe.cmds {
        last = Some(eval_cmd(ctx, cmd, dot, last)?);
    }
    Ok(last.unwrap_or(V::Null))
}

fn eval_cmd(ctx: &mut Ctx, cmd: &[Arg], dot: &V, piped: Option<V>) -> Result<V, String> {
    match &cmd[0] {
        Arg::Func(name) => {
            let mut args = Vec::with_capacity(cmd.len());
            for a in &cmd[1..] {
                args.push(eval_arg(ctx, a, dot)?);
            }
            if let Some(p) = piped {
                args.push(p);
            }
            call(name, args)
        }
        // `.Label "key"`: the one method docker's formatters take arguments for.
        Arg::Field(path) if cmd.len() > 1 || piped.is_some() => {
            let (name, parent) = path
                .split_last()
                .ok_or("can't give argument to non-function .")?;
            let holder = walk_ref(dot, parent)?;
            let mut args = Vec::new();
            for a in &cmd[1..] {
                args.push(eval_arg(ctx, a, dot)?);
            }
            args.extend(piped);
            match holder.lookup(LABELS_KEY) {
                // Like docker's Label(), a missing label is an empty string.
                Some(labels) if name == "Label" => Ok(V::from(
                    labels.get(args.first().map_or("", |a| a.str())).str(),
                )),
                _ if holder.lookup(name).is_some_and(|v| matches!(v, V::Str(_)))
                    && name == "Label" =>
                {
                    Ok(holder.get(name).clone())
                }
                _ => Err(format!(
                    "can't give argument to non-function .{}",
                    path.join(".")
                )),
            }
        }
        _ => {
            if cmd.len() > 1 || piped.is_some() {
                return Err("can't give argument to non-function".into());
            }
            eval_arg(ctx, &cmd[0], dot)
        }
    }
}

fn eval_arg(ctx: &mut Ctx, arg: &Arg, dot: &V) -> Result<V, String> {
    Ok(match arg {
        Arg::Field(path) => walk(dot, path)?,
        Arg::Var(name, path) => {
            let base = if name == "$" {
                ctx.root
            } else {
                ctx.vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v)
                    .ok_or_else(|| format!("undefined variable: {name}"))?
            };
            walk(base, path)?
        }
        Arg::Str(s) => V::Str(s.clone()),
        Arg::Int(i) => V::Int(*i),
        Arg::Float(f) => V::Float(*f),
        Arg::Bool(b) => V::Bool(*b),
        Arg::Nil => V::Null,
        Arg::Func(name) => call(name, Vec::new())?,
        Arg::Sub(pipe, path) => {
            let v = eval_pipe(ctx, pipe, dot)?;
            walk(&v, path)?
        }
    })
}

/// Follows `.A.B` from `v`. A missing key gives nil, as for Go maps.
fn walk(v: &V, path: &[String]) -> Result<V, String> {
    walk_ref(v, path).cloned()
}

/// [`walk`] without copying: a table row is walked once per column, and only the value found
/// is worth a copy.
fn walk_ref<'v>(v: &'v V, path: &[String]) -> Result<&'v V, String> {
    let mut cur = v;
    for name in path {
        cur = match cur {
            V::Obj(_) => cur.get(name),
            V::Null => &crate::value::NULL,
            other => {
                return Err(format!(
                    "can't evaluate field {name} in type {}",
                    type_name(other)
                ))
            }
        };
    }
    Ok(cur)
}

fn type_name(v: &V) -> &'static str {
    match v {
        V::Null => "interface {}",
        V::Bool(_) => "bool",
        V::Int(_) => "int",
        V::Float(_) => "float64",
        V::Str(_) => "string",
        V::Arr(_) => "[]interface {}",
        V::Obj(_) => "map[string]interface {}",
    }
}

/// Text for function arguments: strings as they are, anything else Go-printed.
fn text(v: &V) -> String {
    match v {
        V::Str(s) => s.clone(),
        V::Null => "<nil>".into(),
        other => other.go_string(),
    }
}

fn want(name: &str, args: &[V], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ));
    }
    Ok(())
}

fn call(name: &str, args: Vec<V>) -> Result<V, String> {
    Ok(match name {
        "json" => {
            want(name, &args, 1)?;
            V::Str(strip_private(&args[0]).to_json())
        }
        "upper" => {
            want(name, &args, 1)?;
            V::Str(text(&args[0]).to_uppercase())
        }
        "lower" => {
            want(name, &args, 1)?;
            V::Str(text(&args[0]).to_lowercase())
        }
        "title" => {
            want(name, &args, 1)?;
            let mut out = String::new();
            let mut start = true;
            for c in text(&args[0]).chars() {
                if start {
                    out.extend(c.to_uppercase());
                } else {
                    out.push(c);
                }
                start = c.is_whitespace();
            }
            V::Str(out)
        }
        "split" => {
            want(name, &args, 2)?;
            V::Arr(
                text(&args[0])
                    .split(text(&args[1]).as_str())
                    .map(V::from)
                    .collect(),
            )
        }
        "join" => {
            want(name, &args, 2)?;
            let parts: Vec<String> = args[0].items().iter().map(text).collect();
            V::Str(parts.join(&text(&args[1])))
        }
        "truncate" => {
            want(name, &args, 2)?;
            let n = args[1].i64().max(0) as usize;
            V::Str(text(&args[0]).chars().take(n).collect())
        }
        "pad" => {
            want(name, &args, 3)?;
            let (l, r) = (args[1].i64().max(0) as usize, args[2].i64().max(0) as usize);
            V::Str(format!(
                "{}{}{}",
                " ".repeat(l),
                text(&args[0]),
                " ".repeat(r)
            ))
        }
        "len" => {
            want(name, &args, 1)?;
            V::Int(match &args[0] {
                V::Str(s) => s.len(),
                V::Arr(a) => a.len(),
                V::Obj(m) => m.len(),
                V::Null => 0,
                other => return Err(format!("len of type {}", type_name(other))),
            } as i64)
        }
        "index" => {
            let (first, keys) = args
                .split_first()
                .ok_or("wrong number of args for index: want at least 1 got 0")?;
            let mut cur = first.clone();
            for k in keys {
                cur = match (&cur, k) {
                    (V::Obj(_), key) => cur.get(&text(key)).clone(),
                    (V::Arr(items), V::Int(i)) => items
                        .get(*i as usize)
                        .cloned()
                        .ok_or_else(|| format!("error calling index: index out of range: {i}"))?,
                    (V::Null, _) => V::Null,
                    (other, _) => {
                        return Err(format!(
                            "error calling index: can't index item of type {}",
                            type_name(other)
                        ))
                    }
                };
            }
            cur
        }
        "not" => {
            want(name, &args, 1)?;
            V::Bool(!args[0].truthy())
        }
        "and" => args
            .iter()
            .find(|a| !a.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(V::Null),
        "or" => args
            .iter()
            .find(|a| a.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(V::Null),
        "eq" => {
            let (first, rest) = args
                .split_first()
                .ok_or("missing arguments for comparison")?;
            V::Bool(rest.iter().any(|r| same(first, r)))
        }
        "ne" => {
            want(name, &args, 2)?;
            V::Bool(!same(&args[0], &args[1]))
        }
        "lt" | "le" | "gt" | "ge" => {
            want(name, &args, 2)?;
            let ord = compare(&args[0], &args[1]).ok_or("incompatible types for comparison")?;
            V::Bool(match name {
                "lt" => ord.is_lt(),
                "le" => ord.is_le(),
                "gt" => ord.is_gt(),
                _ => ord.is_ge(),
            })
        }
        "print" => V::Str(go_print(&args)),
        "println" => V::Str(args.iter().map(text).collect::<Vec<_>>().join(" ") + "\n"),
        "printf" => {
            let (fmt, rest) = args
                .split_first()
                .ok_or("wrong number of args for printf")?;
            V::Str(printf(&text(fmt), rest))
        }
        _ => return Err(format!("function {name:?} not defined")),
    })
}

/// Drops the formatter's private keys before `json`.
fn strip_private(v: &V) -> V {
    match v {
        V::Obj(m) => V::Obj(m.iter().filter(|(k, _)| k != LABELS_KEY).cloned().collect()),
        other => other.clone(),
    }
}

fn number(v: &V) -> Option<f64> {
    match v {
        V::Int(i) => Some(*i as f64),
        V::Float(f) => Some(*f),
        _ => None,
    }
}

fn same(a: &V, b: &V) -> bool {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn compare(a: &V, b: &V) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (V::Str(x), V::Str(y)) => Some(x.cmp(y)),
        _ => number(a)?.partial_cmp(&number(b)?),
    }
}

/// Go's `fmt.Sprint`: spaces only between operands when neither is a string.
fn go_print(args: &[V]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, V::Str(_)) && !matches!(args[i - 1], V::Str(_)) {
            out.push(' ');
        }
        out.push_str(&text(a));
    }
    out
}

/// A small `fmt.Sprintf`: %s %v %d %q %t %%, with an optional width (`%-10s`).
fn printf(fmt: &str, args: &[V]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&n) = chars.peek() {
            if n == '-' || n.is_ascii_digit() {
                spec.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let s = match verb {
            'q' => format!("{:?}", text(arg)),
            _ => text(arg),
        };
        let left = spec.starts_with('-');
        let width: usize = spec.trim_start_matches('-').parse().unwrap_or(0);
        let pad = width.saturating_sub(s.chars().count());
        if left {
            out.push_str(&s);
            out.push_str(&" ".repeat(pad));
        } else {
            out.push_str(&" ".repeat(pad));
            out.push_str(&s);
        }
    }
    out
}
