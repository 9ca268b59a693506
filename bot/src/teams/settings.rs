//! Everything the Teams adapter is configured with, Microsoft's endpoints
//! by default. Each field names its environment variable; every one is also
//! a config-file key (`[teams]` table, the field name as key).

use secrecy::SecretString;

use super::service_url::{self, ServiceUrlError, ServiceUrlPolicy};

/// Bot Framework OpenID metadata (the issuer of channel tokens).
pub const BOT_FRAMEWORK_OPENID_URL: &str =
    "https://login.botframework.com/v1/.well-known/openidconfiguration";
/// The issuer of Bot Framework channel tokens.
pub const BOT_FRAMEWORK_ISSUER: &str = "https://api.botframework.com";
/// Where Entra ID hands out tokens and metadata.
pub const ENTRA_LOGIN: &str = "https://login.microsoftonline.com";
/// The scope of the bot's own token for the Bot Connector.
pub const CONNECTOR_SCOPE: &str = "https://api.botframework.com/.default";
/// The tenant of legacy multi-tenant bot registrations.
pub const LEGACY_TENANT: &str = "botframework.com";

/// The Teams settings (issue-level names in `../shared/design.md` §4).
#[derive(Debug, Clone)]
pub struct TeamsSettings {
    /// `TEAMS_APP_ID`: the bot's Microsoft App ID; the audience of every
    /// token Teams sends.
    pub app_id: String,
    /// `TEAMS_APP_PASSWORD`: the app's client secret, for the bot's own
    /// connector token. Needed to post; not needed to receive.
    pub app_password: Option<SecretString>,
    /// `TEAMS_TENANT_ID`: the Entra tenant of a single-tenant app.
    pub tenant_id: Option<String>,
    /// `TEAMS_SERVICE_URL`: the connector base for proactive posts, ending
    /// in `/` (for example `https://smba.trafficmanager.net/amer/`).
    pub service_url: Option<String>,
    /// `TEAMS_CONVERSATION_ID`: the default channel or chat to post to.
    pub conversation_id: Option<String>,
    /// `TEAMS_TOKEN_URL`: the full token endpoint; by default
    /// `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`.
    pub token_url: Option<String>,
    /// `TEAMS_OPENID_URL`: the Bot Framework OpenID metadata document.
    pub openid_url: String,
    /// `TEAMS_ALLOWED_SERVICE_URLS`: connector URLs (scheme, host, port)
    /// accepted besides Microsoft's public Teams hosts.
    pub allowed_service_urls: Vec<String>,
    /// `TEAMS_WEBHOOK_SECRET`: the outgoing webhook's security token
    /// (base64, as Teams shows it); a second one while rotating.
    pub webhook_secrets: Vec<SecretString>,
    /// `TEAMS_WEBHOOK_DECIDERS`: who may approve or reject through the
    /// outgoing webhook (`teams:<AAD object id or UPN>`); empty (the
    /// default) means nobody, and the webhook only lists.
    pub webhook_deciders: Vec<String>,
    /// Entra-issued channel tokens (off by default).
    pub entra: EntraSettings,
}

/// Entra ID-issued channel tokens, which Azure Bot Service is moving
/// toward. Accepted only when switched on, and then only from the
/// configured tenant and from callers on an exact allowlist.
#[derive(Debug, Clone, Default)]
pub struct EntraSettings {
    /// `TEAMS_ENTRA_TOKENS`: accept Entra-issued tokens.
    pub enabled: bool,
    /// `TEAMS_ENTRA_OPENID_URL`: the tenant's metadata document; by default
    /// `https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration`.
    pub openid_url: Option<String>,
    /// `TEAMS_ENTRA_ALLOWED_CALLERS`: the application ids (`azp` or
    /// `appid`) whose tokens are accepted.
    pub allowed_callers: Vec<String>,
}

impl Default for TeamsSettings {
    fn default() -> Self {
        Self {
            app_id: String::new(),
            app_password: None,
            tenant_id: None,
            service_url: None,
            conversation_id: None,
            token_url: None,
            openid_url: BOT_FRAMEWORK_OPENID_URL.to_string(),
            allowed_service_urls: Vec::new(),
            webhook_secrets: Vec::new(),
            webhook_deciders: Vec::new(),
            entra: EntraSettings::default(),
        }
    }
}

/// A setting that cannot work, and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("TEAMS_APP_ID is empty: set it to the bot's Microsoft App ID")]
    NoAppId,
    #[error("{setting}: {error}")]
    Url {
        setting: &'static str,
        error: ServiceUrlError,
    },
    #[error(
        "TEAMS_ENTRA_TOKENS is on but TEAMS_TENANT_ID is not set: Entra tokens are only accepted from your own tenant"
    )]
    EntraWithoutTenant,
    #[error(
        "TEAMS_ENTRA_TOKENS is on but TEAMS_ENTRA_ALLOWED_CALLERS is empty: list the application ids allowed to call the bot"
    )]
    EntraWithoutCallers,
    #[error("TEAMS_TENANT_ID {0:?} is not a tenant id or domain")]
    BadTenant(String),
    #[error(
        "TEAMS_WEBHOOK_SECRET is not base64 (copy the security token exactly as Teams shows it)"
    )]
    WebhookSecretNotBase64,
}

impl TeamsSettings {
    /// Checks every setting without calling anyone.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.app_id.trim().is_empty() {
            return Err(SettingsError::NoAppId);
        }
        if let Some(tenant) = &self.tenant_id {
            let ok = !tenant.is_empty()
                && tenant
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            if !ok {
                return Err(SettingsError::BadTenant(tenant.clone()));
            }
        }
        let url = |setting, raw: &str| {
            service_url::parse(raw)
                .map(|_| ())
                .map_err(|error| SettingsError::Url { setting, error })
        };
        url("TEAMS_OPENID_URL", &self.openid_url)?;
        url("TEAMS_TOKEN_URL", &self.token_url())?;
        let policy = self.service_url_policy()?;
        if let Some(base) = &self.service_url {
            policy.check(base).map_err(|error| SettingsError::Url {
                setting: "TEAMS_SERVICE_URL",
                error,
            })?;
        }
        if self.entra.enabled {
            let Some(openid) = self.entra_openid_url() else {
                return Err(SettingsError::EntraWithoutTenant);
            };
            url("TEAMS_ENTRA_OPENID_URL", &openid)?;
            if self
                .entra
                .allowed_callers
                .iter()
                .all(|c| c.trim().is_empty())
            {
                return Err(SettingsError::EntraWithoutCallers);
            }
        }
        super::webhook::WebhookAuth::new(&self.webhook_secrets)?;
        Ok(())
    }

    /// The token endpoint for the bot's own connector token.
    pub fn token_url(&self) -> String {
        self.token_url.clone().unwrap_or_else(|| {
            let tenant = self.tenant_id.as_deref().unwrap_or(LEGACY_TENANT);
            format!("{ENTRA_LOGIN}/{tenant}/oauth2/v2.0/token")
        })
    }

    /// The Entra metadata document of the configured tenant, if any.
    pub fn entra_openid_url(&self) -> Option<String> {
        self.entra.openid_url.clone().or_else(|| {
            self.tenant_id
                .as_ref()
                .map(|t| format!("{ENTRA_LOGIN}/{t}/v2.0/.well-known/openid-configuration"))
        })
    }

    /// The issuers of Entra tokens from the configured tenant (v2 and v1).
    pub fn entra_issuers(&self) -> Vec<String> {
        self.tenant_id
            .iter()
            .flat_map(|t| {
                [
                    format!("{ENTRA_LOGIN}/{t}/v2.0"),
                    format!("https://sts.windows.net/{t}/"),
                ]
            })
            .collect()
    }

    /// Microsoft's hosts plus `allowed_service_urls`.
    pub fn service_url_policy(&self) -> Result<ServiceUrlPolicy, SettingsError> {
        ServiceUrlPolicy::new(&self.allowed_service_urls).map_err(|error| SettingsError::Url {
            setting: "TEAMS_ALLOWED_SERVICE_URLS",
            error,
        })
    }
}
