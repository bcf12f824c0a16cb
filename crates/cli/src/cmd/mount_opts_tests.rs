//! Expected values are what docker CLI 28 sent (or printed) for the same flags, captured from
//! its requests to a listening socket.

use super::*;

fn mount(spec: &str) -> Result<Value, String> {
    parse_mount(spec, Path::new("/work/dir")).map_err(|e| e.to_string())
}

#[test]
fn mount_specs_become_mount_objects() {
    let cases: &[(&str, Value)] = &[
        (
            "type=bind,src=/h,dst=/p",
            json!({"Type":"bind","Source":"/h","Target":"/p"}),
        ),
        (
            "type=bind,source=/h,target=/p,readonly",
            json!({"Type":"bind","Source":"/h","Target":"/p","ReadOnly":true}),
        ),
        (
            "type=bind,source=./rel,destination=/p,ro=true,bind-propagation=rslave",
            json!({"Type":"bind","Source":"/work/dir/rel","Target":"/p","ReadOnly":true,
                   "BindOptions":{"Propagation":"rslave"}}),
        ),
        (
            "type=bind,src=../up/./x,dst=/p",
            json!({"Type":"bind","Source":"/work/up/x","Target":"/p"}),
        ),
        (
            "type=bind,src=/h,dst=/p,bind-recursive=disabled",
            json!({"Type":"bind","Source":"/h","Target":"/p","BindOptions":{"NonRecursive":true}}),
        ),
        (
            "type=bind,src=/h,dst=/p,bind-recursive=enabled",
            json!({"Type":"bind","Source":"/h","Target":"/p"}),
        ),
        (
            "type=bind,src=/h,dst=/p,readonly,bind-recursive=writable",
            json!({"Type":"bind","Source":"/h","Target":"/p","ReadOnly":true,
                   "BindOptions":{"ReadOnlyNonRecursive":true}}),
        ),
        (
            "type=bind,src=/h,dst=/p,bind-nonrecursive=false",
            json!({"Type":"bind","Source":"/h","Target":"/p","BindOptions":{}}),
        ),
        (
            "src=v1,dst=/p",
            json!({"Type":"volume","Source":"v1","Target":"/p"}),
        ),
        ("dst=/anon", json!({"Type":"volume","Target":"/anon"})),
        (
            "type=volume,src=v1,dst=/p,volume-nocopy,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-driver=local,volume-label=a=b",
            json!({"Type":"volume","Source":"v1","Target":"/p","VolumeOptions":{"NoCopy":true,
                   "Labels":{"a":"b"},"DriverConfig":{"Name":"local","Options":{"device":"tmpfs","type":"tmpfs"}}}}),
        ),
        (
            "type=volume,dst=/p,volume-nocopy=false",
            json!({"Type":"volume","Target":"/p","VolumeOptions":{"DriverConfig":{}}}),
        ),
        (
            "type=volume,dst=/p,volume-label=a,volume-opt=o",
            json!({"Type":"volume","Target":"/p","VolumeOptions":{"Labels":{"a":""},
                   "DriverConfig":{"Options":{"o":""}}}}),
        ),
        (
            "type=volume,src=v1,dst=/p,volume-subpath=sub",
            json!({"Type":"volume","Source":"v1","Target":"/p","VolumeOptions":{"Subpath":"sub","DriverConfig":{}}}),
        ),
        (
            "type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1770",
            json!({"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":67108864,"Mode":1016}}),
        ),
        (
            "type=tmpfs,dst=/t,tmpfs-mode=0700,tmpfs-size=1.5g",
            json!({"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1610612736u64,"Mode":448}}),
        ),
        (
            "TYPE=BIND,SRC=/h,DST=/p,bind-propagation=Shared,readonly=1",
            json!({"Type":"bind","Source":"/h","Target":"/p","ReadOnly":true,"BindOptions":{"Propagation":"shared"}}),
        ),
        (
            "\"type=bind\",src=/h,dst=/p,readonly=true,readonly=false,target=/q",
            json!({"Type":"bind","Source":"/h","Target":"/q"}),
        ),
        (
            "type=bind,src=,dst=/p",
            json!({"Type":"bind","Target":"/p"}),
        ),
        (
            "type=volume,dst=/p,consistency=Delegated",
            json!({"Type":"volume","Target":"/p","Consistency":"delegated"}),
        ),
        (
            "type=image,src=busybox,dst=/i,image-subpath=etc",
            json!({"Type":"image","Source":"busybox","Target":"/i","ImageOptions":{"Subpath":"etc"}}),
        ),
    ];
    for (spec, want) in cases {
        assert_eq!(&mount(spec).unwrap(), want, "{spec}");
    }
}

#[test]
fn bad_mount_specs_get_dockers_messages() {
    for (spec, want) in [
        ("", "EOF"),
        (
            "type=bind,src=/h,dst=/p,bind-create-src",
            "invalid field 'bind-create-src' must be a key=value pair",
        ),
        (
            "type=bind,src=/h,dst=/p,",
            "invalid field '' must be a key=value pair",
        ),
        (
            "type=bind,src=/h,dst=/p,bind-create-host-path=true",
            "unexpected key 'bind-create-host-path' in 'bind-create-host-path=true'",
        ),
        (
            "type=bind,src=/h,dst=/p,FOO=bar",
            "unexpected key 'foo' in 'FOO=bar'",
        ),
        (
            "type=bind, src=/h,dst=/p",
            "unexpected key ' src' in ' src=/h'",
        ),
        (
            "type=bind,src=/h,dst=/p,bind-recursive=readonly",
            "option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction",
        ),
        (
            "type=bind,src=/h,dst=/p,readonly,bind-recursive=readonly",
            "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction",
        ),
        (
            "type=bind,src=/h,dst=/p,bind-propagation=rprivate,ro,bind-recursive=readonly,bind-recursive=enabled",
            "bind-recursive=readonly requires API v1.44 or later",
        ),
        (
            "type=bind,src=/h,dst=/p,bind-recursive=writable",
            "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction",
        ),
        (
            "type=bind,src=/h,dst=/p,bind-recursive=Disabled",
            "invalid value for bind-recursive: Disabled (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")",
        ),
        ("type=bind,src=/h", "target is required"),
        ("type=tmpfs,volume-nocopy", "target is required"),
        ("type=,dst=/p", "type is required"),
        ("type=tmpfs,dst=/p,tmpfs-size=abc", "invalid value for tmpfs-size: abc"),
        ("type=tmpfs,dst=/p,tmpfs-size=-1", "invalid value for tmpfs-size: -1"),
        ("type=tmpfs,dst=/p,tmpfs-mode=999", "invalid value for tmpfs-mode: 999"),
        ("type=tmpfs,dst=/p,tmpfs-mode=0o700", "invalid value for tmpfs-mode: 0o700"),
        ("type=bind,src=/h,dst=/p,ro=maybe", "invalid value for ro: maybe"),
        (
            "type=volume,dst=/p,volume-nocopy=maybe",
            "invalid value for volume-nocopy: maybe",
        ),
        (
            "type=bind,src=/h,dst=/p,tmpfs-size=1m",
            "cannot mix 'tmpfs-*' options with mount type 'bind'",
        ),
        (
            "type=tmpfs,dst=/p,volume-nocopy",
            "cannot mix 'volume-*' options with mount type 'tmpfs'",
        ),
        (
            "type=volume,dst=/p,bind-propagation=shared,tmpfs-size=1m",
            "cannot mix 'bind-*' options with mount type 'volume'",
        ),
        (
            "type=volume,dst=/p,bind-recursive=writable",
            "cannot mix 'bind-*' options with mount type 'volume'",
        ),
        (
            "type=tmpfs,dst=/t,tmpfs-options=[[\"exec\"]]",
            "parse error on line 1, column 35: bare \" in non-quoted-field",
        ),
        (
            "type=bind,src=/h,dst=/p,\"a\"x",
            "parse error on line 1, column 27: extraneous or missing \" in quoted-field",
        ),
    ] {
        assert_eq!(mount(spec).unwrap_err(), want, "{spec}");
    }
}

#[test]
fn volume_flags_split_into_binds_and_anonymous_volumes() {
    let vols: Vec<String> = [
        "vol1:/data",
        "/host:/p:ro",
        "/anon",
        "./rel:/r",
        "../up:/u:ro,z",
        "a:b:c:d",
        "/p:ro",
        "rel",
        "c:\\x:/w",
    ]
    .map(String::from)
    .to_vec();
    let got = storage(
        &vols,
        &["type=tmpfs,dst=/t".to_string()],
        Path::new("/tmp/cwd"),
    )
    .unwrap_or_else(|r| panic!("{}", r.error));
    assert_eq!(
        got.binds,
        [
            "vol1:/data",
            "/host:/p:ro",
            "/tmp/cwd/rel:/r",
            "/tmp/up:/u:ro,z",
            "a:b:c:d",
            "/p:ro",
            "c:\\x:/w"
        ]
    );
    assert_eq!(Value::Object(got.volumes), json!({"/anon":{}, "rel":{}}));
    assert_eq!(got.mounts, [json!({"Type":"tmpfs","Target":"/t"})]);
}

#[test]
fn bad_volume_specs_get_dockers_messages() {
    let err = |s: &str| parse_volume(s).unwrap_err().to_string();
    assert_eq!(err(""), "invalid empty volume spec");
    assert_eq!(
        err(":/p"),
        "invalid spec: :/p: empty section between colons"
    );
    assert_eq!(
        err("/h:"),
        "invalid spec: /h:: empty section between colons"
    );
    assert_eq!(
        err("/h:/p:ro:x"),
        "invalid spec: /h:/p:ro:x: too many colons"
    );
    assert_eq!(
        parse_volume("name:/p:nocopy").unwrap(),
        VolumeSpec {
            source: Some("name".into()),
            target: "/p".into(),
            options: Some("nocopy".into())
        }
    );
    let refused = storage(&["/h:/p:ro:x".into()], &[], Path::new("/"))
        .err()
        .unwrap();
    assert_eq!(
        (refused.flag, refused.value.as_str()),
        ("volume", "/h:/p:ro:x")
    );
    let refused = storage(&[], &["dst".into()], Path::new("/")).err().unwrap();
    assert_eq!(refused.flag, "mount");
    assert_eq!(refused.error, MountError::NotKeyValue("dst".into()));
}
