//! The local API token: when HITL_TOKEN is unset, the service makes one at
//! first start and keeps it in `DATA_DIR/token` (mode 0600), where the CLI
//! and the gateway on the same machine find it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use secrecy::SecretString;

use crate::ids;

pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("token")
}

/// Reads the saved token, if there is one.
pub fn read_local(data_dir: &Path) -> anyhow::Result<Option<SecretString>> {
    let path = token_path(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => Ok(Some(SecretString::from(s.trim().to_owned()))),
        Ok(_) => anyhow::bail!(
            "{} is empty; delete it to have a new token generated",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// The saved token, or a new one written with owner-only permissions.
/// Returns the token and whether it was just created.
pub fn load_or_create(data_dir: &Path) -> anyhow::Result<(SecretString, bool)> {
    if let Some(t) = read_local(data_dir)? {
        return Ok((t, false));
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let path = token_path(data_dir);
    let token = ids::new_token();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = match opts.open(&path) {
        Ok(f) => f,
        // Another process made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let t = read_local(data_dir)?.context("token file appeared empty")?;
            return Ok((t, false));
        }
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
    };
    f.write_all(token.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok((SecretString::from(token), true))
}
