//! `hitl-mcp scan`: starts an MCP server (or connects to one by URL), reads
//! its `tools/list`, and reports the verdict the policy would give each
//! tool with typical arguments, flagging the tools it cannot judge by name.
//! With `--output` it writes a starting policy file with one rule per tool
//! for the operator to edit.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, bail};
use rmcp::ServiceExt;
use rmcp::model::Tool;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use serde_json::{Map, Value};

use crate::commands::{derive_server_name, load_policy};
use crate::policy::{Policy, ToolAnnotations, ToolCall, Verdict};

/// `hitl-mcp scan` options.
#[derive(Debug, Default)]
pub struct ScanOptions {
    pub config: Option<PathBuf>,
    /// Where to write a starting policy file.
    pub output: Option<PathBuf>,
    /// Replace `output` when it exists.
    pub force: bool,
    pub upstream_url: Option<String>,
    /// The server's name in rules; derived from the command or URL.
    pub name: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub upstream_command: Vec<String>,
}

/// One tool as the policy sees it.
#[derive(Debug, serde::Serialize)]
pub struct ToolReport {
    pub tool: String,
    #[serde(flatten)]
    pub verdict: Verdict,
    /// The name says nothing the policy understands: it fell back to the
    /// arguments, annotations and description, and a rule should say.
    pub unsure: bool,
}

/// Reads the server's tools and judges each one.
pub async fn scan(opts: &ScanOptions) -> anyhow::Result<(String, Vec<ToolReport>)> {
    let mut policy = load_policy(opts.config.as_deref())?;
    if let Some(dir) = &opts.data_dir {
        policy.add_secret_dir(dir);
    }
    let server = opts.name.clone().unwrap_or_else(|| {
        derive_server_name(&opts.upstream_command, opts.upstream_url.as_deref())
    });
    let tools = list_tools(opts).await?;
    let reports = tools
        .iter()
        .map(|tool| judge(&policy, &server, tool))
        .collect();
    Ok((server, reports))
}

async fn list_tools(opts: &ScanOptions) -> anyhow::Result<Vec<Tool>> {
    let client = match (&opts.upstream_url, opts.upstream_command.split_first()) {
        (Some(_), Some(_)) => bail!("give either --upstream-url or a command after --, not both"),
        (None, None) => bail!(
            "name the server to scan: hitl-mcp scan -- npx -y @modelcontextprotocol/server-filesystem /tmp, or --upstream-url URL"
        ),
        (Some(url), None) => {
            // reqwest is built without a default TLS provider.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let transport = StreamableHttpClientTransport::from_uri(url.as_str());
            ().serve(transport)
                .await
                .with_context(|| format!("cannot connect to the MCP server at {url}"))?
        }
        (None, Some((program, args))) => {
            let mut cmd = tokio::process::Command::new(program);
            cmd.args(args);
            let (transport, _) = TokioChildProcess::builder(cmd)
                .stderr(std::process::Stdio::null())
                .spawn()
                .with_context(|| format!("cannot start {program}"))?;
            ().serve(transport)
                .await
                .with_context(|| format!("{program} did not start an MCP session"))?
        }
    };
    let tools = client
        .peer()
        .list_all_tools()
        .await
        .context("tools/list failed")?;
    // Ending the session stops a child server.
    let _ = client.cancel().await;
    Ok(tools)
}

fn judge(policy: &Policy, server: &str, tool: &Tool) -> ToolReport {
    let args = typical_arguments(&tool.input_schema);
    let annotations = tool
        .annotations
        .as_ref()
        .and_then(|a| serde_json::to_value(a).ok())
        .map(|v| ToolAnnotations::from_json(&v))
        .unwrap_or_default();
    let mut call = ToolCall::new(&tool.name, &args)
        .with_server(server)
        .with_annotations(annotations);
    if let Some(description) = &tool.description {
        call = call.with_description(description);
    }
    let verdict = policy.evaluate(&call);
    ToolReport {
        tool: tool.name.to_string(),
        unsure: !Policy::understands_name(&tool.name),
        verdict,
    }
}

/// Arguments a call of the tool would typically carry, from its input
/// schema: harmless values of each property's type, named after what the
/// property holds (a path under the working directory, an example URL).
fn typical_arguments(schema: &Map<String, Value>) -> Value {
    let mut args = Map::new();
    let Some(Value::Object(props)) = schema.get("properties") else {
        return Value::Object(args);
    };
    for (name, prop) in props {
        args.insert(name.clone(), typical_value(name, prop));
    }
    Value::Object(args)
}

fn typical_value(name: &str, prop: &Value) -> Value {
    let lower = name.to_ascii_lowercase();
    let kind = prop.get("type").and_then(Value::as_str).unwrap_or("string");
    if let Some(Value::Array(options)) = prop.get("enum")
        && let Some(first) = options.first()
    {
        return first.clone();
    }
    match kind {
        "integer" | "number" => Value::from(1),
        "boolean" => Value::Bool(false),
        "array" => Value::Array(Vec::new()),
        "object" => Value::Object(Map::new()),
        _ if lower.contains("url") || lower.contains("uri") => Value::from("https://example.com/"),
        _ if lower.contains("path") || lower.contains("file") || lower.contains("dir") => {
            Value::from("notes/example.txt")
        }
        _ => Value::from("example"),
    }
}

/// The report as text: one line per tool, riskiest first.
pub fn render(server: &str, reports: &[ToolReport]) -> String {
    let mut sorted: Vec<&ToolReport> = reports.iter().collect();
    sorted.sort_by(|a, b| {
        b.verdict
            .risk
            .cmp(&a.verdict.risk)
            .then(a.tool.cmp(&b.tool))
    });
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{server}: {} tools ({} the policy cannot judge by name, marked ?)",
        reports.len(),
        reports.iter().filter(|r| r.unsure).count()
    );
    for r in sorted {
        let _ = writeln!(
            out,
            "{} {:<8} {:<16} {}  {}",
            if r.unsure { '?' } else { ' ' },
            r.verdict.risk.to_string(),
            r.verdict.action.kind().as_str(),
            r.tool,
            r.verdict.reasons.first().map(|r| r.as_str()).unwrap_or("")
        );
    }
    out
}

/// A starting policy file: one rule per tool at the level the scan found,
/// as a floor (the arguments of each call can still raise it).
pub fn policy_file(server: &str, reports: &[ToolReport]) -> String {
    let quote = |s: &str| Value::from(s).to_string();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Starting policy for the MCP server {}, written by `hitl-mcp scan`.\n\
         # One rule per tool at the level the built-in analysis gave it with\n\
         # typical arguments. A rule's risk is a floor: a call whose arguments\n\
         # show more (a secret path, a destructive command) is still raised.\n\
         # Edit the levels, add `action`, `approvers` or `override = true`,\n\
         # then run: hitl-mcp serve --config THIS_FILE -- ...\n",
        quote(server)
    );
    for r in reports {
        if r.unsure {
            let _ = writeln!(
                out,
                "# The policy cannot tell what this tool does from its name: check it."
            );
        }
        let _ = writeln!(out, "[[rule]]");
        let _ = writeln!(out, "name = {}", quote(&format!("{server}/{}", r.tool)));
        let _ = writeln!(out, "server = {}", quote(server));
        let _ = writeln!(out, "tool = {}", quote(&r.tool));
        let _ = writeln!(out, "risk = {}", quote(&r.verdict.risk.to_string()));
        if let Some(reason) = r.verdict.reasons.first() {
            let _ = writeln!(out, "reasons = [{}]", quote(reason));
        }
        out.push('\n');
    }
    out
}

/// Writes the policy file, refusing to replace one unless `force`.
pub fn write_policy(
    opts: &ScanOptions,
    server: &str,
    reports: &[ToolReport],
) -> anyhow::Result<()> {
    let Some(path) = &opts.output else {
        return Ok(());
    };
    if path.exists() && !opts.force {
        bail!(
            "{} already exists; pass --force to replace it",
            path.display()
        );
    }
    let text = policy_file(server, reports);
    // What we write must load.
    Policy::from_toml_with_sections(
        &text,
        &path.display().to_string(),
        crate::commands::PROXY_SECTIONS,
    )
    .context("the generated policy does not load")?;
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
