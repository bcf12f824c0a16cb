//! Dockerfile words: splitting on unquoted whitespace, then removing quotes and escapes and
//! expanding `$VAR`, `${VAR}`, `${VAR:-default}` and `${VAR:+alt}`, as Docker's shell lexer does.

use std::collections::BTreeMap;

use super::Res;

/// Splits on unquoted whitespace, keeping quotes and escapes for [`process_word`].
pub(super) fn raw_words(s: &str) -> Res<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        match (quote, ch) {
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
                continue;
            }
            (Some('\''), '\'') | (Some('"'), '"') => quote = None,
            (None, '\'' | '"') => quote = Some(ch),
            (q, '\\') if q != Some('\'') => {
                cur.push(ch);
                if let Some(next) = chars.next() {
                    cur.push(next);
                }
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    if let Some(q) = quote {
        return Err(format!("unmatched {q} quote in {s:?}"));
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    Ok(words)
}

pub(super) fn processed_words(s: &str, env: &BTreeMap<String, String>) -> Res<Vec<String>> {
    raw_words(s)?.iter().map(|w| process_word(w, env)).collect()
}

/// The byte index of the first `=` outside quotes.
pub(super) fn unquoted_eq(w: &str) -> Option<usize> {
    let mut quote = None;
    let mut escaped = false;
    for (i, ch) in w.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match (quote, ch) {
            (q, '\\') if q != Some('\'') => escaped = true,
            (None, '\'' | '"') => quote = Some(ch),
            (Some(q), c) if q == c => quote = None,
            (None, '=') => return Some(i),
            _ => {}
        }
    }
    None
}

/// Removes quotes and escapes and expands variables, as Docker's shell lexer does for one word.
pub(super) fn process_word(w: &str, env: &BTreeMap<String, String>) -> Res<String> {
    let chars: Vec<char> = w.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\'' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&c| c == '\'')
                    .ok_or_else(|| format!("unmatched ' quote in {w:?}"))?;
                out.extend(&chars[i + 1..i + 1 + end]);
                i += end + 2;
            }
            '"' => {
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(format!("unmatched \" quote in {w:?}")),
                        Some('"') => break,
                        Some('\\') if matches!(chars.get(i + 1), Some('"' | '\\' | '$')) => {
                            out.push(chars[i + 1]);
                            i += 2;
                        }
                        Some('$') => i = expand(&chars, i, env, &mut out)?,
                        Some(&c) => {
                            out.push(c);
                            i += 1;
                        }
                    }
                }
                i += 1;
            }
            '\\' => {
                if let Some(&c) = chars.get(i + 1) {
                    out.push(c);
                }
                i += 2;
            }
            '$' => i = expand(&chars, i, env, &mut out)?,
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Expands the variable at `chars[i] == '$'`, returning the index after it.
fn expand(
    chars: &[char],
    i: usize,
    env: &BTreeMap<String, String>,
    out: &mut String,
) -> Res<usize> {
    let is_start = |c: char| c.is_ascii_alphabetic() || c == '_';
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    match chars.get(i + 1) {
        Some(&c) if is_start(c) => {
            let len = chars[i + 1..].iter().take_while(|&&c| is_name(c)).count();
            let name: String = chars[i + 1..i + 1 + len].iter().collect();
            out.push_str(env.get(&name).map_or("", String::as_str));
            Ok(i + 1 + len)
        }
        Some('{') => {
            let close = chars[i + 2..]
                .iter()
                .position(|&c| c == '}')
                .ok_or("missing '}' in a ${...} expansion")?;
            let inner: String = chars[i + 2..i + 2 + close].iter().collect();
            let (name, op, word) = match inner.find(':') {
                Some(p) => (
                    &inner[..p],
                    inner.get(p + 1..p + 2),
                    &inner[(p + 2).min(inner.len())..],
                ),
                None => (inner.as_str(), None, ""),
            };
            if name.is_empty() || !name.starts_with(is_start) || !name.chars().all(is_name) {
                return Err(format!("bad substitution ${{{inner}}}"));
            }
            let value = env.get(name).filter(|v| !v.is_empty());
            match op {
                None => out.push_str(value.map_or("", String::as_str)),
                Some("-") => match value {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&process_word(word, env)?),
                },
                Some("+") => {
                    if value.is_some() {
                        out.push_str(&process_word(word, env)?);
                    }
                }
                Some(op) => {
                    return Err(format!(
                        "unsupported modifier ({op}) in substitution ${{{inner}}}"
                    ))
                }
            }
            Ok(i + 3 + close)
        }
        _ => {
            out.push('$');
            Ok(i + 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_words_split_quote_and_expand() {
        let env: BTreeMap<String, String> = [("A".to_string(), "1".to_string())].into();
        let w = raw_words(r#"a "b c" 'd e'  f\ g"#).unwrap();
        assert_eq!(w, [r#"a"#, r#""b c""#, "'d e'", r#"f\ g"#]);
        let p: Vec<String> = w.iter().map(|w| process_word(w, &env).unwrap()).collect();
        assert_eq!(p, ["a", "b c", "d e", "f g"]);
        assert_eq!(
            process_word("$A${A}'$A'\\$A\"$A\"", &env).unwrap(),
            "11$A$A1"
        );
        assert_eq!(process_word("x$", &env).unwrap(), "x$");
        assert_eq!(
            process_word("${A:-z}${B:-z}${A:+y}${B:+y}", &env).unwrap(),
            "1zy"
        );
        assert!(process_word("${1x}", &env)
            .unwrap_err()
            .contains("bad substitution"));
        assert!(process_word("${A:?x}", &env)
            .unwrap_err()
            .contains("unsupported modifier"));
        assert_eq!(unquoted_eq(r#""a=b"=c"#), Some(5));
        assert_eq!(unquoted_eq(r#"a\=b"#), None);
        assert!(raw_words("'open").is_err());
    }
}
