//! A cache of compiled filters. Compiling a Docker-sized profile with libseccomp takes tens of
//! milliseconds, most of a container start; the same profile gives the same program, so the
//! builtin runtime keeps each one under its state root, keyed by the profile's exact JSON. A
//! cache file whose profile text differs from the one asked for is never used.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxSeccomp;

use super::{decode, SeccompError, SeccompProgram};

const MAGIC: &[u8; 8] = b"berthbpf";
const VERSION: u32 = 1;

fn key(profile: &[u8]) -> String {
    let mut h = DefaultHasher::new();
    profile.hash(&mut h);
    std::env::consts::ARCH.hash(&mut h);
    format!("{:016x}", h.finish())
}

fn encode(profile: &[u8], program: &SeccompProgram) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(profile.len() as u64).to_le_bytes());
    out.extend_from_slice(profile);
    #[allow(clippy::useless_conversion)] // c_ulong is u32 on 32-bit targets
    let flags = u64::from(program.flags);
    out.extend_from_slice(&flags.to_le_bytes());
    let skipped = program.skipped.join("\n");
    out.extend_from_slice(&(skipped.len() as u64).to_le_bytes());
    out.extend_from_slice(skipped.as_bytes());
    for i in &program.filter {
        out.extend_from_slice(&i.code.to_ne_bytes());
        out.push(i.jt);
        out.push(i.jf);
        out.extend_from_slice(&i.k.to_ne_bytes());
    }
    out
}

/// The cached program for exactly `profile`, if the file holds it.
fn parse(bytes: &[u8], profile: &[u8]) -> Option<SeccompProgram> {
    let mut rest = bytes.strip_prefix(MAGIC.as_slice())?;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (a, b) = (rest.get(..n)?, rest.get(n..)?);
        rest = b;
        Some(a)
    };
    let version = u32::from_le_bytes(take(4)?.try_into().ok()?);
    let len = u64::from_le_bytes(take(8)?.try_into().ok()?) as usize;
    if version != VERSION || take(len)? != profile {
        return None;
    }
    let flags = libc::c_ulong::try_from(u64::from_le_bytes(take(8)?.try_into().ok()?)).ok()?;
    let skipped_len = u64::from_le_bytes(take(8)?.try_into().ok()?) as usize;
    let skipped = String::from_utf8(take(skipped_len)?.to_vec()).ok()?;
    let filter = decode(rest).ok()?;
    Some(SeccompProgram {
        filter,
        flags,
        skipped: skipped.lines().map(str::to_string).collect(),
    })
}

impl SeccompProgram {
    /// [`SeccompProgram::compile`], with compiled programs kept in `cache_dir`. A cache that
    /// can't be read or written only costs the compile.
    pub fn compile_cached(
        seccomp: &LinuxSeccomp,
        cache_dir: Option<&Path>,
    ) -> Result<Self, SeccompError> {
        let Some(dir) = cache_dir else {
            return Self::compile(seccomp);
        };
        let profile = serde_json::to_vec(seccomp).expect("a seccomp profile serialises");
        let path: PathBuf = dir.join(key(&profile));
        if let Some(program) = std::fs::read(&path).ok().and_then(|b| parse(&b, &profile)) {
            return Ok(program);
        }
        let program = Self::compile(seccomp)?;
        if std::fs::create_dir_all(dir).is_ok() {
            let _ = crate::fsutil::write_atomic_volatile(&path, &encode(&profile, &program));
        }
        Ok(program)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_programs_are_the_compiled_ones_and_keyed_by_profile() {
        let profile: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        }))
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let fresh = SeccompProgram::compile(&profile).unwrap();
        let first = SeccompProgram::compile_cached(&profile, Some(dir.path())).unwrap();
        let second = SeccompProgram::compile_cached(&profile, Some(dir.path())).unwrap();
        let words = |p: &SeccompProgram| {
            p.instructions()
                .iter()
                .map(|i| (i.code, i.jt, i.jf, i.k))
                .collect::<Vec<_>>()
        };
        assert_eq!(words(&first), words(&fresh));
        assert_eq!(words(&second), words(&fresh));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // A file holding another profile's program is not taken.
        let file = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let other = br#"{"defaultAction":"SCMP_ACT_KILL"}"#;
        assert!(parse(&std::fs::read(&file).unwrap(), other).is_none());
    }
}
