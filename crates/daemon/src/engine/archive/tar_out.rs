//! Writing a file or a directory tree of a container as a tar, through fds only: a directory is
//! listed from its fd, each child is lstat-ed and opened with `O_NOFOLLOW` relative to it, so a
//! symlink swapped in during the walk is archived as a symlink, never followed out of the root.

use std::collections::HashMap;
use std::ffi::{CStr, CString, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;

use super::resolve::{is_dir, lstat_at, readlink_at, Target};

/// Filesystems whose contents are the kernel's, not the container's files: a walk shows the
/// directory but does not descend (a running container's `/proc` and `/sys` are mounted).
const PSEUDO_FS: &[i64] = &[
    0x9fa0,      // proc
    0x6265_6572, // sysfs
    0x0027_e0eb, // cgroup
    0x6367_7270, // cgroup2
    0x1cd1,      // devpts
    0x1980_0202, // mqueue
    0x6462_6720, // debugfs
    0x7363_6673, // securityfs
    0x7472_6163, // tracefs
    0xcafe_4a11, // bpf
];

pub struct TarWriter<W: Write> {
    out: tar::Builder<W>,
    /// (dev, ino) of files with several links → their first name in this tar.
    links: HashMap<(u64, u64), Vec<u8>>,
}

impl<W: Write> TarWriter<W> {
    pub fn new(out: W) -> Self {
        TarWriter {
            out: tar::Builder::new(out),
            links: HashMap::new(),
        }
    }

    /// Archives `target` under `name` (a directory with everything below it) and ends the tar.
    pub fn write(mut self, target: &Target, st: &libc::stat, name: &[u8]) -> io::Result<()> {
        match target {
            Target::Dir(fd) => self.dir(fd, st, name)?,
            Target::Entry {
                parent,
                name: cname,
            } => self.entry(parent.as_raw_fd(), cname, st, name)?,
        }
        self.out.finish()
    }

    fn dir(&mut self, fd: &OwnedFd, st: &libc::stat, name: &[u8]) -> io::Result<()> {
        let mut dir_name = name.to_vec();
        if !dir_name.ends_with(b"/") {
            dir_name.push(b'/');
        }
        let mut h = header(st, tar::EntryType::Directory);
        h.set_size(0);
        self.append(h, &dir_name, None, io::empty())?;
        if is_pseudo_fs(fd.as_raw_fd()) {
            return Ok(());
        }
        let mut names = list_dir(fd)?;
        names.sort();
        for child in names {
            let cname = CString::new(child.clone().into_vec())
                .map_err(|_| io::Error::other("nul in a file name"))?;
            let st = match lstat_at(fd.as_raw_fd(), &cname) {
                Ok(st) => st,
                // Removed while we walk: as Docker, leave it out.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(e),
            };
            let mut child_name = if name == b"/" {
                b"/".to_vec()
            } else {
                dir_name.clone()
            };
            child_name.extend_from_slice(&child.into_vec());
            if is_dir(&st) {
                let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
                // SAFETY: one plain name in a dir fd we own, never following a symlink.
                let raw = unsafe { libc::openat(fd.as_raw_fd(), cname.as_ptr(), flags) };
                if raw < 0 {
                    let e = io::Error::last_os_error();
                    if e.raw_os_error() == Some(libc::ENOENT) {
                        continue;
                    }
                    return Err(e);
                }
                // SAFETY: a new fd we own.
                let child_fd = unsafe { OwnedFd::from_raw_fd(raw) };
                self.dir(&child_fd, &st, &child_name)?;
            } else {
                self.entry(fd.as_raw_fd(), &cname, &st, &child_name)?;
            }
        }
        Ok(())
    }

    fn entry(&mut self, dir: RawFd, cname: &CStr, st: &libc::stat, name: &[u8]) -> io::Result<()> {
        use tar::EntryType as T;
        match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => {
                if st.st_nlink > 1 {
                    let key = (st.st_dev, st.st_ino);
                    if let Some(first) = self.links.get(&key).cloned() {
                        let mut h = header(st, T::Link);
                        h.set_size(0);
                        return self.append(h, name, Some(&first), io::empty());
                    }
                    self.links.insert(key, name.to_vec());
                }
                let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
                // SAFETY: one plain name in a dir fd; O_NOFOLLOW refuses a swapped-in symlink,
                // O_NONBLOCK keeps a swapped-in FIFO from blocking.
                let raw = unsafe { libc::openat(dir, cname.as_ptr(), flags) };
                if raw < 0 {
                    return Err(io::Error::last_os_error());
                }
                // SAFETY: a new fd we own.
                let file = unsafe { File::from_raw_fd(raw) };
                let size = st.st_size.max(0) as u64;
                let mut h = header(st, T::Regular);
                h.set_size(size);
                // The header promised `size` bytes: a file that shrank meanwhile is padded.
                let content = file.take(size).chain(io::repeat(0)).take(size);
                self.append(h, name, None, content)
            }
            libc::S_IFLNK => {
                let link = readlink_at(dir, cname)?;
                let mut h = header(st, T::Symlink);
                h.set_size(0);
                self.append(h, name, Some(&link), io::empty())
            }
            libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO => {
                let kind = match st.st_mode & libc::S_IFMT {
                    libc::S_IFCHR => T::Char,
                    libc::S_IFBLK => T::Block,
                    _ => T::Fifo,
                };
                let mut h = header(st, kind);
                h.set_size(0);
                if kind != T::Fifo {
                    h.set_device_major(libc::major(st.st_rdev))?;
                    h.set_device_minor(libc::minor(st.st_rdev))?;
                }
                self.append(h, name, None, io::empty())
            }
            // Sockets have no tar form; Docker leaves them out too.
            _ => Ok(()),
        }
    }

    /// Appends an entry named with the exact bytes given (Docker's names start with `./` or
    /// `/` at times, which the tar crate's path setters would rewrite). Names and link targets
    /// too long for the header go first as GNU long-name records.
    fn append(
        &mut self,
        mut h: tar::Header,
        name: &[u8],
        link: Option<&[u8]>,
        data: impl Read,
    ) -> io::Result<()> {
        if name.len() > 100 {
            self.long_record(b'L', name)?;
        }
        if let Some(link) = link {
            if link.len() > 100 {
                self.long_record(b'K', link)?;
            }
            let slot = &mut h.as_old_mut().linkname;
            let n = link.len().min(slot.len());
            slot[..n].copy_from_slice(&link[..n]);
        }
        let slot = &mut h.as_old_mut().name;
        let n = name.len().min(slot.len());
        slot[..n].copy_from_slice(&name[..n]);
        h.set_cksum();
        self.out.append(&h, data)
    }

    fn long_record(&mut self, kind: u8, value: &[u8]) -> io::Result<()> {
        let mut h = tar::Header::new_gnu();
        let slot = &mut h.as_old_mut().name;
        slot[..13].copy_from_slice(b"././@LongLink");
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::new(kind));
        h.set_size(value.len() as u64 + 1);
        h.set_cksum();
        self.out.append(&h, value.chain(&[0u8][..]))
    }
}

fn header(st: &libc::stat, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(st.st_uid.into());
    h.set_gid(st.st_gid.into());
    // Whole seconds, as Docker writes them.
    h.set_mtime(st.st_mtime.max(0) as u64);
    h
}

fn is_pseudo_fs(fd: RawFd) -> bool {
    let mut sfs = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: fstatfs fills the struct on success.
    if unsafe { libc::fstatfs(fd, sfs.as_mut_ptr()) } < 0 {
        return false;
    }
    let magic: i64 = unsafe { sfs.assume_init() }.f_type;
    PSEUDO_FS.contains(&magic)
}

fn list_dir(fd: &OwnedFd) -> io::Result<Vec<OsString>> {
    berth_storage::archive::list_dir(fd.as_raw_fd())
}
