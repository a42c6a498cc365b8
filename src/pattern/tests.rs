use super::*;
use crate::provision::samples::SAMPLES;
use crate::provision::spec::{DENIED_PATTERN, READS_PATTERN, WRITES_PATTERN};

/// The EKS Best Practices Guide's metric filter (FACTS.md 1).
const GUIDE: &str = r#"{($.verb="get") && ($.objectRef.resource="secret")}"#;

const EVENT: &str = r#"{"verb":"get","stage":"ResponseComplete","objectRef":{"resource":"secrets","namespace":"payments","name":"db-password"},"responseStatus":{"code":200,"ratio":0.25},"sourceIPs":["10.0.0.7","192.168.1.1"],"user":{"username":"system:serviceaccount:payments:api","groups":["system:authenticated"]},"impersonatedUser":null,"dryRun":false,"cached":true,"requestURI":"/api/v1/namespaces/payments/secrets/db-password?x=1\u0026y=2","annotations":{"note":"ERROR 401 Unauthorized"}}"#;

fn m(pattern: &str, event: &str) -> bool {
    Pattern::parse(pattern)
        .unwrap_or_else(|e| panic!("{pattern}: {e}"))
        .matches_str(event)
}

#[test]
fn json_patterns_cover_every_construct() {
    let cases: &[(&str, bool)] = &[
        // nested fields, = and != on strings
        (r#"{ $.verb = "get" }"#, true),
        (r#"{ $.verb = "list" }"#, false),
        (r#"{ $.verb != "list" }"#, true),
        (r#"{ $.verb != "get" }"#, false),
        (r#"{ $.objectRef.resource = "secrets" }"#, true),
        (r#"{ $.objectRef.resource = secrets }"#, true),
        (r#"{ $.objectRef.resource = "secret" }"#, false),
        (r#"{ $.objectRef.resource = "SECRETS" }"#, false),
        // array indexes
        (r#"{ $.sourceIPs[0] = "10.0.0.7" }"#, true),
        (r#"{ $.sourceIPs[1] = "192.168.*" }"#, true),
        (r#"{ $.sourceIPs[2] = "*" }"#, false),
        (r#"{ $.user.groups[0] = "system:authenticated" }"#, true),
        // wildcards
        (r#"{ $.user.username = "system:serviceaccount:*" }"#, true),
        (r#"{ $.user.username = "*:payments:*" }"#, true),
        (r#"{ $.user.username = "*:kube-system:*" }"#, false),
        (r#"{ $.objectRef.name = db* }"#, true),
        (r#"{ $.objectRef.name != "db*" }"#, false),
        // numbers: = != < <= > >=, integers and decimals
        (r#"{ $.responseStatus.code = 200 }"#, true),
        (r#"{ $.responseStatus.code != 200 }"#, false),
        (r#"{ $.responseStatus.code < 400 }"#, true),
        (r#"{ $.responseStatus.code <= 200 }"#, true),
        (r#"{ $.responseStatus.code > 200 }"#, false),
        (r#"{ $.responseStatus.code >= 200 }"#, true),
        (r#"{ $.responseStatus.ratio < 0.5 }"#, true),
        (r#"{ $.responseStatus.ratio >= 2.5e-1 }"#, true),
        // a string comparison never matches a number, nor a number a string
        (r#"{ $.responseStatus.code = "200" }"#, false),
        (r#"{ $.verb = 200 }"#, false),
        // missing fields: only NOT EXISTS matches them, != included
        (r#"{ $.missing != "x" }"#, false),
        (r#"{ $.missing < 1 }"#, false),
        (r#"{ $.missing NOT EXISTS }"#, true),
        (r#"{ $.verb NOT EXISTS }"#, false),
        (r#"{ $.objectRef.subresource NOT EXISTS }"#, true),
        // IS NULL, IS TRUE, IS FALSE
        (r#"{ $.impersonatedUser IS NULL }"#, true),
        (r#"{ $.verb IS NULL }"#, false),
        (r#"{ $.missing IS NULL }"#, false),
        (r#"{ $.cached IS TRUE }"#, true),
        (r#"{ $.cached IS FALSE }"#, false),
        (r#"{ $.dryRun IS FALSE }"#, true),
        (r#"{ $.verb IS TRUE }"#, false),
        // && || and parentheses; && binds tighter than ||
        (
            r#"{ ($.verb = "get") && ($.stage = "ResponseComplete") }"#,
            true,
        ),
        (
            r#"{ ($.verb = "get") && ($.stage = "RequestReceived") }"#,
            false,
        ),
        (r#"{ ($.verb = "list") || ($.verb = "get") }"#, true),
        (
            r#"{ $.verb = "list" || $.verb = "get" && $.stage = "x" }"#,
            false,
        ),
        (
            r#"{ ($.verb = "list" || $.verb = "get") && $.stage = "ResponseComplete" }"#,
            true,
        ),
        (
            r#"{ (($.verb = "watch") || (($.verb = "get"))) && ($.responseStatus.code < 400) }"#,
            true,
        ),
        // regular expressions as values
        (r#"{ $.objectRef.name = %^db-[a-z]+$% }"#, true),
        (r#"{ $.objectRef.name != %^db-% }"#, false),
    ];
    for (p, want) in cases {
        assert_eq!(m(p, EVENT), *want, "{p}");
    }
}

#[test]
fn term_patterns_cover_every_construct() {
    let cases: &[(&str, bool)] = &[
        ("", true),
        ("   ", true),
        ("ERROR", true),
        ("error", false), // case sensitive
        ("ERROR Unauthorized", true),
        ("ERROR Forbidden", false),
        (r#""ERROR 401""#, true),
        (r#""ERROR 403""#, false),
        ("?Forbidden ?Unauthorized", true),
        ("?Forbidden ?Timeout", false),
        ("ERROR -Unauthorized", false),
        ("ERROR -Forbidden", true),
        (r#"secrets -"ERROR 401""#, false),
        ("secrets ?get ?list", true),
        // terms match the raw message: Go's escapes are as written
        (r#""x=1\u0026y=2""#, true),
        ("x=1&y=2", false),
        // regular expressions
        ("%ERROR [0-9]+%", true),
        ("%^\\{%", true),
        ("%Forbid+en%", false),
        ("%secrets/db-pass.*word%", true),
    ];
    for (p, want) in cases {
        assert_eq!(m(p, EVENT), *want, "{p}");
    }
}

#[test]
fn json_patterns_never_match_text_that_is_not_json() {
    assert!(!m(r#"{ $.verb = "get" }"#, "verb=get not json"));
    assert!(!m(r#"{ $.missing NOT EXISTS }"#, "[1,2]x"));
    assert!(m("verb=get", "verb=get not json"));
}

#[test]
fn syntax_errors_name_their_position() {
    let cases: &[(&str, usize, &str)] = &[
        (r#"{ $.verb = "get" "#, 18, "missing closing `}`"),
        (r#"{ $.verb = "get }"#, 12, "unterminated string"),
        (r#"{ ($.verb = "get" }"#, 3, "unclosed `(`"),
        (r#"{ $.verb == "get" }"#, 11, "expected a value"),
        (r#"{ verb = "get" }"#, 3, "expected a selector"),
        (r#"{ $.verb < "get" }"#, 12, "compare numbers only"),
        (r#"{ $.a[x] = 1 }"#, 7, "array index"),
        (r#"{ $.a IS MAYBE }"#, 10, "NULL, TRUE or FALSE"),
        (r#"{ $.a = 1 } trailing"#, 13, "after the closing"),
        (r#"{ $.a = 1 && }"#, 14, "expected a selector"),
        (r#"{ $. = 1 }"#, 5, "field name"),
        ("%(a|b)%", 2, "parentheses"),
        ("%é%", 2, "multi-byte"),
        (r#"ERROR "unterminated"#, 7, "unterminated quoted phrase"),
        ("[ip, user", 10, "missing closing ]"),
        (
            r#"{ $.a = %a% || $.b = %b% || $.c = %c% }"#,
            35,
            "at most 2 regular expressions",
        ),
        (
            "[a = %x%, b = %y%, c = %z%]",
            24,
            "at most 2 regular expressions",
        ),
        ("%ab!c%", 4, "do not support `!`"),
        ("[ip, user = ]", 13, "expected a value"),
        ("[ip, code < abc]", 16, "only = and != compare text"),
        (
            "[ip, code = 1 && bytes > 2]",
            18,
            "a condition on field code names bytes",
        ),
        ("[ip, =3]", 6, "expected a field name or ..."),
    ];
    for (p, pos, msg) in cases {
        let e = Pattern::parse(p).expect_err(p);
        assert_eq!(e.position, *pos, "{p}: {e}");
        assert!(e.message.contains(msg), "{p}: {e}");
        assert!(
            e.to_string().contains(&format!("at character {pos}")),
            "{e}"
        );
    }
}

#[test]
fn patterns_over_1024_characters_are_rejected() {
    let ok = format!("{{ $.verb = \"{}\" }}", "x".repeat(1024 - 15));
    assert_eq!(ok.chars().count(), 1024);
    Pattern::parse(&ok).unwrap();
    let long = format!("{{ $.verb = \"{}\" }}", "x".repeat(1024 - 14));
    let e = Pattern::parse(&long).unwrap_err();
    assert!(e.message.contains("at most 1024"), "{e}");
}

#[test]
fn keywords_are_case_insensitive_but_values_are_not() {
    assert!(m(r#"{ $.impersonatedUser is null }"#, EVENT));
    assert!(m(r#"{ $.missing not exists }"#, EVENT));
    assert!(!m(r#"{ $.verb = "GET" }"#, EVENT));
}

#[test]
fn the_guides_pattern_matches_no_secret_event() {
    let guide = Pattern::parse(GUIDE).unwrap();
    for s in SAMPLES {
        assert!(!guide.matches_str(s.event), "{}", s.what);
    }
    // ... and not on the event it was written for, either.
    assert!(!guide.matches_str(EVENT));
    // The same pattern with the plural matches it: the singular is the bug.
    assert!(m(
        r#"{($.verb="get") && ($.objectRef.resource="secrets")}"#,
        EVENT
    ));
}

#[test]
fn setup_patterns_match_exactly_their_samples() {
    for (suffix, pattern) in [
        ("secret-reads", READS_PATTERN),
        ("secret-denied", DENIED_PATTERN),
        ("secret-writes", WRITES_PATTERN),
    ] {
        let p = Pattern::parse(pattern).unwrap();
        assert!(p.is_json());
        for s in SAMPLES {
            assert_eq!(
                p.matches_str(s.event),
                s.matches.contains(&suffix),
                "{suffix} on {}",
                s.what
            );
        }
    }
}

/// The access-log line the CloudWatch guide's space-delimited examples use.
const ACCESS: &str =
    r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534"#;

#[test]
fn space_delimited_patterns_match_fields_in_order() {
    let cases: &[(&str, bool)] = &[
        (
            "[ip, user, username, timestamp, request, status_code, bytes]",
            true,
        ),
        (
            // The last field holds the rest of a longer event.
            "[ip, user, username, timestamp, request, status_code]",
            true,
        ),
        (
            "[ip, user, username, timestamp, request, status_code = 200]",
            false,
        ),
        (
            "[ip, user, username, timestamp, request, rest = \"200 1534\"]",
            true,
        ),
        (
            "[ip, user, username, timestamp, request, status_code, bytes, more]",
            false,
        ),
        (
            "[ip, user, username, timestamp, request, status_code = 200, bytes]",
            true,
        ),
        (
            "[ip, user, username, timestamp, request, status_code = 2*, bytes]",
            true,
        ),
        (
            "[ip, user, username, timestamp, request, status_code = 4*, bytes]",
            false,
        ),
        (
            "[ip, user, username, timestamp, request, status_code, bytes > 1000]",
            true,
        ),
        (
            "[ip, user, username, timestamp, request, status_code, bytes > 2000]",
            false,
        ),
        ("[ip, user, username = frank, ...]", true),
        ("[ip, user, username != frank, ...]", false),
        ("[..., status_code = 200, bytes]", true),
        ("[ip, ..., bytes = 1534]", true),
        ("[..., request = \"GET *\", ...]", true),
        ("[..., request = *gif*, status_code, bytes]", true),
        (
            "[..., status_code >= 200 && status_code < 300, bytes]",
            true,
        ),
        ("[..., status_code = 404 || status_code = 200, bytes]", true),
        ("[..., status_code = 404 || = 500, bytes]", false),
        ("[ip = %127\\.0\\.0\\.[0-9]+%, ...]", true),
        ("[ip, user, username, timestamp = 10/Oct/2000*, ...]", true),
        ("[...]", true),
    ];
    for (p, want) in cases {
        let pattern = Pattern::parse(p).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert_eq!(pattern.matches_str(ACCESS), *want, "{p}");
    }
    // Quoted and bracketed runs are one field each, without their marks.
    assert_eq!(
        delimited::fields(ACCESS),
        [
            "127.0.0.1",
            "-",
            "frank",
            "10/Oct/2000:13:25:15 -0700",
            "GET /apache_pb.gif HTTP/1.0",
            "200",
            "1534"
        ]
    );
}

#[test]
fn json_selectors_take_wildcards_bracketed_keys_and_presence() {
    let event = r#"{"cluster.name":"prod","user":{"username":"bob","groups":["dev","system:authenticated"]},
        "sourceIPs":["10.0.0.1","203.0.113.9"],"annotations":{"a":"allow","b":"forbid"},"code":403}"#
        .replace('\n', "");
    let cases: &[(&str, bool)] = &[
        (r#"{ $.['cluster.name'] = "prod" }"#, true),
        (r#"{ $.["cluster.name"] = "dev" }"#, false),
        (r#"{ $.user.groups[*] = "system:authenticated" }"#, true),
        (r#"{ $.user.groups[*] = "admin" }"#, false),
        (r#"{ $.sourceIPs[*] = "203.0.113.*" }"#, true),
        (r#"{ $.annotations.* = "forbid" }"#, true),
        (r#"{ $.annotations.* = "deny" }"#, false),
        (r#"{ $.code = * }"#, true),
        // A selector reaching an object matches nothing (the guide).
        (r#"{ $.user = * }"#, false),
        (r#"{ $.missing = * }"#, false),
        (r#"{ $.user.groups[*] NOT EXISTS }"#, false),
        (r#"{ $.nothing[*] NOT EXISTS }"#, true),
    ];
    for (p, want) in cases {
        let pattern = Pattern::parse(p).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert_eq!(pattern.matches_str(&event), *want, "{p}");
    }
}

#[test]
fn a_pattern_names_the_readings_of_the_guides_silences_it_depends_on() {
    let of = |p: &str| Pattern::parse(p).unwrap().assumptions();
    assert!(of("ERROR")[0].starts_with("terms match anywhere"));
    assert!(of("{ $.code < 400 }")[0].starts_with("a number matches only a JSON number"));
    assert!(of(r#"{ $.verb = "get" }"#)[0].starts_with("a string matches only a JSON string"));
    assert_eq!(of(r#"{ $.verb = "get" && $.code = 200 }"#).len(), 2);
    assert!(of("[a, code = 200]")[0].starts_with("a field compares as a number"));
    assert!(of("[a, user = bob]").is_empty());
    assert!(of("{ $.a NOT EXISTS }").is_empty());
    assert!(of("?ERROR ?WARN").len() == 1);
    assert!(of("?ERROR REQUEST")[1].starts_with("? terms are ignored"));
    assert!(of("{ $.a = Ev*ent }")[1].starts_with("a * inside a value is itself"));
    assert!(of("{ $.a = *Event }").len() == 1);
    assert!(of("[a, b = x*y]")[0].starts_with("a * inside a value is itself"));
    assert!(of("").is_empty());
}
