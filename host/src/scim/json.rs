//! Request bodies as JSON values, refusing a key that appears twice in one object.
//!
//! RFC 8259 leaves duplicate names undefined, and parsers differ: `serde_json` keeps the
//! last, others the first. A body such as `{"userName": "ada", "userName": "admin"}` may so
//! be read one way by a proxy or an audit tool and another way here. So a request body with
//! a duplicate key, at any depth, is refused (400 `invalidSyntax`) rather than guessed at.
//! Keys that differ only in case are different JSON keys and are left to normalisation.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::error::{ScimError, ScimResult};

/// Parses a request body's text.
///
/// # Errors
/// 400 `invalidSyntax` for text that is not JSON, or an object with a key twice (naming the
/// key, the line and the column).
pub fn parse_body(text: &str) -> ScimResult<Value> {
    serde_json::from_str::<UniqueKeys>(text)
        .map(|v| v.0)
        .map_err(|e| ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}")))
}

/// A JSON value whose objects have no key twice.
struct UniqueKeys(Value);

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeysVisitor).map(UniqueKeys)
    }
}

struct UniqueKeysVisitor;

impl<'de> Visitor<'de> for UniqueKeysVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        UniqueKeys::deserialize(deserializer).map(|v| v.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(UniqueKeys(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "the key {key:?} appears twice in one object; send each attribute once"
                )));
            }
            let UniqueKeys(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::error::ScimType;

    #[test]
    fn bodies_parse_as_serde_json_parses_them() {
        for text in [
            r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada","active":true,"n":-3,"big":18446744073709551615,"f":1.5e3,"none":null,"emails":[{"value":"a@b"},{"value":"c@d"}],"nested":{"a":{"b":[1,[2,{"c":"é\u0000\ud83d\ude00"}]]}}}"#,
            "[]",
            "\"text\"",
            "0",
            " { } ",
        ] {
            let expected: Value = serde_json::from_str(text).unwrap();
            assert_eq!(parse_body(text).unwrap(), expected, "{text}");
        }
        // Key order is kept.
        let v = parse_body(r#"{"z":1,"a":2,"m":3}"#).unwrap();
        assert_eq!(v.as_object().unwrap().keys().collect::<Vec<_>>(), ["z", "a", "m"]);
    }

    #[test]
    fn a_key_twice_in_one_object_is_refused_at_any_depth() {
        for (text, key) in [
            (r#"{"userName":"ada","userName":"admin"}"#, "userName"),
            (r#"{"name":{"givenName":"A","givenName":"B"}}"#, "givenName"),
            (r#"{"emails":[{"value":"a@b"},{"value":"c@d","value":"e@f"}]}"#, "value"),
            (r#"{"Operations":[{"op":"add","value":{"members":[{"value":"1"}],"members":[]}}]}"#, "members"),
            (r#"{"a":{"b":{"c":{"d":{"e":1,"e":1}}}}}"#, "e"),
        ] {
            let err = parse_body(text).unwrap_err();
            assert_eq!((err.status, err.scim_type), (400, Some(ScimType::InvalidSyntax)), "{text}");
            assert!(err.detail.contains(&format!("the key {key:?} appears twice")), "{text}: {}", err.detail);
            assert!(err.detail.contains("line 1 column"), "{}", err.detail);
        }
        // Keys that differ in case, or the same key in sibling objects, are not duplicates.
        assert_eq!(parse_body(r#"{"active":true,"Active":false}"#).unwrap(), json!({"active":true,"Active":false}));
        assert!(parse_body(r#"[{"value":"1"},{"value":"2"}]"#).is_ok());
    }

    #[test]
    fn invalid_json_is_still_invalid_syntax() {
        for text in ["{", "{\"a\":}", "[1,]", "nul", "{\"a\":1}}", &"[".repeat(200)] {
            let err = parse_body(text).unwrap_err();
            assert_eq!(err.scim_type, Some(ScimType::InvalidSyntax), "{text}");
        }
    }
}
