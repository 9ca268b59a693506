//! Shell command analysis. A command line is tokenized the way a POSIX
//! shell would (quotes, escapes, `;`, `&&`, `||`, `|`, `&`, newlines,
//! redirections, here-documents, `$( )`, backticks, process substitution),
//! split into simple commands, and each command is looked at by name after
//! unwrapping what merely runs another command (`sudo`, `env`, `nohup`,
//! `timeout`, `xargs`, `bash -c "..."`, `ssh host "..."`, `find -exec`...).
//!
//! The analysis only ever raises the risk: it reports destructive commands,
//! code fetched from the network and run, and writes to system or secret
//! paths. Whatever it cannot see into stays at the shell baseline (high),
//! which the caller adds.
//!
//! Modules: `lexer` splits the text, `words` answers questions about a
//! command's words, `wrappers` is the table of commands that run another
//! command (and the shells and `eval` that run a script), `commands` holds
//! the rules for commands by name, `windows` reads `cmd` and PowerShell.

mod cloud;
mod commands;
mod databases;
mod lexer;
mod windows;
mod words;
mod wrappers;

use hitl_wire::Risk;

use super::cli;
use super::findings::Findings;
use super::paths::{self, PathClass};
use commands::writes_operands;
use lexer::{Lexer, Redir, Stdin, Tok};
use words::{Arg, Name, is_assignment, operands};

/// Nested scripts (`bash -c "$(...)"`...) followed before giving up.
const MAX_DEPTH: u8 = 8;

const NESTED_TOO_DEEP: &str = "shell: commands nested too deeply to analyse";
const RUNS_DOWNLOADED: &str = "shell: runs code downloaded from the network";
const DYNAMIC_COMMAND: &str = "shell: the command name is computed at run time";
const WRITES_SYSTEM: &str = "shell: writes to a system file or directory";
const TOUCHES_SECRET: &str = "shell: reads or writes a credentials or key file";
const FORK_BOMB: &str = "shell: fork bomb";
const RUNS_DECODED: &str = "shell: runs code that is decoded at run time and cannot be inspected";
const DYNAMIC_WIDE: &str =
    "shell: a command computed at run time is pointed at the root or a home directory";

/// Wrappers (`sudo`, `env`, `timeout`...) unwrapped in one command before
/// giving up.
const MAX_UNWRAPS: u32 = 32;

/// Analyses a shell command line.
pub(crate) fn analyse(script: &str, out: &mut Findings) {
    analyse_at(script, 0, out);
}

/// Analyses a PowerShell command line.
pub(crate) fn analyse_powershell(script: &str, out: &mut Findings) {
    windows::powershell_script(script, 0, out);
}

/// Analyses a command given as separate words (`["rm", "-rf", "/"]`).
pub(crate) fn analyse_argv(argv: &[&str], out: &mut Findings) {
    let args: Vec<Arg<'_>> = argv.iter().map(|w| Arg::plain(w)).collect();
    let mut cx = Context::new(out);
    cx.simple_command(&args, &[], &[], 0);
    cx.finish();
}

/// Facts about a script that matter to the command that runs it.
#[derive(Clone, Copy, Default, Debug)]
struct Facts {
    /// Something in it downloads from the network.
    fetches: bool,
    /// Something in it decodes hidden text (`base64 -d`, `xxd -r`).
    decodes: bool,
}

fn analyse_at(script: &str, depth: u8, out: &mut Findings) -> Facts {
    if depth > MAX_DEPTH {
        out.add(Risk::Critical, NESTED_TOO_DEEP);
        return Facts::default();
    }
    if is_fork_bomb(script) {
        out.add(Risk::Critical, FORK_BOMB);
    }
    let mut lexer = Lexer::new(script);
    let tokens = lexer.run();
    let sub_facts: Vec<Facts> = lexer
        .subs
        .iter()
        .map(|sub| analyse_at(sub, depth + 1, out))
        .collect();
    for body in &lexer.unquoted_heredocs {
        // An unquoted here-document still expands `$( )` and backticks.
        let mut inner = Lexer::new(body);
        inner.scan_substitutions_only();
        for sub in &inner.subs {
            analyse_at(sub, depth + 1, out);
        }
    }

    let mut cx = Context::new(out);
    cx.sub_facts = sub_facts;
    cx.heredocs = lexer.heredoc_bodies;
    let mut facts = Facts::default();
    let mut words: Vec<Arg<'_>> = Vec::new();
    let mut redirects: Vec<(Redir, Arg<'_>)> = Vec::new();
    let mut stdin: Vec<Stdin<'_>> = Vec::new();
    let mut i = 0;
    while i <= tokens.len() {
        match tokens.get(i) {
            Some(Tok::Word(w)) => words.push(Arg::from_word(w)),
            Some(Tok::Redirect(kind)) => {
                if let Some(Tok::Word(target)) = tokens.get(i + 1) {
                    let target = Arg::from_word(target);
                    match kind {
                        Redir::HereString => stdin.push(Stdin::Text(target.text)),
                        _ => redirects.push((*kind, target)),
                    }
                    i += 1;
                }
            }
            Some(Tok::HereDoc(idx)) => stdin.push(Stdin::HereDoc(*idx)),
            Some(Tok::Op) | None => {
                if !words.is_empty() || !redirects.is_empty() {
                    let f = cx.simple_command(&words, &redirects, &stdin, depth);
                    facts.fetches |= f.fetches;
                    facts.decodes |= f.decodes;
                }
                words.clear();
                redirects.clear();
                stdin.clear();
            }
        }
        i += 1;
    }
    cx.finish();
    facts.fetches |= cx.sub_facts.iter().any(|f| f.fetches);
    facts.decodes |= cx.sub_facts.iter().any(|f| f.decodes);
    facts
}

/// `:(){ :|:& };:` and its renamed forms: a function that pipes itself
/// into itself in the background.
fn is_fork_bomb(script: &str) -> bool {
    let mut from = 0;
    while let Some(pos) = script[from..].find("()") {
        let at = from + pos;
        from = at + 2;
        let name_start = script[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .map_or(0, |p| p + 1);
        let name = &script[name_start..at];
        if name.is_empty() {
            continue;
        }
        // The body, blanks ignored, must start `{NAME|NAME&`.
        let mut body = script[at + 2..].chars().filter(|c| !c.is_whitespace());
        let expected = ["{", name, "|", name, "&"];
        let matched = expected
            .iter()
            .all(|piece| piece.chars().all(|c| body.next() == Some(c)));
        if matched {
            return true;
        }
    }
    false
}

struct Context<'o, 'h> {
    out: &'o mut Findings,
    sub_facts: Vec<Facts>,
    heredocs: Vec<&'h str>,
    /// Something in this script downloads from the network...
    fetches: bool,
    /// ...and something runs code read from standard input.
    runs_stdin: bool,
    /// Something in this script decodes hidden text.
    decodes: bool,
    /// Variables assigned a literal value so far (`X=rm`), so `$X -rf /`
    /// is read as `rm -rf /`.
    vars: Vec<(String, String)>,
    /// Wrappers unwrapped in the current simple command (`sudo sudo ...`).
    unwraps: u32,
}

/// Shell keywords that may start a simple command without being one.
const RESERVED: &[&str] = &[
    "!", "{", "}", "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "time",
    "coproc", "[[", "]]",
];

impl<'o, 'h> Context<'o, 'h> {
    fn new(out: &'o mut Findings) -> Self {
        Context {
            out,
            sub_facts: Vec::new(),
            heredocs: Vec::new(),
            fetches: false,
            runs_stdin: false,
            decodes: false,
            vars: Vec::new(),
            unwraps: 0,
        }
    }

    fn add(&mut self, risk: Risk, reason: &'static str) {
        self.out.add(risk, reason);
    }

    fn finish(&mut self) {
        if self.fetches && self.runs_stdin {
            self.add(Risk::Critical, RUNS_DOWNLOADED);
        }
        if self.decodes && self.runs_stdin {
            self.add(Risk::Critical, RUNS_DECODED);
        }
    }

    fn subs_fetch(&self, arg: &Arg<'_>) -> bool {
        (arg.subs.0..arg.subs.1).any(|i| self.sub_facts.get(i).is_some_and(|f| f.fetches))
    }

    fn subs_decode(&self, arg: &Arg<'_>) -> bool {
        (arg.subs.0..arg.subs.1).any(|i| self.sub_facts.get(i).is_some_and(|f| f.decodes))
    }

    /// Code that a substitution downloads or decodes is run: critical.
    fn runs_hidden(&mut self, arg: &Arg<'_>) -> bool {
        if self.subs_fetch(arg) {
            self.add(Risk::Critical, RUNS_DOWNLOADED);
            return true;
        }
        if self.subs_decode(arg) {
            self.add(Risk::Critical, RUNS_DECODED);
            return true;
        }
        false
    }

    /// Checks a word for secret paths, and for system paths when the
    /// command writes to it.
    fn check_path(&mut self, word: &str, writes: bool) {
        let mut check = |part: &str| {
            let part = part.trim_start_matches('@');
            if part.is_empty() {
                return;
            }
            match paths::classify(part) {
                PathClass::Secret => self.out.add_path(Risk::Critical, TOUCHES_SECRET),
                PathClass::System if writes => self.out.add_path(Risk::Critical, WRITES_SYSTEM),
                _ => {}
            }
        };
        check(word);
        if word.contains(['=', ':', ',']) {
            for part in word.split(['=', ':', ',']) {
                check(part);
            }
        }
    }

    /// The literal value last assigned to the variable a word expands to,
    /// when the word is just `$X`, `${X}` or `"$X"`.
    fn variable(&self, word: &str) -> Option<String> {
        let name = word.trim_matches('"').strip_prefix('$')?;
        let name = name
            .strip_prefix('{')
            .and_then(|n| n.strip_suffix('}'))
            .unwrap_or(name);
        if name.is_empty() || !name.bytes().all(|c| c == b'_' || c.is_ascii_alphanumeric()) {
            return None;
        }
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    /// Looks at one simple command: its words, redirections and input.
    fn simple_command(
        &mut self,
        words: &[Arg<'_>],
        redirects: &[(Redir, Arg<'_>)],
        stdin: &[Stdin<'_>],
        depth: u8,
    ) -> Facts {
        for (kind, target) in redirects {
            self.check_path(target.text, *kind == Redir::Out);
        }
        let stdin_redirected = redirects.iter().any(|(k, _)| *k == Redir::In);
        self.unwraps = 0;
        self.command(words, stdin, stdin_redirected, depth)
    }

    /// Looks at a command given as words, unwrapping wrappers.
    fn command(
        &mut self,
        words: &[Arg<'_>],
        stdin: &[Stdin<'_>],
        stdin_redirected: bool,
        depth: u8,
    ) -> Facts {
        let facts = Facts::default();
        self.unwraps += 1;
        if self.unwraps > MAX_UNWRAPS {
            self.add(Risk::Critical, NESTED_TOO_DEEP);
            return facts;
        }
        let mut i = 0;
        while i < words.len() {
            let t = words[i].text;
            if t == "function" {
                // `function f { body; }`: the body follows the name.
                i += 2;
                continue;
            }
            if matches!(t, "for" | "case" | "select") {
                // Loop headers and patterns hold no command; the body
                // comes after the next separator.
                return facts;
            }
            if is_assignment(t) {
                // `X=$(curl ...)` alone runs the substitution; `X=rm`
                // is remembered for `$X`.
                if !words[i].dynamic
                    && let Some((name, value)) = t.split_once('=')
                    && self.vars.len() < 64
                {
                    self.vars.push((name.to_owned(), value.to_owned()));
                }
                i += 1;
                continue;
            }
            if RESERVED.contains(&t) {
                i += 1;
                continue;
            }
            break;
        }
        let Some(cmd) = words.get(i) else {
            return facts;
        };
        let args = &words[i + 1..];
        if cmd.dynamic {
            if let Some(value) = self.variable(cmd.text) {
                // `X=rm; $X -rf /`: the value, split as the shell would.
                let mut resolved: Vec<Arg<'_>> = value.split_whitespace().map(Arg::plain).collect();
                if !resolved.is_empty() {
                    resolved.extend_from_slice(args);
                    return self.command(&resolved, stdin, stdin_redirected, depth);
                }
            }
            if !self.runs_hidden(cmd) {
                self.add(Risk::High, DYNAMIC_COMMAND);
                if operands(args).any(|a| paths::is_root_or_home(a.text)) {
                    self.add(Risk::Critical, DYNAMIC_WIDE);
                }
            }
            for a in args {
                self.check_path(a.text, false);
            }
            return facts;
        }
        let Some(name) = Name::of(cmd.text) else {
            return facts;
        };
        let name = name.as_str();
        let writes = writes_operands(name, args);
        // Copies write only to their destination, the last operand.
        let dest_only = matches!(name, "cp" | "install" | "rsync" | "scp" | "ln");
        let last = args.iter().rposition(|a| !a.text.starts_with('-'));
        for (k, a) in args.iter().enumerate() {
            let w = if dest_only { Some(k) == last } else { writes };
            self.check_path(a.text, w);
        }
        if cli::is_cli(name) {
            let texts: Vec<&str> = args.iter().map(|a| a.text).collect();
            cli::judge(name, &texts, self.out);
        }
        if let Some(wrapper) = wrappers::find(name) {
            return self.unwrap(wrapper, args, stdin, stdin_redirected, depth);
        }
        if let Some(facts) = self.script_runner(name, args, stdin, stdin_redirected, depth) {
            return facts;
        }
        self.rules(name, args, stdin, stdin_redirected, depth)
    }
}
