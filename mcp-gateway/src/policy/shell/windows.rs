//! Windows shells: `cmd /c` lines and PowerShell commands, read for
//! deletions, disk and power commands, and download-then-run.

use hitl_wire::Risk;

use super::super::findings::Findings;
use super::super::paths::{self, PathClass};
use super::lexer::Stdin;
use super::words::{Arg, join, stdin_bodies};
use super::{Context, MAX_DEPTH, NESTED_TOO_DEEP, RUNS_DOWNLOADED, TOUCHES_SECRET};

impl Context<'_, '_> {
    /// `powershell [options] -Command ...`, `-EncodedCommand`, `-File`.
    pub(super) fn powershell(&mut self, args: &[Arg<'_>], stdin: &[Stdin<'_>], depth: u8) {
        let mut j = 0;
        while j < args.len() {
            let t = args[j].text.to_ascii_lowercase();
            if matches!(t.as_str(), "-encodedcommand" | "-enc" | "-e" | "-ec") {
                self.add(
                    Risk::Critical,
                    "shell: runs an encoded PowerShell command that cannot be inspected",
                );
                return;
            }
            if matches!(t.as_str(), "-command" | "-c" | "/c") {
                let joined = join(&args[j + 1..]);
                powershell_script(&joined, depth, self.out);
                return;
            }
            if matches!(t.as_str(), "-file" | "-f") {
                self.add(Risk::High, "shell: runs a script file");
                return;
            }
            if !t.starts_with('-') {
                // A bare argument is a command.
                let joined = join(&args[j..]);
                powershell_script(&joined, depth, self.out);
                return;
            }
            if matches!(
                t.as_str(),
                "-executionpolicy"
                    | "-ep"
                    | "-windowstyle"
                    | "-w"
                    | "-version"
                    | "-v"
                    | "-configurationname"
                    | "-workingdirectory"
                    | "-wd"
            ) {
                j += 1;
            }
            j += 1;
        }
        for body in stdin_bodies(&self.heredocs, stdin) {
            powershell_script(body, depth, self.out);
        }
    }
}

/// `cmd /c ...`: Windows commands that destroy data or stop the machine.
pub(super) fn windows_cmd(text: &str, depth: u8, out: &mut Findings) {
    let lower = text.to_ascii_lowercase();
    for part in lower.split(['&', '|']) {
        let words: Vec<&str> = part.split_whitespace().collect();
        let Some(&first) = words.first() else {
            continue;
        };
        let has = |w: &str| words.contains(&w);
        match first {
            "del" | "erase" if has("/s") => {
                out.add(Risk::Critical, "shell: deletes a directory tree (del /s)")
            }
            "rd" | "rmdir" if has("/s") => {
                out.add(Risk::Critical, "shell: deletes a directory tree (rd /s)")
            }
            "format" | "diskpart" => {
                out.add(Risk::Critical, "shell: formats or repartitions a disk")
            }
            "shutdown" => out.add(Risk::Critical, "shell: shuts down or restarts the machine"),
            "bcdedit" => out.add(Risk::Critical, "shell: changes the boot configuration"),
            "vssadmin" | "wmic" if has("delete") => out.add(
                Risk::Critical,
                "shell: deletes shadow copies or system objects",
            ),
            "reg" if has("delete") => out.add(Risk::Critical, "shell: deletes registry keys"),
            "powershell" | "pwsh" | "powershell.exe" | "pwsh.exe" => {
                powershell_script(&words[1..].join(" "), depth + 1, out)
            }
            _ => {}
        }
        for w in &words {
            if paths::classify(w) == PathClass::Secret {
                out.add_path(Risk::Critical, TOUCHES_SECRET);
            }
        }
    }
}

/// A PowerShell command: deletions, disk and power cmdlets, and
/// download-then-run.
pub(super) fn powershell_script(text: &str, depth: u8, out: &mut Findings) {
    if depth > MAX_DEPTH {
        out.add(Risk::Critical, NESTED_TOO_DEEP);
        return;
    }
    let lower = text.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || matches!(c, ';' | '|' | '&' | '(' | ')' | '{' | '}'))
        .filter(|w| !w.is_empty())
        .collect();
    let has = |w: &str| words.contains(&w);
    let deletes = ["remove-item", "rm", "del", "ri", "rd", "rmdir", "erase"]
        .iter()
        .any(|c| has(c));
    if deletes && (has("-recurse") || has("-r")) {
        out.add(
            Risk::Critical,
            "shell: Remove-Item -Recurse deletes a directory tree",
        );
    }
    if [
        "format-volume",
        "clear-disk",
        "initialize-disk",
        "remove-partition",
    ]
    .iter()
    .any(|c| has(c))
    {
        out.add(Risk::Critical, "shell: formats or repartitions a disk");
    }
    if ["stop-computer", "restart-computer"].iter().any(|c| has(c)) {
        out.add(Risk::Critical, "shell: shuts down or restarts the machine");
    }
    let runs = has("iex") || has("invoke-expression");
    let downloads = [
        "iwr",
        "irm",
        "invoke-webrequest",
        "invoke-restmethod",
        "curl",
        "wget",
    ]
    .iter()
    .any(|c| has(c))
        || lower.contains("downloadstring")
        || lower.contains("net.webclient");
    if runs && downloads {
        out.add(Risk::Critical, RUNS_DOWNLOADED);
    }
    for w in &words {
        let w = w.trim_matches(|c| c == '"' || c == '\'');
        if paths::classify(w) == PathClass::Secret {
            out.add_path(Risk::Critical, TOUCHES_SECRET);
        }
    }
}
