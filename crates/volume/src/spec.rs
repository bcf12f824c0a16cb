//! What a container asks to have mounted, normalized: HostConfig.Binds (`-v`), HostConfig.Mounts
//! (`--mount`), HostConfig.Tmpfs (`--tmpfs`), Config.Volumes and the image's VOLUME list
//! (anonymous volumes) and `--volumes-from`, validated with Docker's messages, into one list of
//! [`MountPoint`]s, each able to say which OCI mount entry it becomes.
//!
//! Precedence, as in Docker: explicit mounts (binds, mounts, tmpfs) may not share a destination
//! ("Duplicate mount point"); they override what `--volumes-from` brings, which overrides the
//! anonymous volumes of Config.Volumes and the image.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use bollard_stubs::models::{Mount, MountBindOptionsPropagationEnum, MountType};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::names::generate_name;
use crate::tmpfs;
use crate::{Result, VolumeError};

/// Mount propagation of a bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Propagation {
    Private,
    Rprivate,
    Shared,
    Rshared,
    Slave,
    Rslave,
}

impl Propagation {
    pub fn parse(s: &str) -> Option<Propagation> {
        Some(match s {
            "private" => Propagation::Private,
            "rprivate" => Propagation::Rprivate,
            "shared" => Propagation::Shared,
            "rshared" => Propagation::Rshared,
            "slave" => Propagation::Slave,
            "rslave" => Propagation::Rslave,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Propagation::Private => "private",
            Propagation::Rprivate => "rprivate",
            Propagation::Shared => "shared",
            Propagation::Rshared => "rshared",
            Propagation::Slave => "slave",
            Propagation::Rslave => "rslave",
        }
    }
}

/// What is mounted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum MountKind {
    /// A host path. `create_missing`: `-v` and `CreateMountpoint` make a missing source as a
    /// directory; `--mount` without it refused a missing one already.
    Bind {
        source: PathBuf,
        create_missing: bool,
        /// false for `BindOptions.NonRecursive` (a plain bind, submounts not carried along).
        recursive: bool,
    },
    /// A named volume (created if missing). Anonymous ones got a generated name here and are
    /// removed with the container (`rm -v`, `--rm`); `nocopy` skips copy-up.
    Volume {
        name: String,
        anonymous: bool,
        nocopy: bool,
        /// `--mount volume-opt=…` / `volume-label=…`, used if the volume gets created.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        driver_opts: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        labels: BTreeMap<String, String>,
    },
    /// A tmpfs, with its complete, merged mount options.
    Tmpfs { options: Vec<String> },
}

/// Which request field a mount came from (inspect shows HostConfig.Tmpfs mounts nowhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Binds,
    Mounts,
    Tmpfs,
    Anonymous,
    VolumesFrom,
}

/// One mount of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPoint {
    pub kind: MountKind,
    /// Absolute and lexically clean ("/data", never "/data/").
    pub destination: String,
    pub rw: bool,
    /// Binds only (rprivate unless asked otherwise).
    pub propagation: Option<Propagation>,
    /// The mode string the user gave with `-v` ("ro,z"), shown by inspect.
    pub mode: String,
    pub origin: Origin,
}

/// An entry of the OCI spec's `mounts`, serialized as the spec spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OciMount {
    pub destination: String,
    #[serde(rename = "type")]
    pub typ: String,
    pub source: String,
    pub options: Vec<String>,
}

impl MountPoint {
    pub fn volume_name(&self) -> Option<&str> {
        match &self.kind {
            MountKind::Volume { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Whether a fresh, empty volume here should first get the image's content.
    pub fn copies_up(&self) -> bool {
        matches!(self.kind, MountKind::Volume { nocopy: false, .. })
    }

    /// The OCI mount this becomes. `host_source` is the resolved host path: the bind source
    /// (after creating it if missing) or the volume's `_data` (after acquiring it); a tmpfs
    /// ignores it.
    pub fn oci(&self, host_source: &Path) -> OciMount {
        let destination = self.destination.clone();
        match &self.kind {
            MountKind::Tmpfs { options } => OciMount {
                destination,
                typ: "tmpfs".into(),
                source: "tmpfs".into(),
                options: options.clone(),
            },
            MountKind::Bind { .. } | MountKind::Volume { .. } => {
                let recursive = !matches!(
                    self.kind,
                    MountKind::Bind {
                        recursive: false,
                        ..
                    }
                );
                let mut options = vec![if recursive { "rbind" } else { "bind" }.to_string()];
                if !self.rw {
                    options.push("ro".into());
                }
                let prop = self.propagation.unwrap_or(Propagation::Rprivate);
                options.push(prop.as_str().into());
                OciMount {
                    destination,
                    typ: "bind".into(),
                    source: host_source.to_string_lossy().into_owned(),
                    options,
                }
            }
        }
    }

    /// The entry of inspect's `Mounts` (None for HostConfig.Tmpfs, which Docker lists only
    /// under HostConfig). `host_source`: as for [`MountPoint::oci`].
    pub fn api_json(&self, host_source: &Path) -> Option<serde_json::Value> {
        let source = host_source.to_string_lossy();
        let prop = self.propagation.map_or("", Propagation::as_str);
        Some(match &self.kind {
            MountKind::Tmpfs { .. } if self.origin == Origin::Tmpfs => return None,
            MountKind::Tmpfs { .. } => json!({
                "Type": "tmpfs", "Source": "", "Destination": self.destination,
                "Mode": self.mode, "RW": self.rw, "Propagation": prop,
            }),
            MountKind::Bind { .. } => json!({
                "Type": "bind", "Source": source, "Destination": self.destination,
                "Mode": self.mode, "RW": self.rw, "Propagation": prop,
            }),
            MountKind::Volume { name, .. } => json!({
                "Type": "volume", "Name": name, "Source": source,
                "Destination": self.destination, "Driver": "local",
                "Mode": self.mode, "RW": self.rw, "Propagation": prop,
            }),
        })
    }
}

/// Everything of a create request that asks for mounts. `volumes_from` holds, per
/// `--volumes-from` entry, the other container's mount points (the daemon resolves the
/// container) and the mode [`parse_volumes_from`] returned.
#[derive(Debug, Default, Clone, Copy)]
pub struct SpecInput<'a> {
    pub binds: &'a [String],
    pub mounts: &'a [Mount],
    pub tmpfs: Option<&'a HashMap<String, String>>,
    pub config_volumes: &'a [String],
    pub image_volumes: &'a [String],
    pub volumes_from: &'a [(Vec<MountPoint>, Option<bool>)],
}

/// The container's mounts, parents before what is mounted inside them.
pub fn parse(input: &SpecInput) -> Result<Vec<MountPoint>> {
    let mut explicit: Vec<MountPoint> = Vec::new();
    for raw in input.binds {
        explicit.push(parse_bind(raw)?);
    }
    for m in input.mounts {
        explicit.push(parse_mount(m)?);
    }
    if let Some(map) = input.tmpfs {
        let mut entries: Vec<_> = map.iter().collect();
        entries.sort();
        for (dest, opts) in entries {
            explicit.push(parse_tmpfs(dest, opts)?);
        }
    }
    let mut taken = HashSet::new();
    for m in &explicit {
        if !taken.insert(m.destination.clone()) {
            return Err(VolumeError::InvalidSpec(format!(
                "Duplicate mount point: {}",
                m.destination
            )));
        }
    }
    let mut out = explicit;
    for (mounts, rw) in input.volumes_from {
        for m in mounts {
            if taken.insert(m.destination.clone()) {
                let mut m = m.clone();
                if let Some(rw) = rw {
                    m.rw = *rw;
                }
                m.origin = Origin::VolumesFrom;
                out.push(m);
            }
        }
    }
    for dest in input.config_volumes.iter().chain(input.image_volumes) {
        let destination = check_destination(dest).map_err(|e| {
            VolumeError::InvalidSpec(format!("invalid mount config for type \"volume\": {e}"))
        })?;
        if taken.insert(destination.clone()) {
            out.push(anonymous(destination, Origin::Anonymous, String::new()));
        }
    }
    out.sort_by(|a, b| {
        let depth = |m: &MountPoint| Path::new(&m.destination).components().count();
        depth(a)
            .cmp(&depth(b))
            .then_with(|| a.destination.cmp(&b.destination))
    });
    Ok(out)
}

fn anonymous(destination: String, origin: Origin, mode: String) -> MountPoint {
    MountPoint {
        kind: MountKind::Volume {
            name: generate_name(),
            anonymous: true,
            nocopy: false,
            driver_opts: BTreeMap::new(),
            labels: BTreeMap::new(),
        },
        destination,
        rw: true,
        propagation: None,
        mode,
        origin,
    }
}

/// An absolute path, lexically cleaned; the reason if it is relative or "/".
fn check_destination(dest: &str) -> std::result::Result<String, String> {
    if !dest.starts_with('/') {
        return Err(format!(
            "invalid mount path: '{dest}' mount path must be absolute"
        ));
    }
    let clean = clean_path(dest);
    if clean == "/" {
        return Err("invalid specification: destination can't be '/'".into());
    }
    Ok(clean)
}

/// Lexical cleaning of an absolute path, as Go's filepath.Clean.
fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str().unwrap_or_default()),
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    format!("/{}", parts.join("/"))
}

/// The kinds of word a `-v` mode may hold; at most one of each.
fn mode_word_kind(word: &str) -> Option<&'static str> {
    Some(match word {
        "rw" | "ro" => "rw",
        "z" | "Z" => "label",
        "nocopy" => "copy",
        "consistent" | "cached" | "delegated" => "consistency",
        w if Propagation::parse(w).is_some() => "propagation",
        // Newer Docker's recursive read-only modes, refused below with a clear reason.
        "rro" | "ro-non-recursive" | "ro-force-recursive" => "rro",
        _ => return None,
    })
}

fn valid_mode(mode: &str) -> bool {
    let mut seen = HashSet::new();
    mode.split(',')
        .all(|w| mode_word_kind(w).is_some_and(|k| seen.insert(k)))
}

/// One HostConfig.Binds entry: `dest` (anonymous volume), `src:dest` or `src:dest:mode`,
/// where an absolute `src` is a host path and anything else a volume name.
pub fn parse_bind(raw: &str) -> Result<MountPoint> {
    let invalid = || VolumeError::InvalidSpec(format!("invalid volume specification: '{raw}'"));
    let parts: Vec<&str> = raw.split(':').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(invalid());
    }
    let (source, dest, mode) = match parts[..] {
        [dest] => (None, dest, ""),
        // "/path:ro" is a destination with a mode but no source: Docker calls that invalid.
        [_, second] if valid_mode(second) => return Err(invalid()),
        [src, dest] => (Some(src), dest, ""),
        [src, dest, mode] => (Some(src), dest, mode),
        _ => return Err(invalid()),
    };
    if !mode.is_empty() && !valid_mode(mode) {
        return Err(VolumeError::InvalidSpec(format!("invalid mode: {mode}")));
    }
    let words: Vec<&str> = mode.split(',').filter(|w| !w.is_empty()).collect();
    if let Some(w) = words
        .iter()
        .find(|w| matches!(**w, "rro" | "ro-force-recursive"))
    {
        return Err(VolumeError::InvalidSpec(format!(
            "invalid volume specification: '{raw}': mode {w} (recursively read-only) is not supported by berth"
        )));
    }
    let typ = if source.is_some_and(|s| s.starts_with('/')) {
        "bind"
    } else {
        "volume"
    };
    let destination = check_destination(dest).map_err(|e| {
        VolumeError::InvalidSpec(format!(
            "invalid volume specification: '{raw}': invalid mount config for type \"{typ}\": {e}"
        ))
    })?;
    let rw = !words.iter().any(|w| *w == "ro" || *w == "ro-non-recursive");
    let propagation = words.iter().find_map(|w| Propagation::parse(w));
    let nocopy = words.contains(&"nocopy");
    let mode = mode.to_string();
    let Some(source) = source else {
        // A bare destination: an anonymous volume.
        let mut m = anonymous(destination, Origin::Binds, mode);
        if let MountKind::Volume { nocopy: n, .. } = &mut m.kind {
            *n = nocopy;
        }
        return Ok(m);
    };
    if typ == "bind" {
        if nocopy {
            return Err(invalid());
        }
        return Ok(MountPoint {
            kind: MountKind::Bind {
                source: PathBuf::from(clean_path(source)),
                create_missing: true,
                recursive: true,
            },
            destination,
            rw,
            propagation: Some(propagation.unwrap_or(Propagation::Rprivate)),
            mode,
            origin: Origin::Binds,
        });
    }
    // Propagation belongs to binds: "name:/dst:shared" is invalid.
    if propagation.is_some() {
        return Err(invalid());
    }
    Ok(MountPoint {
        kind: MountKind::Volume {
            name: source.to_string(),
            anonymous: false,
            nocopy,
            driver_opts: BTreeMap::new(),
            labels: BTreeMap::new(),
        },
        destination,
        rw,
        propagation: None,
        mode,
        origin: Origin::Binds,
    })
}

/// One HostConfig.Tmpfs entry (`--tmpfs /run:size=1m,mode=1777`).
pub fn parse_tmpfs(dest: &str, opts: &str) -> Result<MountPoint> {
    let destination = check_destination(dest).map_err(|e| {
        VolumeError::InvalidSpec(format!("invalid mount config for type \"tmpfs\": {e}"))
    })?;
    let mut all = tmpfs::DEFAULTS.to_vec();
    all.extend(opts.split(','));
    let options = tmpfs::merge(&all)?;
    let rw = !options.iter().any(|o| o == "ro");
    Ok(MountPoint {
        kind: MountKind::Tmpfs { options },
        destination,
        rw,
        propagation: None,
        mode: opts.to_string(),
        origin: Origin::Tmpfs,
    })
}

/// One HostConfig.Mounts object (`--mount type=…`).
pub fn parse_mount(m: &Mount) -> Result<MountPoint> {
    let typ = match m.typ {
        Some(MountType::BIND) => "bind",
        Some(MountType::VOLUME) => "volume",
        Some(MountType::TMPFS) => "tmpfs",
        Some(MountType::IMAGE) => "image",
        Some(MountType::NPIPE) => "npipe",
        Some(MountType::CLUSTER) => "cluster",
        None => "",
    };
    let err = |msg: String| {
        VolumeError::InvalidSpec(format!("invalid mount config for type \"{typ}\": {msg}"))
    };
    let target = m.target.as_deref().unwrap_or("");
    if target.is_empty() {
        return Err(err("field Target must not be empty".into()));
    }
    let destination = check_destination(target).map_err(err)?;
    let source = m.source.as_deref().unwrap_or("");
    let rw = !m.read_only.unwrap_or(false);
    let extra = |field: &str| err(format!("field {field} must not be specified"));
    match typ {
        "bind" | "volume" | "tmpfs" => {}
        "image" => return Err(err("image mounts are not supported by berth".into())),
        _ => return Err(err("mount type unknown".into())),
    }
    if m.image_options.is_some() {
        return Err(extra("ImageOptions"));
    }
    if typ != "bind" && m.bind_options.is_some() {
        return Err(extra("BindOptions"));
    }
    if typ != "volume" && m.volume_options.is_some() {
        return Err(extra("VolumeOptions"));
    }
    if typ != "tmpfs" && m.tmpfs_options.is_some() {
        return Err(extra("TmpfsOptions"));
    }
    let point = |kind, propagation| MountPoint {
        kind,
        destination: destination.clone(),
        rw,
        propagation,
        mode: String::new(),
        origin: Origin::Mounts,
    };
    match typ {
        "bind" => {
            if source.is_empty() {
                return Err(err("field Source must not be empty".into()));
            }
            if !source.starts_with('/') {
                return Err(err(format!(
                    "invalid mount path: '{source}' mount path must be absolute"
                )));
            }
            let opts = m.bind_options.clone().unwrap_or_default();
            if opts.read_only_force_recursive == Some(true)
                || opts.read_only_non_recursive == Some(false)
            {
                return Err(err(
                    "recursively read-only bind mounts are not supported by berth".into(),
                ));
            }
            let propagation = match opts.propagation {
                None | Some(MountBindOptionsPropagationEnum::EMPTY) => Propagation::Rprivate,
                Some(p) => Propagation::parse(p.as_ref()).expect("every API propagation parses"),
            };
            let create_missing = opts.create_mountpoint.unwrap_or(false);
            if !create_missing && !Path::new(source).exists() {
                return Err(err(format!("bind source path does not exist: {source}")));
            }
            Ok(point(
                MountKind::Bind {
                    source: PathBuf::from(clean_path(source)),
                    create_missing,
                    recursive: !opts.non_recursive.unwrap_or(false),
                },
                Some(propagation),
            ))
        }
        "volume" => {
            let anonymous = source.is_empty();
            if anonymous && !rw {
                return Err(err(
                    "must not set ReadOnly mode when using anonymous volumes".into(),
                ));
            }
            let opts = m.volume_options.clone().unwrap_or_default();
            if opts.subpath.as_deref().is_some_and(|s| !s.is_empty()) {
                return Err(err("volume subpaths are not supported by berth".into()));
            }
            let mut driver_opts = BTreeMap::new();
            if let Some(dc) = opts.driver_config {
                if let Some(name) = dc
                    .name
                    .as_deref()
                    .filter(|n| !n.is_empty() && *n != "local")
                {
                    return Err(err(format!(
                        "volume driver {name:?} is not supported: berth has only the \"local\" driver"
                    )));
                }
                driver_opts.extend(dc.options.unwrap_or_default());
            }
            Ok(point(
                MountKind::Volume {
                    name: if anonymous {
                        generate_name()
                    } else {
                        source.to_string()
                    },
                    anonymous,
                    nocopy: opts.no_copy.unwrap_or(false),
                    driver_opts,
                    labels: opts.labels.unwrap_or_default().into_iter().collect(),
                },
                None,
            ))
        }
        _ => {
            if !source.is_empty() {
                return Err(extra("Source"));
            }
            let t = m.tmpfs_options.clone().unwrap_or_default();
            if t.options.as_ref().is_some_and(|o| !o.is_empty()) {
                return Err(err(
                    "TmpfsOptions.Options is not supported by berth (use SizeBytes and Mode)"
                        .into(),
                ));
            }
            let data = tmpfs::from_mount_options(t.size_bytes, t.mode, !rw)?;
            let mut all = tmpfs::DEFAULTS.to_vec();
            all.extend(data.iter().map(String::as_str));
            Ok(point(
                MountKind::Tmpfs {
                    options: tmpfs::merge(&all)?,
                },
                None,
            ))
        }
    }
}

/// A `--volumes-from` entry: the container and, when given, whether its mounts become
/// read-write (`:rw`) or read-only (`:ro`).
pub fn parse_volumes_from(spec: &str) -> Result<(String, Option<bool>)> {
    if spec.is_empty() {
        return Err(VolumeError::InvalidSpec(
            "volumes-from specification cannot be an empty string".into(),
        ));
    }
    let (id, mode) = spec.split_once(':').unwrap_or((spec, ""));
    if mode.is_empty() {
        return Ok((id.to_string(), None));
    }
    // Propagation stays the original mount's; only rw/ro (and labels) may be given.
    let words: Vec<&str> = mode.split(',').collect();
    if !valid_mode(mode) || words.iter().any(|w| !matches!(*w, "ro" | "rw" | "z" | "Z")) {
        return Err(VolumeError::InvalidSpec(format!("invalid mode: {mode}")));
    }
    let rw = if words.contains(&"ro") {
        Some(false)
    } else if words.contains(&"rw") {
        Some(true)
    } else {
        None
    };
    Ok((id.to_string(), rw))
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
