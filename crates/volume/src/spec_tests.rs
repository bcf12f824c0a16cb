use super::*;
use bollard_stubs::models::{
    MountBindOptions, MountTmpfsOptions, MountVolumeOptions, MountVolumeOptionsDriverConfig,
};

fn msg(r: Result<MountPoint>) -> String {
    r.unwrap_err().to_string()
}

fn mount(typ: MountType, source: &str, target: &str) -> Mount {
    Mount {
        typ: Some(typ),
        source: (!source.is_empty()).then(|| source.to_string()),
        target: Some(target.to_string()),
        ..Default::default()
    }
}

#[test]
fn binds_docker_accepts() {
    for raw in [
        "/home",
        "/home:/home",
        "/home:/something/else",
        "/with space",
        "/home:/with space",
        "relative:/absolute-path",
        "hostPath:/containerPath:ro",
        "/hostPath:/containerPath:rw",
        "/rw:/ro",
        "/hostPath:/containerPath:shared",
        "/hostPath:/containerPath:rslave",
        "/hostPath:/containerPath:ro,z,shared",
        "/hostPath:/containerPath:Z,slave,ro",
        "/hostPath:/containerPath:ro,Z,rprivate",
        "vol:/data:nocopy",
        "/src:/dst:ro-non-recursive",
    ] {
        parse_bind(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
    }
}

#[test]
fn binds_docker_refuses() {
    for (raw, want) in [
        ("", "invalid volume specification"),
        ("./", "mount path must be absolute"),
        ("../", "mount path must be absolute"),
        ("/:../", "mount path must be absolute"),
        ("/:path", "mount path must be absolute"),
        (":", "invalid volume specification"),
        ("/tmp:", "invalid volume specification"),
        (":test", "invalid volume specification"),
        (":/test", "invalid volume specification"),
        ("::", "invalid volume specification"),
        ("/tmp:::", "invalid volume specification"),
        ("/path:rw", "invalid volume specification"),
        ("/path:ro", "invalid volume specification"),
        ("path:ro", "invalid volume specification"),
        ("/path:/path:sw", "invalid mode"),
        ("/path:/path:rwz", "invalid mode"),
        ("/path:/path:ro,rshared,rslave", "invalid mode"),
        ("/path:/path:ro,rw", "invalid mode"),
        ("/path:shared", "invalid volume specification"),
        ("name:/absolute-path:shared", "invalid volume specification"),
        (
            "name:/absolute-path:rprivate",
            "invalid volume specification",
        ),
        ("/a:/b:c:d", "invalid volume specification"),
        ("/src:/dst:nocopy", "invalid volume specification"),
        ("/src:/dst:rro", "not supported by berth"),
    ] {
        let e = msg(parse_bind(raw));
        assert!(e.contains(want), "{raw:?}: {e}");
    }
}

#[test]
fn bind_destination_errors_read_as_dockers() {
    assert_eq!(
        msg(parse_bind("/tmp:/")),
        "invalid volume specification: '/tmp:/': invalid mount config for type \"bind\": invalid specification: destination can't be '/'"
    );
    assert_eq!(
        msg(parse_bind("vol:foo")),
        "invalid volume specification: 'vol:foo': invalid mount config for type \"volume\": invalid mount path: 'foo' mount path must be absolute"
    );
    assert_eq!(msg(parse_bind("/a:/b:xyz")), "invalid mode: xyz");
}

#[test]
fn binds_split_into_kinds() {
    let m = parse_bind("/tmp/../srv//x:/data/:ro").unwrap();
    assert_eq!(m.destination, "/data");
    assert!(!m.rw);
    assert_eq!(m.mode, "ro");
    assert_eq!(m.propagation, Some(Propagation::Rprivate));
    assert_eq!(
        m.kind,
        MountKind::Bind {
            source: "/srv/x".into(),
            create_missing: true,
            recursive: true
        }
    );

    let m = parse_bind("/h:/c:rshared").unwrap();
    assert!(m.rw);
    assert_eq!(m.propagation, Some(Propagation::Rshared));

    let m = parse_bind("cache:/var/cache:nocopy").unwrap();
    assert_eq!(m.volume_name(), Some("cache"));
    assert!(!m.copies_up());
    assert_eq!(m.propagation, None);
    assert!(matches!(
        m.kind,
        MountKind::Volume {
            anonymous: false,
            nocopy: true,
            ..
        }
    ));

    let m = parse_bind("/anon").unwrap();
    match &m.kind {
        MountKind::Volume {
            name, anonymous, ..
        } => {
            assert!(*anonymous);
            assert_eq!(name.len(), 64);
        }
        k => panic!("{k:?}"),
    }
    assert!(m.copies_up());
}

#[test]
fn mounts_validate_as_docker_does() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let missing = missing.to_str().unwrap();
    assert_eq!(
        msg(parse_mount(&mount(MountType::BIND, missing, "/x"))),
        format!(
            "invalid mount config for type \"bind\": bind source path does not exist: {missing}"
        )
    );
    let mut create = mount(MountType::BIND, missing, "/x");
    create.bind_options = Some(MountBindOptions {
        create_mountpoint: Some(true),
        ..Default::default()
    });
    assert!(matches!(
        parse_mount(&create).unwrap().kind,
        MountKind::Bind {
            create_missing: true,
            ..
        }
    ));
    assert_eq!(
        msg(parse_mount(&mount(MountType::BIND, "", "/x"))),
        "invalid mount config for type \"bind\": field Source must not be empty"
    );
    assert_eq!(
        msg(parse_mount(&mount(MountType::BIND, "rel", "/x"))),
        "invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute"
    );
    assert_eq!(
        msg(parse_mount(&mount(MountType::VOLUME, "v", ""))),
        "invalid mount config for type \"volume\": field Target must not be empty"
    );
    assert_eq!(
        msg(parse_mount(&mount(MountType::VOLUME, "v", "/"))),
        "invalid mount config for type \"volume\": invalid specification: destination can't be '/'"
    );
    assert_eq!(
        msg(parse_mount(&mount(MountType::TMPFS, "src", "/t"))),
        "invalid mount config for type \"tmpfs\": field Source must not be specified"
    );
    assert_eq!(
        msg(parse_mount(&mount(MountType::NPIPE, "x", "/t"))),
        "invalid mount config for type \"npipe\": mount type unknown"
    );
    let mut ro_anon = mount(MountType::VOLUME, "", "/a");
    ro_anon.read_only = Some(true);
    assert_eq!(
        msg(parse_mount(&ro_anon)),
        "invalid mount config for type \"volume\": must not set ReadOnly mode when using anonymous volumes"
    );
    let mut wrong = mount(MountType::BIND, "/", "/x");
    wrong.volume_options = Some(MountVolumeOptions::default());
    assert_eq!(
        msg(parse_mount(&wrong)),
        "invalid mount config for type \"bind\": field VolumeOptions must not be specified"
    );
    let mut wrong = mount(MountType::VOLUME, "v", "/x");
    wrong.bind_options = Some(MountBindOptions::default());
    assert!(msg(parse_mount(&wrong)).ends_with("field BindOptions must not be specified"));
    let mut wrong = mount(MountType::VOLUME, "v", "/x");
    wrong.tmpfs_options = Some(MountTmpfsOptions::default());
    assert!(msg(parse_mount(&wrong)).ends_with("field TmpfsOptions must not be specified"));
    let mut other = mount(MountType::VOLUME, "v", "/x");
    other.volume_options = Some(MountVolumeOptions {
        driver_config: Some(MountVolumeOptionsDriverConfig {
            name: Some("nfs-plugin".into()),
            options: None,
        }),
        ..Default::default()
    });
    assert!(msg(parse_mount(&other)).contains("berth has only the \"local\" driver"));
}

#[test]
fn mounts_carry_their_options() {
    let mut bind = mount(MountType::BIND, "/", "/host");
    bind.read_only = Some(true);
    bind.bind_options = Some(MountBindOptions {
        propagation: Some(MountBindOptionsPropagationEnum::RSLAVE),
        non_recursive: Some(true),
        ..Default::default()
    });
    let m = parse_mount(&bind).unwrap();
    assert_eq!(
        m.oci(Path::new("/")).options,
        ["bind", "ro", "rslave"],
        "non-recursive read-only rslave bind"
    );

    let mut vol = mount(MountType::VOLUME, "data", "/data");
    vol.volume_options = Some(MountVolumeOptions {
        no_copy: Some(true),
        labels: Some([("a".to_string(), "b".to_string())].into()),
        driver_config: Some(MountVolumeOptionsDriverConfig {
            name: Some("local".into()),
            options: Some(
                [
                    ("type".to_string(), "tmpfs".to_string()),
                    ("device".to_string(), "tmpfs".to_string()),
                ]
                .into(),
            ),
        }),
        ..Default::default()
    });
    let m = parse_mount(&vol).unwrap();
    match &m.kind {
        MountKind::Volume {
            name,
            anonymous,
            nocopy,
            driver_opts,
            labels,
        } => {
            assert_eq!(name, "data");
            assert!(!anonymous && *nocopy);
            assert_eq!(driver_opts["type"], "tmpfs");
            assert_eq!(labels["a"], "b");
        }
        k => panic!("{k:?}"),
    }

    let mut t = mount(MountType::TMPFS, "", "/scratch");
    t.tmpfs_options = Some(MountTmpfsOptions {
        size_bytes: Some(64 << 20),
        mode: Some(0o1777),
        options: None,
    });
    let m = parse_mount(&t).unwrap();
    assert_eq!(
        m.oci(Path::new("")),
        OciMount {
            destination: "/scratch".into(),
            typ: "tmpfs".into(),
            source: "tmpfs".into(),
            options: [
                "noexec",
                "nosuid",
                "nodev",
                "rprivate",
                "mode=1777",
                "size=64m"
            ]
            .map(String::from)
            .to_vec(),
        }
    );
    assert_eq!(m.api_json(Path::new("")).unwrap()["Type"], "tmpfs");
}

#[test]
fn oci_entries_for_binds_and_volumes() {
    let m = parse_bind("/srv:/srv:ro").unwrap();
    let oci = m.oci(Path::new("/srv"));
    assert_eq!(oci.typ, "bind");
    assert_eq!(oci.source, "/srv");
    assert_eq!(oci.options, ["rbind", "ro", "rprivate"]);
    let v = serde_json::to_value(&oci).unwrap();
    assert_eq!(v["type"], "bind");
    assert_eq!(v["destination"], "/srv");

    let m = parse_bind("vol:/data").unwrap();
    let oci = m.oci(Path::new("/var/lib/berth/volumes/vol/_data"));
    assert_eq!(oci.options, ["rbind", "rprivate"]);
    let api = m
        .api_json(Path::new("/var/lib/berth/volumes/vol/_data"))
        .unwrap();
    assert_eq!(api["Type"], "volume");
    assert_eq!(api["Name"], "vol");
    assert_eq!(api["Driver"], "local");
    assert_eq!(api["RW"], true);
    assert_eq!(api["Propagation"], "");

    let b = parse_bind("/h:/c")
        .unwrap()
        .api_json(Path::new("/h"))
        .unwrap();
    assert_eq!(b["Propagation"], "rprivate");
    assert!(b.get("Name").is_none());

    let t = parse_tmpfs("/run", "size=1m,ro").unwrap();
    assert!(!t.rw);
    assert_eq!(
        t.api_json(Path::new("")),
        None,
        "HostConfig.Tmpfs is not in Mounts"
    );
    assert_eq!(
        t.oci(Path::new("")).options,
        ["noexec", "nosuid", "nodev", "rprivate", "size=1m", "ro"]
    );
    assert_eq!(
        msg(parse_tmpfs("run", "")),
        "invalid mount config for type \"tmpfs\": invalid mount path: 'run' mount path must be absolute"
    );
    assert_eq!(
        msg(parse_tmpfs("/run", "bogus")),
        "invalid tmpfs option \"bogus\""
    );
}

#[test]
fn explicit_mounts_may_not_share_a_destination() {
    let binds = ["/a:/x".to_string(), "vol:/y".to_string()];
    let mounts = [mount(MountType::VOLUME, "other", "/x/")];
    let e = parse(&SpecInput {
        binds: &binds,
        mounts: &mounts,
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(e.to_string(), "Duplicate mount point: /x");

    let tmpfs: HashMap<String, String> = [("/y".to_string(), String::new())].into();
    let e = parse(&SpecInput {
        binds: &binds,
        tmpfs: Some(&tmpfs),
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(e.to_string(), "Duplicate mount point: /y");

    let twice = ["/a:/z".to_string(), "/b:/z".to_string()];
    assert!(parse(&SpecInput {
        binds: &twice,
        ..Default::default()
    })
    .is_err());
}

#[test]
fn anonymous_and_inherited_mounts_yield_to_explicit_ones() {
    let binds = ["/host:/data".to_string()];
    let config_volumes = ["/data".to_string(), "/cache/".to_string()];
    let image_volumes = [
        "/cache".to_string(),
        "/var/lib/db".to_string(),
        "/logs".to_string(),
    ];
    let donor = vec![
        parse_bind("shared:/logs:ro").unwrap(),
        parse_bind("/etc:/data").unwrap(),
    ];
    let from = [(donor, Some(true))];
    let out = parse(&SpecInput {
        binds: &binds,
        config_volumes: &config_volumes,
        image_volumes: &image_volumes,
        volumes_from: &from,
        ..Default::default()
    })
    .unwrap();
    let dests: Vec<&str> = out.iter().map(|m| m.destination.as_str()).collect();
    // Sorted parents first; each destination once.
    assert_eq!(dests, ["/cache", "/data", "/logs", "/var/lib/db"]);
    let by = |d: &str| out.iter().find(|m| m.destination == d).unwrap();
    assert_eq!(by("/data").origin, Origin::Binds);
    assert_eq!(by("/logs").origin, Origin::VolumesFrom);
    assert_eq!(by("/logs").volume_name(), Some("shared"));
    assert!(by("/logs").rw, ":rw made the inherited mount writable");
    assert_eq!(by("/cache").origin, Origin::Anonymous);
    assert!(matches!(
        by("/var/lib/db").kind,
        MountKind::Volume {
            anonymous: true,
            ..
        }
    ));

    let bad = ["relative".to_string()];
    let e = parse(&SpecInput {
        config_volumes: &bad,
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("mount path must be absolute"), "{e}");
}

#[test]
fn volumes_from_modes() {
    assert_eq!(parse_volumes_from("db").unwrap(), ("db".into(), None));
    assert_eq!(
        parse_volumes_from("db:ro").unwrap(),
        ("db".into(), Some(false))
    );
    assert_eq!(
        parse_volumes_from("db:rw,z").unwrap(),
        ("db".into(), Some(true))
    );
    assert_eq!(
        parse_volumes_from("db:rshared").unwrap_err().to_string(),
        "invalid mode: rshared"
    );
    assert_eq!(
        parse_volumes_from("db:bogus").unwrap_err().to_string(),
        "invalid mode: bogus"
    );
    assert!(parse_volumes_from("").is_err());
}

#[test]
fn mount_points_round_trip_through_json() {
    for m in [
        parse_bind("/h:/c:ro,rslave").unwrap(),
        parse_bind("v:/d:nocopy").unwrap(),
        parse_tmpfs("/t", "size=1m").unwrap(),
    ] {
        let text = serde_json::to_string(&m).unwrap();
        let back: MountPoint = serde_json::from_str(&text).unwrap();
        assert_eq!(back, m);
    }
}
