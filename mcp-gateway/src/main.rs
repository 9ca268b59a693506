//! `hitl-mcp`: parses the command line and runs one subcommand from
//! [`hitl_mcp::commands`]. Settings come from flags, with environment
//! variables as fallbacks (read here by clap, nowhere else).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use hitl_mcp::commands::{
    self, CheckOptions, Client, EvaluateOptions, GenerateOptions, ServeOptions,
};
use secrecy::SecretString;

/// Holds risky MCP tool calls until a person approves them in Slack or Teams.
#[derive(Debug, Parser)]
#[command(name = "hitl-mcp", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway in front of an MCP server (stdio unless --listen).
    Serve(ServeArgs),
    /// Print the policy's verdict on one tool call as one JSON object.
    Evaluate(EvaluateArgs),
    /// Print (or add to a file) an MCP client config that runs the gateway.
    GenerateConfig(GenerateArgs),
    /// Write a commented default policy file that documents every option.
    InitConfig(InitArgs),
    /// Print an approval request's record; exit 0 if approved, 1 if not
    /// (yet), 2 on error.
    CheckApproval(CheckArgs),
    /// Start an MCP server, read its tools, and print the verdict the
    /// policy would give each; --output writes a starting policy file.
    Scan(ScanArgs),
}

#[derive(Debug, Args)]
struct ScanArgs {
    /// Policy file (TOML) to judge with; without one the built-in policy.
    #[arg(long, env = "HITL_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Write a starting policy file with one rule per tool.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Replace the --output file if it exists.
    #[arg(long)]
    force: bool,
    /// Print one JSON object per tool instead of a table.
    #[arg(long)]
    json: bool,
    /// The server's name in the rules (derived from the command or URL).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// A Streamable HTTP MCP server to scan instead of a command.
    #[arg(long, value_name = "URL")]
    upstream_url: Option<String>,
    /// hitl's data folder, treated as secret.
    #[arg(long, env = "HITL_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The MCP server's command and arguments, after --.
    #[arg(last = true, value_name = "UPSTREAM_COMMAND")]
    upstream_command: Vec<String>,
}

/// Where the approval service is. `--lambda-url` and LAMBDA_FUNCTION_URL
/// are the seed's names for the same setting.
#[derive(Debug, Args)]
struct ApprovalUrlArgs {
    /// Base URL of the approval service (hitl-bot), e.g. http://127.0.0.1:8787.
    #[arg(
        long = "approval-url",
        visible_alias = "lambda-url",
        env = "HITL_APPROVAL_URL",
        value_name = "URL"
    )]
    approval_url: Option<String>,
    /// The approval service URL under the seed's environment name; used
    /// when neither --approval-url nor HITL_APPROVAL_URL is set.
    #[arg(long = "lambda-function-url", env = "LAMBDA_FUNCTION_URL", hide = true)]
    lambda_function_url: Option<String>,
}

impl ApprovalUrlArgs {
    fn get(&self) -> Option<String> {
        self.approval_url
            .clone()
            .or_else(|| self.lambda_function_url.clone())
            .filter(|u| !u.trim().is_empty())
    }

    fn require(&self) -> anyhow::Result<String> {
        self.get().ok_or_else(|| {
            anyhow::anyhow!(
                "the approval service URL is missing: pass --approval-url URL or set HITL_APPROVAL_URL"
            )
        })
    }
}

/// `generate-config --gateway-url`: the config of a client that connects to
/// a running gateway over HTTP.
fn generate_http_config(args: GenerateArgs) -> anyhow::Result<()> {
    let gateway_url = args.gateway_url.unwrap_or_default();
    if !args.upstream_command.is_empty() || args.config.is_some() || args.gateway_command.is_some()
    {
        anyhow::bail!(
            "with --gateway-url the client connects to a gateway that is already running: give the upstream command, --config and --gateway-command to `hitl-mcp serve --listen` instead"
        );
    }
    let local = commands::is_loopback_url(&gateway_url);
    let mut listen_token = args.listen_token;
    if listen_token.is_none() && local {
        let (token, path, made) = commands::local_listen_token()?;
        if made {
            eprintln!(
                "hitl-mcp: made a listen token in {}; `hitl-mcp serve --listen` on this machine now asks HTTP clients for it",
                path.display()
            );
        }
        listen_token = Some(token);
    }
    let opts = commands::HttpClientOptions {
        gateway_url,
        client: args.client.unwrap_or(Client::ClaudeCode),
        name: args.name,
        listen_token,
    };
    let config = commands::http_client_config(&opts)?;
    match &args.output {
        Some(path) => {
            commands::merge_into_file(path, &config)?;
            eprintln!(
                "hitl-mcp: added server {:?} to {}",
                opts.name,
                path.display()
            );
        }
        None => print(&serde_json::to_string_pretty(&config)?)?,
    }
    Ok(())
}

fn secret(s: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(s))
}

/// A listen token: an empty or blank one would turn HTTP auth off while
/// looking set, so it is refused.
fn listen_secret(s: &str) -> Result<SecretString, String> {
    if s.trim().is_empty() {
        return Err(LISTEN_TOKEN_BLANK.to_owned());
    }
    Ok(SecretString::from(s))
}

const LISTEN_TOKEN_BLANK: &str = "the listen token is empty or blank: give a real secret (e.g. `openssl rand -hex 32`), or unset HITL_LISTEN_TOKEN to serve loopback without one";

#[derive(Debug, Args)]
struct ServeArgs {
    /// Policy file (TOML); without one the built-in policy applies.
    #[arg(long, env = "HITL_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    approval_url: ApprovalUrlArgs,
    /// Bearer token for the approval service's API.
    #[arg(long, env = "HITL_TOKEN", hide_env_values = true, value_parser = secret)]
    token: Option<SecretString>,
    /// Speak MCP over Streamable HTTP on this address instead of stdio.
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// With --listen: the bearer token clients must present. Required when
    /// the address is not a loopback one.
    #[arg(long, env = "HITL_LISTEN_TOKEN", hide_env_values = true, value_parser = listen_secret)]
    listen_token: Option<SecretString>,
    /// With --listen: a Host header to accept besides localhost (repeatable),
    /// e.g. the name clients use to reach this machine.
    #[arg(long = "allowed-host", value_name = "HOST")]
    allowed_hosts: Vec<String>,
    /// Upstream MCP server over Streamable HTTP, instead of a command after --.
    #[arg(long, value_name = "URL")]
    upstream_url: Option<String>,
    /// Who approves when the policy names no approvers.
    #[arg(long, env = "DEFAULT_APPROVER", value_name = "WHO")]
    approver: Option<String>,
    /// Approval timeout in seconds where the policy sets none (default 300,
    /// and 900 for critical calls).
    #[arg(
        long,
        env = "APPROVAL_TIMEOUT",
        value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(1..=604_800)
    )]
    timeout: Option<u64>,
    /// Let low-risk calls run at once even where the policy asks for approval.
    #[arg(long)]
    auto_approve_low_risk: bool,
    /// The upstream server's name, for policy rules and approval cards
    /// [default: derived from the upstream command or URL].
    #[arg(long, env = "HITL_SERVER_NAME", value_name = "NAME")]
    name: Option<String>,
    /// Longest hold in seconds when the client sent no progress token; then
    /// the model gets a "pending approval" result [default: 45].
    #[arg(long, env = "HITL_HOLD_BUDGET", value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    hold_budget: Option<u64>,
    /// Longest hold in seconds when the client sent a progress token [default: 3600].
    #[arg(long, env = "HITL_HOLD_BUDGET_WITH_PROGRESS", value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    hold_budget_with_progress: Option<u64>,
    /// Who the approval requests are from, as approvers see it [default: mcp-agent].
    #[arg(long, env = "HITL_REQUESTER", value_name = "WHO")]
    requester: Option<String>,
    /// Log the gateway's own debug detail to stderr (never tool arguments
    /// or results: the MCP library's message traces stay off).
    #[arg(long)]
    debug: bool,
    /// hitl's data folder (its API token and database): calls that touch
    /// it are critical. The default folders on every OS always are.
    #[arg(long, env = "HITL_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The upstream MCP server's command and arguments, after --.
    #[arg(last = true, value_name = "UPSTREAM_COMMAND")]
    upstream_command: Vec<String>,
}

#[derive(Debug, Args)]
struct EvaluateArgs {
    /// The tool's name.
    #[arg(long, value_name = "NAME")]
    tool: String,
    /// The call's arguments, a JSON object.
    #[arg(long = "args", value_name = "JSON")]
    args: String,
    /// The upstream server's name, for rules that match on it.
    #[arg(long, value_name = "NAME")]
    server: Option<String>,
    /// Policy file (TOML); without one the built-in policy applies.
    #[arg(long, env = "HITL_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// The tool's MCP annotations, e.g. '{"readOnlyHint": true}'.
    #[arg(long, value_name = "JSON")]
    annotations: Option<String>,
    /// The tool's description from the server's `tools/list` (it can only
    /// raise the risk).
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
    /// hitl's data folder (its API token and database), treated as secret.
    #[arg(long, env = "HITL_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Evaluate as `serve --auto-approve-low-risk` would.
    #[arg(long)]
    auto_approve_low_risk: bool,
}

#[derive(Debug, Args)]
struct GenerateArgs {
    #[command(flatten)]
    approval_url: ApprovalUrlArgs,
    /// The MCP client whose config format to write [default: claude-desktop;
    /// claude-code with --gateway-url, since Claude Desktop's file takes
    /// only local servers].
    #[arg(long, value_enum)]
    client: Option<Client>,
    /// Add the server to this config file (created if missing) instead of
    /// printing the config.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The server's name in the client's config.
    #[arg(long, default_value = "hitl", value_name = "NAME")]
    name: String,
    /// Write this approval-service token into the config. Without it the
    /// config refers to HITL_TOKEN where the client can (Claude Code,
    /// Cursor) or prompts for it (VS Code); never read from the
    /// environment, so a secret is not copied into a file by accident.
    #[arg(long, value_parser = secret, value_name = "TOKEN")]
    token: Option<SecretString>,
    /// Policy file for the gateway to load (passed as serve --config).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Connect the client to a running `hitl-mcp serve --listen` at this
    /// MCP endpoint (e.g. http://127.0.0.1:8931/mcp) instead of having it
    /// start the gateway. The config carries the gateway's listen token:
    /// --listen-token, or for a gateway on this machine the one saved in
    /// the data folder (made now if missing; `serve --listen` then asks
    /// for it), or else a reference to HITL_LISTEN_TOKEN.
    #[arg(long, value_name = "URL")]
    gateway_url: Option<String>,
    /// The gateway's listen token to write into an HTTP client's config
    /// (with --gateway-url).
    #[arg(long, value_parser = listen_secret, value_name = "TOKEN", requires = "gateway_url")]
    listen_token: Option<SecretString>,
    /// How the client starts the gateway [default: this hitl-mcp's full
    /// path, since desktop clients do not search your shell's PATH].
    #[arg(long = "gateway-command", value_name = "PATH")]
    gateway_command: Option<String>,
    /// The upstream MCP server's command and arguments, after --.
    #[arg(last = true, value_name = "UPSTREAM_COMMAND")]
    upstream_command: Vec<String>,
}

#[derive(Debug, Args)]
struct InitArgs {
    /// Where to write the policy file.
    #[arg(long, value_name = "FILE")]
    output: PathBuf,
    /// Replace the file if it exists.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The approval request's id.
    #[arg(long, value_name = "ID")]
    request_id: String,
    #[command(flatten)]
    approval_url: ApprovalUrlArgs,
    /// Bearer token for the approval service's API.
    #[arg(long, env = "HITL_TOKEN", hide_env_values = true, value_parser = secret)]
    token: Option<SecretString>,
    /// Wait up to this many seconds for a decision before answering.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(0..=3600))]
    wait: Option<u64>,
}

/// Logs go to stderr: on stdio, stdout carries the MCP protocol.
fn init_logging(debug: bool) {
    // --debug is the gateway's own detail only: the MCP library logs whole
    // messages (tool arguments and results) at debug level, so it stays at
    // warn whatever RUST_LOG says.
    let filter = if debug {
        tracing_subscriber::EnvFilter::new("warn,hitl_mcp=debug,hitl_wire=debug")
    } else {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"))
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| RedactingStderr)
        .with_ansi(false)
        .try_init();
}

/// Stderr, with every URL in a log line stripped of userinfo and query
/// string: libraries log the URLs they fail on, and those carry secrets.
/// Each event is formatted whole and handed over in one write.
struct RedactingStderr;

impl Write for RedactingStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let clean = hitl_mcp::proxy::upstream::redact_urls(&text);
        std::io::stderr().lock().write_all(clean.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Exit code for errors (bad input, unreachable service...).
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let name = match &cli.command {
        Command::Serve(_) => "serve",
        Command::Evaluate(_) => "evaluate",
        Command::GenerateConfig(_) => "generate-config",
        Command::InitConfig(_) => "init-config",
        Command::CheckApproval(_) => "check-approval",
        Command::Scan(_) => "scan",
    };
    match run(cli.command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("hitl-mcp {name}: {err:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(())
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => {
            let opts = ServeOptions {
                name: args.name,
                hold_budget_secs: args.hold_budget,
                hold_budget_with_progress_secs: args.hold_budget_with_progress,
                requester: args.requester,
                approval_url: args.approval_url.get(),
                config: args.config,
                token: args.token,
                listen: args.listen,
                listen_token: args.listen_token,
                allowed_hosts: args.allowed_hosts,
                upstream_url: args.upstream_url,
                approver: args.approver,
                timeout_secs: args.timeout,
                auto_approve_low_risk: args.auto_approve_low_risk,
                debug: args.debug,
                upstream_command: args.upstream_command,
                data_dir: args.data_dir,
            };
            init_logging(opts.debug);
            // One thread: a proxy mostly waits on I/O, and keeping its tasks on
            // one thread saves cross-thread wake-ups on every hop.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(commands::serve(&opts))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Scan(args) => {
            let opts = hitl_mcp::scan::ScanOptions {
                config: args.config,
                output: args.output,
                force: args.force,
                upstream_url: args.upstream_url,
                name: args.name,
                data_dir: args.data_dir,
                upstream_command: args.upstream_command,
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            let (server, reports) = runtime.block_on(hitl_mcp::scan::scan(&opts))?;
            hitl_mcp::scan::write_policy(&opts, &server, &reports)?;
            if args.json {
                for r in &reports {
                    print(&serde_json::to_string(r).context("serializing a report")?)?;
                }
            } else {
                print(hitl_mcp::scan::render(&server, &reports).trim_end())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Evaluate(args) => {
            let line = commands::evaluate(&EvaluateOptions {
                tool: args.tool,
                args: args.args,
                server: args.server,
                config: args.config,
                annotations: args.annotations,
                description: args.description,
                data_dir: args.data_dir,
                auto_approve_low_risk: args.auto_approve_low_risk,
            })?;
            print(&line)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::GenerateConfig(args) if args.gateway_url.is_some() => {
            generate_http_config(args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::GenerateConfig(args) => {
            let opts = GenerateOptions {
                approval_url: args.approval_url.require()?,
                client: args.client.unwrap_or(Client::ClaudeDesktop),
                name: args.name,
                token: args.token,
                config: args.config.map(absolute),
                gateway_command: args.gateway_command.unwrap_or_else(|| {
                    std::env::current_exe()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|_| "hitl-mcp".to_owned())
                }),
                upstream: args.upstream_command,
            };
            let config = commands::client_config(&opts);
            match &args.output {
                Some(path) => {
                    commands::merge_into_file(path, &config)?;
                    eprintln!(
                        "hitl-mcp: added server {:?} to {}",
                        opts.name,
                        path.display()
                    );
                }
                None => print(&serde_json::to_string_pretty(&config)?)?,
            }
            if opts.token.is_none() && opts.client == Client::ClaudeDesktop {
                eprintln!(
                    "hitl-mcp: Claude Desktop cannot read environment variables from its config: replace {} with your token, or pass --token",
                    commands::TOKEN_PLACEHOLDER
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::InitConfig(args) => {
            commands::init_config(&args.output, args.force)?;
            eprintln!("hitl-mcp: wrote {}", args.output.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckApproval(args) => {
            let opts = CheckOptions {
                request_id: args.request_id,
                approval_url: args.approval_url.require()?,
                token: args.token,
                wait_secs: args.wait,
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let outcome = runtime.block_on(commands::check_approval(&opts))?;
            print(&outcome.record.to_string())?;
            Ok(if outcome.approved {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// A path as the client will see it: clients start the gateway from a
/// directory of their own choosing.
fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}
