//! The generator's truth against an independent recount of its own output:
//! every format is decoded here with general-purpose parsers (gzip, JSON,
//! CSV, base64), every event parsed, and the figures counted again from the
//! parsed events. Every format must also hold the same events.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;

use base64::Engine;
use flate2::read::MultiGzDecoder;
use gen_audit::{Format, Size, Spec, Truth};
use serde_json::Value;

fn generate(spec: &Spec) -> (Vec<u8>, Truth) {
    let mut out = Vec::new();
    let truth = spec.write(&mut out).expect("generate into memory");
    (out, truth)
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:.200}"))
}

fn data_message_events(doc: &Value) -> Vec<Value> {
    assert_eq!(doc["messageType"], "DATA_MESSAGE");
    doc["logEvents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| parse(e["message"].as_str().unwrap()))
        .collect()
}

/// Every audit event a file holds, decoded from its format.
fn decode(format: Format, bytes: &[u8]) -> Vec<Value> {
    let text = || String::from_utf8(bytes.to_vec()).expect("UTF-8");
    match format {
        Format::Jsonl => text().lines().map(parse).collect(),
        Format::Cwexport => text()
            .lines()
            .map(|l| {
                let (stamp, event) = l.split_once(' ').expect("<timestamp> <event>");
                let ev = parse(event);
                let stage = ev["stageTimestamp"].as_str().unwrap();
                assert_eq!(
                    stamp[..23],
                    stage[..23],
                    "the line's time is the stage time"
                );
                ev
            })
            .collect(),
        Format::Firehose => serde_json::Deserializer::from_slice(bytes)
            .into_iter::<Value>()
            .map(|v| v.expect("concatenated JSON objects"))
            .collect(),
        Format::Fle => parse(&text())["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                assert!(e["ingestionTime"].as_i64() > e["timestamp"].as_i64());
                parse(e["message"].as_str().unwrap())
            })
            .collect(),
        Format::Eventlist => {
            let doc = parse(&text());
            assert_eq!(doc["kind"], "EventList");
            doc["items"].as_array().unwrap().clone()
        }
        Format::Insights => {
            let doc = parse(&text());
            assert_eq!(doc["status"], "Complete");
            doc["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|row| {
                    let msg = row
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|f| f["field"] == "@message")
                        .expect("an @message field");
                    parse(msg["value"].as_str().unwrap())
                })
                .collect()
        }
        Format::InsightsCsv => {
            let mut rd = csv::Reader::from_reader(bytes);
            assert_eq!(
                rd.headers().unwrap().iter().collect::<Vec<_>>(),
                ["@timestamp", "@message"]
            );
            rd.records()
                .map(|r| parse(&r.expect("a CSV row")[1]))
                .collect()
        }
        Format::FirehoseCwl => {
            let all = gunzip(bytes);
            serde_json::Deserializer::from_slice(&all)
                .into_iter::<Value>()
                .flat_map(|doc| data_message_events(&doc.expect("DATA_MESSAGE documents")))
                .collect()
        }
        Format::LambdaEvent => text()
            .lines()
            .flat_map(|l| {
                let data = parse(l)["awslogs"]["data"].as_str().unwrap().to_string();
                let gz = base64::engine::general_purpose::STANDARD
                    .decode(data)
                    .expect("base64");
                data_message_events(&serde_json::from_slice(&gunzip(&gz)).unwrap())
            })
            .collect(),
    }
}

/// The truth, counted from parsed events as DESIGN.md defines it.
fn recount(events: &[Value]) -> Truth {
    let mut t = Truth {
        records: events.len() as u64,
        ..Truth::default()
    };
    let mut requests: HashMap<&str, (&str, Option<u64>)> = HashMap::new();
    let mut keys = HashSet::new();
    for ev in events {
        if ev["objectRef"]["resource"] != "secrets" {
            continue;
        }
        t.secret_records += 1;
        let code = ev["responseStatus"]["code"].as_u64();
        let verb = ev["verb"].as_str().unwrap();
        if ["get", "list", "watch"].contains(&verb)
            && ev["stage"] == "ResponseComplete"
            && code.is_some_and(|c| c < 400)
        {
            t.metric_read_events += 1;
        }
        let id = ev["auditID"].as_str().unwrap();
        match requests.get_mut(id) {
            Some(r) => {
                if code.is_some() {
                    r.1 = code;
                }
            }
            None => {
                requests.insert(id, (verb, code));
                let user = if ev["impersonatedUser"].is_object() {
                    &ev["impersonatedUser"]["username"]
                } else {
                    &ev["user"]["username"]
                };
                let or_star = |v: &Value| v.as_str().unwrap_or("*").to_string();
                keys.insert((
                    or_star(&ev["objectRef"]["namespace"]),
                    or_star(&ev["objectRef"]["name"]),
                    user.as_str().unwrap().to_string(),
                ));
            }
        }
    }
    t.secret_requests = requests.len() as u64;
    let mut by_verb = BTreeMap::new();
    for (verb, code) in requests.values() {
        *by_verb.entry(verb.to_string()).or_insert(0) += 1;
        if matches!(code, Some(401 | 403)) {
            t.secret_denied += 1;
        }
    }
    t.secret_requests_by_verb = by_verb;
    t.distinct_namespace_secret_user = keys.len() as u64;
    t
}

#[test]
fn truth_matches_a_recount_of_every_format_for_several_seeds() {
    let mut exotic_cases = 0;
    for seed in [1, 2, 42] {
        for (stages_all, exotic) in [(false, false), (true, true)] {
            let mut reference: Option<Vec<Value>> = None;
            for format in Format::ALL {
                for gzip in [false, true] {
                    if gzip && format.is_gzip() {
                        continue;
                    }
                    let spec = Spec {
                        seed,
                        stages_all,
                        exotic,
                        gzip,
                        size: Size::Requests(1200),
                        ..Spec::new(format)
                    };
                    let what = format!(
                        "seed {seed} {format} stages_all={stages_all} exotic={exotic} gzip={gzip}"
                    );
                    let (bytes, truth) = generate(&spec);
                    let plain = if gzip { gunzip(&bytes) } else { bytes };
                    let events = decode(format, &plain);
                    assert_eq!(recount(&events), truth, "{what}");
                    match &reference {
                        None => reference = Some(events),
                        Some(r) => assert!(r == &events, "{what}: not the same events as jsonl"),
                    }
                }
            }
            let events = reference.unwrap();
            let t = recount(&events);
            assert!(
                t.secret_requests > 20 && t.secret_denied > 0,
                "seed {seed}: {t:?}"
            );
            if stages_all {
                assert!(events.iter().any(|e| e["stage"] == "RequestReceived"));
            }
            let odd = |e: &&Value| {
                e["impersonatedUser"].is_object()
                    || e["stage"] == "Panic"
                    || e["responseStatus"]["code"] == 401
            };
            let n = events.iter().filter(odd).count();
            if exotic {
                exotic_cases += n;
            } else {
                assert_eq!(n, 0, "seed {seed}: exotic cases without --exotic");
            }
        }
    }
    assert!(exotic_cases >= 3, "--exotic adds its cases: {exotic_cases}");
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_other_events() {
    let spec = Spec::new(Format::Jsonl);
    assert_eq!(generate(&spec).0, generate(&spec).0);
    let other = Spec {
        seed: 8,
        ..spec.clone()
    };
    assert_ne!(generate(&spec).0, generate(&other).0);
}

#[test]
fn stages_and_exotic_cases_add_without_changing_the_other_events() {
    let plain = Spec::new(Format::Jsonl);
    let all = Spec {
        stages_all: true,
        ..plain.clone()
    };
    let ids = |spec: &Spec| -> Vec<String> {
        let (bytes, _) = generate(spec);
        let mut seen = HashSet::new();
        decode(Format::Jsonl, &bytes)
            .iter()
            .map(|e| e["auditID"].as_str().unwrap().to_string())
            .filter(|id| seen.insert(id.clone()))
            .collect()
    };
    let (a, b) = (ids(&plain), ids(&all));
    assert!(
        a == b,
        "not the same requests in the same order ({} and {})",
        a.len(),
        b.len()
    );
}

#[test]
fn a_size_in_bytes_stops_near_it() {
    let spec = Spec {
        size: Size::Bytes(2_000_000),
        ..Spec::new(Format::Jsonl)
    };
    let (bytes, truth) = generate(&spec);
    assert!(
        (2_000_000..2_010_000).contains(&bytes.len()),
        "{}",
        bytes.len()
    );
    assert_eq!(
        truth.records as usize,
        bytes.iter().filter(|&&b| b == b'\n').count()
    );
}

#[test]
fn watches_end_later_and_some_are_still_open_when_the_log_ends() {
    let spec = Spec {
        size: Size::Requests(200_000),
        ..Spec::new(Format::Jsonl)
    };
    let (bytes, _) = generate(&spec);
    let events = decode(Format::Jsonl, &bytes);
    let mut started = HashMap::new();
    let (mut completed, mut late) = (0, 0);
    for e in events.iter().filter(|e| e["verb"] == "watch") {
        let id = e["auditID"].as_str().unwrap();
        let at = |k: &str| chrono::DateTime::parse_from_rfc3339(e[k].as_str().unwrap()).unwrap();
        match e["stage"].as_str().unwrap() {
            "ResponseStarted" => {
                started.insert(id.to_string(), ());
            }
            "ResponseComplete" => {
                assert!(
                    started.remove(id).is_some(),
                    "a watch completes after it started"
                );
                completed += 1;
                let lasted = at("stageTimestamp") - at("requestReceivedTimestamp");
                if lasted >= chrono::Duration::minutes(5) {
                    late += 1;
                }
            }
            s => panic!("a watch at stage {s}"),
        }
    }
    assert!(
        completed > 100 && late > 10,
        "completed {completed}, after 5 minutes {late}"
    );
    assert!(!started.is_empty(), "watches still open at the end");
}
