//! The words of one simple command and the questions asked of them: which
//! options are set (with getopt's abbreviations), which words are
//! operands, where a wrapped command starts, an option's value.

use super::lexer::{Stdin, Word};

/// One word of a simple command, borrowed from a token or a JSON array.
#[derive(Clone, Copy, Debug)]
pub(super) struct Arg<'w> {
    pub(super) text: &'w str,
    pub(super) dynamic: bool,
    pub(super) subs: (usize, usize),
}

impl<'w> Arg<'w> {
    pub(super) fn plain(text: &'w str) -> Self {
        Arg {
            text,
            dynamic: false,
            subs: (0, 0),
        }
    }

    pub(super) fn from_word(w: &'w Word<'_>) -> Self {
        Arg {
            text: &w.text,
            dynamic: w.dynamic,
            subs: w.subs,
        }
    }
}

/// Lower-cased command name in a small stack buffer.
pub(super) struct Name {
    buf: [u8; 32],
    len: usize,
}

impl Name {
    /// The command's base name (`/usr/bin/RM.exe` -> `rm`), or `None` when
    /// it is too long to be one we know.
    pub(super) fn of(word: &str) -> Option<Name> {
        let base = word.rsplit(['/', '\\']).next().unwrap_or(word);
        // Byte offsets from the end may fall inside a multi-byte character.
        let cut = base.len().saturating_sub(4);
        let base = match (base.get(cut..), base.get(..cut)) {
            (Some(ext), Some(stem)) if base.len() > 4 && ext.eq_ignore_ascii_case(".exe") => stem,
            _ => base,
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

    pub(super) fn as_str(&self) -> &str {
        // Lower-casing ASCII bytes keeps valid UTF-8 valid.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

pub(super) fn is_assignment(word: &str) -> bool {
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
pub(super) fn has_short(args: &[Arg<'_>], letters: &[u8]) -> bool {
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
pub(super) fn has_long(args: &[Arg<'_>], name: &str) -> bool {
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

pub(super) fn has_word(args: &[Arg<'_>], word: &str) -> bool {
    args.iter().any(|a| a.text.eq_ignore_ascii_case(word))
}

/// Operands: the words that are not options (everything after `--`).
pub(super) fn operands<'a, 'w>(args: &'a [Arg<'w>]) -> impl Iterator<Item = &'a Arg<'w>> {
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
pub(super) fn positionals<'a, 'w>(args: &'a [Arg<'w>], value_opts: &[&str]) -> Vec<&'a Arg<'w>> {
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
pub(super) fn skip_options(args: &[Arg<'_>], value_opts: &[&str]) -> usize {
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
pub(super) fn option_value<'w>(args: &[Arg<'w>], short: &[&str], long: &[&str]) -> Option<&'w str> {
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

/// The text a command reads on standard input, from here-documents and
/// here-strings.
pub(super) fn stdin_bodies<'x>(heredocs: &[&'x str], stdin: &[Stdin<'x>]) -> Vec<&'x str> {
    stdin
        .iter()
        .filter_map(|s| match *s {
            Stdin::HereDoc(idx) => heredocs.get(idx).copied(),
            Stdin::Text(t) => Some(t),
        })
        .collect()
}

pub(super) fn join(args: &[Arg<'_>]) -> String {
    let mut s = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(a.text);
    }
    s
}
