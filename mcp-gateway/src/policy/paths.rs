//! Which paths are sensitive: credentials and keys (secret wherever they
//! are), and system locations (the root, `/etc`, `/usr`, `/boot`, block
//! devices, shell start-up files, git hooks...).
//!
//! Paths are normalised lexically (`.`, `..`, doubled separators, `~`,
//! `$HOME`, `file://`, Windows separators) before they are compared, and
//! compared without regard to ASCII case, because macOS and Windows file
//! systems ignore it. Nothing here touches the file system.

use std::sync::LazyLock;

use super::markers::MarkerSet;

/// How sensitive a path is. Ordered: `Ordinary < System < Secret`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PathClass {
    Ordinary,
    /// The root, system directories, block devices and files that run code
    /// later (shell start-up files, git hooks, launch agents).
    System,
    /// Keys, credentials, tokens, `.env` files, password databases.
    Secret,
}

/// Components kept while normalising; deeper paths are judged on what fits.
const MAX_COMPONENTS: usize = 48;

/// A path split into its normalised components.
struct Parsed<'a> {
    stack: [&'a str; MAX_COMPONENTS],
    len: usize,
    /// Starts at the root of a file system, a drive, a share, or climbed
    /// above its starting point with `..` (so it may land anywhere).
    rooted: bool,
    /// Relative to a home directory (`~`, `$HOME`, `%USERPROFILE%`).
    home: bool,
    /// Has a Windows drive letter, a `\\?\` prefix or a UNC share.
    drive: bool,
}

impl<'a> Parsed<'a> {
    fn parts(&self) -> &[&'a str] {
        &self.stack[..self.len]
    }
}

fn parse(raw: &str) -> Option<Parsed<'_>> {
    let path = raw.trim();
    if path.is_empty() {
        return None;
    }
    let path = strip_file_scheme(path);
    let (path, unc) = strip_verbatim(path);
    let (path, home) = strip_home(path);
    let (path, drive) = strip_drive(path);
    let drive = drive || unc;
    let absolute = !home && (drive || path.starts_with(['/', '\\']));

    let mut p = Parsed {
        stack: [""; MAX_COMPONENTS],
        len: 0,
        rooted: false,
        home,
        drive,
    };
    // A relative path that climbs above its starting point with `..` may
    // land anywhere, so it is judged as if it were absolute.
    let mut escaped = false;
    for part in path.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                if p.len > 0 {
                    p.len -= 1;
                } else if !absolute && !home {
                    escaped = true;
                }
            }
            _ => {
                if p.len < MAX_COMPONENTS {
                    p.stack[p.len] = part;
                    p.len += 1;
                }
            }
        }
    }
    p.rooted = absolute || escaped;
    Some(p)
}

/// Classifies one path as written in a tool argument or a shell word.
pub(crate) fn classify(raw: &str) -> PathClass {
    classify_with(raw, &[])
}

/// Like [`classify`], with more directories whose whole content is secret
/// (each given as its normalised components, lower case), such as the
/// configured `HITL_DATA_DIR`.
pub(crate) fn classify_with(raw: &str, secret_dirs: &[Vec<String>]) -> PathClass {
    let Some(p) = parse(raw) else {
        return PathClass::Ordinary;
    };
    let parts = p.parts();
    if (may_be_secret(raw) && is_secret(parts, p.rooted, p.home))
        || under_any(parts, p.rooted, secret_dirs)
    {
        return PathClass::Secret;
    }
    if is_system(parts, p.rooted, p.drive) {
        return PathClass::System;
    }
    PathClass::Ordinary
}

/// Whether [`classify_with`] would call the path secret (without judging
/// whether it is a system path).
pub(crate) fn is_secret_with(raw: &str, secret_dirs: &[Vec<String>]) -> bool {
    if !may_be_secret(raw) && secret_dirs.is_empty() {
        return false;
    }
    let Some(p) = parse(raw) else {
        return false;
    };
    let parts = p.parts();
    (may_be_secret(raw) && is_secret(parts, p.rooted, p.home))
        || under_any(parts, p.rooted, secret_dirs)
}

/// A quick test that rules most paths out before they are split: every
/// secret path holds at least one of these names (ASCII case ignored),
/// since normalising only drops components, never makes one.
fn may_be_secret(raw: &str) -> bool {
    static MARKERS: LazyLock<MarkerSet> = LazyLock::new(|| {
        let pair_children: Vec<&str> = SECRET_PAIRS.iter().map(|(_, b)| *b).collect();
        let hitl: Vec<&str> = HITL_DATA_DIRS
            .iter()
            .filter_map(|d| d.last().copied())
            .collect();
        MarkerSet::new(&[
            SECRET_DIRS,
            SECRET_FILES,
            SECRET_EXTENSIONS,
            SECRET_ETC,
            &pair_children,
            &hitl,
            // `.env.*`, `/etc/ssl/private`, `/run/secrets`, `/proc/*/environ`.
            &[".env.", "private", "secrets", "environ", "mem"],
        ])
    });
    MARKERS.any(raw)
}

/// A directory given in configuration, as the components `classify_with`
/// compares against (lower case, `.` and `..` resolved, `~` kept as `~`).
pub(crate) fn dir_components(raw: &str) -> Vec<String> {
    let Some(p) = parse(raw) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::with_capacity(p.len + 1);
    if p.home {
        out.push("~".to_owned());
    }
    out.extend(p.parts().iter().map(|s| s.to_ascii_lowercase()));
    out
}

fn under_any(parts: &[&str], rooted: bool, dirs: &[Vec<String>]) -> bool {
    dirs.iter().any(|dir| {
        if dir.is_empty() {
            return false;
        }
        // `~/x` and `/home/u/x` are compared by what follows the root or
        // the home folder; a match anywhere in the path counts, so a
        // relative path that happens to name it from a parent counts too.
        let dir = match dir.first().map(String::as_str) {
            Some("~") => &dir[1..],
            _ => &dir[..],
        };
        let _ = rooted;
        parts
            .windows(dir.len().max(1))
            .any(|w| w.len() == dir.len() && w.iter().zip(dir).all(|(a, b)| eq(a, b)))
    })
}

/// The normalised form of a path-looking value, for rules to match:
/// `.` and `..` resolved, separators made `/`, `file://` and Windows
/// verbatim prefixes dropped; `None` when the value does not look like a
/// path (no separator).
pub(crate) fn normalise(raw: &str) -> Option<String> {
    if !raw.contains(['/', '\\']) || raw.contains('\n') {
        return None;
    }
    let trimmed = raw.trim();
    // URLs other than file:// are not paths.
    if let Some(colon) = trimmed.find("://")
        && !trimmed[..colon].eq_ignore_ascii_case("file")
    {
        return None;
    }
    let p = parse(trimmed)?;
    let mut out = String::with_capacity(raw.len());
    if p.home {
        out.push('~');
        out.push('/');
    } else if p.rooted {
        out.push('/');
    }
    for (i, part) in p.parts().iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(part);
    }
    if p.rooted && p.len == 0 && !p.home {
        out.clear();
        out.push('/');
    }
    Some(out)
}

/// Whether a value reads as a path on its own: it starts like one
/// (`/`, `~`, `./`, `../`, `\\`, a drive, `file:`), or holds a separator
/// and no blanks.
pub(crate) fn looks_like_path(raw: &str) -> bool {
    let t = raw.trim();
    if t.is_empty() || t.len() > 4096 || t.contains('\n') {
        return false;
    }
    if t.starts_with(['/', '~', '\\'])
        || t.starts_with("./")
        || t.starts_with("../")
        || t.starts_with("$HOME")
        || t.starts_with("${HOME}")
        || t.starts_with('%')
        || starts_with_ci(t, "file:")
    {
        return true;
    }
    let b = t.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return true;
    }
    if t.contains("://") {
        return false;
    }
    (t.contains('/') || t.contains('\\')) && !t.contains(char::is_whitespace)
}

/// Whether the path names the whole file system or a whole home directory:
/// `/`, `/*`, `~`, `~/`, `$HOME`, `C:\`.
pub(crate) fn is_root_or_home(raw: &str) -> bool {
    let path = raw.trim();
    let path = path.strip_suffix("/*").unwrap_or(path);
    let path = path.strip_suffix("/.").unwrap_or(path);
    if path.is_empty() || path.chars().all(|c| c == '/' || c == '\\') {
        return true;
    }
    let (rest, home) = strip_home(path);
    if home && rest.chars().all(|c| c == '/' || c == '\\') {
        return true;
    }
    let (rest, drive) = strip_drive(path);
    drive && rest.chars().all(|c| c == '/' || c == '\\')
}

fn strip_file_scheme(path: &str) -> &str {
    if starts_with_ci(path, "file://") {
        let rest = &path[7..];
        // `file://localhost/etc/passwd` and `file:///etc/passwd` both name /etc/passwd.
        if starts_with_ci(rest, "localhost") {
            return &rest[9..];
        }
        return rest;
    }
    path
}

/// Strips `~`, `~user`, `$HOME`, `${HOME}` and `%USERPROFILE%`; the flag
/// says the rest is relative to a home directory.
fn strip_home(path: &str) -> (&str, bool) {
    for prefix in ["$HOME", "${HOME}", "%USERPROFILE%", "%HOMEPATH%"] {
        if starts_with_ci(path, prefix) {
            let rest = &path[prefix.len()..];
            if rest.is_empty() || rest.starts_with(['/', '\\']) {
                return (rest, true);
            }
        }
    }
    if let Some(rest) = path.strip_prefix('~') {
        // `~alice/.ssh` is another user's home: skip the user name.
        let end = rest.find(['/', '\\']).unwrap_or(rest.len());
        return (&rest[end..], true);
    }
    (path, false)
}

/// Strips a Windows drive (`C:`); the flag says there was one. A
/// drive-relative path (`C:Windows\x`, relative to that drive's current
/// folder, which may well be its root) counts as rooted.
fn strip_drive(path: &str) -> (&str, bool) {
    let bytes = path.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return (&path[2..], true);
    }
    (path, false)
}

/// Strips Windows' verbatim and device prefixes (`\\?\`, `\\.\`, `//?/`)
/// and a UNC server and share (`\\server\share`, `\\?\UNC\server\share`);
/// the flag says the rest is rooted at a drive or share.
fn strip_verbatim(path: &str) -> (&str, bool) {
    let b = path.as_bytes();
    let sep = |c: u8| c == b'\\' || c == b'/';
    if b.len() >= 4 && sep(b[0]) && sep(b[1]) && (b[2] == b'?' || b[2] == b'.') && sep(b[3]) {
        let rest = &path[4..];
        if rest.len() >= 4 && starts_with_ci(rest, "UNC") && sep(rest.as_bytes()[3]) {
            return (skip_share(&rest[4..]), true);
        }
        return (rest, true);
    }
    if b.len() >= 3 && b[0] == b'\\' && b[1] == b'\\' && !sep(b[2]) {
        return (skip_share(&path[2..]), true);
    }
    (path, false)
}

/// `server\share\rest` -> `\rest`.
fn skip_share(s: &str) -> &str {
    let mut seps = s.match_indices(['\\', '/']);
    match (seps.next(), seps.next()) {
        (Some(_), Some((i, _))) => &s[i..],
        _ => "",
    }
}

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn ends_with_ci(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.is_char_boundary(s.len() - suffix.len())
        && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Directories whose whole content is secret, wherever they are.
const SECRET_DIRS: &[&str] = &[
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".kube",
    ".password-store",
    ".hitl",
    ".fly",
    ".oci",
    "keychains",
    "keyrings",
    "kwalletd",
    "1password",
    "bitwarden",
    ".bitwarden",
];

/// File names that hold keys, tokens or passwords, wherever they are.
const SECRET_FILES: &[&str] = &[
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    "id_ecdsa_sk",
    "id_ed25519_sk",
    "authorized_keys",
    ".netrc",
    "_netrc",
    ".pgpass",
    ".my.cnf",
    ".git-credentials",
    ".npmrc",
    ".pypirc",
    ".vault-token",
    ".htpasswd",
    ".bash_history",
    ".zsh_history",
    ".psql_history",
    ".mysql_history",
    ".python_history",
    ".env",
    ".envrc",
    ".boto",
    ".s3cfg",
    ".databrickscfg",
    ".terraformrc",
    "terraform.rc",
    "terraform.tfstate",
    "terraform.tfstate.backup",
    "credentials",
    "credentials.toml",
    "credentials.json",
    "credentials.db",
    "credentials.xml",
    "application_default_credentials.json",
    "access_tokens.db",
    "service-account.json",
    "secrets.json",
    "secrets.yaml",
    "secrets.yml",
    "secrets.toml",
    "settings-security.xml",
    "rclone.conf",
    // Browser credential and cookie stores (Chromium, Firefox).
    "login data",
    "login data for account",
    "cookies",
    "cookies.sqlite",
    "logins.json",
    "key3.db",
    "key4.db",
    "web data",
    "local state",
    "ntds.dit",
    // hitl's own API token and database.
    "hitl.db",
];

/// Extensions of private keys, key stores and password databases.
const SECRET_EXTENSIONS: &[&str] = &[
    ".pem",
    ".key",
    ".p12",
    ".pfx",
    ".jks",
    ".keystore",
    ".kdbx",
    ".kdb",
    ".keychain",
    ".keychain-db",
    ".1pif",
    ".opvault",
    ".agilekeychain",
    ".gpg",
    ".ovpn",
    ".tfvars",
];

/// Suffixes that make a `.env.*` file a template rather than a secret.
const ENV_TEMPLATES: &[&str] = &["example", "sample", "template", "dist", "defaults"];

/// Files under `/etc` that hold password hashes, sudo rules or host keys.
const SECRET_ETC: &[&str] = &[
    "shadow",
    "shadow-",
    "gshadow",
    "passwd",
    "master.passwd",
    "sudoers",
    "sudoers.d",
    "ssh",
    "krb5.keytab",
];

/// Pairs of directories that hold credentials: `(parent, child)`.
const SECRET_PAIRS: &[(&str, &str)] = &[
    (".config", "gcloud"),
    (".config", "gh"),
    (".config", "hub"),
    (".config", "doctl"),
    (".config", "heroku"),
    (".config", "op"),
    (".config", "hitl"),
    (".docker", "config.json"),
    (".cargo", "credentials"),
    (".cargo", "credentials.toml"),
    // Windows credential hives.
    ("config", "sam"),
    ("config", "security"),
    ("config", "system"),
    ("microsoft", "credentials"),
    ("microsoft", "protect"),
    ("microsoft", "vault"),
    ("kubernetes", "pki"),
    ("kubernetes", "admin.conf"),
    ("secrets", "kubernetes.io"),
];

/// hitl's default data folder on each OS (its API token and database),
/// as the components that lead to it from a home directory.
const HITL_DATA_DIRS: &[&[&str]] = &[
    &[".local", "share", "hitl"],
    &["library", "application support", "hitl"],
    &["appdata", "roaming", "hitl"],
    &["appdata", "local", "hitl"],
    // The same folders named through the variables that hold them.
    &["%appdata%", "hitl"],
    &["%localappdata%", "hitl"],
    &["$xdg_data_home", "hitl"],
    &["${xdg_data_home}", "hitl"],
];

fn is_secret(parts: &[&str], rooted: bool, _home: bool) -> bool {
    let Some(&name) = parts.last() else {
        return false;
    };
    if parts.iter().any(|p| SECRET_DIRS.iter().any(|d| eq(p, d))) {
        return true;
    }
    if SECRET_FILES.iter().any(|f| eq(name, f)) {
        return true;
    }
    if starts_with_ci(name, ".env.") {
        let suffix = &name[5..];
        return !ENV_TEMPLATES.iter().any(|t| eq(suffix, t));
    }
    if SECRET_EXTENSIONS.iter().any(|ext| ends_with_ci(name, ext)) {
        return true;
    }
    for pair in parts.windows(2) {
        for (a, b) in SECRET_PAIRS {
            if eq(pair[0], a) && eq(pair[1], b) {
                return true;
            }
        }
    }
    for dir in HITL_DATA_DIRS {
        if parts
            .windows(dir.len())
            .any(|w| w.iter().zip(dir.iter()).all(|(p, d)| eq(p, d)))
        {
            return true;
        }
    }
    if rooted {
        let first = parts[0];
        let etc =
            eq(first, "etc") || (eq(first, "private") && parts.len() > 1 && eq(parts[1], "etc"));
        if etc {
            let idx = if eq(first, "etc") { 1 } else { 2 };
            if let Some(p) = parts.get(idx) {
                if SECRET_ETC.iter().any(|s| eq(p, s)) {
                    return true;
                }
                if eq(p, "ssl") && parts.get(idx + 1).is_some_and(|q| eq(q, "private")) {
                    return true;
                }
            }
        }
        // Mounted secrets of containers and Kubernetes pods.
        if eq(first, "run") && parts.get(1).is_some_and(|p| eq(p, "secrets")) {
            return true;
        }
        if eq(first, "var")
            && parts.get(1).is_some_and(|p| eq(p, "run"))
            && parts.get(2).is_some_and(|p| eq(p, "secrets"))
        {
            return true;
        }
        // The environment of a process holds its secrets.
        if eq(first, "proc") && (eq(name, "environ") || eq(name, "mem")) {
            return true;
        }
    }
    false
}

/// Top-level directories of Unix-like systems that belong to the system.
const SYSTEM_ROOTS: &[&str] = &[
    "etc", "usr", "boot", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "sys", "proc", "root",
    "System", "Library", "private", "efi",
];

/// Windows system folders (after the drive).
const WINDOWS_ROOTS: &[&str] = &[
    "windows",
    "program files",
    "program files (x86)",
    "programdata",
];

/// Device names of disks and partitions under `/dev`.
const BLOCK_DEVICES: &[&str] = &[
    "sd", "hd", "vd", "xvd", "nvme", "mmcblk", "disk", "rdisk", "mapper", "md", "dm-", "loop",
    "root",
];

/// Files that run code the next time a shell or session starts.
const STARTUP_FILES: &[&str] = &[
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".profile",
    ".zshrc",
    ".zprofile",
    ".zshenv",
    ".zlogin",
    ".cshrc",
    ".tcshrc",
    ".kshrc",
    "config.fish",
];

fn is_system(parts: &[&str], rooted: bool, drive: bool) -> bool {
    if rooted {
        let Some(&first) = parts.first() else {
            // The root itself.
            return true;
        };
        if SYSTEM_ROOTS.iter().any(|r| eq(first, r)) {
            return true;
        }
        if WINDOWS_ROOTS.iter().any(|r| eq(first, r)) {
            return true;
        }
        if eq(first, "dev")
            && let Some(dev) = parts.get(1)
            && BLOCK_DEVICES.iter().any(|b| starts_with_ci(dev, b))
        {
            return true;
        }
        if eq(first, "var") && parts.get(1).is_some_and(|p| eq(p, "spool") || eq(p, "lib")) {
            return true;
        }
    } else if drive && parts.is_empty() {
        return true;
    }
    let Some(&name) = parts.last() else {
        return false;
    };
    if STARTUP_FILES.iter().any(|f| eq(name, f)) {
        return true;
    }
    for pair in parts.windows(2) {
        if eq(pair[0], ".git") && eq(pair[1], "hooks") {
            return true;
        }
        if eq(pair[0], "Library") && (eq(pair[1], "LaunchAgents") || eq(pair[1], "LaunchDaemons")) {
            return true;
        }
        if eq(pair[0], ".config") && eq(pair[1], "autostart") {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_before_comparing() {
        assert_eq!(classify("/tmp/../etc/hosts"), PathClass::System);
        assert_eq!(classify("//etc//./hosts"), PathClass::System);
        assert_eq!(classify("../../../../etc/hosts"), PathClass::System);
        assert_eq!(classify("etc/hosts"), PathClass::Ordinary);
        assert_eq!(classify("file:///etc/hosts"), PathClass::System);
        assert_eq!(classify("C:\\Windows\\System32\\x.dll"), PathClass::System);
        assert_eq!(classify("/ETC/hosts"), PathClass::System);
    }

    #[test]
    fn knows_secrets() {
        assert_eq!(classify("~/.ssh/id_rsa"), PathClass::Secret);
        assert_eq!(classify("$HOME/.aws/credentials"), PathClass::Secret);
        assert_eq!(classify("/home/a/project/.env"), PathClass::Secret);
        assert_eq!(classify(".env.production"), PathClass::Secret);
        assert_eq!(classify(".env.example"), PathClass::Ordinary);
        assert_eq!(classify("/etc/shadow"), PathClass::Secret);
        assert_eq!(classify("id_rsa.pub"), PathClass::Ordinary);
    }

    #[test]
    fn root_and_home() {
        for p in ["/", "/*", "~", "~/", "$HOME", "C:\\", "//"] {
            assert!(is_root_or_home(p), "{p}");
        }
        for p in ["/tmp", "~/x", "build"] {
            assert!(!is_root_or_home(p), "{p}");
        }
    }
}
