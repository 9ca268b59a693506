//! Canonical JSON and the argument hash.
//!
//! An approval is bound to the exact arguments it was given for: the gateway
//! and the service both hash the canonical form, so a reordered object is the
//! same call and any changed value is a different one. Object keys are sorted
//! by their UTF-8 bytes and no whitespace is written, whatever order the
//! `serde_json::Map` keeps (another crate in the graph may turn on
//! `preserve_order`).

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The canonical text of a JSON value: keys sorted, no insignificant whitespace.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

/// `sha256:` followed by the hex SHA-256 of [`canonical_json`].
pub fn arguments_hash(value: &Value) -> String {
    let digest = Sha256::digest(canonical_json(value).as_bytes());
    format!("sha256:{}", hex::encode(digest))
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        // Scalars already have one textual form in serde_json.
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_does_not_change_the_hash() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":[1,2],"x":"s"}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{ "a": {"x": "s", "y": [1, 2]}, "b": 1 }"#).unwrap();
        assert_eq!(canonical_json(&a), r#"{"a":{"x":"s","y":[1,2]},"b":1}"#);
        assert_eq!(arguments_hash(&a), arguments_hash(&b));
    }

    #[test]
    fn any_changed_value_changes_the_hash() {
        let base = json!({"path": "/tmp/a", "content": "x"});
        for other in [
            json!({"path": "/tmp/b", "content": "x"}),
            json!({"path": "/tmp/a", "content": "x "}),
            json!({"path": "/tmp/a", "content": "x", "mode": 1}),
            json!({"path": "/tmp/a"}),
            json!([{"path": "/tmp/a", "content": "x"}]),
        ] {
            assert_ne!(arguments_hash(&base), arguments_hash(&other), "{other}");
        }
    }

    #[test]
    fn hash_has_a_known_value() {
        // sha256 of the seven bytes {"a":1}
        assert_eq!(
            arguments_hash(&json!({"a": 1})),
            "sha256:015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
        );
    }

    #[test]
    fn strings_are_escaped_once() {
        assert_eq!(canonical_json(&json!({"k\"": "a\nb"})), r#"{"k\"":"a\nb"}"#);
    }
}
