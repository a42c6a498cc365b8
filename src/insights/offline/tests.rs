use super::*;
use crate::insights::lang;

fn run(text: &str, events: &[&str]) -> Output {
    let (stages, errors) = lang::parse(text);
    assert!(errors.is_empty(), "{text}: {errors:?}");
    let engine = Engine::new(stages, "s").unwrap();
    for (i, e) in events.iter().enumerate() {
        engine.feed(&Event {
            message: e.as_bytes(),
            place: (0, 0, i as u64),
            ..Event::default()
        });
    }
    engine.finish()
}

/// The first column of every row.
fn col(text: &str, events: &[&str]) -> Vec<String> {
    run(text, events)
        .rows
        .into_iter()
        .map(|r| r[0].clone())
        .collect()
}

const A: &str = r#"{"n":"a","code":200,"t":"x","stageTimestamp":"2026-11-01T00:00:03Z","ip":"10.0.0.5","tags":["p","q"],"k.dot":{"leaf":1}}"#;
const B: &str =
    r#"{"n":"b","code":"403","stageTimestamp":"2026-11-01T00:00:02Z","ip":"192.168.1.1"}"#;
const C: &str = r#"{"n":"c","code":404,"t":"","stageTimestamp":"2026-11-01T01:30:00Z"}"#;
const EVENTS: [&str; 3] = [A, B, C];

#[test]
fn a_comparison_with_a_missing_field_is_false_and_not_of_it_true() {
    assert_eq!(col("filter t = \"x\" | fields n", &EVENTS), ["a"]);
    assert_eq!(col("filter t != \"x\" | fields n", &EVENTS), ["c"]);
    assert_eq!(
        col("filter not (t = \"x\") | fields n", &EVENTS),
        ["c", "b"]
    );
    assert_eq!(col("filter not ispresent(t) | fields n", &EVENTS), ["b"]);
    assert_eq!(col("filter isempty(t) | fields n", &EVENTS), ["c", "b"]);
}

#[test]
fn numbers_compare_as_numbers_even_when_written_as_strings() {
    assert_eq!(
        col("filter code >= 400 | fields n | sort n asc", &EVENTS),
        ["b", "c"]
    );
    assert_eq!(
        col("filter code in [403, 404] | fields n | sort n asc", &EVENTS),
        ["b", "c"]
    );
    assert_eq!(col("filter code = \"200\" | fields n", &EVENTS), ["a"]);
}

#[test]
fn like_matches_substrings_and_regular_expressions_case_sensitively() {
    assert_eq!(col("filter ip like \"168\" | fields n", &EVENTS), ["b"]);
    assert_eq!(col("filter ip like /^10\\./ | fields n", &EVENTS), ["a"]);
    assert_eq!(col("filter n =~ /(?i)A/ | fields n", &EVENTS), ["a"]);
    assert_eq!(
        col("filter n like \"A\" | fields n", &EVENTS),
        Vec::<String>::new()
    );
    // `not` of a comparison with a missing field is true.
    assert_eq!(
        col("filter ip not like \"168\" | fields n", &EVENTS),
        ["c", "a"]
    );
    assert_eq!(
        col(
            "filter isIpInSubnet(ip, \"10.0.0.0/8\") | fields n",
            &EVENTS
        ),
        ["a"]
    );
}

#[test]
fn fields_are_flattened_json_leaves() {
    assert_eq!(col("filter tags.1 = \"q\" | fields n", &EVENTS), ["a"]);
    assert_eq!(col("filter `k.dot.leaf` = 1 | fields n", &EVENTS), ["a"]);
    // An array or an object is not a field.
    assert_eq!(
        col("filter ispresent(tags) | fields n", &EVENTS),
        Vec::<String>::new()
    );
}

#[test]
fn events_arrive_newest_first_and_sort_puts_missing_values_last() {
    assert_eq!(col("fields n", &EVENTS), ["c", "a", "b"]);
    assert_eq!(col("fields n | limit 1", &EVENTS), ["c"]);
    assert_eq!(
        col("fields n, t | sort t asc | display n", &EVENTS),
        ["c", "a", "b"]
    );
    assert_eq!(
        col("fields n, t | sort t desc | display n", &EVENTS),
        ["a", "c", "b"]
    );
    // Numbers after text, in natural order.
    assert_eq!(
        col("fields code | sort code asc", &EVENTS),
        ["200", "403", "404"]
    );
}

#[test]
fn stats_count_aggregate_and_group_by_bins() {
    let o = run(
        "stats count(*) as all, count(t) as with_t, count_distinct(n) as names, sum(code) as s, \
         avg(code) as a, min(n) as lo, max(n) as hi, earliest(n) as first, latest(n) as last, \
         pct(code, 50) as p50 by bin(1h) as hour | sort hour asc",
        &EVENTS,
    );
    assert_eq!(
        o.columns,
        ["hour", "all", "with_t", "names", "s", "a", "lo", "hi", "first", "last", "p50"]
    );
    assert_eq!(
        o.rows,
        [
            [
                "2026-11-01T00:00:00.000Z",
                "2",
                "1",
                "2",
                "603",
                "301.5",
                "a",
                "b",
                "b",
                "a",
                "200"
            ],
            [
                "2026-11-01T01:00:00.000Z",
                "1",
                "1",
                "1",
                "404",
                "404",
                "c",
                "c",
                "c",
                "c",
                "404"
            ],
        ]
    );
    // Events without the key field group under an empty key.
    let o = run("stats count(*) as n by t", &EVENTS);
    // (the empty string is another group; both print empty).
    assert_eq!(o.rows, [["x", "1"], ["", "1"], ["", "1"]]);
}

#[test]
fn dedup_keeps_the_first_of_each_and_every_row_with_a_missing_value() {
    let events = [A, A, B, C];
    assert_eq!(
        col("fields n, t | dedup t | display n", &events),
        ["c", "a", "b"]
    );
}

#[test]
fn parse_takes_globs_and_named_groups() {
    assert_eq!(
        col(
            "parse ip \"*.*.*.*\" as a, b, c, d | filter d = \"5\" | fields n",
            &EVENTS
        ),
        ["a"]
    );
    assert_eq!(
        col(
            "parse ip /(?<first>\\d+)\\./ | filter first = \"192\" | fields n",
            &EVENTS
        ),
        ["b"]
    );
    // An event it does not match passes, without the fields.
    assert_eq!(
        col("parse ip \"*.*.*.*\" as a, b, c, d | fields d", &EVENTS),
        ["", "5", "1"]
    );
}

#[test]
fn scalar_functions() {
    let one = [A];
    let f = |e: &str| col(&format!("fields {e} as v"), &one)[0].clone();
    assert_eq!(f("concat(n, \"-\", code)"), "a-200");
    assert_eq!(f("strlen(ip)"), "8");
    assert_eq!(f("toupper(n)"), "A");
    assert_eq!(f("substr(ip, 3, 1)"), "0");
    assert_eq!(f("replace(ip, \".\", \"_\")"), "10_0_0_5");
    assert_eq!(f("trim(\"xyZxyfooxyxyZ\", \"xyZ\")"), "foo");
    assert_eq!(f("code / 8 + 1"), "26");
    assert_eq!(f("coalesce(missing, n)"), "a");
    assert_eq!(f("greatest(1, code, 3)"), "200");
    assert_eq!(f("strcontains(ip, \"0.0\")"), "1");
    assert_eq!(f("datefloor(@timestamp, 1m)"), "2026-11-01T00:00:00.000Z");
}

#[test]
fn without_a_limit_at_most_ten_thousand_rows() {
    let many: Vec<String> = (0..10_001).map(|i| format!("{{\"i\":{i}}}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let o = run("fields i", &refs);
    assert_eq!((o.rows.len(), o.truncated), (DEFAULT_LIMIT, true));
    let o = run("fields i | limit 20000", &refs);
    assert_eq!((o.rows.len(), o.truncated), (10_001, false));
}

#[test]
fn what_is_not_run_offline_is_refused() {
    let refuse = |text: &str| Engine::new(lang::parse(text).0, "s").err().unwrap().what;
    assert_eq!(refuse("pattern @message"), "the `pattern` command");
    assert_eq!(
        refuse("fields jsonparse(@message) as j"),
        "the function jsonparse"
    );
    assert_eq!(refuse("fields count(*) as n"), "the function count");
    assert_eq!(
        refuse("stats sum(x) * 2 as double"),
        "`sum(x) * 2` (arithmetic on an aggregate)"
    );
}

#[test]
fn needles_are_only_words_the_raw_event_must_hold() {
    let needles = |text: &str| Engine::new(lang::parse(text).0, "s").unwrap().needles();
    assert_eq!(
        needles("filter objectRef.resource = \"secrets\" and stage = \"ResponseComplete\""),
        ["\"secrets\"", "\"ResponseComplete\""]
    );
    // A number or a boolean may be written without quotes in the event.
    assert!(needles("filter responseStatus.code = \"403\"").is_empty());
    assert!(needles("filter dryRun = \"true\"").is_empty());
    // A field a command made is not in the event's text.
    assert!(needles(
        "fields coalesce(user.username, \"anonymous\") as u | filter u = \"anonymous\""
    )
    .is_empty());
    assert!(needles("parse verb /(?<v>\\w+)/ | filter v = \"watch\"").is_empty());
    // Either side of an `or` may hold: no needle.
    assert!(needles("filter verb = \"get\" or verb = \"list\"").is_empty());
    // And the engine agrees with what the needles let through.
    let e = [r#"{"responseStatus":{"code":403}}"#];
    assert_eq!(
        run(
            "filter responseStatus.code = \"403\" | fields responseStatus.code",
            &e
        )
        .rows
        .len(),
        1
    );
}

#[test]
fn odd_numbers_and_huge_times_neither_match_wrongly_nor_panic() {
    let e = [r#"{"x":"NaN","y":"inf","z":"Infinity"}"#];
    assert_eq!(col("filter x = \"NaN\" | fields x", &e), ["NaN"]);
    assert!(col("filter y = z | fields y", &e).is_empty());
    let o = run(
        "fields datefloor(frommillis(-1e19), 7) as a, dateceil(frommillis(1e19), 2) as b, bin(1e300) as c",
        &[A],
    );
    assert_eq!(o.rows.len(), 1);
}
