//! `User` ("name", "uid", "name:group", "uid:gid") and `GroupAdd` resolved against the rootfs's
//! /etc/passwd and /etc/group, with the rules runc's libcontainer/user applies for Docker:
//! a name must exist, a number need not; the supplementary groups are the groups listing the
//! user by name, unless a group was given explicitly.

use std::path::Path;

use super::{rootfs, SpecError};

/// Highest uid/gid Docker accepts.
const MAX_ID: u64 = i32::MAX as u64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// As Docker sends them: the primary gid first, then supplementary groups, then GroupAdd.
    pub additional_gids: Vec<u32>,
    /// The passwd entry's home, or "/".
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// The lines of `/rel` in the root; a missing file has none.
fn read_lines(root: &Path, rel: &str) -> Result<Vec<String>, SpecError> {
    let bytes = rootfs::read(root, rel)
        .map_err(|e| SpecError::Invalid(format!("reading /{rel} of the container: {e}")))?
        .unwrap_or_default();
    Ok(String::from_utf8_lossy(&bytes)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect())
}

fn passwd(root: &Path) -> Result<Vec<PasswdEntry>, SpecError> {
    Ok(read_lines(root, "etc/passwd")?
        .iter()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).unwrap_or(&"").to_string(),
            })
        })
        .collect())
}

fn groups(root: &Path) -> Result<Vec<GroupEntry>, SpecError> {
    Ok(read_lines(root, "etc/group")?
        .iter()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .unwrap_or(&"")
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect())
}

/// A numeric id in Docker's range, or None when `s` is not a number.
fn numeric(s: &str) -> Result<Option<u32>, SpecError> {
    match s.parse::<u64>() {
        Ok(n) if n <= MAX_ID => Ok(Some(n as u32)),
        Ok(_) => Err(SpecError::Invalid(format!(
            "user/group id {s} is out of range: ids go from 0 to {MAX_ID}"
        ))),
        Err(_) if s.starts_with('-') && s[1..].parse::<u64>().is_ok() => Err(SpecError::Invalid(
            format!("user/group id {s} is out of range: ids go from 0 to {MAX_ID}"),
        )),
        Err(_) => Ok(None),
    }
}

/// Resolves `user` (the container's `User`, "" for root) and `group_add` (HostConfig.GroupAdd)
/// against the files of `root`, read inside it.
pub fn resolve(root: &Path, user: &str, group_add: &[String]) -> Result<ResolvedUser, SpecError> {
    let (user_arg, group_arg) = match user.split_once(':') {
        Some((u, g)) => (u, g),
        None => (user, ""),
    };
    let users = passwd(root)?;
    let uid_arg = numeric(user_arg)?;
    let entry = users.iter().find(|e| match (user_arg, uid_arg) {
        ("", _) => e.uid == 0,
        (_, Some(uid)) => e.uid == uid,
        (name, None) => e.name == name,
    });
    let (uid, mut gid, home) = match (entry, uid_arg) {
        (Some(e), _) => (e.uid, e.gid, e.home.clone()),
        (None, Some(uid)) => (uid, 0, String::new()),
        (None, None) if user_arg.is_empty() => (0, 0, String::new()),
        (None, None) => {
            return Err(SpecError::Invalid(format!(
                "unable to find user {user_arg}: no matching entries in passwd file"
            )))
        }
    };

    let need_groups = !group_arg.is_empty() || entry.is_some() || !group_add.is_empty();
    let all_groups = if need_groups {
        groups(root)?
    } else {
        Vec::new()
    };
    let mut supplementary = Vec::new();
    if !group_arg.is_empty() {
        let gid_arg = numeric(group_arg)?;
        gid = match all_groups.iter().find(|g| match gid_arg {
            Some(n) => g.gid == n,
            None => g.name == group_arg,
        }) {
            Some(g) => g.gid,
            None => gid_arg.ok_or_else(|| {
                SpecError::Invalid(format!(
                    "unable to find group {group_arg}: no matching entries in group file"
                ))
            })?,
        };
    } else if let Some(e) = entry {
        // Supplementary groups only in the implicit form, as libcontainer.
        supplementary.extend(
            all_groups
                .iter()
                .filter(|g| g.members.contains(&e.name))
                .map(|g| g.gid),
        );
    }
    for wanted in group_add {
        let found = all_groups
            .iter()
            .find(|g| g.name == *wanted || g.gid.to_string() == *wanted);
        let g = match found {
            Some(g) => g.gid,
            None => numeric(wanted)?.ok_or_else(|| {
                SpecError::Invalid(format!(
                    "Unable to find group {wanted}: no matching entries in group file"
                ))
            })?,
        };
        supplementary.push(g);
    }
    let mut additional_gids = vec![gid];
    additional_gids.extend(supplementary);
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home: if home.is_empty() { "/".into() } else { home },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n\
             nohome:x:1001:1001:::/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\napp:x:1000:\nextra:x:2000:app,other\nwheel:x:10:root\n",
        )
        .unwrap();
        dir
    }

    fn ids(u: &ResolvedUser) -> (u32, u32, Vec<u32>, &str) {
        (u.uid, u.gid, u.additional_gids.clone(), u.home.as_str())
    }

    #[test]
    fn names_numbers_and_groups() {
        let r = rootfs();
        let p = r.path();
        assert_eq!(
            ids(&resolve(p, "", &[]).unwrap()),
            (0, 0, vec![0, 10], "/root")
        );
        assert_eq!(
            ids(&resolve(p, "app", &[]).unwrap()),
            (1000, 1000, vec![1000, 2000], "/home/app")
        );
        assert_eq!(
            ids(&resolve(p, "1000", &[]).unwrap()),
            (1000, 1000, vec![1000, 2000], "/home/app")
        );
        // An explicit group drops the implicit supplementary groups.
        assert_eq!(
            ids(&resolve(p, "app:extra", &[]).unwrap()),
            (1000, 2000, vec![2000], "/home/app")
        );
        assert_eq!(
            ids(&resolve(p, "app:4343", &[]).unwrap()),
            (1000, 4343, vec![4343], "/home/app")
        );
        // Numbers need no entry; the home is then "/".
        assert_eq!(
            ids(&resolve(p, "4242:4343", &[]).unwrap()),
            (4242, 4343, vec![4343], "/")
        );
        assert_eq!(
            ids(&resolve(p, "4242", &[]).unwrap()),
            (4242, 0, vec![0], "/")
        );
        assert_eq!(resolve(p, "nohome", &[]).unwrap().home, "/");
        // GroupAdd by name or number.
        let add = ["wheel".to_string(), "77".to_string()];
        assert_eq!(
            resolve(p, "app", &add).unwrap().additional_gids,
            [1000, 2000, 10, 77]
        );
    }

    #[test]
    fn unknown_names_are_refused_with_dockers_words() {
        let r = rootfs();
        let e = resolve(r.path(), "nobody", &[]).unwrap_err().to_string();
        assert_eq!(
            e,
            "unable to find user nobody: no matching entries in passwd file"
        );
        let e = resolve(r.path(), "app:nogroup", &[])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "unable to find group nogroup: no matching entries in group file"
        );
        let e = resolve(r.path(), "app", &["nogroup".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("Unable to find group nogroup"), "{e}");
        assert!(resolve(r.path(), "99999999999", &[]).is_err());
    }

    #[test]
    fn missing_files_are_fine_for_numbers() {
        let r = tempfile::tempdir().unwrap();
        assert_eq!(
            ids(&resolve(r.path(), "", &[]).unwrap()),
            (0, 0, vec![0], "/")
        );
        assert_eq!(
            ids(&resolve(r.path(), "5:6", &["7".into()]).unwrap()),
            (5, 6, vec![6, 7], "/")
        );
        assert!(resolve(r.path(), "app", &[]).is_err());
    }

    #[test]
    fn a_hostile_etc_symlink_is_resolved_inside_the_root() {
        let host = tempfile::tempdir().unwrap();
        std::fs::write(host.path().join("passwd"), "evil:x:0:0::/:/bin/sh\n").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(host.path(), root.path().join("etc")).unwrap();
        // /etc points outside; resolved in the root it does not exist, so "evil" is unknown.
        let e = resolve(root.path(), "evil", &[]).unwrap_err().to_string();
        assert!(e.contains("no matching entries"), "{e}");
        // A relative escape is clamped to the root as well.
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        let rel = format!("../../../../../../..{}/passwd", host.path().display());
        std::os::unix::fs::symlink(rel, root.path().join("etc/passwd")).unwrap();
        assert!(resolve(root.path(), "evil", &[]).is_err());
    }

    #[test]
    fn a_fifo_passwd_does_not_hang() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        let fifo =
            std::ffi::CString::new(root.path().join("etc/passwd").to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let e = resolve(root.path(), "app", &[]).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }
}
