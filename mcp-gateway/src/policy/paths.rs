//! Which paths are sensitive: credentials and keys (secret wherever they
//! are), and system locations (the root, `/etc`, `/usr`, `/boot`, block
//! devices, shell start-up files, git hooks...).
//!
//! Paths are normalised lexically (`.`, `..`, doubled separators, `~`,
//! `$HOME`, `file://`, Windows separators) before they are compared, and
//! compared without regard to ASCII case, because macOS and Windows file
//! systems ignore it. Nothing here touches the file system.

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

/// Classifies one path as written in a tool argument or a shell word.
pub(crate) fn classify(raw: &str) -> PathClass {
    let path = raw.trim();
    if path.is_empty() {
        return PathClass::Ordinary;
    }
    let path = strip_file_scheme(path);
    let (path, home) = strip_home(path);
    let (path, drive) = strip_drive(path);
    let absolute = !home && (drive || path.starts_with(['/', '\\']));

    let mut stack: [&str; MAX_COMPONENTS] = [""; MAX_COMPONENTS];
    let mut len = 0usize;
    // A relative path that climbs above its starting point with `..` may
    // land anywhere, so it is judged as if it were absolute.
    let mut escaped = false;
    for part in path.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                if len > 0 {
                    len -= 1;
                } else if !absolute && !home {
                    escaped = true;
                }
            }
            _ => {
                if len < MAX_COMPONENTS {
                    stack[len] = part;
                    len += 1;
                }
            }
        }
    }
    let parts = &stack[..len];
    let rooted = absolute || escaped;

    let secret = is_secret(parts, rooted);
    if secret {
        return PathClass::Secret;
    }
    if is_system(parts, rooted, drive) {
        return PathClass::System;
    }
    PathClass::Ordinary
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
    if path.len() >= 7 && path[..7].eq_ignore_ascii_case("file://") {
        let rest = &path[7..];
        // `file://localhost/etc/passwd` and `file:///etc/passwd` both name /etc/passwd.
        if rest.len() >= 9 && rest[..9].eq_ignore_ascii_case("localhost") {
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
        if path.len() >= prefix.len() && path[..prefix.len()].eq_ignore_ascii_case(prefix) {
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

/// Strips a Windows drive (`C:`); the flag says there was one.
fn strip_drive(path: &str) -> (&str, bool) {
    let bytes = path.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        let rest = &path[2..];
        if rest.is_empty() || rest.starts_with(['/', '\\']) {
            return (rest, true);
        }
    }
    (path, false)
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
    ".git-credentials",
    ".npmrc",
    ".pypirc",
    ".vault-token",
    ".htpasswd",
    ".bash_history",
    ".zsh_history",
    ".env",
    "credentials",
    "credentials.json",
    "credentials.db",
    "service-account.json",
    "secrets.json",
    "secrets.yaml",
    "secrets.yml",
    "secrets.toml",
];

/// Extensions of private keys and key stores.
const SECRET_EXTENSIONS: &[&str] = &[".pem", ".key", ".p12", ".pfx", ".jks", ".keystore"];

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
];

fn is_secret(parts: &[&str], rooted: bool) -> bool {
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
    // Cloud CLIs keep tokens under ~/.config/gcloud and ~/.docker/config.json.
    for pair in parts.windows(2) {
        if eq(pair[0], ".config") && (eq(pair[1], "gcloud") || eq(pair[1], "gh")) {
            return true;
        }
        if eq(pair[0], ".docker") && eq(pair[1], "config.json") {
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
