//! Expected bodies and output are what docker CLI 28 sent and printed for the same commands.

use super::*;
use crate::args::parse;

fn parsed(spec: &Spec, cmdline: &str) -> Parsed {
    let argv: Vec<String> = cmdline.split_whitespace().map(String::from).collect();
    parse(spec, &argv).unwrap()
}

fn body(cmdline: &str) -> Result<Value> {
    create_body(&CREATE_SPEC, &parsed(&CREATE_SPEC, cmdline))
}

#[test]
fn create_sends_what_docker_sends() {
    assert_eq!(body("").unwrap(), json!({"Driver":"local"}));
    assert_eq!(
        body("-d local --label a=b --label c -o type=tmpfs -o o=size=1m vx").unwrap(),
        json!({"Driver":"local","DriverOpts":{"o":"size=1m","type":"tmpfs"},
               "Labels":{"a":"b","c":""},"Name":"vx"})
    );
    assert_eq!(
        body("--name vy").unwrap(),
        json!({"Driver":"local","Name":"vy"})
    );
    assert_eq!(
        body("--driver other -o novalue x").unwrap(),
        json!({"Driver":"other","DriverOpts":{"novalue":""},"Name":"x"})
    );
}

#[test]
fn create_refuses_like_docker() {
    let err = |c: &str| body(c).unwrap_err().to_string();
    assert_eq!(
        err("--name n1 n2"),
        "berth: conflicting options: cannot specify a volume-name through both --name and as a positional arg"
    );
    assert!(err("--label =x v").starts_with(
        "berth: invalid argument \"=x\" for \"--label\" flag: invalid label '=x': empty name"
    ));
    let spaced = parse(
        &CREATE_SPEC,
        &["--label".into(), "a b=1".into(), "v".into()],
    )
    .unwrap();
    assert!(create_body(&CREATE_SPEC, &spaced)
        .unwrap_err()
        .to_string()
        .contains("label 'a b' contains whitespaces"));
    assert!(parse(&CREATE_SPEC, &["a".into(), "b".into()]).is_err());
    // Cluster-volume options are not berth's.
    assert!(parse(&CREATE_SPEC, &["--scope".into(), "global".into()]).is_err());
}

fn list() -> V {
    V::parse(
        br#"{"Volumes":[
            {"Name":"vol10","Driver":"local","Mountpoint":"/var/lib/berth/volumes/vol10/_data","Scope":"local","Labels":{"z":"1","a":"b"},"CreatedAt":"2026-11-28T12:37:40Z"},
            {"Name":"vol2","Driver":"local","Mountpoint":"/var/lib/berth/volumes/vol2/_data","Scope":"local","Labels":null,"UsageData":{"Size":2048,"RefCount":1}}
        ],"Warnings":[]}"#,
    )
    .unwrap()
}

#[test]
fn ls_prints_dockers_table_and_json() {
    let rows = ls_rows(&list());
    let render = |f: &str| {
        Format::new(f, LS_TABLE)
            .unwrap()
            .render(&rows, &ls_header())
            .unwrap()
    };
    assert_eq!(
        render(""),
        "DRIVER    VOLUME NAME\nlocal     vol2\nlocal     vol10\n"
    );
    assert_eq!(render("{{.Name}}"), "vol2\nvol10\n");
    assert_eq!(
        render("json"),
        "{\"Availability\":\"N/A\",\"Driver\":\"local\",\"Group\":\"N/A\",\"Labels\":\"\",\"Links\":\"1\",\"Mountpoint\":\"/var/lib/berth/volumes/vol2/_data\",\"Name\":\"vol2\",\"Scope\":\"local\",\"Size\":\"2.048kB\",\"Status\":\"N/A\"}\n\
         {\"Availability\":\"N/A\",\"Driver\":\"local\",\"Group\":\"N/A\",\"Labels\":\"a=b,z=1\",\"Links\":\"N/A\",\"Mountpoint\":\"/var/lib/berth/volumes/vol10/_data\",\"Name\":\"vol10\",\"Scope\":\"local\",\"Size\":\"N/A\",\"Status\":\"N/A\"}\n"
    );
    assert_eq!(
        render("table {{.Name}}\t{{.Label \"z\"}}\t{{.Links}}"),
        "VOLUME NAME   LABEL     LINKS\nvol2                    1\nvol10         1         N/A\n"
    );
}

#[test]
fn prune_prompts_and_sections() {
    assert_eq!(
        prune_warning(false),
        "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue?"
    );
    assert_eq!(
        prune_warning(true),
        "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?"
    );
    let v = V::parse(br#"{"VolumesDeleted":["a","b"],"SpaceReclaimed":0}"#).unwrap();
    assert_eq!(deleted_section(&v), "Deleted Volumes:\na\nb\n\n");
    let none = V::parse(br#"{"VolumesDeleted":null,"SpaceReclaimed":0}"#).unwrap();
    assert_eq!(deleted_section(&none), "");
}
