//! The `hitl-mcp` subcommands, as functions the binary calls with options
//! it has already parsed. They return what to print rather than printing,
//! so they stay testable and free of `println!`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};

use crate::policy::{DEFAULT_POLICY_TOML, Policy, PolicyError, ToolAnnotations, ToolCall};

/// Top-level sections of the config file that belong to the proxy rather
/// than the policy; the policy loader skips them and rejects any other
/// unknown key.
pub const PROXY_SECTIONS: &[&str] = &["gateway", "servers"];

/// Loads the policy file, or the built-in policy when there is none.
pub fn load_policy(config: Option<&Path>) -> Result<Policy, PolicyError> {
    match config {
        Some(path) => Policy::load_with_sections(path, PROXY_SECTIONS),
        None => Ok(Policy::default()),
    }
}

/// `hitl-mcp serve`.
#[derive(Debug, Default)]
pub struct ServeOptions {
    pub config: Option<PathBuf>,
    /// The upstream server's name (for rules and cards); derived from the
    /// upstream command or URL when unset.
    pub name: Option<String>,
    /// Longest hold without a progress token, in seconds.
    pub hold_budget_secs: Option<u64>,
    /// Longest hold when the client gave a progress token, in seconds.
    pub hold_budget_with_progress_secs: Option<u64>,
    /// Who the approval requests are from.
    pub requester: Option<String>,
    pub approval_url: Option<String>,
    pub token: Option<SecretString>,
    pub listen: Option<std::net::SocketAddr>,
    /// Bearer token HTTP clients must present (with `listen`).
    pub listen_token: Option<SecretString>,
    /// Host headers accepted besides localhost (with `listen`).
    pub allowed_hosts: Vec<String>,
    pub upstream_url: Option<String>,
    pub approver: Option<String>,
    pub timeout_secs: Option<u64>,
    pub auto_approve_low_risk: bool,
    pub debug: bool,
    /// The upstream command and its arguments (after `--`).
    pub upstream_command: Vec<String>,
    /// hitl's configured data folder, secret to the policy.
    pub data_dir: Option<PathBuf>,
}

/// The policy as `serve` would use it: the file, with the command line's
/// defaults applied.
pub fn serve_policy(opts: &ServeOptions) -> Result<Policy, PolicyError> {
    let mut policy = load_policy(opts.config.as_deref())?;
    if opts.auto_approve_low_risk {
        policy.set_auto_approve_low_risk(true);
    }
    if let Some(approver) = &opts.approver {
        policy.set_default_approvers(vec![approver.clone()]);
    }
    if opts.timeout_secs.is_some() {
        policy.set_default_timeout_secs(opts.timeout_secs);
    }
    if let Some(dir) = &opts.data_dir {
        policy.add_secret_dir(dir);
    }
    Ok(policy)
}

/// The `[gateway]` section of the config file: proxy settings that live
/// beside the policy. Flags and environment variables win over it.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// The upstream server's name, for policy rules and approval cards.
    pub name: Option<String>,
    /// Longest hold, in seconds, when the client gave no progress token
    /// (Claude Desktop gives up after about 60 s). Default 45.
    pub hold_budget_secs: Option<u64>,
    /// Longest hold, in seconds, when the client gave a progress token and
    /// so keeps waiting while progress arrives. Default 3600.
    pub hold_budget_with_progress_secs: Option<u64>,
    /// Seconds between progress notifications while held (1 to 15). Default 10.
    pub progress_interval_secs: Option<u64>,
    /// Who the approval requests are from. Default "mcp-agent".
    pub requester: Option<String>,
    /// Calls one session may have held at once. Default 1000.
    pub max_held_per_session: Option<usize>,
    /// Calls the whole gateway may have held at once. Default 10000.
    pub max_held_per_gateway: Option<usize>,
    /// Upstream sessions open at once per server: one per distinct set of
    /// client capabilities. Default 16.
    pub max_upstream_sessions: Option<usize>,
    /// Hold budgets per MCP client, by its `clientInfo.name`
    /// (`[gateway.clients."claude-code"]`).
    #[serde(default)]
    pub clients: std::collections::HashMap<String, crate::proxy::hold::ClientHold>,
}

/// One `[[servers]]` entry: an upstream besides (or instead of) the one on
/// the command line.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerEntry {
    /// The name policy rules match (`server = ...`) and cards show.
    pub name: String,
    /// The command and its arguments, for a stdio server.
    pub command: Option<Vec<String>>,
    /// A Streamable HTTP endpoint, instead of a command.
    pub url: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct ConfigFile {
    #[serde(default)]
    gateway: GatewaySection,
    #[serde(default)]
    servers: Vec<ServerEntry>,
}

/// Reads the `[gateway]` section (errors name the file and line).
pub fn gateway_section(config: Option<&Path>) -> anyhow::Result<GatewaySection> {
    Ok(proxy_sections(config)?.gateway)
}

/// Reads the proxy's sections of the config file: `[gateway]` and `[[servers]]`.
fn proxy_sections(config: Option<&Path>) -> anyhow::Result<ConfigFile> {
    let Some(path) = config else {
        return Ok(ConfigFile::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: ConfigFile = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start].lines().count().max(1))
            .unwrap_or(0);
        anyhow::anyhow!("{}:{line}: {}", path.display(), e.message())
    })?;
    Ok(file)
}

/// The upstream's name when none is configured: `server-filesystem` from
/// `npx -y @modelcontextprotocol/server-filesystem /srv`, `mcp-server-git`
/// → `git`, a URL's host otherwise.
pub fn derive_server_name(command: &[String], url: Option<&str>) -> String {
    if let Some(url) = url {
        let host = url
            .split("://")
            .nth(1)
            .unwrap_or(url)
            .split(['/', '?', '#'])
            .next()
            .unwrap_or("upstream");
        // Never a `user:password@` part: the name goes on approval cards.
        let host = host.rsplit('@').next().unwrap_or(host);
        let host = host.split(':').next().unwrap_or(host);
        return host.to_owned();
    }
    // A package name, or the folder of a script path
    // (`.../server-filesystem/dist/index.js`).
    let package = command
        .iter()
        .flat_map(|a| a.rsplit('/'))
        .find(|a| a.contains("server") || a.starts_with("mcp"))
        .or_else(|| command.first().map(|c| c.rsplit('/').next().unwrap_or(c)))
        .unwrap_or("upstream");
    let name = package.split('@').next().unwrap_or(package);
    let name = name
        .trim_start_matches("mcp-server-")
        .trim_start_matches("server-")
        .trim_end_matches("-mcp-server")
        .trim_end_matches("-mcp")
        .trim_start_matches("mcp-");
    if name.is_empty() {
        "upstream".to_owned()
    } else {
        name.to_owned()
    }
}

/// The local approval service's token, which `hitl-bot serve` saves in the
/// user's data folder when HITL_TOKEN is unset.
pub fn local_token() -> Option<SecretString> {
    let dir = hitl_client::local::data_dir(None);
    let path = hitl_client::local::requester_token_path(&dir);
    hitl_client::local::read_token(&path)
        .ok()
        .flatten()
        .map(hitl_client::Token::into_secret)
}

/// The listen token `generate-config --gateway-url` saved for HTTP
/// clients of this machine's gateway. A file that is there but unusable
/// stops the gateway rather than serving without the token it promised.
fn saved_listen_token() -> anyhow::Result<Option<SecretString>> {
    let dir = hitl_client::local::data_dir(None);
    let path = hitl_client::local::gateway_listen_token_path(&dir);
    let token = hitl_client::local::read_token(&path)?;
    if token.is_some() {
        tracing::info!(path = %path.display(), "HTTP clients must present the listen token saved there (made by generate-config --gateway-url)");
    }
    Ok(token.map(hitl_client::Token::into_secret))
}

/// The listen token for a client config: the saved one, made now if
/// there is none. Returns it and whether it was just made.
pub fn local_listen_token() -> anyhow::Result<(SecretString, PathBuf, bool)> {
    let dir = hitl_client::local::data_dir(None);
    let path = hitl_client::local::gateway_listen_token_path(&dir);
    let (token, made) = hitl_client::local::load_or_create_token(&path)?;
    Ok((token.into_secret(), path, made))
}

/// Resolves `serve`'s options into the proxy's settings.
pub fn proxy_settings(opts: &ServeOptions) -> anyhow::Result<crate::proxy::serve::Proxy> {
    use crate::proxy::hold::HoldSettings;
    use crate::proxy::upstream::UpstreamSpec;

    let policy = serve_policy(opts)?;
    let ConfigFile {
        gateway: section,
        servers,
    } = proxy_sections(opts.config.as_deref())?;
    let mut upstreams = Vec::new();
    for (i, entry) in servers.into_iter().enumerate() {
        let spec = match (entry.command, entry.url) {
            (Some(cmd), None) if !cmd.is_empty() => UpstreamSpec::Command {
                program: cmd[0].clone(),
                args: cmd[1..].to_vec(),
            },
            (None, Some(url)) => UpstreamSpec::Url(url),
            _ => bail!(
                "[[servers]] entry {} ({:?}): give exactly one of `command = [\"cmd\", \"arg\", ...]` or `url = \"http://...\"`",
                i + 1,
                entry.name
            ),
        };
        upstreams.push((entry.name, spec));
    }
    let cli = match (&opts.upstream_url, opts.upstream_command.split_first()) {
        (Some(_), Some(_)) => {
            bail!("give the upstream either as --upstream-url or as a command after --, not both")
        }
        (Some(url), None) => Some(UpstreamSpec::Url(url.clone())),
        (None, Some((program, args))) => Some(UpstreamSpec::Command {
            program: program.clone(),
            args: args.to_vec(),
        }),
        (None, None) => None,
    };
    if let Some(spec) = cli {
        let name = opts
            .name
            .clone()
            .or(section.name.clone())
            .unwrap_or_else(|| {
                derive_server_name(&opts.upstream_command, opts.upstream_url.as_deref())
            });
        upstreams.push((name, spec));
    }
    if upstreams.is_empty() {
        bail!(
            "no upstream MCP server: put its command after --, e.g. `hitl-mcp serve -- npx -y @modelcontextprotocol/server-filesystem /tmp`, pass --upstream-url, or list [[servers]] in the config file"
        );
    }
    let mut seen = std::collections::HashSet::new();
    for (name, _) in &upstreams {
        if name.is_empty() || name.contains(crate::proxy::catalog::SEPARATOR) {
            bail!("upstream name {name:?} must be non-empty and must not contain \"__\"");
        }
        if !seen.insert(name.clone()) {
            bail!(
                "two upstreams are named {name:?}; give each a unique name (--name, or `name` in [[servers]])"
            );
        }
    }
    let tick = section.progress_interval_secs.unwrap_or(10);
    if !(1..=15).contains(&tick) {
        bail!("[gateway] progress_interval_secs must be between 1 and 15 (got {tick})");
    }
    let per_session = section
        .max_held_per_session
        .unwrap_or(crate::proxy::limits::MAX_HELD_PER_SESSION);
    let per_gateway = section
        .max_held_per_gateway
        .unwrap_or(crate::proxy::limits::MAX_HELD_PER_GATEWAY);
    if per_session == 0 || per_gateway == 0 {
        bail!(
            "[gateway] max_held_per_session and max_held_per_gateway must be at least 1 (got {per_session} and {per_gateway})"
        );
    }
    let max_upstream_sessions = section
        .max_upstream_sessions
        .unwrap_or(crate::proxy::upstream::MAX_UPSTREAM_SESSIONS);
    if max_upstream_sessions == 0 {
        bail!("[gateway] max_upstream_sessions must be at least 1 (got 0)");
    }
    let approval_url = opts
        .approval_url
        .clone()
        .unwrap_or_else(|| hitl_client::local::DEFAULT_URL.to_owned());
    let token = opts.token.clone().or_else(local_token);
    let listen_token = match (&opts.listen_token, opts.listen) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(_)) => saved_listen_token()?,
        (None, None) => None,
    };
    if let Some(addr) = opts.listen
        && !addr.ip().is_loopback()
        && listen_token.is_none()
    {
        bail!(
            "--listen {addr} is reachable from other machines: set --listen-token (HITL_LISTEN_TOKEN) so clients must present it as a bearer token"
        );
    }
    Ok(crate::proxy::serve::Proxy {
        upstreams,
        listen_token,
        allowed_hosts: opts.allowed_hosts.clone(),
        listen: opts.listen,
        approvals: crate::approval::ApprovalClient::new(&approval_url, token)?,
        hold: HoldSettings {
            budget_without_progress: Duration::from_secs(
                opts.hold_budget_secs
                    .or(section.hold_budget_secs)
                    .unwrap_or(45),
            ),
            budget_with_progress: Duration::from_secs(
                opts.hold_budget_with_progress_secs
                    .or(section.hold_budget_with_progress_secs)
                    .unwrap_or(3600),
            ),
            tick: Duration::from_secs(tick),
            requester: opts
                .requester
                .clone()
                .or(section.requester)
                .unwrap_or_else(|| "mcp-agent".to_owned()),
            clients: std::sync::Arc::new(crate::proxy::hold::client_holds(section.clients)?),
        },
        held: crate::proxy::limits::HeldCounts::with_caps(per_session, per_gateway),
        max_upstream_sessions,
        policy: std::sync::Arc::new(policy),
    })
}

/// `hitl-mcp serve`: runs the gateway until the client disconnects (stdio)
/// or the process is told to stop.
pub async fn serve(opts: &ServeOptions) -> anyhow::Result<()> {
    let proxy = proxy_settings(opts)?;
    let stop = tokio_util::sync::CancellationToken::new();
    let on_signal = stop.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        on_signal.cancel();
    });
    crate::proxy::serve::run(proxy, stop).await
}

/// `hitl-mcp evaluate`.
#[derive(Debug, Default)]
pub struct EvaluateOptions {
    pub tool: String,
    /// The call's arguments as JSON text (an object).
    pub args: String,
    pub server: Option<String>,
    pub config: Option<PathBuf>,
    /// The tool's MCP annotations as JSON text (`{"readOnlyHint": true}`).
    pub annotations: Option<String>,
    /// The tool's description, as `tools/list` gives it.
    pub description: Option<String>,
    /// hitl's configured data folder, secret to the policy.
    pub data_dir: Option<PathBuf>,
    pub auto_approve_low_risk: bool,
}

/// `hitl-mcp evaluate`: the verdict on one call, as one line of JSON
/// (`{"risk": ..., "action": ..., "reasons": [...]}` and extras; `"shadow":
/// true` when the policy is in shadow mode).
pub fn evaluate(opts: &EvaluateOptions) -> anyhow::Result<String> {
    let mut policy = load_policy(opts.config.as_deref())?;
    if opts.auto_approve_low_risk {
        policy.set_auto_approve_low_risk(true);
    }
    if let Some(dir) = &opts.data_dir {
        policy.add_secret_dir(dir);
    }
    let arguments: Value = serde_json::from_str(&opts.args).context("--args is not valid JSON")?;
    if !arguments.is_object() {
        bail!("--args must be a JSON object, such as '{{\"path\": \"/tmp/notes.txt\"}}'");
    }
    let annotations = match &opts.annotations {
        Some(text) => {
            let de = &mut serde_json::Deserializer::from_str(text);
            serde_path_to_error::deserialize::<_, ToolAnnotations>(de)
                .context("--annotations must be a JSON object such as '{\"readOnlyHint\": true}'")?
        }
        None => ToolAnnotations::default(),
    };
    let mut call = ToolCall::new(&opts.tool, &arguments).with_annotations(annotations);
    if let Some(description) = &opts.description {
        call = call.with_description(description);
    }
    if let Some(server) = &opts.server {
        call = call.with_server(server);
    }
    let verdict = policy.evaluate(&call);
    let report = Report {
        verdict: &verdict,
        shadow: policy.shadow(),
    };
    serde_json::to_string(&report).context("serializing the verdict")
}

/// What `evaluate` prints: the verdict, and whether shadow mode would let
/// the call through regardless.
#[derive(serde::Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    verdict: &'a crate::policy::Verdict,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    shadow: bool,
}

/// `hitl-mcp init-config`: writes the commented default policy. Refuses to
/// replace an existing file unless `force`.
pub fn init_config(output: &Path, force: bool) -> anyhow::Result<()> {
    if output.exists() && !force {
        bail!(
            "{} already exists; pass --force to replace it",
            output.display()
        );
    }
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(output, DEFAULT_POLICY_TOML)
        .with_context(|| format!("writing {}", output.display()))
}

/// MCP clients whose config `generate-config` writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Client {
    /// `claude_desktop_config.json`: `{"mcpServers": {...}}`.
    #[default]
    ClaudeDesktop,
    /// `.mcp.json` in a project: `{"mcpServers": {...}}`.
    ClaudeCode,
    /// `.cursor/mcp.json`: `{"mcpServers": {...}}`.
    Cursor,
    /// `.vscode/mcp.json`: `{"servers": {...}, "inputs": [...]}`.
    Vscode,
}

/// `hitl-mcp generate-config`.
#[derive(Debug)]
pub struct GenerateOptions {
    pub approval_url: String,
    pub client: Client,
    /// The server's name in the client's config.
    pub name: String,
    /// Written into the config as is; without it, a reference the client
    /// fills in (an environment variable or a prompt) where it can.
    pub token: Option<SecretString>,
    /// Policy file for the gateway (`--config`).
    pub config: Option<PathBuf>,
    /// How the client starts the gateway.
    pub gateway_command: String,
    /// The upstream server's command and arguments.
    pub upstream: Vec<String>,
}

/// Whether `url` points at this machine (127.0.0.0/8, ::1 or localhost).
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    let host = url
        .host_str()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Placeholder for clients that cannot read the token from elsewhere.
pub const TOKEN_PLACEHOLDER: &str = "REPLACE_WITH_HITL_TOKEN";

/// The client config that runs the gateway in front of the upstream.
pub fn client_config(opts: &GenerateOptions) -> Value {
    let mut args = vec![Value::from("serve")];
    if let Some(config) = &opts.config {
        args.push("--config".into());
        args.push(config.display().to_string().into());
    }
    if !opts.upstream.is_empty() {
        args.push("--".into());
        args.extend(opts.upstream.iter().map(|a| Value::from(a.as_str())));
    }
    // On this machine the gateway reads the token the service saved, so
    // nothing needs to be filled in (see `local_token`).
    let local = is_loopback_url(&opts.approval_url);
    let token = match (&opts.token, opts.client) {
        (Some(token), _) => Some(token.expose_secret().to_owned()),
        (None, _) if local => None,
        // Claude Code expands ${VAR} in .mcp.json, Cursor ${env:VAR}, and
        // VS Code asks once and keeps the answer in its secret storage.
        (None, Client::ClaudeCode) => Some("${HITL_TOKEN}".to_owned()),
        (None, Client::Cursor) => Some("${env:HITL_TOKEN}".to_owned()),
        (None, Client::Vscode) => Some("${input:hitl-token}".to_owned()),
        (None, Client::ClaudeDesktop) => Some(TOKEN_PLACEHOLDER.to_owned()),
    };
    let mut server = Map::new();
    if matches!(opts.client, Client::ClaudeCode | Client::Vscode) {
        server.insert("type".into(), "stdio".into());
    }
    server.insert("command".into(), opts.gateway_command.clone().into());
    server.insert("args".into(), Value::Array(args));
    let mut env = json!({ "HITL_APPROVAL_URL": opts.approval_url });
    if let Some(token) = &token {
        env["HITL_TOKEN"] = token.clone().into();
    }
    server.insert("env".into(), env);
    let mut servers = Map::new();
    servers.insert(opts.name.clone(), Value::Object(server));
    match opts.client {
        Client::ClaudeDesktop | Client::ClaudeCode | Client::Cursor => {
            json!({ "mcpServers": servers })
        }
        Client::Vscode => {
            let mut config = json!({ "servers": servers });
            if token.as_deref() == Some("${input:hitl-token}") {
                config["inputs"] = json!([{
                    "type": "promptString",
                    "id": "hitl-token",
                    "description": "Token for the hitl approval service (HITL_TOKEN)",
                    "password": true
                }]);
            }
            config
        }
    }
}

/// `hitl-mcp generate-config --gateway-url`: a client that connects to a
/// running `hitl-mcp serve --listen` over Streamable HTTP.
#[derive(Debug)]
pub struct HttpClientOptions {
    /// The gateway's MCP endpoint, e.g. `http://127.0.0.1:8931/mcp`.
    pub gateway_url: String,
    pub client: Client,
    pub name: String,
    /// The listen token written into the config; without it, a reference
    /// to HITL_LISTEN_TOKEN the client fills in (or a prompt).
    pub listen_token: Option<SecretString>,
}

/// The client config that connects to a running gateway over HTTP, with
/// its bearer token in an `Authorization` header.
pub fn http_client_config(opts: &HttpClientOptions) -> anyhow::Result<Value> {
    if opts.client == Client::ClaudeDesktop {
        bail!(
            "Claude Desktop's config file starts only local (stdio) servers: drop --gateway-url to have it start the gateway itself, or add the URL under Settings > Connectors"
        );
    }
    let url = reqwest::Url::parse(&opts.gateway_url).map_err(|e| {
        anyhow::anyhow!(
            "--gateway-url {:?} is not a URL ({e}); give the gateway's MCP endpoint, e.g. http://127.0.0.1:8931/mcp",
            opts.gateway_url
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!(
            "--gateway-url must be http:// or https:// (got {}://)",
            url.scheme()
        );
    }
    if url.scheme() == "http" && !is_loopback_url(&opts.gateway_url) {
        bail!(
            "--gateway-url {} is plain http:// to another machine: the bearer token would cross the network in the clear; put the gateway behind https",
            opts.gateway_url
        );
    }
    if !url.username().is_empty() || url.password().is_some() {
        bail!("--gateway-url must not carry a user name or password; the token goes in a header");
    }
    let token = match (&opts.listen_token, opts.client) {
        (Some(t), _) => t.expose_secret().to_owned(),
        (None, Client::ClaudeCode) => "${HITL_LISTEN_TOKEN}".to_owned(),
        (None, Client::Cursor) => "${env:HITL_LISTEN_TOKEN}".to_owned(),
        (None, Client::Vscode | Client::ClaudeDesktop) => "${input:hitl-listen-token}".to_owned(),
    };
    let mut server = Map::new();
    // Cursor tells HTTP servers by their `url`; the others want a type.
    if opts.client != Client::Cursor {
        server.insert("type".into(), "http".into());
    }
    server.insert("url".into(), opts.gateway_url.clone().into());
    server.insert(
        "headers".into(),
        json!({ "Authorization": format!("Bearer {token}") }),
    );
    let mut servers = Map::new();
    servers.insert(opts.name.clone(), Value::Object(server));
    Ok(match opts.client {
        Client::Vscode => {
            let mut config = json!({ "servers": servers });
            if opts.listen_token.is_none() {
                config["inputs"] = json!([{
                    "type": "promptString",
                    "id": "hitl-listen-token",
                    "description": "Bearer token of the hitl-mcp gateway (HITL_LISTEN_TOKEN)",
                    "password": true
                }]);
            }
            config
        }
        _ => json!({ "mcpServers": servers }),
    })
}

/// Adds a generated config to an existing client config file (keeping its
/// other servers), or creates the file. A file that is not a JSON object is
/// left alone.
pub fn merge_into_file(path: &Path, generated: &Value) -> anyhow::Result<()> {
    let mut current = if path.exists() {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        if text.trim().is_empty() {
            Value::Object(Map::new())
        } else {
            let value: Value = serde_json::from_str(&text).with_context(|| {
                format!("{} is not valid JSON; not changing it", path.display())
            })?;
            if !value.is_object() {
                bail!(
                    "{} does not hold a JSON object; not changing it",
                    path.display()
                );
            }
            value
        }
    } else {
        Value::Object(Map::new())
    };
    let (Value::Object(target), Value::Object(source)) = (&mut current, generated) else {
        bail!("generated config is not a JSON object");
    };
    for (key, value) in source {
        match (target.get_mut(key), value) {
            (Some(Value::Object(existing)), Value::Object(new)) => {
                for (k, v) in new {
                    existing.insert(k.clone(), v.clone());
                }
            }
            (Some(Value::Array(existing)), Value::Array(new)) => {
                for item in new {
                    let id = item.get("id");
                    if !existing.iter().any(|e| id.is_some() && e.get("id") == id) {
                        existing.push(item.clone());
                    }
                }
            }
            _ => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut text = serde_json::to_string_pretty(&current).context("serializing the config")?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// `hitl-mcp check-approval`.
#[derive(Debug)]
pub struct CheckOptions {
    pub request_id: String,
    pub approval_url: String,
    pub token: Option<SecretString>,
    /// Long-poll: let the service hold the answer up to this many seconds.
    pub wait_secs: Option<u64>,
}

/// What `check-approval` found.
#[derive(Debug)]
pub struct CheckOutcome {
    /// The record as the approval service returned it.
    pub record: Value,
    pub approved: bool,
}

/// `GET {url}/v1/approvals/{id}` (with `?wait=` when asked) with the bearer token.
pub async fn check_approval(opts: &CheckOptions) -> anyhow::Result<CheckOutcome> {
    use crate::approval::{ApprovalClient, ApprovalError, ErrorCode};

    let client = ApprovalClient::new(&opts.approval_url, opts.token.clone())?;
    let answer = match opts.wait_secs {
        Some(wait) => {
            client
                .wait(&opts.request_id, Duration::from_secs(wait))
                .await
        }
        None => client.get(&opts.request_id).await,
    };
    let record = answer.map_err(|e| match e {
        ApprovalError::Api {
            code: ErrorCode::NotFound | ErrorCode::NotYours,
            message,
            ..
        } => {
            anyhow::anyhow!("no approval request {:?}: {message}", opts.request_id)
        }
        ApprovalError::Api { code, message, .. } if code.is_auth() => {
            anyhow::anyhow!(
                "the approval service refused the token (set HITL_TOKEN or --token): {message}"
            )
        }
        ApprovalError::Api {
            status, message, ..
        } => {
            anyhow::anyhow!("the approval service answered {status}: {message}")
        }
        other => anyhow::anyhow!(other),
    })?;
    let approved = record.status == hitl_wire::Status::Approved;
    Ok(CheckOutcome {
        record: serde_json::to_value(&record)?,
        approved,
    })
}
