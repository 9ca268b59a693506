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

use std::borrow::Cow;

use hitl_wire::Risk;

use super::findings::Findings;
use super::paths::{self, PathClass};
use super::{cli, code, sql};

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
    powershell_script(script, 0, out);
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

// ---------------------------------------------------------------------------
// Tokens

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Redir {
    /// `>`, `>>`, `>|`, `&>`, `&>>`, `<>`, `>&` with a file.
    Out,
    /// `<`.
    In,
    /// `<<<`: the next word is the command's input.
    HereString,
}

#[derive(Debug)]
struct Word<'a> {
    text: Cow<'a, str>,
    /// Contains an expansion (`$x`, `$( )`, backticks): its value is only
    /// known at run time.
    dynamic: bool,
    /// Indexes into the lexer's substitutions that appear in this word.
    subs: (usize, usize),
}

#[derive(Debug)]
enum Tok<'a> {
    Word(Word<'a>),
    /// Ends a simple command: `;`, `&&`, `||`, `|`, `&`, newline, `(`, `)`.
    Op,
    Redirect(Redir),
    /// A here-document; the index is into the lexer's bodies.
    HereDoc(usize),
}

/// What a command reads on standard input.
#[derive(Clone, Copy, Debug)]
enum Stdin<'w> {
    HereDoc(usize),
    Text(&'w str),
}

struct Lexer<'a> {
    src: &'a str,
    b: &'a [u8],
    i: usize,
    /// Command substitutions, backticks and process substitutions.
    subs: Vec<&'a str>,
    /// Here-documents waiting for the next newline: (index, delimiter, strip tabs).
    pending: Vec<(usize, String, bool, bool)>,
    heredoc_bodies: Vec<&'a str>,
    unquoted_heredocs: Vec<&'a str>,
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str) -> Self {
        Lexer {
            src,
            b: src.as_bytes(),
            i: 0,
            subs: Vec::new(),
            pending: Vec::new(),
            heredoc_bodies: Vec::new(),
            unquoted_heredocs: Vec::new(),
        }
    }

    fn peek(&self, off: usize) -> u8 {
        self.b.get(self.i + off).copied().unwrap_or(0)
    }

    fn run(&mut self) -> Vec<Tok<'a>> {
        let mut toks = Vec::new();
        loop {
            // Blanks and line continuations.
            while self.i < self.b.len() {
                match self.b[self.i] {
                    b' ' | b'\t' | b'\r' => self.i += 1,
                    b'\\' if self.peek(1) == b'\n' => self.i += 2,
                    _ => break,
                }
            }
            if self.i >= self.b.len() {
                break;
            }
            match self.b[self.i] {
                b'\n' => {
                    self.i += 1;
                    self.read_heredoc_bodies();
                    toks.push(Tok::Op);
                }
                b'#' => {
                    while self.i < self.b.len() && self.b[self.i] != b'\n' {
                        self.i += 1;
                    }
                }
                b';' | b'(' | b')' => {
                    self.i += 1;
                    toks.push(Tok::Op);
                }
                b'&' => {
                    if self.peek(1) == b'>' {
                        self.i += if self.peek(2) == b'>' { 3 } else { 2 };
                        toks.push(Tok::Redirect(Redir::Out));
                    } else {
                        self.i += if self.peek(1) == b'&' { 2 } else { 1 };
                        toks.push(Tok::Op);
                    }
                }
                b'|' => {
                    self.i += if matches!(self.peek(1), b'|' | b'&') {
                        2
                    } else {
                        1
                    };
                    toks.push(Tok::Op);
                }
                b'<' | b'>' => self.redirect(&mut toks),
                _ => {
                    let word = self.word();
                    // `2>file`: the digits name a file descriptor, not an argument.
                    let fd = word.text.bytes().all(|c| c.is_ascii_digit())
                        && matches!(self.peek(0), b'<' | b'>');
                    if !fd {
                        toks.push(Tok::Word(word));
                    }
                }
            }
        }
        toks
    }

    fn redirect(&mut self, toks: &mut Vec<Tok<'a>>) {
        let c = self.b[self.i];
        let next = self.peek(1);
        if next == b'(' {
            // Process substitution: `<(cmd)` or `>(cmd)` is an argument.
            let start = self.i;
            let end = self.matching_paren(self.i + 2);
            let sub_idx = self.subs.len();
            self.subs.push(&self.src[self.i + 2..end]);
            self.i = (end + 1).min(self.b.len());
            toks.push(Tok::Word(Word {
                text: Cow::Borrowed(&self.src[start..self.i]),
                dynamic: true,
                subs: (sub_idx, sub_idx + 1),
            }));
            return;
        }
        if c == b'<' && next == b'<' {
            if self.peek(2) == b'<' {
                self.i += 3;
                toks.push(Tok::Redirect(Redir::HereString));
                return;
            }
            self.i += 2;
            let strip = self.peek(0) == b'-';
            if strip {
                self.i += 1;
            }
            while matches!(self.peek(0), b' ' | b'\t') {
                self.i += 1;
            }
            let raw_start = self.i;
            let delim = self.word();
            let quoted = self.src[raw_start..self.i].contains(['\'', '"', '\\']);
            let idx = self.heredoc_bodies.len();
            self.heredoc_bodies.push("");
            self.pending
                .push((idx, delim.text.into_owned(), strip, quoted));
            toks.push(Tok::HereDoc(idx));
            return;
        }
        self.i += 1;
        let kind = if c == b'<' {
            match self.peek(0) {
                b'>' => {
                    self.i += 1;
                    Redir::Out
                }
                b'&' => {
                    self.i += 1;
                    Redir::In
                }
                _ => Redir::In,
            }
        } else {
            if matches!(self.peek(0), b'>' | b'|' | b'&') {
                self.i += 1;
            }
            Redir::Out
        };
        toks.push(Tok::Redirect(kind));
    }

    fn read_heredoc_bodies(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for (idx, delim, strip, quoted) in pending {
            let body_start = self.i;
            let mut line_start = self.i;
            let mut body_end = self.b.len();
            let mut after = self.b.len();
            while line_start < self.b.len() {
                let line_end = self.src[line_start..]
                    .find('\n')
                    .map_or(self.b.len(), |p| line_start + p);
                let mut line = &self.src[line_start..line_end];
                if strip {
                    line = line.trim_start_matches('\t');
                }
                if line.trim_end_matches('\r') == delim {
                    body_end = line_start;
                    after = (line_end + 1).min(self.b.len());
                    break;
                }
                line_start = line_end + 1;
            }
            let body = &self.src[body_start..body_end.max(body_start)];
            self.heredoc_bodies[idx] = body;
            if !quoted {
                self.unquoted_heredocs.push(body);
            }
            self.i = after;
        }
    }

    /// Index of the `)` that closes a `(` whose content starts at `from`,
    /// skipping quoted text; the end of input when there is none.
    fn matching_paren(&self, from: usize) -> usize {
        let mut depth = 1usize;
        let mut j = from;
        while j < self.b.len() {
            match self.b[j] {
                b'\\' => j += 1,
                b'\'' => {
                    j += 1;
                    while j < self.b.len() && self.b[j] != b'\'' {
                        j += 1;
                    }
                }
                b'"' => {
                    j += 1;
                    while j < self.b.len() && self.b[j] != b'"' {
                        if self.b[j] == b'\\' {
                            j += 1;
                        }
                        j += 1;
                    }
                }
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return j;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        self.b.len()
    }

    /// Index of the backtick closing one whose content starts at `from`.
    fn matching_backtick(&self, from: usize) -> usize {
        let mut j = from;
        while j < self.b.len() {
            match self.b[j] {
                b'\\' => j += 1,
                b'`' => return j,
                _ => {}
            }
            j += 1;
        }
        self.b.len()
    }

    /// Records the substitution starting at `self.i` (`$(`, `$((` or a
    /// backtick) and moves past it.
    fn substitution(&mut self) {
        if self.b[self.i] == b'`' {
            let end = self.matching_backtick(self.i + 1);
            self.subs.push(&self.src[self.i + 1..end]);
            self.i = (end + 1).min(self.b.len());
        } else {
            // `$(` or `$((`: arithmetic may itself hold `$( )`, and
            // analysing it as a script is harmless.
            let end = self.matching_paren(self.i + 2);
            self.subs.push(&self.src[self.i + 2..end]);
            self.i = (end + 1).min(self.b.len());
        }
    }

    /// Finds the substitutions in text that is otherwise data (an unquoted
    /// here-document body).
    fn scan_substitutions_only(&mut self) {
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'\\' => self.i += 2,
                b'`' => self.substitution(),
                b'$' if self.peek(1) == b'(' => self.substitution(),
                _ => self.i += 1,
            }
        }
    }

    fn word(&mut self) -> Word<'a> {
        let start = self.i;
        let subs_start = self.subs.len();
        let mut owned: Option<String> = None;
        let mut run_start = self.i;
        let mut dynamic = false;

        // Moves the plain run so far into `owned`, creating it if needed.
        fn flush(owned: &mut Option<String>, src: &str, run_start: usize, at: usize) {
            owned
                .get_or_insert_with(String::new)
                .push_str(&src[run_start..at]);
        }

        while self.i < self.b.len() {
            let c = self.b[self.i];
            match c {
                b' ' | b'\t' | b'\n' | b'\r' | b';' | b'&' | b'|' | b'<' | b'>' | b'(' | b')' => {
                    break;
                }
                b'\'' => {
                    flush(&mut owned, self.src, run_start, self.i);
                    let end = self.src[self.i + 1..]
                        .find('\'')
                        .map_or(self.b.len(), |p| self.i + 1 + p);
                    if let Some(buf) = owned.as_mut() {
                        buf.push_str(&self.src[self.i + 1..end]);
                    }
                    self.i = (end + 1).min(self.b.len());
                    run_start = self.i;
                }
                b'"' => {
                    flush(&mut owned, self.src, run_start, self.i);
                    self.i += 1;
                    self.double_quoted(&mut owned, &mut dynamic);
                    run_start = self.i;
                }
                b'\\' => {
                    flush(&mut owned, self.src, run_start, self.i);
                    if self.peek(1) == b'\n' {
                        self.i += 2;
                    } else if self.i + 1 < self.b.len() {
                        let ch_len = utf8_len(self.b[self.i + 1]);
                        let end = (self.i + 1 + ch_len).min(self.b.len());
                        if let Some(buf) = owned.as_mut() {
                            buf.push_str(&self.src[self.i + 1..end]);
                        }
                        self.i = end;
                    } else {
                        self.i += 1;
                    }
                    run_start = self.i;
                }
                b'$' if self.peek(1) == b'\'' => {
                    flush(&mut owned, self.src, run_start, self.i);
                    self.i += 2;
                    self.ansi_c_quoted(&mut owned);
                    run_start = self.i;
                }
                b'$' if self.peek(1) == b'"' => {
                    flush(&mut owned, self.src, run_start, self.i);
                    self.i += 2;
                    self.double_quoted(&mut owned, &mut dynamic);
                    run_start = self.i;
                }
                b'$' if self.peek(1) == b'(' => {
                    // The raw text stays in the plain run: the word reads
                    // as the shell sees it before expansion.
                    dynamic = true;
                    self.substitution();
                }
                b'`' => {
                    dynamic = true;
                    self.substitution();
                }
                b'$' => {
                    dynamic = true;
                    self.i += 1;
                }
                _ => self.i += 1,
            }
        }
        let text = match owned {
            Some(mut buf) => {
                buf.push_str(&self.src[run_start..self.i]);
                Cow::Owned(buf)
            }
            None => Cow::Borrowed(&self.src[start..self.i]),
        };
        Word {
            text,
            dynamic,
            subs: (subs_start, self.subs.len()),
        }
    }

    /// Reads a double-quoted string (the opening quote already consumed).
    fn double_quoted(&mut self, owned: &mut Option<String>, dynamic: &mut bool) {
        let buf = owned.get_or_insert_with(String::new);
        let mut run = self.i;
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'"' => {
                    buf.push_str(&self.src[run..self.i]);
                    self.i += 1;
                    return;
                }
                b'\\' if matches!(self.peek(1), b'"' | b'\\' | b'$' | b'`' | b'\n') => {
                    buf.push_str(&self.src[run..self.i]);
                    if self.peek(1) != b'\n' {
                        buf.push(self.peek(1) as char);
                    }
                    self.i += 2;
                    run = self.i;
                }
                b'$' if self.peek(1) == b'(' => {
                    *dynamic = true;
                    self.substitution();
                }
                b'`' => {
                    *dynamic = true;
                    self.substitution();
                }
                b'$' => {
                    *dynamic = true;
                    self.i += 1;
                }
                _ => self.i += 1,
            }
        }
        buf.push_str(&self.src[run..self.i]);
    }

    /// Reads `$'...'` (the `$'` already consumed), decoding common escapes.
    fn ansi_c_quoted(&mut self, owned: &mut Option<String>) {
        let buf = owned.get_or_insert_with(String::new);
        let mut run = self.i;
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'\'' => {
                    buf.push_str(&self.src[run..self.i]);
                    self.i += 1;
                    return;
                }
                b'\\' if self.i + 1 < self.b.len() => {
                    buf.push_str(&self.src[run..self.i]);
                    let esc = self.b[self.i + 1];
                    self.i += 2;
                    match esc {
                        b'n' => buf.push('\n'),
                        b't' => buf.push('\t'),
                        b'x' => {
                            let hex_end = (self.i..self.b.len().min(self.i + 2))
                                .take_while(|&k| self.b[k].is_ascii_hexdigit())
                                .last()
                                .map_or(self.i, |k| k + 1);
                            if let Ok(v) = u8::from_str_radix(&self.src[self.i..hex_end], 16) {
                                buf.push(v as char);
                            }
                            self.i = hex_end;
                        }
                        other if other.is_ascii() => buf.push(other as char),
                        _ => {
                            // A backslash before a multi-byte character keeps it.
                            self.i -= 1;
                        }
                    }
                    run = self.i;
                }
                _ => self.i += 1,
            }
        }
        buf.push_str(&self.src[run..self.i]);
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

// ---------------------------------------------------------------------------
// Commands

/// One word of a simple command, borrowed from a token or a JSON array.
#[derive(Clone, Copy, Debug)]
struct Arg<'w> {
    text: &'w str,
    dynamic: bool,
    subs: (usize, usize),
}

impl<'w> Arg<'w> {
    fn plain(text: &'w str) -> Self {
        Arg {
            text,
            dynamic: false,
            subs: (0, 0),
        }
    }

    fn from_word(w: &'w Word<'_>) -> Self {
        Arg {
            text: &w.text,
            dynamic: w.dynamic,
            subs: w.subs,
        }
    }
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

/// Lower-cased command name in a small stack buffer.
struct Name {
    buf: [u8; 32],
    len: usize,
}

impl Name {
    /// The command's base name (`/usr/bin/RM.exe` -> `rm`), or `None` when
    /// it is too long to be one we know.
    fn of(word: &str) -> Option<Name> {
        let base = word.rsplit(['/', '\\']).next().unwrap_or(word);
        let base = if base.len() > 4 && base[base.len() - 4..].eq_ignore_ascii_case(".exe") {
            &base[..base.len() - 4]
        } else {
            base
        };
        if base.len() > 32 {
            return None;
        }
        let mut buf = [0u8; 32];
        for (slot, b) in buf.iter_mut().zip(base.bytes()) {
            *slot = b.to_ascii_lowercase();
        }
        Some(Name {
            buf,
            len: base.len(),
        })
    }

    fn as_str(&self) -> &str {
        // Lower-casing ASCII bytes keeps valid UTF-8 valid.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

/// Shell keywords that may start a simple command without being one.
const RESERVED: &[&str] = &[
    "!", "{", "}", "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "time",
    "coproc", "[[", "]]",
];

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

/// Shells that take `-c STRING`.
const SHELLS: &[&str] = &[
    "sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "tcsh", "csh", "rbash", "yash",
];

/// Interpreters that run a program read from standard input when given none.
const INTERPRETERS: &[&str] = &[
    "python", "python2", "python3", "perl", "ruby", "node", "nodejs", "php", "lua", "deno", "bun",
];

fn is_assignment(word: &str) -> bool {
    let Some(eq) = word.find('=') else {
        return false;
    };
    let name = &word[..eq];
    !name.is_empty()
        && name
            .bytes()
            .enumerate()
            .all(|(i, c)| c == b'_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()))
}

/// Short option letters in `-abc` style words (before `--`).
fn has_short(args: &[Arg<'_>], letters: &[u8]) -> bool {
    for a in args {
        let t = a.text;
        if t == "--" {
            break;
        }
        if t.len() > 1
            && t.starts_with('-')
            && !t.starts_with("--")
            && t[1..].bytes().any(|c| letters.contains(&c))
        {
            return true;
        }
    }
    false
}

/// A long option, alone or as `--name=value` (before `--`).
fn has_long(args: &[Arg<'_>], name: &str) -> bool {
    for a in args {
        let t = a.text;
        if t == "--" {
            break;
        }
        if let Some(rest) = t.strip_prefix("--") {
            let opt = rest.split_once('=').map_or(rest, |(o, _)| o);
            // Programs using getopt_long (and git) accept any unambiguous
            // abbreviation: `--forc` is `--force`. The strictest reading
            // takes every prefix of two letters or more.
            if opt == name || (opt.len() >= 2 && name.starts_with(opt)) {
                return true;
            }
        }
    }
    false
}

fn has_word(args: &[Arg<'_>], word: &str) -> bool {
    args.iter().any(|a| a.text.eq_ignore_ascii_case(word))
}

/// Operands: the words that are not options (everything after `--`).
fn operands<'a, 'w>(args: &'a [Arg<'w>]) -> impl Iterator<Item = &'a Arg<'w>> {
    let mut after_dashes = false;
    args.iter().filter(move |a| {
        if after_dashes {
            return true;
        }
        if a.text == "--" {
            after_dashes = true;
            return false;
        }
        !(a.text.len() > 1 && a.text.starts_with('-'))
    })
}

/// The positional words of a command whose options may take a value,
/// e.g. `git -C dir push` or `kubectl -n prod delete pod x`.
fn positionals<'a, 'w>(args: &'a [Arg<'w>], value_opts: &[&str]) -> Vec<&'a Arg<'w>> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut after_dashes = false;
    while i < args.len() {
        let t = args[i].text;
        if after_dashes {
            out.push(&args[i]);
        } else if t == "--" {
            after_dashes = true;
        } else if t.len() > 1 && t.starts_with('-') {
            if !t.contains('=') && value_opts.contains(&t) {
                i += 1;
            }
        } else {
            out.push(&args[i]);
        }
        i += 1;
    }
    out
}

/// Where the wrapped command starts after a wrapper's own options, given
/// which options take a value.
fn skip_options(args: &[Arg<'_>], value_opts: &[&str]) -> usize {
    let mut i = 0;
    while i < args.len() {
        let t = args[i].text;
        if t == "--" {
            return i + 1;
        }
        if !(t.len() > 1 && t.starts_with('-')) {
            return i;
        }
        if !t.contains('=') && value_opts.contains(&t) {
            i += 1;
        }
        i += 1;
    }
    i
}

/// The value of an option given as `-c VALUE`, `--command VALUE`,
/// `--command=VALUE` or `-cVALUE`.
fn option_value<'w>(args: &[Arg<'w>], short: &[&str], long: &[&str]) -> Option<&'w str> {
    let mut i = 0;
    while i < args.len() {
        let t = args[i].text;
        if t == "--" {
            return None;
        }
        if short.contains(&t) || long.contains(&t) {
            return args.get(i + 1).map(|a| a.text);
        }
        for l in long {
            if let Some(v) = t.strip_prefix(l).and_then(|r| r.strip_prefix('=')) {
                return Some(v);
            }
        }
        for s in short {
            if s.len() == 2 && t.len() > 2 && t.starts_with(s) && !t.starts_with("--") {
                return Some(&t[2..]);
            }
        }
        i += 1;
    }
    None
}

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
        let mut facts = Facts::default();
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
        let depth_next = depth + 1;
        if cli::is_cli(name) {
            let texts: Vec<&str> = args.iter().map(|a| a.text).collect();
            cli::judge(name, &texts, self.out);
        }

        match name {
            // Wrappers that run the rest of the line as a command.
            "sudo" | "doas" | "run0" | "pkexec" => {
                self.add(Risk::High, "shell: runs a command as root (sudo)");
                let start = skip_options(
                    args,
                    &[
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
                );
                if has_short(&args[..start], b"e") || has_long(&args[..start], "edit") {
                    for a in &args[start..] {
                        self.check_path(a.text, true);
                    }
                    return facts;
                }
                if start >= args.len() {
                    if has_short(args, b"si") {
                        self.add(Risk::High, "shell: opens a root shell");
                        self.runs_stdin |= !stdin_redirected;
                    }
                    return facts;
                }
                return self.command(&args[start..], stdin, stdin_redirected, depth);
            }
            "su" | "runuser" => {
                if let Some(script) = option_value(args, &["-c"], &["--command"]) {
                    return analyse_at(script, depth_next, self.out);
                }
                if name == "runuser" {
                    let start = skip_options(args, &["-u", "-g", "-G", "--user", "--group"]);
                    if start < args.len() {
                        return self.command(&args[start..], stdin, stdin_redirected, depth);
                    }
                }
                self.add(Risk::High, "shell: opens a shell as another user");
                self.runs_stdin |= !stdin_redirected;
            }
            "env" => {
                if let Some(script) = option_value(args, &["-S"], &["--split-string"]) {
                    return analyse_at(script, depth_next, self.out);
                }
                let mut j = skip_options(args, &["-u", "--unset", "-C", "--chdir", "-P"]);
                while j < args.len() && is_assignment(args[j].text) {
                    j += 1;
                }
                return self.command(&args[j..], stdin, stdin_redirected, depth);
            }
            "nohup" | "exec" | "builtin" | "time" | "unbuffer" | "setsid" | "nice" | "ionice"
            | "stdbuf" | "chrt" | "caffeinate" | "busybox" | "toybox" => {
                let start = skip_options(
                    args,
                    &[
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
                    ],
                );
                // `chrt` takes a priority before the command.
                let start = if name == "chrt" { start + 1 } else { start };
                if start < args.len() {
                    return self.command(&args[start..], stdin, stdin_redirected, depth);
                }
            }
            "command" => {
                if has_short(args, b"vV") {
                    return facts;
                }
                let start = skip_options(args, &[]);
                return self.command(&args[start..], stdin, stdin_redirected, depth);
            }
            "timeout" => {
                let start = skip_options(args, &["-s", "--signal", "-k", "--kill-after"]);
                // The duration comes first.
                if start + 1 < args.len() {
                    return self.command(&args[start + 1..], stdin, stdin_redirected, depth);
                }
            }
            "taskset" => {
                // The CPU mask or list comes first.
                let start = skip_options(args, &[]) + 1;
                if start < args.len() && !has_short(args, b"p") {
                    return self.command(&args[start..], stdin, stdin_redirected, depth);
                }
            }
            "chroot" => {
                let start = skip_options(args, &["--userspec", "--groups"]);
                if start + 1 < args.len() {
                    return self.command(&args[start + 1..], stdin, stdin_redirected, depth);
                }
                self.add(Risk::High, "shell: opens a shell in another root");
            }
            "flock" => {
                if let Some(script) = option_value(args, &["-c"], &["--command"]) {
                    return analyse_at(script, depth_next, self.out);
                }
                let start = skip_options(args, &["-w", "--timeout", "-E", "--conflict-exit-code"]);
                if start + 1 < args.len() {
                    return self.command(&args[start + 1..], stdin, stdin_redirected, depth);
                }
            }
            "watch" => {
                let start = skip_options(args, &["-n", "--interval", "-q", "--equexit"]);
                let rest = &args[start.min(args.len())..];
                if has_short(&args[..start.min(args.len())], b"x") {
                    return self.command(rest, stdin, stdin_redirected, depth);
                }
                let joined = join(rest);
                return analyse_at(&joined, depth_next, self.out);
            }
            "xargs" => {
                let start = skip_options(
                    args,
                    &[
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
                );
                if start < args.len() {
                    return self.command(&args[start..], &[], true, depth);
                }
            }
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
            "eval" => {
                let joined = join(args);
                for a in args {
                    if self.runs_hidden(a) {
                        break;
                    }
                }
                return analyse_at(&joined, depth_next, self.out);
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
            }
            n if SHELLS.contains(&n) => {
                self.shell(args, stdin, stdin_redirected, depth_next);
            }
            "cmd" => {
                if let Some(pos) = args.iter().position(|a| {
                    a.text.eq_ignore_ascii_case("/c") || a.text.eq_ignore_ascii_case("/k")
                }) {
                    let joined = join(&args[pos + 1..]);
                    windows_cmd(&joined, depth_next, self.out);
                }
            }
            "powershell" | "pwsh" => {
                self.powershell(args, stdin, depth_next);
            }
            "ssh" => {
                let rest = skip_options(
                    args,
                    &[
                        "-b", "-c", "-D", "-E", "-e", "-F", "-I", "-i", "-J", "-L", "-l", "-m",
                        "-O", "-o", "-p", "-Q", "-R", "-S", "-W", "-w", "-B",
                    ],
                );
                if rest + 1 < args.len() {
                    let joined = join(&args[rest + 1..]);
                    return analyse_at(&joined, depth_next, self.out);
                }
                for body in stdin_bodies(&self.heredocs, stdin) {
                    analyse_at(body, depth_next, self.out);
                }
            }
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
                            return self.command(&args[p + 1..], stdin, stdin_redirected, depth);
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
            "dropdb" | "dropuser" => self.add(Risk::Critical, "shell: drops a database"),
            "mysqladmin"
                if positionals(args, &["-u", "-p", "-h", "-P", "-S"])
                    .iter()
                    .any(|a| a.text == "drop") =>
            {
                self.add(Risk::Critical, "shell: drops a database");
            }
            "redis-cli" | "valkey-cli" | "keydb-cli"
                if (has_word(args, "flushall") || has_word(args, "flushdb")) =>
            {
                self.add(
                    Risk::Critical,
                    "shell: deletes every key in a Redis database",
                );
            }
            "mongo" | "mongosh" => {
                if let Some(js) = option_value(args, &[], &["--eval"])
                    && (js.contains("dropDatabase")
                        || js.contains(".drop(")
                        || js.contains("deleteMany({})"))
                {
                    self.add(
                        Risk::Critical,
                        "shell: drops a MongoDB database or collection",
                    );
                }
            }
            "psql" => {
                if let Some(q) = option_value(args, &["-c"], &["--command"]) {
                    sql::analyse(q, self.out);
                }
                for body in stdin_bodies(&self.heredocs, stdin) {
                    sql::analyse(body, self.out);
                }
            }
            "mysql" | "mariadb" => {
                if let Some(q) = option_value(args, &["-e"], &["--execute"]) {
                    sql::analyse(q, self.out);
                }
                for body in stdin_bodies(&self.heredocs, stdin) {
                    sql::analyse(body, self.out);
                }
            }
            "sqlite3" | "sqlite" | "duckdb" => {
                for q in operands(args).skip(1) {
                    sql::analyse(q.text, self.out);
                }
                for body in stdin_bodies(&self.heredocs, stdin) {
                    sql::analyse(body, self.out);
                }
            }
            "clickhouse-client" | "clickhouse" | "sqlcmd" | "snowsql" | "cqlsh" | "cockroach" => {
                if let Some(q) = option_value(args, &["-q", "-Q", "-e"], &["--query", "--execute"])
                {
                    sql::analyse(q, self.out);
                }
            }
            "bq" => {
                if positionals(args, &["--project_id", "--location"])
                    .first()
                    .is_some_and(|a| a.text == "query")
                    && let Some(q) = operands(args).last()
                {
                    sql::analyse(q.text, self.out);
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

    fn powershell(&mut self, args: &[Arg<'_>], stdin: &[Stdin<'_>], depth: u8) {
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
fn writes_operands(name: &str, args: &[Arg<'_>]) -> bool {
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

/// The text a command reads on standard input, from here-documents and
/// here-strings.
fn stdin_bodies<'x>(heredocs: &[&'x str], stdin: &[Stdin<'x>]) -> Vec<&'x str> {
    stdin
        .iter()
        .filter_map(|s| match *s {
            Stdin::HereDoc(idx) => heredocs.get(idx).copied(),
            Stdin::Text(t) => Some(t),
        })
        .collect()
}

fn join(args: &[Arg<'_>]) -> String {
    let mut s = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(a.text);
    }
    s
}

/// `cmd /c ...`: Windows commands that destroy data or stop the machine.
fn windows_cmd(text: &str, depth: u8, out: &mut Findings) {
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
fn powershell_script(text: &str, depth: u8, out: &mut Findings) {
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
