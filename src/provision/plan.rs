//! The plan: what to create, update, delete or leave alone so that what
//! exists becomes what is desired, field by field. Pure functions; `status`
//! reads the same plan as present / drifted / missing.

use std::collections::BTreeMap;

use serde::Serialize;

use super::index::{self, IndexWrite, Ledger, Source};
use super::spec::{AlarmSpec, Desired, MetricFilterSpec, QuerySpec};
use super::{Existing, ExistingQuery};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    MetricFilter,
    Alarm,
    QueryDefinition,
    IndexPolicy,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::MetricFilter => "metric-filter",
            Kind::Alarm => "alarm",
            Kind::QueryDefinition => "query-definition",
            Kind::IndexPolicy => "field-index-policy",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    Delete,
    Unchanged,
    /// The endpoint does not implement this kind of resource.
    Unsupported,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Unchanged => "unchanged",
            Action::Unsupported => "unsupported by endpoint",
        }
    }

    pub fn writes(self) -> bool {
        matches!(self, Action::Create | Action::Update | Action::Delete)
    }
}

/// The write that carries out a change.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    None,
    PutFilter(MetricFilterSpec),
    DeleteFilter {
        log_group: String,
        name: String,
    },
    /// `retag` is the ARN of an existing alarm whose tags must be set (a put
    /// sets tags only when it creates).
    PutAlarm {
        spec: AlarmSpec,
        retag: Option<String>,
    },
    DeleteAlarm {
        name: String,
    },
    PutQuery {
        spec: QuerySpec,
        id: Option<String>,
    },
    DeleteQuery {
        id: String,
    },
    /// The log group's own index policy, then its ledger tag (`None`:
    /// removed).
    PutIndexPolicy {
        log_group: String,
        document: String,
        ledger: Option<Ledger>,
    },
    DeleteIndexPolicy {
        log_group: String,
    },
    UntagIndex {
        log_group: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub kind: Kind,
    pub name: String,
    pub action: Action,
    /// The fields that differ (update) or that drifted.
    pub fields: Vec<&'static str>,
    pub op: Op,
}

fn change(kind: Kind, name: &str, action: Action, fields: Vec<&'static str>, op: Op) -> Change {
    Change {
        kind,
        name: name.to_owned(),
        action,
        fields,
        op,
    }
}

pub fn filter_diff(want: &MetricFilterSpec, have: &MetricFilterSpec) -> Vec<&'static str> {
    let mut d = Vec::new();
    if want.pattern != have.pattern {
        d.push("pattern");
    }
    if want.metric_namespace != have.metric_namespace {
        d.push("metric_namespace");
    }
    if want.metric_name != have.metric_name {
        d.push("metric_name");
    }
    if want.metric_value != have.metric_value {
        d.push("metric_value");
    }
    if want.default_value != have.default_value {
        d.push("default_value");
    }
    if want.dimensions != have.dimensions {
        d.push("dimensions");
    }
    // An unset unit reads back as None or "None".
    let unit = |u: &Option<String>| u.clone().filter(|u| u != "None");
    if unit(&want.unit) != unit(&have.unit) {
        d.push("unit");
    }
    d
}

pub fn alarm_diff(want: &AlarmSpec, have: &AlarmSpec) -> Vec<&'static str> {
    let mut d = Vec::new();
    let mut check = |differs: bool, field| {
        if differs {
            d.push(field)
        }
    };
    check(want.description != have.description, "description");
    check(want.metric != have.metric, "metric");
    check(want.period != have.period, "period");
    check(
        want.evaluation_periods != have.evaluation_periods,
        "evaluation_periods",
    );
    check(
        want.datapoints_to_alarm != have.datapoints_to_alarm,
        "datapoints_to_alarm",
    );
    check(want.threshold != have.threshold, "threshold");
    check(want.comparison != have.comparison, "comparison");
    check(
        want.treat_missing_data != have.treat_missing_data,
        "treat_missing_data",
    );
    check(
        want.actions_enabled != have.actions_enabled,
        "actions_enabled",
    );
    check(
        sorted(&want.alarm_actions) != sorted(&have.alarm_actions),
        "alarm_actions",
    );
    check(
        sorted(&want.ok_actions) != sorted(&have.ok_actions),
        "ok_actions",
    );
    check(
        want.tags.iter().any(|(k, v)| have.tags.get(k) != Some(v)),
        "tags",
    );
    d
}

fn sorted(v: &[String]) -> Vec<&String> {
    let mut v: Vec<&String> = v.iter().collect();
    v.sort();
    v
}

pub fn query_diff(want: &QuerySpec, have: &QuerySpec) -> Vec<&'static str> {
    let mut d = Vec::new();
    if want.query_string.trim() != have.query_string.trim() {
        d.push("query_string");
    }
    if sorted(&want.log_groups) != sorted(&have.log_groups) {
        d.push("log_groups");
    }
    d
}

/// What setup does: create what is missing, update what differs, delete
/// managed resources no longer desired, leave the rest.
pub fn plan_setup(desired: &Desired, existing: &Existing) -> Vec<Change> {
    let mut out = Vec::new();
    let filters = first_by_name(&existing.filters, |f| &f.name);
    out.extend(reconcile(
        Kind::MetricFilter,
        &desired.filters,
        &filters,
        Named {
            want: |w| &w.name,
            have: |h| &h.name,
        },
        filter_diff,
        |want, _, _| Op::PutFilter(want.clone()),
        |have| Op::DeleteFilter {
            log_group: have.log_group.clone(),
            name: have.name.clone(),
        },
    ));
    let alarms = first_by_name(&existing.alarms, |a| &a.spec.name);
    out.extend(reconcile(
        Kind::Alarm,
        &desired.alarms,
        &alarms,
        Named {
            want: |w| &w.name,
            have: |h| &h.spec.name,
        },
        |want, have| alarm_diff(want, &have.spec),
        |want, have, diff| Op::PutAlarm {
            spec: want.clone(),
            // Tags of an existing alarm are set on its ARN.
            retag: have
                .filter(|_| diff.contains(&"tags"))
                .and_then(|h| h.arn.clone()),
        },
        |have| Op::DeleteAlarm {
            name: have.spec.name.clone(),
        },
    ));
    match &existing.queries {
        None => out.extend(desired.queries.iter().map(|want| {
            change(
                Kind::QueryDefinition,
                &want.name,
                Action::Unsupported,
                vec![],
                Op::None,
            )
        })),
        Some(queries) => {
            let queries = first_by_name(queries, |q: &ExistingQuery| &q.spec.name);
            out.extend(reconcile(
                Kind::QueryDefinition,
                &desired.queries,
                &queries,
                Named {
                    want: |w| &w.name,
                    have: |h| &h.spec.name,
                },
                |want, have| query_diff(want, &have.spec),
                |want, have, _| Op::PutQuery {
                    spec: want.clone(),
                    id: have.map(|h| h.id.clone()),
                },
                |have| Op::DeleteQuery {
                    id: have.id.clone(),
                },
            ));
        }
    }
    out.extend(index_change(desired, existing));
    out
}

/// The log group's field index policy: create it or add the missing fields
/// (merged with what is there, `provision::index`), or leave it.
fn index_change(desired: &Desired, existing: &Existing) -> Option<Change> {
    let (log_group, fields) = desired.index.as_ref()?;
    let st = existing.index.as_ref()?;
    let kind = Kind::IndexPolicy;
    if !st.supported {
        return Some(change(
            kind,
            log_group,
            Action::Unsupported,
            vec![],
            Op::None,
        ));
    }
    let own = st
        .policy
        .as_ref()
        .is_some_and(|p| p.source == Source::LogGroup);
    Some(match index::merge(st, fields) {
        Ok(Some(IndexWrite::Put { document, ledger })) => change(
            kind,
            log_group,
            if own { Action::Update } else { Action::Create },
            if own { vec!["fields"] } else { vec![] },
            Op::PutIndexPolicy {
                log_group: log_group.clone(),
                document,
                ledger,
            },
        ),
        Ok(_) => change(kind, log_group, Action::Unchanged, vec![], Op::None),
        // A policy setup cannot merge into (over the quota, unreadable):
        // `setup` refuses it before planning; `status` shows it drifted.
        Err(_) => change(kind, log_group, Action::Update, vec!["fields"], Op::None),
    })
}

/// How the wanted and the existing resources of a kind are named.
struct Named<W, H> {
    want: fn(&W) -> &String,
    have: fn(&H) -> &String,
}

/// One kind's changes: create what is missing, update what differs, keep
/// what matches, delete what exists but is not wanted. `put` makes the
/// operation that creates (no existing resource) or updates (the existing
/// one and the fields that differ).
fn reconcile<W, H>(
    kind: Kind,
    wants: &[W],
    haves: &BTreeMap<&str, &H>,
    named: Named<W, H>,
    diff: impl Fn(&W, &H) -> Vec<&'static str>,
    put: impl Fn(&W, Option<&H>, &[&'static str]) -> Op,
    delete: impl Fn(&H) -> Op,
) -> Vec<Change> {
    let mut out = Vec::new();
    for want in wants {
        let name = (named.want)(want);
        out.push(match haves.get(name.as_str()) {
            None => change(kind, name, Action::Create, vec![], put(want, None, &[])),
            Some(have) => {
                let fields = diff(want, have);
                if fields.is_empty() {
                    change(kind, name, Action::Unchanged, fields, Op::None)
                } else {
                    let op = put(want, Some(have), &fields);
                    change(kind, name, Action::Update, fields, op)
                }
            }
        });
    }
    for have in haves.values() {
        let name = (named.have)(have);
        if !wants.iter().any(|w| (named.want)(w) == name) {
            out.push(change(kind, name, Action::Delete, vec![], delete(have)));
        }
    }
    out
}

/// What teardown does: delete every managed resource that exists.
pub fn plan_teardown(existing: &Existing, query_names: &[String]) -> Vec<Change> {
    let mut out = Vec::new();
    for f in first_by_name(&existing.filters, |f| &f.name).values() {
        let op = Op::DeleteFilter {
            log_group: f.log_group.clone(),
            name: f.name.clone(),
        };
        out.push(change(
            Kind::MetricFilter,
            &f.name,
            Action::Delete,
            vec![],
            op,
        ));
    }
    for a in first_by_name(&existing.alarms, |a| &a.spec.name).values() {
        out.push(change(
            Kind::Alarm,
            &a.spec.name,
            Action::Delete,
            vec![],
            Op::DeleteAlarm {
                name: a.spec.name.clone(),
            },
        ));
    }
    match &existing.queries {
        None => {
            for name in query_names {
                out.push(change(
                    Kind::QueryDefinition,
                    name,
                    Action::Unsupported,
                    vec![],
                    Op::None,
                ));
            }
        }
        Some(queries) => {
            for q in queries {
                out.push(change(
                    Kind::QueryDefinition,
                    &q.spec.name,
                    Action::Delete,
                    vec![],
                    Op::DeleteQuery { id: q.id.clone() },
                ));
            }
        }
    }
    out.extend(index_teardown(existing));
    out
}

/// Takes back from the log group's index policy exactly what setup added.
fn index_teardown(existing: &Existing) -> Option<Change> {
    let st = existing.index.as_ref()?;
    let (kind, lg) = (Kind::IndexPolicy, &st.log_group);
    if !st.supported {
        return Some(change(kind, lg, Action::Unsupported, vec![], Op::None));
    }
    let log_group = lg.clone();
    Some(match index::unmerge(st) {
        Ok(Some(IndexWrite::Put { document, ledger })) => change(
            kind,
            lg,
            Action::Update,
            vec!["fields"],
            Op::PutIndexPolicy {
                log_group,
                document,
                ledger,
            },
        ),
        Ok(Some(IndexWrite::Delete)) => change(
            kind,
            lg,
            Action::Delete,
            vec![],
            Op::DeleteIndexPolicy { log_group },
        ),
        Ok(Some(IndexWrite::Untag)) => change(
            kind,
            lg,
            Action::Delete,
            vec!["tag"],
            Op::UntagIndex { log_group },
        ),
        Ok(None) | Err(_) => return None,
    })
}

/// How many metric filters a plan adds to its log group.
pub fn filters_added(plan: &[Change]) -> usize {
    plan.iter()
        .filter(|c| c.kind == Kind::MetricFilter && c.action == Action::Create)
        .count()
}

/// Keeps the first of each name, in name order (AWS names are unique; an
/// emulator may hold duplicates).
fn first_by_name<T>(items: &[T], name: impl Fn(&T) -> &String) -> BTreeMap<&str, &T> {
    let mut map = BTreeMap::new();
    for item in items {
        map.entry(name(item).as_str()).or_insert(item);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provision::spec::{desired, Settings, Target};
    use crate::provision::ExistingAlarm;

    fn existing_from(d: &Desired) -> Existing {
        Existing {
            filters: d.filters.clone(),
            alarms: d
                .alarms
                .iter()
                .map(|a| ExistingAlarm {
                    spec: a.clone(),
                    arn: Some(format!("arn:{}", a.name)),
                    state: Some("OK".into()),
                })
                .collect(),
            queries: Some(
                d.queries
                    .iter()
                    .enumerate()
                    .map(|(i, q)| ExistingQuery {
                        spec: q.clone(),
                        id: i.to_string(),
                    })
                    .collect(),
            ),
            index: None,
        }
    }

    fn actions(plan: &[Change]) -> Vec<(Kind, Action)> {
        plan.iter().map(|c| (c.kind, c.action)).collect()
    }

    #[test]
    fn nothing_existing_creates_everything() {
        let d = desired(&Target::cluster("prod"), &Settings::default());
        let plan = plan_setup(
            &d,
            &Existing {
                queries: Some(vec![]),
                ..Existing::default()
            },
        );
        assert_eq!(plan.len(), 6 + crate::insights::BUNDLED_FILES.len());
        assert!(plan.iter().all(|c| c.action == Action::Create), "{plan:?}");
        assert_eq!(filters_added(&plan), 3);
    }

    #[test]
    fn matching_state_is_unchanged_and_writes_nothing() {
        let d = desired(&Target::cluster("prod"), &Settings::default());
        let plan = plan_setup(&d, &existing_from(&d));
        assert!(
            plan.iter()
                .all(|c| c.action == Action::Unchanged && c.op == Op::None),
            "{plan:?}"
        );
    }

    #[test]
    fn a_changed_threshold_updates_that_alarm_only() {
        let t = Target::cluster("prod");
        let before = desired(&t, &Settings::default());
        let after = desired(
            &t,
            &Settings {
                denied_threshold: 1.0,
                ..Settings::default()
            },
        );
        let plan = plan_setup(&after, &existing_from(&before));
        let updates: Vec<_> = plan.iter().filter(|c| c.action.writes()).collect();
        assert_eq!(updates.len(), 1, "{plan:?}");
        assert_eq!(updates[0].name, "secret-audit-prod-secret-denied");
        // The description names the threshold, so it changes too.
        assert_eq!(updates[0].fields, ["description", "threshold"]);
        assert!(matches!(&updates[0].op, Op::PutAlarm { retag: None, .. }));
    }

    #[test]
    fn drifted_fields_are_named() {
        let d = desired(&Target::cluster("prod"), &Settings::default());
        let mut e = existing_from(&d);
        e.filters[0].pattern = r#"{ $.objectRef.resource = "secret" }"#.into();
        e.filters[1]
            .dimensions
            .insert("user".into(), "$.user.username".into());
        e.alarms[2].spec.tags.remove("cluster");
        e.alarms[2].spec.treat_missing_data = "breaching".into();
        let plan = plan_setup(&d, &e);
        let updated: Vec<_> = plan
            .iter()
            .filter(|c| c.action == Action::Update)
            .map(|c| (c.name.as_str(), c.fields.clone()))
            .collect();
        assert_eq!(
            updated,
            [
                ("secret-audit-prod-secret-reads", vec!["pattern"]),
                ("secret-audit-prod-secret-denied", vec!["dimensions"]),
                (
                    "secret-audit-prod-secret-writes",
                    vec!["treat_missing_data", "tags"]
                ),
            ]
        );
        let retag = plan.iter().find_map(|c| match &c.op {
            Op::PutAlarm {
                retag: Some(arn), ..
            } => Some(arn.clone()),
            _ => None,
        });
        assert_eq!(
            retag.as_deref(),
            Some("arn:secret-audit-prod-secret-writes")
        );
    }

    #[test]
    fn a_half_applied_state_converges() {
        let d = desired(&Target::cluster("prod"), &Settings::default());
        let mut e = existing_from(&d);
        e.filters.truncate(1);
        e.alarms.clear();
        let plan = plan_setup(&d, &e);
        let mut want = vec![
            (Kind::MetricFilter, Action::Unchanged),
            (Kind::MetricFilter, Action::Create),
            (Kind::MetricFilter, Action::Create),
            (Kind::Alarm, Action::Create),
            (Kind::Alarm, Action::Create),
            (Kind::Alarm, Action::Create),
        ];
        want.extend(
            crate::insights::BUNDLED_FILES
                .iter()
                .map(|_| (Kind::QueryDefinition, Action::Unchanged)),
        );
        assert_eq!(actions(&plan), want);
    }

    #[test]
    fn managed_leftovers_are_deleted_and_duplicates_ignored() {
        let d = desired(&Target::cluster("prod"), &Settings::default());
        let mut e = existing_from(&d);
        let mut old = d.filters[0].clone();
        old.name = "secret-audit-prod-old".into();
        e.filters.push(old);
        e.filters.push(d.filters[0].clone());
        let plan = plan_setup(&d, &e);
        let writes: Vec<_> = plan
            .iter()
            .filter(|c| c.action.writes())
            .map(|c| (c.name.as_str(), c.action))
            .collect();
        assert_eq!(writes, [("secret-audit-prod-old", Action::Delete)]);
    }

    #[test]
    fn unsupported_query_definitions_are_reported_not_written() {
        let d = desired(&Target::cluster("prod"), &Settings::default());
        let mut e = existing_from(&d);
        e.queries = None;
        let plan = plan_setup(&d, &e);
        let q: Vec<_> = plan
            .iter()
            .filter(|c| c.kind == Kind::QueryDefinition)
            .collect();
        assert_eq!(q.len(), crate::insights::BUNDLED_FILES.len());
        assert!(q
            .iter()
            .all(|c| c.action == Action::Unsupported && c.op == Op::None));
    }

    #[test]
    fn teardown_deletes_every_managed_resource() {
        let d = desired(&Target::cluster("prod"), &Settings::default());
        let plan = plan_teardown(&existing_from(&d), &[]);
        assert_eq!(plan.len(), 6 + crate::insights::BUNDLED_FILES.len());
        assert!(plan.iter().all(|c| c.action == Action::Delete));
        let plan = plan_teardown(
            &Existing::default(),
            &["secret-audit/prod/reads-by-secret".into()],
        );
        assert_eq!(
            actions(&plan),
            [(Kind::QueryDefinition, Action::Unsupported)]
        );
    }

    #[test]
    fn unset_units_compare_equal() {
        let d = desired(&Target::cluster("prod"), &Settings::default());
        let mut want = d.filters[0].clone();
        let mut have = want.clone();
        want.unit = None;
        have.unit = Some("None".into());
        assert!(filter_diff(&want, &have).is_empty());
    }

    fn index_state(policy: Option<&str>, supported: bool) -> index::IndexState {
        index::IndexState {
            log_group: "/aws/eks/prod/cluster".into(),
            supported,
            policy: policy.map(|d| index::Policy {
                source: Source::LogGroup,
                document: d.into(),
                updated_ms: None,
            }),
            ledger: None,
        }
    }

    #[test]
    fn the_field_index_policy_is_planned_with_the_rest() {
        let d = desired(&Target::cluster("prod"), &Settings::default());
        let mut e = existing_from(&d);
        // Nothing read (--no-field-index): no row.
        assert!(plan_setup(&d, &e)
            .iter()
            .all(|c| c.kind != Kind::IndexPolicy));
        e.index = Some(index_state(None, true));
        let plan = plan_setup(&d, &e);
        let c = plan.iter().find(|c| c.kind == Kind::IndexPolicy).unwrap();
        assert_eq!(
            (c.action, c.name.as_str()),
            (Action::Create, "/aws/eks/prod/cluster")
        );
        let Op::PutIndexPolicy {
            document, ledger, ..
        } = &c.op
        else {
            panic!("{c:?}")
        };
        assert_eq!(
            document,
            r#"{"Fields":["objectRef.resource","stage","verb","responseStatus.code"]}"#
        );
        assert!(ledger.as_ref().unwrap().created);
        // Someone else's policy: updated, theirs kept.
        e.index = Some(index_state(Some(r#"{"Fields":["requestURI"]}"#), true));
        let plan = plan_setup(&d, &e);
        let c = plan.iter().find(|c| c.kind == Kind::IndexPolicy).unwrap();
        assert_eq!(
            (c.action, c.fields.clone()),
            (Action::Update, vec!["fields"])
        );
        // An endpoint without the API.
        e.index = Some(index_state(None, false));
        let c = plan_setup(&d, &e)
            .into_iter()
            .find(|c| c.kind == Kind::IndexPolicy)
            .unwrap();
        assert_eq!(c.action, Action::Unsupported);
        // Without --no-field-index's opposite, nothing is wanted.
        let off = desired(
            &Target::cluster("prod"),
            &Settings {
                field_index: false,
                ..Settings::default()
            },
        );
        assert!(plan_setup(&off, &e)
            .iter()
            .all(|c| c.kind != Kind::IndexPolicy));
    }

    #[test]
    fn teardown_takes_back_the_fields_setup_added() {
        let mut st = index_state(
            Some(r#"{"Fields":["requestURI","objectRef.resource"]}"#),
            true,
        );
        let mut e = Existing {
            index: Some(st.clone()),
            ..Existing::default()
        };
        // No ledger: setup added nothing here.
        assert!(plan_teardown(&e, &[])
            .iter()
            .all(|c| c.kind != Kind::IndexPolicy));
        st.ledger = Some(Ledger {
            added: vec!["objectRef.resource".into()],
            carried: vec![],
            created: false,
        });
        e.index = Some(st);
        let plan = plan_teardown(&e, &[]);
        let c = plan.iter().find(|c| c.kind == Kind::IndexPolicy).unwrap();
        assert_eq!(
            c.op,
            Op::PutIndexPolicy {
                log_group: "/aws/eks/prod/cluster".into(),
                document: r#"{"Fields":["requestURI"]}"#.into(),
                ledger: None,
            }
        );
    }
}
