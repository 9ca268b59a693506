//! Secret formats from gitleaks' maintained rule set (`gitleaks.toml`,
//! vendored with its MIT licence in `LICENSE-gitleaks`), applied after the
//! hand-written rules in [`super`].
//!
//! Each rule has keywords; one Aho-Corasick pass over the text (case
//! insensitive) picks the rules whose keywords occur, and only those
//! regexes run. A rule's regex is compiled the first time it is a
//! candidate; rules the `regex` crate cannot compile (Go's RE2 syntax is
//! close but not equal) are skipped, and [`stats`] counts them. The secret
//! is the rule's `secretGroup`, else its first group, else the whole
//! match; where the rule sets a minimum entropy, a lower one is left alone.

use std::borrow::Cow;
use std::sync::{LazyLock, OnceLock};

use aho_corasick::AhoCorasick;
use regex::bytes::{Regex, RegexBuilder};
use serde::Deserialize;

use super::REDACTED;

/// The vendored rule file.
const RULES_TOML: &str = include_str!("gitleaks.toml");

#[derive(Deserialize)]
struct File {
    rules: Vec<RuleConfig>,
}

#[derive(Deserialize)]
struct RuleConfig {
    id: String,
    regex: Option<String>,
    #[serde(rename = "secretGroup")]
    secret_group: Option<usize>,
    entropy: Option<f64>,
    #[serde(default)]
    keywords: Vec<String>,
}

struct Rule {
    id: String,
    source: String,
    secret_group: Option<usize>,
    entropy: Option<f64>,
    compiled: OnceLock<Option<Regex>>,
}

impl Rule {
    fn regex(&self) -> Option<&Regex> {
        self.compiled.get_or_init(|| compile(&self.source)).as_ref()
    }
}

/// Compiles one rule as Go's RE2 reads it: `\w`, `\d`, `\s` and case
/// folding are ASCII-only there, which also keeps the automata small
/// (Unicode classes made some rules take a second to compile). Matching
/// runs on the text's bytes; spans are widened to whole characters.
fn compile(source: &str) -> Option<Regex> {
    RegexBuilder::new(source)
        .unicode(false)
        .size_limit(1 << 22)
        .build()
        .ok()
}

struct RuleSet {
    rules: Vec<Rule>,
    /// Keyword automaton; `owners[i]` is the rule of pattern `i`.
    keywords: AhoCorasick,
    owners: Vec<usize>,
}

static RULES: LazyLock<RuleSet> = LazyLock::new(load);

fn load() -> RuleSet {
    // The file is compiled in and parsed by a test: it cannot fail here.
    let file: File = toml::from_str(RULES_TOML).expect("vendored gitleaks.toml parses");
    let mut rules = Vec::new();
    let mut patterns = Vec::new();
    let mut owners = Vec::new();
    for r in file.rules {
        // Path-only rules (file names) have nothing to match in text, and a
        // rule without keywords would run on every string.
        let Some(source) = r.regex else { continue };
        if r.keywords.is_empty() {
            continue;
        }
        let index = rules.len();
        for k in r.keywords {
            patterns.push(k.to_lowercase());
            owners.push(index);
        }
        rules.push(Rule {
            id: r.id,
            source,
            secret_group: r.secret_group,
            entropy: r.entropy,
            compiled: OnceLock::new(),
        });
    }
    let keywords = AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(&patterns)
        .expect("keyword automaton builds");
    RuleSet {
        rules,
        keywords,
        owners,
    }
}

/// How many rules were loaded, and how many of them compiled.
pub fn stats() -> (usize, usize) {
    let set = &*RULES;
    let compiled = set.rules.iter().filter(|r| r.regex().is_some()).count();
    (set.rules.len(), compiled)
}

/// The ids of the rules the `regex` crate cannot compile.
pub fn skipped() -> Vec<&'static str> {
    RULES
        .rules
        .iter()
        .filter(|r| r.regex().is_none())
        .map(|r| r.id.as_str())
        .collect()
}

/// `text` with every secret a candidate rule finds replaced by [`REDACTED`].
pub fn redact(text: &str) -> Cow<'_, str> {
    let set = &*RULES;
    let mut candidates: Vec<usize> = set
        .keywords
        .find_overlapping_iter(text)
        .map(|m| set.owners[m.pattern().as_usize()])
        .collect();
    if candidates.is_empty() {
        return Cow::Borrowed(text);
    }
    candidates.sort_unstable();
    candidates.dedup();
    let mut out = Cow::Borrowed(text);
    for i in candidates {
        let rule = &set.rules[i];
        let Some(re) = rule.regex() else { continue };
        let mut spans = Vec::new();
        for caps in re.captures_iter(out.as_bytes()) {
            let secret = match rule.secret_group {
                Some(g) => caps.get(g),
                None => caps.iter().skip(1).flatten().next(),
            }
            .or_else(|| caps.get(0));
            let Some(m) = secret else { continue };
            let (mut start, mut end) = (m.start(), m.end());
            while !out.is_char_boundary(start) {
                start -= 1;
            }
            while !out.is_char_boundary(end) {
                end += 1;
            }
            let found = &out[start..end];
            if found == REDACTED || found.is_empty() {
                continue;
            }
            if rule.entropy.is_some_and(|min| shannon(found) < min) {
                continue;
            }
            spans.push(start..end);
        }
        if spans.is_empty() {
            continue;
        }
        let mut replaced = String::with_capacity(out.len());
        let mut last = 0;
        for r in spans {
            if r.start < last {
                continue;
            }
            replaced.push_str(&out[last..r.start]);
            replaced.push_str(REDACTED);
            last = r.end;
        }
        replaced.push_str(&out[last..]);
        out = Cow::Owned(replaced);
    }
    out
}

/// Shannon entropy of `s` in bits per character, as gitleaks computes it.
fn shannon(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut n = 0usize;
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    counts
        .values()
        .map(|&c| {
            let p = c as f64 / n as f64;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_rules_compile_and_the_rest_are_counted() {
        let (total, compiled) = stats();
        assert!(total > 200, "{total} rules");
        let skipped = skipped();
        assert_eq!(total - compiled, skipped.len());
        eprintln!("gitleaks rules: {total} loaded, {compiled} compiled, skipped {skipped:?}");
        // Go's RE2 and Rust's regex agree on nearly all of them.
        assert!(skipped.len() <= 10, "skipped: {skipped:?}");
    }

    #[test]
    fn text_without_keywords_is_returned_as_it_is() {
        assert!(matches!(redact("ls -la /tmp"), Cow::Borrowed(_)));
    }
}
