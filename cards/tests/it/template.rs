//! The shared templating engine: `${path}`, `$data`, `$when`, `$raw`, and
//! errors that say where the template is wrong.

use hitl_cards::template::{Escape, no_escape, render, render_str};
use serde_json::{Value, json};

fn upper(_key: Option<&str>, raw: &str) -> String {
    raw.to_uppercase()
}

fn data() -> Value {
    json!({
        "tool": "write_file",
        "risk": { "label": "High risk", "level": "high" },
        "count": 3,
        "flag": true,
        "off": false,
        "nothing": null,
        "empty": [],
        "items": [{ "name": "a" }, { "name": "b" }],
        "mention": { "$raw": "<@U024BE7LH>" },
        "sneaky": "${tool}",
    })
}

fn fill(template: Value, escape: Escape) -> Value {
    render(&template, &data(), escape).unwrap()
}

#[test]
fn placeholders_are_filled_inside_strings() {
    assert_eq!(
        fill(
            json!({ "text": "Run ${tool} (${risk.label}), ${count} left, ${flag}" }),
            no_escape
        ),
        json!({ "text": "Run write_file (High risk), 3 left, true" })
    );
    assert_eq!(
        fill(json!(["${nothing}", "x${ nothing }y"]), no_escape),
        json!(["", "xy"])
    );
    assert_eq!(
        fill(json!({ "n": 5, "b": false }), no_escape),
        json!({ "n": 5, "b": false })
    );
}

#[test]
fn every_inserted_value_goes_through_the_escaper_and_template_text_does_not() {
    assert_eq!(fill(json!("run ${tool}"), upper), json!("run WRITE_FILE"));
    let key_seen = |key: Option<&str>, raw: &str| format!("{}={raw}", key.unwrap_or("-"));
    assert_eq!(
        fill(json!({ "value": "${tool}" }), key_seen),
        json!({ "value": "value=write_file" })
    );
    assert_eq!(fill(json!(["${tool}"]), key_seen), json!(["-=write_file"]));
}

#[test]
fn raw_fragments_skip_the_escaper() {
    assert_eq!(
        fill(json!("by ${mention}"), upper),
        json!("by <@U024BE7LH>")
    );
}

#[test]
fn inserted_values_are_not_filled_again() {
    assert_eq!(fill(json!("${sneaky}"), no_escape), json!("${tool}"));
}

#[test]
fn data_repeats_an_element_per_item_with_index_and_root() {
    let template = json!({ "list": [
        "first",
        { "$data": "${items}", "text": "${$index}: ${name} of ${$root.tool}" },
        "last",
    ] });
    assert_eq!(
        fill(template, no_escape),
        json!({ "list": ["first", { "text": "0: a of write_file" }, { "text": "1: b of write_file" }, "last"] })
    );
    assert_eq!(
        fill(json!([{ "$data": "${empty}", "x": 1 }]), no_escape),
        json!([])
    );
    assert_eq!(
        fill(json!([{ "$data": "${nothing}", "x": 1 }]), no_escape),
        json!([])
    );
    assert_eq!(
        fill(
            json!({ "a": { "$data": "${risk}", "l": "${level}" } }),
            no_escape
        ),
        json!({ "a": { "l": "high" } })
    );
}

#[test]
fn when_keeps_or_drops_an_element() {
    let template = json!([
        { "$when": "${flag}", "t": "flag" },
        { "$when": "${off}", "t": "off" },
        { "$when": "${!off}", "t": "not off" },
        { "$when": "${nothing}", "t": "nothing" },
        { "$when": "${empty}", "t": "empty" },
        { "$when": "${count}", "t": "count" },
        { "$data": "${items}", "$when": "${!$root.off}", "t": "${name}" },
    ]);
    assert_eq!(
        fill(template, no_escape),
        json!([{ "t": "flag" }, { "t": "not off" }, { "t": "count" }, { "t": "a" }, { "t": "b" }])
    );
    assert_eq!(
        fill(
            json!({ "k": { "$when": "${off}", "x": 1 }, "j": 2 }),
            no_escape
        ),
        json!({ "j": 2 })
    );
}

#[test]
fn errors_name_the_place_and_the_problem() {
    let err = |template: Value| render(&template, &data(), no_escape).unwrap_err();
    let e = err(json!({ "blocks": [{ "text": { "text": "${toool}" } }] }));
    assert_eq!(e.at, "/blocks/0/text/text");
    assert!(e.message.contains("unknown field `toool`"), "{e}");
    assert!(
        err(json!({ "a": "${risk.colour}" }))
            .message
            .contains("unknown field `colour`")
    );
    assert!(
        err(json!("oops ${tool"))
            .message
            .contains("unclosed placeholder")
    );
    assert!(err(json!("${items}")).message.contains("list or object"));
    assert!(err(json!("${tool.name}")).message.contains("no fields"));
    assert!(
        err(json!("${if(flag, 'a', 'b')}"))
            .message
            .contains("not a simple path")
    );
    assert!(err(json!("${}")).message.contains("not a simple path"));
    assert!(
        err(json!("${$index}"))
            .message
            .contains("only defined inside")
    );
    assert!(
        err(json!([{ "$data": "${tool}" }]))
            .message
            .contains("neither a list nor an object")
    );
    assert!(
        err(json!([{ "$data": "items" }]))
            .message
            .contains("single placeholder")
    );
    assert!(
        err(json!([{ "$when": "flag" }]))
            .message
            .contains("single placeholder")
    );
    assert!(
        err(json!([{ "$when": "${missing}" }]))
            .message
            .contains("unknown field `missing`")
    );
    let e = err(json!({ "k": { "$data": "${items}", "x": 1 } }));
    assert_eq!(e.at, "/k");
    assert!(e.message.contains("inside an array"), "{e}");
    assert_eq!(e.to_string(), format!("at /k: {}", e.message));
}

#[test]
fn string_templates_fill_the_same_way() {
    assert_eq!(
        render_str("${count} for ${tool}", &data(), upper).unwrap(),
        "3 for WRITE_FILE"
    );
    assert!(render_str("${nope}", &data(), no_escape).is_err());
}
