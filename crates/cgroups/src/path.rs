//! OCI `cgroupsPath` handling.

use std::path::{Component, Path, PathBuf};

use crate::error::{CgroupError, Result};

/// Split an OCI cgroupsPath into its levels. `/berth/abc` and `berth/abc` both give
/// `["berth", "abc"]`, placed under each hierarchy's root. `slice:prefix:name` is refused.
pub fn parse_cgroups_path(path: &Path) -> Result<Vec<String>> {
    let text = path.to_string_lossy().into_owned();
    let invalid = |reason: &str| CgroupError::InvalidPath {
        path: text.clone(),
        reason: reason.to_string(),
    };
    if !text.starts_with('/') && text.split(':').count() == 3 {
        return Err(CgroupError::SystemdPath { path: text });
    }
    let mut levels = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => {
                let n = n.to_str().ok_or_else(|| invalid("not valid utf-8"))?;
                levels.push(n.to_string());
            }
            Component::ParentDir => return Err(invalid("\"..\" is not allowed")),
            Component::Prefix(_) => return Err(invalid("unexpected prefix")),
        }
    }
    if levels.is_empty() {
        return Err(invalid(
            "it names the root cgroup; give a path such as /berth/<id>",
        ));
    }
    Ok(levels)
}

/// `base/level0/level1/...`
pub(crate) fn join_levels(base: &Path, levels: &[String]) -> PathBuf {
    let mut p = base.to_path_buf();
    for l in levels {
        p.push(l);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_and_relative() {
        assert_eq!(
            parse_cgroups_path(Path::new("/berth/abc")).unwrap(),
            ["berth", "abc"]
        );
        assert_eq!(
            parse_cgroups_path(Path::new("berth/abc/")).unwrap(),
            ["berth", "abc"]
        );
        assert_eq!(
            parse_cgroups_path(Path::new("//berth/./x")).unwrap(),
            ["berth", "x"]
        );
    }

    #[test]
    fn refused() {
        let e = parse_cgroups_path(Path::new("system.slice:berth:abc")).unwrap_err();
        assert!(matches!(e, CgroupError::SystemdPath { .. }));
        assert!(
            e.to_string()
                .contains("systemd cgroup driver is not supported yet"),
            "{e}"
        );
        let e = parse_cgroups_path(Path::new("/berth/../etc")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid cgroupsPath \"/berth/../etc\": \"..\" is not allowed"
        );
        let e = parse_cgroups_path(Path::new("/")).unwrap_err();
        assert!(e.to_string().contains("names the root cgroup"), "{e}");
        // A colon inside an absolute path is just a name.
        assert_eq!(parse_cgroups_path(Path::new("/a:b:c")).unwrap(), ["a:b:c"]);
    }
}
