//! `run`/`create` storage flags the way docker CLI 28 reads them: `-v`/`--volume` specs
//! (`[SOURCE:]TARGET[:OPTIONS]`, split like the compose loader does, Windows drive letters
//! included) and `--mount` CSV specs, which become `HostConfig.Binds`, `Config.Volumes` and
//! `HostConfig.Mounts`. The messages are docker's, since scripts and users match on them.

use std::path::{Component, Path, PathBuf};

use serde_json::{json, Map, Value};

/// Why a `-v` or `--mount` value is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MountError {
    #[error("invalid empty volume spec")]
    EmptyVolumeSpec,
    #[error("invalid spec: {spec}: {why}")]
    VolumeSpec { spec: String, why: &'static str },
    /// Go's `encoding/csv` wording, so the same input fails the same way.
    #[error("parse error on line 1, column {column}: {why}")]
    Csv { column: usize, why: &'static str },
    #[error("EOF")]
    EmptyMount,
    #[error("invalid field '{0}' must be a key=value pair")]
    NotKeyValue(String),
    #[error("unexpected key '{key}' in '{field}'")]
    UnknownKey { key: String, field: String },
    #[error("invalid value for {key}: {value}")]
    BadValue { key: String, value: String },
    #[error("invalid value for bind-recursive: {0} (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")")]
    BadRecursive(String),
    #[error("type is required")]
    NoType,
    #[error("target is required")]
    NoTarget,
    #[error("cannot mix '{prefix}-*' options with mount type '{kind}'")]
    Mixed { prefix: &'static str, kind: String },
    #[error("option 'bind-recursive={mode}' requires '{needs}' to be specified in conjunction")]
    RecursiveNeeds {
        mode: &'static str,
        needs: &'static str,
    },
    /// berth speaks API 1.43; docker's CLI refuses this option below 1.44 too.
    #[error("bind-recursive=readonly requires API v1.44 or later")]
    RecursiveReadonlyApi,
}

/// What the storage flags add to the create body.
#[derive(Debug, Default, PartialEq)]
pub struct Storage {
    /// `HostConfig.Binds`: every `-v` with a source (host path or named volume).
    pub binds: Vec<String>,
    /// `Config.Volumes`: `-v TARGET` anonymous volumes, keyed by the spec as written.
    pub volumes: Map<String, Value>,
    /// `HostConfig.Mounts`, one object per `--mount`.
    pub mounts: Vec<Value>,
}

/// Which flag and value a [`MountError`] came from, for the "invalid argument" message.
pub struct Refused {
    pub flag: &'static str,
    pub value: String,
    pub error: MountError,
}

/// Turns every `-v` and `--mount` value into the create body parts; `cwd` resolves `./` paths.
pub fn storage(volumes: &[String], mounts: &[String], cwd: &Path) -> Result<Storage, Refused> {
    let mut out = Storage::default();
    for spec in volumes {
        let parsed = parse_volume(spec).map_err(|error| Refused {
            flag: "volume",
            value: spec.clone(),
            error,
        })?;
        match parsed.source {
            Some(source) if is_file_path(&source) && source.starts_with('.') => {
                // docker makes `./dir:/p` absolute so the daemon sees a host path.
                let rest = &spec[spec.find(':').map_or(spec.len(), |i| i + 1)..];
                out.binds
                    .push(format!("{}:{rest}", absolute(&source, cwd).display()));
            }
            Some(_) => out.binds.push(spec.clone()),
            None => {
                out.volumes.insert(spec.clone(), json!({}));
            }
        }
    }
    for spec in mounts {
        let m = parse_mount(spec, cwd).map_err(|error| Refused {
            flag: "mount",
            value: spec.clone(),
            error,
        })?;
        out.mounts.push(m);
    }
    Ok(out)
}

/// A `-v` spec split into its parts; only whether it has a source matters to the CLI.
#[derive(Debug, PartialEq)]
pub struct VolumeSpec {
    pub source: Option<String>,
    pub target: String,
    pub options: Option<String>,
}

/// Splits at colons, except the colon of a Windows drive letter (`c:`), into source, target and
/// options; one part alone is an anonymous volume's target.
pub fn parse_volume(spec: &str) -> Result<VolumeSpec, MountError> {
    match spec.chars().count() {
        0 => return Err(MountError::EmptyVolumeSpec),
        1 | 2 => {
            return Ok(VolumeSpec {
                source: None,
                target: spec.to_string(),
                options: None,
            })
        }
        _ => {}
    }
    let fail = |why| MountError::VolumeSpec {
        spec: spec.to_string(),
        why,
    };
    let (mut source, mut target, mut options) = (None, None, None);
    let mut buf = String::new();
    // `None` marks the end of the spec, which closes the last section like a colon does.
    for c in spec.chars().map(Some).chain([None]) {
        match c {
            Some(':') if buf.chars().count() == 1 && buf.chars().all(char::is_alphabetic) => {
                buf.push(':')
            }
            Some(':') | None => {
                if buf.is_empty() {
                    return Err(fail("empty section between colons"));
                }
                let part = std::mem::take(&mut buf);
                if source.is_none() && c.is_none() {
                    target = Some(part);
                } else if source.is_none() {
                    source = Some(part);
                } else if target.is_none() {
                    target = Some(part);
                } else if c.is_some() {
                    return Err(fail("too many colons"));
                } else {
                    options = Some(part);
                }
            }
            Some(ch) => buf.push(ch),
        }
    }
    Ok(VolumeSpec {
        source,
        target: target.unwrap_or_default(),
        options,
    })
}

/// The compose loader's test for a bind source: a path, not a volume name.
fn is_file_path(source: &str) -> bool {
    let mut chars = source.chars();
    match chars.next() {
        Some('.' | '/' | '~') => true,
        Some(c) if c.is_alphabetic() => chars.next() == Some(':'),
        _ => false,
    }
}

/// Go's `filepath.Abs`: joined to `cwd` and cleaned of `.` and `..`.
fn absolute(path: &str, cwd: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in cwd.join(path).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(p) => out.push(p),
            _ => {}
        }
    }
    out
}

/// Go's `encoding/csv` reading one record: commas separate fields, a field that starts with `"`
/// is quoted (`""` is a literal quote), and a quote anywhere else is an error.
fn csv_fields(line: &str) -> Result<Vec<String>, MountError> {
    if line.is_empty() {
        return Err(MountError::EmptyMount);
    }
    let bytes: Vec<char> = line.chars().collect();
    let mut fields = Vec::new();
    let mut i = 0;
    loop {
        let mut field = String::new();
        if bytes.get(i) == Some(&'"') {
            i += 1;
            loop {
                match bytes.get(i) {
                    Some('"') if bytes.get(i + 1) == Some(&'"') => {
                        field.push('"');
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        match bytes.get(i) {
                            None | Some(',') => break,
                            Some(_) => {
                                return Err(MountError::Csv {
                                    column: i,
                                    why: "extraneous or missing \" in quoted-field",
                                })
                            }
                        }
                    }
                    Some(c) => {
                        field.push(*c);
                        i += 1;
                    }
                    None => {
                        return Err(MountError::Csv {
                            column: i + 1,
                            why: "extraneous or missing \" in quoted-field",
                        })
                    }
                }
            }
        } else {
            while let Some(c) = bytes.get(i).filter(|c| **c != ',') {
                if *c == '"' {
                    return Err(MountError::Csv {
                        column: i + 1,
                        why: "bare \" in non-quoted-field",
                    });
                }
                field.push(*c);
                i += 1;
            }
        }
        fields.push(field);
        if i >= bytes.len() {
            return Ok(fields);
        }
        i += 1; // the comma
    }
}

/// Go's `strconv.ParseBool`.
fn go_bool(key: &str, value: Option<&str>) -> Result<bool, MountError> {
    match value {
        None => Ok(true),
        Some("1" | "t" | "T" | "TRUE" | "true" | "True") => Ok(true),
        Some("0" | "f" | "F" | "FALSE" | "false" | "False") => Ok(false),
        Some(v) => Err(MountError::BadValue {
            key: key.to_string(),
            value: v.to_string(),
        }),
    }
}

/// Sets `obj[key]` to an object (created on first use) and returns it.
fn sub<'a>(obj: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let v = obj
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    match v {
        Value::Object(m) => m,
        _ => unreachable!("{key} is always an object"),
    }
}

/// Volume options always carry a (possibly empty) `DriverConfig`, as docker's do.
fn volume_opts(m: &mut Map<String, Value>) -> &mut Map<String, Value> {
    let v = sub(m, "VolumeOptions");
    sub(v, "DriverConfig");
    v
}

/// Sets a boolean option only when true, as Go's `omitempty` sends it.
fn set_flag(m: &mut Map<String, Value>, key: &str, on: bool) {
    if on {
        m.insert(key.into(), json!(true));
    } else {
        m.remove(key);
    }
}

/// One `--mount` value as a `HostConfig.Mounts` entry.
pub fn parse_mount(spec: &str, cwd: &Path) -> Result<Value, MountError> {
    let mut m = Map::new();
    let mut kind = "volume".to_string();
    let mut read_only = false;
    for field in csv_fields(spec)? {
        let (raw_key, value) = match field.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (field.as_str(), None),
        };
        let key = raw_key.to_lowercase();
        if value.is_none()
            && !matches!(
                key.as_str(),
                "readonly" | "ro" | "volume-nocopy" | "bind-nonrecursive"
            )
        {
            return Err(MountError::NotKeyValue(field));
        }
        let val = value.unwrap_or("");
        let bad = || MountError::BadValue {
            key: key.clone(),
            value: val.to_string(),
        };
        let text = |m: &mut Map<String, Value>, k: &str| {
            if val.is_empty() {
                m.remove(k);
            } else {
                m.insert(k.into(), json!(val));
            }
        };
        match key.as_str() {
            "type" => kind = val.to_lowercase(),
            "source" | "src" => {
                if val.starts_with('.') {
                    m.insert("Source".into(), json!(absolute(val, cwd)));
                } else {
                    text(&mut m, "Source");
                }
            }
            "target" | "dst" | "destination" => text(&mut m, "Target"),
            "readonly" | "ro" => read_only = go_bool(&key, value)?,
            "consistency" => {
                m.insert("Consistency".into(), json!(val.to_lowercase()));
            }
            "bind-propagation" => {
                sub(&mut m, "BindOptions").insert("Propagation".into(), json!(val.to_lowercase()));
            }
            "bind-nonrecursive" => {
                eprintln!(
                    "WARNING: bind-nonrecursive is deprecated, use bind-recursive=disabled instead"
                );
                let on = go_bool(&key, value)?;
                set_flag(sub(&mut m, "BindOptions"), "NonRecursive", on);
            }
            "bind-recursive" => {
                // Each mode only ever sets its flag; `enabled` (the default) sends nothing.
                let flag = match val {
                    "enabled" => None,
                    "disabled" => Some("NonRecursive"),
                    "writable" => Some("ReadOnlyNonRecursive"),
                    "readonly" => Some("ReadOnlyForceRecursive"),
                    _ => return Err(MountError::BadRecursive(val.to_string())),
                };
                if let Some(flag) = flag {
                    sub(&mut m, "BindOptions").insert(flag.into(), json!(true));
                }
            }
            "volume-nocopy" => {
                let on = go_bool(&key, value)?;
                set_flag(volume_opts(&mut m), "NoCopy", on);
            }
            "volume-label" | "volume-opt" => {
                let (k, v) = val.split_once('=').unwrap_or((val, ""));
                let opts = volume_opts(&mut m);
                let holder = if key == "volume-label" {
                    sub(opts, "Labels")
                } else {
                    sub(sub(opts, "DriverConfig"), "Options")
                };
                holder.insert(k.into(), json!(v));
            }
            "volume-driver" => text(sub(volume_opts(&mut m), "DriverConfig"), "Name"),
            "volume-subpath" => text(volume_opts(&mut m), "Subpath"),
            "image-subpath" => text(sub(&mut m, "ImageOptions"), "Subpath"),
            "tmpfs-size" => {
                let n = crate::units::parse_bytes(val).map_err(|_| bad())?;
                sub(&mut m, "TmpfsOptions").insert("SizeBytes".into(), json!(n));
            }
            "tmpfs-mode" => {
                let mode = u32::from_str_radix(val, 8)
                    .ok()
                    .filter(|_| !val.starts_with(['+', '-']))
                    .ok_or_else(bad)?;
                sub(&mut m, "TmpfsOptions").insert("Mode".into(), json!(mode));
            }
            _ => {
                return Err(MountError::UnknownKey {
                    key,
                    field: field.clone(),
                })
            }
        }
    }
    if kind.is_empty() {
        return Err(MountError::NoType);
    }
    if !m.contains_key("Target") {
        return Err(MountError::NoTarget);
    }
    for (key, prefix, owner) in [
        ("VolumeOptions", "volume", "volume"),
        ("BindOptions", "bind", "bind"),
        ("TmpfsOptions", "tmpfs", "tmpfs"),
        ("ImageOptions", "image", "image"),
    ] {
        if m.contains_key(key) && kind != owner {
            return Err(MountError::Mixed {
                prefix,
                kind: kind.clone(),
            });
        }
    }
    let bind_flag = |k: &str| m.get("BindOptions").and_then(|b| b.get(k)).is_some();
    if bind_flag("ReadOnlyForceRecursive") {
        if !read_only {
            return Err(MountError::RecursiveNeeds {
                mode: "readonly",
                needs: "readonly",
            });
        }
        let propagation = m["BindOptions"].get("Propagation").and_then(Value::as_str);
        if propagation != Some("rprivate") {
            return Err(MountError::RecursiveNeeds {
                mode: "readonly",
                needs: "bind-propagation=rprivate",
            });
        }
        return Err(MountError::RecursiveReadonlyApi);
    }
    if bind_flag("ReadOnlyNonRecursive") && !read_only {
        return Err(MountError::RecursiveNeeds {
            mode: "writable",
            needs: "readonly",
        });
    }
    // The API's field order: Type, Source, Target, ReadOnly, then the option groups.
    let mut out = Map::new();
    out.insert("Type".into(), json!(kind));
    for k in ["Source", "Target"] {
        if let Some(v) = m.remove(k) {
            out.insert(k.into(), v);
        }
    }
    if read_only {
        out.insert("ReadOnly".into(), json!(true));
    }
    for k in [
        "Consistency",
        "BindOptions",
        "VolumeOptions",
        "ImageOptions",
        "TmpfsOptions",
    ] {
        if let Some(v) = m.remove(k) {
            out.insert(k.into(), v);
        }
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
#[path = "mount_opts_tests.rs"]
mod tests;
