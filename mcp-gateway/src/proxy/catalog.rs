//! Names across several upstreams: which upstream serves a tool or prompt,
//! and the name the client knows it by.
//!
//! A name stays as the upstream gave it unless two upstreams use it; then
//! each becomes `server__name`, so nothing is hidden and nothing is ambiguous.

use std::collections::HashMap;
use std::sync::RwLock;

/// Where an exposed name leads.
#[derive(Debug, Clone)]
pub struct Entry<T> {
    /// Index of the upstream in the gateway's list.
    pub upstream: usize,
    /// The name the upstream knows it by.
    pub name: String,
    pub item: T,
}

#[derive(Debug)]
pub struct Catalog<T> {
    map: RwLock<HashMap<String, Entry<T>>>,
}

impl<T> Default for Catalog<T> {
    fn default() -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
        }
    }
}

impl<T: Clone> Catalog<T> {
    pub fn get(&self, exposed: &str) -> Option<Entry<T>> {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(exposed)
            .cloned()
    }

    pub fn contains(&self, exposed: &str) -> bool {
        self.map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(exposed)
    }

    /// Adds entries (one upstream's page), keeping the others.
    pub fn extend(&self, entries: impl IntoIterator<Item = (String, Entry<T>)>) {
        self.map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .extend(entries);
    }

    /// Replaces everything (a complete listing of every upstream).
    pub fn replace(&self, entries: impl IntoIterator<Item = (String, Entry<T>)>) {
        *self.map.write().unwrap_or_else(|p| p.into_inner()) = entries.into_iter().collect();
    }
}

/// Separator between the server name and the item's name when prefixed.
pub const SEPARATOR: &str = "__";

/// The exposed name of each `(upstream, name, item)`, given the upstreams'
/// names: unchanged when unique, `server__name` when two upstreams share it.
pub fn expose<T>(items: Vec<(usize, String, T)>, servers: &[String]) -> Vec<(String, Entry<T>)> {
    let mut owners: HashMap<&str, std::collections::HashSet<usize>> = HashMap::new();
    for (up, name, _) in &items {
        owners.entry(name.as_str()).or_default().insert(*up);
    }
    let shared: std::collections::HashSet<String> = owners
        .into_iter()
        .filter(|(_, ups)| ups.len() > 1)
        .map(|(n, _)| n.to_owned())
        .collect();
    items
        .into_iter()
        .map(|(upstream, name, item)| {
            let exposed = if shared.contains(&name) {
                format!(
                    "{}{SEPARATOR}{name}",
                    servers
                        .get(upstream)
                        .map(String::as_str)
                        .unwrap_or("upstream")
                )
            } else {
                name.clone()
            };
            (
                exposed,
                Entry {
                    upstream,
                    name,
                    item,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_colliding_names_are_prefixed() {
        let servers = vec!["fs".to_owned(), "git".to_owned()];
        let items = vec![
            (0, "read".to_owned(), ()),
            (0, "status".to_owned(), ()),
            (1, "status".to_owned(), ()),
            (1, "log".to_owned(), ()),
        ];
        let exposed: Vec<_> = expose(items, &servers)
            .into_iter()
            .map(|(n, e)| (n, e.upstream, e.name))
            .collect();
        assert_eq!(
            exposed,
            vec![
                ("read".to_owned(), 0, "read".to_owned()),
                ("fs__status".to_owned(), 0, "status".to_owned()),
                ("git__status".to_owned(), 1, "status".to_owned()),
                ("log".to_owned(), 1, "log".to_owned()),
            ]
        );
    }
}
