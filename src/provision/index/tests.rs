use super::*;

fn wanted_fields() -> Vec<String> {
    wanted()
}

fn state(policy: Option<(&str, Source)>, ledger: Option<Ledger>) -> IndexState {
    IndexState {
        log_group: "/aws/eks/prod/cluster".into(),
        supported: true,
        policy: policy.map(|(d, source)| Policy {
            source,
            document: d.into(),
            updated_ms: None,
        }),
        ledger,
    }
}

/// Setup's write, then the state it leaves.
fn setup(s: &IndexState) -> (IndexWrite, IndexState) {
    let w = merge(s, &wanted_fields()).unwrap().expect("a write");
    let IndexWrite::Put { document, ledger } = &w else {
        panic!("{w:?}")
    };
    let after = IndexState {
        log_group: s.log_group.clone(),
        supported: true,
        policy: Some(Policy {
            source: Source::LogGroup,
            document: document.clone(),
            updated_ms: None,
        }),
        ledger: ledger.clone(),
    };
    (w, after)
}

#[test]
fn the_wanted_fields_are_what_the_bundled_queries_filter_with_equals_or_in() {
    assert_eq!(
        wanted(),
        ["objectRef.resource", "stage", "verb", "responseStatus.code"]
    );
}

#[test]
fn without_a_policy_setup_creates_one_and_teardown_deletes_it() {
    let (w, after) = setup(&state(None, None));
    assert_eq!(
        w,
        IndexWrite::Put {
            document: r#"{"Fields":["objectRef.resource","stage","verb","responseStatus.code"]}"#
                .into(),
            ledger: Some(Ledger {
                added: wanted(),
                carried: vec![],
                created: true,
            }),
        }
    );
    // Once only: a second setup writes nothing.
    assert_eq!(merge(&after, &wanted()).unwrap(), None);
    assert_eq!(unmerge(&after).unwrap(), Some(IndexWrite::Delete));
}

#[test]
fn someone_elses_fields_and_facets_stay_through_setup_and_teardown() {
    let theirs = r#"{"Fields":["requestURI","verb"],"FieldsV2":{"userAgent":{"type":"FACET"}}}"#;
    let before = state(Some((theirs, Source::LogGroup)), None);
    let (w, after) = setup(&before);
    assert_eq!(
        w,
        IndexWrite::Put {
            document: r#"{"Fields":["requestURI","verb","objectRef.resource","stage","responseStatus.code"],"FieldsV2":{"userAgent":{"type":"FACET"}}}"#.into(),
            // `verb` was theirs: not ours to take back.
            ledger: Some(Ledger {
                added: vec!["objectRef.resource".into(), "stage".into(), "responseStatus.code".into()],
                carried: vec![],
                created: false,
            }),
        }
    );
    assert_eq!(
        unmerge(&after).unwrap(),
        Some(IndexWrite::Put {
            document:
                r#"{"Fields":["requestURI","verb"],"FieldsV2":{"userAgent":{"type":"FACET"}}}"#
                    .into(),
            ledger: None,
        })
    );
}

#[test]
fn account_level_fields_are_carried_into_the_log_groups_own_policy() {
    let account = r#"{"Fields":["user.username"]}"#;
    let (w, after) = setup(&state(Some((account, Source::Account)), None));
    let IndexWrite::Put { document, ledger } = w else {
        panic!()
    };
    assert_eq!(
        document,
        r#"{"Fields":["user.username","objectRef.resource","stage","verb","responseStatus.code"]}"#
    );
    let ledger = ledger.unwrap();
    assert_eq!(
        (ledger.carried, ledger.created),
        (vec!["user.username".to_string()], true)
    );
    // Teardown gives the log group back to the account-level policy.
    assert_eq!(unmerge(&after).unwrap(), Some(IndexWrite::Delete));
    // An account-level policy that already indexes ours needs nothing.
    let all = r#"{"Fields":["objectRef.resource","stage","verb","responseStatus.code"]}"#;
    assert_eq!(
        merge(&state(Some((all, Source::Account)), None), &wanted()).unwrap(),
        None
    );
}

#[test]
fn a_field_someone_adds_after_setup_stays_at_teardown() {
    let (_, mut after) = setup(&state(None, None));
    let Some(p) = &mut after.policy else { panic!() };
    p.document = p
        .document
        .replace("[\"objectRef", "[\"theirs\",\"objectRef");
    assert_eq!(
        unmerge(&after).unwrap(),
        Some(IndexWrite::Put {
            document: r#"{"Fields":["theirs"]}"#.into(),
            ledger: None,
        })
    );
}

#[test]
fn drift_names_the_fields_missing_and_setup_adds_them_back() {
    let (_, mut after) = setup(&state(None, None));
    assert!(drift(&after, &wanted()).is_empty());
    after.policy.as_mut().unwrap().document = r#"{"Fields":["objectRef.resource","verb"]}"#.into();
    assert_eq!(drift(&after, &wanted()), ["stage", "responseStatus.code"]);
    let (w, _) = setup(&after);
    let IndexWrite::Put { ledger, .. } = w else {
        panic!()
    };
    // The ledger still says what setup added first, once each.
    assert_eq!(ledger.unwrap().added, wanted());
    // Someone deleted the policy, and an account-level one indexes
    // `objectRef.resource` now: setup's new ledger names only what it adds,
    // so teardown will not take the account's field away.
    let mut gone = after.clone();
    gone.policy = Some(Policy {
        source: Source::Account,
        document: r#"{"Fields":["objectRef.resource"]}"#.into(),
        updated_ms: None,
    });
    let (w, _) = setup(&gone);
    let IndexWrite::Put { ledger, .. } = w else {
        panic!()
    };
    let ledger = ledger.unwrap();
    assert_eq!(ledger.added, ["stage", "verb", "responseStatus.code"]);
    assert_eq!(ledger.carried, ["objectRef.resource"]);
    // Someone deleted the policy: teardown only removes the tag.
    after.policy = None;
    assert_eq!(unmerge(&after).unwrap(), Some(IndexWrite::Untag));
    assert_eq!(unmerge(&state(None, None)).unwrap(), None);
}

#[test]
fn a_policy_over_twenty_fields_is_refused_with_the_fix() {
    let many: Vec<String> = (0..18).map(|i| format!("\"f{i}\"")).collect();
    let doc = format!("{{\"Fields\":[{}]}}", many.join(","));
    let err = merge(&state(Some((&doc, Source::LogGroup)), None), &wanted()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the index policy of /aws/eks/prod/cluster would hold 22 fields with secret-audit's \
         (objectRef.resource, stage, verb, responseStatus.code); CloudWatch allows 20: remove \
         some of its fields, or run setup with --no-field-index"
    );
    let err = merge(&state(Some(("[1]", Source::LogGroup)), None), &wanted()).unwrap_err();
    assert!(err.to_string().contains("not a JSON object"), "{err}");
}

#[test]
fn the_ledger_tag_reads_back() {
    let l = Ledger {
        added: vec!["a".into(), "b.c".into()],
        carried: vec![],
        created: true,
    };
    let tags = l.to_tags();
    assert_eq!(
        tags,
        [
            (TAG_ADDED, "a b.c".to_owned()),
            (TAG_CARRIED, String::new()),
            (TAG_CREATED, "yes".to_owned())
        ]
    );
    let get = |k: &str| tags.iter().find(|(t, _)| *t == k).map(|(_, v)| v.clone());
    assert_eq!(Ledger::from_tags(get), Some(l));
    assert_eq!(Ledger::from_tags(|_| None), None);
    // Carried fields a tag value cannot hold: not recorded, and teardown
    // will not delete the policy on their account.
    let odd = Ledger {
        added: vec!["a".into()],
        carried: vec!["weird$field".into()],
        created: true,
    };
    assert_eq!(
        odd.to_tags()[1..],
        [(TAG_CARRIED, String::new()), (TAG_CREATED, "no".to_owned())]
    );
    let long = Ledger {
        carried: (0..30).map(|i| format!("field.number.{i}")).collect(),
        ..odd
    };
    assert_eq!(long.to_tags()[2].1, "no");
}
