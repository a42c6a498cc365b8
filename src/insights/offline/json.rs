//! The fields a query reads, taken from an event's JSON without building
//! its whole tree: members are found by key and only the values on the
//! way to a field are parsed (an audit event's bodies and annotations,
//! most of its bytes, are skipped).

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::Val;

/// A JSON object's members, their values unparsed.
pub(super) struct Obj<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

#[derive(serde::Deserialize)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

impl<'de> Deserialize<'de> for Obj<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Obj<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Obj<'de>, M::Error> {
                let mut out = Vec::new();
                while let Some((Key(k), v)) = m.next_entry::<Key<'de>, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(Obj(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'a> Obj<'a> {
    /// The event's members, or `None` when it is not a JSON object.
    pub(super) fn parse(text: &'a str) -> Option<Obj<'a>> {
        serde_json::from_str(text).ok()
    }

    fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// A flattened field: dots separate keys (a key may hold dots itself;
    /// the longest key that is there wins) and array indexes.
    pub(super) fn field(&self, path: &str) -> Val {
        self.find(path).map_or(Val::Null, leaf)
    }

    /// A top-level string member.
    pub(super) fn str(&self, key: &str) -> Option<String> {
        serde_json::from_str(self.get(key)?.get()).ok()
    }

    fn find(&self, path: &str) -> Option<&'a RawValue> {
        if let Some(v) = self.get(path) {
            return Some(v);
        }
        path.rmatch_indices('.')
            .find_map(|(i, _)| descend(self.get(&path[..i])?, &path[i + 1..]))
    }
}

fn descend<'a>(v: &'a RawValue, rest: &str) -> Option<&'a RawValue> {
    match v.get().as_bytes().first()? {
        b'{' => Obj::parse(v.get())?.find(rest),
        b'[' => {
            let items: Vec<&'a RawValue> = serde_json::from_str(v.get()).ok()?;
            let (first, more) = rest.split_once('.').unwrap_or((rest, ""));
            let item = *items.get(first.parse::<usize>().ok()?)?;
            if more.is_empty() {
                Some(item)
            } else {
                descend(item, more)
            }
        }
        _ => None,
    }
}

/// A value as a field: strings, numbers and booleans; an object, an array
/// or null is no field.
fn leaf(v: &RawValue) -> Val {
    let text = v.get();
    match text.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(text).map_or(Val::Null, Val::Str),
        Some(b't' | b'f') => Val::Str(text.to_owned()),
        Some(b'-' | b'0'..=b'9') => text.parse().map_or(Val::Null, Val::Num),
        _ => Val::Null,
    }
}
