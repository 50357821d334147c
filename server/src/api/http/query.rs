//! The JSON API's request inputs: query strings (`?prefix=order-&limit=50`)
//! and small JSON bodies, decoded by hand so the server needs none of
//! axum's optional extractors.
//!
//! [`Query`] holds the decoded pairs (`+` is a space, `%XX` a byte, the
//! result UTF-8); its getters turn a missing or malformed value into an
//! [`ApiError::invalid`] naming the parameter. [`json_body`] parses a
//! request body as a JSON object (an empty body is `{}`).
//!
//! Not here: what the parameters mean (each handler), the content-type
//! rule for requests that change something (`access`).

use super::errors::{ApiError, ApiResult};
use strata_proto::wire::percent_decode;

/// A decoded query string.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Decodes `raw` (the part after `?`; `None` = no query).
    pub fn parse(raw: Option<&str>) -> ApiResult<Query> {
        let mut pairs = Vec::new();
        for part in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let (Some(k), Some(v)) = (decode(k), decode(v)) else {
                return Err(ApiError::invalid(format!(
                    "query parameter {part:?} is not valid percent-encoded UTF-8"
                )));
            };
            pairs.push((k, v));
        }
        Ok(Query(pairs))
    }

    /// The last value of `name`, if given (empty counts as not given).
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// `name` as an unsigned number, if given.
    pub fn u64(&self, name: &str) -> ApiResult<Option<u64>> {
        self.str(name)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    ApiError::invalid(format!("{name} must be a non-negative integer, not {v:?}"))
                })
            })
            .transpose()
    }

    /// `name` as a comma-separated list, blanks dropped.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.str(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn decode(s: &str) -> Option<String> {
    percent_decode(&s.replace('+', " "))
}

/// A JSON object body (empty = `{}`).
pub fn json_body(bytes: &[u8]) -> ApiResult<serde_json::Map<String, serde_json::Value>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice(bytes) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::invalid("the body must be a JSON object")),
        Err(e) => Err(ApiError::invalid(format!("the body is not JSON: {e}"))),
    }
}

/// `key` of a JSON body as an optional unsigned number (`null` = absent).
pub fn body_u64(
    body: &serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> ApiResult<Option<u64>> {
    match body.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| ApiError::invalid(format!("{key} must be a non-negative integer"))),
    }
}

/// `key` of a JSON body as a boolean (absent = `false`).
pub fn body_bool(body: &serde_json::Map<String, serde_json::Value>, key: &str) -> ApiResult<bool> {
    match body.get(key) {
        None | Some(serde_json::Value::Null) => Ok(false),
        Some(serde_json::Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::invalid(format!("{key} must be true or false"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_pairs() {
        let q = Query::parse(Some(
            "prefix=order%2F%C3%BC&limit=50&x&types=a,+b,,c&empty=",
        ))
        .unwrap();
        assert_eq!(q.str("prefix"), Some("order/ü"));
        assert_eq!(q.u64("limit").unwrap(), Some(50));
        assert_eq!(q.str("x"), None);
        assert_eq!(q.str("empty"), None);
        assert_eq!(q.list("types"), vec!["a", "b", "c"]);
        assert!(q.u64("nope").unwrap().is_none());
        assert!(Query::parse(None).unwrap().str("a").is_none());
    }

    #[test]
    fn refuses_what_does_not_parse() {
        assert!(Query::parse(Some("a=%zz")).is_err());
        assert!(Query::parse(Some("a=%ff")).is_err());
        let q = Query::parse(Some("limit=-1")).unwrap();
        assert!(q.u64("limit").is_err());
    }

    #[test]
    fn bodies() {
        assert!(json_body(b"").unwrap().is_empty());
        let b = json_body(br#"{"n": 3, "t": true, "z": null}"#).unwrap();
        assert_eq!(body_u64(&b, "n").unwrap(), Some(3));
        assert_eq!(body_u64(&b, "z").unwrap(), None);
        assert!(body_bool(&b, "t").unwrap());
        assert!(body_u64(&b, "t").is_err());
        assert!(json_body(b"[1]").is_err());
        assert!(json_body(b"{").is_err());
    }
}
