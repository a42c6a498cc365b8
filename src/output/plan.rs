//! The plan of `setup` and `teardown` (and their dry runs): what would
//! change, per target and resource, as a table or one JSON document.

use std::io::{self, Write};

use serde_json::json;

use super::{json as jsonout, table::Table, OutputFormat};
use crate::provision::{Change, Target};

/// Writes a plan: a table (or CSV, markdown) or one JSON document.
pub fn write(
    format: OutputFormat,
    plans: &[(Target, Vec<Change>)],
    dry_run: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    if format == OutputFormat::Json {
        let changes: Vec<_> = plans
            .iter()
            .flat_map(|(t, plan)| {
                plan.iter().map(move |c| {
                    json!({
                        "target": t.name,
                        "log_group": t.log_group,
                        "resource": c.kind.as_str(),
                        "name": c.name,
                        "action": c.action.as_str(),
                        "fields": c.fields,
                    })
                })
            })
            .collect();
        jsonout::write(out, &json!({"dry_run": dry_run, "changes": changes}))?;
    } else {
        let mut table = Table::new(&[
            ("TARGET", false),
            ("RESOURCE", false),
            ("NAME", false),
            ("ACTION", false),
            ("CHANGES", false),
        ]);
        for (t, plan) in plans {
            for c in plan {
                table.push(vec![
                    t.name.clone(),
                    c.kind.as_str().into(),
                    c.name.clone(),
                    c.action.as_str().into(),
                    c.fields.join(", "),
                ]);
            }
        }
        table.write(format, out)?;
    }
    Ok(())
}
