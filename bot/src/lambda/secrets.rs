//! Credentials from AWS Secrets Manager at start-up (`HITL_SECRET_ARN`,
//! set by terraform/): the secret is a JSON object of the same names as the
//! environment (`HITL_TOKEN`, `SLACK_SIGNING_SECRET`, …). A setting given in
//! the environment or on the command line wins; empty values mean unset.

use secrecy::SecretString;
use serde_json::Value;

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
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| SecretError::Fetch {
            arn: arn.to_owned(),
            cause: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
        })?;
    let text = out
        .secret_string()
        .ok_or_else(|| SecretError::NotText(arn.to_owned()))?;
    apply(args, arn, text)
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
    Ok(())
}

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
