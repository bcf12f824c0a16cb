//! Docker's `filters` query parameter: a JSON object of key to values, either as a set
//! `{"status":{"running":true}}` (what today's clients send) or as a list
//! `{"status":["running"]}` (the older form, still accepted). Set members marked `false` are
//! dropped. Matching follows moby's `filters.Args`: a key that is absent filters nothing.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The parameter is not a JSON object of lists or sets of strings.
    #[error("invalid filter: {0}")]
    Malformed(String),
    /// A key the endpoint does not know (Docker: `invalid filter 'key'`).
    #[error("invalid filter '{0}'")]
    Key(String),
    /// A value the key does not take (Docker: `invalid filter 'status=foo'`).
    #[error("invalid filter '{key}={value}'")]
    Value { key: String, value: String },
}

impl FilterError {
    /// Docker's error for a value `key` does not take.
    pub fn invalid_value(key: &str, value: &str) -> FilterError {
        FilterError::Value {
            key: key.to_string(),
            value: value.to_string(),
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Filters {
    /// Key to its values, each value once, in sorted order.
    values: BTreeMap<String, Vec<String>>,
}

impl Filters {
    /// Parses the `filters` parameter; absent or blank means no filters.
    pub fn parse(query: Option<&str>) -> Result<Filters, FilterError> {
        let Some(text) = query.filter(|q| !q.trim().is_empty()) else {
            return Ok(Filters::default());
        };
        let json: Value = serde_json::from_str(text)
            .map_err(|e| FilterError::Malformed(format!("not JSON: {e}")))?;
        let Value::Object(map) = json else {
            return Err(FilterError::Malformed("expected a JSON object".into()));
        };
        let mut f = Filters::default();
        for (key, v) in map {
            let list = f.values.entry(key.clone()).or_default();
            match v {
                Value::Array(items) => {
                    for item in items {
                        match item {
                            Value::String(s) => list.push(s),
                            other => {
                                return Err(FilterError::Malformed(format!(
                                    "value {other} of '{key}' is not a string"
                                )))
                            }
                        }
                    }
                }
                Value::Object(set) => {
                    for (value, on) in set {
                        match on {
                            Value::Bool(true) => list.push(value),
                            Value::Bool(false) => {}
                            other => {
                                return Err(FilterError::Malformed(format!(
                                    "'{key}': {value} maps to {other}, not true or false"
                                )))
                            }
                        }
                    }
                }
                Value::Null => {}
                other => {
                    return Err(FilterError::Malformed(format!(
                        "'{key}' maps to {other}, not a list or set of strings"
                    )))
                }
            }
            list.sort();
            list.dedup();
        }
        Ok(f)
    }

    /// Adds one value (for building filters in code and tests).
    pub fn add(&mut self, key: &str, value: &str) {
        let list = self.values.entry(key.to_string()).or_default();
        if let Err(i) = list.binary_search_by(|v| v.as_str().cmp(value)) {
            list.insert(i, value.to_string());
        }
    }

    /// Refuses keys outside `allowed`, as Docker does (`invalid filter 'key'`).
    pub fn validate(&self, allowed: &[&str]) -> Result<(), FilterError> {
        match self.values.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(FilterError::Key(k.clone())),
            None => Ok(()),
        }
    }

    /// The values of `key` (sorted, each once); empty when absent.
    pub fn get(&self, key: &str) -> &[String] {
        self.values.get(key).map(Vec::as_slice).unwrap_or_default()
    }

    /// Whether `key` was given at all (even with no values).
    pub fn contains(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// The keys given.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// No key has a value.
    pub fn is_empty(&self) -> bool {
        self.values.values().all(Vec::is_empty)
    }

    /// `value` equals one of the values of `key`, or `key` has none (moby's `ExactMatch`).
    pub fn matches_any(&self, key: &str, value: &str) -> bool {
        let values = self.get(key);
        values.is_empty() || values.iter().any(|v| v == value)
    }

    /// `value` equals or starts with one of the values of `key`, or `key` has none (moby's
    /// `FuzzyMatch`, used for IDs).
    pub fn matches_prefix(&self, key: &str, value: &str) -> bool {
        let values = self.get(key);
        values.is_empty() || values.iter().any(|v| value.starts_with(v.as_str()))
    }

    /// The boolean `key` (`true`/`1`, `false`/`0`, in any case); `None` when absent. A value that
    /// is neither, or both a true and a false value, is Docker's
    /// `invalid filter 'dangling=[maybe]'`.
    pub fn is_true(&self, key: &str) -> Result<Option<bool>, FilterError> {
        if !self.contains(key) {
            return Ok(None);
        }
        let values = self.get(key);
        if values.is_empty() {
            return Err(FilterError::Key(key.to_string()));
        }
        let mut seen = (false, false);
        for v in values {
            match v.to_ascii_lowercase().as_str() {
                "true" | "1" => seen.0 = true,
                "false" | "0" => seen.1 = true,
                _ => {
                    seen = (false, false);
                    break;
                }
            }
        }
        match seen {
            (true, false) => Ok(Some(true)),
            (false, true) => Ok(Some(false)),
            _ => Err(FilterError::Value {
                key: key.to_string(),
                value: format!("[{}]", values.join(" ")),
            }),
        }
    }

    /// [`is_true`](Filters::is_true) with a default for an absent key (moby's
    /// `GetBoolOrDefault`).
    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool, FilterError> {
        Ok(self.is_true(key)?.unwrap_or(default))
    }

    /// moby's `MatchKVList`: every value of `key` (`k`: label present, `k=v`: label equal) holds
    /// for `labels`; true when `key` has no values, false when there are no labels to match.
    pub fn matches_kv(&self, key: &str, labels: Option<&HashMap<String, String>>) -> bool {
        let conds = self.get(key);
        if conds.is_empty() {
            return true;
        }
        let Some(labels) = labels.filter(|l| !l.is_empty()) else {
            return false;
        };
        conds.iter().all(|c| match c.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
            None => labels.contains_key(c.as_str()),
        })
    }

    /// The `label` and `label!` filters as Docker applies them: all `label` conditions hold,
    /// and not all `label!` conditions do.
    pub fn labels_match(&self, labels: Option<&HashMap<String, String>>) -> bool {
        self.matches_kv("label", labels)
            && !(self.contains("label!") && self.matches_kv("label!", labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn both_forms_parse() {
        let f = Filters::parse(Some(r#"{"status":["running","exited","running"]}"#)).unwrap();
        assert_eq!(f.get("status"), ["exited", "running"]);
        let f = Filters::parse(Some(r#"{"status":{"running":true,"exited":false}}"#)).unwrap();
        assert_eq!(f.get("status"), ["running"]);
        assert!(f.get("name").is_empty());
        assert!(Filters::parse(None).unwrap().is_empty());
        assert!(Filters::parse(Some("")).unwrap().is_empty());
        assert!(Filters::parse(Some("{}")).unwrap().is_empty());
        assert_eq!(f.keys().collect::<Vec<_>>(), ["status"]);
    }

    #[test]
    fn malformed_filters_are_refused() {
        for bad in [
            "[1]",
            "{",
            r#"{"a":"b"}"#,
            r#"{"a":[1]}"#,
            r#"{"a":{"b":"yes"}}"#,
            "nope",
        ] {
            let e = Filters::parse(Some(bad)).unwrap_err();
            assert!(matches!(e, FilterError::Malformed(_)), "{bad}: {e:?}");
            assert!(e.to_string().starts_with("invalid filter: "), "{e}");
        }
    }

    #[test]
    fn validate_names_the_unknown_key() {
        let f = Filters::parse(Some(r#"{"name":["x"],"status":["running"]}"#)).unwrap();
        assert_eq!(f.validate(&["name", "status"]), Ok(()));
        let e = f.validate(&["name"]).unwrap_err().to_string();
        assert_eq!(e, "invalid filter 'status'");
        assert_eq!(
            FilterError::invalid_value("status", "sleeping").to_string(),
            "invalid filter 'status=sleeping'"
        );
    }

    #[test]
    fn matching() {
        let mut f = Filters::default();
        f.add("status", "running");
        f.add("status", "paused");
        f.add("status", "running");
        f.add("id", "abc");
        assert_eq!(f.get("status"), ["paused", "running"]);
        assert!(f.matches_any("status", "running"));
        assert!(!f.matches_any("status", "exited"));
        assert!(f.matches_any("name", "anything"));
        assert!(f.matches_prefix("id", "abcdef"));
        assert!(!f.matches_prefix("id", "xabc"));
        assert!(f.matches_prefix("volume", "x"));
        assert!(f.contains("id") && !f.contains("name"));
    }

    #[test]
    fn booleans() {
        let parse = |s: &str| Filters::parse(Some(s)).unwrap();
        assert_eq!(
            parse(r#"{"dangling":["true"]}"#).is_true("dangling"),
            Ok(Some(true))
        );
        assert_eq!(
            parse(r#"{"dangling":["1"]}"#).is_true("dangling"),
            Ok(Some(true))
        );
        assert_eq!(
            parse(r#"{"dangling":["FALSE"]}"#).is_true("dangling"),
            Ok(Some(false))
        );
        assert_eq!(
            parse(r#"{"dangling":{"0":true}}"#).is_true("dangling"),
            Ok(Some(false))
        );
        assert_eq!(
            parse(r#"{"dangling":["true","1"]}"#).bool_or("dangling", false),
            Ok(true)
        );
        assert_eq!(parse("{}").is_true("dangling"), Ok(None));
        assert_eq!(parse("{}").bool_or("dangling", true), Ok(true));
        let bad = parse(r#"{"dangling":["maybe"]}"#)
            .is_true("dangling")
            .unwrap_err();
        assert_eq!(bad.to_string(), "invalid filter 'dangling=[maybe]'");
        let both = parse(r#"{"dangling":["true","0"]}"#)
            .is_true("dangling")
            .unwrap_err();
        assert_eq!(both.to_string(), "invalid filter 'dangling=[0 true]'");
        let empty = parse(r#"{"dangling":[]}"#).is_true("dangling").unwrap_err();
        assert_eq!(empty.to_string(), "invalid filter 'dangling'");
    }

    #[test]
    fn label_filters() {
        let f = Filters::parse(Some(r#"{"label":["a","b=2"]}"#)).unwrap();
        assert!(!f.labels_match(Some(&labels(&[("a", "x")]))));
        assert!(f.labels_match(Some(&labels(&[("a", "x"), ("b", "2")]))));
        assert!(!f.labels_match(Some(&labels(&[("a", "x"), ("b", "3")]))));
        assert!(!f.labels_match(None));
        // A value may itself contain '='.
        let f = Filters::parse(Some(r#"{"label":["k=v=w"]}"#)).unwrap();
        assert!(f.labels_match(Some(&labels(&[("k", "v=w")]))));
        // label! excludes what matches all of its conditions.
        let f = Filters::parse(Some(r#"{"label!":["a","b=2"]}"#)).unwrap();
        assert!(f.labels_match(None));
        assert!(f.labels_match(Some(&labels(&[("a", "1")]))));
        assert!(!f.labels_match(Some(&labels(&[("a", "1"), ("b", "2")]))));
        assert!(Filters::default().labels_match(None));
    }
}
