//! The Teams app package in `deploy/teams/`: `package.py` fills in the app
//! id and domain and zips it; the manifest validates against Microsoft's
//! published JSON schema for its version; the icons have the sizes Teams
//! asks for; the bot's commands and scopes are the ones the bot serves.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::{APP_ID, python};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/teams")
}

#[allow(clippy::disallowed_methods)]
fn node_modules() -> String {
    let dir = std::env::var("HITL_NODE_MODULES").unwrap_or_default();
    assert!(
        !dir.is_empty(),
        "set HITL_NODE_MODULES (./scripts/test does this)"
    );
    dir
}

fn package(args: &[&str], out: &Path) -> std::process::Output {
    Command::new(python())
        .arg(deploy().join("package.py"))
        .args(args)
        .arg("--output")
        .arg(out)
        .output()
        .unwrap()
}

/// `(passed, printed)` of the schema check of `manifest`.
fn validate(manifest: &Path) -> (bool, String) {
    let out = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/teams/validate_manifest.js"))
        .arg(manifest)
        .env("NODE_PATH", node_modules())
        .output()
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), printed)
}

/// Width, height and PNG colour type from the IHDR chunk.
fn png_header(bytes: &[u8]) -> (u32, u32, u8) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20), bytes[25])
}

#[test]
fn the_package_validates_against_microsofts_schema_with_the_app_id_filled_in() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("hitl-teams.zip");
    let out = package(
        &[
            "--app-id",
            APP_ID,
            "--domain",
            "Bot.Example.com",
            "--version",
            "1.2.3",
        ],
        &zip,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = dir.path().join("unzipped");
    let unzip = Command::new(python())
        .args(["-m", "zipfile", "-e"])
        .arg(&zip)
        .arg(&files)
        .status()
        .unwrap();
    assert!(unzip.success());
    let mut names: Vec<String> = std::fs::read_dir(&files)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["color.png", "manifest.json", "outline.png"],
        "files at the zip's root"
    );

    let (ok, printed) = validate(&files.join("manifest.json"));
    assert!(ok, "the manifest does not match its schema:\n{printed}");

    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(files.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["id"], APP_ID);
    assert_eq!(manifest["version"], "1.2.3");
    let bot = &manifest["bots"][0];
    assert_eq!(bot["botId"], APP_ID);
    assert_eq!(
        bot["scopes"],
        serde_json::json!(["team", "groupChat", "personal"])
    );
    let commands: Vec<&str> = bot["commandLists"][0]["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["title"].as_str().unwrap())
        .collect();
    assert_eq!(commands, ["pending", "show", "approve", "reject", "help"]);
    assert_eq!(
        manifest["validDomains"],
        serde_json::json!(["bot.example.com"])
    );
    assert!(
        !manifest.to_string().contains("${"),
        "a placeholder was left"
    );

    let color = png_header(&std::fs::read(files.join("color.png")).unwrap());
    assert_eq!(color, (192, 192, 6));
    let outline = png_header(&std::fs::read(files.join("outline.png")).unwrap());
    assert_eq!(outline, (32, 32, 6), "a transparent 32x32 outline");
}

/// The schema check must catch a broken manifest, or a pass means nothing.
#[test]
fn the_schema_check_refuses_a_broken_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(deploy().join("manifest.json"))
        .unwrap()
        .replace("${TEAMS_APP_ID}", APP_ID)
        .replace("${BOT_DOMAIN}", "bot.example.com");
    let mut manifest: Value = serde_json::from_str(&text).unwrap();
    manifest["bots"][0]["scopes"] = serde_json::json!(["everywhere"]);
    manifest["name"]["short"] = Value::from("a name much longer than thirty characters");
    let file = dir.path().join("manifest.json");
    std::fs::write(&file, manifest.to_string()).unwrap();
    let (ok, printed) = validate(&file);
    assert!(!ok, "{printed}");
    assert!(printed.contains("/bots/0/scopes/0"), "{printed}");
    assert!(printed.contains("/name/short"), "{printed}");
}

#[test]
fn packaging_refuses_an_app_id_or_domain_that_cannot_work() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("x.zip");
    for (args, says) in [
        (
            vec!["--app-id", "my-bot", "--domain", "bot.example.com"],
            "is not a GUID",
        ),
        (
            vec![
                "--app-id",
                APP_ID,
                "--domain",
                "https://bot.example.com/api",
            ],
            "host name",
        ),
        (
            vec![
                "--app-id",
                APP_ID,
                "--domain",
                "bot.example.com",
                "--version",
                "2",
            ],
            "1.2.3",
        ),
    ] {
        let out = package(&args, &zip);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{args:?}"
        );
        assert!(!zip.exists(), "{args:?} wrote a package");
    }
}
