//! Literal markers searched in argument text in one pass: each set is one
//! Aho-Corasick automaton, built once on first use, that reports which
//! groups of markers occur (ASCII case ignored). Searching many lists of
//! words with one `contains` each would read the text once per word.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

/// Groups of literal markers, each group a bit of the answer.
pub(crate) struct MarkerSet {
    automaton: AhoCorasick,
    /// The same markers as one alternation, for [`MarkerSet::any`]: the
    /// regex engine searches for their (case-folded) prefixes with SIMD,
    /// which the automaton cannot do once ASCII case is ignored.
    any: regex::Regex,
    /// For each pattern, its group's bit.
    bits: Vec<u32>,
    all: u32,
}

impl MarkerSet {
    /// Builds the automaton over `groups` (at most 32); patterns are
    /// compared without regard to ASCII case.
    pub(crate) fn new(groups: &[&[&str]]) -> MarkerSet {
        assert!(groups.len() <= 32, "at most 32 groups of markers");
        let mut patterns = Vec::new();
        let mut bits = Vec::new();
        for (g, group) in groups.iter().enumerate() {
            for p in group.iter() {
                patterns.push(*p);
                bits.push(1u32 << g);
            }
        }
        // The patterns are constants of this module's callers: they always
        // build (`expect` documents that a bad list is a programming error).
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            // A full DFA reads a byte per step; the default for small sets
            // (an NFA, as case folding rules out the fast prefilters) is
            // several times slower on long text.
            .kind(Some(AhoCorasickKind::DFA))
            .build(&patterns)
            .expect("marker patterns build");
        let all = bits.iter().fold(0, |a, b| a | b);
        let alternation: Vec<String> = patterns.iter().map(|p| regex::escape(p)).collect();
        let any = regex::RegexBuilder::new(&alternation.join("|"))
            .case_insensitive(true)
            // ASCII case only, as `eq_ignore_ascii_case`.
            .unicode(false)
            .build()
            .expect("marker patterns build");
        MarkerSet {
            automaton,
            any,
            bits,
            all,
        }
    }

    /// The groups that have at least one marker in `text`, as bits.
    pub(crate) fn groups(&self, text: &str) -> u32 {
        let mut found = 0u32;
        for m in self.automaton.find_overlapping_iter(text) {
            found |= self.bits[m.pattern().as_usize()];
            if found == self.all {
                break;
            }
        }
        found
    }

    /// Whether any marker occurs in `text`.
    pub(crate) fn any(&self, text: &str) -> bool {
        self.any.is_match(text)
    }
}

/// A marker set built on first use.
pub(crate) type Lazy = LazyLock<MarkerSet>;

#[cfg(test)]
mod tests {
    use super::*;

    /// The automata answer what one `contains` per marker on a lower-cased
    /// copy answered before.
    #[test]
    fn answers_as_a_search_per_marker_would() {
        let groups: &[&[&str]] = &[&["rmtree", "os.remove"], &["exec(", "popen"], &["169.254"]];
        let set = MarkerSet::new(groups);
        let texts = [
            "",
            "import shutil; shutil.RMTREE('/')",
            "os.Remove(x); EXEC(y)",
            "curl http://169.254.169.254/latest",
            "nothing to see",
            "rmtre os.remov exec popeN",
            "ÄÖÜ rmtree ünicode",
        ];
        for text in texts {
            let lower = text.to_ascii_lowercase();
            let mut want = 0u32;
            for (g, group) in groups.iter().enumerate() {
                if group.iter().any(|m| lower.contains(m)) {
                    want |= 1 << g;
                }
            }
            assert_eq!(set.groups(text), want, "{text}");
            assert_eq!(set.any(text), want != 0, "{text}");
        }
    }
}
