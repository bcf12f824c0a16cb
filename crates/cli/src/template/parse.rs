//! Parsing a Go text/template subset into a tree: text, `{{pipeline}}` actions with
//! `{{-`/`-}}` trimming, comments, `if`/`else if`/`else`, `range` (with `$k, $v :=`), `with`,
//! `end`, pipelines joined by `|`, fields (`.A.B`), variables (`$`, `$x.A`), string, number
//! and bool literals, functions and parenthesised sub-pipelines.

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Text(String),
    Action(Pipe),
    If(Pipe, Vec<Node>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
    With(Pipe, Vec<Node>, Vec<Node>),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pipe {
    /// Variables declared by `$x :=` (or `$k, $v :=` in range).
    pub decl: Vec<String>,
    pub cmds: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// `.` or `.A.B`: fields from dot.
    Field(Vec<String>),
    /// `$name.A.B` (`$` alone is the root data).
    Var(String, Vec<String>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    Func(String),
    Sub(Box<Pipe>, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Str(String),
    Num(String),
    Ident(String),
    Open,
    Close,
    Pipe,
    Comma,
    Declare,
}

/// One piece of the source before the tree is built.
enum Item {
    Text(String),
    Action(Vec<Tok>),
    Comment,
}

pub fn parse(src: &str) -> Result<Vec<Node>, String> {
    let items = split(src)?;
    let mut pos = 0;
    let (nodes, end) = parse_list(&items, &mut pos)?;
    match end {
        None => Ok(nodes),
        Some(kw) => Err(format!("unexpected {{{{{kw}}}}}")),
    }
}

/// Splits text from actions, applying trim markers.
fn split(src: &str) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while let Some(open) = rest.find("{{") {
        let mut text = rest[..open].to_string();
        if trim_next {
            text = text.trim_start().to_string();
        }
        let mut inner_start = open + 2;
        if rest[inner_start..].starts_with("- ")
            || rest[inner_start..].starts_with("-\t")
            || rest[inner_start..].starts_with("-\n")
        {
            text = text.trim_end().to_string();
            inner_start += 1;
        }
        if !text.is_empty() {
            items.push(Item::Text(text));
        }
        let after = &rest[inner_start..];
        let close = find_close(after).ok_or("unclosed action")?;
        let mut inner = &after[..close];
        trim_next = false;
        if inner.ends_with(" -") || inner.ends_with("\t-") || inner.ends_with("\n-") {
            inner = &inner[..inner.len() - 1];
            trim_next = true;
        }
        let trimmed = inner.trim();
        if trimmed.starts_with("/*") {
            if !trimmed.ends_with("*/") {
                return Err("unclosed comment".into());
            }
            items.push(Item::Comment);
        } else {
            items.push(Item::Action(lex(trimmed)?));
        }
        rest = &after[close + 2..];
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    if !text.is_empty() {
        items.push(Item::Text(text.to_string()));
    }
    Ok(items)
}

/// The `}}` closing an action, skipping any inside string literals.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        match quote {
            Some(q) => {
                if b[i] == b'\\' && q == b'"' {
                    i += 1;
                } else if b[i] == q {
                    quote = None;
                }
            }
            None => {
                if b[i] == b'"' || b[i] == b'`' {
                    quote = Some(b[i]);
                } else if b[i..].starts_with(b"}}") {
                    return Some(i);
                }
            }
        }
        i += 1;
    }
    None
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    // Reads `.A.B.C` starting at a dot.
    let fields = |i: &mut usize| -> Vec<String> {
        let mut out = Vec::new();
        while *i < chars.len() && chars[*i] == '.' {
            let start = *i + 1;
            let mut j = start;
            while j < chars.len() && is_ident(chars[j]) {
                j += 1;
            }
            if j == start {
                break;
            }
            out.push(chars[start..j].iter().collect());
            *i = j;
        }
        out
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                toks.push(Tok::Open);
                i += 1;
            }
            ')' => {
                toks.push(Tok::Close);
                i += 1;
                if i < chars.len() && chars[i] == '.' {
                    let f = fields(&mut i);
                    toks.push(Tok::Field(f));
                }
            }
            '|' => {
                toks.push(Tok::Pipe);
                i += 1;
            }
            ',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                toks.push(Tok::Declare);
                i += 2;
            }
            '=' => {
                toks.push(Tok::Declare);
                i += 1;
            }
            '.' => {
                let f = fields(&mut i);
                if f.is_empty() {
                    i += 1;
                }
                toks.push(Tok::Field(f));
            }
            '$' => {
                let start = i;
                i += 1;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                let f = fields(&mut i);
                toks.push(Tok::Var(name, f));
            }
            '"' => {
                let mut out = String::new();
                i += 1;
                loop {
                    let Some(&ch) = chars.get(i) else {
                        return Err("unterminated quoted string".into());
                    };
                    i += 1;
                    match ch {
                        '"' => break,
                        '\\' => {
                            let esc = *chars.get(i).ok_or("unterminated quoted string")?;
                            i += 1;
                            match esc {
                                'n' => out.push('\n'),
                                't' => out.push('\t'),
                                'r' => out.push('\r'),
                                '\\' => out.push('\\'),
                                '"' => out.push('"'),
                                '\'' => out.push('\''),
                                'u' => {
                                    let hex: String = chars
                                        .get(i..i + 4)
                                        .ok_or("bad \\u escape")?
                                        .iter()
                                        .collect();
                                    let cp = u32::from_str_radix(&hex, 16)
                                        .map_err(|_| "bad \\u escape")?;
                                    out.push(char::from_u32(cp).ok_or("bad \\u escape")?);
                                    i += 4;
                                }
                                other => return Err(format!("unknown escape sequence \\{other}")),
                            }
                        }
                        ch => out.push(ch),
                    }
                }
                toks.push(Tok::Str(out));
            }
            '`' => {
                let start = i + 1;
                let end = chars[start..]
                    .iter()
                    .position(|&c| c == '`')
                    .ok_or("unterminated raw quoted string")?;
                toks.push(Tok::Str(chars[start..start + end].iter().collect()));
                i = start + end + 1;
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+')
                    && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                toks.push(Tok::Num(chars[start..i].iter().collect()));
            }
            c if is_ident(c) => {
                let start = i;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
                toks.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected {other:?} in command")),
        }
    }
    Ok(toks)
}

/// Parses nodes until `{{end}}`/`{{else}}` or the end; returns which keyword stopped it.
/// `else if` comes back as "else if" with the condition pushed back for the caller.
fn parse_list(items: &[Item], pos: &mut usize) -> Result<(Vec<Node>, Option<String>), String> {
    let mut nodes = Vec::new();
    while *pos < items.len() {
        let item = &items[*pos];
        *pos += 1;
        match item {
            Item::Text(t) => nodes.push(Node::Text(t.clone())),
            Item::Comment => {}
            Item::Action(toks) => match toks.first() {
                Some(Tok::Ident(kw)) if kw == "end" => return Ok((nodes, Some("end".into()))),
                Some(Tok::Ident(kw)) if kw == "else" => {
                    if matches!(toks.get(1), Some(Tok::Ident(k)) if k == "if") {
                        // Re-read the condition as the start of a nested if.
                        *pos -= 1;
                        return Ok((nodes, Some("else if".into())));
                    }
                    return Ok((nodes, Some("else".into())));
                }
                Some(Tok::Ident(kw)) if kw == "if" || kw == "range" || kw == "with" => {
                    let kw = kw.clone();
                    let pipe = parse_pipe(&toks[1..])?;
                    nodes.push(parse_block(&kw, pipe, items, pos)?);
                }
                _ => nodes.push(Node::Action(parse_pipe(toks)?)),
            },
        }
    }
    Ok((nodes, None))
}

fn parse_block(kw: &str, pipe: Pipe, items: &[Item], pos: &mut usize) -> Result<Node, String> {
    let (body, end) = parse_list(items, pos)?;
    let else_body = match end.as_deref() {
        Some("end") => Vec::new(),
        Some("else") => {
            let (else_body, end) = parse_list(items, pos)?;
            if end.as_deref() != Some("end") {
                return Err(format!("missing {{{{end}}}} for {kw}"));
            }
            else_body
        }
        Some("else if") => {
            // `{{else if c}}` is `{{else}}{{if c}}…{{end}}` sharing the outer end.
            let Item::Action(toks) = &items[*pos] else {
                unreachable!()
            };
            *pos += 1;
            let cond = parse_pipe(&toks[2..])?;
            vec![parse_block("if", cond, items, pos)?]
        }
        _ => return Err(format!("unexpected EOF: missing {{{{end}}}} for {kw}")),
    };
    Ok(match kw {
        "if" => Node::If(pipe, body, else_body),
        "range" => Node::Range(pipe, body, else_body),
        _ => Node::With(pipe, body, else_body),
    })
}

fn parse_pipe(toks: &[Tok]) -> Result<Pipe, String> {
    let mut pipe = Pipe::default();
    let mut toks = toks;
    // Declarations: `$x :=` or `$k, $v :=`.
    if let Some(at) = toks.iter().position(|t| *t == Tok::Declare) {
        let mut names = Vec::new();
        for t in &toks[..at] {
            match t {
                Tok::Var(n, f) if f.is_empty() => names.push(n.clone()),
                Tok::Comma => {}
                _ => return Err("bad variable declaration".into()),
            }
        }
        pipe.decl = names;
        toks = &toks[at + 1..];
    }
    if toks.is_empty() {
        return Err("missing value for command".into());
    }
    let mut i = 0;
    let mut cmd = Vec::new();
    while i < toks.len() {
        match &toks[i] {
            Tok::Pipe => {
                if cmd.is_empty() {
                    return Err("missing command before |".into());
                }
                pipe.cmds.push(std::mem::take(&mut cmd));
                i += 1;
            }
            _ => {
                let (arg, next) = parse_arg(toks, i)?;
                cmd.push(arg);
                i = next;
            }
        }
    }
    if cmd.is_empty() {
        return Err("missing command after |".into());
    }
    pipe.cmds.push(cmd);
    Ok(pipe)
}

fn parse_arg(toks: &[Tok], i: usize) -> Result<(Arg, usize), String> {
    Ok(match &toks[i] {
        Tok::Field(f) => (Arg::Field(f.clone()), i + 1),
        Tok::Var(n, f) => (Arg::Var(n.clone(), f.clone()), i + 1),
        Tok::Str(s) => (Arg::Str(s.clone()), i + 1),
        Tok::Num(n) => {
            let arg = if let Ok(v) = n.parse::<i64>() {
                Arg::Int(v)
            } else {
                Arg::Float(
                    n.parse::<f64>()
                        .map_err(|_| format!("bad number syntax: {n:?}"))?,
                )
            };
            (arg, i + 1)
        }
        Tok::Ident(id) => (
            match id.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "nil" => Arg::Nil,
                _ => Arg::Func(id.clone()),
            },
            i + 1,
        ),
        Tok::Open => {
            let mut depth = 0;
            let mut j = i;
            loop {
                match toks.get(j) {
                    Some(Tok::Open) => depth += 1,
                    Some(Tok::Close) => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    None => return Err("unclosed left paren".into()),
                    _ => {}
                }
                j += 1;
            }
            let inner = parse_pipe(&toks[i + 1..j])?;
            match toks.get(j + 1) {
                Some(Tok::Field(f)) => (Arg::Sub(Box::new(inner), f.clone()), j + 2),
                _ => (Arg::Sub(Box::new(inner), Vec::new()), j + 1),
            }
        }
        other => return Err(format!("unexpected {other:?} in operand")),
    })
}
