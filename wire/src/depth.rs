//! How deep JSON nests, measured on the raw bytes before anything parses
//! them, so a hostile body can neither overflow a recursive parser nor make
//! a record that some client cannot read back.

/// Deepest nesting of a call's arguments anyone accepts (the arguments
/// object itself is level 1). The gateway refuses deeper calls before they
/// are held; the approval service refuses deeper bodies before they are
/// parsed.
pub const MAX_ARGUMENT_DEPTH: usize = 64;

/// The deepest nesting of objects and arrays in `json` (a scalar is 0, `{}`
/// or `[]` is 1). Brackets inside strings do not count. One pass, no
/// recursion, no allocation; bytes that are not JSON give some number and
/// are left for the parser to refuse.
pub fn json_depth(json: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_containers_not_brackets_in_strings() {
        assert_eq!(json_depth(b"1"), 0);
        assert_eq!(json_depth(b"\"[[{{\""), 0);
        assert_eq!(json_depth(b"{}"), 1);
        assert_eq!(json_depth(br#"{"a":[1,{"b":[]}]}"#), 4);
        assert_eq!(json_depth(br#"{"a":"\"{[","b":{"c":"\\"},"d":[]}"#), 2);
        assert_eq!(json_depth(br#"[{}, {}, [[]]]"#), 3);
    }

    #[test]
    fn agrees_with_serde_json_on_nested_values() {
        for levels in [1, 63, 64, 65, 125] {
            let mut v = serde_json::json!("leaf");
            for _ in 0..levels {
                v = serde_json::json!({ "a": [v] });
            }
            let text = serde_json::to_vec(&v).unwrap();
            assert_eq!(json_depth(&text), 2 * levels);
        }
    }

    #[test]
    fn a_megabyte_of_brackets_is_measured_without_recursion() {
        assert_eq!(json_depth(&vec![b'['; 1 << 20]), 1 << 20);
    }
}
