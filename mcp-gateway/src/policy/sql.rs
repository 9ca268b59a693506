//! SQL analysis. Text is split into statements on `;` outside strings,
//! quoted identifiers, comments and dollar-quoted bodies, and each
//! statement is looked at token by token: `DROP`, `TRUNCATE`, `DELETE` and
//! `UPDATE` without a real `WHERE` (at the same nesting level, so a `WHERE`
//! in a subquery does not count) are critical; writes, schema and
//! permission changes rate lower.
//!
//! Dialects disagree on a few points, and where they do the stricter
//! reading wins: backslashes inside strings are read both ways (standard SQL
//! and MySQL) when there are any, `#` is never taken as a comment, MySQL's
//! executable comments (`/*! ... */`) are read as code, and PostgreSQL
//! dollar-quoted bodies (`DO $$ ... $$`) are analysed as SQL too.

use hitl_wire::Risk;

use super::findings::Findings;
use super::markers::{Lazy, MarkerSet};

/// Dollar-quoted bodies followed before giving up.
const MAX_DEPTH: u8 = 4;

const READ_ONLY: &str = "SQL: read-only query";
const DYNAMIC: &str = "SQL: runs SQL text built at run time, which cannot be inspected";
const PROCEDURE: &str =
    "SQL: runs a stored procedure or code block, whose effect cannot be inspected";
const ADMIN_GRANT: &str = "SQL: grants administrator or superuser rights";

/// Parentheses followed inside one statement before giving up.
const MAX_PARENS: usize = 64;
const UNRECOGNISED: &str = "SQL: statement not recognised";

/// Analyses SQL text; returns whether it held any statement.
pub(crate) fn analyse(text: &str, out: &mut Findings) -> bool {
    analyse_at(text, 0, out)
}

/// Analyses text only if it reads as SQL (a known statement keyword in a
/// plausible shape, such as `DELETE FROM` or `UPDATE ... SET`); returns
/// whether it did. For arguments such as `query` that are often plain words.
pub(crate) fn analyse_if_sql(text: &str, out: &mut Findings) -> bool {
    // Most arguments hold no statement keyword at all: one pass rules
    // them out before anything is lexed.
    static KEYWORDS: Lazy = Lazy::new(|| MarkerSet::new(&[LEADING_KEYWORDS]));
    if !KEYWORDS.any(text) {
        return false;
    }
    let mut lexer = Lexer::new(text, false);
    let mut first: Vec<Tok<'_>> = Vec::with_capacity(8);
    while let Some(tok) = lexer.next() {
        if tok == Tok::End {
            if first.is_empty() {
                continue;
            }
            break;
        }
        first.push(tok);
    }
    if !looks_like_sql(&first) {
        return false;
    }
    analyse(text, out)
}

fn analyse_at(text: &str, depth: u8, out: &mut Findings) -> bool {
    if depth > MAX_DEPTH {
        out.add(Risk::Critical, "SQL: nested too deeply to analyse");
        return true;
    }
    let mut any = run(text, false, depth, out);
    if text.contains('\\') {
        // MySQL reads `\'` as an escaped quote, standard SQL as a
        // backslash then the end of the string: judge both readings.
        any |= run(text, true, depth, out);
    }
    any
}

fn run(text: &str, backslash: bool, depth: u8, out: &mut Findings) -> bool {
    let mut lexer = Lexer::new(text, backslash);
    let mut stmt: Vec<Tok<'_>> = Vec::with_capacity(32);
    let mut any = false;
    loop {
        let tok = lexer.next();
        match tok {
            Some(Tok::End) | None => {
                if !stmt.is_empty() {
                    statement(&stmt, depth, out);
                    any = true;
                    stmt.clear();
                }
                if tok.is_none() {
                    break;
                }
            }
            Some(t) => stmt.push(t),
        }
    }
    for body in lexer.bodies {
        any |= analyse_at(body, depth + 1, out);
    }
    any
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok<'a> {
    /// A keyword or unquoted identifier.
    Word(&'a str),
    /// A quoted identifier: never a keyword.
    Ident(&'a str),
    Num(&'a str),
    /// A string literal, raw with its quotes.
    Str(&'a str),
    Punct(u8),
    /// `;`
    End,
}

impl Tok<'_> {
    fn is(&self, keyword: &str) -> bool {
        matches!(self, Tok::Word(w) if w.eq_ignore_ascii_case(keyword))
    }

    fn is_any(&self, keywords: &[&str]) -> bool {
        matches!(self, Tok::Word(w) if keywords.iter().any(|k| w.eq_ignore_ascii_case(k)))
    }
}

struct Lexer<'a> {
    src: &'a str,
    b: &'a [u8],
    i: usize,
    backslash: bool,
    /// Inside a MySQL executable comment `/*! ... */`.
    exec_comment: bool,
    /// Dollar-quoted bodies, analysed afterwards.
    bodies: Vec<&'a str>,
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str, backslash: bool) -> Self {
        Lexer {
            src,
            b: src.as_bytes(),
            i: 0,
            backslash,
            exec_comment: false,
            bodies: Vec::new(),
        }
    }

    fn peek(&self, off: usize) -> u8 {
        self.b.get(self.i + off).copied().unwrap_or(0)
    }

    /// Index just past the string or quoted identifier whose content starts
    /// at `from`.
    fn quoted_end(&self, from: usize, quote: u8, backslash: bool) -> usize {
        let mut j = from;
        while j < self.b.len() {
            let c = self.b[j];
            if backslash && c == b'\\' {
                j += 2;
                continue;
            }
            if c == quote {
                if self.b.get(j + 1) == Some(&quote) {
                    j += 2;
                    continue;
                }
                return j + 1;
            }
            j += 1;
        }
        self.b.len()
    }

    fn next(&mut self) -> Option<Tok<'a>> {
        loop {
            let c = *self.b.get(self.i)?;
            let start = self.i;
            match c {
                b' ' | b'\t' | b'\n' | b'\r' | 0x0c => self.i += 1,
                b'-' if self.peek(1) == b'-' => {
                    while self.i < self.b.len() && self.b[self.i] != b'\n' {
                        self.i += 1;
                    }
                }
                b'/' if self.peek(1) == b'*' => {
                    if self.peek(2) == b'!' {
                        self.exec_comment = true;
                        self.i += 3;
                        while self.peek(0).is_ascii_digit() {
                            self.i += 1;
                        }
                    } else {
                        self.block_comment();
                    }
                }
                b'*' if self.exec_comment && self.peek(1) == b'/' => {
                    self.exec_comment = false;
                    self.i += 2;
                }
                b';' => {
                    self.i += 1;
                    return Some(Tok::End);
                }
                b'\'' => {
                    self.i = self.quoted_end(self.i + 1, b'\'', self.backslash);
                    return Some(Tok::Str(&self.src[start..self.i]));
                }
                b'E' | b'e' if self.peek(1) == b'\'' => {
                    // PostgreSQL escape strings always read backslashes.
                    self.i = self.quoted_end(self.i + 2, b'\'', true);
                    return Some(Tok::Str(&self.src[start..self.i]));
                }
                b'"' | b'`' => {
                    self.i = self.quoted_end(self.i + 1, c, self.backslash && c == b'"');
                    return Some(Tok::Ident(&self.src[start..self.i]));
                }
                b'$' => {
                    if let Some(tok) = self.dollar() {
                        return Some(tok);
                    }
                }
                b'0'..=b'9' => {
                    while self.i < self.b.len()
                        && (self.b[self.i].is_ascii_alphanumeric() || self.b[self.i] == b'.')
                    {
                        self.i += 1;
                    }
                    return Some(Tok::Num(&self.src[start..self.i]));
                }
                c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                    while self.i < self.b.len() {
                        let d = self.b[self.i];
                        if d.is_ascii_alphanumeric() || d == b'_' || d == b'$' || d >= 0x80 {
                            self.i += 1;
                        } else {
                            break;
                        }
                    }
                    return Some(Tok::Word(&self.src[start..self.i]));
                }
                _ => {
                    self.i += 1;
                    return Some(Tok::Punct(c));
                }
            }
        }
    }

    fn block_comment(&mut self) {
        // PostgreSQL nests block comments; reading them nested everywhere
        // only ever ends a comment later, never earlier, than a
        // non-nesting dialect for well-formed input.
        let mut depth = 0usize;
        while self.i < self.b.len() {
            if self.peek(0) == b'/' && self.peek(1) == b'*' {
                depth += 1;
                self.i += 2;
            } else if self.peek(0) == b'*' && self.peek(1) == b'/' {
                depth -= 1;
                self.i += 2;
                if depth == 0 {
                    return;
                }
            } else {
                self.i += 1;
            }
        }
    }

    /// `$1` (a parameter), `$tag$...$tag$` (a dollar-quoted body) or a lone `$`.
    fn dollar(&mut self) -> Option<Tok<'a>> {
        let start = self.i;
        if self.peek(1).is_ascii_digit() {
            self.i += 1;
            while self.peek(0).is_ascii_digit() {
                self.i += 1;
            }
            return Some(Tok::Num(&self.src[start..self.i]));
        }
        let mut j = self.i + 1;
        while j < self.b.len() && (self.b[j].is_ascii_alphanumeric() || self.b[j] == b'_') {
            j += 1;
        }
        if self.b.get(j) != Some(&b'$') {
            self.i += 1;
            return Some(Tok::Punct(b'$'));
        }
        let tag = &self.src[start..=j];
        let body_start = j + 1;
        let (body_end, after) = match self.src[body_start..].find(tag) {
            Some(p) => (body_start + p, body_start + p + tag.len()),
            None => (self.b.len(), self.b.len()),
        };
        self.bodies.push(&self.src[body_start..body_end]);
        self.i = after;
        Some(Tok::Str(&self.src[start..self.i]))
    }
}

/// Words that, just before `DELETE`, `UPDATE`, `INSERT`, `TRUNCATE` or
/// `DROP`, make it something other than a statement: `ON DELETE CASCADE`,
/// `FOR UPDATE`, `GRANT DELETE`, `ON DUPLICATE KEY UPDATE`, trigger events,
/// `MERGE ... THEN DELETE` (which only touches matched rows).
const NOT_A_STATEMENT_AFTER: &[&str] = &[
    "ON", "BEFORE", "AFTER", "OF", "OR", "FOR", "GRANT", "REVOKE", "KEY", "DO", "THEN", "INSTEAD",
    "EACH",
];

fn follows_non_statement(stmt: &[Tok<'_>], j: usize) -> bool {
    match j.checked_sub(1).map(|p| stmt[p]) {
        Some(Tok::Punct(b',')) | Some(Tok::Punct(b'.')) => true,
        Some(t) => t.is_any(NOT_A_STATEMENT_AFTER),
        None => false,
    }
}

/// Words that end a `WHERE` clause at its own level.
const CLAUSE_AFTER_WHERE: &[&str] = &["RETURNING", "ORDER", "LIMIT", "GROUP", "OFFSET", "OUTPUT"];

/// Words that start another statement part at the same level, where a
/// search for a `DELETE`'s or `UPDATE`'s own `WHERE` or `SET` stops (so a
/// run of `DELETE DELETE ...` is read in linear time).
const NEXT_PART: &[&str] = &["DELETE", "UPDATE", "INSERT", "SELECT", "MERGE", "WITH"];

/// Whether the statement part starting after `j` (a `DELETE` or `UPDATE`
/// at nesting `level`) has a `WHERE` at that level that can be shown to
/// bound the rows it touches.
fn has_real_where(stmt: &[Tok<'_>], j: usize, level: usize) -> bool {
    let mut depth = level;
    let mut k = j + 1;
    while k < stmt.len() {
        match stmt[k] {
            Tok::Punct(b'(') => depth += 1,
            Tok::Punct(b')') => {
                if depth == level {
                    return false;
                }
                depth -= 1;
            }
            t if depth == level && t.is("WHERE") => {
                let end = clause_end(stmt, k + 1, level);
                return bounds(&stmt[k + 1..end]);
            }
            t if depth == level && t.is_any(NEXT_PART) => return false,
            _ => {}
        }
        k += 1;
    }
    false
}

/// Whether an `UPDATE` at `j` has its `SET` before the next statement part.
fn update_sets(stmt: &[Tok<'_>], j: usize, level: usize) -> bool {
    let mut depth = level;
    for t in &stmt[j + 1..] {
        match t {
            Tok::Punct(b'(') => depth += 1,
            Tok::Punct(b')') => {
                if depth == level {
                    return false;
                }
                depth -= 1;
            }
            t if depth == level && t.is("SET") => return true,
            t if depth == level && t.is_any(NEXT_PART) => return false,
            _ => {}
        }
    }
    false
}

/// Index where a `WHERE` clause starting at `from` ends at its level.
fn clause_end(stmt: &[Tok<'_>], from: usize, level: usize) -> usize {
    let mut depth = level;
    for (k, t) in stmt.iter().enumerate().skip(from) {
        match t {
            Tok::Punct(b'(') => depth += 1,
            Tok::Punct(b')') if depth == level => return k,
            Tok::Punct(b')') => depth -= 1,
            t if depth == level && (t.is_any(CLAUSE_AFTER_WHERE) || t.is_any(NEXT_PART)) => {
                return k;
            }
            _ => {}
        }
    }
    stmt.len()
}

/// Splits `toks` at the top-level occurrences of a keyword. `BETWEEN a
/// AND b` keeps its `AND`.
fn split_top<'t, 'a>(toks: &'t [Tok<'a>], keyword: &str) -> Vec<&'t [Tok<'a>]> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let mut between = false;
    for (k, t) in toks.iter().enumerate() {
        match t {
            Tok::Punct(b'(') => depth += 1,
            Tok::Punct(b')') => depth = depth.saturating_sub(1),
            t if depth == 0 && t.is("BETWEEN") => between = true,
            t if depth == 0 && t.is(keyword) => {
                if keyword.eq_ignore_ascii_case("AND") && between {
                    between = false;
                    continue;
                }
                parts.push(&toks[start..k]);
                start = k + 1;
            }
            _ => {}
        }
    }
    parts.push(&toks[start..]);
    parts
}

/// Whether a condition can be shown to select only some rows. What cannot
/// (`1=1`, `id > 0`, `x IS NOT NULL`, `a = a`, `x <> 'y'`, `... OR 1=1`,
/// anything not understood) counts as no condition at all.
fn bounds(cond: &[Tok<'_>]) -> bool {
    bounds_at(cond, 0)
}

fn bounds_at(cond: &[Tok<'_>], depth: u8) -> bool {
    if cond.is_empty() || depth > 16 {
        return false;
    }
    let ors = split_top(cond, "OR");
    if ors.len() > 1 {
        return ors.iter().all(|part| bounds_at(part, depth + 1));
    }
    let ands = split_top(cond, "AND");
    if ands.len() > 1 {
        return ands.iter().any(|part| bounds_at(part, depth + 1));
    }
    atom_bounds(cond, depth)
}

/// A column or parameter, as opposed to a literal.
fn is_ref(t: &Tok<'_>) -> bool {
    match t {
        Tok::Word(w) => !["TRUE", "FALSE", "NULL", "NOT"]
            .iter()
            .any(|k| w.eq_ignore_ascii_case(k)),
        Tok::Ident(_) => true,
        Tok::Num(n) => n.starts_with('$'),
        Tok::Punct(b'?') | Tok::Punct(b':') | Tok::Punct(b'@') => true,
        _ => false,
    }
}

/// A numeric literal that every positive id or count passes: `0`,
/// negatives (`- 5`).
fn trivial_bound(side: &[Tok<'_>], inclusive: bool) -> bool {
    match side {
        [Tok::Num(n)] => {
            let v: f64 = n.parse().unwrap_or(f64::NAN);
            v <= 0.0 || (inclusive && v <= 1.0)
        }
        [Tok::Punct(b'-'), Tok::Num(_)] => true,
        _ => false,
    }
}

fn atom_bounds(atom: &[Tok<'_>], depth: u8) -> bool {
    // `( ... )`: the inside decides.
    if atom.len() >= 2
        && atom[0] == Tok::Punct(b'(')
        && atom[atom.len() - 1] == Tok::Punct(b')')
        && closes_at_end(atom)
    {
        return bounds_at(&atom[1..atom.len() - 1], depth + 1);
    }
    if atom.first().is_some_and(|t| t.is("NOT")) {
        return false;
    }
    if atom.first().is_some_and(|t| t.is("EXISTS")) {
        return true;
    }
    // The first top-level operator.
    let mut level = 0usize;
    for (k, t) in atom.iter().enumerate() {
        match t {
            Tok::Punct(b'(') => level += 1,
            Tok::Punct(b')') => level = level.saturating_sub(1),
            _ if level > 0 => {}
            Tok::Punct(c @ (b'=' | b'<' | b'>' | b'!')) => {
                let next = atom.get(k + 1);
                let two = |d: u8| next == Some(&Tok::Punct(d));
                let (op_len, kind): (usize, &str) = match c {
                    b'=' => (if two(b'=') { 2 } else { 1 }, "="),
                    b'!' if two(b'=') => (2, "<>"),
                    b'<' if two(b'>') => (2, "<>"),
                    b'<' if two(b'=') => (2, "<="),
                    b'>' if two(b'=') => (2, ">="),
                    b'<' => (1, "<"),
                    b'>' => (1, ">"),
                    _ => return false,
                };
                let left = &atom[..k];
                let right = &atom[k + op_len..];
                let has_ref = left.iter().any(is_ref) || right.iter().any(is_ref);
                if !has_ref || left == right || right.is_empty() || left.is_empty() {
                    return false;
                }
                return match kind {
                    "=" => true,
                    "<>" => false,
                    ">" => !trivial_bound(right, false),
                    ">=" => !trivial_bound(right, true),
                    "<" => !trivial_bound(left, false),
                    "<=" => !trivial_bound(left, true),
                    _ => false,
                };
            }
            t if t.is_any(&["IN", "BETWEEN"]) => {
                let left = &atom[..k];
                let negated = left.last().is_some_and(|p| p.is("NOT"));
                return !negated && left.iter().any(is_ref);
            }
            t if t.is_any(&["LIKE", "ILIKE", "GLOB", "SIMILAR", "REGEXP", "RLIKE"]) => {
                let left = &atom[..k];
                if left.last().is_some_and(|p| p.is("NOT")) || !left.iter().any(is_ref) {
                    return false;
                }
                let pattern = atom.get(k + 1);
                return !matches!(pattern, Some(Tok::Str(p)) if p.trim_matches('\'').chars().all(|c| c == '%' || c == '*' || c == '_'));
            }
            t if t.is("IS") => {
                let left = &atom[..k];
                let rest = &atom[k + 1..];
                return left.iter().any(is_ref) && rest.first().is_some_and(|r| r.is("NULL"));
            }
            _ => {}
        }
    }
    // No operator: a boolean column (`WHERE archived`) filters; literals,
    // `TRUE` and anything else do not.
    matches!(atom, [t] if is_ref(t) && !matches!(t, Tok::Num(_)))
}

/// Whether the `(` at the start of `toks` closes at its last token.
fn closes_at_end(toks: &[Tok<'_>]) -> bool {
    let mut depth = 0usize;
    for (k, t) in toks.iter().enumerate() {
        match t {
            Tok::Punct(b'(') => depth += 1,
            Tok::Punct(b')') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return k == toks.len() - 1;
                }
            }
            _ => {}
        }
    }
    false
}

/// Statement keywords that only read (or only set up a session).
const READ_KEYWORDS: &[&str] = &[
    "SELECT",
    "SHOW",
    "DESCRIBE",
    "DESC",
    "EXPLAIN",
    "WITH",
    "VALUES",
    "TABLE",
    "USE",
    "BEGIN",
    "START",
    "COMMIT",
    "ROLLBACK",
    "END",
    "SAVEPOINT",
    "RELEASE",
    "FETCH",
    "CLOSE",
    "DECLARE",
    "LISTEN",
    "UNLISTEN",
    "RESET",
    "DEALLOCATE",
    "ABORT",
    "HELP",
];

/// Kinds of object named right after `DROP`, `CREATE` or `ALTER`.
const OBJECT_KINDS: &[&str] = &[
    "TABLE",
    "DATABASE",
    "SCHEMA",
    "VIEW",
    "INDEX",
    "USER",
    "ROLE",
    "FUNCTION",
    "PROCEDURE",
    "TRIGGER",
    "SEQUENCE",
    "TYPE",
    "EXTENSION",
    "IF",
    "MATERIALIZED",
    "TEMPORARY",
    "TEMP",
    "UNIQUE",
    "OR",
    "COLUMN",
    "KEYSPACE",
    "COLLECTION",
    "OWNED",
    "DOMAIN",
    "POLICY",
    "RULE",
    "EVENT",
    "SERVER",
    "TABLESPACE",
    "PUBLICATION",
    "SUBSCRIPTION",
    "FOREIGN",
    "UNLOGGED",
    "GLOBAL",
    "LOCAL",
    "DEFINER",
    "ALGORITHM",
    "SQL",
    "VIRTUAL",
    "EXTERNAL",
];

fn statement(stmt: &[Tok<'_>], depth: u8, out: &mut Findings) {
    let first = stmt.iter().position(|t| matches!(t, Tok::Word(_)));
    let Some(first) = first else {
        out.add(Risk::Medium, UNRECOGNISED);
        return;
    };
    let kw = stmt[first];

    // What the leading keyword says; the scan below can only add to it.
    if kw.is_any(READ_KEYWORDS) {
        out.add(Risk::Low, READ_ONLY);
    } else if kw.is("SET") {
        set_statement(&stmt[first + 1..], out);
    } else if kw.is("PREPARE") {
        out.add(Risk::High, DYNAMIC);
    } else if kw.is("PRAGMA") {
        if stmt.contains(&Tok::Punct(b'=')) {
            out.add(Risk::Medium, "SQL: changes a database setting");
        } else {
            out.add(Risk::Low, READ_ONLY);
        }
    } else if kw.is_any(&[
        "INSERT", "REPLACE", "UPSERT", "MERGE", "COPY", "LOAD", "IMPORT",
    ]) {
        out.add(Risk::Medium, "SQL: writes rows");
    } else if kw.is_any(&["CREATE", "ALTER", "RENAME", "COMMENT", "ATTACH", "DETACH"]) {
        out.add(Risk::High, "SQL: changes the schema");
        if kw.is_any(&["ALTER", "CREATE"]) && grants_admin(stmt) {
            out.add(Risk::Critical, ADMIN_GRANT);
        }
    } else if kw.is_any(&["GRANT", "REVOKE"]) {
        out.add(Risk::High, "SQL: changes permissions");
        if kw.is("GRANT") && grants_admin(stmt) {
            out.add(Risk::Critical, ADMIN_GRANT);
        }
    } else if kw.is_any(&[
        "VACUUM", "ANALYZE", "ANALYSE", "OPTIMIZE", "REINDEX", "CLUSTER", "REFRESH",
    ]) {
        out.add(Risk::Medium, "SQL: maintenance");
    } else if kw.is_any(&["CALL", "EXEC", "EXECUTE", "DO"]) {
        out.add(Risk::High, PROCEDURE);
        let name = stmt.get(first + 1);
        if let Some(Tok::Word(n) | Tok::Ident(n)) = name
            && destructive_name(n)
        {
            out.add(
                Risk::Critical,
                "SQL: calls a procedure named after deleting data",
            );
        }
    } else if kw.is("SHUTDOWN") {
        out.add(Risk::Critical, "SQL: SHUTDOWN stops the database server");
    } else if !kw.is_any(&["DROP", "TRUNCATE", "DELETE", "UPDATE"]) {
        out.add(Risk::Medium, UNRECOGNISED);
    }

    let nesting = depth;
    let mut depth = 0usize;
    for (j, &t) in stmt.iter().enumerate() {
        match t {
            Tok::Punct(b'(') => {
                depth += 1;
                if depth > MAX_PARENS {
                    out.add(Risk::Critical, "SQL: nested too deeply to analyse");
                    return;
                }
            }
            Tok::Punct(b')') => depth = depth.saturating_sub(1),
            Tok::Word(w) => {
                let call = stmt.get(j + 1) == Some(&Tok::Punct(b'('));
                if call {
                    function_call(w, out);
                }
                if runs_text(stmt, j, call) {
                    out.add(Risk::High, DYNAMIC);
                    // The SQL text it runs, when written out, is judged too.
                    for s in stmt[j + 1..].iter().take(8) {
                        if let Tok::Str(raw) = s {
                            analyse_at(&unquote(raw), nesting + 1, out);
                        }
                    }
                }
                if t.is("DROP") {
                    let next = stmt.get(j + 1);
                    let harmless = next.is_some_and(|n| {
                        n.is_any(&["DEFAULT", "NOT", "IDENTITY", "EXPRESSION", "CONSTRAINT"])
                    });
                    if !harmless && !follows_non_statement(stmt, j) {
                        out.add(
                            Risk::Critical,
                            "SQL: DROP deletes a table, database or column",
                        );
                    }
                } else if t.is("TRUNCATE") {
                    if !follows_non_statement(stmt, j) {
                        out.add(Risk::Critical, "SQL: TRUNCATE deletes every row");
                    }
                } else if t.is("DELETE") {
                    if !follows_non_statement(stmt, j) {
                        if has_real_where(stmt, j, depth) {
                            out.add(Risk::Medium, "SQL: deletes rows");
                        } else {
                            out.add(
                                Risk::Critical,
                                "SQL: DELETE without WHERE deletes every row",
                            );
                        }
                    }
                } else if t.is("UPDATE") {
                    let sets = update_sets(stmt, j, depth);
                    if sets && !follows_non_statement(stmt, j) {
                        if has_real_where(stmt, j, depth) {
                            out.add(Risk::Medium, "SQL: updates rows");
                        } else {
                            out.add(
                                Risk::Critical,
                                "SQL: UPDATE without WHERE changes every row",
                            );
                        }
                    }
                } else if t.is("INSERT") {
                    if !follows_non_statement(stmt, j) {
                        out.add(Risk::Medium, "SQL: writes rows");
                    }
                } else if t.is("PROGRAM") && kw.is("COPY") {
                    out.add(Risk::Critical, "SQL: COPY ... PROGRAM runs a shell command");
                } else if t.is("XP_CMDSHELL") {
                    out.add(Risk::Critical, "SQL: xp_cmdshell runs a shell command");
                } else if t.is_any(&["OUTFILE", "DUMPFILE"]) {
                    out.add(Risk::High, "SQL: writes a file on the database server");
                } else if t.is_any(&[
                    "LOAD_FILE",
                    "PG_READ_FILE",
                    "PG_READ_BINARY_FILE",
                    "LO_IMPORT",
                    "LO_EXPORT",
                ]) || (t.is_any(&["TO", "FROM"])
                    && kw.is("COPY")
                    && matches!(stmt.get(j + 1), Some(Tok::Str(_))))
                {
                    out.add(
                        Risk::High,
                        "SQL: reads or writes files on the database server",
                    );
                }
            }
            _ => {}
        }
    }
}

/// Whether the first statement's opening reads as SQL rather than prose.
/// Every keyword [`looks_like_sql`] accepts as the first word.
const LEADING_KEYWORDS: &[&str] = &[
    "SELECT", "WITH", "SHOW", "DESCRIBE", "EXPLAIN", "PRAGMA", "INSERT", "REPLACE", "MERGE",
    "UPDATE", "DELETE", "DROP", "CREATE", "ALTER", "TRUNCATE", "GRANT", "REVOKE",
];

fn looks_like_sql(first: &[Tok<'_>]) -> bool {
    let words: Vec<&Tok<'_>> = first
        .iter()
        .filter(|t| !matches!(t, Tok::Punct(b'(')))
        .collect();
    let Some(kw) = words.first() else {
        return false;
    };
    let next = words.get(1).copied();
    let has = |w: &str| first.iter().any(|t| t.is(w));
    if kw.is_any(&["SELECT", "WITH", "SHOW", "DESCRIBE", "EXPLAIN", "PRAGMA"]) {
        return next.is_some();
    }
    if kw.is_any(&["INSERT", "REPLACE", "MERGE"]) {
        return next.is_some_and(|n| n.is_any(&["INTO", "IGNORE", "OR", "OVERWRITE"]));
    }
    if kw.is("UPDATE") {
        return has("SET");
    }
    if kw.is("DELETE") {
        return words.iter().skip(1).take(4).any(|t| t.is("FROM"));
    }
    if kw.is_any(&["DROP", "CREATE", "ALTER"]) {
        return next.is_some_and(|n| n.is_any(OBJECT_KINDS));
    }
    if kw.is("TRUNCATE") {
        return next.is_some_and(|n| n.is("TABLE")) || words.len() == 2;
    }
    if kw.is_any(&["GRANT", "REVOKE"]) {
        return has("ON") || has("TO");
    }
    false
}

/// The text of a string literal: quotes removed, doubled quotes undone,
/// an `E`/`N` prefix dropped.
fn unquote(raw: &str) -> String {
    let raw = raw.trim_start_matches(['E', 'e', 'N', 'n']);
    if raw.starts_with('$') {
        // `$tag$body$tag$`: the body was already queued for analysis.
        return String::new();
    }
    let inner = raw.strip_prefix('\'').unwrap_or(raw);
    let inner = inner.strip_suffix('\'').unwrap_or(inner);
    inner.replace("''", "'")
}

/// Whether the word at `j` runs SQL text or a procedure: `EXECUTE s`,
/// `EXECUTE IMMEDIATE '...'`, `EXEC('...')`, `sp_executesql`,
/// `dblink_exec(...)`, but not `GRANT EXECUTE`, `EXECUTE FUNCTION` in a
/// trigger, or a column named `execute`.
fn runs_text(stmt: &[Tok<'_>], j: usize, call: bool) -> bool {
    let t = stmt[j];
    let first_word = !stmt[..j].iter().any(|t| matches!(t, Tok::Word(_)));
    if t.is("PREPARE") {
        return first_word;
    }
    if t.is_any(&[
        "SP_EXECUTESQL",
        "SP_EXECUTE",
        "DBLINK_EXEC",
        "DBLINK",
        "QUERY_TO_XML",
        "EXECUTE_QUERY",
    ]) {
        return true;
    }
    if !t.is_any(&["EXECUTE", "EXEC"]) {
        return false;
    }
    // As a statement it comes first, or after a block keyword.
    let starts =
        first_word || stmt[j - 1].is_any(&["BEGIN", "THEN", "ELSE", "LOOP", "DO", "IMMEDIATE"]);
    if !starts {
        return false;
    }
    match stmt.get(j + 1) {
        None => false,
        Some(n) if n.is_any(&["FUNCTION", "PROCEDURE", "ON", "AS", "TO", "FROM"]) => false,
        Some(Tok::Punct(c)) => *c == b'(' || *c == b'@' || call,
        Some(_) => true,
    }
}

/// Built-in functions with effects beyond reading rows.
fn function_call(name: &str, out: &mut Findings) {
    let is = |names: &[&str]| names.iter().any(|n| name.eq_ignore_ascii_case(n));
    if is(&[
        "LOAD_EXTENSION",
        "SYS_EXEC",
        "SYS_EVAL",
        "XP_CMDSHELL",
        "LO_EXPORT",
    ]) {
        out.add(
            Risk::Critical,
            "SQL: loads native code or runs commands on the database server",
        );
    } else if is(&[
        "PG_TERMINATE_BACKEND",
        "PG_PROMOTE",
        "PG_DROP_REPLICATION_SLOT",
    ]) {
        out.add(
            Risk::Critical,
            "SQL: terminates sessions or changes the server's role",
        );
    } else if is(&[
        "PG_CANCEL_BACKEND",
        "PG_RELOAD_CONF",
        "PG_ROTATE_LOGFILE",
        "PG_SWITCH_WAL",
        "LO_UNLINK",
        "WRITEFILE",
        "PG_FILE_WRITE",
        "PG_FILE_UNLINK",
        "PG_LS_DIR",
        "READFILE",
        "SET_CONFIG",
    ]) {
        out.add(
            Risk::High,
            "SQL: calls a function that changes the server or its files",
        );
    }
}

/// Whether a procedure's name says it deletes (`drop_everything`,
/// `purgeOldData`).
fn destructive_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        "drop", "delete", "truncate", "purge", "wipe", "destroy", "erase", "reset", "clean",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

/// Server-wide settings whose change switches off a safeguard.
const SAFETY_SETTINGS: &[&str] = &[
    "READ_ONLY",
    "SUPER_READ_ONLY",
    "SQL_SAFE_UPDATES",
    "SQL_LOG_BIN",
    "LOCAL_INFILE",
    "GENERAL_LOG",
    "LOG_BIN",
    "SECURE_FILE_PRIV",
    "REQUIRE_SECURE_TRANSPORT",
    "DEFAULT_TRANSACTION_READ_ONLY",
    "TRANSACTION_READ_ONLY",
    "ROW_SECURITY",
    "AUDIT_LOG_POLICY",
    "FOREIGN_KEY_CHECKS",
];

/// `SET ...`: a session setting is harmless; passwords, server-wide
/// settings and roles are not.
fn set_statement(rest: &[Tok<'_>], out: &mut Findings) {
    let Some(first) = rest.first() else {
        out.add(Risk::Low, READ_ONLY);
        return;
    };
    if first.is("PASSWORD") {
        let admin = rest.iter().any(|t| {
            let text = match t {
                Tok::Word(w) | Tok::Ident(w) | Tok::Str(w) => w.trim_matches(['\'', '"', '`']),
                _ => return false,
            };
            [
                "ROOT",
                "ADMIN",
                "SA",
                "POSTGRES",
                "SYS",
                "SYSTEM",
                "ADMINISTRATOR",
            ]
            .iter()
            .any(|a| text.eq_ignore_ascii_case(a))
        });
        let for_other = rest.get(1).is_some_and(|t| t.is("FOR"));
        if admin || !for_other {
            out.add(Risk::Critical, "SQL: changes an administrator's password");
        } else {
            out.add(Risk::High, "SQL: changes a password");
        }
        return;
    }
    let global = first.is_any(&["GLOBAL", "PERSIST", "PERSIST_ONLY"])
        || matches!(first, Tok::Punct(b'@'))
            && rest.iter().take(4).any(|t| matches!(t, Tok::Word(w) if w.to_ascii_uppercase().starts_with("GLOBAL") || w.to_ascii_uppercase().starts_with("PERSIST")));
    let safety = rest.iter().take(8).any(|t| {
        matches!(t, Tok::Word(w) if SAFETY_SETTINGS.iter().any(|s| {
            let u = w.to_ascii_uppercase();
            u == *s || u.ends_with(&format!(".{s}"))
        }))
    });
    if safety {
        out.add(
            Risk::Critical,
            "SQL: turns off or changes a server safeguard",
        );
    } else if global {
        out.add(Risk::High, "SQL: changes a server-wide setting");
    } else if first.is_any(&["ROLE", "SESSION"])
        && rest.iter().any(|t| t.is_any(&["AUTHORIZATION", "ROLE"]))
        || first.is("ROLE")
    {
        out.add(Risk::Medium, "SQL: changes the session's role");
    } else {
        out.add(Risk::Low, "SQL: changes a session setting");
    }
}

/// Whether a `GRANT`, `CREATE`/`ALTER USER` or `ALTER ROLE` gives
/// administrator rights: `ALL` privileges, `SUPERUSER`, `WITH GRANT
/// OPTION`, `*.*`, admin roles, or grants to `PUBLIC`.
fn grants_admin(stmt: &[Tok<'_>]) -> bool {
    let words = |w: &[&str]| stmt.iter().any(|t| t.is_any(w));
    if words(&[
        "SUPERUSER",
        "CREATEROLE",
        "BYPASSRLS",
        "SUPER",
        "SYSADMIN",
        "DB_OWNER",
        "RDS_SUPERUSER",
        "CLOUDSQLSUPERUSER",
        "PG_EXECUTE_SERVER_PROGRAM",
        "PG_WRITE_SERVER_FILES",
        "PG_READ_SERVER_FILES",
        "ACCOUNTADMIN",
        "SECURITYADMIN",
        "SYSADMIN",
        "DBA",
    ]) {
        return true;
    }
    let grant = stmt.iter().any(|t| t.is("GRANT"));
    if !grant {
        return false;
    }
    if words(&["PUBLIC"])
        || stmt
            .windows(2)
            .any(|w| w[0].is("GRANT") && w[1].is("OPTION"))
    {
        return true;
    }
    if stmt.windows(2).any(|w| w[0].is("GRANT") && w[1].is("ALL")) {
        return true;
    }
    stmt.windows(3)
        .any(|w| w[0] == Tok::Punct(b'*') && w[1] == Tok::Punct(b'.') && w[2] == Tok::Punct(b'*'))
}
