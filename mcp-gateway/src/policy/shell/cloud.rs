//! Rules for cloud, cluster and container command lines run from a shell
//! (`docker`, `kubectl`, `helm`, `terraform`, `aws`, `gcloud`...): what
//! deletes infrastructure or data, and the commands they run inside
//! containers. Service-by-operation judgement of the cloud CLIs is in
//! `policy/cli.rs`; this adds what only a shell line shows.

use hitl_wire::Risk;

use super::super::paths::{self, PathClass};
use super::lexer::Stdin;
use super::words::{Arg, has_long, has_short, has_word, positionals, skip_options};
use super::{Context, Facts};

impl Context<'_, '_> {
    /// The rules for a cloud or container command; `None` when `name` is
    /// not one.
    pub(super) fn cloud(
        &mut self,
        name: &str,
        args: &[Arg<'_>],
        stdin: &[Stdin<'_>],
        stdin_redirected: bool,
        depth: u8,
    ) -> Option<Facts> {
        match name {
            "docker" | "podman" | "nerdctl" => self.docker(args, depth),
            "kubectl" | "oc" => {
                let pos = positionals(
                    args,
                    &[
                        "-n",
                        "--namespace",
                        "--context",
                        "--cluster",
                        "--user",
                        "--kubeconfig",
                        "-s",
                        "--server",
                        "--token",
                        "--as",
                        "--as-group",
                        "-l",
                        "--selector",
                        "-f",
                        "--filename",
                        "-o",
                        "--output",
                        "-c",
                        "--container",
                    ],
                );
                match pos.first().map(|a| a.text) {
                    Some("delete") => self.add(
                        Risk::Critical,
                        "shell: kubectl delete removes cluster resources",
                    ),
                    Some("drain") => self.add(
                        Risk::Critical,
                        "shell: kubectl drain evicts every pod on a node",
                    ),
                    Some("replace") if has_long(args, "force") => self.add(
                        Risk::Critical,
                        "shell: kubectl replace --force deletes and recreates resources",
                    ),
                    Some("exec") => {
                        if let Some(p) = args.iter().position(|a| a.text == "--") {
                            return Some(self.command(
                                &args[p + 1..],
                                stdin,
                                stdin_redirected,
                                depth,
                            ));
                        }
                    }
                    _ => {}
                }
            }
            "helm" => {
                let pos = positionals(
                    args,
                    &["-n", "--namespace", "--kube-context", "--kubeconfig"],
                );
                if pos
                    .first()
                    .is_some_and(|a| matches!(a.text, "uninstall" | "delete" | "del" | "un"))
                {
                    self.add(Risk::Critical, "shell: helm uninstall removes a release");
                }
            }
            "terraform" | "tofu" | "terragrunt" | "opentofu" => {
                let pos = positionals(args, &[]);
                let sub = pos.first().map(|a| a.text);
                let destroy = match sub {
                    Some("destroy") => true,
                    Some("apply") | Some("plan") => {
                        has_word(args, "-destroy") || has_word(args, "--destroy")
                    }
                    Some("run-all") => pos.get(1).is_some_and(|a| a.text == "destroy"),
                    _ => false,
                };
                if destroy {
                    self.add(
                        Risk::Critical,
                        "shell: terraform destroy deletes infrastructure",
                    );
                }
                if sub == Some("state") && pos.get(1).is_some_and(|a| a.text == "rm") {
                    self.add(
                        Risk::Critical,
                        "shell: terraform state rm forgets managed resources",
                    );
                }
                if sub == Some("workspace") && pos.get(1).is_some_and(|a| a.text == "delete") {
                    self.add(
                        Risk::Critical,
                        "shell: terraform workspace delete drops a state",
                    );
                }
            }
            "pulumi" | "cdk" | "cdktf" | "fly" | "flyctl" | "doctl" | "serverless" | "sls"
            | "heroku" => {
                let pos = positionals(args, &["-s", "--stack", "-a", "--app", "--context"]);
                if pos.iter().any(|a| {
                    matches!(
                        a.text,
                        "destroy" | "remove" | "delete" | "apps:destroy" | "pg:reset"
                    )
                }) {
                    self.add(Risk::Critical, "shell: destroys cloud resources");
                }
            }
            "gcloud" | "az" => {
                let pos = positionals(
                    args,
                    &[
                        "--project",
                        "--account",
                        "--subscription",
                        "-g",
                        "--resource-group",
                        "-n",
                        "--name",
                        "--zone",
                        "--region",
                        "--configuration",
                    ],
                );
                if pos.iter().any(|a| a.text == "delete" || a.text == "purge") {
                    self.add(Risk::Critical, "shell: deletes cloud resources");
                }
            }
            "aws" => {
                let pos = positionals(
                    args,
                    &[
                        "--profile",
                        "--region",
                        "--output",
                        "--endpoint-url",
                        "--query",
                        "--cli-input-json",
                        "--ca-bundle",
                        "--color",
                        "--cli-read-timeout",
                        "--cli-connect-timeout",
                    ],
                );
                let service = pos.first().map(|a| a.text);
                let op = pos.get(1).map(|a| a.text).unwrap_or("");
                let destructive = op.starts_with("delete-")
                    || op.starts_with("terminate-")
                    || op == "rb"
                    || (service == Some("s3") && op == "rm" && has_long(args, "recursive"));
                if destructive {
                    self.add(Risk::Critical, "shell: deletes cloud resources");
                }
            }
            "gsutil" => {
                let pos = positionals(args, &["-o", "-h", "-p"]);
                let sub = pos.first().map(|a| a.text);
                if sub == Some("rb")
                    || (sub == Some("rm")
                        && (has_short(args, b"rRa") || has_long(args, "recursive")))
                {
                    self.add(Risk::Critical, "shell: deletes cloud storage");
                }
            }
            _ => return None,
        }
        Some(Facts::default())
    }

    fn docker(&mut self, args: &[Arg<'_>], depth: u8) {
        let global = [
            "--context",
            "-c",
            "-H",
            "--host",
            "--config",
            "-l",
            "--log-level",
            "--tlscacert",
            "--tlscert",
            "--tlskey",
        ];
        let start = skip_options(args, &global);
        let Some(sub) = args.get(start) else {
            return;
        };
        let rest = &args[start + 1..];
        match sub.text {
            "exec" => {
                let at = skip_options(
                    rest,
                    &[
                        "-e",
                        "--env",
                        "--env-file",
                        "-u",
                        "--user",
                        "-w",
                        "--workdir",
                        "--detach-keys",
                    ],
                );
                // The container name, then the command.
                if at + 1 < rest.len() {
                    self.command(&rest[at + 1..], &[], true, depth);
                }
            }
            "run" | "create" => {
                let mut j = 0;
                while j < rest.len() {
                    let t = rest[j].text;
                    let mount = if matches!(t, "-v" | "--volume" | "--mount") {
                        rest.get(j + 1).map(|a| a.text)
                    } else {
                        t.strip_prefix("--volume=")
                            .or_else(|| t.strip_prefix("--mount="))
                    };
                    if let Some(m) = mount {
                        let source = m
                            .split(',')
                            .find_map(|kv| {
                                kv.strip_prefix("source=")
                                    .or_else(|| kv.strip_prefix("src="))
                            })
                            .unwrap_or_else(|| m.split(':').next().unwrap_or(m));
                        if paths::is_root_or_home(source)
                            || paths::classify(source) != PathClass::Ordinary
                        {
                            self.add(
                                Risk::Critical,
                                "shell: mounts a system, home or credentials directory into a container",
                            );
                        }
                    }
                    j += 1;
                }
            }
            "system" | "volume" | "container" | "image" | "network" | "builder" => {
                let op = positionals(rest, &["-f", "--filter"])
                    .first()
                    .map(|a| a.text);
                let data_loss = matches!(
                    (sub.text, op),
                    ("system", Some("prune")) | ("volume", Some("rm" | "prune" | "remove"))
                );
                if data_loss {
                    self.add(Risk::Critical, "shell: deletes container data volumes");
                }
            }
            "compose" => {
                let pos = positionals(
                    rest,
                    &[
                        "-f",
                        "--file",
                        "-p",
                        "--project-name",
                        "--profile",
                        "--env-file",
                    ],
                );
                if pos.first().is_some_and(|a| a.text == "down")
                    && (has_short(rest, b"v") || has_long(rest, "volumes"))
                {
                    self.add(Risk::Critical, "shell: deletes container data volumes");
                }
            }
            _ => {}
        }
    }
}
