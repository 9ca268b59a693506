//! Settings of `hitl-bot serve`: command line and environment first, then the
//! config file, then defaults. Parsed once at start-up.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use hitl_wire::Escalation;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::outbox::OutboxSettings;
use crate::people::{Identity, People, PersonConfig};
use crate::service::{ReplicaSettings, Settings};
use crate::slack::{self, SlackConfig};
use crate::teams::TeamsSettings;
use crate::teams::settings::{BOT_FRAMEWORK_OPENID_URL, EntraSettings};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `hitl-bot serve` options. Each has an environment variable and a config-file key.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Address to listen on [config: listen] [default: 127.0.0.1:8787]
    #[arg(long, env = "HITL_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// SQLite database file [config: db] [default: DATA_DIR/hitl.db]
    #[arg(long, env = "HITL_DB")]
    pub db: Option<PathBuf>,
    /// DynamoDB table of the AWS back end; with STATE_MACHINE_ARN it replaces
    /// SQLite (the SDK's own variables give region, credentials, endpoint)
    /// [config: table_name]
    #[arg(long, env = "TABLE_NAME")]
    pub table_name: Option<String>,
    /// The approval state machine of the AWS back end [config: state_machine_arn]
    #[arg(long, env = "STATE_MACHINE_ARN")]
    pub state_machine_arn: Option<String>,
    /// SNS topic that hears every request and decision, with message
    /// attributes for filter policies [config: sns_topic_arn]
    #[arg(long, env = "SNS_TOPIC_ARN")]
    pub sns_topic_arn: Option<String>,
    /// TOML config file with any of these settings
    #[arg(long, env = "HITL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Folder for the database and the generated API token [config: data_dir]
    /// [default: the user's data folder + /hitl]
    #[arg(long, env = "HITL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Bearer token for /v1; generated and saved in DATA_DIR/token when unset [config: token]
    #[arg(long, env = "HITL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A second accepted token, for rotation without downtime [config: token_previous]
    #[arg(long, env = "HITL_TOKEN_PREVIOUS", hide_env_values = true)]
    pub token_previous: Option<String>,
    /// Seconds a request waits for a decision when it names no timeout
    /// [config: default_timeout_secs] [default: 300]
    #[arg(long, env = "HITL_DEFAULT_TIMEOUT_SECS")]
    pub default_timeout_secs: Option<u64>,
    /// Days to keep decided requests and their audit history; 0 keeps them forever
    /// [config: retention_days] [default: 90]
    #[arg(long, env = "HITL_RETENTION_DAYS")]
    pub retention_days: Option<u64>,
    /// Seconds after an approval within which the call may run (claimed
    /// once); later it is refused and must be asked again
    /// [config: claim_window_secs] [default: 600]
    #[arg(long, env = "HITL_CLAIM_WINDOW_SECS")]
    pub claim_window_secs: Option<u64>,
    /// Log format [config: log_format] [default: text]
    #[arg(long, env = "HITL_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Folder of card templates that replace the built-in ones file by file
    /// (a copy of the repository's cards/) [config: cards_dir]
    #[arg(long, env = "HITL_CARDS_DIR")]
    pub cards_dir: Option<PathBuf>,
    /// Slack bot token (xoxb-…); Slack is on when it is set [config: slack_bot_token]
    #[arg(long, env = "SLACK_BOT_TOKEN", hide_env_values = true, value_parser = secret)]
    pub slack_bot_token: Option<SecretString>,
    /// Slack signing secret: turns on /slack/interactions, /slack/events and
    /// /slack/commands [config: slack_signing_secret]
    #[arg(long, env = "SLACK_SIGNING_SECRET", hide_env_values = true, value_parser = secret)]
    pub slack_signing_secret: Option<SecretString>,
    /// The previous Slack signing secret, still accepted while rotating
    /// [config: slack_signing_secret_previous]
    #[arg(long, env = "SLACK_SIGNING_SECRET_PREVIOUS", hide_env_values = true, value_parser = secret)]
    pub slack_signing_secret_previous: Option<SecretString>,
    /// Slack app-level token (xapp-…): Socket Mode, no public URL needed
    /// [config: slack_app_token]
    #[arg(long, env = "SLACK_APP_TOKEN", hide_env_values = true, value_parser = secret)]
    pub slack_app_token: Option<SecretString>,
    /// Slack channel for requests that name none (#name or id) [config: slack_channel]
    #[arg(long, env = "SLACK_CHANNEL")]
    pub slack_channel: Option<String>,
    /// Slack Web API base URL [config: slack_api_url] [default: https://slack.com/api/]
    #[arg(long, env = "SLACK_API_URL")]
    pub slack_api_url: Option<String>,
    #[command(flatten)]
    pub teams: TeamsArgs,
}

/// Microsoft Teams settings; Teams is on when TEAMS_APP_ID is set.
#[derive(Debug, Clone, Default, Args)]
pub struct TeamsArgs {
    /// The bot's Microsoft App ID (the audience of Teams' tokens); Teams is
    /// on when it is set [config: teams_app_id]
    #[arg(long, env = "TEAMS_APP_ID")]
    pub teams_app_id: Option<String>,
    /// The app's client secret, to post cards [config: teams_app_password]
    #[arg(long, env = "TEAMS_APP_PASSWORD", hide_env_values = true, value_parser = secret)]
    pub teams_app_password: Option<SecretString>,
    /// The Entra tenant of the single-tenant app [config: teams_tenant_id]
    #[arg(long, env = "TEAMS_TENANT_ID")]
    pub teams_tenant_id: Option<String>,
    /// Connector base for proactive posts, ending in `/`
    /// (https://smba.trafficmanager.net/amer/) [config: teams_service_url]
    #[arg(long, env = "TEAMS_SERVICE_URL")]
    pub teams_service_url: Option<String>,
    /// The channel or chat requests are posted to [config: teams_conversation_id]
    #[arg(long, env = "TEAMS_CONVERSATION_ID")]
    pub teams_conversation_id: Option<String>,
    /// Token endpoint [config: teams_token_url]
    /// [default: https://login.microsoftonline.com/TENANT/oauth2/v2.0/token]
    #[arg(long, env = "TEAMS_TOKEN_URL")]
    pub teams_token_url: Option<String>,
    /// Bot Framework OpenID metadata document [config: teams_openid_url]
    /// [default: https://login.botframework.com/v1/.well-known/openidconfiguration]
    #[arg(long, env = "TEAMS_OPENID_URL")]
    pub teams_openid_url: Option<String>,
    /// Connector URLs accepted besides Microsoft's Teams hosts, comma-separated,
    /// matched on scheme, host and port [config: teams_allowed_service_urls]
    #[arg(long, env = "TEAMS_ALLOWED_SERVICE_URLS", value_delimiter = ',')]
    pub teams_allowed_service_urls: Option<Vec<String>>,
    /// The outgoing webhook's security token (base64, as Teams shows it):
    /// turns on /teams/webhook [config: teams_webhook_secret]
    #[arg(long, env = "TEAMS_WEBHOOK_SECRET", hide_env_values = true, value_parser = secret)]
    pub teams_webhook_secret: Option<SecretString>,
    /// The previous webhook token, still accepted while rotating
    /// [config: teams_webhook_secret_previous]
    #[arg(long, env = "TEAMS_WEBHOOK_SECRET_PREVIOUS", hide_env_values = true, value_parser = secret)]
    pub teams_webhook_secret_previous: Option<SecretString>,
    /// Who may approve or reject through the outgoing webhook
    /// (`teams:<AAD object id>`, comma-separated); nobody by default
    /// [config: teams_webhook_deciders]
    #[arg(long, env = "TEAMS_WEBHOOK_DECIDERS", value_delimiter = ',')]
    pub teams_webhook_deciders: Option<Vec<String>>,
    /// Accept Entra-issued channel tokens from TEAMS_TENANT_ID
    /// [config: teams_entra_tokens] [default: false]
    #[arg(long, env = "TEAMS_ENTRA_TOKENS")]
    pub teams_entra_tokens: Option<bool>,
    /// The tenant's Entra metadata document [config: teams_entra_openid_url]
    #[arg(long, env = "TEAMS_ENTRA_OPENID_URL")]
    pub teams_entra_openid_url: Option<String>,
    /// Application ids whose Entra tokens are accepted, comma-separated
    /// [config: teams_entra_allowed_callers]
    #[arg(long, env = "TEAMS_ENTRA_ALLOWED_CALLERS", value_delimiter = ',')]
    pub teams_entra_allowed_callers: Option<Vec<String>>,
}

/// Reads a secret from the command line or the environment.
fn secret(s: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(s.to_owned()))
}

/// The config file. Unknown keys are an error, so typos do not pass silently.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub db: Option<PathBuf>,
    pub table_name: Option<String>,
    pub state_machine_arn: Option<String>,
    pub sns_topic_arn: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub token: Option<String>,
    pub token_previous: Option<String>,
    pub default_timeout_secs: Option<u64>,
    pub max_timeout_secs: Option<u64>,
    pub max_wait_secs: Option<u64>,
    pub claim_window_secs: Option<u64>,
    /// Who may decide requests that name nobody (user ids, `group:NAME`).
    pub approvers: Option<Vec<String>>,
    /// Approver groups: `sre = ["alice", "slack:U0BOB", "teams:carol@contoso.com"]`.
    pub groups: Option<HashMap<String, Vec<String>>>,
    /// One person's identities on several platforms, counted as one person:
    /// `[[people]] name = "Alice", ids = ["slack:U0ALICE", "teams:alice@contoso.com"]`.
    pub people: Option<Vec<PersonConfig>>,
    /// Seconds after which an undelivered notice is given up (default 86400).
    pub notify_give_up_secs: Option<u64>,
    /// Seconds a process reserves a notice or a timer it took (1-30, default 30),
    /// renewed while it works: after a crash, another process takes over once
    /// this runs out.
    pub lease_secs: Option<u64>,
    /// Reminder/escalation for requests that name none.
    pub escalation: Option<Escalation>,
    pub retention_days: Option<u64>,
    pub log_format: Option<LogFormat>,
    pub cards_dir: Option<PathBuf>,
    pub slack_bot_token: Option<SecretString>,
    pub slack_signing_secret: Option<SecretString>,
    pub slack_signing_secret_previous: Option<SecretString>,
    pub slack_app_token: Option<SecretString>,
    pub slack_channel: Option<String>,
    pub slack_api_url: Option<String>,
    pub teams_app_id: Option<String>,
    pub teams_app_password: Option<SecretString>,
    pub teams_tenant_id: Option<String>,
    pub teams_service_url: Option<String>,
    pub teams_conversation_id: Option<String>,
    pub teams_token_url: Option<String>,
    pub teams_openid_url: Option<String>,
    pub teams_allowed_service_urls: Option<Vec<String>>,
    pub teams_webhook_secret: Option<SecretString>,
    pub teams_webhook_secret_previous: Option<SecretString>,
    pub teams_webhook_deciders: Option<Vec<String>>,
    pub teams_entra_tokens: Option<bool>,
    pub teams_entra_openid_url: Option<String>,
    pub teams_entra_allowed_callers: Option<Vec<String>>,
}

impl FileConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        Ok(toml::from_str(text)?)
    }
}

/// Everything `serve` needs, resolved.
#[derive(Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub db: PathBuf,
    pub data_dir: PathBuf,
    /// The configured token, if any; `None` means generate or reuse the local one.
    pub token: Option<SecretString>,
    pub token_previous: Option<SecretString>,
    pub settings: Settings,
    pub log_format: LogFormat,
    /// Card template overrides.
    pub cards_dir: Option<PathBuf>,
    /// Slack, when a bot token is set.
    pub slack: Option<SlackConfig>,
    /// Teams, when an app id is set.
    pub teams: Option<TeamsSettings>,
    /// The AWS back end, when TABLE_NAME and STATE_MACHINE_ARN are set.
    pub aws: Option<AwsBackend>,
    /// The SNS channel, when SNS_TOPIC_ARN is set.
    pub sns_topic_arn: Option<String>,
}

/// Where the AWS back end keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsBackend {
    pub table_name: String,
    pub state_machine_arn: String,
}

/// The default data folder: `$XDG_DATA_HOME/hitl` or the platform's equivalent.
pub fn default_data_dir() -> PathBuf {
    hitl_client::local::platform_data_dir()
}

impl ServeArgs {
    pub fn resolve(self) -> anyhow::Result<ServeConfig> {
        let file = match &self.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        let teams = resolve_teams(self.teams, &file)?;
        let data_dir = self
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(default_data_dir);
        let db = self
            .db
            .or(file.db)
            .unwrap_or_else(|| data_dir.join("hitl.db"));
        let listen = match self.listen.or(file.listen) {
            Some(addr) => addr,
            None => DEFAULT_LISTEN.parse().context("default listen address")?,
        };
        let defaults = Settings::default();
        let default_timeout_secs = self
            .default_timeout_secs
            .or(file.default_timeout_secs)
            .unwrap_or(defaults.default_timeout_secs);
        let max_timeout_secs = file.max_timeout_secs.unwrap_or(defaults.max_timeout_secs);
        if default_timeout_secs == 0 || default_timeout_secs > max_timeout_secs {
            bail!(
                "default_timeout_secs must be between 1 and max_timeout_secs ({max_timeout_secs}); got {default_timeout_secs}"
            );
        }
        let groups = file.groups.unwrap_or_default();
        for (name, members) in &groups {
            if members.is_empty() {
                bail!("approver group {name:?} has no members");
            }
            for m in members {
                Identity::parse(m).map_err(|e| anyhow::anyhow!("approver group {name:?}: {e}"))?;
            }
        }
        let people = People::new(file.people.as_deref().unwrap_or_default())
            .map_err(|e| anyhow::anyhow!("[[people]]: {e}"))?;
        let retention_days = self.retention_days.or(file.retention_days).unwrap_or(90);
        let settings = Settings {
            default_timeout_secs,
            max_timeout_secs,
            default_approvers: file.approvers.unwrap_or_default(),
            groups,
            default_escalation: file.escalation,
            retention: (retention_days > 0)
                .then(|| Duration::from_secs(retention_days * 24 * 3600)),
            max_wait_secs: file.max_wait_secs.unwrap_or(defaults.max_wait_secs),
            // Set by the host (Lambda), not by configuration.
            hold_cap_secs: None,
            claim_window_secs: self
                .claim_window_secs
                .or(file.claim_window_secs)
                .unwrap_or(defaults.claim_window_secs),
            people,
            outbox: OutboxSettings {
                give_up_after: file
                    .notify_give_up_secs
                    .map(Duration::from_secs)
                    .unwrap_or(defaults.outbox.give_up_after),
                lease: lease(file.lease_secs)?.unwrap_or(defaults.outbox.lease),
                ..defaults.outbox.clone()
            },
            replicas: ReplicaSettings {
                lease: lease(file.lease_secs)?.unwrap_or(defaults.replicas.lease),
                ..defaults.replicas.clone()
            },
        };
        let slack = resolve_slack(SlackArgs {
            bot_token: self.slack_bot_token.or(file.slack_bot_token),
            signing_secret: self.slack_signing_secret.or(file.slack_signing_secret),
            signing_secret_previous: self
                .slack_signing_secret_previous
                .or(file.slack_signing_secret_previous),
            app_token: self.slack_app_token.or(file.slack_app_token),
            channel: self.slack_channel.or(file.slack_channel),
            api_url: self.slack_api_url.or(file.slack_api_url),
        })?;
        // An empty or blank token would match nothing, or worse pass a
        // "has a token" check; refuse it instead of reading it as "unset".
        let secret = |s: Option<String>, name: &str| -> anyhow::Result<Option<SecretString>> {
            match s {
                Some(t) if t.trim().is_empty() => bail!(
                    "{name} is set but empty or blank; unset it (the local token is then used) or give a real token"
                ),
                other => Ok(other.map(SecretString::from)),
            }
        };
        let nonempty = |s: Option<String>| s.filter(|v| !v.trim().is_empty());
        let aws = match (
            nonempty(self.table_name.or(file.table_name)),
            nonempty(self.state_machine_arn.or(file.state_machine_arn)),
        ) {
            (Some(table_name), Some(state_machine_arn)) => {
                if !state_machine_arn.starts_with("arn:") {
                    bail!(
                        "STATE_MACHINE_ARN {state_machine_arn:?} is not an ARN (arn:aws:states:REGION:ACCOUNT:stateMachine:NAME)"
                    );
                }
                Some(AwsBackend {
                    table_name,
                    state_machine_arn,
                })
            }
            (None, None) => None,
            (Some(_), None) => bail!(
                "TABLE_NAME is set but STATE_MACHINE_ARN is not: the AWS back end needs both (terraform output gives them)"
            ),
            (None, Some(_)) => bail!(
                "STATE_MACHINE_ARN is set but TABLE_NAME is not: the AWS back end needs both (terraform output gives them)"
            ),
        };
        let sns_topic_arn = nonempty(self.sns_topic_arn.or(file.sns_topic_arn));
        if let Some(arn) = &sns_topic_arn
            && !arn.starts_with("arn:")
        {
            bail!("SNS_TOPIC_ARN {arn:?} is not an ARN (arn:aws:sns:REGION:ACCOUNT:NAME)");
        }
        Ok(ServeConfig {
            aws,
            sns_topic_arn,
            cards_dir: self.cards_dir.or(file.cards_dir),
            slack,
            teams,
            listen,
            db,
            data_dir,
            token: secret(self.token.or(file.token), "HITL_TOKEN (token)")?,
            token_previous: secret(
                self.token_previous.or(file.token_previous),
                "HITL_TOKEN_PREVIOUS (token_previous)",
            )?,
            settings,
            log_format: self.log_format.or(file.log_format).unwrap_or_default(),
        })
    }
}

/// The Slack settings as given, before they are checked.
struct SlackArgs {
    bot_token: Option<SecretString>,
    signing_secret: Option<SecretString>,
    signing_secret_previous: Option<SecretString>,
    app_token: Option<SecretString>,
    channel: Option<String>,
    api_url: Option<String>,
}

/// Slack is on when a bot token is given; the rest must then make sense.
fn resolve_slack(a: SlackArgs) -> anyhow::Result<Option<SlackConfig>> {
    let given = |s: Option<SecretString>| s.filter(|t| !t.expose_secret().trim().is_empty());
    let (bot_token, signing, previous, app_token) = (
        given(a.bot_token),
        given(a.signing_secret),
        given(a.signing_secret_previous),
        given(a.app_token),
    );
    let Some(bot_token) = bot_token else {
        if signing.is_some() || app_token.is_some() || a.channel.is_some() {
            bail!("Slack settings are given but SLACK_BOT_TOKEN is not; the bot needs it to post");
        }
        return Ok(None);
    };
    if previous.is_some() && signing.is_none() {
        bail!("SLACK_SIGNING_SECRET_PREVIOUS is set without SLACK_SIGNING_SECRET");
    }
    let mut cfg = SlackConfig::new(bot_token);
    cfg.signing_secrets = signing.into_iter().chain(previous).collect();
    cfg.app_token = app_token;
    cfg.channel = a.channel.filter(|c| !c.trim().is_empty());
    if let Some(url) = a.api_url.filter(|u| !u.trim().is_empty()) {
        slack::client::check_api_url(&url).map_err(|e| anyhow::anyhow!("SLACK_API_URL: {e}"))?;
        // The bot token goes to this URL: never in clear text over a network.
        hitl_client::local::check_outbound_base(&url, "SLACK_API_URL")
            .map_err(anyhow::Error::msg)?;
        cfg.api_url = url;
    }
    Ok(Some(cfg))
}

/// Teams is on when an app id is given; the rest must then make sense. The
/// settings are checked here, without calling Microsoft.
fn resolve_teams(a: TeamsArgs, file: &FileConfig) -> anyhow::Result<Option<TeamsSettings>> {
    let text = |s: Option<String>| s.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let given = |s: Option<SecretString>| s.filter(|t| !t.expose_secret().trim().is_empty());
    let list = |v: Option<Vec<String>>| -> Vec<String> {
        v.unwrap_or_default()
            .into_iter()
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty())
            .collect()
    };
    let f = file.clone();
    let app_id = text(a.teams_app_id.or(f.teams_app_id));
    let password = given(a.teams_app_password.or(f.teams_app_password));
    let webhook: Vec<SecretString> = given(a.teams_webhook_secret.or(f.teams_webhook_secret))
        .into_iter()
        .chain(given(
            a.teams_webhook_secret_previous
                .or(f.teams_webhook_secret_previous),
        ))
        .collect();
    let service_url = text(a.teams_service_url.or(f.teams_service_url));
    let conversation_id = text(a.teams_conversation_id.or(f.teams_conversation_id));
    let Some(app_id) = app_id else {
        if password.is_some() || !webhook.is_empty() || conversation_id.is_some() {
            bail!(
                "Teams settings are given but TEAMS_APP_ID is not; set it to the bot's Microsoft App ID"
            );
        }
        return Ok(None);
    };
    let settings = TeamsSettings {
        app_id,
        app_password: password,
        tenant_id: text(a.teams_tenant_id.or(f.teams_tenant_id)),
        service_url: service_url.map(|u| if u.ends_with('/') { u } else { format!("{u}/") }),
        conversation_id,
        token_url: text(a.teams_token_url.or(f.teams_token_url)),
        openid_url: text(a.teams_openid_url.or(f.teams_openid_url))
            .unwrap_or_else(|| BOT_FRAMEWORK_OPENID_URL.to_owned()),
        allowed_service_urls: list(
            a.teams_allowed_service_urls
                .or(f.teams_allowed_service_urls),
        ),
        webhook_secrets: webhook,
        webhook_deciders: list(a.teams_webhook_deciders.or(f.teams_webhook_deciders)),
        entra: EntraSettings {
            enabled: a
                .teams_entra_tokens
                .or(f.teams_entra_tokens)
                .unwrap_or(false),
            openid_url: text(a.teams_entra_openid_url.or(f.teams_entra_openid_url)),
            allowed_callers: list(
                a.teams_entra_allowed_callers
                    .or(f.teams_entra_allowed_callers),
            ),
        },
    };
    settings.validate().map_err(anyhow::Error::msg)?;
    for d in &settings.webhook_deciders {
        Identity::parse(d).map_err(|e| anyhow::anyhow!("TEAMS_WEBHOOK_DECIDERS: {e}"))?;
    }
    Ok(Some(settings))
}

/// Leases longer than 30 s would leave a dead process's work waiting too long.
fn lease(secs: Option<u64>) -> anyhow::Result<Option<Duration>> {
    match secs {
        None => Ok(None),
        Some(n @ 1..=30) => Ok(Some(Duration::from_secs(n))),
        Some(n) => bail!("lease_secs must be between 1 and 30 (got {n})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(file: &str, teams: TeamsArgs) -> anyhow::Result<ServeConfig> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("hitl.toml");
        std::fs::write(&path, file)?;
        ServeArgs {
            config: Some(path),
            data_dir: Some(dir.path().to_path_buf()),
            teams,
            ..ServeArgs::default()
        }
        .resolve()
    }

    #[test]
    fn teams_settings_come_from_the_config_file_and_the_environment_wins() {
        let file = r#"
teams_app_id = "6e0fb6d4-0f5e-4c9a-9d4f-1a2b3c4d5e6f"
teams_tenant_id = "72f988bf-86f1-41af-91ab-2d7cd011db47"
teams_service_url = "https://smba.trafficmanager.net/amer"
teams_conversation_id = "19:ops@thread.tacv2"
teams_allowed_service_urls = ["http://127.0.0.1:3978"]
teams_webhook_deciders = ["teams:ana@contoso.com"]
"#;
        let env = TeamsArgs {
            teams_conversation_id: Some("19:other@thread.tacv2".into()),
            ..TeamsArgs::default()
        };
        let t = resolve(file, env).unwrap().teams.unwrap();
        assert_eq!(t.app_id, "6e0fb6d4-0f5e-4c9a-9d4f-1a2b3c4d5e6f");
        assert_eq!(
            t.service_url.as_deref(),
            Some("https://smba.trafficmanager.net/amer/")
        );
        assert_eq!(t.conversation_id.as_deref(), Some("19:other@thread.tacv2"));
        assert_eq!(t.allowed_service_urls, vec!["http://127.0.0.1:3978"]);
        assert_eq!(
            t.token_url(),
            "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token"
        );
        assert_eq!(t.openid_url, BOT_FRAMEWORK_OPENID_URL);
    }

    #[test]
    fn teams_is_off_without_an_app_id_and_bad_teams_settings_stop_the_start() {
        assert!(resolve("", TeamsArgs::default()).unwrap().teams.is_none());
        let half = resolve(
            r#"teams_conversation_id = "19:x@thread.tacv2""#,
            TeamsArgs::default(),
        );
        assert!(half.unwrap_err().to_string().contains("TEAMS_APP_ID"));
        // The bot's token must never go to a connector over plain http off loopback.
        let http = resolve(
            "teams_app_id = \"a\"\nteams_token_url = \"http://login.example.com/t/oauth2/v2.0/token\"",
            TeamsArgs::default(),
        );
        assert!(http.unwrap_err().to_string().contains("TEAMS_TOKEN_URL"));
        let wildcard = resolve(
            "teams_app_id = \"a\"\nteams_allowed_service_urls = [\"https://*.trafficmanager.net\"]",
            TeamsArgs::default(),
        );
        assert!(wildcard.unwrap_err().to_string().contains("wildcard"));
        let deciders = resolve(
            "teams_app_id = \"a\"\nteams_webhook_deciders = [\"teams:\"]",
            TeamsArgs::default(),
        );
        assert!(
            deciders
                .unwrap_err()
                .to_string()
                .contains("TEAMS_WEBHOOK_DECIDERS")
        );
    }
}
