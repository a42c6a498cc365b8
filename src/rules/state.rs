//! The state file of `alert --state FILE`: what the learning rules learnt
//! in earlier runs, so a run over one day's export compares it with the
//! days before. JSON, written whole to a temporary file and renamed over
//! the old one, so a crash leaves the old state or the new, never half.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Learned;

/// The version of the state file's layout.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    schema_version: u32,
    /// By rule name.
    history: Learned,
}

/// What the state file at `path` holds; nothing when it does not exist yet.
pub fn load(path: &Path) -> Result<Learned, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Learned::new()),
        Err(e) => return Err(format!("cannot read state {}: {e}", path.display())),
    };
    let state: StateFile = serde_json::from_str(&text).map_err(|e| {
        format!(
            "state {} is not a secret-audit state file ({e}); move it away to start learning afresh",
            path.display()
        )
    })?;
    if state.schema_version != SCHEMA_VERSION {
        return Err(format!(
            "state {} has schema version {}, this secret-audit reads {SCHEMA_VERSION}; move it away to start learning afresh",
            path.display(),
            state.schema_version
        ));
    }
    Ok(state.history)
}

/// Writes `learned` to `path` (see the module comment).
pub fn save(path: &Path, learned: &Learned) -> Result<(), String> {
    let state = StateFile {
        schema_version: SCHEMA_VERSION,
        history: learned.clone(),
    };
    let mut text = serde_json::to_string_pretty(&state).expect("the state serializes");
    text.push('\n');
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write state {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_survives_a_round_trip_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert!(load(&path).unwrap().is_empty());
        let mut learned = Learned::new();
        let mut h = super::super::History {
            since_ms: Some(1_800_000_000_000),
            ..Default::default()
        };
        h.principals
            .entry("bob".into())
            .or_default()
            .addresses
            .insert("198.51.100.23".into());
        learned.insert("new-source-for-principal".into(), h);
        save(&path, &learned).unwrap();
        assert_eq!(load(&path).unwrap(), learned);
        assert!(!dir.path().join("state.json.tmp").exists());
    }

    #[test]
    fn a_file_that_is_not_a_state_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, "{\"events\": []}").unwrap();
        let e = load(&path).unwrap_err();
        assert!(
            e.contains("is not a secret-audit state file")
                && e.ends_with("move it away to start learning afresh"),
            "{e}"
        );
        std::fs::write(&path, "{\"schema_version\": 9, \"history\": {}}").unwrap();
        assert!(load(&path)
            .unwrap_err()
            .contains("has schema version 9, this secret-audit reads 1"));
    }
}
