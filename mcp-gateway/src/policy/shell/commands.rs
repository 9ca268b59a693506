//! Rules for commands by name: deletions, disks, power, permissions,
//! users, processes, version control, remote shells, downloads, decoders
//! and interpreters. Cloud and container tools are in `cloud`, database
//! clients in `databases`.

use hitl_wire::Risk;

use super::super::code;
use super::super::paths::{self, PathClass};
use super::lexer::Stdin;
use super::words::{
    Arg, has_long, has_short, has_word, operands, option_value, positionals, skip_options,
    stdin_bodies,
};
use super::{Context, Facts, RUNS_DOWNLOADED};

/// Programs that download.
const FETCHERS: &[&str] = &[
    "curl",
    "wget",
    "fetch",
    "http",
    "https",
    "xh",
    "aria2c",
    "iwr",
    "irm",
    "invoke-webrequest",
    "invoke-restmethod",
];

/// Interpreters that run a program read from standard input when given none.
pub(super) const INTERPRETERS: &[&str] = &[
    "python", "python2", "python3", "perl", "ruby", "node", "nodejs", "php", "lua", "deno", "bun",
];

impl Context<'_, '_> {
    /// The rules for the command `name` (lower case, wrappers already
    /// unwrapped).
    pub(super) fn rules(
        &mut self,
        name: &str,
        args: &[Arg<'_>],
        stdin: &[Stdin<'_>],
        stdin_redirected: bool,
        depth: u8,
    ) -> Facts {
        if let Some(facts) = self.cloud(name, args, stdin, stdin_redirected, depth) {
            return facts;
        }
        if self.database(name, args, stdin) {
            return Facts::default();
        }
        let mut facts = Facts::default();
        match name {
            "find" => {
                if has_word(args, "-delete") {
                    self.add(Risk::Critical, "shell: find -delete removes every match");
                }
                let mut j = 0;
                while j < args.len() {
                    if matches!(args[j].text, "-exec" | "-execdir" | "-ok" | "-okdir") {
                        let end = args[j + 1..]
                            .iter()
                            .position(|a| a.text == ";" || a.text == "+")
                            .map_or(args.len(), |p| j + 1 + p);
                        let f = self.command(&args[j + 1..end], &[], true, depth);
                        facts.fetches |= f.fetches;
                        j = end;
                    }
                    j += 1;
                }
            }
            "git" => self.git(args),
            "rm" => {
                if has_short(args, b"rR") || has_long(args, "recursive") {
                    self.add(Risk::Critical, "shell: rm -r deletes a directory tree");
                }
                if has_long(args, "no-preserve-root") {
                    self.add(Risk::Critical, "shell: rm --no-preserve-root");
                }
            }
            "shred" | "wipefs" | "srm" | "wipe" => {
                self.add(Risk::Critical, "shell: destroys data beyond recovery")
            }
            n if n.starts_with("mkfs") || n.starts_with("newfs") => {
                self.add(Risk::Critical, "shell: formats a file system")
            }
            "mke2fs" | "mkswap" | "mkntfs" | "mkdosfs" | "format" => {
                self.add(Risk::Critical, "shell: formats a file system")
            }
            "fdisk" | "sfdisk" | "gdisk" | "sgdisk" | "cfdisk" | "parted" => {
                let listing = !args.is_empty()
                    && args
                        .iter()
                        .all(|a| matches!(a.text, "-l" | "--list" | "-s" | "--print"))
                    || has_word(args, "print");
                if !listing {
                    self.add(Risk::Critical, "shell: changes disk partitions");
                }
            }
            "diskutil"
                if args.iter().any(|a| {
                    let t = a.text.to_ascii_lowercase();
                    t.starts_with("erase")
                        || t == "partitiondisk"
                        || t == "zerodisk"
                        || t == "secureerase"
                        || t == "reformat"
                }) =>
            {
                self.add(Risk::Critical, "shell: erases a disk");
            }
            "dd" if args.iter().any(|a| a.text.starts_with("of=")) => {
                self.add(
                    Risk::Critical,
                    "shell: dd writes raw data over a file or device",
                );
            }
            "shutdown" | "reboot" | "halt" | "poweroff" | "killall5" => {
                self.add(Risk::Critical, "shell: shuts down or restarts the machine")
            }
            "init" | "telinit" if args.iter().any(|a| a.text == "0" || a.text == "6") => {
                self.add(Risk::Critical, "shell: shuts down or restarts the machine");
            }
            "systemctl" => {
                let pos = positionals(
                    args,
                    &[
                        "-H",
                        "--host",
                        "-M",
                        "--machine",
                        "-t",
                        "--type",
                        "-p",
                        "--property",
                    ],
                );
                if pos.first().is_some_and(|a| {
                    matches!(
                        a.text,
                        "poweroff"
                            | "reboot"
                            | "halt"
                            | "kexec"
                            | "rescue"
                            | "emergency"
                            | "soft-reboot"
                    )
                }) {
                    self.add(Risk::Critical, "shell: shuts down or restarts the machine");
                }
            }
            "chmod" | "chown" | "chgrp" | "setfacl" | "chattr" => {
                let recursive = has_short(args, b"R") || has_long(args, "recursive");
                if recursive && operands(args).any(|a| is_wide_target(a.text)) {
                    self.add(
                        Risk::Critical,
                        "shell: recursively changes permissions or ownership of system or home directories",
                    );
                }
                if operands(args).any(|a| paths::is_root_or_home(a.text)) {
                    self.add(
                        Risk::Critical,
                        "shell: changes permissions of the root or a home directory",
                    );
                }
            }
            "mv" => {
                if operands(args).last().is_some_and(|a| a.text == "/dev/null") {
                    self.add(Risk::Critical, "shell: moves files into /dev/null");
                }
                if operands(args).any(|a| paths::is_root_or_home(a.text)) {
                    self.add(Risk::Critical, "shell: moves the root or a home directory");
                }
            }
            "crontab" if has_short(args, b"r") => {
                self.add(Risk::Critical, "shell: crontab -r deletes every cron job");
            }
            "userdel" | "deluser" | "groupdel" | "delgroup" => {
                self.add(Risk::Critical, "shell: deletes a user account")
            }
            "kill" => {
                // `kill -9 -1` signals every process the user may signal.
                let start = if args.first().is_some_and(|a| a.text.starts_with('-')) {
                    1
                } else {
                    0
                };
                let start = if args
                    .first()
                    .is_some_and(|a| matches!(a.text, "-s" | "-n" | "--signal"))
                {
                    2
                } else {
                    start
                };
                if args.iter().skip(start).any(|a| a.text == "-1") {
                    self.add(Risk::Critical, "shell: kill -1 signals every process");
                }
            }
            "nc" | "ncat" | "netcat" if has_short(args, b"ec") => {
                self.add(Risk::Critical, "shell: nc -e opens a remote shell");
            }
            "socat"
                if args.iter().any(|a| {
                    let t = a.text.to_ascii_lowercase();
                    t.contains("exec:") || t.contains("system:")
                }) =>
            {
                self.add(
                    Risk::Critical,
                    "shell: socat runs a program for a remote peer",
                );
            }
            n if FETCHERS.contains(&n) => {
                facts.fetches = true;
                self.fetches = true;
            }
            n if decodes(n, args) => {
                facts.decodes = true;
                self.decodes = true;
            }
            n if INTERPRETERS.contains(&n) || is_versioned_interpreter(n) => {
                let code = option_value(args, &["-c", "-e", "-m", "-r"], &["--eval", "--command"]);
                if let Some(code) = code {
                    code::analyse(code, self.out);
                }
                for body in stdin_bodies(&self.heredocs, stdin) {
                    code::analyse(body, self.out);
                }
                let script = operands(args).next();
                let reads_stdin =
                    code.is_none() && (script.is_none() || script.is_some_and(|s| s.text == "-"));
                if reads_stdin && !stdin_redirected && stdin.is_empty() {
                    self.runs_stdin = true;
                }
                if script.is_some_and(|s| self.subs_fetch(s)) {
                    self.add(Risk::Critical, RUNS_DOWNLOADED);
                }
            }
            _ => {}
        }
        facts
    }

    fn git(&mut self, args: &[Arg<'_>]) {
        let start = skip_options(
            args,
            &[
                "-C",
                "-c",
                "--git-dir",
                "--work-tree",
                "--namespace",
                "--exec-path",
                "--config-env",
            ],
        );
        let Some(sub) = args.get(start) else {
            return;
        };
        let rest = &args[start + 1..];
        match sub.text {
            "push" => {
                let force = has_short(rest, b"f")
                    || has_long(rest, "force")
                    || has_long(rest, "force-with-lease")
                    || has_long(rest, "force-if-includes")
                    || has_long(rest, "mirror")
                    || operands(rest).any(|a| a.text.starts_with('+'));
                if force {
                    self.add(
                        Risk::Critical,
                        "shell: git push --force rewrites remote history",
                    );
                }
                let delete = has_short(rest, b"d")
                    || has_long(rest, "delete")
                    || has_long(rest, "prune")
                    || operands(rest).any(|a| a.text.starts_with(':'));
                if delete {
                    self.add(
                        Risk::Critical,
                        "shell: git push deletes remote branches or tags",
                    );
                }
            }
            "reset" if has_long(rest, "hard") => {
                self.add(
                    Risk::Critical,
                    "shell: git reset --hard discards uncommitted work",
                );
            }
            "clean" if (has_short(rest, b"f") || has_long(rest, "force")) => {
                self.add(
                    Risk::Critical,
                    "shell: git clean -f deletes untracked files",
                );
            }
            "filter-branch" | "filter-repo" => {
                self.add(Risk::Critical, "shell: rewrites the repository's history")
            }
            _ => {}
        }
    }
}

/// Whether a command writes to its operands (so system paths among them
/// are writes rather than reads).
pub(super) fn writes_operands(name: &str, args: &[Arg<'_>]) -> bool {
    match name {
        "rm" | "rmdir" | "unlink" | "mv" | "cp" | "install" | "ln" | "tee" | "touch"
        | "truncate" | "mkdir" | "chmod" | "chown" | "chgrp" | "chattr" | "setfacl" | "shred"
        | "dd" | "rsync" | "scp" | "mkfs" | "mknod" | "mkfifo" | "patch" | "useradd"
        | "usermod" | "visudo" | "sudoedit" | "crontab" => true,
        "sed" | "perl" => has_short(args, b"i") || has_long(args, "in-place"),
        "curl" | "wget" => {
            has_short(args, b"oO") || has_long(args, "output") || has_long(args, "output-document")
        }
        _ => false,
    }
}

/// The root, a home directory, or a system path: too wide a target for a
/// recursive permission change.
fn is_wide_target(path: &str) -> bool {
    paths::is_root_or_home(path) || paths::classify(path) != PathClass::Ordinary
}

/// Whether a command decodes text into something that may be run:
/// `base64 -d`, `xxd -r`, `openssl enc -d`, `uudecode`, `rev`.
fn decodes(name: &str, args: &[Arg<'_>]) -> bool {
    match name {
        "base64" | "base32" | "basenc" | "gbase64" => {
            has_short(args, b"dD") || has_long(args, "decode")
        }
        "xxd" => has_short(args, b"r"),
        "openssl" => has_word(args, "-d") || has_word(args, "-base64") && has_word(args, "-d"),
        "uudecode" | "rev" | "zcat" | "gunzip" | "bzcat" | "xzcat" => true,
        "gzip" | "bzip2" | "xz" => has_short(args, b"d") || has_long(args, "decompress"),
        _ => false,
    }
}

/// `python3.12`, `ruby3.2`, `node20`: an interpreter with its version.
fn is_versioned_interpreter(name: &str) -> bool {
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    base != name && INTERPRETERS.contains(&base)
}
