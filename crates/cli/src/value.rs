//! An order-preserving JSON value for API responses. `inspect` prints objects in the daemon's
//! key order (as `docker inspect` does) and templates print Go-style; `serde_json::Value`
//! would sort keys unless its `preserve_order` feature were switched on for the whole
//! workspace, which would change other crates' output.

use std::fmt::{self, Write as _};

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

#[derive(Debug, Clone, PartialEq)]
pub enum V {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Arr(Vec<V>),
    Obj(Vec<(String, V)>),
}

pub static NULL: V = V::Null;

impl V {
    pub fn parse(bytes: &[u8]) -> serde_json::Result<V> {
        serde_json::from_slice(bytes)
    }

    /// Object member; `Null` when absent or not an object.
    pub fn get(&self, key: &str) -> &V {
        match self {
            V::Obj(members) => members
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or(&NULL),
            _ => &NULL,
        }
    }

    /// Like `get`, but tells an absent key from a null one.
    pub fn lookup(&self, key: &str) -> Option<&V> {
        match self {
            V::Obj(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn str(&self) -> &str {
        match self {
            V::Str(s) => s,
            _ => "",
        }
    }

    pub fn i64(&self) -> i64 {
        match self {
            V::Int(i) => *i,
            V::Float(f) => *f as i64,
            _ => 0,
        }
    }

    pub fn bool(&self) -> bool {
        matches!(self, V::Bool(true))
    }

    pub fn is_null(&self) -> bool {
        matches!(self, V::Null)
    }

    pub fn items(&self) -> &[V] {
        match self {
            V::Arr(items) => items,
            _ => &[],
        }
    }

    pub fn members(&self) -> &[(String, V)] {
        match self {
            V::Obj(m) => m,
            _ => &[],
        }
    }

    /// The strings of an array (non-strings skipped).
    pub fn strings(&self) -> Vec<String> {
        self.items()
            .iter()
            .filter_map(|v| match v {
                V::Str(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    /// Go's truthiness, as `{{if}}` uses it.
    pub fn truthy(&self) -> bool {
        match self {
            V::Null => false,
            V::Bool(b) => *b,
            V::Int(i) => *i != 0,
            V::Float(f) => *f != 0.0,
            V::Str(s) => !s.is_empty(),
            V::Arr(a) => !a.is_empty(),
            V::Obj(m) => !m.is_empty(),
        }
    }

    /// Go's `fmt.Print` rendering: maps as `map[k:v]` with sorted keys, lists as `[a b]`,
    /// nil as `<no value>` (what text/template prints for a missing map value).
    pub fn go_string(&self) -> String {
        let mut out = String::new();
        self.write_go(&mut out, true);
        out
    }

    fn write_go(&self, out: &mut String, top: bool) {
        match self {
            V::Null if top => out.push_str("<no value>"),
            V::Null => out.push_str("<nil>"),
            V::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            V::Int(i) => {
                let _ = write!(out, "{i}");
            }
            V::Float(f) => out.push_str(&go_float(*f)),
            V::Str(s) => out.push_str(s),
            V::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    item.write_go(out, false);
                }
                out.push(']');
            }
            V::Obj(members) => {
                let mut sorted: Vec<&(String, V)> = members.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                out.push_str("map[");
                for (i, (k, v)) in sorted.into_iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_go(out, false);
                }
                out.push(']');
            }
        }
    }

    /// Compact JSON as docker's template `json` function writes it (an encoder with HTML
    /// escaping off, so `<`, `>` and `&` stay as they are).
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out, None, 0);
        out
    }

    /// JSON indented by `indent` per level, as `docker inspect` prints.
    pub fn to_json_pretty(&self, indent: &str) -> String {
        let mut out = String::new();
        self.write_json(&mut out, Some(indent), 0);
        out
    }

    fn write_json(&self, out: &mut String, indent: Option<&str>, depth: usize) {
        let newline = |out: &mut String, depth: usize| {
            if let Some(ind) = indent {
                out.push('\n');
                for _ in 0..depth {
                    out.push_str(ind);
                }
            }
        };
        match self {
            V::Null => out.push_str("null"),
            V::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            V::Int(i) => {
                let _ = write!(out, "{i}");
            }
            V::Float(f) => out.push_str(
                &serde_json::Number::from_f64(*f)
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "null".into()),
            ),
            V::Str(s) => json_string(out, s),
            V::Arr(items) if items.is_empty() => out.push_str("[]"),
            V::Obj(members) if members.is_empty() => out.push_str("{}"),
            V::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, depth + 1);
                    item.write_json(out, indent, depth + 1);
                }
                newline(out, depth);
                out.push(']');
            }
            V::Obj(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, depth + 1);
                    json_string(out, k);
                    out.push(':');
                    if indent.is_some() {
                        out.push(' ');
                    }
                    v.write_json(out, indent, depth + 1);
                }
                newline(out, depth);
                out.push('}');
            }
        }
    }
}

/// Go's `%v` for a float64: the shortest representation, in exponent form (`1e+21`) when the
/// exponent is below -4 or at least 21.
pub fn go_float(f: f64) -> String {
    let exp = if f == 0.0 {
        0
    } else {
        f.abs().log10().floor() as i32
    };
    if (-4..21).contains(&exp) {
        return format!("{f}");
    }
    let s = format!("{f:e}");
    let (mantissa, e) = s.split_once('e').unwrap_or((&s, "0"));
    let (sign, digits) = match e.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', e),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl From<&str> for V {
    fn from(s: &str) -> V {
        V::Str(s.to_string())
    }
}

impl From<String> for V {
    fn from(s: String) -> V {
        V::Str(s)
    }
}

impl<'de> Deserialize<'de> for V {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<V, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = V;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<V, E> {
        Ok(V::Null)
    }
    fn visit_none<E>(self) -> Result<V, E> {
        Ok(V::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<V, E> {
        Ok(V::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<V, E> {
        Ok(V::Int(i))
    }
    fn visit_u64<E>(self, u: u64) -> Result<V, E> {
        Ok(i64::try_from(u).map(V::Int).unwrap_or(V::Float(u as f64)))
    }
    fn visit_f64<E>(self, f: f64) -> Result<V, E> {
        Ok(V::Float(f))
    }
    fn visit_str<E>(self, s: &str) -> Result<V, E> {
        Ok(V::Str(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<V, E> {
        Ok(V::Str(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<V, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(V::Arr(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<V, A::Error> {
        let mut members: Vec<(String, V)> = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, V>()? {
            // A repeated key keeps its first place but the last value, as Go's decoder does.
            match members.iter_mut().find(|(key, _)| *key == k) {
                Some(slot) => slot.1 = v,
                None => members.push((k, v)),
            }
        }
        Ok(V::Obj(members))
    }
}

/// Builds an object from pairs (formatter rows, header rows).
pub fn obj<K: Into<String>>(pairs: Vec<(K, V)>) -> V {
    V::Obj(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_key_order_and_prints_like_go() {
        let v = V::parse(br#"{"b":1,"a":{"y":true,"x":null},"c":[1,"s",2.5],"d":"<&>"}"#).unwrap();
        assert_eq!(
            v.to_json(),
            r#"{"b":1,"a":{"y":true,"x":null},"c":[1,"s",2.5],"d":"<&>"}"#
        );
        assert_eq!(v.get("a").go_string(), "map[x:<nil> y:true]");
        assert_eq!(v.get("c").go_string(), "[1 s 2.5]");
        assert_eq!(v.get("missing").go_string(), "<no value>");
        assert_eq!(V::Float(3.0).go_string(), "3");
        assert_eq!(V::Float(1e21).go_string(), "1e+21");
        assert_eq!(V::Float(0.00001).go_string(), "1e-05");
    }

    #[test]
    fn pretty_json_matches_docker_inspect_layout() {
        let v = V::parse(br#"[{"Id":"x","Args":[],"Cfg":{"A":[1,2]}}]"#).unwrap();
        assert_eq!(
            v.to_json_pretty("    "),
            "[\n    {\n        \"Id\": \"x\",\n        \"Args\": [],\n        \"Cfg\": {\n            \"A\": [\n                1,\n                2\n            ]\n        }\n    }\n]"
        );
    }
}
