//! The Slack app manifests in deploy/ ask for what the bot uses: its three
//! endpoints (or Socket Mode), the /approvals command, the thread-reply
//! events and the scopes behind every Web API call it makes.

fn manifest(name: &str) -> String {
    let path = format!("{}/../deploy/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const SCOPES: [&str; 8] = [
    "- chat:write ",
    "- commands ",
    "- usergroups:read ",
    "- channels:history ",
    "- groups:history ",
    "- users:read ",
    "- channels:read ",
    "- groups:read ",
];

#[test]
fn the_http_manifest_points_slack_at_the_three_endpoints() {
    let m = manifest("slack-app-manifest.yaml");
    for path in ["/slack/commands", "/slack/events", "/slack/interactions"] {
        assert!(
            m.contains(&format!("url: https://hitl.example.com{path}\n")),
            "{path}"
        );
    }
    for scope in SCOPES {
        assert!(m.contains(scope), "{scope}");
    }
    assert!(m.contains("command: /approvals"));
    assert!(m.contains("- message.channels") && m.contains("- message.groups"));
    assert!(m.contains("socket_mode_enabled: false"));
}

#[test]
fn the_socket_mode_manifest_needs_no_public_url() {
    let m = manifest("slack-app-manifest.socket-mode.yaml");
    assert!(!m.contains("url:"), "Socket Mode apps have no request URLs");
    for scope in SCOPES {
        assert!(m.contains(scope), "{scope}");
    }
    assert!(m.contains("command: /approvals"));
    assert!(m.contains("socket_mode_enabled: true"));
}
