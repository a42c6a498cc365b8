//! The keys a rollup groups by (`--by`) and how much of the cluster a
//! request covers: shared by the request table (`group`) and the rollup
//! built from it, so neither imports the other's module for them.

/// A grouping key of the rollup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    Namespace,
    Secret,
    User,
    Verb,
    SourceIp,
    UserAgent,
}

impl Key {
    pub const ALL: [Key; 6] = [
        Key::Namespace,
        Key::Secret,
        Key::User,
        Key::Verb,
        Key::SourceIp,
        Key::UserAgent,
    ];

    /// The key's name, as `--by` takes it and JSON output names it.
    pub fn name(self) -> &'static str {
        match self {
            Key::Namespace => "namespace",
            Key::Secret => "secret",
            Key::User => "user",
            Key::Verb => "verb",
            Key::SourceIp => "source_ip",
            Key::UserAgent => "user_agent",
        }
    }

    /// What an absent value shows: `*` for a collection-wide request's
    /// namespace or name (it covers them all), empty otherwise.
    pub(super) fn absent(self) -> &'static str {
        match self {
            Key::Namespace | Key::Secret => "*",
            _ => "",
        }
    }
}

pub const DEFAULT_KEYS: [Key; 3] = [Key::Namespace, Key::Secret, Key::User];

/// How much of the cluster a request covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Object,
    Namespace,
    Cluster,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Object => "object",
            Scope::Namespace => "namespace",
            Scope::Cluster => "cluster",
        }
    }
}
