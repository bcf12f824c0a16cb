//! Reading and checking a bundle's `config.json`.
//!
//! Everything berth cannot honour is refused here, with the file and the field named, before any
//! host object exists: a spec field must never be silently ignored.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: field {field}: {message}")]
    Parse {
        path: PathBuf,
        field: String,
        message: String,
    },
    #[error("{path}: field {field}: {message}")]
    Invalid {
        path: PathBuf,
        field: &'static str,
        message: String,
    },
    #[error("{path}: field {field} is not supported by berth-runtime yet")]
    Unsupported { path: PathBuf, field: &'static str },
}

/// A parsed and checked bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    pub config_path: PathBuf,
    pub rootfs: PathBuf,
    pub spec: Spec,
}

/// Loads `<bundle>/config.json` and checks that berth can run it.
pub fn load(bundle_dir: &Path) -> Result<Bundle, SpecError> {
    let dir = std::path::absolute(bundle_dir).map_err(|source| SpecError::Read {
        path: bundle_dir.to_path_buf(),
        source,
    })?;
    let config_path = dir.join("config.json");
    let text = std::fs::read(&config_path).map_err(|source| SpecError::Read {
        path: config_path.clone(),
        source,
    })?;
    let spec = parse(&config_path, &text)?;
    let rootfs = check(&config_path, &dir, &spec)?;
    Ok(Bundle {
        dir,
        config_path,
        rootfs,
        spec,
    })
}

fn parse(path: &Path, text: &[u8]) -> Result<Spec, SpecError> {
    let mut de = serde_json::Deserializer::from_slice(text);
    serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let field = match err.path().to_string() {
            p if p == "." => "(document)".to_string(),
            p => p,
        };
        SpecError::Parse {
            path: path.to_path_buf(),
            field,
            message: err.into_inner().to_string(),
        }
    })
}

/// Returns the absolute rootfs path after checking every field berth needs or refuses.
fn check(path: &Path, dir: &Path, spec: &Spec) -> Result<PathBuf, SpecError> {
    let invalid = |field: &'static str, message: String| SpecError::Invalid {
        path: path.to_path_buf(),
        field,
        message,
    };
    let unsupported = |field: &'static str| SpecError::Unsupported {
        path: path.to_path_buf(),
        field,
    };

    if !spec.version().starts_with("1.") {
        return Err(invalid(
            "ociVersion",
            format!("version {:?} is not 1.x", spec.version()),
        ));
    }
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| invalid("root", "missing".into()))?;
    let rootfs = dir.join(root.path());
    if !rootfs.is_dir() {
        return Err(invalid(
            "root.path",
            format!("{} is not a directory", rootfs.display()),
        ));
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid("process", "missing".into()))?;
    match process.args() {
        Some(args) if !args.is_empty() && !args[0].is_empty() => {}
        _ => return Err(invalid("process.args", "no command to run".into())),
    }
    if !process.cwd().is_absolute() {
        return Err(invalid(
            "process.cwd",
            format!("{:?} is not absolute", process.cwd()),
        ));
    }
    if process.command_line().is_some() {
        return Err(unsupported("process.commandLine"));
    }
    if process
        .apparmor_profile()
        .as_deref()
        .is_some_and(|p| !p.is_empty())
    {
        return Err(unsupported("process.apparmorProfile"));
    }
    if process
        .selinux_label()
        .as_deref()
        .is_some_and(|p| !p.is_empty())
    {
        return Err(unsupported("process.selinuxLabel"));
    }
    if process.scheduler().is_some() {
        return Err(unsupported("process.scheduler"));
    }
    if process.io_priority().is_some() {
        return Err(unsupported("process.ioPriority"));
    }
    if process.exec_cpu_affinity().is_some() {
        return Err(unsupported("process.execCPUAffinity"));
    }
    if spec.hooks().is_some() {
        return Err(unsupported("hooks"));
    }
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| invalid("linux", "missing".into()))?;
    let namespaces = linux.namespaces().as_deref().unwrap_or_default();
    let has_ns = |t: LinuxNamespaceType| namespaces.iter().any(|n| n.typ() == t);
    if !has_ns(LinuxNamespaceType::Mount) {
        return Err(invalid(
            "linux.namespaces",
            "a mount namespace is required".into(),
        ));
    }
    for ns in namespaces {
        if ns.typ() == LinuxNamespaceType::Time {
            return Err(unsupported("linux.namespaces (time)"));
        }
        if ns.typ() == LinuxNamespaceType::Mount && ns.path().is_some() {
            return Err(unsupported("linux.namespaces (mount with a path)"));
        }
        if ns.typ() == LinuxNamespaceType::User && ns.path().is_some() {
            return Err(unsupported("linux.namespaces (user with a path)"));
        }
    }
    let new_uts = namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::Uts && n.path().is_none());
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty()) && !new_uts {
        return Err(invalid(
            "hostname",
            "setting it needs a new uts namespace".into(),
        ));
    }
    let new_user = namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User);
    let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if new_user && !has_maps {
        return Err(invalid(
            "linux.uidMappings",
            "a user namespace needs uid and gid mappings".into(),
        ));
    }
    if !new_user && has_maps {
        return Err(invalid(
            "linux.uidMappings",
            "mappings need a user namespace".into(),
        ));
    }
    if linux.intel_rdt().is_some() {
        return Err(unsupported("linux.intelRdt"));
    }
    if linux.personality().is_some() {
        return Err(unsupported("linux.personality"));
    }
    if linux.time_offsets().is_some() {
        return Err(unsupported("linux.timeOffsets"));
    }
    if linux
        .mount_label()
        .as_deref()
        .is_some_and(|l| !l.is_empty())
    {
        return Err(unsupported("linux.mountLabel"));
    }
    if linux.net_devices().as_ref().is_some_and(|d| !d.is_empty()) {
        return Err(unsupported("linux.netDevices"));
    }
    if let Some(seccomp) = linux.seccomp() {
        if seccomp.listener_path().is_some() {
            return Err(unsupported("linux.seccomp.listenerPath"));
        }
    }
    for mount in spec.mounts().as_deref().unwrap_or_default() {
        if !mount.destination().is_absolute() {
            return Err(invalid(
                "mounts.destination",
                format!("{:?} is not absolute", mount.destination()),
            ));
        }
        if mount.uid_mappings().is_some() || mount.gid_mappings().is_some() {
            return Err(unsupported("mounts.uidMappings"));
        }
    }
    Ok(rootfs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_bundle(spec_json: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        std::fs::write(dir.path().join("config.json"), spec_json).unwrap();
        dir
    }

    fn default_json() -> serde_json::Value {
        serde_json::to_value(Spec::default()).unwrap()
    }

    #[test]
    fn the_default_spec_loads() {
        let dir = write_bundle(&default_json().to_string());
        let bundle = load(dir.path()).unwrap();
        assert_eq!(bundle.rootfs, dir.path().join("rootfs"));
    }

    #[test]
    fn a_missing_config_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("config.json"), "{err}");
        assert!(err.contains("No such file"), "{err}");
    }

    #[test]
    fn a_bad_field_is_named_with_its_path() {
        let mut json = default_json();
        json["process"]["capabilities"]["bounding"][1] = "CAP_FLY".into();
        let dir = write_bundle(&json.to_string());
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("process.capabilities.bounding[1]"), "{err}");
        assert!(err.contains("config.json"), "{err}");
    }

    #[test]
    fn invalid_json_is_reported() {
        let dir = write_bundle("{\"ociVersion\": ");
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("config.json"), "{err}");
    }

    #[test]
    fn unsupported_fields_are_refused_by_name() {
        let mut json = default_json();
        json["hooks"] = serde_json::json!({"prestart": [{"path": "/bin/true"}]});
        let dir = write_bundle(&json.to_string());
        assert!(load(dir.path())
            .unwrap_err()
            .to_string()
            .contains("field hooks is not supported"));

        let mut json = default_json();
        json["process"]["apparmorProfile"] = "docker-default".into();
        let dir = write_bundle(&json.to_string());
        assert!(load(dir.path())
            .unwrap_err()
            .to_string()
            .contains("process.apparmorProfile"));
    }

    #[test]
    fn empty_args_and_relative_cwd_are_invalid() {
        let mut json = default_json();
        json["process"]["args"] = serde_json::json!([]);
        let dir = write_bundle(&json.to_string());
        assert!(load(dir.path())
            .unwrap_err()
            .to_string()
            .contains("process.args"));

        let mut json = default_json();
        json["process"]["cwd"] = "tmp".into();
        let dir = write_bundle(&json.to_string());
        assert!(load(dir.path())
            .unwrap_err()
            .to_string()
            .contains("process.cwd"));
    }

    #[test]
    fn a_missing_rootfs_is_invalid() {
        let dir = write_bundle(&default_json().to_string());
        std::fs::remove_dir(dir.path().join("rootfs")).unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("root.path"), "{err}");
    }

    #[test]
    fn user_namespace_needs_mappings() {
        let mut json = default_json();
        json["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"type": "user"}));
        let dir = write_bundle(&json.to_string());
        assert!(load(dir.path())
            .unwrap_err()
            .to_string()
            .contains("linux.uidMappings"));
    }
}
