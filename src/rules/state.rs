//! The state file of `alert --state FILE`: what the learning rules learnt
//! in earlier runs, so a run over one day's export compares it with the
//! days before; for scheduled runs on CloudWatch also the high-water mark
//! (where the last run's interval ended) and the episodes already sent.
//! JSON, written whole to a temporary file and renamed over the old one,
//! so a crash leaves the old state or the new, never half; a lock file
//! beside it keeps two runs from using it at once.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::schedule::{merge_sent, Decision, Schedule, Sent, Window};
use super::Learned;

/// The version of the state file's layout.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    schema_version: u32,
    #[serde(flatten)]
    state: State,
}

/// What a state file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The log groups of the scheduled runs that keep it (none over files).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_groups: Vec<String>,
    /// Milliseconds: the last scheduled run owned events ingested up to
    /// here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_water_ms: Option<i64>,
    /// By rule name.
    pub history: Learned,
    /// Episodes reported, while a later request could still extend them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sent: Vec<Sent>,
}

impl State {
    /// What a scheduled run leaves for the next: the episodes sent (all
    /// new ones, or the first `published_before_failure`, and those taken as
    /// reported before the state), and when nothing failed the high-water
    /// mark and the history. After a failure the mark stays (at the
    /// window's start on the state's first run), so the next run owns the
    /// interval again and sends what was not sent; sent episodes are
    /// forgotten only when the run starting at the mark cannot meet them.
    pub fn after_run(
        &mut self,
        schedule: &Schedule,
        rule_window: i64,
        w: &Window,
        d: &Decision,
        published_before_failure: Option<usize>,
    ) {
        let published = &d.new[..published_before_failure.unwrap_or(d.new.len())];
        let mut sent_now: Vec<Sent> = d.assumed.clone();
        sent_now.extend(published.iter().map(Sent::of));
        match published_before_failure {
            None => {
                self.high_water_ms = Some(w.end);
                self.history = d.learned.clone();
            }
            Some(_) => self.high_water_ms = Some(self.high_water_ms.unwrap_or(w.start)),
        }
        let next_start = self.high_water_ms.expect("set just now");
        let forget = schedule.forget_before(next_start, rule_window);
        self.sent = merge_sent(
            std::mem::take(&mut self.sent),
            &d.extended,
            &sent_now,
            forget,
        );
    }
}

/// What the state file at `path` holds; nothing when it does not exist yet.
pub fn load(path: &Path) -> Result<State, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
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
    Ok(state.state)
}

/// Writes `state` to `path` (see the module comment).
pub fn save(path: &Path, state: &State) -> Result<(), String> {
    let state = StateFile {
        schema_version: SCHEMA_VERSION,
        state: state.clone(),
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

/// The lock of a state file, held until dropped.
#[derive(Debug)]
pub struct Lock {
    _file: std::fs::File,
}

/// Takes the lock of the state file at `path` (`PATH.lock`), or says that
/// another run holds it.
pub fn lock(path: &Path) -> Result<Lock, String> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&name)
        .map_err(|e| format!("cannot open the lock {}: {e}", Path::new(&name).display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Lock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "another alert run is using state {}: two runs at once could send a finding twice, so this one stops (run them one after another)",
            path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!(
            "cannot lock state {}: {e}",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_survives_a_round_trip_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert_eq!(load(&path).unwrap(), State::default());
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
        let state = State {
            log_groups: vec!["/aws/eks/prod/cluster".into()],
            high_water_ms: Some(1_800_000_300_000),
            history: learned,
            sent: vec![Sent {
                cluster: "prod".into(),
                rule: "scripting-client".into(),
                key: "bob".into(),
                first_ms: 1,
                last_ms: 2,
                dedup_key: "k".into(),
            }],
        };
        save(&path, &state).unwrap();
        assert_eq!(load(&path).unwrap(), state);
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
