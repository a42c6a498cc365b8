//! The audit event as the tool sees it: a borrowed view of the few fields of a
//! Kubernetes `audit.k8s.io` Event that matter for secret access, and the
//! classification of one record into a [`SecretAccess`].
//!
//! Only the fields named here are type-checked; every other field is skipped
//! without allocation. Request and response bodies are noted as present and
//! never kept, so no secret value can travel further than this module.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The request stages of the audit API, in the order they happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Unknown = 0,
    RequestReceived = 1,
    ResponseStarted = 2,
    ResponseComplete = 3,
    Panic = 4,
}

impl Stage {
    fn parse(s: &str) -> Stage {
        match s {
            "RequestReceived" => Stage::RequestReceived,
            "ResponseStarted" => Stage::ResponseStarted,
            "ResponseComplete" => Stage::ResponseComplete,
            "Panic" => Stage::Panic,
            _ => Stage::Unknown,
        }
    }
}

/// A JSON string, borrowed from the record unless it has escapes. (serde
/// borrows a `Cow` only as a field of its own, never inside an `Option`.)
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// An object key as raw bytes. serde_json checks the UTF-8 of every key it
/// hands out as a string; an audit event has dozens of keys, nearly all
/// skipped, and matching them as bytes saves that work.
struct Key<'a>(Cow<'a, [u8]>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_bytes<E>(self, v: &'de [u8]) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v.to_vec())))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(v.as_bytes())))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v.as_bytes().to_vec())))
            }
        }
        d.deserialize_bytes(V(std::marker::PhantomData))
    }
}

/// `Deserialize` for a struct of optional fields read from a JSON object
/// whose keys are matched as bytes ([`Key`]). Absent and `null` fields are
/// `None`, unknown keys are skipped, a repeated key is an error.
macro_rules! from_object {
    ($name:ident<$lt:lifetime> { $($field:ident: $ty:ty = $key:literal,)* }) => {
        impl<'de: $lt, $lt> Deserialize<'de> for $name<$lt> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V<$lt>(std::marker::PhantomData<&$lt ()>);
                impl<'de: $lt, $lt> Visitor<'de> for V<$lt> {
                    type Value = $name<$lt>;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("a JSON object")
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                        $(let mut $field: Option<Option<$ty>> = None;)*
                        while let Some(key) = map.next_key::<Key<'de>>()? {
                            $(
                                if *key.0 == *$key.as_bytes() {
                                    if $field.is_some() {
                                        return Err(A::Error::duplicate_field($key));
                                    }
                                    $field = Some(map.next_value()?);
                                    continue;
                                }
                            )*
                            map.next_value::<IgnoredAny>()?;
                        }
                        Ok($name { $($field: $field.flatten(),)* })
                    }
                }
                d.deserialize_map(V(std::marker::PhantomData))
            }
        }
    };
}

struct RawUser<'a> {
    username: Option<Text<'a>>,
    groups: Option<Unauthenticated>,
}

from_object!(RawUser<'a> {
    username: Text<'a> = "username",
    groups: Unauthenticated = "groups",
});

/// Whether a user's `groups` hold `system:unauthenticated`, read without
/// allocating a vector.
struct Unauthenticated(bool);

impl<'de> Deserialize<'de> for Unauthenticated {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Unauthenticated;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut found = false;
                while let Some(g) = seq.next_element::<Text<'de>>()? {
                    found |= g.0 == "system:unauthenticated";
                }
                Ok(Unauthenticated(found))
            }
        }
        d.deserialize_seq(V)
    }
}

struct RawObjectRef<'a> {
    resource: Option<Text<'a>>,
    namespace: Option<Text<'a>>,
    name: Option<Text<'a>>,
    subresource: Option<Text<'a>>,
}

from_object!(RawObjectRef<'a> {
    resource: Text<'a> = "resource",
    namespace: Text<'a> = "namespace",
    name: Text<'a> = "name",
    subresource: Text<'a> = "subresource",
});

#[derive(Deserialize)]
struct RawStatus {
    #[serde(default)]
    code: Option<i64>,
}

/// The first string of a JSON array of strings (the client of `sourceIPs`),
/// read without allocating a vector.
struct FirstString<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for FirstString<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = FirstString<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let first = seq.next_element::<Text<'a>>()?.map(|s| s.0);
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstString(first))
            }
        }
        d.deserialize_seq(V(std::marker::PhantomData))
    }
}

struct RawEvent<'a> {
    audit_id: Option<Text<'a>>,
    stage: Option<Text<'a>>,
    verb: Option<Text<'a>>,
    user: Option<RawUser<'a>>,
    impersonated_user: Option<RawUser<'a>>,
    source_ips: Option<FirstString<'a>>,
    user_agent: Option<Text<'a>>,
    object_ref: Option<RawObjectRef<'a>>,
    response_status: Option<RawStatus>,
    request_received: Option<Text<'a>>,
    stage_timestamp: Option<Text<'a>>,
    timestamp: Option<TimestampField<'a>>,
    request_object: Option<IgnoredAny>,
    response_object: Option<IgnoredAny>,
    /// An envelope such as `{"timestamp": ..., "message": {event}}`.
    message: Option<&'a RawValue>,
}

from_object!(RawEvent<'a> {
    audit_id: Text<'a> = "auditID",
    stage: Text<'a> = "stage",
    verb: Text<'a> = "verb",
    user: RawUser<'a> = "user",
    impersonated_user: RawUser<'a> = "impersonatedUser",
    source_ips: FirstString<'a> = "sourceIPs",
    user_agent: Text<'a> = "userAgent",
    object_ref: RawObjectRef<'a> = "objectRef",
    response_status: RawStatus = "responseStatus",
    request_received: Text<'a> = "requestReceivedTimestamp",
    stage_timestamp: Text<'a> = "stageTimestamp",
    timestamp: TimestampField<'a> = "timestamp",
    request_object: IgnoredAny = "requestObject",
    response_object: IgnoredAny = "responseObject",
    message: &'a RawValue = "message",
});

/// `timestamp` is an RFC 3339 string on v1beta1 events and epoch
/// milliseconds on some envelopes.
#[derive(Deserialize)]
#[serde(untagged)]
enum TimestampField<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Millis(i64),
}

/// One record about a secret, reduced to what the rollup needs. Strings
/// borrow from the record where it had no escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretAccess<'a> {
    pub audit_id: Option<Cow<'a, str>>,
    pub stage: Stage,
    pub verb: Cow<'a, str>,
    pub namespace: Option<Cow<'a, str>>,
    pub name: Option<Cow<'a, str>>,
    pub subresource: Option<Cow<'a, str>>,
    /// The effective user: the impersonated one when present.
    pub user: Cow<'a, str>,
    /// The authenticated user when the request was impersonated.
    pub impersonated_by: Option<Cow<'a, str>>,
    pub source_ip: Option<Cow<'a, str>>,
    pub user_agent: Option<Cow<'a, str>>,
    /// The response code of this stage, if it has one.
    pub code: Option<u16>,
    /// Event time in microseconds since the epoch, if the event has one.
    pub time: Option<i64>,
    /// The record carries a request or response body.
    pub has_payload: bool,
    /// The effective user is `system:anonymous` or in the group
    /// `system:unauthenticated`.
    pub anonymous: bool,
}

/// Verbs that read secrets. A `list` or `watch` without a name reads every
/// secret of its namespace, or of the cluster.
pub const READ_VERBS: [&str; 3] = ["get", "list", "watch"];
/// Verbs that write secrets.
pub const WRITE_VERBS: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];

/// A response code that refuses a request: 401 (not authenticated) or 403
/// (not authorised).
pub fn is_denied(code: u16) -> bool {
    code == 401 || code == 403
}

/// What a secret request does with secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    /// Any other verb (none is known today; a future one stays visible).
    Other,
}

/// Which of the metric filters setup writes count one log event. A metric
/// filter counts log events and cannot deduplicate, so reads and writes
/// count only the stage that ends a request successfully (ResponseComplete,
/// code below 400): one event a request. A denial counts wherever its code
/// is (a denied request has no other stage with a code).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MetricClasses {
    pub completed_read: bool,
    pub denied: bool,
    pub completed_write: bool,
}

impl SecretAccess<'_> {
    pub fn access(&self) -> Access {
        if READ_VERBS.contains(&&*self.verb) {
            Access::Read
        } else if WRITE_VERBS.contains(&&*self.verb) {
            Access::Write
        } else {
            Access::Other
        }
    }

    /// This stage's code refused the request.
    pub fn is_denied(&self) -> bool {
        self.code.is_some_and(is_denied)
    }

    /// The metric filter classes of this log event: the one statement of
    /// them, which setup's patterns are held to (tests/patterns.rs).
    pub fn metric_classes(&self) -> MetricClasses {
        let completed_ok =
            self.stage == Stage::ResponseComplete && self.code.is_some_and(|c| c < 400);
        MetricClasses {
            completed_read: completed_ok && self.access() == Access::Read,
            denied: self.is_denied(),
            completed_write: completed_ok && self.access() == Access::Write,
        }
    }
}

/// What one well-framed record turned out to be.
#[derive(Debug)]
// Returned by value and unpacked at once, never stored: no box needed.
#[allow(clippy::large_enum_variant)]
pub enum Classified<'a> {
    Secret(SecretAccess<'a>),
    NotSecret,
}

/// Why a record could not be read as an audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses one record (a JSON object) and tells whether it is secret access.
pub fn classify(record: &[u8]) -> Result<Classified<'_>, ParseError> {
    // JSON text is UTF-8. One check of the whole record costs less than
    // serde_json's check of each string it hands out, and also covers the
    // strings it skips.
    let text = std::str::from_utf8(record).map_err(|e| {
        ParseError(format!(
            "not an audit event: invalid UTF-8 at byte {}",
            e.valid_up_to() + 1
        ))
    })?;
    let ev: RawEvent<'_> =
        serde_json::from_str(text).map_err(|e| ParseError(format!("not an audit event: {e}")))?;
    if ev.object_ref.is_none() && ev.audit_id.is_none() {
        if let Some(inner) = ev.message {
            // An envelope: the event is the object (or the JSON string) inside.
            let inner = inner.get().as_bytes();
            return match inner.first() {
                Some(b'{') => classify(inner),
                Some(b'"') => Err(ParseError(
                    "an envelope whose message is a JSON string; read it with its container format"
                        .into(),
                )),
                _ => Ok(Classified::NotSecret),
            };
        }
    }
    let Some(obj) = ev.object_ref else {
        return Ok(Classified::NotSecret);
    };
    if obj.resource.as_ref().map(|r| &*r.0) != Some("secrets") {
        return Ok(Classified::NotSecret);
    }
    let in_unauthenticated = |u: &Option<RawUser>| {
        u.as_ref()
            .and_then(|u| u.groups.as_ref())
            .is_some_and(|g| g.0)
    };
    let unauthenticated = match &ev.impersonated_user {
        Some(_) => in_unauthenticated(&ev.impersonated_user),
        None => in_unauthenticated(&ev.user),
    };
    let authenticated = ev.user.and_then(|u| u.username).map(|t| t.0);
    let impersonated = ev.impersonated_user.and_then(|u| u.username).map(|t| t.0);
    let (user, impersonated_by) = match impersonated {
        Some(imp) => (imp, authenticated),
        None => (authenticated.unwrap_or(Cow::Borrowed("")), None),
    };
    let anonymous = unauthenticated || user == "system:anonymous";
    let code = ev
        .response_status
        .and_then(|s| s.code)
        .and_then(|c| u16::try_from(c).ok());
    let time = [
        ev.request_received.as_ref().map(|t| &*t.0),
        ev.stage_timestamp.as_ref().map(|t| &*t.0),
    ]
    .into_iter()
    .flatten()
    .find_map(parse_rfc3339_micros)
    .or_else(|| match ev.timestamp.as_ref()? {
        TimestampField::Text(t) => parse_rfc3339_micros(t),
        TimestampField::Millis(ms) => ms.checked_mul(1000),
    });
    Ok(Classified::Secret(SecretAccess {
        audit_id: ev.audit_id.map(|t| t.0),
        stage: ev.stage.map_or(Stage::Unknown, |t| Stage::parse(&t.0)),
        verb: ev.verb.map_or(Cow::Borrowed(""), |t| t.0),
        namespace: non_empty(obj.namespace),
        name: non_empty(obj.name),
        subresource: non_empty(obj.subresource),
        user,
        impersonated_by,
        source_ip: ev.source_ips.and_then(|s| s.0),
        user_agent: ev.user_agent.map(|t| t.0),
        code,
        time,
        has_payload: ev.request_object.is_some() || ev.response_object.is_some(),
        anonymous,
    }))
}

/// What a person needs to recognise any audit event, secret or not (the
/// examples `test-pattern` shows), read by the same parser as [`classify`].
/// Strings are as the event has them; the caller sanitizes them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct EventView<'a> {
    /// The first of requestReceivedTimestamp, stageTimestamp and the v1beta1
    /// timestamp, as written.
    pub time: Option<Cow<'a, str>>,
    pub stage: Option<Cow<'a, str>>,
    pub verb: Option<Cow<'a, str>>,
    pub resource: Option<Cow<'a, str>>,
    pub namespace: Option<Cow<'a, str>>,
    pub name: Option<Cow<'a, str>>,
    /// The effective user: the impersonated one when present.
    pub user: Option<Cow<'a, str>>,
    pub code: Option<i64>,
}

/// The view of one record, or `None` when it is not an audit event.
pub fn describe(record: &[u8]) -> Option<EventView<'_>> {
    let text = std::str::from_utf8(record).ok()?;
    let ev: RawEvent<'_> = serde_json::from_str(text).ok()?;
    let time = [ev.request_received, ev.stage_timestamp]
        .into_iter()
        .flatten()
        .map(|t| t.0)
        .find(|t| !t.is_empty())
        .or_else(|| match ev.timestamp? {
            TimestampField::Text(t) => Some(t).filter(|t| !t.is_empty()),
            TimestampField::Millis(ms) => Some(Cow::Owned(ms.to_string())),
        });
    fn username(u: Option<RawUser<'_>>) -> Option<Cow<'_, str>> {
        u.and_then(|u| u.username)
            .map(|t| t.0)
            .filter(|n| !n.is_empty())
    }
    let obj = ev.object_ref;
    let (resource, namespace, name) = match obj {
        Some(o) => (
            o.resource.map(|t| t.0),
            o.namespace.map(|t| t.0),
            o.name.map(|t| t.0),
        ),
        None => (None, None, None),
    };
    Some(EventView {
        time,
        stage: ev.stage.map(|t| t.0),
        verb: ev.verb.map(|t| t.0),
        resource,
        namespace,
        name,
        user: username(ev.impersonated_user).or_else(|| username(ev.user)),
        code: ev.response_status.and_then(|s| s.code),
    })
}

fn non_empty(t: Option<Text<'_>>) -> Option<Cow<'_, str>> {
    t.map(|t| t.0).filter(|s| !s.is_empty())
}

/// RFC 3339 to microseconds since the epoch.
pub fn parse_rfc3339_micros(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_micros())
}

#[cfg(test)]
mod tests {

    #[test]
    fn any_event_is_described_by_the_classifier_s_parser() {
        let v = describe(
            br#"{"verb":"get","stage":"ResponseComplete","user":{"username":"admin"},"impersonatedUser":{"username":"system:serviceaccount:a:b"},
                "objectRef":{"resource":"configmaps","namespace":"a","name":"c"},"responseStatus":{"code":404},"timestamp":1561532751495}"#,
        )
        .unwrap();
        assert_eq!(
            (
                v.verb.as_deref(),
                v.resource.as_deref(),
                v.user.as_deref(),
                v.code,
                v.time.as_deref()
            ),
            (
                Some("get"),
                Some("configmaps"),
                Some("system:serviceaccount:a:b"),
                Some(404),
                Some("1561532751495")
            )
        );
        let v = describe(br#"{"requestReceivedTimestamp":"","stageTimestamp":"2026-11-01T00:00:00Z","user":{"username":"bob"}}"#).unwrap();
        assert_eq!(
            (v.time.as_deref(), v.user.as_deref(), v.resource),
            (Some("2026-11-01T00:00:00Z"), Some("bob"), None)
        );
        assert_eq!(describe(b"[1]"), None);
    }

    use super::*;

    fn secret(rec: &str) -> SecretAccess<'_> {
        match classify(rec.as_bytes()).unwrap() {
            Classified::Secret(s) => s,
            Classified::NotSecret => panic!("not classified as secret: {rec}"),
        }
    }

    #[test]
    fn reads_the_fields_of_a_secret_get() {
        let s = secret(
            r#"{"kind":"Event","auditID":"a1","stage":"ResponseComplete","verb":"get","user":{"username":"bob"},
            "sourceIPs":["10.0.0.1","10.0.0.2"],"userAgent":"kubectl","objectRef":{"resource":"secrets","namespace":"prod","name":"db"},
            "responseStatus":{"code":200},"requestReceivedTimestamp":"2026-11-01T00:00:00.5Z","stageTimestamp":"2026-11-01T00:00:01Z"}"#,
        );
        assert_eq!(s.verb, "get");
        assert_eq!(s.user, "bob");
        assert_eq!(s.namespace.as_deref(), Some("prod"));
        assert_eq!(s.name.as_deref(), Some("db"));
        assert_eq!(s.source_ip.as_deref(), Some("10.0.0.1"));
        assert_eq!(s.code, Some(200));
        assert_eq!(s.stage, Stage::ResponseComplete);
        assert_eq!(s.time, Some(1_793_491_200_500_000));
        assert!(!s.has_payload);
        // Strings without escapes are borrowed from the record, not copied.
        for field in [&s.verb, &s.user].into_iter().chain(
            [
                &s.audit_id,
                &s.namespace,
                &s.name,
                &s.source_ip,
                &s.user_agent,
            ]
            .into_iter()
            .flatten(),
        ) {
            assert!(matches!(field, Cow::Borrowed(_)), "{field} was copied");
        }
        let escaped =
            secret(r#"{"verb":"g\u0065t","objectRef":{"resource":"secrets","name":"a\"b"}}"#);
        assert_eq!(
            (&*escaped.verb, escaped.name.as_deref()),
            ("get", Some("a\"b"))
        );
    }

    #[test]
    fn anonymous_is_the_user_system_anonymous_or_the_group_system_unauthenticated() {
        let anonymous = |user: &str| {
            let rec =
                format!(r#"{{"verb":"get","user":{user},"objectRef":{{"resource":"secrets"}}}}"#);
            let Classified::Secret(s) = classify(rec.as_bytes()).unwrap() else {
                panic!("{rec}")
            };
            s.anonymous
        };
        assert!(anonymous(r#"{"username":"system:anonymous"}"#));
        assert!(anonymous(
            r#"{"username":"x","groups":["a","system:unauthenticated"]}"#
        ));
        assert!(!anonymous(
            r#"{"username":"bob","groups":["system:authenticated"]}"#
        ));
        assert!(!anonymous(r#"{"username":"bob"}"#));
    }

    #[test]
    fn impersonated_user_is_the_effective_user() {
        let s = secret(
            r#"{"verb":"get","user":{"username":"admin"},"impersonatedUser":{"username":"system:serviceaccount:a:b"},
            "objectRef":{"resource":"secrets","namespace":"a","name":"x"}}"#,
        );
        assert_eq!(s.user, "system:serviceaccount:a:b");
        assert_eq!(s.impersonated_by.as_deref(), Some("admin"));
    }

    #[test]
    fn other_resources_are_not_secret_access() {
        for rec in [
            r#"{"verb":"get","objectRef":{"resource":"configmaps","name":"secrets"},"userAgent":"secrets"}"#,
            r#"{"verb":"get","requestURI":"/healthz"}"#,
            r#"{"kind":0}"#,
        ] {
            assert!(
                matches!(classify(rec.as_bytes()).unwrap(), Classified::NotSecret),
                "{rec}"
            );
        }
    }

    #[test]
    fn wrongly_typed_fields_are_parse_errors() {
        for rec in [
            r#"{"verb":"get","objectRef":"secrets"}"#,
            r#"{"verb":"get","objectRef":{"resource":["secrets"]}}"#,
            r#"{"verb":"get","objectRef":{"resource":"secrets"},"responseStatus":{"code":"201"}}"#,
            r#"{"verb":"get","objectRef":{"resource":"secrets"}"#,
            // A repeated key, at the top and inside.
            r#"{"verb":"get","verb":"list","objectRef":{"resource":"secrets"}}"#,
            r#"{"verb":"get","objectRef":{"resource":"secrets","name":"a","name":"b"}}"#,
            r#"{"verb":"get","user":["bob"],"objectRef":{"resource":"secrets"}}"#,
        ] {
            assert!(classify(rec.as_bytes()).is_err(), "{rec}");
        }
    }

    #[test]
    fn invalid_utf8_anywhere_is_a_parse_error_that_says_where() {
        let skipped = b"{\"verb\":\"get\",\"annotations\":{\"a\":\"\xff\"},\"objectRef\":{\"resource\":\"secrets\"}}";
        let e = classify(skipped).unwrap_err();
        assert_eq!(e.0, "not an audit event: invalid UTF-8 at byte 35");
        let read = b"{\"verb\":\"g\xc3\",\"objectRef\":{\"resource\":\"secrets\"}}";
        assert!(classify(read).is_err());
    }

    #[test]
    fn keys_are_matched_after_unescaping_and_unknown_ones_skipped() {
        let s = secret(
            r#"{"v\u0065rb":"get","objectR\u0065f":{"resource":"secrets","name":"db"},"x":{"verb":"list"},"verbose":1}"#,
        );
        assert_eq!((&*s.verb, s.name.as_deref()), ("get", Some("db")));
    }

    #[test]
    fn time_falls_back_from_received_to_stage_to_v1beta1_timestamp() {
        let s = secret(
            r#"{"objectRef":{"resource":"secrets"},"stageTimestamp":"2026-11-01T00:00:00Z"}"#,
        );
        assert_eq!(s.time, Some(1_793_491_200_000_000));
        let s =
            secret(r#"{"objectRef":{"resource":"secrets"},"timestamp":"2026-11-01T00:00:00Z"}"#);
        assert_eq!(s.time, Some(1_793_491_200_000_000));
        let s = secret(r#"{"objectRef":{"resource":"secrets"}}"#);
        assert_eq!(s.time, None);
    }

    #[test]
    fn bodies_are_noted_not_kept() {
        let s = secret(
            r#"{"objectRef":{"resource":"secrets"},"requestObject":{"data":{"password":"aHVudGVyMg=="}}}"#,
        );
        assert!(s.has_payload);
    }

    #[test]
    fn an_envelope_with_an_event_object_is_unwrapped() {
        let s = secret(
            r#"{"timestamp":1561532751495,"message":{"kind":"Event","auditID":"x","verb":"get","objectRef":{"resource":"secrets","namespace":"kube-system","name":"t"}}}"#,
        );
        assert_eq!(s.name.as_deref(), Some("t"));
    }

    #[test]
    fn nesting_past_the_limit_never_crashes() {
        let deep = |field: &str| {
            format!(
                r#"{{"objectRef":{{"resource":"secrets"}},"{field}":{}{}}}"#,
                "[".repeat(100_000),
                "]".repeat(100_000)
            )
        };
        // Skipped fields are walked without recursion; named ones fail.
        assert!(classify(deep("extra").as_bytes()).is_ok());
        assert!(classify(deep("responseStatus").as_bytes()).is_err());
    }
}
