//! Image references: `name[:tag][@digest]` with Docker's normalisation.
//!
//! The grammar is Docker's (distribution/reference):
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] path
//! domain     := host [ ":" port ]          host: dns labels joined by "." or "[ipv6]"
//! path       := component ( "/" component )*
//! component  := [a-z0-9]+ ( separator [a-z0-9]+ )*      separator: "." | "_" | "__" | "-"+
//! tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//! digest     := "sha256:" 64 lowercase hex digits
//! ```
//!
//! The first `/`-separated component is a domain when it contains `.` or `:`, is `localhost`, or
//! has an uppercase letter (as Docker decides). Without a domain the name lives on `docker.io`,
//! and a single-component Docker Hub name goes under `library/`.

use std::fmt;
use std::str::FromStr;

use crate::{Digest, ImageError, Result};

/// Docker Hub, as references spell it.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The older spelling of Docker Hub, normalised to [`DEFAULT_DOMAIN`].
pub const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// The namespace of Docker Hub's official images.
pub const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The longest a full name (`domain/path`) may be.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;
/// The longest a tag may be.
pub const TAG_LENGTH_MAX: usize = 128;
/// The tag [`Reference::parse_tagged`] adds.
pub const DEFAULT_TAG: &str = "latest";

/// A parsed, normalised reference: domain "docker.io", path "library/busybox", optional tag and
/// digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

fn invalid(msg: String) -> ImageError {
    ImageError::InvalidReference(msg)
}

impl Reference {
    /// Parses and normalises (`busybox` → docker.io/library/busybox); adds no tag.
    pub fn parse(s: &str) -> Result<Reference> {
        if s.is_empty() {
            return Err(invalid(
                "repository name must have at least one component".into(),
            ));
        }
        // The digest is everything after the first '@' (a name or tag holds no '@').
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(parse_digest(s, d)?)),
            None => (s, None),
        };
        // A tag follows the last ':' when no '/' comes after it; otherwise that ':' is a port.
        let (name, tag) = match name_tag.rfind(':') {
            Some(i) if !name_tag[i + 1..].contains('/') => {
                let tag = &name_tag[i + 1..];
                validate_tag(s, tag)?;
                (&name_tag[..i], Some(tag.to_string()))
            }
            _ => (name_tag, None),
        };
        if name.is_empty() {
            return Err(invalid(format!(
                "{s:?}: repository name must have at least one component"
            )));
        }
        if is_hex64(name) {
            return Err(invalid(format!(
                "invalid repository name ({name}), cannot specify 64-byte hexadecimal strings"
            )));
        }
        let (domain, path) = split_domain(name);
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(invalid(format!(
                "repository name ({path}) must be lowercase"
            )));
        }
        validate_domain(s, &domain)?;
        validate_path(s, &path)?;
        if domain.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(invalid(format!(
                "repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters \
                 ({domain}/{path} has {})",
                domain.len() + 1 + path.len()
            )));
        }
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// As [`Reference::parse`], adding `:latest` when neither tag nor digest is given.
    pub fn parse_tagged(s: &str) -> Result<Reference> {
        let mut r = Reference::parse(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(r)
    }

    /// "docker.io/library/busybox".
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// "busybox" (what docker shows): docker.io and library/ dropped.
    ///
    /// Unlike Docker, `docker.io/` stays when dropping it would make the first path component
    /// read as a domain (`docker.io/a.b/c`), and `library/` stays before a 64-hex name, so that
    /// the familiar form always parses back to the same reference.
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        if let Some(rest) = self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            if !rest.contains('/') && !is_hex64(rest) {
                return rest.to_string();
            }
        }
        match self.path.split_once('/') {
            Some((first, _)) if looks_like_domain(first) => self.name(),
            _ => self.path.clone(),
        }
    }

    /// "busybox:latest", "localhost:5000/x@sha256:…".
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        self.push_tag_digest(&mut s);
        s
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The same name with another tag (and no digest).
    pub fn with_tag(&self, tag: &str) -> Result<Reference> {
        validate_tag(tag, tag)?;
        Ok(Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: Some(tag.to_string()),
            digest: None,
        })
    }

    /// The same name with a digest (and no tag).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: Some(digest),
        }
    }

    /// The name alone, without tag or digest.
    pub fn name_only(&self) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    /// Whether the name carries neither tag nor digest.
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    fn push_tag_digest(&self, s: &mut String) {
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d.as_str());
        }
    }
}

impl FromStr for Reference {
    type Err = ImageError;

    fn from_str(s: &str) -> Result<Reference> {
        Reference::parse(s)
    }
}

/// The full form: "docker.io/library/busybox:latest".
impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_tag_digest(&mut s);
        f.write_str(&s)
    }
}

/// Whether `s` is 64 lowercase hex digits, the shape of an image ID.
fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Docker's test for a leading domain component.
fn looks_like_domain(first: &str) -> bool {
    first.contains(['.', ':'])
        || first == "localhost"
        || first.bytes().any(|b| b.is_ascii_uppercase())
}

/// Splits `name` into its normalised domain and path.
fn split_domain(name: &str) -> (String, String) {
    let (mut domain, path) = match name.split_once('/') {
        Some((first, rest)) if looks_like_domain(first) => (first.to_string(), rest.to_string()),
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !path.contains('/') {
        return (domain, format!("{OFFICIAL_REPO_PREFIX}{path}"));
    }
    (domain, path)
}

fn parse_digest(s: &str, d: &str) -> Result<Digest> {
    match d.split_once(':') {
        Some((alg, _)) if alg != "sha256" && !alg.is_empty() => Err(invalid(format!(
            "{s:?}: unsupported digest algorithm {alg:?}: only sha256 is supported"
        ))),
        _ => d.parse::<Digest>().map_err(|_| {
            invalid(format!(
                "{s:?}: invalid digest format {d:?}: expected sha256:<64 lowercase hex digits>"
            ))
        }),
    }
}

fn validate_tag(s: &str, tag: &str) -> Result<()> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bad = if tag.is_empty() {
        Some("a ':' must be followed by a tag".to_string())
    } else if tag.len() > TAG_LENGTH_MAX {
        Some(format!(
            "a tag must not be more than {TAG_LENGTH_MAX} characters"
        ))
    } else if !word(tag.as_bytes()[0]) {
        Some("a tag must start with a letter, digit or '_'".to_string())
    } else {
        tag.chars()
            .find(|&c| !(c.is_ascii() && (word(c as u8) || c == '.' || c == '-')))
            .map(|c| format!("a tag may hold only letters, digits, '_', '.' and '-', not {c:?}"))
    };
    match bad {
        Some(why) => Err(invalid(format!("{s:?}: invalid tag {tag:?}: {why}"))),
        None => Ok(()),
    }
}

fn validate_domain(s: &str, domain: &str) -> Result<()> {
    let fail = |why: &str| Err(invalid(format!("{s:?}: invalid domain {domain:?}: {why}")));
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return fail("an IPv6 address needs its closing ']'");
        };
        if inside.is_empty() || !inside.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return fail("an IPv6 address holds only hex digits and ':'");
        }
        match after {
            "" => (None, None),
            _ => match after.strip_prefix(':') {
                Some(p) => (None, Some(p)),
                None => return fail("only a ':port' may follow an IPv6 address"),
            },
        }
    } else {
        match domain.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(domain), None),
        }
    };
    if let Some(host) = host {
        for label in host.split('.') {
            if label.is_empty() {
                return fail("a host name has an empty label");
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return fail("a host name holds only letters, digits, '-' and '.'");
            }
            if label.starts_with('-') || label.ends_with('-') {
                return fail("a host name label must not start or end with '-'");
            }
        }
    }
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return fail("the port must be a number");
        }
    }
    Ok(())
}

fn validate_path(s: &str, path: &str) -> Result<()> {
    for component in path.split('/') {
        if let Err(why) = check_component(component) {
            return Err(invalid(format!(
                "{s:?}: repository name component {component:?} {why}"
            )));
        }
    }
    Ok(())
}

/// One path component: lowercase alphanumeric runs joined by ".", "_", "__" or dashes.
fn check_component(c: &str) -> std::result::Result<(), String> {
    if c.is_empty() {
        return Err("is empty (a name must not have '//' or start or end with '/')".into());
    }
    if let Some(bad) = c
        .chars()
        .find(|&ch| !matches!(ch, 'a'..='z' | '0'..='9' | '.' | '_' | '-'))
    {
        return Err(format!(
            "may hold only lowercase letters, digits and separators, not {bad:?}"
        ));
    }
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return Err("must start and end with a lowercase letter or digit".into());
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-');
        if !ok {
            return Err(format!(
                "has the separator {sep:?}; separators are '.', '_', '__' or dashes"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn full(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    fn err(s: &str) -> String {
        Reference::parse(s).unwrap_err().to_string()
    }

    #[test]
    fn reference_normalises_docker_hub_names() {
        assert_eq!(full("busybox"), "docker.io/library/busybox");
        assert_eq!(full("user/app"), "docker.io/user/app");
        assert_eq!(full("index.docker.io/busybox"), "docker.io/library/busybox");
        assert_eq!(
            full("docker.io/library/busybox:1"),
            "docker.io/library/busybox:1"
        );
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.domain(), "docker.io");
        assert_eq!(r.path(), "library/busybox");
        assert_eq!(r.tag(), None);
    }

    #[test]
    fn reference_keeps_other_domains_and_ports() {
        assert_eq!(full("localhost:5000/x"), "localhost:5000/x");
        assert_eq!(full("localhost/x:1"), "localhost/x:1");
        assert_eq!(full("[::1]:5000/a/b:t"), "[::1]:5000/a/b:t");
        assert_eq!(full("Registry.Example.COM/a"), "Registry.Example.COM/a");
    }

    #[test]
    fn reference_tags_and_digests() {
        let d = format!("sha256:{HEX}");
        let r = Reference::parse(&format!("x:tag@{d}")).unwrap();
        assert_eq!(r.tag(), Some("tag"));
        assert_eq!(r.digest().unwrap().as_str(), d);
        assert_eq!(r.familiar(), format!("x:tag@{d}"));
        let r = Reference::parse_tagged(&format!("x@{d}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(Reference::parse_tagged("x").unwrap().familiar(), "x:latest");
    }

    #[test]
    fn reference_familiar_forms() {
        let f = |s: &str| Reference::parse_tagged(s).unwrap().familiar();
        assert_eq!(f("docker.io/library/busybox"), "busybox:latest");
        assert_eq!(f("user/app:1"), "user/app:1");
        assert_eq!(f("localhost:5000/x"), "localhost:5000/x:latest");
        assert_eq!(f("library/a/b"), "library/a/b:latest");
        assert_eq!(f("docker.io/a.b/c"), "docker.io/a.b/c:latest");
        assert_eq!(
            f(&format!("library/{HEX}")),
            format!("library/{HEX}:latest")
        );
    }

    #[test]
    fn reference_with_tag_replaces_tag_and_digest() {
        let r = Reference::parse(&format!("x:1@sha256:{HEX}")).unwrap();
        let t = r.with_tag("2").unwrap();
        assert_eq!(t.familiar(), "x:2");
        assert!(r.with_tag("-bad").is_err());
        assert!(r.with_tag("").is_err());
        assert!(r.name_only().is_name_only());
    }

    #[test]
    fn reference_errors_say_what_is_wrong() {
        assert_eq!(
            err("Busybox"),
            "invalid reference format: repository name (library/Busybox) must be lowercase"
        );
        assert!(err(HEX).contains("cannot specify 64-byte hexadecimal strings"));
        assert!(err("").contains("at least one component"));
        assert!(err("x:").contains("must be followed by a tag"));
        assert!(err("a//b").contains("is empty"));
        assert!(err(&format!("x@sha512:{HEX}{HEX}")).contains("only sha256"));
        assert!(err(&"a".repeat(300)).contains("255"));
    }
}
