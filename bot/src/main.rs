//! `hitl-bot`: parses the command line, then runs the service or a terminal
//! approver command against a running service.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use hitl_bot::api::auth::Tokens;
use hitl_bot::clock::Clock;
use hitl_bot::config::{LogFormat, ServeArgs, default_data_dir};
use hitl_bot::notify::Notifier;
use hitl_bot::slack::socket_mode::SocketMode;
use hitl_bot::slack::{Slack, SlackConfig};
use hitl_bot::store::sqlite::SqliteStore;
use hitl_bot::{Running, token};
use hitl_cards::Templates;
use hitl_client::{ApiClient, ClientError};
use hitl_wire::api::DecisionAction;
use hitl_wire::{ApprovalRecord, Status};
use secrecy::SecretString;

#[derive(Debug, Parser)]
#[command(
    name = "hitl-bot",
    version,
    about = "Human approval for AI agents' risky tool calls: the approval service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the approval service (HTTP API v1; SQLite, or DynamoDB with TABLE_NAME and STATE_MACHINE_ARN)
    Serve(Box<ServeArgs>),
    /// List requests waiting for a decision
    Pending {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Approve a request
    Approve {
        /// The request id
        id: String,
        /// Why (shown to the agent and in the audit trail)
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Reject a request; the reason goes back to the agent
    Reject {
        /// The request id
        id: String,
        /// Why: the agent reads this and adapts
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// The audit trail
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Credentials with roles: make, list and revoke them
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Make a credential; the token is printed once, alone on the last line
    Create {
        /// An approver credential for this person (`alice`, `email:alice@example.com`, `slack:U0123ABC`)
        #[arg(
            long,
            conflicts_with = "requester",
            required_unless_present = "requester"
        )]
        approver: Option<String>,
        /// A requester credential that creates requests as this name
        #[arg(long)]
        requester: Option<String>,
        #[command(flatten)]
        store: Box<ServeArgs>,
    },
    /// List credentials (never their tokens)
    List {
        #[command(flatten)]
        store: Box<ServeArgs>,
    },
    /// Revoke a credential by id; a running service refuses it at once
    Revoke {
        /// The id `token list` shows
        id: String,
        #[command(flatten)]
        store: Box<ServeArgs>,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Write every recorded state change, oldest first
    Export {
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Jsonl)]
        format: Format,
        /// Only this request's history
        #[arg(long)]
        request_id: Option<String>,
        /// Write to this file instead of standard output
        #[arg(long, short)]
        output: Option<PathBuf>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Jsonl,
    Csv,
}

/// How the terminal commands reach the service.
#[derive(Debug, Clone, clap::Args)]
struct ClientArgs {
    /// Base URL of the approval service
    #[arg(
        long,
        env = "HITL_APPROVAL_URL",
        default_value = hitl_client::local::DEFAULT_URL
    )]
    url: String,
    /// Bearer token; defaults to the approver credential the local service
    /// saved in DATA_DIR/approver-token
    #[arg(long, env = "HITL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Folder where the local service keeps its token
    #[arg(long, env = "HITL_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Who is deciding; must be the person the credential names (it decides who is recorded)
    #[arg(long = "as", env = "HITL_APPROVER")]
    approver: Option<String>,
}

fn main() -> ExitCode {
    let cli = match lambda_bootstrap_args() {
        Ok(Some(args)) => Cli::parse_from(args),
        Ok(None) => Cli::parse(),
        Err(e) => {
            eprintln!("hitl-bot: {e}");
            return ExitCode::FAILURE;
        }
    };
    hitl_bot::install_tls_provider();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hitl-bot: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hitl-bot: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve(*args).await.map(|()| ExitCode::SUCCESS),
        Command::Pending { client } => pending(client).await,
        Command::Approve { id, reason, client } => {
            decide(client, &id, DecisionAction::Approve, reason).await
        }
        Command::Reject { id, reason, client } => {
            decide(client, &id, DecisionAction::Reject, Some(reason)).await
        }
        Command::Audit {
            command:
                AuditCommand::Export {
                    format,
                    request_id,
                    output,
                    client,
                },
        } => export(client, format, request_id, output).await,
        Command::Token { command } => token_command(command).await,
    }
}

/// Opens the store `serve` would use with these settings.
async fn open_store(
    cfg: &hitl_bot::config::ServeConfig,
) -> anyhow::Result<Arc<dyn hitl_bot::store::Store>> {
    Ok(match &cfg.aws {
        Some(aws) => Arc::new(
            hitl_bot::store::dynamo::DynamoStore::from_env(&aws.table_name, cfg.settings.retention)
                .await,
        ),
        None => Arc::new(SqliteStore::open(&cfg.db).map_err(|e| anyhow::anyhow!("{e}"))?),
    })
}

async fn token_command(command: TokenCommand) -> anyhow::Result<ExitCode> {
    use hitl_bot::credentials::{self, Role};
    let store_args = match &command {
        TokenCommand::Create { store, .. }
        | TokenCommand::List { store }
        | TokenCommand::Revoke { store, .. } => (**store).clone(),
    };
    let cfg = store_args.resolve()?;
    let store = open_store(&cfg).await?;
    let mut out = std::io::stdout().lock();
    match command {
        TokenCommand::Create {
            approver,
            requester,
            ..
        } => {
            let (role, who) = match (approver, requester) {
                (Some(a), _) => (Role::Approver, Some(a)),
                (None, r) => (Role::Requester, r),
            };
            let (token, cred) = credentials::issue(role, who.as_deref(), chrono::Utc::now())?;
            let c = cred.credential.clone();
            store
                .put_credential(cred)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            writeln!(
                out,
                "made {} credential {} for {}; keep this token secret, it is shown only once:",
                c.role.as_str(),
                c.id,
                c.who.as_deref().unwrap_or("any requester name")
            )?;
            writeln!(out, "{token}")?;
        }
        TokenCommand::List { .. } => {
            let all = store
                .credentials()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            writeln!(out, "{:<18} {:<10} {:<32} CREATED", "ID", "ROLE", "WHO")?;
            for c in all {
                writeln!(
                    out,
                    "{:<18} {:<10} {:<32} {}",
                    c.id,
                    c.role.as_str(),
                    c.who.as_deref().unwrap_or("-"),
                    c.created_at.format("%Y-%m-%dT%H:%M:%SZ")
                )?;
            }
        }
        TokenCommand::Revoke { id, .. } => {
            let gone = store
                .revoke_credential(&id)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if !gone {
                eprintln!(
                    "hitl-bot: no credential with id {id:?}; `hitl-bot token list` shows them"
                );
                return Ok(ExitCode::FAILURE);
            }
            writeln!(out, "revoked {id}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The local OS user, for the approver credential of the local service.
fn local_user() -> String {
    // Read here, in main, where environment access belongs.
    #[allow(clippy::disallowed_methods)]
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "local".to_owned());
    user
}

/// On Lambda (the runtime sets AWS_LAMBDA_RUNTIME_API), the cap on
/// long-polls in seconds: HITL_LAMBDA_MAX_WAIT_SECS, default
/// [`LAMBDA_MAX_WAIT_SECS`]. `None` elsewhere.
// The Lambda runtime's own variables, read once at start.
#[allow(clippy::disallowed_methods)]
fn lambda_host() -> anyhow::Result<Option<u64>> {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        return Ok(None);
    }
    match std::env::var("HITL_LAMBDA_MAX_WAIT_SECS") {
        Err(_) => Ok(Some(LAMBDA_MAX_WAIT_SECS)),
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(n) if n >= 1 => Ok(Some(n)),
            _ => anyhow::bail!(
                "HITL_LAMBDA_MAX_WAIT_SECS must be a whole number of seconds, at least 1 (got {v:?})"
            ),
        },
    }
}

/// The container image's entry: the Lambda base image runs the binary as
/// /var/runtime/bootstrap with no arguments and passes the image command
/// (terraform/lambda.tf sets one per function) as `_HANDLER`. `api` and
/// `tasks` are both `serve`, which answers function URL events and workflow
/// tasks alike. `None` when arguments were given or this is not Lambda.
// The Lambda runtime's own variables, read once at start.
#[allow(clippy::disallowed_methods)]
fn lambda_bootstrap_args() -> Result<Option<[&'static str; 2]>, String> {
    if std::env::args_os().len() > 1 || std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        return Ok(None);
    }
    match std::env::var("_HANDLER").unwrap_or_default().trim() {
        "" | "api" | "tasks" | "router" | "drain" => Ok(Some(["hitl-bot", "serve"])),
        other => Err(format!(
            "the Lambda handler {other:?} (the image command) is not an entry point of this binary; use api, tasks, router or drain"
        )),
    }
}

/// The image command this Lambda function was given (`_HANDLER`); the
/// outbox router starts without the service (see [`serve`]).
// The Lambda runtime's own variables, read once at start.
#[allow(clippy::disallowed_methods)]
fn lambda_handler() -> String {
    std::env::var("_HANDLER")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// OUTBOX_QUEUE_URLS: one SQS FIFO queue per outbox channel (terraform
/// sets it), drained on Lambda by the stream router and the queue drain.
// Read here, in main, where environment access belongs.
#[allow(clippy::disallowed_methods)]
fn outbox_queues() -> anyhow::Result<Option<hitl_bot::lambda::router::OutboxQueues>> {
    match std::env::var("OUTBOX_QUEUE_URLS") {
        Ok(v) if !v.trim().is_empty() => Ok(Some(
            hitl_bot::lambda::router::OutboxQueues::parse(&v).map_err(anyhow::Error::msg)?,
        )),
        _ => Ok(None),
    }
}

/// HITL_SECRET_ARN: the Secrets Manager secret holding the credentials
/// (terraform/secrets.tf), read before the settings are resolved.
// Read here, in main, where environment access belongs.
#[allow(clippy::disallowed_methods)]
fn secret_arn() -> Option<String> {
    std::env::var("HITL_SECRET_ARN")
        .ok()
        .filter(|a| !a.trim().is_empty())
}

/// Default long-poll cap on Lambda: well under the function's timeout.
const LAMBDA_MAX_WAIT_SECS: u64 = 20;

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn serve(mut args: ServeArgs) -> anyhow::Result<()> {
    let queues = outbox_queues()?;
    if lambda_host()?.is_some() && lambda_handler() == "router" {
        // Stream records in, queue messages out: no store, no credentials.
        init_logging(LogFormat::Json);
        let queues = queues.context(
            "the outbox router needs OUTBOX_QUEUE_URLS (a JSON object of channel to SQS queue URL)",
        )?;
        let sqs = aws_sdk_sqs::Client::new(&hitl_bot::store::dynamo::sdk_config().await);
        tracing::info!("serving outbox stream records");
        return hitl_bot::lambda::run_router(hitl_bot::lambda::router::OutboxRouter::new(
            sqs, queues,
        ))
        .await
        .map_err(|e| anyhow::anyhow!("the Lambda runtime loop failed: {e}"));
    }
    // API tokens read from the secret follow it as it rotates; a token
    // given in the environment is fixed.
    let mut token_source = None;
    if let Some(arn) = secret_arn() {
        let from_secret = args.token.is_none() && args.token_previous.is_none();
        hitl_bot::lambda::secrets::fill_from_secret(&mut args, &arn).await?;
        if from_secret && args.token.is_some() {
            let sm =
                aws_sdk_secretsmanager::Client::new(&hitl_bot::store::dynamo::sdk_config().await);
            token_source = Some(
                Arc::new(hitl_bot::lambda::secrets::SecretTokens::new(sm, &arn))
                    as Arc<dyn hitl_bot::api::auth::TokenSource>,
            );
        }
    }
    let mut cfg = args.resolve()?;
    let lambda = lambda_host()?;
    if let Some(cap) = lambda {
        // A held call costs function time: long-polls end at the cap and
        // the gateway polls again (a longer ask is still valid, so gateways
        // need not know the cap).
        cfg.settings.hold_cap_secs = Some(cap);
        // Nothing runs between invocations: the queues drain the outbox.
        if queues.is_some() {
            cfg.settings.outbox.drain_in_process = false;
        }
    }
    init_logging(if lambda.is_some() {
        LogFormat::Json
    } else {
        cfg.log_format
    });
    let token = match cfg.token.clone() {
        Some(t) => t,
        None if lambda.is_some() => anyhow::bail!(
            "HITL_TOKEN is not set: on Lambda the API token comes from the environment or from the secret HITL_SECRET_ARN names (terraform sets it)"
        ),
        None => {
            let (t, created) = token::load_or_create(&cfg.data_dir)?;
            let path = token::token_path(&cfg.data_dir);
            token::make_private(&path)?;
            if created {
                tracing::info!(path = %path.display(), "generated an API token (HITL_TOKEN was not set); clients on this machine read it from there");
            } else {
                tracing::info!(path = %path.display(), "using the saved API token");
            }
            t
        }
    };
    let templates = Templates::load(cfg.cards_dir.as_deref()).context("card templates")?;
    if let Some(dir) = &cfg.cards_dir {
        tracing::info!(dir = %dir.display(), "card template overrides loaded");
    }
    let slack = match &cfg.slack {
        Some(c) => Some(start_slack_adapter(c, templates.clone())?),
        None => None,
    };
    let teams = match &cfg.teams {
        Some(t) => Some(start_teams_adapter(t, templates)?),
        None => None,
    };
    let store = open_store(&cfg).await?;
    match &cfg.aws {
        Some(aws) => {
            tracing::info!(table = %aws.table_name, "DynamoDB store");
        }
        None => {
            tracing::info!(db = %cfg.db.display(), "store opened");
            // One person on one machine decides with no extra step.
            let who = local_user();
            let path = hitl_client::local::approver_token_path(&cfg.data_dir);
            if token::ensure_local_approver(store.as_ref(), &cfg.data_dir, &who).await? {
                tracing::info!(path = %path.display(), approver = %who, "made an approver credential for the local user; `hitl-bot approve|reject|pending` use it");
            }
        }
    }
    let mut notifiers: Vec<Arc<dyn Notifier>> = slack
        .iter()
        .map(|s| s.clone() as Arc<dyn Notifier>)
        .collect();
    notifiers.extend(teams.iter().map(|t| t.clone() as Arc<dyn Notifier>));
    if let Some(topic) = &cfg.sns_topic_arn {
        tracing::info!(topic = %topic, "SNS notices are on");
        notifiers.push(Arc::new(
            hitl_bot::notify::sns::SnsNotifier::from_env(topic).await,
        ));
    }
    // On AWS, one Step Functions execution per request waits for its
    // decision and wakes at its timers; its tasks run on the Lambda function
    // the state machine names (the same image). The sweep of due timers on
    // leases kept in the table stays on as the backstop.
    let sfn = match &cfg.aws {
        Some(aws) => {
            tracing::info!(state_machine = %aws.state_machine_arn, "Step Functions workflow");
            Some(
                hitl_bot::workflow::step_functions::StepFunctionsWorkflow::from_env(
                    &aws.state_machine_arn,
                    store.clone(),
                    Clock::System,
                )
                .await,
            )
        }
        None => None,
    };
    let workflow = sfn
        .clone()
        .map(|w| Arc::new(w) as Arc<dyn hitl_bot::workflow::Workflow>);
    let retention = cfg.settings.retention;
    let outbox_notifiers = notifiers.clone();
    let running =
        Running::start_on(store, cfg.settings, Clock::System, notifiers, workflow).await?;
    if let Some(s) = slack.clone() {
        let approvers = running.service.settings().default_approvers.clone();
        tokio::spawn(async move { s.announce_deciders(&approvers).await });
    }
    let router = hitl_bot::app_with_chat(
        running.service.clone(),
        match token_source {
            Some(source) => Tokens::new(token, cfg.token_previous).with_source(source),
            None => Tokens::new(token, cfg.token_previous),
        },
        slack.clone(),
        teams,
    );
    if lambda.is_some() {
        tracing::info!(
            hold_cap_secs = running.service.settings().hold_cap_secs,
            "serving Lambda invocations"
        );
        let tasks = sfn.map(|w| hitl_bot::workflow::tasks::Tasks::new(running.service.clone(), w));
        let outbox = match (queues, &cfg.aws) {
            (Some(queues), Some(aws)) => {
                let sqs = aws_sdk_sqs::Client::new(&hitl_bot::store::dynamo::sdk_config().await);
                hitl_bot::lambda::Outbox {
                    router: Some(hitl_bot::lambda::router::OutboxRouter::new(
                        sqs.clone(),
                        queues.clone(),
                    )),
                    drain: Some(Arc::new(hitl_bot::lambda::drain::QueueDrain {
                        store: hitl_bot::store::dynamo::DynamoStore::from_env(
                            &aws.table_name,
                            retention,
                        )
                        .await,
                        sqs,
                        queues,
                        notifiers: outbox_notifiers,
                        service: running.service.clone(),
                        clock: Clock::System,
                    })),
                }
            }
            _ => hitl_bot::lambda::Outbox::default(),
        };
        let served = Box::pin(hitl_bot::lambda::run(router, tasks, outbox)).await;
        running.stop().await;
        return served.map_err(|e| anyhow::anyhow!("the Lambda runtime loop failed: {e}"));
    }
    let socket_mode = match (&slack, &cfg.slack) {
        (
            Some(adapter),
            Some(SlackConfig {
                app_token: Some(app_token),
                api_url,
                ..
            }),
        ) => Some(
            SocketMode::start(adapter.clone(), api_url, app_token, 2)
                .await
                .context("cannot start Slack Socket Mode")?,
        ),
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    tracing::info!(listen = %listener.local_addr()?, "hitl-bot serving");
    let stop = running.shutdown_token();
    let shutdown = async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        // End long-polls at once so graceful shutdown does not wait on them.
        stop.cancel();
    };
    hitl_bot::serve(listener, router, shutdown)
        .await
        .context("server failed")?;
    if let Some(s) = socket_mode {
        s.shutdown().await;
    }
    running.stop().await;
    Ok(())
}

/// The Teams adapter, with a word in the log about what it will do. Nothing
/// here calls Microsoft: keys and tokens are fetched when first needed.
fn start_teams_adapter(
    t: &hitl_bot::teams::TeamsSettings,
    templates: Templates,
) -> anyhow::Result<Arc<hitl_bot::teams::Teams>> {
    let adapter =
        hitl_bot::teams::Teams::new(t, templates, Clock::System).map_err(anyhow::Error::msg)?;
    tracing::info!(
        app_id = %t.app_id,
        tenant = t.tenant_id.as_deref().unwrap_or(""),
        service_url = t.service_url.as_deref().unwrap_or(""),
        conversation = t.conversation_id.as_deref().unwrap_or(""),
        webhook = adapter.has_webhook(),
        "Teams is on"
    );
    if t.app_password.is_none() {
        tracing::warn!(
            "TEAMS_APP_PASSWORD is not set: clicks and commands are received, but no card can be posted to Teams"
        );
    }
    if t.conversation_id.is_none() {
        tracing::warn!(
            "TEAMS_CONVERSATION_ID is not set: cards go to the first conversation the bot is added to"
        );
    }
    Ok(adapter)
}

/// The Slack adapter, with a word in the log about what it will do.
fn start_slack_adapter(c: &SlackConfig, templates: Templates) -> anyhow::Result<Arc<Slack>> {
    let adapter = Slack::new(c.clone(), templates).context("Slack")?;
    tracing::info!(
        api_url = %hitl_client::api::without_secrets(&c.api_url),
        channel = c.channel.as_deref().unwrap_or(""),
        http_endpoints = adapter.has_http_endpoints(),
        socket_mode = c.app_token.is_some(),
        "Slack is on"
    );
    if c.channel.is_none() {
        tracing::warn!(
            "SLACK_CHANNEL is not set: only requests that name a channel are posted to Slack"
        );
    }
    if !adapter.has_http_endpoints() && c.app_token.is_none() {
        tracing::warn!(
            "neither SLACK_SIGNING_SECRET nor SLACK_APP_TOKEN is set: cards are posted, but clicks, replies and /approvals cannot reach the bot"
        );
    }
    Ok(adapter)
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// A client with `--token`, else the local approver credential.
fn client(args: &ClientArgs) -> anyhow::Result<ApiClient> {
    let token = match &args.token {
        Some(t) => SecretString::from(t.clone()),
        None => {
            let dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
            let path = hitl_client::local::approver_token_path(&dir);
            hitl_client::local::read_token(&path)?
                .map(hitl_client::Token::into_secret)
                .with_context(|| {
                    format!(
                        "no approver credential: start `hitl-bot serve` once so it saves one in {}, or pass --token from `hitl-bot token create --approver WHO`",
                        path.display()
                    )
                })?
        }
    };
    Ok(ApiClient::new(&args.url, Some(token))?)
}

async fn pending(args: ClientArgs) -> anyhow::Result<ExitCode> {
    let listing = client(&args)?
        .list(Some("pending"), 1000)
        .await
        .map_err(hint)?;
    // One record this terminal cannot read never hides the others.
    for u in &listing.unreadable {
        eprintln!(
            "hitl-bot: request {} could not be read ({}); see it with GET /v1/approvals/ID or cancel it",
            u.request_id.as_deref().unwrap_or("(unknown id)"),
            u.error
        );
    }
    let (records, unreadable) = (listing.approvals, listing.unreadable.len());
    let now = chrono::Utc::now();
    let mut out = std::io::stdout().lock();
    if records.is_empty() {
        if unreadable == 0 {
            writeln!(out, "no pending requests")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:<12} {:<8} {:<28} {:<16} {:<16} EXPIRES IN",
        "ID", "RISK", "TOOL", "SERVER", "REQUESTER"
    )?;
    for r in &records {
        let left = (r.expires_at - now).num_seconds().max(0);
        writeln!(
            out,
            "{:<12} {:<8} {:<28} {:<16} {:<16} {}m{:02}s{}",
            r.request_id,
            r.risk,
            r.tool,
            r.server.as_deref().unwrap_or("-"),
            r.requester,
            left / 60,
            left % 60,
            if r.quorum > 1 {
                format!("  ({}/{} approvals)", r.approvals.len(), r.quorum)
            } else {
                String::new()
            },
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn decide(
    args: ClientArgs,
    id: &str,
    action: DecisionAction,
    reason: Option<String>,
) -> anyhow::Result<ExitCode> {
    match client(&args)?
        .decide(id, action, args.approver.as_deref(), reason)
        .await
    {
        Ok(r) => {
            let who = r
                .approvals
                .last()
                .map(|v| v.approver.clone())
                .or_else(|| r.approver.clone())
                .unwrap_or_default();
            let mut out = std::io::stdout().lock();
            match r.status {
                Status::Pending => writeln!(
                    out,
                    "recorded {who}'s approval of {}: {} of {} approvals",
                    r.request_id,
                    r.approvals.len(),
                    r.quorum
                )?,
                st => writeln!(out, "{} {st} by {who}: {}", r.request_id, describe(&r))?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(ClientError::Api { message, .. }) => {
            eprintln!("hitl-bot: {id}: {message}");
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(hint(e)),
    }
}

/// A client error, with what to do when the service is not there.
fn hint(e: ClientError) -> anyhow::Error {
    match e {
        ClientError::Unreachable { .. } => {
            anyhow::anyhow!("{e}; is `hitl-bot serve` running?")
        }
        other => other.into(),
    }
}

fn describe(r: &ApprovalRecord) -> String {
    match &r.server {
        Some(s) => format!("{} on {s}", r.tool),
        None => r.tool.clone(),
    }
}

async fn export(
    args: ClientArgs,
    format: Format,
    request_id: Option<String>,
    output: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let api = client(&args)?;
    let mut out: Box<dyn Write> = match &output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    if let Format::Csv = format {
        writeln!(out, "{}", hitl_bot::audit_csv::HEADER)?;
    }
    let mut cursor: Option<String> = None;
    loop {
        let page = api
            .audit_from(request_id.as_deref(), cursor.as_deref(), 1000)
            .await
            .map_err(hint)?;
        for e in &page.events {
            match format {
                Format::Jsonl => writeln!(out, "{}", serde_json::to_string(e)?)?,
                Format::Csv => writeln!(out, "{}", hitl_bot::audit_csv::row(e))?,
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
