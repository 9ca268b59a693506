//! Credentials from AWS Secrets Manager at start-up (`HITL_SECRET_ARN`,
//! set by terraform/): the secret is a JSON object of the same names as the
//! environment (`HITL_TOKEN`, `SLACK_SIGNING_SECRET`, `TEAMS_APP_PASSWORD`,
//! … : every credential in [`KEYS`]). A setting given in the environment or
//! on the command line wins; empty values mean unset.
//!
//! The API tokens rotate without a redeploy: when they came from the
//! secret, [`SecretTokens`] reads it again every [`REREAD_EVERY`], and
//! after a refused token at most every [`REREAD_AFTER_REFUSAL`], so a token
//! put in the secret (with the old one as `HITL_TOKEN_PREVIOUS`) is taken
//! up by every running function. On Lambda nothing runs between
//! invocations, so the re-read is lazy: the request that finds it due does
//! it.

use std::sync::Mutex;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::Value;
use tokio::time::Instant;

use crate::config::ServeArgs;

/// Why the secret could not be used; the service does not start without it.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read secret {arn}: {cause}")]
    Fetch { arn: String, cause: String },
    #[error("secret {0} has no SecretString: store the credentials as a JSON object")]
    NotText(String),
    #[error("secret {arn} is not a JSON object of strings: {why}")]
    Shape { arn: String, why: String },
}

/// Reads the secret and fills the credentials `args` leaves unset.
pub async fn fill_from_secret(args: &mut ServeArgs, arn: &str) -> Result<(), SecretError> {
    let conf = crate::store::dynamo::sdk_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&conf);
    let text = read(&client, arn).await?;
    apply(args, arn, &text)
}

async fn read(client: &aws_sdk_secretsmanager::Client, arn: &str) -> Result<String, SecretError> {
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| SecretError::Fetch {
            arn: arn.to_owned(),
            cause: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
        })?;
    out.secret_string()
        .map(str::to_owned)
        .ok_or_else(|| SecretError::NotText(arn.to_owned()))
}

/// How often the API tokens are read again from the secret.
pub const REREAD_EVERY: Duration = Duration::from_secs(300);
/// After a refused token, the secret is read again at most this often.
pub const REREAD_AFTER_REFUSAL: Duration = Duration::from_secs(60);

/// The API tokens as the secret holds them now (a
/// [`crate::api::auth::TokenSource`]).
pub struct SecretTokens {
    client: aws_sdk_secretsmanager::Client,
    arn: String,
    every: Duration,
    after_refusal: Duration,
    state: tokio::sync::Mutex<ReadAt>,
    reads: Mutex<u64>,
}

struct ReadAt {
    last: Instant,
    last_forced: Option<Instant>,
}

impl SecretTokens {
    /// A source for the secret `arn`, read at start just now.
    pub fn new(client: aws_sdk_secretsmanager::Client, arn: &str) -> Self {
        Self::with_intervals(client, arn, REREAD_EVERY, REREAD_AFTER_REFUSAL)
    }

    pub fn with_intervals(
        client: aws_sdk_secretsmanager::Client,
        arn: &str,
        every: Duration,
        after_refusal: Duration,
    ) -> Self {
        Self {
            client,
            arn: arn.to_owned(),
            every,
            after_refusal,
            state: tokio::sync::Mutex::new(ReadAt {
                last: Instant::now(),
                last_forced: None,
            }),
            reads: Mutex::new(0),
        }
    }

    /// Reads made since start (the start-up read not counted).
    pub fn reads(&self) -> u64 {
        *self.reads.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait::async_trait]
impl crate::api::auth::TokenSource for SecretTokens {
    async fn refresh(&self, after_refusal: bool) -> Option<(SecretString, Option<SecretString>)> {
        // One reader at a time; requests arriving meanwhile wait for it and
        // then find the read done.
        let mut at = self.state.lock().await;
        let now = Instant::now();
        let periodic = now.duration_since(at.last) >= self.every;
        let forced = after_refusal
            && at
                .last_forced
                .is_none_or(|f| now.duration_since(f) >= self.after_refusal);
        if !periodic && !forced {
            return None;
        }
        // A failed read waits for the next turn too: a broken secret is
        // not hammered.
        at.last = now;
        if forced {
            at.last_forced = Some(now);
        }
        *self.reads.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        let text = match read(&self.client, &self.arn).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the secret again; the API tokens stay as they are");
                return None;
            }
        };
        let mut args = ServeArgs::default();
        match apply(&mut args, &self.arn, &text) {
            Ok(()) => match args.token {
                Some(current) => Some((
                    SecretString::from(current),
                    args.token_previous.map(SecretString::from),
                )),
                None => {
                    tracing::warn!(secret = %self.arn, "the secret has no HITL_TOKEN any more; the API tokens stay as they are");
                    None
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "the secret is malformed; the API tokens stay as they are");
                None
            }
        }
    }
}

/// The pure part: parse the secret's JSON and fill unset fields.
pub fn apply(args: &mut ServeArgs, arn: &str, text: &str) -> Result<(), SecretError> {
    let shape = |why: String| SecretError::Shape {
        arn: arn.to_owned(),
        why,
    };
    let Value::Object(map) =
        serde_json::from_str::<Value>(text).map_err(|e| shape(e.to_string()))?
    else {
        return Err(shape("the top level is not an object".to_owned()));
    };
    let get = |key: &str| -> Result<Option<String>, SecretError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            // The key, never the value: it is a secret.
            Some(_) => Err(shape(format!("{key} is not a string"))),
        }
    };
    fn fill(field: &mut Option<String>, v: Option<String>) {
        if field.is_none() {
            *field = v;
        }
    }
    fn fill_secret(field: &mut Option<SecretString>, v: Option<String>) {
        if field.is_none() {
            *field = v.map(SecretString::from);
        }
    }
    fill(&mut args.token, get("HITL_TOKEN")?);
    fill(&mut args.token_previous, get("HITL_TOKEN_PREVIOUS")?);
    fill_secret(&mut args.slack_bot_token, get("SLACK_BOT_TOKEN")?);
    fill_secret(&mut args.slack_signing_secret, get("SLACK_SIGNING_SECRET")?);
    fill_secret(
        &mut args.slack_signing_secret_previous,
        get("SLACK_SIGNING_SECRET_PREVIOUS")?,
    );
    fill_secret(&mut args.slack_app_token, get("SLACK_APP_TOKEN")?);
    let teams = &mut args.teams;
    fill_secret(&mut teams.teams_app_password, get("TEAMS_APP_PASSWORD")?);
    fill_secret(
        &mut teams.teams_webhook_secret,
        get("TEAMS_WEBHOOK_SECRET")?,
    );
    fill_secret(
        &mut teams.teams_webhook_secret_previous,
        get("TEAMS_WEBHOOK_SECRET_PREVIOUS")?,
    );
    Ok(())
}

/// Every key the secret may hold; any other key is ignored. Only
/// credentials live there: Teams' app id, tenant and conversation are plain
/// settings in the environment.
pub const KEYS: [&str; 9] = [
    "HITL_TOKEN",
    "HITL_TOKEN_PREVIOUS",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_SIGNING_SECRET_PREVIOUS",
    "SLACK_APP_TOKEN",
    "TEAMS_APP_PASSWORD",
    "TEAMS_WEBHOOK_SECRET",
    "TEAMS_WEBHOOK_SECRET_PREVIOUS",
];

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    #[test]
    fn unset_credentials_are_filled_and_set_ones_win() {
        let mut args = ServeArgs {
            token_previous: Some("from-env".to_owned()),
            ..ServeArgs::default()
        };
        let text = r#"{"HITL_TOKEN": "t1", "HITL_TOKEN_PREVIOUS": "t0",
            "SLACK_SIGNING_SECRET": "s1", "SLACK_BOT_TOKEN": "  ", "OTHER": 1}"#;
        apply(&mut args, "arn", text).unwrap();
        assert_eq!(args.token.as_deref(), Some("t1"));
        assert_eq!(args.token_previous.as_deref(), Some("from-env"));
        assert_eq!(
            args.slack_signing_secret
                .as_ref()
                .map(|s| s.expose_secret()),
            Some("s1")
        );
        assert!(args.slack_bot_token.is_none(), "blank means unset");
    }

    #[test]
    fn teams_credentials_come_from_the_secret_unless_given() {
        let mut args = ServeArgs::default();
        args.teams.teams_webhook_secret_previous = Some(SecretString::from("from-env"));
        let text = r#"{"TEAMS_APP_PASSWORD": "p1", "TEAMS_WEBHOOK_SECRET": "w1",
            "TEAMS_WEBHOOK_SECRET_PREVIOUS": "w0", "TEAMS_APP_ID": "not-a-credential"}"#;
        apply(&mut args, "arn", text).unwrap();
        let shown = |s: &Option<SecretString>| s.as_ref().map(|s| s.expose_secret().to_owned());
        assert_eq!(shown(&args.teams.teams_app_password).as_deref(), Some("p1"));
        assert_eq!(
            shown(&args.teams.teams_webhook_secret).as_deref(),
            Some("w1")
        );
        assert_eq!(
            shown(&args.teams.teams_webhook_secret_previous).as_deref(),
            Some("from-env")
        );
        assert!(
            args.teams.teams_app_id.is_none(),
            "only credentials are read from the secret"
        );
    }

    #[test]
    fn every_documented_key_is_read() {
        let unset = format!("{:?}", ServeArgs::default());
        for key in KEYS {
            let mut args = ServeArgs::default();
            apply(
                &mut args,
                "arn",
                &serde_json::json!({ key: "v" }).to_string(),
            )
            .unwrap();
            assert_ne!(format!("{args:?}"), unset, "{key} changed nothing");
        }
    }

    /// The secret terraform/ creates holds exactly the keys the bot reads,
    /// so none is written in vain and every one can be set in place.
    #[test]
    fn the_terraform_secret_holds_the_keys_the_bot_reads() {
        let tf = include_str!("../../../terraform/secrets.tf");
        let start = tf
            .find("secret_string = jsonencode({")
            .expect("terraform/secrets.tf writes the secret as jsonencode({...})");
        let block = &tf[start..];
        let block = &block[..block.find("})").expect("the jsonencode block ends")];
        let mut written: Vec<&str> = block
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
            .filter(|k| !k.is_empty())
            .collect();
        written.sort_unstable();
        let mut read = KEYS.to_vec();
        read.sort_unstable();
        assert_eq!(written, read);
    }

    #[test]
    fn a_malformed_secret_is_refused_without_echoing_values() {
        for (text, says) in [
            ("not json", "not a JSON object"),
            (r#"["HITL_TOKEN"]"#, "top level is not an object"),
            (r#"{"HITL_TOKEN": 12345678}"#, "HITL_TOKEN is not a string"),
        ] {
            let mut args = ServeArgs::default();
            let err = apply(&mut args, "arn:s", text).unwrap_err().to_string();
            assert!(err.contains(says) && err.contains("arn:s"), "{text}: {err}");
            assert!(!err.contains("12345678"), "{err}");
            assert!(args.token.is_none(), "nothing changed on {text}");
        }
    }
}
