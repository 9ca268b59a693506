//! Cloud and cluster CLIs: `aws`, `gcloud`, `az`, `kubectl`, `helm`,
//! `terraform`/`tofu`, `docker`/`podman`, `heroku`, `flyctl`, `doctl`,
//! `gh`, `glab` (and their kin), judged by operation and resource
//! wherever the command arrives: a shell line, an argv array, or a tool
//! that takes the CLI's arguments without the program name.
//!
//! By operation: list/describe/get/show/plan are low; stop/scale/restart
//! medium; create/update/put/deploy/apply/upload high; delete/terminate/
//! destroy/remove/purge critical on stateful or shared resources
//! (databases, buckets, clusters, namespaces, projects, resource groups,
//! backups) or when forced, high on bounded ones. Granting owner or admin
//! rights and opening network rules to the world are critical. An
//! operation the table does not know is high: a person decides.

use hitl_wire::Risk;

use super::findings::Findings;

/// The CLIs judged here, by program name.
pub(crate) const CLIS: &[&str] = &[
    "aws",
    "gcloud",
    "gsutil",
    "az",
    "kubectl",
    "oc",
    "helm",
    "terraform",
    "tofu",
    "terragrunt",
    "pulumi",
    "docker",
    "podman",
    "nerdctl",
    "heroku",
    "flyctl",
    "fly",
    "doctl",
    "gh",
    "glab",
    "eksctl",
    "vercel",
    "netlify",
    "wrangler",
    "firebase",
    "supabase",
];

/// Whether `name` is one of [`CLIS`].
pub(crate) fn is_cli(name: &str) -> bool {
    CLIS.iter().any(|c| name.eq_ignore_ascii_case(c))
}

/// Options (of any of these CLIs) that take a value as the next word.
const VALUE_OPTIONS: &[&str] = &[
    "--profile",
    "--region",
    "--output",
    "-o",
    "--endpoint-url",
    "--query",
    "--project",
    "--account",
    "--subscription",
    "-g",
    "--resource-group",
    "-n",
    "--namespace",
    "--context",
    "--cluster",
    "--kubeconfig",
    "--zone",
    "-a",
    "--app",
    "-R",
    "--repo",
    "-s",
    "--stack",
    "--kube-context",
    "-c",
    "--configuration",
    "--format",
    "-H",
    "--host",
];

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Op {
    Read,
    Moderate,
    Change,
    Delete,
    Unknown,
}

fn op_of(word: &str) -> Option<Op> {
    let w = word.to_ascii_lowercase();
    // `delete-db-instance`, `apps:destroy`, `list_buckets`: the verb leads.
    // heroku's `topic:command` puts the verb after the colon.
    let w = w.rsplit(':').next().unwrap_or(&w).to_owned();
    let verb = w.split(['-', '_']).next().unwrap_or(&w);
    let verb = if verb.is_empty() { w.as_str() } else { verb };
    Some(match verb {
        "list" | "ls" | "describe" | "get" | "show" | "plan" | "view" | "status" | "logs"
        | "log" | "inspect" | "version" | "help" | "search" | "whoami" | "info" | "top"
        | "explain" | "diff" | "cat" | "history" | "output" | "validate" | "head" | "wait"
        | "print" | "check" | "lookup" | "tail" | "ps" | "images" | "events" | "fmt" | "graph"
        | "providers" | "query" | "read" | "browse" | "watch" | "api-resources"
        | "api-versions" | "cluster-info" | "auth" | "config" | "preview" | "test" | "estimate"
        | "du" | "stat" | "download" | "pull" | "fetch" | "find" | "select" => Op::Read,
        "stop" | "scale" | "restart" | "start" | "reboot" | "rollout" | "cordon" | "uncordon"
        | "label" | "annotate" | "tag" | "untag" | "suspend" | "resume" | "pause" | "unpause"
        | "close" | "reopen" | "comment" | "review" | "star" | "fork" | "clone" | "login"
        | "checkout" | "cancel" | "rerun" | "init" | "refresh" | "wake" | "sleep" | "open" => {
            Op::Moderate
        }
        "create" | "update" | "put" | "deploy" | "apply" | "upload" | "set" | "run" | "exec"
        | "push" | "cp" | "sync" | "mv" | "attach" | "add" | "install" | "upgrade" | "import"
        | "enable" | "disable" | "modify" | "replace" | "patch" | "edit" | "merge" | "invoke"
        | "publish" | "release" | "send" | "copy" | "build" | "authorize" | "grant"
        | "associate" | "register" | "restore" | "rotate" | "reset" | "expose" | "autoscale"
        | "taint" | "rollback" | "promote" | "debug" | "port" | "port-forward" | "mb"
        | "detach" | "revoke" | "change" | "start-build" | "secrets" | "ssh" | "console"
        | "proxy" | "scp" | "sftp" | "tunnel" | "rename" | "move" | "transfer" | "archive"
        | "unarchive" | "commit" | "save" | "load" | "new" | "up" | "down" | "submit" => Op::Change,
        "delete"
        | "terminate"
        | "destroy"
        | "remove"
        | "purge"
        | "rm"
        | "rb"
        | "uninstall"
        | "drain"
        | "prune"
        | "deregister"
        | "wipe"
        | "erase"
        | "empty"
        | "cleanup"
        | "kill"
        | "del"
        | "un"
        | "unregister"
        | "disassociate"
        | "schedule-key-deletion" => Op::Delete,
        _ => return None,
    })
}

/// Resources whose deletion loses state or hurts others.
const STATEFUL: &[&str] = &[
    "db",
    "database",
    "databases",
    "rds",
    "cluster",
    "clusters",
    "bucket",
    "buckets",
    "rb",
    "namespace",
    "namespaces",
    "ns",
    "project",
    "projects",
    "group",
    "groups",
    "backup",
    "backups",
    "snapshot",
    "snapshots",
    "volume",
    "volumes",
    "pvc",
    "pv",
    "persistentvolumeclaim",
    "persistentvolume",
    "table",
    "tables",
    "stack",
    "stacks",
    "repo",
    "repository",
    "repositories",
    "apps",
    "app",
    "secret",
    "secrets",
    "key",
    "keys",
    "vault",
    "zone",
    "zones",
    "registry",
    "keyspace",
    "filesystem",
    "file-system",
    "efs",
    "topic",
    "queue",
    "statefulset",
    "statefulsets",
    "sts",
    "crd",
    "customresourcedefinition",
    "instance",
    "instances",
    "sql",
    "storage",
    "account",
    "accounts",
    "org",
    "organization",
    "release",
    "workspace",
    "workspaces",
    "disk",
    "disks",
    "droplet",
    "kv",
    "d1",
    "r2",
    "hosted-zone",
    "domain",
    "domains",
    "state",
    "index",
    "collection",
];

/// Flags that turn a deletion into one that cannot be undone or that
/// reaches everything.
const FORCING: &[&str] = &[
    "--skip-final-snapshot",
    "--force",
    "-f",
    "--recursive",
    "-r",
    "--delete-automated-backups",
    "--purge",
    "--all",
    "--all-namespaces",
    "-A",
    "--yes",
    "--cascade",
    "--force-delete-without-recovery",
    "--no-wait",
    "--permanently-delete",
    "--confirm",
];

/// Roles and policies that make someone an owner or administrator.
fn names_admin(arg: &str) -> bool {
    let a = arg.to_ascii_lowercase();
    a.contains("administratoraccess")
        || a.contains("roles/owner")
        || a.contains("roles/editor")
        || a.contains("roles/resourcemanager.projectiamadmin")
        || a.contains("cluster-admin")
        || a.contains("iamfullaccess")
        || a == "owner"
        || a == "--role=owner"
        || a.contains("user access administrator")
        || a.contains("\"action\":\"*\"")
        || a.contains("\"action\": \"*\"")
        || a == "admin"
        || a.ends_with("=admin")
}

/// Rules that open a port or bucket to everyone.
fn opens_to_world(arg: &str) -> bool {
    arg.contains("0.0.0.0/0")
        || arg.contains("::/0")
        || arg == "*"
        || arg.ends_with("=*")
        || arg.eq_ignore_ascii_case("public-read")
        || arg.eq_ignore_ascii_case("public-read-write")
        || arg.ends_with("=public-read")
        || arg.ends_with("=public-read-write")
        || arg.eq_ignore_ascii_case("allUsers")
}

const CLI_READ: &str = "CLI: a read-only operation (list, describe, get)";
const CLI_MODERATE: &str = "CLI: stops, scales or restarts (reversible)";
const CLI_CHANGE: &str = "CLI: creates, updates or deploys resources";
const CLI_DELETE: &str = "CLI: deletes a bounded resource";
const CLI_DELETE_STATEFUL: &str = "CLI: deletes a stateful or shared resource (database, bucket, cluster, namespace, project, backup) or forces the deletion";
const CLI_ADMIN: &str = "CLI: grants owner or administrator rights";
const CLI_WORLD: &str = "CLI: opens access to the whole internet";
const CLI_UNKNOWN: &str = "CLI: an operation the policy does not know: a person decides";

/// The positional words (operations and names), options skipped.
fn positionals<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let t = args[i];
        if t == "--" {
            break;
        }
        if t.len() > 1 && t.starts_with('-') {
            if !t.contains('=') && VALUE_OPTIONS.contains(&t) {
                i += 1;
            }
        } else {
            out.push(t);
        }
        i += 1;
    }
    out
}

/// Judges one invocation of `program` (one of [`CLIS`]) with `args`.
pub(crate) fn judge(program: &str, args: &[&str], out: &mut Findings) {
    let pos = positionals(args);
    if pos.is_empty() {
        out.add(Risk::Low, CLI_READ);
        return;
    }
    let program = program.to_ascii_lowercase();
    // The operation: the first positional that names one. For aws it is the
    // second word (`aws s3 ls`, `aws rds delete-db-instance`); gcloud, az
    // and doctl put it after the resource path.
    let lookahead = if program == "aws" { 2 } else { 5 };
    let mut op = None;
    for (k, w) in pos.iter().enumerate().take(lookahead) {
        if program == "aws" && k == 0 {
            continue;
        }
        if let Some(o) = op_of(w) {
            op = Some((k, o));
            break;
        }
    }
    // terraform: `apply -destroy`, `state rm`, `workspace delete`.
    let has = |flag: &str| args.iter().any(|a| a.eq_ignore_ascii_case(flag));
    let op_kind = match op {
        Some((_, Op::Change)) if has("-destroy") || has("--destroy") => Op::Delete,
        Some((_, o)) => o,
        None => Op::Unknown,
    };
    let words_before_op = op.map_or(pos.len(), |(k, _)| k + 1);
    let stateful = pos.iter().take(words_before_op + 1).any(|w| {
        let lower = w.to_ascii_lowercase();
        lower
            .split(['-', ':', '_', '/'])
            .any(|part| STATEFUL.contains(&part))
    }) || program == "terraform"
        || program == "tofu"
        || program == "terragrunt"
        || program == "pulumi"
        || (program == "aws" && pos.first().is_some_and(|s| *s == "s3") && has("--recursive"));
    let forced = args.iter().any(|a| {
        FORCING.contains(a) || a.starts_with("--skip-final-snapshot") || a.starts_with("--force")
    });

    match op_kind {
        Op::Read => out.add(Risk::Low, CLI_READ),
        Op::Moderate => out.add(Risk::Medium, CLI_MODERATE),
        Op::Change => out.add(Risk::High, CLI_CHANGE),
        Op::Delete if stateful || forced => out.add(Risk::Critical, CLI_DELETE_STATEFUL),
        Op::Delete => out.add(Risk::High, CLI_DELETE),
        Op::Unknown => out.add(Risk::High, CLI_UNKNOWN),
    }
    if op_kind >= Op::Change || op_kind == Op::Unknown {
        if args.iter().any(|a| names_admin(a)) {
            out.add(Risk::Critical, CLI_ADMIN);
        }
        if args.iter().any(|a| opens_to_world(a)) {
            out.add(Risk::Critical, CLI_WORLD);
        }
    }
    // `docker run --privileged`, `--net=host`, `--pid=host`.
    if matches!(program.as_str(), "docker" | "podman" | "nerdctl")
        && args.iter().any(|a| {
            matches!(
                *a,
                "--privileged" | "--net=host" | "--network=host" | "--pid=host" | "--ipc=host"
            ) || a.contains("docker.sock")
        })
    {
        out.add(
            Risk::Critical,
            "CLI: a container with host privileges, network or the Docker socket",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn risk(line: &str) -> Risk {
        let words: Vec<&str> = line.split_whitespace().collect();
        let mut f = Findings::new();
        judge(words[0], &words[1..], &mut f);
        f.risk()
    }

    #[test]
    fn by_operation_and_resource() {
        for (line, want) in [
            ("aws s3 ls", Risk::Low),
            ("aws ec2 describe-instances", Risk::Low),
            ("aws ecs update-service --cluster c", Risk::High),
            (
                "aws rds delete-db-instance --db-instance-identifier x --skip-final-snapshot",
                Risk::Critical,
            ),
            ("aws s3 rm s3://b/k", Risk::High),
            ("aws s3 rm s3://b --recursive", Risk::Critical),
            ("kubectl get pods -n prod", Risk::Low),
            ("kubectl delete pod web-1", Risk::High),
            ("kubectl delete namespace prod", Risk::Critical),
            ("kubectl scale deploy web --replicas=3", Risk::Medium),
            ("gcloud compute instances list", Risk::Low),
            ("gcloud projects delete p", Risk::Critical),
            ("az group delete -n rg", Risk::Critical),
            ("terraform plan", Risk::Low),
            ("terraform destroy", Risk::Critical),
            ("gh repo delete o/r", Risk::Critical),
            ("gh pr list", Risk::Low),
            ("heroku apps:destroy -a x", Risk::Critical),
            ("aws frobnicate-thing", Risk::High),
        ] {
            assert_eq!(risk(line), want, "{line}");
        }
    }
}
