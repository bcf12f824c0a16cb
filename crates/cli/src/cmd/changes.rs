//! `diff` (a container's changes against its image) and `rename`.

use super::Ctx;
use crate::args::{Parsed, Spec};
use crate::client::Query;
use crate::error::{Error, Result};
use crate::http::Body;

pub const DIFF_SPEC: Spec = Spec {
    command: "berth diff",
    args: "CONTAINER",
    about: "Inspect changes to files or directories on a container's filesystem",
    flags: &[],
    aliases: &[],
    min_args: 1,
    max_args: Some(1),
    stop_at_positional: false,
};

pub const RENAME_SPEC: Spec = Spec {
    command: "berth rename",
    args: "CONTAINER NEW_NAME",
    about: "Rename a container",
    flags: &[],
    aliases: &[],
    min_args: 2,
    max_args: Some(2),
    stop_at_positional: false,
};

/// The letter docker prints for a change kind (0 modified, 1 added, 2 deleted).
fn kind_letter(kind: i64) -> Option<char> {
    match kind {
        0 => Some('C'),
        1 => Some('A'),
        2 => Some('D'),
        _ => None,
    }
}

pub fn diff(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let v = ctx
        .client
        .get_json(&format!("/containers/{}/changes", p.args[0]), &Query::new())?;
    let mut out = String::new();
    for change in v.items() {
        let kind = change.get("Kind").i64();
        let letter = kind_letter(kind)
            .ok_or_else(|| Error::Protocol(format!("unknown change kind {kind}")))?;
        out.push_str(&format!("{letter} {}\n", change.get("Path").str()));
    }
    print!("{out}");
    Ok(0)
}

pub fn rename(ctx: &Ctx, p: Parsed) -> Result<i32> {
    let (old, new) = (&p.args[0], p.args[1].trim());
    if new.is_empty() {
        return Err(Error::client(
            "Error: Neither old nor new names may be empty",
        ));
    }
    let mut q = Query::new();
    q.add("name", new);
    ctx.client.call(
        "POST",
        &format!("/containers/{old}/rename"),
        &q,
        Body::Empty,
    )?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_kinds_print_as_docker_does() {
        assert_eq!(kind_letter(0), Some('C'));
        assert_eq!(kind_letter(1), Some('A'));
        assert_eq!(kind_letter(2), Some('D'));
        assert_eq!(kind_letter(7), None);
    }
}
