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

/// Tightens a secret file to owner-only (0600), refusing with what to do
/// when that fails.
pub fn make_private(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).with_context(
                || {
                    format!(
                        "{} is readable by other users and cannot be made owner-only; fix its owner or mode (chmod 600)",
                        path.display()
                    )
                },
            )?;
        }
    }
    Ok(())
}

/// The approver credential of the person running the local service,
/// saved beside its data (mode 0600) for `hitl-bot approve|reject|pending`.
/// Made at first start; made again if the saved one is no longer in the
/// store (a new database). Returns whether it was just made.
pub async fn ensure_local_approver(
    store: &dyn crate::store::Store,
    data_dir: &Path,
    who: &str,
) -> anyhow::Result<bool> {
    let path = local::approver_token_path(data_dir);
    if let Some(t) = local::read_token(&path)? {
        let live = store
            .credential_by_hash(&crate::credentials::hash(t.expose()))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if live.is_some_and(|c| c.role == crate::credentials::Role::Approver) {
            make_private(&path)?;
            return Ok(false);
        }
        std::fs::remove_file(&path)
            .with_context(|| format!("cannot replace the stale {}", path.display()))?;
    }
    let (token, cred) = crate::credentials::issue(
        crate::credentials::Role::Approver,
        Some(who),
        chrono::Utc::now(),
    )?;
    store
        .put_credential(cred)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !local::write_secret_file(&path, &token)? {
        anyhow::bail!(
            "{} appeared while it was being made; start `hitl-bot serve` again",
            path.display()
        );
    }
    Ok(true)
}
