//! Every filter-pattern example of the CloudWatch Logs User Guide, run
//! through secret-audit's evaluator: a documented example that disagrees is
//! a bug (ours, or the guide's, named in the example's note).
//!
//! The guide's pages, under
//! https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/:
//! `regex-expressions.html` (REGEX), `matching-terms-unstructured-log-events.html`
//! (TERMS), `matching-terms-json-log-events.html` (JSON),
//! `FilterAndPatternSyntaxForMetricFilters.html` (METRIC), and the
//! space-delimited section of `FilterAndPatternSyntax.html` as it stood in
//! 2024 (SPACE; its own page holds the same examples). Some examples are
//! only in earlier versions of `FilterAndPatternSyntax.html` (2024 and
//! 2018–2021, from the guide's public source, awsdocs/
//! amazon-cloudwatch-logs-user-guide): they are kept, marked so, where the
//! language they show still stands. Where the guide shows a pattern with no
//! event, the event is ours, and the note says so.

use secret_audit::pattern::Pattern;

const REGEX: &str = "regex-expressions.html, Usage of supported operators";
const REGEX_USES: &str = "regex-expressions.html, introduction";
const TERMS: &str = "matching-terms-unstructured-log-events.html";
const TERMS_2024: &str = "FilterAndPatternSyntax.html (2024), unstructured log events";
const TERMS_OLD: &str = "FilterAndPatternSyntax.html (2018-2021), Matching Terms in Log Events";
const OR_OLD: &str = "FilterAndPatternSyntax.html (2018-2021), OR Pattern Matching";
const JSON: &str = "matching-terms-json-log-events.html";
const JSON_SYNTAX: &str = "FilterAndPatternSyntax.html (2024), JSON: numeric values";
const JSON_OLD: &str = "FilterAndPatternSyntax.html (2018-2021), JSON";
const SPACE: &str = "FilterAndPatternSyntax.html (2024), space-delimited log events";
const SPACE_OLD: &str = "FilterAndPatternSyntax.html (2018-2021), space-delimited";
const METRIC: &str = "FilterAndPatternSyntaxForMetricFilters.html";
const OVERVIEW: &str = "FilterAndPatternSyntax.html, overview";
const COUNT_404: &str = "Counting404Responses.html";

struct Example {
    source: &'static str,
    pattern: &'static str,
    /// Log events, and whether the guide says the pattern returns each.
    events: &'static [(&'static str, bool)],
    /// Where the example needs a word: a guide error, or an event of ours.
    note: &'static str,
}

const fn ex(
    source: &'static str,
    pattern: &'static str,
    events: &'static [(&'static str, bool)],
) -> Example {
    Example {
        source,
        pattern,
        events,
        note: "",
    }
}

const fn noted(
    source: &'static str,
    pattern: &'static str,
    events: &'static [(&'static str, bool)],
    note: &'static str,
) -> Example {
    Example {
        source,
        pattern,
        events,
        note,
    }
}

// The events the pages show, on one line each.
const E400: &str = "[ERROR 400] BAD REQUEST";
const E401: &str = "[ERROR 401] UNAUTHORIZED REQUEST";
const E419: &str = "[ERROR 419] MISSING ARGUMENTS";
const E420: &str = "[ERROR 420] INVALID ARGUMENTS";
const E500: &str = "[ERROR 500] INTERNAL SERVER ERROR";
const TRAIL: &str = r#"{"eventType": "UpdateTrail", "sourceIPAddress": "111.111.111.111", "arrayKey": ["value", "another value"], "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}], "SomeObject": null, "cluster.name": "c"}"#;
const TRAIL_OLD: &str = r#"{"eventType": "UpdateTrail", "sourceIPAddress": "111.111.111.111", "arrayKey": ["value", "another value"], "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}], "SomeObject": null, "ThisFlag": true}"#;
const USERS: &str = r#"{"user": {"id": 1, "email": "John.Stiles@example.com"}, "users": [{"id": 2, "email": "John.Doe@example.com"}, {"id": 3, "email": "Jane.Doe@example.com"}], "actions": ["GET", "PUT", "DELETE"], "coordinates": [[0, 1, 2], [4, 5, 6], [7, 8, 9]]}"#;
const NUMBERS: &str = r#"{"bandwidth": 80, "latency": 40, "refreshRate": 60, "responseTime": 5, "errorCode": 400, "number": [1000]}"#;
const PROD: &str =
    r#"127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#;
const W_INFO_GET: &str = "INFO 09/25/2014 12:00:00 GET /service/resource/67 1200";
const W_INFO_POST: &str = "INFO 09/25/2014 12:00:01 POST /service/resource/67/part/111 1310";
const W_WARNING: &str = "WARNING 09/25/2014 12:00:02 Invalid user request";
const W_ERROR: &str = "ERROR 09/25/2014 12:00:02 Failed to process request";
const OR_1: &str = "ERROR WARN message";
const OR_2: &str = "ERROR message";
const OR_3: &str = "WARN message";
const APACHE_1: &str =
    r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534"#;
const APACHE_2: &str =
    r#"127.0.0.1 - frank [10/Oct/2000:13:35:22 -0700] "GET /apache_pb.gif HTTP/1.0" 500 5324"#;
const APACHE_3: &str =
    r#"127.0.0.1 - frank [10/Oct/2000:13:50:35 -0700] "GET /apache_pb.gif HTTP/1.0" 200 4355"#;

/// Long: the table is data, one entry per example of the guide.
const EXAMPLES: &[Example] = &[
    // Regular expressions.
    ex(REGEX, "%^[hc]at%", &[("hat trick", true), ("cat", true), ("a cat", false)]),
    ex(REGEX, "%[hc]at$%", &[("a hat", true), ("cat", true), ("cats", false)]),
    ex(REGEX, "%colou?r%", &[("color", true), ("colour", true), ("colr", false)]),
    ex(REGEX, "%[abc]%", &[("a", true), ("b", true), ("c", true), ("xyz", false)]),
    ex(REGEX, "%[a-z]%", &[("q", true), ("Q7", false)]),
    ex(REGEX, "%[abcx-z]%", &[("a", true), ("y", true), ("d", false)]),
    ex(REGEX, "%a{3,5}%", &[("aaa", true), ("aaaa", true), ("aaaaa", true), ("aa", false)]),
    ex(REGEX, "%gra|ey%", &[("gray", true), ("grey", true), ("green", false)]),
    ex(
        REGEX,
        "%^starting|^initializing|^shutting down%",
        &[
            ("starting up", true),
            ("initializing db", true),
            ("shutting down", true),
            ("skipping initializing db", false),
        ],
    ),
    noted(
        REGEX,
        "%abcc|ab[^c]$%",
        &[("abcc", true), ("aba", true), ("aac", false)],
        "the guide prints it without its closing %",
    ),
    ex(
        REGEX,
        r"%\[.\]%",
        &[("[a]", true), ("[b]", true), ("[7]", true), ("[@]", true), ("[]]", true), ("[ ]", true), ("[ab]", false)],
    ),
    ex(REGEX, r"%10\.10\.0\.1%", &[("from 10.10.0.1", true), ("10010,051", false)]),
    ex(REGEX, "%ab*c%", &[("ac", true), ("abc", true), ("abbbc", true), ("adc", false)]),
    ex(REGEX, "%ab[0-9]*%", &[("ab", true), ("ab0", true), ("ab129", true), ("a b", false)]),
    ex(REGEX, "%ab+c%", &[("abc", true), ("abbc", true), ("abbbc", true), ("ac", false)]),
    ex(
        REGEX,
        "%.at%",
        &[("hat", true), ("cat", true), ("bat", true), ("4at", true), ("#at", true), (" at", true), ("at", false)],
    ),
    ex(REGEX, "%10.10.0.1%", &[("10010,051", true), ("10.10.0.1", true)]),
    ex(REGEX, r"%\d%", &[("a1", true), ("abc", false)]),
    ex(REGEX, r"%\D%", &[("a1", true), ("123", false)]),
    noted(REGEX, r"%\s%", &[("a b", true), ("a\tb", true), ("ab", false)], "the guide shows no pattern; this one is ours"),
    noted(REGEX, r"%\S%", &[("   a", true), ("   ", false)], "the guide shows no pattern; this one is ours"),
    ex(REGEX, r"%\w%", &[("_", true), ("--", false)]),
    ex(REGEX, r"%\W%", &[("a-b", true), ("a_b", false)]),
    ex(REGEX, r"%\x3A%", &[("key: value", true), ("key value", false)]),
    ex(REGEX, r"%\x28%", &[("f(x)", true), ("fx", false)]),
    ex(REGEX, "%AUTHORIZED%", &[("[ERROR 401] UNAUTHORIZED REQUEST", true), ("[SUCCESS 200] AUTHORIZED REQUEST", true)]),
    noted(
        REGEX_USES,
        r"%\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}%",
        &[("from 192.168.0.1", true), ("from localhost", false)],
        "the guide shows no event; the events are ours",
    ),
    noted(
        REGEX_USES,
        "%[Ee]rror|[Ff]ail%",
        &[("Error", true), ("error", true), ("Fail", true), ("fail", true), ("ERROR", false)],
        "the guide names the words, not events",
    ),
    // Terms.
    ex(TERMS, "ERROR", &[(E400, true), (E401, true), (E419, true), (E420, true), ("[INFO] done", false)]),
    ex(TERMS, "ERROR ARGUMENTS", &[(E419, true), (E420, true), (E400, false), (E401, false)]),
    ex(
        TERMS,
        "?ERROR ?ARGUMENTS",
        &[(E400, true), (E401, true), (E419, true), (E420, true), ("[INFO] INVALID ARGUMENTS PROVIDED", true), ("[INFO] ok", false)],
    ),
    noted(
        TERMS_2024,
        "?ERROR ?ARGUMENTS REQUEST",
        &[
            ("[INFO] REQUEST FAILED", true),
            ("[WARN] UNAUTHORIZED REQUEST", true),
            ("[ERROR] 400 BAD REQUEST", true),
            ("[ERROR 419] MISSING ARGUMENTS", false),
        ],
        "\"If you combine \"?\" with other filter patterns, all question mark terms will be ignored\"",
    ),
    ex(TERMS, "\"INTERNAL SERVER ERROR\"", &[(E500, true), ("[ERROR] INTERNAL ERROR", false)]),
    ex(TERMS, "ERROR -ARGUMENTS", &[(E400, true), (E401, true), (E419, false), (E420, false)]),
    noted(
        TERMS,
        "\" \"",
        &[(E400, true), ("{\"compact\":1}", true), ("x", true)],
        "the guide lists no events: \"returns all log events\"",
    ),
    noted(TERMS_OLD, "\"\"", &[(E400, true), ("x", true)], "\"matches all log events\""),
    ex(
        TERMS_OLD,
        "\"ERROR\"",
        &[("[ERROR] A fatal exception has occurred", true), ("Exiting with ERRORCODE: -1", true)],
    ),
    ex(
        TERMS_OLD,
        "\"ERROR\" - \"Exiting\"",
        &[("[ERROR] A fatal exception has occurred", true), ("Exiting with ERRORCODE: -1", false)],
    ),
    ex(
        TERMS_OLD,
        "\"ERROR\" \"Exception\"",
        &[("[ERROR] Caught IllegalArgumentException", true), ("[ERROR] Unhandled Exception", true), ("[ERROR] A fatal exception has occurred", false)],
    ),
    ex(
        TERMS_OLD,
        "\"Failed to process the request\"",
        &[("[WARN] Failed to process the request", true), ("[ERROR] Unable to continue: Failed to process the request", true), ("[WARN] Failed to process", false)],
    ),
    ex(
        TERMS_OLD,
        "?Error ?fatal",
        &[
            ("[Error] Unhandled Exception", true),
            ("[ERROR] A fatal exception has occurred", true),
            ("[ERROR] Caught IllegalArgumentException", false),
            ("Exiting with ERRORCODE: -1", false),
        ],
    ),
    ex(OR_OLD, "ERROR", &[(OR_1, true), (OR_2, true), (OR_3, false)]),
    ex(OR_OLD, "?ERROR ?WARN", &[(OR_1, true), (OR_2, true), (OR_3, true)]),
    ex(OR_OLD, "ERROR WARN", &[(OR_1, true), (OR_2, false), (OR_3, false)]),
    ex(OR_OLD, "ERROR -WARN", &[(OR_1, false), (OR_2, true), (OR_3, false)]),
    noted(OVERVIEW, "ERROR", &[(E400, true), ("[INFO] ok", false)], "the guide shows no event here"),
    // JSON.
    ex(JSON, r#"{ $.eventType = "UpdateTrail" }"#, &[(TRAIL, true), (r#"{"eventType": "UserLogin", "userId": "123"}"#, false), (r#"{"eventType": "ConfigUpdate", "component": "database"}"#, false), (r#"{"eventType": "UpdateTrail", "source": "cloudtrail"}"#, true)]),
    ex(JSON, "{ $.sourceIPAddress != 123.123.* }", &[(TRAIL, true)]),
    ex(JSON, r#"{ $.arrayKey[0] = "value" }"#, &[(TRAIL, true)]),
    ex(JSON, "{ $.eventType = %Trail% }", &[(TRAIL, true)]),
    ex(JSON, "{ $.arrayKey[*] = %val.{2}% }", &[(TRAIL, true)]),
    ex(JSON, r"{ $.* = %111\.111\.111\.1[0-9]{1,2}% }", &[(TRAIL, true)]),
    ex(JSON, r#"{ $.['cluster.name'] = "c" }"#, &[(TRAIL, true)]),
    ex(JSON, "{ $.SomeObject IS NULL }", &[(TRAIL, true)]),
    ex(JSON, "{ $.SomeOtherObject NOT EXISTS }", &[(TRAIL, true)]),
    ex(JSON, r#"{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }"#, &[(USERS, true)]),
    ex(
        JSON,
        r#"{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch" && $.actions[2] = "nonmatch" }"#,
        &[(USERS, true)],
    ),
    ex(
        JSON,
        r#"{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch") && $.actions[2] = "nonmatch" }"#,
        &[(USERS, false)],
    ),
    ex(JSON, r#"{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }"#, &[(USERS, false)]),
    noted(JSON_SYNTAX, "{ $.bandwidth > 75 }", &[(NUMBERS, true)], "the guide shows no event; the event is ours"),
    noted(JSON_SYNTAX, "{ $.latency < 50 }", &[(NUMBERS, true)], "the event is ours"),
    noted(JSON_SYNTAX, "{ $.refreshRate >= 60 }", &[(NUMBERS, true)], "the event is ours"),
    noted(JSON_SYNTAX, "{ $.responseTime <= 5 }", &[(NUMBERS, true)], "the event is ours"),
    noted(JSON_SYNTAX, "{ $.errorCode = 400}", &[(NUMBERS, true)], "the event is ours"),
    noted(JSON_SYNTAX, "{ $.errorCode != 500 }", &[(NUMBERS, true)], "the event is ours"),
    noted(JSON_SYNTAX, "{ $.number[0] = 1e+3 }", &[(NUMBERS, true)], "the event is ours"),
    noted(JSON_SYNTAX, "{ $.number[0] != 1e-3 }", &[(NUMBERS, true)], "the event is ours"),
    ex(JSON_OLD, "{$.foo = bar}", &[(r#"{"foo": "bar"}"#, true), (r#"{"foo": "baz"}"#, false)]),
    ex(JSON_OLD, "{$.foo = baz }", &[(r#"{"foo": "bar"}"#, false), (r#"{"foo": "baz"}"#, true)]),
    ex(JSON_OLD, "{$.foo = bar || $.foo = baz }", &[(r#"{"foo": "bar"}"#, true), (r#"{"foo": "baz"}"#, true)]),
    ex(JSON_OLD, "{ $.objectList[1].id = 2 }", &[(TRAIL_OLD, true)]),
    ex(JSON_OLD, "{ $.ThisFlag IS TRUE }", &[(TRAIL_OLD, true)]),
    ex(
        JSON_OLD,
        r#"{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch && $.actions[2] = nomatch }"#,
        &[(USERS, true)],
    ),
    ex(
        JSON_OLD,
        r#"{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch) && $.actions[2] = nomatch }"#,
        &[(USERS, false)],
    ),
    ex(JSON_OLD, "{$.users = 1}", &[(r#"{ "users": [1, 2, 3] }"#, false)]),
    ex(JSON_OLD, "{$.users != 1}", &[(r#"{ "users": [1, 2, 3] }"#, false)]),
    noted(JSON_OLD, "{ $.latency >= 500 }", &[(r#"{"latency": 500}"#, true), (r#"{"latency": 499}"#, false)], "the events are ours"),
    noted(JSON_OLD, "{ $.numbers[0] < 10e3 }", &[(r#"{"numbers": [9999]}"#, true), (r#"{"numbers": [10000]}"#, false)], "the events are ours"),
    noted(JSON_OLD, "{ $.numbers[0] < 10e-3 }", &[(r#"{"numbers": [0.001]}"#, true), (r#"{"numbers": [0.01]}"#, false)], "the events are ours"),
    noted(JSON_OLD, "{ $.processes[4].averageRuntime <= 55.5 }", &[(r#"{"processes": [0, 0, 0, 0, {"averageRuntime": 55.5}]}"#, true)], "the event is ours"),
    noted(JSON_OLD, "{ $.latency > +1000 }", &[(r#"{"latency": 1001}"#, true), (r#"{"latency": 1000}"#, false)], "the events are ours"),
    noted(JSON_OLD, "{ $.eventName = *Event }", &[(r#"{"eventName": "PutEvent"}"#, true), (r#"{"eventName": "GetEvent"}"#, true), (r#"{"eventName": "EventId"}"#, false)], "the guide's prose: *Event matches PutEvent and GetEvent"),
    noted(JSON_OLD, "{ $.eventName = Event* }", &[(r#"{"eventName": "EventId"}"#, true), (r#"{"eventName": "EventName"}"#, true), (r#"{"eventName": "PutEvent"}"#, false)], "the guide's prose: Event* matches EventId and EventName"),
    noted(JSON_OLD, "{ $.eventName = Ev*ent }", &[(r#"{"eventName": "Ev*ent"}"#, true), (r#"{"eventName": "Event"}"#, false), (r#"{"eventName": "EvXent"}"#, false)], "the guide's prose: Ev*ent will only match the actual string Ev*ent"),
    ex(OVERVIEW, r#"{ $.eventType = "UpdateTrail" }"#, &[(TRAIL, true)]),
    // Metric filters.
    ex(METRIC, r#"{ $.eventType = "*" && $.sourceIPAddress != 123.123.* }"#, &[(TRAIL, true), (r#"{"sourceIPAddress": "10.0.0.1"}"#, false)]),
    ex(METRIC, "{ $.latency = * }", &[(r#"{ "latency": 50, "requestType": "GET" }"#, true), (r#"{"requestType": "GET"}"#, false)]),
    ex(METRIC, "[ip, server, username, timestamp, request, status_code, bytes > 1000]", &[(PROD, true)]),
    noted(
        METRIC,
        "[w1=ERROR || w1=%WARN%, w2]",
        &[(W_ERROR, true), (W_WARNING, true), (W_INFO_GET, false)],
        "\"the first word in the events is ERROR or any superstring of WARN\"; the events are SPACE's",
    ),
    // Space-delimited.
    ex(SPACE, r"[ip=%127\.0\.0\.[1-9]%, user, username, timestamp, request =*.html*, status_code = 4*, bytes]", &[(PROD, true)]),
    ex(SPACE, "[..., request =*.html*, status_code = 4*, bytes]", &[(PROD, true)]),
    ex(SPACE, "[ip, user, username, timestamp, request =*.html*, status_code = 404 || status_code = 410, bytes]", &[(PROD, true)]),
    noted(
        SPACE,
        "[w1=ERROR, w2]",
        &[(W_ERROR, true), (W_WARNING, false), (W_INFO_GET, false), (W_INFO_POST, false)],
        "the last field holds the rest of a longer event (the guide's \"blank w2 indicator\")",
    ),
    ex(SPACE, "[w1=ERROR || w1=WARNING, w2]", &[(W_ERROR, true), (W_WARNING, true), (W_INFO_GET, false)]),
    ex(SPACE, "[w1!=ERROR && w1!=WARNING, w2]", &[(W_INFO_GET, true), (W_INFO_POST, true), (W_ERROR, false), (W_WARNING, false)]),
    ex(
        SPACE,
        "[logLevel, date, time, method, url=%/service/resource/[0-9]+$%, response_time]",
        &[(W_INFO_GET, true), (W_INFO_POST, false), (W_WARNING, false), (W_ERROR, false)],
    ),
    ex(
        SPACE,
        "[logLevel, date, time, method, url=%/service/resource/[0-9]+/part/[0-9]+$%, response_time]",
        &[(W_INFO_POST, true), (W_INFO_GET, false)],
    ),
    noted(
        OVERVIEW,
        "[ip, user, timestamp, request, status_code = 4*, bytes]",
        &[(r#"127.0.0.1 frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#, true), (PROD, false)],
        "six fields, for a log without SPACE's second field; the guide shows no event",
    ),
    ex(SPACE_OLD, "[w1=ERROR, w2]", &[(OR_2, true), (OR_1, true), (OR_3, false)]),
    ex(SPACE_OLD, "[w1=ERROR || w1=WARN, w2]", &[(OR_2, true), (OR_3, true)]),
    noted(
        SPACE_OLD,
        "[w1!=ERROR&&w1!=WARN, w2]",
        &[(OR_1, false), (OR_2, false), (OR_3, false)],
        "the guide says it \"matches lines containing both ERROR and WARN (pattern 1)\": its own pattern says no line starting with ERROR matches",
    ),
    ex(SPACE_OLD, "[ip, user, username, timestamp, request, status_code, bytes]", &[(APACHE_1, true), (APACHE_2, true), (APACHE_3, true)]),
    ex(SPACE_OLD, "[..., status_code, bytes]", &[(APACHE_1, true), (APACHE_2, true), (APACHE_3, true)]),
    ex(SPACE_OLD, "[ip, user, ..., status_code, bytes]", &[(APACHE_1, true), (APACHE_2, true), (APACHE_3, true)]),
    ex(SPACE_OLD, "[ip, user, ...]", &[(APACHE_1, true), (APACHE_2, true), (APACHE_3, true)]),
    ex(SPACE_OLD, "[ip, user, username, timestamp, request, status_code, bytes > 1000]", &[(APACHE_1, true), (APACHE_2, true), (APACHE_3, true)]),
    ex(SPACE_OLD, "[ip, user, username, timestamp, request, status_code = 200, bytes]", &[(APACHE_1, true), (APACHE_2, false), (APACHE_3, true)]),
    ex(SPACE_OLD, "[ip, user, username, timestamp, request, status_code = 4*, bytes]", &[(APACHE_1, false), (APACHE_2, false), (APACHE_3, false)]),
    ex(SPACE_OLD, "[ip, user, username, timestamp, request = *html*, status_code = 4*, bytes]", &[(APACHE_1, false), (PROD, true)]),
    ex(SPACE_OLD, "[ip, user, username, timestamp, request, status_code = 403 || status_code = 404, bytes]", &[(APACHE_1, false), (PROD, true)]),
    noted(
        SPACE_OLD,
        "[..., request=*.html*, status_code=4*,]",
        &[(r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#, true)],
        "the empty last field is unnamed: the guide extracts it as $7",
    ),
    ex(
        COUNT_404,
        "[IP, UserInfo, User, Timestamp, RequestInfo, StatusCode=404, Bytes]",
        &[
            (r#"127.0.0.1 - bob [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 404 2326"#, true),
            (r#"127.0.0.1 - bob [10/Oct/2000:13:55:36 -0700] "GET /apache_pb2.gif HTTP/1.0" 200 2326"#, false),
        ],
    ),
    ex(
        COUNT_404,
        "[ip, id, user, timestamp, request, status_code=404, size]",
        &[(r#"127.0.0.1 - bob [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 404 2326"#, true)],
    ),
];

/// Patterns the guide says CloudWatch refuses, and where we refuse them.
const REFUSED: &[(&str, &str, usize, &str)] = &[
    (
        REGEX,
        "%something!%",
        11,
        "regular expressions do not support `!`",
    ),
    (REGEX, "%(a)%", 2, "do not support parentheses"),
    (REGEX, "%é%", 2, "do not support multi-byte characters"),
    (
        REGEX,
        r#"{ $.a = %x% && $.b = %y% && $.c = %z% }"#,
        35,
        "at most 2 regular expressions",
    ),
    (
        REGEX,
        "[a = %x%, b = %y%, c = %z%]",
        24,
        "at most 2 regular expressions",
    ),
    (JSON, "{ $.a[*].b.* = 1 }", 3, "at most one wildcard"),
    (
        JSON,
        "{ $.a[*] = 1 && $.b.* = 2 && $.c[*] = 3 && $.d[*] = 4 }",
        44,
        "at most 3 wildcard selectors",
    ),
    (
        JSON,
        "{ $.SomeObject IS NOT NULL }",
        19,
        "does not support IS NOT",
    ),
    (
        JSON,
        "{ $.SomeObject EXISTS }",
        16,
        "does not support EXISTS",
    ),
    // A guide error: six fields whose last condition names a seventh (the
    // 2018 version read `status_code = 4* && status_code = 5*`).
    (
        SPACE_OLD,
        "[ip, user, username, timestamp, request, status_code = 4* && bytes > 1000]",
        62,
        "a condition on field status_code names bytes",
    ),
    // A guide error: `W1` for `w1` (the other versions print `w1`).
    (
        SPACE,
        "[w1=ERROR || W1=WARNING, w2]",
        14,
        "a condition on field w1 names W1",
    ),
];

#[test]
fn every_example_of_the_guide_gives_what_the_guide_says() {
    let mut wrong = Vec::new();
    let mut events = 0;
    for e in EXAMPLES {
        let p = match Pattern::parse(e.pattern) {
            Ok(p) => p,
            Err(err) => {
                wrong.push(format!("{} ({}): {err}", e.pattern, e.source));
                continue;
            }
        };
        for (event, want) in e.events {
            events += 1;
            if p.matches_str(event) != *want {
                let note = if e.note.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", e.note)
                };
                wrong.push(format!(
                    "{} ({}){note}: the guide says {} for {event}",
                    e.pattern,
                    e.source,
                    if *want { "a match" } else { "no match" },
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} disagreements:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(EXAMPLES.iter().all(|e| !e.events.is_empty()));
    eprintln!("{} examples, {events} events", EXAMPLES.len());
    assert!(
        EXAMPLES.len() >= 113 && events >= 268,
        "{} examples, {events} events",
        EXAMPLES.len()
    );
}

#[test]
fn what_the_guide_refuses_is_refused_where_it_is() {
    for (source, pattern, position, message) in REFUSED {
        let err = Pattern::parse(pattern).expect_err(pattern);
        assert!(
            err.message.contains(message) && err.position == *position,
            "{pattern} ({source}): got {err}, want position {position} and {message:?}"
        );
    }
}
