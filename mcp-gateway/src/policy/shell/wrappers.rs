//! Commands that run another command or a script: the wrappers (`sudo`,
//! `env`, `timeout`, `xargs`, `nice`...) as a table of how each finds the
//! command it runs, and the shells, `eval`, `source`, `ssh` and the Windows
//! shells that take a script as text.

use hitl_wire::Risk;

use super::lexer::Stdin;
use super::words::{
    Arg, has_long, has_short, is_assignment, join, option_value, skip_options, stdin_bodies,
};
use super::{Context, Facts, analyse_at, windows};

/// How a wrapper finds the command it runs and what running it means.
pub(super) struct Wrapper {
    names: &'static [&'static str],
    /// Its own options that take a value (`sudo -u USER`).
    value_opts: &'static [&'static str],
    /// Operands of its own before the command (`timeout DURATION`,
    /// `chroot DIR`, `flock FILE`).
    leading: usize,
    /// Options whose value is a whole script (`su -c`, `env -S`), short
    /// forms then long forms.
    script_opt: (&'static [&'static str], &'static [&'static str]),
    /// What running through it means in itself (`sudo`: as root).
    finding: Option<(Risk, &'static str)>,
    /// Short options with which it runs nothing (`command -v`).
    inert_with: &'static [u8],
    /// Assignments after its options belong to it (`env A=1 cmd`).
    assignments: bool,
    /// `-e`/`--edit` among its options: the operands are files it
    /// writes, not a command (`sudo -e`).
    edits: bool,
    runs: Runs,
    /// What it does when no command follows.
    bare: Bare,
}

enum Runs {
    /// The words after it are a command that reads its standard input.
    Command,
    /// The words after it are a command run with other input (`xargs`).
    CommandNoStdin,
    /// The words after it are joined into a script the shell parses again
    /// (`ssh host CMD`, `watch CMD`), unless one of these short options
    /// makes them a command (`watch -x`).
    Script { command_with: &'static [u8] },
    /// Only its script option runs anything (`su`).
    Nothing,
}

enum Bare {
    Nothing,
    /// Opens a shell that reads commands from standard input, when any of
    /// the short options is set (always when none is named).
    Shell(&'static str, &'static [u8]),
    /// Does something on its own.
    Finding(Risk, &'static str),
    /// Runs the here-documents it is given as scripts (`ssh host <<EOF`).
    StdinScripts,
}

const NONE: (&[&str], &[&str]) = (&[], &[]);

/// A wrapper with no options of note, running the words after it.
const PLAIN: Wrapper = Wrapper {
    names: &[],
    value_opts: &[],
    leading: 0,
    script_opt: NONE,
    finding: None,
    inert_with: b"",
    assignments: false,
    edits: false,
    runs: Runs::Command,
    bare: Bare::Nothing,
};

/// Options of `nohup`, `nice`, `ionice`, `stdbuf`, `chrt`... that take a
/// value.
const SCHEDULER_OPTS: &[&str] = &[
    "-n",
    "-c",
    "-a",
    "-i",
    "-o",
    "-e",
    "-t",
    "-w",
    "-f",
    "--adjustment",
    "--class",
    "--classdata",
    "--input",
    "--output",
    "--error",
];

const WRAPPERS: &[Wrapper] = &[
    Wrapper {
        names: &["sudo", "doas", "run0", "pkexec"],
        value_opts: &[
            "-u",
            "-g",
            "-h",
            "-p",
            "-C",
            "-D",
            "-R",
            "-T",
            "-U",
            "-r",
            "-t",
            "--user",
            "--group",
            "--host",
            "--prompt",
            "--chdir",
            "--chroot",
            "--role",
            "--type",
            "--other-user",
            "--close-from",
            "--command-timeout",
        ],
        finding: Some((Risk::High, "shell: runs a command as root (sudo)")),
        edits: true,
        bare: Bare::Shell("shell: opens a root shell", b"si"),
        ..PLAIN
    },
    Wrapper {
        names: &["su"],
        script_opt: (&["-c"], &["--command"]),
        runs: Runs::Nothing,
        bare: Bare::Shell("shell: opens a shell as another user", b""),
        ..PLAIN
    },
    Wrapper {
        names: &["runuser"],
        value_opts: &["-u", "-g", "-G", "--user", "--group"],
        script_opt: (&["-c"], &["--command"]),
        bare: Bare::Shell("shell: opens a shell as another user", b""),
        ..PLAIN
    },
    Wrapper {
        names: &["env"],
        value_opts: &["-u", "--unset", "-C", "--chdir", "-P"],
        script_opt: (&["-S"], &["--split-string"]),
        assignments: true,
        ..PLAIN
    },
    Wrapper {
        names: &[
            "nohup",
            "exec",
            "builtin",
            "time",
            "unbuffer",
            "setsid",
            "nice",
            "ionice",
            "stdbuf",
            "caffeinate",
            "busybox",
            "toybox",
        ],
        value_opts: SCHEDULER_OPTS,
        ..PLAIN
    },
    // `chrt` takes a priority before the command.
    Wrapper {
        names: &["chrt"],
        value_opts: SCHEDULER_OPTS,
        leading: 1,
        ..PLAIN
    },
    Wrapper {
        names: &["command"],
        inert_with: b"vV",
        ..PLAIN
    },
    // The duration comes first.
    Wrapper {
        names: &["timeout"],
        value_opts: &["-s", "--signal", "-k", "--kill-after"],
        leading: 1,
        ..PLAIN
    },
    // The CPU mask or list comes first; `-p` changes a running process.
    Wrapper {
        names: &["taskset"],
        leading: 1,
        inert_with: b"p",
        ..PLAIN
    },
    Wrapper {
        names: &["chroot"],
        value_opts: &["--userspec", "--groups"],
        leading: 1,
        bare: Bare::Finding(Risk::High, "shell: opens a shell in another root"),
        ..PLAIN
    },
    Wrapper {
        names: &["flock"],
        value_opts: &["-w", "--timeout", "-E", "--conflict-exit-code"],
        leading: 1,
        script_opt: (&["-c"], &["--command"]),
        ..PLAIN
    },
    Wrapper {
        names: &["watch"],
        value_opts: &["-n", "--interval", "-q", "--equexit"],
        runs: Runs::Script { command_with: b"x" },
        ..PLAIN
    },
    Wrapper {
        names: &["xargs"],
        value_opts: &[
            "-a",
            "-d",
            "-E",
            "-e",
            "-I",
            "-i",
            "-L",
            "-l",
            "-n",
            "-P",
            "-s",
            "--arg-file",
            "--delimiter",
            "--eof",
            "--replace",
            "--max-lines",
            "--max-args",
            "--max-procs",
            "--max-chars",
            "--process-slot-var",
        ],
        runs: Runs::CommandNoStdin,
        ..PLAIN
    },
    // The host comes first, then the remote command.
    Wrapper {
        names: &["ssh"],
        value_opts: &[
            "-b", "-c", "-D", "-E", "-e", "-F", "-I", "-i", "-J", "-L", "-l", "-m", "-O", "-o",
            "-p", "-Q", "-R", "-S", "-W", "-w", "-B",
        ],
        leading: 1,
        runs: Runs::Script { command_with: b"" },
        bare: Bare::StdinScripts,
        ..PLAIN
    },
];

/// The wrapper a command name (lower case) names, if any.
pub(super) fn find(name: &str) -> Option<&'static Wrapper> {
    WRAPPERS.iter().find(|w| w.names.contains(&name))
}

impl Context<'_, '_> {
    /// Runs what a wrapper wraps.
    pub(super) fn unwrap(
        &mut self,
        w: &Wrapper,
        args: &[Arg<'_>],
        stdin: &[Stdin<'_>],
        stdin_redirected: bool,
        depth: u8,
    ) -> Facts {
        if let Some((risk, reason)) = w.finding {
            self.add(risk, reason);
        }
        let (short, long) = w.script_opt;
        if !(short.is_empty() && long.is_empty())
            && let Some(script) = option_value(args, short, long)
        {
            return analyse_at(script, depth + 1, self.out);
        }
        let mut start = skip_options(args, w.value_opts);
        if w.assignments {
            while start < args.len() && is_assignment(args[start].text) {
                start += 1;
            }
        }
        let own = &args[..start];
        // Only its own options count: `command rm -rf / -v` still runs rm.
        if !w.inert_with.is_empty() && has_short(own, w.inert_with) {
            return Facts::default();
        }
        if w.edits && (has_short(own, b"e") || has_long(own, "edit")) {
            for a in &args[start..] {
                self.check_path(a.text, true);
            }
            return Facts::default();
        }
        let at = start + w.leading;
        if at < args.len() {
            let rest = &args[at..];
            match w.runs {
                Runs::Command => return self.command(rest, stdin, stdin_redirected, depth),
                Runs::CommandNoStdin => return self.command(rest, &[], true, depth),
                Runs::Script { command_with }
                    if !command_with.is_empty() && has_short(own, command_with) =>
                {
                    return self.command(rest, stdin, stdin_redirected, depth);
                }
                Runs::Script { .. } => return analyse_at(&join(rest), depth + 1, self.out),
                Runs::Nothing => {}
            }
        }
        match w.bare {
            Bare::Nothing => {}
            Bare::Shell(reason, flags) => {
                if flags.is_empty() || has_short(args, flags) {
                    self.add(Risk::High, reason);
                    self.runs_stdin |= !stdin_redirected;
                }
            }
            Bare::Finding(risk, reason) => self.add(risk, reason),
            Bare::StdinScripts => {
                for body in stdin_bodies(&self.heredocs, stdin) {
                    analyse_at(body, depth + 1, self.out);
                }
            }
        }
        Facts::default()
    }

    /// Commands that run a script given as text or a file: the shells,
    /// `eval`, `source`, `cmd /c` and PowerShell. `None` for any other.
    pub(super) fn script_runner(
        &mut self,
        name: &str,
        args: &[Arg<'_>],
        stdin: &[Stdin<'_>],
        stdin_redirected: bool,
        depth: u8,
    ) -> Option<Facts> {
        match name {
            "eval" => {
                let joined = join(args);
                for a in args {
                    if self.runs_hidden(a) {
                        break;
                    }
                }
                Some(analyse_at(&joined, depth + 1, self.out))
            }
            "source" | "." => {
                for a in args {
                    if self.runs_hidden(a) {
                        break;
                    }
                }
                if args
                    .first()
                    .is_some_and(|a| a.text == "/dev/stdin" || a.text == "-")
                {
                    self.runs_stdin |= !stdin_redirected;
                }
                Some(Facts::default())
            }
            n if SHELLS.contains(&n) => {
                self.shell(args, stdin, stdin_redirected, depth + 1);
                Some(Facts::default())
            }
            "cmd" => {
                if let Some(pos) = args.iter().position(|a| {
                    a.text.eq_ignore_ascii_case("/c") || a.text.eq_ignore_ascii_case("/k")
                }) {
                    let joined = join(&args[pos + 1..]);
                    windows::windows_cmd(&joined, depth + 1, self.out);
                }
                Some(Facts::default())
            }
            "powershell" | "pwsh" => {
                self.powershell(args, stdin, depth + 1);
                Some(Facts::default())
            }
            _ => None,
        }
    }

    /// `sh -c SCRIPT`, `bash script.sh`, `bash -s < file`, `bash <<EOF`.
    fn shell(&mut self, args: &[Arg<'_>], stdin: &[Stdin<'_>], stdin_redirected: bool, depth: u8) {
        let mut j = 0;
        let mut command_mode = false;
        let mut reads_stdin_flag = false;
        while j < args.len() {
            let t = args[j].text;
            if t == "--" || t == "-" {
                j += 1;
                break;
            }
            if t.starts_with("--") {
                if matches!(t, "--rcfile" | "--init-file") {
                    j += 1;
                }
                j += 1;
                continue;
            }
            if (t.starts_with('-') || t.starts_with('+')) && t.len() > 1 {
                let letters = &t[1..];
                if letters.contains('c') {
                    command_mode = true;
                }
                if letters.contains('s') {
                    reads_stdin_flag = true;
                }
                if letters.contains('o') || letters.contains('O') {
                    j += 1;
                }
                j += 1;
                continue;
            }
            break;
        }
        let operand = args.get(j);
        if command_mode {
            if let Some(script) = operand {
                self.runs_hidden(script);
                analyse_at(script.text, depth, self.out);
            }
            return;
        }
        match operand {
            Some(script) if !reads_stdin_flag => {
                if !self.runs_hidden(script) {
                    self.add(Risk::High, "shell: runs a script file");
                }
            }
            _ => {
                let bodies = stdin_bodies(&self.heredocs, stdin);
                if bodies.is_empty() {
                    if !stdin_redirected {
                        self.runs_stdin = true;
                    }
                } else {
                    for body in bodies {
                        analyse_at(body, depth, self.out);
                    }
                }
            }
        }
    }
}

/// Shells that take `-c STRING`.
const SHELLS: &[&str] = &[
    "sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "tcsh", "csh", "rbash", "yash",
];
