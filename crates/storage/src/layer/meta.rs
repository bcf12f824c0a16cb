//! Layer and container-layer metadata on disk, written so that a crash leaves the old state or
//! the new: files are written and synced in a temp directory, which is then renamed into place.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Digest, Layer};
use crate::{Result, StorageError};

#[derive(Debug, Clone)]
pub struct LayerMeta {
    pub chain_id: Digest,
    pub diff_id: Digest,
    pub parent: Option<Digest>,
    pub size: u64,
    pub cache_id: String,
}

impl LayerMeta {
    pub fn to_layer(&self) -> Layer {
        Layer {
            chain_id: self.chain_id.clone(),
            diff_id: self.diff_id.clone(),
            parent: self.parent.clone(),
            size: self.size,
            cache_id: self.cache_id.clone(),
        }
    }
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StorageError + 'a {
    move |e| StorageError::io(op, path, e)
}

pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = std::fs::File::create(path).map_err(io("create", path))?;
    f.write_all(bytes).map_err(io("write", path))?;
    f.sync_all().map_err(io("sync", path))
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync", dir))
}

/// A new, empty directory under `<root>/tmp` in which a layer's metadata is gathered (the
/// tar-split is written there while the layer is applied); [`save`] renames it into place.
pub fn new_temp_dir(root: &Path) -> Result<PathBuf> {
    let tmp = root.join("tmp").join(random_id()?);
    std::fs::create_dir(&tmp).map_err(io("create", &tmp))?;
    Ok(tmp)
}

/// Writes small files into the temp directory `tmp`, syncs it and renames it to `dest`.
fn fill_and_rename(root: &Path, tmp: &Path, dest: &Path, files: &[(&str, String)]) -> Result<()> {
    for (name, content) in files {
        write_synced(&tmp.join(name), content.as_bytes())?;
    }
    sync_dir(tmp)?;
    std::fs::rename(tmp, dest).map_err(io("rename", dest))?;
    sync_dir(dest.parent().unwrap_or(root))
}

/// Writes a directory of small files under `<root>/tmp` and renames it to `dest`.
fn write_dir(root: &Path, dest: &Path, files: &[(&str, String)]) -> Result<()> {
    let tmp = new_temp_dir(root)?;
    fill_and_rename(root, &tmp, dest, files)
}

/// Saves a layer's metadata: the files go into `tmp` (from [`new_temp_dir`], which may already
/// hold the layer's tar-split), which then becomes `<root>/sha256/<chain-id hex>`.
pub fn save(root: &Path, tmp: &Path, m: &LayerMeta, refs: u64) -> Result<()> {
    let dest = root.join("sha256").join(m.chain_id.hex());
    let mut files = vec![
        ("diff-id", m.diff_id.to_string()),
        ("size", m.size.to_string()),
        ("cache-id", m.cache_id.clone()),
        ("refs", refs.to_string()),
    ];
    if let Some(p) = &m.parent {
        files.push(("parent", p.to_string()));
    }
    fill_and_rename(root, tmp, &dest, &files)
}

pub fn write_refs(dir: &Path, chain_id: &Digest, refs: u64) -> Result<()> {
    let layer_dir = dir.join(chain_id.hex());
    let tmp = layer_dir.join(".refs.tmp");
    write_synced(&tmp, refs.to_string().as_bytes())?;
    let dest = layer_dir.join("refs");
    std::fs::rename(&tmp, &dest).map_err(io("rename", &dest))
}

pub fn remove(root: &Path, chain_id: &Digest) -> Result<()> {
    let d = root.join("sha256").join(chain_id.hex());
    std::fs::remove_dir_all(&d).map_err(io("remove", &d))
}

fn read(dir: &Path, name: &str) -> Result<String> {
    let p = dir.join(name);
    std::fs::read_to_string(&p)
        .map(|s| s.trim().to_string())
        .map_err(io("read", &p))
}

fn corrupt(dir: &Path, what: impl std::fmt::Display) -> StorageError {
    StorageError::Archive(format!(
        "layer metadata {} is corrupt: {what}",
        dir.display()
    ))
}

pub fn load_all(dir: &Path) -> Result<Vec<(LayerMeta, u64)>> {
    let mut out = Vec::new();
    for name in list_names(dir)? {
        let d = dir.join(&name);
        let chain_id: Digest = format!("sha256:{name}")
            .parse()
            .map_err(|e| corrupt(&d, e))?;
        let diff_id = read(&d, "diff-id")?.parse().map_err(|e| corrupt(&d, e))?;
        let parent = match d.join("parent").exists() {
            true => Some(read(&d, "parent")?.parse().map_err(|e| corrupt(&d, e))?),
            false => None,
        };
        let size = read(&d, "size")?.parse().map_err(|e| corrupt(&d, e))?;
        let refs = read(&d, "refs")?.parse().map_err(|e| corrupt(&d, e))?;
        let cache_id = read(&d, "cache-id")?;
        out.push((
            LayerMeta {
                chain_id,
                diff_id,
                parent,
                size,
                cache_id,
            },
            refs,
        ));
    }
    Ok(out)
}

pub fn list_names(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io("read", dir))? {
        let entry = entry.map_err(io("read", dir))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// 32 random hex digits from the kernel.
pub fn random_id() -> Result<String> {
    let mut bytes = [0u8; 16];
    // SAFETY: getrandom fills the buffer we own.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if n != bytes.len() as isize {
        return Err(StorageError::io(
            "getrandom",
            "",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Container ids name directories: letters, digits, '_', '-', '.', not starting with '.'.
pub fn check_name(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(StorageError::InvalidId(id.to_string()))
    }
}

pub struct ContainerMeta {
    pub init_id: String,
    pub rw_id: String,
    pub image_top: Option<Digest>,
}

impl ContainerMeta {
    fn dir(root: &Path, container_id: &str) -> PathBuf {
        root.join("mounts").join(container_id)
    }

    pub fn save(&self, root: &Path, container_id: &str) -> Result<()> {
        let mut files = vec![
            ("init-id", self.init_id.clone()),
            ("mount-id", self.rw_id.clone()),
        ];
        if let Some(top) = &self.image_top {
            files.push(("parent", top.to_string()));
        }
        write_dir(root, &Self::dir(root, container_id), &files)
    }

    pub fn load(root: &Path, container_id: &str) -> Result<ContainerMeta> {
        let d = Self::dir(root, container_id);
        if !d.exists() {
            return Err(StorageError::NotFound(container_id.to_string()));
        }
        let image_top = match d.join("parent").exists() {
            true => Some(read(&d, "parent")?.parse().map_err(|e| corrupt(&d, e))?),
            false => None,
        };
        Ok(ContainerMeta {
            init_id: read(&d, "init-id")?,
            rw_id: read(&d, "mount-id")?,
            image_top,
        })
    }

    pub fn remove(root: &Path, container_id: &str) -> Result<()> {
        let d = Self::dir(root, container_id);
        std::fs::remove_dir_all(&d).map_err(io("remove", &d))
    }
}
