//! The audit trail as CSV (`hitl-bot audit export --format csv`): RFC 4180
//! quoting, and no cell a spreadsheet would run as a formula.
//!
//! Actors, reasons and request ids are text people or agents typed; a cell
//! starting with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula
//! to Excel, LibreOffice and Google Sheets (OWASP "CSV injection"). Such a
//! cell is written with a leading `'`, which every one of them shows as text.

use hitl_wire::api::AuditEvent;

/// The header row.
pub const HEADER: &str = "seq,request_id,at,actor,action,from_status,to_status,detail";

/// One row for `e`, without the line ending.
pub fn row(e: &AuditEvent) -> String {
    let fields = [
        e.seq.to_string(),
        e.request_id.clone(),
        e.at.to_rfc3339(),
        e.actor.clone(),
        e.action.clone(),
        e.from_status.map(|s| s.to_string()).unwrap_or_default(),
        e.to_status.to_string(),
        if e.detail.is_null() {
            String::new()
        } else {
            e.detail.to_string()
        },
    ];
    fields
        .iter()
        .map(|f| field(f))
        .collect::<Vec<_>>()
        .join(",")
}

/// One cell: defused if a spreadsheet would read it as a formula, then
/// quoted if it holds a comma, quote or line break.
pub fn field(f: &str) -> String {
    let defused;
    let f = if f.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        defused = format!("'{f}");
        defused.as_str()
    } else {
        f
    };
    if f.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn cells_a_spreadsheet_would_run_are_written_as_text() {
        let cases = [
            (
                "=HYPERLINK(\"http://x\")",
                "\"'=HYPERLINK(\"\"http://x\"\")\"",
            ),
            ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "\"'\r=1\""),
            ("alice", "alice"),
            ("a=b", "a=b"),
            ("", ""),
            ("x,y", "\"x,y\""),
        ];
        let wrong: Vec<_> = cases
            .iter()
            .filter(|(input, want)| field(input) != *want)
            .map(|(input, want)| format!("{input:?}: got {:?}, want {want:?}", field(input)))
            .collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
    }
}
