//! The host side of `berth cp`: a local file or tree as a tar (owners, modes, mtimes,
//! symlinks and hardlinks kept), and a tar from the daemon extracted into a local directory,
//! renamed as docker renames it. Extraction stays inside the destination: names with `..` are
//! refused and parents are checked to resolve inside it.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

#[derive(Debug)]
pub enum ExtractError {
    Io(String, io::Error),
    Refused(String),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> ExtractError {
    let context = context.into();
    move |e| ExtractError::Io(context, e)
}

/// Writes `src` as a tar whose top entry is named `root_name` (`.` puts a directory's contents
/// at the top), with everything below a directory.
pub fn tar_local(src: &Path, root_name: &str, out: &mut dyn Write) -> io::Result<()> {
    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Complete);
    let mut links = HashMap::new();
    add(&mut builder, src, root_name, &mut links)?;
    builder.finish()
}

fn add(
    b: &mut tar::Builder<&mut dyn Write>,
    path: &Path,
    name: &str,
    links: &mut HashMap<(u64, u64), String>,
) -> io::Result<()> {
    let md = fs::symlink_metadata(path)?;
    let ft = md.file_type();
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(&md, tar::HeaderMode::Complete);
    if ft.is_dir() {
        h.set_size(0);
        b.append_data(&mut h, name, io::empty())?;
        let mut children: Vec<_> = fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        children.sort();
        for child in children {
            let child_name = if name == "." {
                child.to_string_lossy().into_owned()
            } else {
                format!("{name}/{}", child.to_string_lossy())
            };
            add(b, &path.join(&child), &child_name, links)?;
        }
        return Ok(());
    }
    if ft.is_symlink() {
        let target = fs::read_link(path)?;
        h.set_size(0);
        return b.append_link(&mut h, name, target);
    }
    if ft.is_file() {
        if md.nlink() > 1 {
            if let Some(first) = links.get(&(md.dev(), md.ino())) {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                return b.append_link(&mut h, name, first);
            }
            links.insert((md.dev(), md.ino()), name.to_string());
        }
        let file = fs::File::open(path)?;
        // The header says how long the file was; a file that changes meanwhile is cut or padded.
        let size = md.len();
        return b.append_data(
            &mut h,
            name,
            file.take(size).chain(io::repeat(0)).take(size),
        );
    }
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
        h.set_size(0);
        return b.append_data(&mut h, name, io::empty());
    }
    // Sockets have no tar form; docker leaves them out too.
    Ok(())
}

/// `name` with its leading `from` component replaced by `to` (docker's rebase of the copied
/// resource's name).
fn rebase(name: &str, from: &str, to: &str) -> String {
    if from == "/" {
        return format!("{to}/{}", name.trim_start_matches('/'));
    }
    if name == from || name == format!("{from}/") {
        return to.to_string();
    }
    match name.strip_prefix(&format!("{from}/")) {
        Some(rest) => format!("{to}/{rest}"),
        None => name.to_string(),
    }
}

/// A tar name as a relative path of plain components; `..` is refused.
fn clean(name: &str) -> Result<PathBuf, ExtractError> {
    let mut out = PathBuf::new();
    for c in Path::new(name).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(ExtractError::Refused(format!(
                    "archive entry {name:?} climbs out of the destination"
                )))
            }
        }
    }
    Ok(out)
}

/// Extracts `body` into `dir`, renaming the top entry `from` to `to` when both are given.
/// Owners are not restored (the files belong to whoever runs the copy, as with docker); modes
/// and mtimes are. A directory never replaces a file or the reverse.
pub fn extract(
    body: &mut dyn Read,
    dir: &Path,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(), ExtractError> {
    let root = fs::canonicalize(dir).map_err(io_err(format!("open {}", dir.display())))?;
    let mut archive = tar::Archive::new(body);
    let mut dir_times = Vec::new();
    let entries = archive.entries().map_err(io_err("reading the archive"))?;
    for entry in entries {
        let mut entry = entry.map_err(io_err("reading the archive"))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = match (from, to) {
            (Some(f), Some(t)) => rebase(&raw, f, t),
            _ => raw.clone(),
        };
        let rel = clean(&name)?;
        let target = root.join(&rel);
        if let Some(parent) = target.parent().filter(|_| !rel.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(io_err(format!("mkdir {}", parent.display())))?;
            let real =
                fs::canonicalize(parent).map_err(io_err(format!("open {}", parent.display())))?;
            if !real.starts_with(&root) {
                return Err(ExtractError::Refused(format!(
                    "archive entry {raw:?} would be written outside {} through a symlink",
                    root.display()
                )));
            }
        }
        let kind = entry.header().entry_type();
        let is_dir = kind == tar::EntryType::Directory;
        if let Ok(existing) = fs::symlink_metadata(&target) {
            match (existing.is_dir(), is_dir) {
                (true, true) => {}
                (true, false) => {
                    return Err(ExtractError::Refused(format!(
                        "cannot overwrite directory {:?} with non-directory {:?}",
                        target.display().to_string(),
                        raw
                    )))
                }
                (false, true) => {
                    return Err(ExtractError::Refused(format!(
                        "cannot overwrite non-directory {:?} with directory {:?}",
                        target.display().to_string(),
                        raw
                    )))
                }
                (false, false) => fs::remove_file(&target)
                    .map_err(io_err(format!("remove {}", target.display())))?,
            }
        }
        if kind == tar::EntryType::Link {
            let link = entry
                .link_name()
                .map_err(io_err("reading the archive"))?
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default();
            let link = match (from, to) {
                (Some(f), Some(t)) => rebase(&link, f, t),
                _ => link,
            };
            let src = root.join(clean(&link)?);
            fs::hard_link(&src, &target).map_err(io_err(format!("link {}", target.display())))?;
            continue;
        }
        entry.set_preserve_permissions(true);
        entry.set_preserve_mtime(true);
        entry.set_unpack_xattrs(false);
        entry
            .unpack(&target)
            .map_err(io_err(format!("extract {}", target.display())))?;
        if is_dir {
            if let Ok(mtime) = entry.header().mtime() {
                dir_times.push((target, mtime));
            }
        }
    }
    // Directory times last: creating their children changed them.
    for (path, mtime) in dir_times.into_iter().rev() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime);
        if let Ok(f) = fs::File::open(&path) {
            let _ = f.set_modified(t);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebase_renames_the_top_entry_only() {
        assert_eq!(rebase("tree/", "tree", "t"), "t");
        assert_eq!(rebase("tree/sub/x", "tree", "t"), "t/sub/x");
        assert_eq!(rebase("treehouse/x", "tree", "t"), "treehouse/x");
        assert_eq!(rebase("./sub", ".", "contents"), "contents/sub");
        assert_eq!(rebase("./", ".", "contents"), "contents");
    }

    #[test]
    fn round_trip_keeps_modes_links_and_refuses_escapes() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(src.join("d")).unwrap();
        fs::write(src.join("d/f"), "data").unwrap();
        fs::set_permissions(src.join("d/f"), fs::Permissions::from_mode(0o751)).unwrap();
        fs::hard_link(src.join("d/f"), src.join("h")).unwrap();
        std::os::unix::fs::symlink("d/f", src.join("l")).unwrap();
        let mut tar = Vec::new();
        tar_local(&src, "src", &mut tar).unwrap();
        let dst = tmp.path().join("dst");
        fs::create_dir(&dst).unwrap();
        extract(&mut &tar[..], &dst, Some("src"), Some("copy")).unwrap();
        let f = fs::metadata(dst.join("copy/d/f")).unwrap();
        assert_eq!(f.permissions().mode() & 0o7777, 0o751);
        assert_eq!(fs::metadata(dst.join("copy/h")).unwrap().ino(), f.ino());
        assert_eq!(fs::read_link(dst.join("copy/l")).unwrap(), Path::new("d/f"));

        let mut evil = Vec::new();
        {
            let mut b = tar::Builder::new(&mut evil);
            let mut h = tar::Header::new_gnu();
            h.set_size(1);
            h.set_mode(0o644);
            let name = b"../escape";
            h.as_old_mut().name[..name.len()].copy_from_slice(name);
            h.set_cksum();
            b.append(&h, &b"x"[..]).unwrap();
            b.finish().unwrap();
        }
        assert!(matches!(
            extract(&mut &evil[..], &dst, None, None),
            Err(ExtractError::Refused(_))
        ));
        assert!(!tmp.path().join("escape").exists());
    }
}
