//! KurrentDB's names of a persistent subscription — (stream, group), or
//! (`$all`, group) — to one Strata consumer-group name and back.
//!
//! Strata group names are 1..=100 bytes of letters, digits, `-`, `_` and
//! `.`; KurrentDB's stream and group names are any text, and the same
//! group name may exist once per stream and once on `$all`. The mapping:
//!
//! * each name is escaped: letters, digits, `-` and `.` stay, every other
//!   byte (`_` included) becomes `_XX` (upper-case hex), so `$ce-order`
//!   becomes `_24ce-order`;
//! * a `$all` subscription is its escaped group (`billing` → `billing`);
//! * a stream subscription is `<escaped stream>__<escaped group>`
//!   (`order-1`, `billing` → `order-1__billing`). An escaped name never
//!   holds `__` (an `_` is always followed by a hex digit), so the first
//!   `__` is the separator and the mapping reverses exactly.
//!
//! A group made over strata.v1, whose name does not decode to its own
//! source, shows under its source stream and its own name; [`resolve`]
//! finds such a group by that name too.
//!
//! Not here: the groups themselves (`domain::groups`), error shapes
//! (`super::errors`).

use super::errors;
use crate::domain::groups::settings::{validate_group_name, ALL, MAX_GROUP_NAME_BYTES};
use crate::domain::groups::GroupInfo;
use crate::domain::{Error, Node};
use tonic::Status;

/// Between the escaped stream and the escaped group of a stream
/// subscription's Strata name.
pub const SEPARATOR: &str = "__";
const ESCAPE: u8 = b'_';

/// What a KurrentDB subscription follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Stream(String),
    All,
}

impl Source {
    /// A stream by name (`$all` names the global log, as KurrentDB reads it).
    pub fn stream(name: String) -> Source {
        if name == ALL {
            Source::All
        } else {
            Source::Stream(name)
        }
    }

    /// The name KurrentDB reports (`event_source`, `stream-name`).
    pub fn name(&self) -> &str {
        match self {
            Source::Stream(s) => s,
            Source::All => ALL,
        }
    }

    /// The stream as Strata's group definition holds it.
    pub fn strata_stream(&self) -> String {
        self.name().to_owned()
    }
}

fn kept(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
}

/// `s` with every byte but letters, digits, `-` and `.` as `_XX`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if kept(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("_{b:02X}"));
        }
    }
    out
}

/// The text `s` escapes, if `s` is exactly what [`escape`] makes of it.
pub fn unescape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == ESCAPE {
            let hex = s.get(i + 1..i + 3)?;
            if !hex
                .bytes()
                .all(|h| h.is_ascii_digit() || (b'A'..=b'F').contains(&h))
            {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else if kept(b) {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    let text = String::from_utf8(out).ok()?;
    // Canonical only: `_2D` for `-` would decode but is not our name.
    (escape(&text) == s).then_some(text)
}

/// The Strata group name of KurrentDB's (`source`, `group`).
pub fn strata_name(source: &Source, group: &str) -> Result<String, Status> {
    if group.is_empty() {
        return Err(errors::bad_request("group_name is required"));
    }
    let name = match source {
        Source::All => escape(group),
        Source::Stream(s) => format!("{}{SEPARATOR}{}", escape(s), escape(group)),
    };
    if name.len() > MAX_GROUP_NAME_BYTES {
        return Err(errors::bad_request(format!(
            "subscription group {group} on stream {} is {} bytes as a Strata group name \
             (stream and group escaped), over the limit of {MAX_GROUP_NAME_BYTES}",
            source.name(),
            name.len()
        )));
    }
    Ok(name)
}

/// KurrentDB's (stream, group) of the Strata group `name` whose source
/// is `spec_stream`.
pub fn kurrent_names(name: &str, spec_stream: &str) -> (String, String) {
    let decoded = match name.split_once(SEPARATOR) {
        Some((s, g)) => unescape(s).zip(unescape(g)).map(|(s, g)| (Some(s), g)),
        None => unescape(name).map(|g| (None, g)),
    };
    match decoded {
        Some((Some(s), g)) if s == spec_stream && s != ALL => (s, g),
        Some((None, g)) if spec_stream == ALL => (ALL.to_owned(), g),
        // Made over strata.v1: its source and its own name.
        _ => (spec_stream.to_owned(), name.to_owned()),
    }
}

/// The Strata group behind KurrentDB's (`source`, `group`) and its info;
/// KurrentDB's `persistent-subscription-does-not-exist` when none is.
pub async fn resolve(
    node: &Node,
    source: &Source,
    group: &str,
) -> Result<(String, GroupInfo), Status> {
    let mapped = strata_name(source, group)?;
    let mut candidates = vec![mapped];
    if validate_group_name(group).is_ok() && candidates[0] != group {
        candidates.push(group.to_owned());
    }
    for name in candidates {
        match node.group_info(&name).await {
            Ok(info) => {
                let (s, g) = kurrent_names(&name, &info.spec.stream);
                if s == source.name() && g == group {
                    return Ok((name, info));
                }
            }
            Err(Error::GroupNotFound(_)) => {}
            Err(e) => return Err(errors::group_status(e, source.name(), group)),
        }
    }
    Err(errors::does_not_exist(source.name(), group))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_escape_and_come_back() {
        for s in [
            "order-1",
            "$ce-order",
            "a_b",
            "a__b",
            "ünï cødé",
            "x.y",
            "_",
            "",
        ] {
            assert_eq!(unescape(&escape(s)).as_deref(), Some(s), "{s:?}");
            assert!(!escape(s).contains(SEPARATOR), "{s:?}");
        }
        assert_eq!(escape("$ce-order"), "_24ce-order");
        assert_eq!(unescape("a_2Db"), None, "not canonical");
        assert_eq!(unescape("my_group"), None);
    }

    #[test]
    fn stream_and_all_subscriptions_map_both_ways() {
        let s = Source::Stream("$ce-order".into());
        let n = strata_name(&s, "billing team").unwrap();
        assert_eq!(n, "_24ce-order__billing_20team");
        assert!(validate_group_name(&n).is_ok());
        assert_eq!(
            kurrent_names(&n, "$ce-order"),
            ("$ce-order".to_owned(), "billing team".to_owned())
        );
        let a = strata_name(&Source::All, "billing").unwrap();
        assert_eq!(a, "billing");
        assert_eq!(
            kurrent_names(&a, ALL),
            (ALL.to_owned(), "billing".to_owned())
        );
        // The same group name on a stream and on $all: two groups.
        assert_ne!(
            strata_name(&Source::Stream("s".into()), "g").unwrap(),
            strata_name(&Source::All, "g").unwrap()
        );
    }

    #[test]
    fn native_groups_show_under_their_own_names() {
        assert_eq!(
            kurrent_names("my_group", ALL),
            (ALL.to_owned(), "my_group".to_owned())
        );
        assert_eq!(
            kurrent_names("emails", "orders"),
            ("orders".to_owned(), "emails".to_owned())
        );
        // Decodes to another stream than its source: its own name.
        assert_eq!(
            kurrent_names("a__b", "c"),
            ("c".to_owned(), "a__b".to_owned())
        );
    }

    #[test]
    fn empty_and_too_long_names_are_refused() {
        assert!(strata_name(&Source::All, "").is_err());
        let long = "x".repeat(60);
        assert!(strata_name(&Source::Stream(long.clone()), &long).is_err());
        assert!(Source::stream("$all".into()) == Source::All);
    }
}
