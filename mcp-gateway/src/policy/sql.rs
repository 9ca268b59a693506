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

/// Dollar-quoted bodies followed before giving up.
const MAX_DEPTH: u8 = 4;

const READ_ONLY: &str = "SQL: read-only query";
const UNRECOGNISED: &str = "SQL: statement not recognised";

/// Analyses SQL text; returns whether it held any statement.
pub(crate) fn analyse(text: &str, out: &mut Findings) -> bool {
    analyse_at(text, 0, out)
}

/// Analyses text only if it reads as SQL (a known statement keyword in a
/// plausible shape, such as `DELETE FROM` or `UPDATE ... SET`); returns
/// whether it did. For arguments such as `query` that are often plain words.
pub(crate) fn analyse_if_sql(text: &str, out: &mut Findings) -> bool {
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
                    statement(&stmt, out);
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

/// Whether the statement part starting after `j` (a `DELETE` or `UPDATE`
/// at nesting `level`) has a `WHERE` at that level that filters anything.
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
            t if depth == level && t.is("WHERE") => return !is_tautology(stmt, k + 1, level),
            _ => {}
        }
        k += 1;
    }
    false
}

/// `WHERE 1=1`, `WHERE TRUE`, `WHERE 1`, `WHERE 'a'='a'` filter nothing.
fn is_tautology(stmt: &[Tok<'_>], from: usize, level: usize) -> bool {
    let mut clause: [Option<Tok<'_>>; 4] = [None; 4];
    let mut n = 0;
    let mut depth = level;
    for &t in &stmt[from..] {
        match t {
            Tok::Punct(b'(') => depth += 1,
            Tok::Punct(b')') if depth == level => break,
            Tok::Punct(b')') => depth -= 1,
            t if depth == level && t.is_any(CLAUSE_AFTER_WHERE) => break,
            _ => {}
        }
        if n == clause.len() {
            return false;
        }
        clause[n] = Some(t);
        n += 1;
    }
    match &clause[..n] {
        [Some(t)] => {
            t.is("TRUE")
                || matches!(t, Tok::Num(v) if v.bytes().any(|c| (b'1'..=b'9').contains(&c)))
        }
        [Some(a), Some(Tok::Punct(b'=')), Some(b)] => {
            a == b && matches!(a, Tok::Num(_) | Tok::Str(_))
        }
        _ => false,
    }
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
    "SET",
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
    "PREPARE",
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

fn statement(stmt: &[Tok<'_>], out: &mut Findings) {
    let first = stmt.iter().position(|t| matches!(t, Tok::Word(_)));
    let Some(first) = first else {
        out.add(Risk::Medium, UNRECOGNISED);
        return;
    };
    let kw = stmt[first];

    // What the leading keyword says; the scan below can only add to it.
    if kw.is_any(READ_KEYWORDS) {
        out.add(Risk::Low, READ_ONLY);
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
    } else if kw.is_any(&["GRANT", "REVOKE"]) {
        out.add(Risk::High, "SQL: changes permissions");
    } else if kw.is_any(&[
        "VACUUM", "ANALYZE", "ANALYSE", "OPTIMIZE", "REINDEX", "CLUSTER", "REFRESH",
    ]) {
        out.add(Risk::Medium, "SQL: maintenance");
    } else if kw.is_any(&["CALL", "EXEC", "EXECUTE", "DO"]) {
        out.add(Risk::Medium, "SQL: calls a procedure");
    } else if kw.is("SHUTDOWN") {
        out.add(Risk::Critical, "SQL: SHUTDOWN stops the database server");
    } else if !kw.is_any(&["DROP", "TRUNCATE", "DELETE", "UPDATE"]) {
        out.add(Risk::Medium, UNRECOGNISED);
    }

    let mut depth = 0usize;
    for (j, &t) in stmt.iter().enumerate() {
        match t {
            Tok::Punct(b'(') => depth += 1,
            Tok::Punct(b')') => depth = depth.saturating_sub(1),
            Tok::Word(_) => {
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
                    let sets = stmt[j + 1..].iter().any(|n| n.is("SET"));
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
