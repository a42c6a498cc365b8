//! The document of `status`: each managed resource's state and each log
//! group's audit streams, as a table, CSV, markdown or JSON.

use std::io::{self, Write};

use serde_json::{json, Value};

use super::{json as jsonout, table::Table, OutputFormat};

/// One resource (or log group) and its state.
pub struct Row {
    pub target: String,
    pub resource: &'static str,
    pub name: String,
    pub state: &'static str,
    pub fields: Vec<&'static str>,
    pub detail: String,
    pub alarm_state: Option<String>,
}

/// A target's log group and the age of its newest audit event.
#[derive(Debug, serde::Serialize)]
pub struct LogGroupState {
    pub target: String,
    pub log_group: String,
    pub exists: bool,
    pub audit_streams: Option<usize>,
    pub newest_event: Option<String>,
    pub newest_event_age_seconds: Option<i64>,
}

/// The status document in `format`.
pub fn write_status(
    format: OutputFormat,
    rows: &[Row],
    groups: Vec<LogGroupState>,
    ok: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    if format == OutputFormat::Json {
        let resources: Vec<Value> = rows
            .iter()
            .filter(|r| r.resource != "log-group")
            .map(|r| {
                json!({
                    "target": r.target, "resource": r.resource, "name": r.name, "state": r.state,
                    "fields": r.fields, "alarm_state": r.alarm_state,
                })
            })
            .collect();
        return jsonout::write(
            out,
            &json!({"ok": ok, "log_groups": groups, "resources": resources}),
        );
    }
    let mut table = Table::new(&[
        ("TARGET", false),
        ("RESOURCE", false),
        ("NAME", false),
        ("STATE", false),
        ("ALARM", false),
        ("DETAIL", false),
    ]);
    for r in rows {
        table.push(vec![
            r.target.clone(),
            r.resource.into(),
            r.name.clone(),
            r.state.into(),
            r.alarm_state.clone().unwrap_or_default(),
            r.detail.clone(),
        ]);
    }
    table.write(format, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_matches_its_golden_file() {
        let row = |resource, name: &str, state, detail: &str| Row {
            target: "prod".into(),
            resource,
            name: name.into(),
            state,
            fields: if state == "drifted" {
                vec!["threshold"]
            } else {
                vec![]
            },
            detail: detail.into(),
            alarm_state: (resource == "alarm").then(|| "OK".into()),
        };
        let rows = [
            row(
                "log-group",
                "/aws/eks/prod/cluster",
                "present",
                "2 audit streams; newest event 2026-11-01T00:00:00Z (3m ago)",
            ),
            row(
                "metric-filter",
                "secret-audit-prod-secret-reads",
                "present",
                "",
            ),
            row(
                "alarm",
                "secret-audit-prod-secret-reads",
                "drifted",
                "differs: threshold",
            ),
            row("query-definition", "secret-audit/prod/reads", "missing", ""),
        ];
        for f in OutputFormat::ALL {
            let groups = vec![LogGroupState {
                target: "prod".into(),
                log_group: "/aws/eks/prod/cluster".into(),
                exists: true,
                audit_streams: Some(2),
                newest_event: Some("2026-11-01T00:00:00Z".into()),
                newest_event_age_seconds: Some(180),
            }];
            let mut out = Vec::new();
            write_status(f, &rows, groups, false, &mut out).unwrap();
            insta::assert_snapshot!(format!("status-{f:?}"), String::from_utf8(out).unwrap());
        }
    }
}
