//! The local requester token: when HITL_TOKEN is unset, the service makes
//! one at first start and keeps it in `DATA_DIR/token` (mode 0600), where
//! gateways of the same user find it (`hitl_client::local`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use hitl_client::local;
use secrecy::SecretString;

use crate::ids;

pub fn token_path(data_dir: &Path) -> PathBuf {
    local::requester_token_path(data_dir)
}

/// Reads the saved token, if there is one.
pub fn read_local(data_dir: &Path) -> anyhow::Result<Option<SecretString>> {
    Ok(local::read_token(&token_path(data_dir))?.map(hitl_client::Token::into_secret))
}

/// The saved token, or a new one written with owner-only permissions.
/// Returns the token and whether it was just created.
pub fn load_or_create(data_dir: &Path) -> anyhow::Result<(SecretString, bool)> {
    if let Some(t) = read_local(data_dir)? {
        return Ok((t, false));
    }
    let path = token_path(data_dir);
    let token = ids::new_token();
    if local::write_secret_file(&path, &token)? {
        return Ok((SecretString::from(token), true));
    }
    // Another process made it first: use theirs.
    let t = read_local(data_dir)?.context("token file appeared empty")?;
    Ok((t, false))
}
