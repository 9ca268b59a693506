//! The built-in risk analysis: what a call is, judged from the tool's name,
//! its arguments and its annotations, before any rule of the policy file.
//!
//! - The tool name gives a first guess: read verbs (`list`, `get`, `read`,
//!   `search`...) are low, file writes, deletions, network and shell verbs
//!   are high, anything else is medium.
//! - The arguments can only raise that guess: shell commands, SQL and paths
//!   are analysed (see [`super::shell`], [`super::sql`], [`super::paths`]).
//!   The one exception is a database tool whose SQL was understood: the
//!   statements, not the name, then say what the call does.
//! - Annotations are hints from a server we do not trust: `destructiveHint`
//!   raises the risk to high; `readOnlyHint` lowers only a medium guess
//!   that the name did not support either way, and never below what the
//!   arguments show.

use hitl_wire::Risk;
use serde_json::Value;

use std::sync::LazyLock;

use super::findings::Findings;
use super::markers::{Lazy, MarkerSet};
use super::paths::{self, PathClass};
use super::{ToolAnnotations, cli, code, shell, sql};

const READ_ONLY_OP: &str = "read-only operation";
const STANDARD_OP: &str = "standard operation";
const WRITES_FILES: &str = "writes files";
const DELETES: &str = "deletes data";
const MAKES_REQUESTS: &str = "makes network requests";
const RUNS_SHELL: &str = "runs shell commands";
const ANNOTATED_DESTRUCTIVE: &str = "the server marks the tool destructive (destructiveHint)";
const ANNOTATED_READ_ONLY: &str = "the server marks the tool read-only (readOnlyHint)";
const SECRET_PATH: &str = "touches a credentials or key file";
const SYSTEM_PATH: &str = "touches a system file or directory";
const TOO_DEEP: &str = "arguments nested too deeply to analyse";

/// Argument nesting followed before giving up (and rating the call high).
const MAX_ARG_DEPTH: u8 = 64;

// What each word of a tool name can mean, as bit flags: one word can mean
// several things (`query` reads and names a database).
const READ: u32 = 1;
const WRITE: u32 = 1 << 1;
const FILE_WRITE: u32 = 1 << 2;
const FILE_NOUN: u32 = 1 << 3;
const DELETE: u32 = 1 << 4;
const NETWORK: u32 = 1 << 5;
/// Sends or receives over the network unless a read verb comes first
/// (`send_message` sends; `get_push_status` reads).
const NETWORK_VERB: u32 = 1 << 6;
const SHELL: u32 = 1 << 7;
/// Runs commands unless a read verb comes first (`run_command` runs;
/// `get_workflow_run` reads).
const SHELL_VERB: u32 = 1 << 8;
const SQL: u32 = 1 << 9;
/// Runs program code (an interpreter, a notebook, a REPL).
const CODE: u32 = 1 << 10;
/// A known, moderate change: reversible or collaborative (`close`, `star`,
/// `restart`, `scale`).
const MODERATE: u32 = 1 << 11;
/// Changes access, credentials or running systems (`grant`, `rotate`,
/// `rollback`, `trigger`).
const PRIVILEGED: u32 = 1 << 12;
/// Merges, deploys, installs or moves money: hard to undo.
const HARD: u32 = 1 << 15;
/// Says nothing about what the tool does (a product name, a filler noun).
const NEUTRAL: u32 = 1 << 16;
/// `fetch`: a network request, unless it names what is read
/// (`fetch_container_logs`).
const FETCH: u32 = 1 << 17;
/// A stateful or shared resource, whose deletion is critical.
const STATEFUL: u32 = 1 << 13;
/// Something a tool can act on, for telling an unknown verb on a
/// resource (a person decides) from a harmless helper.
const RESOURCE: u32 = 1 << 14;

/// The meanings of one word of a tool name (compared without case).
fn word_flags(word: &str) -> u32 {
    let mut buf = [0u8; 24];
    if word.len() > buf.len() {
        return 0;
    }
    for (slot, b) in buf.iter_mut().zip(word.bytes()) {
        *slot = b.to_ascii_lowercase();
    }
    match &buf[..word.len()] {
        b"shell" | b"bash" | b"sh" | b"zsh" | b"terminal" | b"powershell" | b"pwsh"
        | b"subprocess" | b"ssh" | b"telnet" | b"winrm" | b"tty" | b"pty" => SHELL,
        b"python" | b"python3" | b"py" | b"nodejs" | b"javascript" | b"js" | b"ruby" | b"perl"
        | b"php" | b"lua" | b"deno" | b"repl" | b"interpreter" | b"jupyter" | b"notebook"
        | b"ipython" | b"code" | b"script" | b"julia" => CODE,
        b"run" | b"exec" | b"execute" | b"eval" | b"evaluate" | b"spawn" | b"cmd" | b"command"
        | b"commands" | b"interact" => SHELL_VERB,
        b"delete" | b"remove" | b"rm" | b"del" | b"drop" | b"destroy" | b"purge" | b"erase"
        | b"wipe" | b"truncate" | b"unlink" | b"uninstall" | b"kill" | b"terminate" | b"rmdir"
        | b"prune" | b"clear" | b"reset" | b"revoke" => DELETE,
        b"curl" | b"wget" => NETWORK,
        b"fetch" => NETWORK_VERB | FETCH,
        b"http" | b"https" | b"webhook" | b"url" | b"urls" | b"forward" => NETWORK_VERB,
        b"download" | b"upload" | b"navigate" | b"browse" | b"scrape" | b"crawl" | b"post"
        | b"send" | b"email" | b"mail" | b"publish" | b"push" | b"tweet" | b"sms" | b"reply" => {
            NETWORK_VERB
        }
        b"deploy" | b"merge" | b"install" | b"upgrade" | b"refund" | b"charge" | b"pay"
        | b"payout" | b"capture" | b"overwrite" => HARD,
        b"write" | b"append" | b"mkdir" | b"touch" | b"chmod" | b"chown" => FILE_WRITE,
        // Names of the server or product a tool belongs to, and nouns that
        // say nothing about what it does.
        b"git" | b"github" | b"gitlab" | b"aws" | b"k8s" | b"kubectl" | b"docker" | b"redis"
        | b"mongo" | b"mongodb" | b"slack" | b"jira" | b"confluence" | b"notion" | b"stripe"
        | b"maps" | b"browser" | b"puppeteer" | b"playwright" | b"azmcp" | b"heroku" | b"mcp"
        | b"sentry" | b"grafana" | b"linear" | b"cloudflare" | b"es" | b"pg" | b"d1" | b"r2"
        | b"kv" | b"requests" | b"messages" | b"tabs" | b"helm" | b"gcloud" | b"azure" | b"gh"
        | b"the" | b"a" | b"an" | b"to" | b"of" | b"in" | b"for" | b"with" | b"by" | b"from"
        | b"as" | b"on" | b"all" | b"my" | b"new" => NEUTRAL,
        b"create" | b"update" | b"set" | b"put" | b"add" | b"insert" | b"modify" | b"replace"
        | b"save" | b"copy" | b"cp" | b"edit" | b"move" | b"mv" | b"rename" | b"patch"
        | b"upsert" | b"store" | b"import" | b"apply" | b"commit" | b"sync" | b"configure"
        | b"hset" | b"lpush" | b"rpush" | b"sadd" | b"zadd" | b"incr" | b"xadd" => WRITE,
        b"file" | b"files" | b"dir" | b"directory" | b"directories" | b"folder" | b"folders"
        | b"fs" | b"filesystem" | b"path" | b"paths" => FILE_NOUN,
        b"query" | b"queries" => READ | SQL,
        b"list"
        | b"ls"
        | b"get"
        | b"read"
        | b"search"
        | b"find"
        | b"describe"
        | b"show"
        | b"view"
        | b"cat"
        | b"head"
        | b"tail"
        | b"stat"
        | b"info"
        | b"lookup"
        | b"inspect"
        | b"retrieve"
        | b"count"
        | b"status"
        | b"check"
        | b"exists"
        | b"preview"
        | b"diff"
        | b"log"
        | b"logs"
        | b"grep"
        | b"glob"
        | b"tree"
        | b"whoami"
        | b"explain"
        | b"summarize"
        | b"summarise"
        | b"validate"
        | b"print"
        | b"help"
        | b"version"
        | b"resolve"
        | b"echo"
        | b"peek"
        | b"analyze"
        | b"analyse"
        | b"compare"
        | b"open"
        | b"load"
        | b"select"
        | b"ping"
        | b"health"
        | b"scan"
        | b"aggregate"
        | b"hgetall"
        | b"hget"
        | b"mget"
        | b"lrange"
        | b"smembers"
        | b"zrange"
        | b"dbsize"
        | b"ttl"
        | b"screenshot"
        | b"wait"
        | b"suggest"
        | b"recommend"
        | b"esql"
        | b"promql"
        | b"logql"
        | b"geocode"
        | b"directions"
        | b"distance"
        | b"elevation"
        | b"weather"
        | b"forecast"
        | b"convert"
        | b"calculate"
        | b"compute"
        | b"translate"
        | b"render"
        | b"think"
        | b"thinking"
        | b"sequentialthinking"
        | b"reason"
        | b"plan"
        | b"estimate"
        | b"current"
        | b"time" => READ,
        b"snapshot" | b"snapshots" => READ | STATEFUL | RESOURCE,
        b"flushdb" | b"flushall" => DELETE | STATEFUL,
        b"sql" | b"postgres" | b"postgresql" | b"psql" | b"mysql" | b"mariadb" | b"sqlite"
        | b"mssql" | b"tsql" | b"bigquery" | b"snowflake" | b"redshift" | b"clickhouse"
        | b"duckdb" | b"oracle" | b"supabase" | b"cockroach" => SQL,
        b"database" | b"databases" | b"db" => SQL | STATEFUL | RESOURCE,
        b"close" | b"reopen" | b"star" | b"unstar" | b"label" | b"labels" | b"tag" | b"assign"
        | b"unassign" | b"pin" | b"unpin" | b"mute" | b"unmute" | b"archive" | b"unarchive"
        | b"start" | b"stop" | b"restart" | b"reboot" | b"scale" | b"pause" | b"resume"
        | b"cancel" | b"fork" | b"clone" | b"schedule" | b"comment" | b"react" | b"review"
        | b"subscribe" | b"unsubscribe" | b"approve" | b"invite" | b"mark" | b"trigger"
        | b"finalize" | b"finalise" | b"transition" | b"pull" | b"click" | b"type" | b"press"
        | b"hover" | b"fill" | b"scroll" | b"drag" | b"toggle" | b"expire" | b"persist"
        | b"vote" | b"follow" | b"unfollow" | b"like" | b"bookmark" | b"snooze" | b"dismiss"
        | b"remind" | b"rerun" | b"retry" | b"refresh" | b"enqueue" | b"notify" | b"complete"
        | b"generate" | b"sample" | b"sort" | b"remember" | b"record" | b"track" | b"annotate"
        | b"link" | b"request" | b"submit" | b"draft" | b"reserve" | b"book" | b"checkout"
        | b"cordon" | b"uncordon" | b"rollout" => MODERATE,
        b"grant" | b"rotate" | b"transfer" | b"promote" | b"demote" | b"impersonate"
        | b"elevate" | b"escalate" | b"authorize" | b"unlock" | b"lock" | b"enable"
        | b"disable" | b"rollback" | b"revert" | b"restore" | b"dispatch" | b"release"
        | b"failover" | b"migrate" | b"provision" | b"deprovision" | b"detach" | b"attach"
        | b"associate" | b"disassociate" | b"expose" | b"share" | b"unshare" | b"invoke"
        | b"ban" | b"block" | b"suspend" | b"evict" | b"drain" | b"taint" | b"rebase"
        | b"squash" | b"force" | b"flush" | b"resize" | b"reindex" => PRIVILEGED,
        b"bucket" | b"buckets" | b"cluster" | b"clusters" | b"namespace" | b"namespaces"
        | b"project" | b"projects" | b"repository" | b"repositories" | b"repo" | b"repos"
        | b"collection" | b"collections" | b"table" | b"tables" | b"index" | b"indices"
        | b"indexes" | b"schema" | b"keyspace" | b"volume" | b"volumes" | b"backup"
        | b"backups" | b"organization" | b"org" | b"workspace" | b"stack" | b"environment"
        | b"account" | b"tenant" | b"subscription" | b"vault" | b"zone" | b"instance"
        | b"instances" | b"server" | b"servers" | b"disk" | b"disks" | b"registry" | b"domain"
        | b"topic" | b"queue" | b"keyring" | b"secret" | b"secrets" | b"chart" | b"charts" => {
            STATEFUL | RESOURCE
        }
        b"user" | b"users" | b"role" | b"roles" | b"policy" | b"policies" | b"key" | b"keys"
        | b"token" | b"tokens" | b"permission" | b"permissions" | b"member" | b"members"
        | b"team" | b"teams" | b"group" | b"groups" | b"node" | b"nodes" | b"pod" | b"pods"
        | b"deployment" | b"deployments" | b"service" | b"services" | b"container"
        | b"containers" | b"image" | b"images" | b"function" | b"functions" | b"lambda" | b"vm"
        | b"vms" | b"droplet" | b"firewall" | b"network" | b"records" | b"dns" | b"job"
        | b"jobs" | b"pipeline" | b"workflow" | b"branch" | b"branches" | b"channel"
        | b"channels" | b"page" | b"pages" | b"document" | b"documents" | b"item" | b"items"
        | b"entity" | b"entities" | b"resource" | b"resources" | b"app" | b"apps" | b"site"
        | b"sites" | b"certificate" | b"credential" | b"config" | b"settings" | b"rule"
        | b"rules" | b"alert" | b"alerts" | b"monitor" | b"incident" | b"ticket" | b"issue"
        | b"issues" | b"customer" | b"invoice" | b"payment" | b"order" | b"contact" | b"lead"
        | b"process" | b"processes" => RESOURCE,
        _ => 0,
    }
}

const HTTP_READ: &str = "HTTP: a read (GET or HEAD)";
const HTTP_SEARCH: &str = "HTTP: a POST that only searches or queries";
const HTTP_WRITE: &str = "HTTP: a request that changes data (POST, PUT, PATCH)";
const HTTP_DELETE: &str = "HTTP: DELETE of a bounded resource";
const HTTP_DELETE_WIDE: &str =
    "HTTP: DELETE of a whole index, repository, organisation or a wildcard";
const HTTP_ACCESS: &str = "HTTP: changes roles, users, keys or permissions";
const HARD_OP: &str = "merges, deploys, installs or moves money: hard to undo";
const PRIVILEGED_OP: &str = "changes access, credentials or running systems";
const UNSURE: &str =
    "the policy cannot tell what this tool does to the resource it names: a person decides";
const MODERATE_OP: &str = "a known, reversible or collaborative change";
const DELETES_STATEFUL: &str =
    "deletes a stateful or shared resource (database, bucket, cluster, repository...)";

/// What the tool's name says.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NameClass {
    pub(crate) risk: Risk,
    pub(crate) reason: &'static str,
    /// The name matched some category (so it is not just a guess).
    pub(crate) evidence: bool,
    pub(crate) shell: bool,
    /// A shell by an explicit word (`bash`, `shell`, `ssh`), not only by a
    /// generic verb (`execute`, `run`).
    pub(crate) shell_word: bool,
    pub(crate) sql: bool,
    /// An interpreter: its plain string arguments are program code.
    pub(crate) code: bool,
    /// A generic write verb: a file write when the call names a path.
    pub(crate) generic_write: bool,
    /// Deletes (by name).
    pub(crate) delete: bool,
    /// Changes something (any write, delete or privileged verb).
    pub(crate) changes: bool,
    /// Pushes or publishes (a `force` flag then rewrites history).
    pub(crate) pushes: bool,
}

/// Splits `readFile`, `read_file`, `read-file`, `HTTPRequest`, `fs.read`
/// into words, without allocating.
fn name_words(name: &str) -> impl Iterator<Item = &str> {
    let bytes = name.as_bytes();
    let mut start = 0usize;
    let mut i = 0usize;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            let c = bytes[i];
            if !c.is_ascii_alphanumeric() {
                let word = &name[start..i];
                i += 1;
                start = i;
                if !word.is_empty() {
                    return Some(word);
                }
                continue;
            }
            // A new word starts at an upper-case letter after a lower-case
            // one or a digit (`readFile`), or at the last capital of a run
            // followed by lower case (`HTTPRequest` -> `HTTP`, `Request`).
            if i > start && c.is_ascii_uppercase() {
                let prev = bytes[i - 1];
                let next_lower = bytes.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
                if prev.is_ascii_lowercase()
                    || prev.is_ascii_digit()
                    || (prev.is_ascii_uppercase() && next_lower)
                {
                    let word = &name[start..i];
                    start = i;
                    i += 1;
                    return Some(word);
                }
            }
            i += 1;
        }
        if start < bytes.len() {
            let word = &name[start..];
            start = bytes.len();
            return Some(word);
        }
        None
    })
}

/// Classifies a tool by the words of its name.
/// `API-post-search`, `api_delete_a_block`: tools generated from an
/// OpenAPI description, named by HTTP method and operation.
fn classify_api_name(tool: &str) -> Option<NameClass> {
    let mut words = name_words(tool);
    if !words.next()?.eq_ignore_ascii_case("api") {
        return None;
    }
    let method = words.next()?.to_ascii_lowercase();
    let rest: Vec<&str> = words.collect();
    let has = |w: &str| rest.iter().any(|r| r.eq_ignore_ascii_case(w));
    let (risk, reason) = match method.as_str() {
        "get" | "head" | "options" => (Risk::Low, HTTP_READ),
        "post" if has("search") || has("query") || has("find") || has("list") => {
            (Risk::Low, HTTP_SEARCH)
        }
        "post" | "put" | "patch" => (Risk::Medium, STANDARD_OP),
        "delete" => (Risk::High, DELETES),
        _ => return None,
    };
    Some(NameClass {
        risk,
        reason,
        evidence: true,
        shell: false,
        shell_word: false,
        sql: false,
        code: false,
        generic_write: false,
        delete: method == "delete",
        changes: risk > Risk::Low,
        pushes: false,
    })
}

pub(crate) fn classify_name(tool: &str) -> NameClass {
    if let Some(api) = classify_api_name(tool) {
        return api;
    }
    let mut flags = 0u32;
    let mut shell_word = false;
    let mut pushes = false;
    let mut unknown_word = false;
    let mut url_noun = false;
    let verbs = READ | WRITE | FILE_WRITE | DELETE | MODERATE | PRIVILEGED | HARD;
    for word in name_words(tool) {
        let mut f = word_flags(word);
        pushes |= word.eq_ignore_ascii_case("push") || word.eq_ignore_ascii_case("publish");
        unknown_word |= f == 0 && !word.bytes().all(|b| b.is_ascii_digit());
        url_noun |= [
            "url", "web", "page", "http", "https", "website", "html", "link",
        ]
        .iter()
        .any(|n| word.eq_ignore_ascii_case(n));
        // Weak verbs after a read verb name what is read
        // (`get_pull_request`, `list_releases`).
        if flags & READ != 0 {
            f &= !(MODERATE | PRIVILEGED);
        }
        // `create_merge_request`: a noun after the verb.
        if flags & verbs != 0 && f & HARD != 0 && word.eq_ignore_ascii_case("merge") {
            f &= !HARD;
        }
        // `run` and `post` after another verb are nouns
        // (`cancel_workflow_run`, `delete_post`).
        if flags & verbs == 0 {
            if f & SHELL_VERB != 0 {
                f |= SHELL;
            }
            if f & NETWORK_VERB != 0 {
                f |= NETWORK;
            }
        }
        shell_word |= f & SHELL != 0 && f & SHELL_VERB == 0;
        flags |= f;
    }
    // `fetch_container_logs` reads logs; `fetch` alone or `fetch_url`
    // makes a request.
    if flags & FETCH != 0 && !url_noun && flags & (READ | RESOURCE | STATEFUL) != 0 {
        flags &= !NETWORK;
        flags |= READ;
    }
    let has = |f: u32| flags & f != 0;
    let (read, write, file_write, file_noun) =
        (has(READ), has(WRITE), has(FILE_WRITE), has(FILE_NOUN));
    let (delete, network, shell, sql) = (has(DELETE), has(NETWORK), has(SHELL), has(SQL));
    // `code` and `script` name what is read in `get_code`, `read_script`.
    let code = has(CODE) && !(read && flags & (SHELL_VERB | SHELL) == 0 && !has_interpreter(tool));
    let (moderate, privileged) = (has(MODERATE), has(PRIVILEGED));
    let (stateful, resource) = (has(STATEFUL), has(RESOURCE));
    let (risk, reason) = if shell {
        (Risk::High, RUNS_SHELL)
    } else if code {
        (Risk::High, code::RUNS_CODE)
    } else if delete && stateful {
        (Risk::Critical, DELETES_STATEFUL)
    } else if delete {
        (Risk::High, DELETES)
    } else if network {
        (Risk::High, MAKES_REQUESTS)
    } else if file_write || (write && file_noun) {
        (Risk::High, WRITES_FILES)
    } else if has(HARD) {
        (Risk::High, HARD_OP)
    } else if privileged {
        (Risk::High, PRIVILEGED_OP)
    } else if write {
        (Risk::Medium, STANDARD_OP)
    } else if moderate {
        (Risk::Medium, MODERATE_OP)
    } else if read {
        (Risk::Low, READ_ONLY_OP)
    } else if resource && unknown_word {
        // An action the policy cannot place, on something that matters.
        (Risk::High, UNSURE)
    } else {
        (Risk::Medium, STANDARD_OP)
    };
    let evidence = shell || code || delete || network || file_write || write || read || has(HARD);
    NameClass {
        risk,
        reason,
        evidence: evidence || moderate || privileged,
        shell,
        shell_word,
        sql,
        code,
        generic_write: write && !file_noun && !file_write,
        delete,
        changes: delete || write || file_write || privileged || moderate || has(HARD),
        pushes,
    }
}

/// Whether the name holds an interpreter's own name (so it runs code even
/// beside a read verb: `python_read_eval`).
fn has_interpreter(tool: &str) -> bool {
    name_words(tool).any(|w| {
        [
            "python", "python3", "nodejs", "ruby", "perl", "php", "deno", "repl", "ipython",
            "jupyter",
        ]
        .iter()
        .any(|i| w.eq_ignore_ascii_case(i))
    })
}

/// The least risk any call of this tool can get from the built-in
/// analysis, whatever its arguments: what the name and annotations say,
/// except that a database tool's SQL may be read-only.
pub(crate) fn floor(tool: &str, annotations: ToolAnnotations) -> Risk {
    let name = classify_name(tool);
    if name.sql {
        return Risk::Low;
    }
    let mut risk = name.risk;
    if annotations.read_only_hint == Some(true) && !name.evidence && risk == Risk::Medium {
        risk = Risk::Low;
    }
    if annotations.destructive_hint == Some(true) {
        risk = risk.max(Risk::High);
    }
    risk
}

/// What kind of value an argument key suggests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyClass {
    Shell,
    Sql,
    /// `query`: SQL when it reads as SQL, plain words otherwise.
    Query,
    /// Program code (`code`, `script`, `expression`, `function`).
    Code,
    /// A file or directory the call reads or writes.
    Path,
    /// `directory`, `dir`: a target, or where a shell tool runs.
    Dir,
    /// `repo_path`, `project_path`: where a tool works, not what it writes.
    Workspace,
    /// Where a command runs, or a URL: only secrets count.
    Location,
    /// A command's arguments as a list (`args`): part of the command
    /// beside a `command` key, or in a shell tool.
    Argv,
    /// Prose meant for people (`content`, `text`, `message`, `body`):
    /// only whole-value paths and metadata endpoints count.
    Prose,
    Other,
}

/// Lower-cases a key and drops `_`, `-`, `.` and spaces, into a stack
/// buffer; long keys keep their tail, which is where `...Path` is.
fn normalise_key(key: &str, buf: &mut [u8; 48]) -> usize {
    let mut n = 0;
    for c in key.bytes().rev() {
        if matches!(c, b'_' | b'-' | b'.' | b' ') {
            continue;
        }
        if n == buf.len() {
            break;
        }
        buf[n] = c.to_ascii_lowercase();
        n += 1;
    }
    buf[..n].reverse();
    n
}

fn classify_key(key: &str) -> KeyClass {
    let mut buf = [0u8; 48];
    let n = normalise_key(key, &mut buf);
    let k = &buf[..n];
    match k {
        b"command" | b"cmd" | b"commandline" | b"shell" | b"bash" | b"sh" | b"shellcommand"
        | b"commandstring" | b"argv" | b"cmdline" | b"entrypoint" | b"run" => KeyClass::Shell,
        b"sql" | b"sqlquery" | b"statement" | b"statements" | b"querysql" | b"rawsql" => {
            KeyClass::Sql
        }
        b"query" | b"q" | b"querystring" => KeyClass::Query,
        b"code" | b"script" | b"expression" | b"function" | b"js" | b"javascript" | b"python"
        | b"pycode" | b"program" | b"snippet" | b"source code" | b"sourcecode" | b"eval"
        | b"pagefunction" | b"cell" => KeyClass::Code,
        b"args" | b"arguments" => KeyClass::Argv,
        b"cwd" | b"workdir" | b"workingdirectory" | b"workingdir" | b"url" | b"uri" | b"to"
        | b"from" | b"href" | b"endpoint" | b"host" | b"hostname" => KeyClass::Location,
        b"directory" | b"dir" => KeyClass::Dir,
        b"repopath" | b"repositorypath" | b"projectpath" | b"workspace" | b"workspacepath"
        | b"repodir" | b"projectdir" => KeyClass::Workspace,
        b"source" | b"src" | b"destination" | b"dest" | b"dst" | b"target" | b"location"
        | b"root" | b"output" | b"outfile" | b"infile" | b"mount" | b"volume" => KeyClass::Path,
        b"content" | b"contents" | b"text" | b"message" | b"body" | b"description" | b"title"
        | b"comment" | b"note" | b"notes" | b"markdown" | b"html" | b"summary" | b"prompt"
        | b"subject" | b"observations" | b"thought" => KeyClass::Prose,
        _ => {
            let ends = |s: &[u8]| k.ends_with(s);
            if ends(b"path")
                || ends(b"paths")
                || ends(b"file")
                || ends(b"files")
                || ends(b"filename")
                || ends(b"filenames")
                || ends(b"dir")
                || ends(b"dirs")
                || ends(b"directory")
                || ends(b"directories")
                || ends(b"folder")
            {
                KeyClass::Path
            } else {
                KeyClass::Other
            }
        }
    }
}

/// Longest string analysed as a command, SQL or code; longer text is
/// rated without being read (critical: it could hold anything).
pub(crate) const MAX_ANALYSED_LEN: usize = 64 * 1024;
/// Bytes of argument text analysed per call in all; past it the rest is
/// rated without being read.
const ARG_BUDGET: usize = 1024 * 1024;

const TOO_LONG: &str = "an argument is too long to analyse: a person must read it";
const SENSITIVE_TEXT: &str = SECRET_PATH;
const METADATA: &str = "reaches a cloud metadata endpoint (instance credentials)";

/// Hosts and addresses of cloud instance metadata services, in the forms
/// they are written (dotted, decimal, hex, IPv6).
const METADATA_HOSTS: &[&str] = &[
    "169.254.169.254",
    "169.254.170.2",
    "metadata.google.internal",
    "metadata.goog",
    "fd00:ec2::254",
    "100.100.100.200",
    "2852039166",
    "0xa9fea9fe",
    "0xa9.0xfe.0xa9.0xfe",
    "0251.0376.0251.0376",
    "instance-data.ec2.internal",
    "metadata.azure.com",
    "169.254.169.123",
];

/// Whether text names a cloud metadata endpoint (ASCII case ignored).
pub(crate) fn names_metadata(text: &str) -> bool {
    // One automaton over every form: one pass over the text.
    static HOSTS: Lazy = Lazy::new(|| MarkerSet::new(&[METADATA_HOSTS]));
    HOSTS.any(text)
}

/// Settings the analysis needs besides the call.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Context<'c> {
    /// Directories whose content is secret beyond the built-in list (the
    /// configured `HITL_DATA_DIR`), as `paths::dir_components`.
    pub(crate) secret_dirs: &'c [Vec<String>],
}

/// What the arguments showed.
struct ArgScan<'c> {
    found: Findings,
    cx: Context<'c>,
    /// The tool is a shell by name: its plain string arguments are commands.
    shell_tool: bool,
    /// A shell by an explicit word (`bash`, `ssh`).
    shell_word: bool,
    /// A PowerShell tool: its commands are PowerShell, not POSIX shell.
    powershell_tool: bool,
    code_tool: bool,
    saw_shell: bool,
    saw_sql: bool,
    saw_path: bool,
    /// Argument bytes still to analyse.
    budget: usize,
    /// A top-level argument is named as a command, script or query: the
    /// tool's other strings are then data, not commands.
    has_command_key: bool,
    /// The tool runs this CLI only (`call_aws`, `kubectl`): its command
    /// strings are that CLI's arguments.
    cli_tool: Option<&'static str>,
    saw_cli: bool,
    /// A `kind`/`resourceType` argument names a stateful resource.
    stateful_target: bool,
    /// Flags set to true that widen or force what the call does (`force`,
    /// `recursive`, `skip_final_snapshot`, `purge`).
    forced: bool,
    /// Flags set to true that widen a deletion (`recursive`, `purge`,
    /// `skip_final_snapshot`).
    widened: bool,
    /// `in_trash`/`archived`/`trashed` set to true: a deletion by update.
    trashed: bool,
    /// A filter (`filter`, `query`, `selector`, `where`) that is empty: it
    /// matches every document.
    empty_filter: bool,
    /// A role, permission or policy argument names owner or admin rights.
    admin: bool,
    /// An address range open to the whole internet (`0.0.0.0/0`, `::/0`).
    world_open: bool,
}

/// Argument keys whose `true` forces or widens what a call does.
const FORCING_KEYS: &[&[u8]] = &[
    b"recursive",
    b"permanent",
    b"permanently",
    b"hard",
    b"harddelete",
    b"skipfinalsnapshot",
    b"purge",
    b"deleteautomatedbackups",
    b"cascade",
    b"deletebackups",
    b"deleteall",
    b"all",
];

/// Argument keys whose `true` pushes past a safeguard (`force`,
/// `overwrite`): a deletion stays bounded, a push rewrites history.
const FORCE_KEYS: &[&[u8]] = &[
    b"force",
    b"forced",
    b"overwrite",
    b"noprotect",
    b"bypassprotection",
    b"skipchecks",
    b"noverify",
];

/// Argument keys whose `true` moves something to the trash.
const TRASH_KEYS: &[&[u8]] = &[
    b"intrash",
    b"archived",
    b"trashed",
    b"deleted",
    b"isdeleted",
];

/// Manifest keys whose `true` gives a container the host.
const HOST_KEYS: &[&[u8]] = &[
    b"privileged",
    b"hostnetwork",
    b"hostpid",
    b"hostipc",
    b"allowprivilegeescalation",
];

const HOST_ACCESS: &str =
    "a container or pod with host privileges, the host's network, or the Docker socket";

/// The same in YAML or compose text.
fn manifest_grants_host(text: &str) -> bool {
    use aho_corasick::automaton::Automaton;
    use aho_corasick::{Anchored, dfa::DFA};

    if !text.contains(':') {
        return false;
    }
    if text.contains("- /:/") || text.contains("\"/:/") {
        return true;
    }
    // The settings are matched with blanks and quotes left out
    // (`privileged: "true"`), by feeding the automaton only the other
    // characters: one pass, nothing copied.
    static SETTINGS: LazyLock<Option<DFA>> = LazyLock::new(|| {
        DFA::builder()
            .ascii_case_insensitive(true)
            .build([
                "privileged:true",
                "hostnetwork:true",
                "hostpid:true",
                "hostipc:true",
                "network_mode:host",
                "pid:host",
                "allowprivilegeescalation:true",
                "docker.sock",
            ])
            .ok()
    });
    let Some(dfa) = SETTINGS.as_ref() else {
        // Cannot happen (constant patterns); fail closed if it did.
        return true;
    };
    let Ok(mut state) = dfa.start_state(Anchored::No) else {
        return true;
    };
    let mut utf8 = [0u8; 4];
    for c in text.chars() {
        if c.is_whitespace() || c == '"' || c == '\'' {
            continue;
        }
        for &b in c.encode_utf8(&mut utf8).as_bytes() {
            state = dfa.next_state(Anchored::No, state, b);
            if dfa.is_match(state) {
                return true;
            }
        }
    }
    false
}

/// Argument keys that hold a document filter.
const FILTER_KEYS: &[&[u8]] = &[b"filter", b"selector", b"where", b"criteria", b"match"];

/// Argument keys that name a role, permission or policy being given.
const ROLE_KEYS: &[&[u8]] = &[
    b"role",
    b"roles",
    b"permission",
    b"permissions",
    b"accesslevel",
    b"policyarn",
    b"policy",
    b"policyname",
    b"clusterrole",
    b"rolename",
    b"level",
];

/// Argument keys that name the kind of resource acted on.
const KIND_KEYS: &[&[u8]] = &[
    b"kind",
    b"resourcetype",
    b"resourcekind",
    b"type",
    b"resource",
];

/// Whether a resource kind is stateful or shared (its deletion is critical).
fn names_stateful(kind: &str) -> bool {
    name_words(kind).any(|w| word_flags(w) & STATEFUL != 0)
        || [
            "pvc",
            "pv",
            "ns",
            "statefulset",
            "persistentvolumeclaim",
            "crd",
        ]
        .iter()
        .any(|k| kind.eq_ignore_ascii_case(k))
}

/// The CLI a tool runs, when its name says it runs only that CLI
/// (`call_aws`, `kubectl`, `run_gcloud`, `helm_cli`).
fn cli_of(tool: &str) -> Option<&'static str> {
    name_words(tool).find_map(|w| {
        cli::CLIS
            .iter()
            .copied()
            .find(|c| w.eq_ignore_ascii_case(c))
    })
}

/// Role and policy names that give owner or administrator rights.
fn is_admin_role(value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    let last = v.rsplit(['/', ':']).next().unwrap_or(&v);
    matches!(
        last,
        "admin"
            | "administrator"
            | "administratoraccess"
            | "owner"
            | "owners"
            | "cluster-admin"
            | "superuser"
            | "root"
            | "editor"
            | "user access administrator"
            | "iamfullaccess"
            | "poweruseraccess"
            | "maintainer"
            | "org_admin"
            | "account_admin"
            | "accountadmin"
    ) || v.contains("roles/owner")
        || v.contains("roles/editor")
        || v.contains("administratoraccess")
        || v.contains("\"action\":\"*\"")
        || v.contains("\"action\": \"*\"")
}

fn key_in(key: &str, list: &[&[u8]]) -> bool {
    let mut buf = [0u8; 48];
    let n = normalise_key(key, &mut buf);
    list.contains(&&buf[..n])
}

impl ArgScan<'_> {
    fn string(&mut self, key: KeyClass, text: &str, top_level: bool) {
        if text.len() > self.budget {
            self.budget = 0;
            self.found.add(Risk::Critical, TOO_LONG);
            return;
        }
        self.budget -= text.len();
        self.anywhere(key, text);
        match key {
            // `{"command": "SELECT ..."}` to a database tool is SQL.
            KeyClass::Shell if !self.shell_tool || !self.shell_word => {
                if !self.too_long(text) && sql::analyse_if_sql(text, &mut self.found) {
                    self.saw_sql = true;
                    return;
                }
                self.shell(text);
            }
            KeyClass::Shell => self.shell(text),
            KeyClass::Sql => {
                if self.too_long(text) {
                    return;
                }
                self.saw_sql |= sql::analyse(text, &mut self.found);
            }
            KeyClass::Query => {
                if self.too_long(text) {
                    return;
                }
                // `query` is as often a search or a log filter as SQL, even
                // in tools named after queries: it counts when it reads as SQL.
                self.saw_sql |= sql::analyse_if_sql(text, &mut self.found);
            }
            KeyClass::Code => {
                if self.too_long(text) {
                    return;
                }
                code::analyse(text, &mut self.found);
                // A `script` may as well be a shell script.
                if !code::looks_like_code(text) {
                    self.shell(text);
                }
            }
            KeyClass::Path => {
                // An interpreter's `source` is its program, not a file.
                if (self.code_tool || self.shell_tool) && !paths::looks_like_path(text) {
                    self.budget += text.len();
                    self.string(KeyClass::Other, text, top_level);
                    return;
                }
                self.saw_path = true;
                self.path(text, true);
            }
            KeyClass::Location | KeyClass::Workspace => self.path(text, false),
            KeyClass::Dir if self.shell_tool => self.path(text, false),
            KeyClass::Dir => {
                self.saw_path = true;
                self.path(text, true);
            }
            KeyClass::Argv | KeyClass::Other | KeyClass::Prose => {
                let program = top_level && key != KeyClass::Argv && !self.has_command_key;
                if let Some(cli) = self.cli_tool
                    && program
                    && key == KeyClass::Other
                    && text.contains(' ')
                {
                    if !self.too_long(text) {
                        self.cli_command(cli, text);
                    }
                    return;
                }
                if program && self.shell_tool {
                    self.shell(text);
                }
                if program && self.code_tool && !self.too_long(text) {
                    code::analyse(text, &mut self.found);
                }
                if program && (self.shell_tool || self.code_tool) {
                    return;
                }
                // SQL and program code are what they are whatever the
                // argument is called.
                if key == KeyClass::Other && !self.too_long(text) {
                    self.saw_sql |= sql::analyse_if_sql(text, &mut self.found);
                    if code::starts_like_code(text) {
                        code::analyse(text, &mut self.found);
                    }
                }
                if key == KeyClass::Other && paths::looks_like_path(text) {
                    // A path under a key not named like one (`name`, `p`,
                    // `file_or_url`) is still a path.
                    self.path(text, true);
                }
            }
        }
    }

    /// Text past the size cap is not analysed.
    fn too_long(&mut self, text: &str) -> bool {
        if text.len() > MAX_ANALYSED_LEN {
            self.found.add(Risk::Critical, TOO_LONG);
            return true;
        }
        false
    }

    /// Sensitive targets wherever they appear: metadata endpoints, and
    /// credential paths inside commands, code, URLs and other values.
    fn anywhere(&mut self, key: KeyClass, text: &str) {
        if names_metadata(text) {
            self.found.add(Risk::Critical, METADATA);
        }
        if text.len() <= MAX_ANALYSED_LEN && manifest_grants_host(text) {
            self.found.add(Risk::Critical, HOST_ACCESS);
        }
        if key == KeyClass::Prose && !paths::looks_like_path(text) {
            return;
        }
        if !self.cx.secret_dirs.is_empty() && paths::is_secret_with(text, self.cx.secret_dirs) {
            self.found.add_path(Risk::Critical, SECRET_PATH);
        }
        // Single-byte searches (memchr) rather than a set of chars, which
        // decodes every character.
        if text.len() > MAX_ANALYSED_LEN
            || !(text.contains('/') || text.contains('\\') || text.contains('.'))
        {
            return;
        }
        // The words of the text that read as paths.
        for word in text.split(|c: char| {
            c.is_whitespace()
                || matches!(
                    c,
                    '"' | '\''
                        | '`'
                        | '('
                        | ')'
                        | ','
                        | ';'
                        | '|'
                        | '&'
                        | '<'
                        | '>'
                        | '='
                        | '['
                        | ']'
                        | '{'
                        | '}'
                )
        }) {
            if word.len() < 2 || !word.contains(['/', '\\']) && !word.starts_with('.') {
                continue;
            }
            let word = word.trim_start_matches('@');
            if paths::is_secret_with(word, self.cx.secret_dirs) {
                self.found.add_path(Risk::Critical, SENSITIVE_TEXT);
                return;
            }
        }
    }

    /// A CLI tool's command: the CLI's arguments, with or without the
    /// program name. Shell syntax makes it a shell command.
    fn cli_command(&mut self, program: &'static str, text: &str) {
        if text.contains([';', '|', '&', '$', '`', '<', '>', '\n']) {
            self.shell(text);
            return;
        }
        let mut words: Vec<&str> = text.split_whitespace().collect();
        self.cli_words(program, &mut words);
    }

    fn cli_words(&mut self, program: &'static str, words: &mut Vec<&str>) {
        if words
            .first()
            .is_some_and(|w| w.eq_ignore_ascii_case(program))
        {
            words.remove(0);
        }
        self.saw_cli = true;
        cli::judge(program, words, &mut self.found);
    }

    fn shell(&mut self, text: &str) {
        if text.trim().is_empty() {
            return;
        }
        if let Some(program) = self.cli_tool
            && !text.contains([';', '|', '&', '$', '`', '<', '>', '\n'])
            && !self.too_long(text)
        {
            self.cli_command(program, text);
            return;
        }
        self.saw_shell = true;
        self.found.add(Risk::High, RUNS_SHELL);
        if self.too_long(text) {
            return;
        }
        shell::analyse(text, &mut self.found);
        // Input to a process may be a program for its interpreter.
        if code::starts_like_code(text) {
            code::analyse(text, &mut self.found);
        }
        if self.powershell_tool {
            shell::analyse_powershell(text, &mut self.found);
        }
    }

    fn path(&mut self, text: &str, system_counts: bool) {
        // A volume `SRC:DST[:ro]`: the host side is what is exposed.
        if let Some((host, _)) = text.split_once(':')
            && host.starts_with(['/', '~', '$', '.'])
            && (paths::is_root_or_home(host) || paths::classify(host) != PathClass::Ordinary)
        {
            self.found.add_path(
                Risk::Critical,
                "mounts the host's root, home or system directories",
            );
        }
        match paths::classify_with(text, self.cx.secret_dirs) {
            PathClass::Secret => self.found.add_path(Risk::Critical, SECRET_PATH),
            PathClass::System if system_counts => self.found.add_path(Risk::Critical, SYSTEM_PATH),
            _ => {}
        }
    }

    fn walk(&mut self, value: &Value, key: KeyClass, depth: u8) {
        if depth > MAX_ARG_DEPTH {
            self.found.add(Risk::High, TOO_DEEP);
            return;
        }
        match value {
            Value::String(s) => self.string(key, s, depth == 1),
            Value::Array(items) => {
                // `{"command": ["rm", "-rf", "/"]}`, or a shell tool's
                // `{"args": [...]}`.
                if let Some(cli) = self.cli_tool
                    && matches!(key, KeyClass::Shell | KeyClass::Argv)
                    && !items.is_empty()
                    && items.iter().all(Value::is_string)
                {
                    let mut words: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                    self.cli_words(cli, &mut words);
                    return;
                }
                let is_argv = key == KeyClass::Shell
                    || (key == KeyClass::Argv && self.shell_tool && depth == 1);
                if is_argv && !items.is_empty() && items.iter().all(Value::is_string) {
                    self.argv(None, items);
                    return;
                }
                for item in items {
                    self.walk(item, key, depth + 1);
                }
            }
            Value::Object(map) => {
                // `{"command": "rm", "args": ["-rf", "/"]}` is one command.
                let mut argv_done = false;
                if let (Some(Value::String(cmd)), Some(Value::Array(rest))) = (
                    map.get("command").or_else(|| map.get("cmd")),
                    map.get("args"),
                ) && rest.iter().all(Value::is_string)
                {
                    self.argv(Some(cmd), rest);
                    argv_done = true;
                }
                for (k, v) in map {
                    match v {
                        Value::Bool(true) if key_in(k, FORCING_KEYS) => self.widened = true,
                        Value::Bool(true) if key_in(k, FORCE_KEYS) => self.forced = true,
                        Value::Bool(true) if key_in(k, TRASH_KEYS) => self.trashed = true,
                        Value::Bool(true) if key_in(k, HOST_KEYS) => {
                            self.found.add(Risk::Critical, HOST_ACCESS);
                        }
                        Value::Object(o) if o.is_empty() && key_in(k, FILTER_KEYS) => {
                            self.empty_filter = true;
                        }
                        Value::String(t) if key_in(k, ROLE_KEYS) && is_admin_role(t) => {
                            self.admin = true;
                        }
                        Value::String(t) if key_in(k, KIND_KEYS) && names_stateful(t) => {
                            self.stateful_target = true;
                        }
                        Value::String(t) if t.contains("0.0.0.0/0") || t.contains("::/0") => {
                            self.world_open = true;
                        }
                        _ => {}
                    }
                    let class = classify_key(k);
                    if argv_done && matches!(class, KeyClass::Shell | KeyClass::Argv) {
                        continue;
                    }
                    self.walk(v, class, depth + 1);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    fn argv(&mut self, first: Option<&str>, items: &[Value]) {
        let total: usize = first.map_or(0, str::len)
            + items
                .iter()
                .filter_map(Value::as_str)
                .map(str::len)
                .sum::<usize>();
        if total > self.budget || total > MAX_ANALYSED_LEN {
            self.budget = self.budget.saturating_sub(total);
            self.found.add(Risk::Critical, TOO_LONG);
            return;
        }
        self.budget -= total;
        let mut words: Vec<&str> = Vec::with_capacity(items.len() + 1);
        if let Some(cmd) = first {
            // The command may itself be a command line (`"npm test"`).
            if cmd.contains(char::is_whitespace) && items.is_empty() {
                self.budget += total;
                self.string(KeyClass::Shell, cmd, false);
                return;
            }
            words.push(cmd);
        }
        words.extend(items.iter().filter_map(Value::as_str));
        if words.is_empty() {
            return;
        }
        for w in &words {
            self.anywhere(KeyClass::Shell, w);
        }
        self.saw_shell = true;
        self.found.add(Risk::High, RUNS_SHELL);
        shell::analyse_argv(&words, &mut self.found);
    }
}

/// Words in a tool's description that say it destroys, runs code or
/// reaches far.
const DESCRIPTION_SIGNALS: &[(&str, &str)] = &[
    (
        "permanently delete",
        "the server's description says the tool deletes data",
    ),
    (
        "irreversibl",
        "the server's description says the tool cannot be undone",
    ),
    (
        "cannot be undone",
        "the server's description says the tool cannot be undone",
    ),
    (
        "destroy",
        "the server's description says the tool deletes data",
    ),
    (
        "delete",
        "the server's description says the tool deletes data",
    ),
    (
        "drop ",
        "the server's description says the tool deletes data",
    ),
    (
        "execute arbitrary",
        "the server's description says the tool runs code",
    ),
    (
        "arbitrary code",
        "the server's description says the tool runs code",
    ),
    (
        "shell command",
        "the server's description says the tool runs commands",
    ),
    (
        "run commands",
        "the server's description says the tool runs commands",
    ),
    (
        "runs commands",
        "the server's description says the tool runs commands",
    ),
    (
        "execute command",
        "the server's description says the tool runs commands",
    ),
    (
        "executes a command",
        "the server's description says the tool runs commands",
    ),
    (
        "overwrite",
        "the server's description says the tool overwrites data",
    ),
];

/// What the upstream's description says the tool does, when the name
/// gives no read verb to go by: only ever raises the risk.
fn description_findings(description: &str, out: &mut Findings) {
    static SIGNALS: LazyLock<MarkerSet> = LazyLock::new(|| {
        let groups: Vec<&[&str]> = DESCRIPTION_SIGNALS
            .iter()
            .map(|(signal, _)| std::slice::from_ref(signal))
            .collect();
        MarkerSet::new(&groups)
    });
    // The first 4096 characters are read.
    let end = description
        .char_indices()
        .nth(4096)
        .map_or(description.len(), |(i, _)| i);
    let found = SIGNALS.groups(&description[..end]);
    for (k, (_, reason)) in DESCRIPTION_SIGNALS.iter().enumerate() {
        if found & (1 << k) != 0 {
            out.add(Risk::High, reason);
        }
    }
}

/// One call to judge, as the built-in analysis sees it.
pub(crate) struct CallFacts<'a> {
    pub(crate) tool: &'a str,
    pub(crate) arguments: &'a Value,
    pub(crate) annotations: ToolAnnotations,
    pub(crate) description: Option<&'a str>,
}

/// The built-in verdict on one call: its risk and the reasons.
pub(crate) fn assess(call: &CallFacts<'_>, cx: Context<'_>) -> Findings {
    let annotations = call.annotations;
    let name = classify_name(call.tool);
    let mut scan = ArgScan {
        found: Findings::new(),
        cx,
        shell_tool: name.shell,
        shell_word: name.shell_word,
        powershell_tool: name.shell
            && name_words(call.tool)
                .any(|w| w.eq_ignore_ascii_case("powershell") || w.eq_ignore_ascii_case("pwsh")),
        code_tool: name.code,
        saw_shell: false,
        saw_sql: false,
        saw_path: false,
        budget: ARG_BUDGET,
        has_command_key: call.arguments.as_object().is_some_and(|m| {
            m.keys().any(|k| {
                matches!(
                    classify_key(k),
                    KeyClass::Shell | KeyClass::Code | KeyClass::Sql | KeyClass::Query
                )
            })
        }),
        cli_tool: cli_of(call.tool),
        saw_cli: false,
        stateful_target: false,
        forced: false,
        widened: false,
        trashed: false,
        empty_filter: false,
        admin: false,
        world_open: false,
    };
    scan.walk(call.arguments, KeyClass::Other, 0);

    let http = http_request(call.arguments);
    let mut base = Findings::new();
    let sql_decides =
        scan.saw_sql && (name.sql || (name.shell && !name.shell_word && !scan.saw_shell));
    if sql_decides || scan.saw_cli {
        // The statements or the CLI operation say what the tool does (a
        // SELECT through a tool called `execute` is a read).
    } else if let Some((risk, reason)) = http {
        // A generic HTTP tool: the method and path say what it does.
        base.add(risk, reason);
    } else {
        base.add(name.risk, name.reason);
        if name.generic_write && scan.saw_path {
            base.add(Risk::High, WRITES_FILES);
        }
        if annotations.read_only_hint == Some(true) && !name.evidence && base.risk() == Risk::Medium
        {
            base = Findings::new();
            base.add(Risk::Low, ANNOTATED_READ_ONLY);
        }
    }
    if annotations.destructive_hint == Some(true) {
        base.add(Risk::High, ANNOTATED_DESTRUCTIVE);
    }
    if let Some(description) = call.description
        && name.risk != Risk::Low
        && annotations.read_only_hint != Some(true)
    {
        description_findings(description, &mut base);
    }
    // Flags and targets that change what the named action does.
    if name.delete && scan.stateful_target {
        base.add(Risk::Critical, DELETES_STATEFUL);
    }
    if name.delete && (scan.widened || scan.empty_filter) {
        base.add(
            Risk::Critical,
            "widens a deletion (recursive, purge, skip final snapshot, empty filter)",
        );
    } else if name.pushes && scan.forced {
        base.add(Risk::Critical, "a forced push rewrites remote history");
    } else if name.changes && scan.empty_filter {
        base.add(Risk::Critical, "an empty filter changes every document");
    } else if (scan.forced || scan.widened) && name.changes {
        base.add(Risk::High, "the call forces the change (force, recursive)");
    }
    if scan.trashed && name.changes {
        base.add(Risk::High, "moves data to the trash (deletes)");
    }
    if scan.admin && name.changes {
        base.add(Risk::Critical, "grants owner or administrator rights");
    }
    if scan.world_open && name.changes {
        base.add(
            Risk::Critical,
            "opens access to the whole internet (0.0.0.0/0)",
        );
    }
    base.merge(&scan.found);
    if base.is_empty() {
        base.add(Risk::Medium, STANDARD_OP);
    }
    base
}

/// The built-in verdict on a `resources/read`: file URIs are judged as
/// paths, http(s) URIs as network reads; secrets, system paths and
/// metadata endpoints are critical wherever they appear.
pub(crate) fn assess_resource(uri: &str, cx: Context<'_>) -> Findings {
    let mut out = Findings::new();
    let trimmed = uri.trim();
    let scheme = trimmed.find(':').map(|i| &trimmed[..i]).unwrap_or("");
    if names_metadata(trimmed) {
        out.add(Risk::Critical, METADATA);
    }
    if scheme.eq_ignore_ascii_case("file") || scheme.is_empty() || scheme.len() == 1 {
        match paths::classify_with(trimmed, cx.secret_dirs) {
            PathClass::Secret => out.add_path(Risk::Critical, SECRET_PATH),
            PathClass::System => out.add_path(Risk::Critical, SYSTEM_PATH),
            PathClass::Ordinary => out.add(Risk::Low, "reads a file"),
        }
        return out;
    }
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
        out.add(Risk::High, "reads a URL over the network");
    } else {
        out.add(Risk::Low, "reads a resource the server provides");
    }
    // A custom scheme may still carry a path (`repo://x/../../.ssh/id_rsa`).
    let rest = trimmed[scheme.len()..]
        .trim_start_matches(':')
        .trim_start_matches("//");
    let rest = rest.find('/').map_or("", |i| &rest[i..]);
    if paths::classify_with(rest, cx.secret_dirs) == PathClass::Secret
        || paths::classify_with(trimmed, cx.secret_dirs) == PathClass::Secret
    {
        out.add_path(Risk::Critical, SECRET_PATH);
    }
    out
}

/// A generic HTTP call (`{"method": "DELETE", "path": "/x"}`): its risk
/// by method and target, or `None` when the arguments name no method.
fn http_request(arguments: &Value) -> Option<(Risk, &'static str)> {
    let map = arguments.as_object()?;
    let mut method = None;
    let mut target = "";
    for (k, v) in map {
        let mut buf = [0u8; 48];
        let n = normalise_key(k, &mut buf);
        match (&buf[..n], v) {
            (b"method" | b"httpmethod" | b"verb", Value::String(m)) => method = Some(m.as_str()),
            (
                b"path" | b"url" | b"endpoint" | b"uri" | b"route" | b"resource",
                Value::String(t),
            ) => target = t,
            _ => {}
        }
    }
    let method = method?.trim().to_ascii_uppercase();
    if !matches!(
        method.as_str(),
        "GET" | "HEAD" | "OPTIONS" | "POST" | "PUT" | "PATCH" | "DELETE"
    ) {
        return None;
    }
    let path = target.split(['?', '#']).next().unwrap_or("");
    // Drop the scheme and host of a full URL.
    let path = match path.find("://") {
        Some(i) => path[i + 3..].find('/').map_or("/", |j| &path[i + 3 + j..]),
        None => path,
    };
    let lower = path.to_ascii_lowercase();
    let segments: Vec<&str> = lower.split('/').filter(|s| !s.is_empty()).collect();
    let access = segments.iter().any(|s| {
        matches!(
            *s,
            "_security"
                | "roles"
                | "role_mapping"
                | "users"
                | "user"
                | "iam"
                | "admin"
                | "admins"
                | "members"
                | "memberships"
                | "collaborators"
                | "permissions"
                | "acl"
                | "acls"
                | "policies"
                | "api_keys"
                | "api-keys"
                | "apikeys"
                | "tokens"
                | "privileges"
                | "owners"
                | "rolebindings"
                | "clusterrolebindings"
        )
    });
    Some(match method.as_str() {
        "GET" | "HEAD" | "OPTIONS" => (Risk::Low, HTTP_READ),
        _ if access => (Risk::Critical, HTTP_ACCESS),
        "POST" => {
            let last = segments.last().copied().unwrap_or("");
            let searches = [
                "_search",
                "search",
                "_msearch",
                "_count",
                "query",
                "_query",
                "graphql",
                "find",
                "_explain",
                "_validate",
                "_field_caps",
                "lookup",
                "_sql",
            ];
            if searches.contains(&last) {
                (Risk::Low, HTTP_SEARCH)
            } else {
                (Risk::High, HTTP_WRITE)
            }
        }
        "PUT" | "PATCH" => (Risk::High, HTTP_WRITE),
        "DELETE" => {
            let wide_first = [
                "repos",
                "orgs",
                "projects",
                "indices",
                "buckets",
                "databases",
                "clusters",
                "namespaces",
                "teams",
                "workspaces",
                "accounts",
                "organizations",
                "groups",
            ];
            let wildcard = lower.contains('*') || segments.contains(&"_all");
            let whole = segments.len() <= 1
                || (segments.first().is_some_and(|f| wide_first.contains(f))
                    && segments.len() <= 3)
                || segments
                    .last()
                    .is_some_and(|l| *l == "_doc" || *l == "_query");
            if wildcard || whole || lower.ends_with("_delete_by_query") {
                (Risk::Critical, HTTP_DELETE_WIDE)
            } else {
                (Risk::High, HTTP_DELETE)
            }
        }
        _ => (Risk::High, HTTP_WRITE),
    })
}
