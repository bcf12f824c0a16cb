//! Reference parsing against a table of Docker's cases, and properties: parsing never panics, and
//! a valid reference survives its full and familiar forms.

use berth_image::Reference;
use proptest::prelude::*;

const HEX: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904abcdef0123456789abcdef01";

/// (input, Ok(normalised full form) or Err(text the error must contain)).
fn table() -> Vec<(String, Result<String, String>)> {
    let ok = |i: &str, o: &str| (i.to_string(), Ok(o.to_string()));
    let bad = |i: &str, e: &str| (i.to_string(), Err(e.to_string()));
    let d = format!("sha256:{HEX}");
    vec![
        ok("busybox", "docker.io/library/busybox"),
        ok("busybox:latest", "docker.io/library/busybox:latest"),
        ok("ubuntu:22.04", "docker.io/library/ubuntu:22.04"),
        ok("user/app", "docker.io/user/app"),
        ok("user/app:1", "docker.io/user/app:1"),
        ok("docker.io/busybox", "docker.io/library/busybox"),
        ok("docker.io/library/busybox", "docker.io/library/busybox"),
        ok("index.docker.io/busybox", "docker.io/library/busybox"),
        ok("index.docker.io/user/app:v2", "docker.io/user/app:v2"),
        ok("library/a/b", "docker.io/library/a/b"),
        ok("localhost/x", "localhost/x"),
        ok("localhost:5000/x", "localhost:5000/x"),
        ok("localhost:5000/x:tag", "localhost:5000/x:tag"),
        ok("localhost:5000", "docker.io/library/localhost:5000"),
        ok("gcr.io/project/img:v1.2.3", "gcr.io/project/img:v1.2.3"),
        ok(
            "Registry.Example.com:443/a/b/c",
            "Registry.Example.com:443/a/b/c",
        ),
        ok("Foo/bar", "Foo/bar"),
        ok("[::1]:5000/x", "[::1]:5000/x"),
        ok("[fe80::1]/x:t", "[fe80::1]/x:t"),
        ok("127.0.0.1:5000/x", "127.0.0.1:5000/x"),
        ok("org/a.b_c__d-e--f", "docker.io/org/a.b_c__d-e--f"),
        ok("x:TAG_ok.-1", "docker.io/library/x:TAG_ok.-1"),
        ok("x:_", "docker.io/library/x:_"),
        (format!("x@{d}"), Ok(format!("docker.io/library/x@{d}"))),
        (
            format!("x:tag@{d}"),
            Ok(format!("docker.io/library/x:tag@{d}")),
        ),
        (
            format!("localhost:5000/x:1@{d}"),
            Ok(format!("localhost:5000/x:1@{d}")),
        ),
        (
            format!("sha256:{HEX}"),
            Ok(format!("docker.io/library/sha256:{HEX}")),
        ),
        (
            format!("library/{HEX}"),
            Ok(format!("docker.io/library/{HEX}")),
        ),
        (
            format!("x:{}", "t".repeat(128)),
            Ok(format!("docker.io/library/x:{}", "t".repeat(128))),
        ),
        bad(
            "Busybox",
            "invalid reference format: repository name (library/Busybox) must be lowercase",
        ),
        bad("user/App", "repository name (user/App) must be lowercase"),
        bad("Foo/Bar", "repository name (Bar) must be lowercase"),
        bad(
            HEX,
            &format!("invalid repository name ({HEX}), cannot specify 64-byte hexadecimal strings"),
        ),
        bad("", "repository name must have at least one component"),
        bad(":tag", "at least one component"),
        bad("x:", "a ':' must be followed by a tag"),
        bad("x:-t", "must start with a letter, digit or '_'"),
        bad("x:t!", "not '!'"),
        bad(
            &format!("x:{}", "t".repeat(129)),
            "not be more than 128 characters",
        ),
        bad("a//b", "is empty"),
        bad("a/", "is empty"),
        bad("/a", "is empty"),
        bad("a b", "not ' '"),
        bad(" busybox", "not ' '"),
        bad("a..b", "separator \"..\""),
        bad("a___b", "separator \"___\""),
        bad("a.-b", "separator \".-\""),
        bad("-a", "must start and end"),
        bad("a_", "must start and end"),
        bad("é", "not 'é'"),
        bad("x@sha256:abc", "invalid digest format"),
        bad(
            &format!("x@sha256:{}", HEX.to_uppercase()),
            "invalid digest format",
        ),
        bad(
            &format!("x@sha512:{HEX}{HEX}"),
            "unsupported digest algorithm \"sha512\"",
        ),
        bad("x@", "invalid digest format"),
        bad("x@y@z", "invalid digest format"),
        bad("host:port/x", "the port must be a number"),
        bad("a..b.com/x", "empty label"),
        bad("-a.com/x", "must not start or end with '-'"),
        bad("a_b.com/x", "only letters, digits"),
        bad("[::1/x", "closing ']'"),
        bad("[zz]:5/x", "only hex digits"),
        bad("[::1]x/y", "only a ':port'"),
        bad(&"a".repeat(256), "must not be more than 255 characters"),
        bad(
            &format!("{}/x", "a".repeat(250)),
            "must not be more than 255 characters",
        ),
    ]
}

#[test]
fn reference_table() {
    let cases = table();
    assert!(cases.len() >= 40);
    let mut failures = Vec::new();
    for (input, want) in cases {
        let got = Reference::parse(&input)
            .map(|r| r.to_string())
            .map_err(|e| e.to_string());
        let pass = match (&got, &want) {
            (Ok(g), Ok(w)) => g == w,
            (Err(g), Err(w)) => {
                g.starts_with("invalid reference format: ") && g.contains(w.as_str())
            }
            _ => false,
        };
        if !pass {
            failures.push(format!("{input:?}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn reference_familiar_table() {
    let cases = [
        ("busybox", "busybox:latest", "busybox"),
        ("docker.io/library/busybox:1", "busybox:1", "busybox"),
        ("user/app:1", "user/app:1", "user/app"),
        (
            "localhost:5000/x",
            "localhost:5000/x:latest",
            "localhost:5000/x",
        ),
        ("index.docker.io/user/app", "user/app:latest", "user/app"),
        ("library/a/b", "library/a/b:latest", "library/a/b"),
        (
            "docker.io/a.b/c",
            "docker.io/a.b/c:latest",
            "docker.io/a.b/c",
        ),
        (
            "docker.io/localhost/c",
            "docker.io/localhost/c:latest",
            "docker.io/localhost/c",
        ),
    ];
    for (input, familiar, name) in cases {
        let r = Reference::parse_tagged(input).unwrap();
        assert_eq!(r.familiar(), familiar, "{input}");
        assert_eq!(r.familiar_name(), name, "{input}");
        assert_eq!(Reference::parse(familiar).unwrap(), r, "{input}");
    }
    let d = format!("sha256:{HEX}");
    let r = Reference::parse_tagged(&format!("busybox@{d}")).unwrap();
    assert_eq!(r.familiar(), format!("busybox@{d}"));
    assert_eq!(r.tag(), None);
}

fn assert_round_trips(r: &Reference) -> Result<(), TestCaseError> {
    let full = r.to_string();
    prop_assert_eq!(&Reference::parse(&full).unwrap(), r, "full form {}", full);
    let familiar = r.familiar();
    prop_assert_eq!(
        &Reference::parse(&familiar).unwrap(),
        r,
        "familiar form {}",
        familiar
    );
    prop_assert_eq!(&Reference::parse(&r.name()).unwrap().name(), &r.name());
    Ok(())
}

/// Strings over the characters references are made of, so that many of them parse.
fn near_reference() -> impl Strategy<Value = String> {
    let alphabet: Vec<char> = "abcdeflxyz019ABZ._-/:@[]".chars().collect();
    prop::collection::vec(prop::sample::select(alphabet), 0..40)
        .prop_map(|v| v.into_iter().collect())
}

fn component() -> impl Strategy<Value = String> {
    let run = "[a-z0-9]{1,6}";
    let sep = prop_oneof![Just("."), Just("_"), Just("__"), Just("-"), Just("--")];
    (run, prop::collection::vec((sep, run), 0..3)).prop_map(|(first, more)| {
        let mut s = first;
        for (sep, run) in more {
            s.push_str(sep);
            s.push_str(&run);
        }
        s
    })
}

fn domain() -> impl Strategy<Value = Option<String>> {
    let port = prop::option::of(1u16..);
    let host = prop_oneof![
        Just("localhost".to_string()),
        Just("[::1]".to_string()),
        Just("docker.io".to_string()),
        Just("index.docker.io".to_string()),
        Just("Upper".to_string()),
        "[a-zA-Z0-9]{1,5}(\\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,3}[a-zA-Z0-9])?){1,3}",
    ];
    prop::option::of((host, port).prop_map(|(h, p)| match p {
        Some(p) => format!("{h}:{p}"),
        None => h,
    }))
}

fn valid_reference() -> impl Strategy<Value = String> {
    (
        domain(),
        prop::collection::vec(component(), 1..4),
        prop::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
        prop::option::of("[0-9a-f]{64}"),
    )
        .prop_map(|(domain, path, tag, digest)| {
            // Without a domain, a first component with a '.' would be read as one.
            let domain = match domain {
                None if path.len() > 1 && path[0].contains('.') => Some("docker.io".to_string()),
                d => d,
            };
            let mut s = domain.map(|d| format!("{d}/")).unwrap_or_default();
            s.push_str(&path.join("/"));
            if let Some(t) = tag {
                s.push(':');
                s.push_str(&t);
            }
            if let Some(d) = digest {
                s.push_str("@sha256:");
                s.push_str(&d);
            }
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn reference_parse_never_panics(s in any::<String>()) {
        if let Ok(r) = Reference::parse(&s) {
            assert_round_trips(&r)?;
        }
    }

    #[test]
    fn reference_near_misses_round_trip_when_valid(s in near_reference()) {
        if let Ok(r) = Reference::parse(&s) {
            assert_round_trips(&r)?;
            let tagged = Reference::parse_tagged(&s).unwrap();
            assert_round_trips(&tagged)?;
        }
    }

    #[test]
    fn reference_grammar_strings_parse_and_round_trip(s in valid_reference()) {
        let r = Reference::parse(&s);
        prop_assert!(r.is_ok(), "{:?} was refused: {}", s, r.unwrap_err());
        let r = r.unwrap();
        assert_round_trips(&r)?;
        if let Some(t) = r.tag() {
            let wanted = format!(":{t}");
            prop_assert!(s.contains(&wanted));
        }
    }
}
