//! An OCI runtime binary (runc, crun) driven through its command line.

#[derive(Debug, thiserror::Error)]
pub enum ExternalError {}
