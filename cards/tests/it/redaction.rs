//! Secrets never reach a card: every key rule and value pattern of
//! `hitl_cards::redact`, and the cards built from secret-laden records.

use hitl_cards::redact::{REDACTED, is_secret_key, redact_text, redact_value};
use hitl_cards::{Templates, slack};
use serde_json::json;

use crate::fixtures::{now, secrets_request, strings};

#[test]
fn keys_that_name_secrets_are_redacted_whatever_their_spelling() {
    for key in [
        "password",
        "PASSWORD",
        "db_password",
        "passwd",
        "userPassword",
        "secret",
        "client_secret",
        "CLIENT-SECRET",
        "token",
        "access_token",
        "X-Auth-Token",
        "max_tokens",
        "api_key",
        "apiKey",
        "API-KEY",
        "apikey",
        "Authorization",
        "proxy_authorization",
        "private_key",
        "privateKey",
        "ssh.private-key",
        "access_key",
        "aws_access_key_id",
        "AccessKey",
        "credential",
        "credentials",
        "gcpCredentials",
        "cookie",
        "Set-Cookie",
        "session",
        "session_id",
        "SessionToken",
        "auth",
        "x-auth",
        "pwd",
        "db_pass",
        "passphrase",
    ] {
        assert!(is_secret_key(key), "{key} should be a secret key");
    }
    for key in [
        "path",
        "author",
        "command",
        "keyboard",
        "bypass",
        "description",
        "sql",
        "title",
        "passenger",
    ] {
        assert!(!is_secret_key(key), "{key} is not a secret key");
    }
}

#[test]
fn secret_values_are_replaced_recursively_in_objects_and_lists() {
    let args = json!({
        "path": "/etc/app.conf",
        "db": { "host": "db.internal", "password": "hunter2", "port": 5432 },
        "users": [{ "name": "ana", "api_key": "k-123" }, { "name": "bo", "token": 42 }],
        "credentials": { "user": "x", "pass": "y" },
        "cookie": ["a=1", "b=2"],
        "session": null,
        "passwordless": true,
        "secret": "",
    });
    assert_eq!(
        redact_value(&args),
        json!({
            "path": "/etc/app.conf",
            "db": { "host": "db.internal", "password": REDACTED, "port": 5432 },
            "users": [{ "name": "ana", "api_key": REDACTED }, { "name": "bo", "token": REDACTED }],
            "credentials": REDACTED,
            "cookie": REDACTED,
            "session": null,
            "passwordless": true,
            "secret": "",
        })
    );
}

#[test]
fn random_looking_values_under_key_material_names_are_redacted() {
    let args = json!({
        "signing_key": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "hmacKey": "dGhpcyBpcyBhIHNlY3JldCBrZXkgMTIzNDU2Nzg5MA==",
        "sig": "MEUCIQDx7k2z9YbG1f0pQ3vR8sT4uW5xY6zA7bC8dE9fG0hI1j",
        "salt": "a1B2c3D4e5F6g7H8i9J0kLmN",
        "key": "readme.md",
        "sort_key": "created_at_descending_order",
        "primary_key": "00000000000000000000000000000000",
        "commit": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
    });
    let out = redact_value(&args);
    for key in ["signing_key", "hmacKey", "sig", "salt"] {
        assert_eq!(out[key], REDACTED, "{key}");
    }
    assert_eq!(out["key"], "readme.md");
    assert_eq!(out["sort_key"], "created_at_descending_order");
    assert_eq!(
        out["primary_key"], "00000000000000000000000000000000",
        "low entropy"
    );
    assert_eq!(
        out["commit"], args["commit"],
        "hashes under ordinary names stay"
    );
}

/// Each value pattern, found inside otherwise harmless text, anywhere.
#[test]
fn credential_patterns_are_cut_out_of_any_string() {
    let cases = [
        (
            "aws key AKIAIOSFODNN7EXAMPLE here",
            "aws key [redacted] here",
        ),
        ("temp ASIAY34FZKBOKMUTVV7A", "temp [redacted]"),
        ("Bearer abcdef123456.xyz", "Bearer [redacted]"),
        (
            "curl -H 'authorization: bearer tok_live_4eC39HqLyjWDarjtT1zdp7dc'",
            "curl -H 'authorization: [redacted]'",
        ),
        (
            "Authorization: Basic dXNlcjpwYXNzd29yZA==",
            "Authorization: [redacted]",
        ),
        ("ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "[redacted]"),
        (
            "clone with gho_16C7e42F292c6912E7710c838347Ae178B4a ok",
            "clone with [redacted] ok",
        ),
        (
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
            "[redacted]",
        ),
        (
            "SLACK_BOT_TOKEN=xoxb-1234-5678-abcdefgh",
            "SLACK_BOT_TOKEN=[redacted]",
        ),
        (
            "use xoxp-1111-2222-3333-abcdef and xoxa-2-abcdefgh and xoxs-abc-12345678",
            "use [redacted] and [redacted] and [redacted]",
        ),
        ("app token xapp-1-A111-222-abcdef", "app token [redacted]"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\ndone",
            "[redacted]\ndone",
        ),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk (cut off",
            "[redacted]",
        ),
        (
            "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----",
            "[redacted]",
        ),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl end",
            "jwt [redacted] end",
        ),
        (
            "psql password=hunter22 host=db",
            "psql password=[redacted] host=db",
        ),
        (
            r#"{"api_key": "sk-live-1234"}"#,
            r#"{"api_key": "[redacted]"}"#,
        ),
        ("export DB_SECRET=s3cr3t!", "export DB_SECRET=[redacted]"),
        (
            "mysql --password hunter22 -u root",
            "mysql --password [redacted] -u root",
        ),
        (
            "postgres://admin:hunter22@db.internal/shop",
            "postgres://admin:[redacted]@db.internal/shop",
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(redact_text(input), expected, "input: {input:?}");
    }
}

#[test]
fn ordinary_text_is_left_alone() {
    for text in [
        "rm -rf ./target/cache && cargo build --release",
        "Rotate the auth token for the deploy service",
        "the basic authentication page",
        "SELECT * FROM orders WHERE id = 42",
        "https://example.com/path?q=1",
        "session ended",
        "/home/ana/src/shop",
    ] {
        assert_eq!(redact_text(text), text);
    }
}

#[test]
fn redaction_is_idempotent() {
    let args = secrets_request().arguments;
    let once = redact_value(&args);
    assert_eq!(redact_value(&once), once);
}

#[test]
fn cards_never_show_a_secret() {
    let record = secrets_request();
    let message = slack::request_message(&record, now(), &Templates::builtin()).unwrap();
    let all: String = strings(&message)
        .into_iter()
        .map(|(_, s)| s + "\n")
        .collect();
    for secret in [
        "AKIAIOSFODNN7EXAMPLE",
        "hunter2",
        "eyJhbGciOiJIUzI1NiJ9",
        "xoxb-1234",
        "9f86d081884c7d659a2f",
        "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ",
    ] {
        assert!(!all.contains(secret), "{secret} reached the card");
    }
    assert!(
        all.contains("\\\"REGION\\\": \\\"eu-west-1\\\"")
            || all.contains("\"REGION\": \"eu-west-1\""),
        "{all}"
    );
    assert!(all.contains("Deploy with token [redacted] please"), "{all}");
}

#[test]
fn passwords_on_command_lines_and_well_known_key_formats_are_cut_out() {
    let cases = [
        (
            "curl -u alice:hunter22 https://api.example/x",
            "curl -u alice:[redacted] https://api.example/x",
        ),
        (
            "curl --user=alice:hunter22 -s x",
            "curl --user=alice:[redacted] -s x",
        ),
        (
            "sshpass -p 'hunter22' ssh root@db",
            "sshpass -p '[redacted]' ssh root@db",
        ),
        ("sshpass -phunter22 ssh db", "sshpass -p[redacted] ssh db"),
        (
            "mysql -u root -phunter22 shop",
            "mysql -u root -p[redacted] shop",
        ),
        (
            "mysqldump -h db -pS3cr3t! shop > x.sql",
            "mysqldump -h db -p[redacted] shop > x.sql",
        ),
        (
            "OPENAI sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123 end",
            "OPENAI [redacted] end",
        ),
        (
            "key sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWx end",
            "key [redacted] end",
        ),
        (
            "stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc and rk_test_4eC39HqLyjWDarjtT1",
            "stripe [redacted] and [redacted]",
        ),
        (
            "maps AIzaSyA-1234567890abcdefghijklmnopqrstu ok",
            "maps [redacted] ok",
        ),
        (
            "gitlab glpat-xxxxxxxxxxxxxxxxxxxx1 ok",
            "gitlab [redacted] ok",
        ),
        (
            "npm npm_abcdefghijklmnopqrstuvwxyz0123456789 ok",
            "npm [redacted] ok",
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(redact_text(input), expected, "input: {input:?}");
    }
    // Flags that look alike but carry no password are left alone.
    for text in [
        "ssh -p2222 host",
        "docker run -p8080:80 app",
        "tar -pxzf backup.tar.gz",
        "mkdir -p /tmp/x && ps -u root",
        "mysql -u root -p shop",
        "ask-for-review --user alice",
    ] {
        assert_eq!(redact_text(text), text);
    }
}

/// Formats only gitleaks' maintained rules know (the hand rules do not),
/// as fake keys in each provider's real shape, from gitleaks' own test
/// cases: cut out of free text and out of the card's arguments.
#[test]
fn provider_keys_from_the_gitleaks_rules_are_redacted_on_cards() {
    let keys = [
        ("shopify", "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"),
        (
            "sendgrid",
            "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",
        ),
        (
            "doppler",
            "dp.pt.Xq7rT2mV9cLw4Nz8Hb3Kp6Yd1Fs5Gj0Ue2Ao9Ri4Mx7",
        ),
        ("databricks", "dapi8f3a2b9c7d1e4f5a6b0c9d8e7f6a5b4c"),
        (
            "digitalocean",
            "dop_v1_3f9a1c7e5b2d8f4a6c0e9b1d7f3a5c8e2b4d6f0a9c1e7b3d5f8a2c4e6b0d9f1a",
        ),
        ("linear", "lin_api_Zk3Rt8Wq2Lp5Yx9Nv4Bm7Hc1Dg6Fj0Ks3Ta8Qe4u"),
        (
            "pypi",
            "pypi-AgEIcHlwaS5vcmcCJDg2ZWJiNmE1LTc4YTktNDk3Zi04OWQ2LTZkNWE3ZDU0Zjk3MAACKlsz",
        ),
    ];
    for (provider, key) in keys {
        let text = format!("deploy --key {key} --verbose");
        let out = redact_text(&text);
        assert!(!out.contains(key), "{provider}: {out}");
        assert!(
            out.contains(REDACTED) && out.contains("--verbose"),
            "{provider}: {out}"
        );
        let record = crate::fixtures::base(
            "apr_gitleaks",
            "run_shell",
            json!({"command": text, "note": format!("the {provider} key is {key}")}),
        );
        let card = slack::request_message(&record, now(), &Templates::builtin()).unwrap();
        assert!(!card.to_string().contains(key), "{provider} on the card");
        let modal = slack::full_request_view(&record).to_string();
        assert!(!modal.contains(key), "{provider} in the full request");
    }
    // Ordinary text is left as it is.
    let plain = "SELECT id FROM orders WHERE shop = 'dp' AND region = 'eu'";
    assert_eq!(redact_text(plain), plain);
}
