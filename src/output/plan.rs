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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provision::plan::plan_setup;
    use crate::provision::spec::{desired, Settings};
    use crate::provision::Existing;

    #[test]
    fn every_format_matches_its_golden_file() {
        let t = Target::cluster("prod");
        let before = desired(&t, &Settings::default());
        // One filter exists with another pattern; nothing else does.
        let mut filter = before.filters[0].clone();
        filter.pattern = "{ $.verb = \"get\" }".into();
        let existing = Existing {
            filters: vec![filter],
            alarms: vec![],
            queries: Some(vec![]),
            index: None,
        };
        let plans = vec![(t, plan_setup(&before, &existing))];
        for f in OutputFormat::ALL {
            for dry_run in [true, false] {
                let mut out = Vec::new();
                write(f, &plans, dry_run, &mut out).unwrap();
                insta::assert_snapshot!(
                    format!("plan-{f:?}-dry-run-{dry_run}"),
                    String::from_utf8(out).unwrap()
                );
            }
        }
    }
}
