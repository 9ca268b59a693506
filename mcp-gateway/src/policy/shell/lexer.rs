//! The shell lexer: a command line split into words, operators and
//! redirections the way a POSIX shell would, with the text of command
//! substitutions and here-documents kept for analysis.

use std::borrow::Cow;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Redir {
    /// `>`, `>>`, `>|`, `&>`, `&>>`, `<>`, `>&` with a file.
    Out,
    /// `<`.
    In,
    /// `<<<`: the next word is the command's input.
    HereString,
}

#[derive(Debug)]
pub(super) struct Word<'a> {
    pub(super) text: Cow<'a, str>,
    /// Contains an expansion (`$x`, `$( )`, backticks): its value is only
    /// known at run time.
    pub(super) dynamic: bool,
    /// Indexes into the lexer's substitutions that appear in this word.
    pub(super) subs: (usize, usize),
}

#[derive(Debug)]
pub(super) enum Tok<'a> {
    Word(Word<'a>),
    /// Ends a simple command: `;`, `&&`, `||`, `|`, `&`, newline, `(`, `)`.
    Op,
    Redirect(Redir),
    /// A here-document; the index is into the lexer's bodies.
    HereDoc(usize),
}

/// What a command reads on standard input.
#[derive(Clone, Copy, Debug)]
pub(super) enum Stdin<'w> {
    HereDoc(usize),
    Text(&'w str),
}

pub(super) struct Lexer<'a> {
    src: &'a str,
    b: &'a [u8],
    i: usize,
    /// Command substitutions, backticks and process substitutions.
    pub(super) subs: Vec<&'a str>,
    /// Here-documents waiting for the next newline: (index, delimiter, strip tabs).
    pending: Vec<(usize, String, bool, bool)>,
    pub(super) heredoc_bodies: Vec<&'a str>,
    pub(super) unquoted_heredocs: Vec<&'a str>,
}

impl<'a> Lexer<'a> {
    pub(super) fn new(src: &'a str) -> Self {
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

    pub(super) fn run(&mut self) -> Vec<Tok<'a>> {
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
    pub(super) fn scan_substitutions_only(&mut self) {
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
