//! The `$all` filter regexes KurrentDB clients build from plain names,
//! read back into what a Strata group's filter keeps (exact event types,
//! stream-name prefixes). A group's definition holds no regex, so only
//! these forms are accepted; any other regex is refused by the caller.
//!
//! | Regex (as the clients build it) | On | Group filter |
//! | --- | --- | --- |
//! | `^(?!(\$.+$\|PersistentConfig\d+$\|Result$))` (Python's default exclusion, or part of it) | event type | none |
//! | `^[^\$].*` (the other clients' "exclude system events") | event type | none |
//! | `^a\|b\|c$`, `^(a\|b)$` with literal names | event type | `event_types = [a, b, c]` |
//! | `^a.*\|b.*$`, `^(a.*\|b.*)$`, `^a` with literal prefixes | stream name | `stream_prefixes = [a, b]` |
//!
//! The system exclusions become no filter: a Strata `$all` group never
//! delivers system records (`$` streams), so what they exclude is not
//! there — except application events whose type starts with `$` or is
//! `Result` or `PersistentConfigN`, which are then delivered.
//!
//! `^a|b|c$` is read as the client means it (each name whole), not as
//! the regex strictly reads (`^a`, or `b` anywhere, or `c$`). A literal
//! is a name with no regex metacharacter once escapes of punctuation
//! (`\.`, `\-`, `\$`) are undone. A stream-name alternative without
//! `.*` is one exact stream, which a group cannot keep: refused with a
//! hint to use a prefix.
//!
//! No I/O.

use crate::domain::groups::GroupFilter;

/// What a regex is matched against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    EventType,
    StreamName,
}

/// The forms accepted, for refusals.
pub const ACCEPTED: &str = "Strata's persistent subscriptions keep $all filters as exact event \
    types and stream-name prefixes: a regex is accepted only as ^Type1|Type2$ (event types, \
    literal names), ^prefix1.*|prefix2.*$ (stream names, literal prefixes) or the clients' \
    exclusion of system event types";

/// The system event-type patterns KurrentDB's Python client excludes by
/// default (`DEFAULT_EXCLUDE_FILTER`).
const SYSTEM_TYPE_PATTERNS: [&str; 3] = [r"\$.+", r"PersistentConfig\d+", "Result"];

/// The other clients' "exclude system events" regex (either spelling).
const EXCLUDE_SYSTEM_EVENTS: [&str; 2] = [r"^[^\$].*", r"^[^$].*"];

/// The group filter for `regex` on `target`, or why it cannot be kept.
pub fn translate(target: Target, regex: &str) -> Result<GroupFilter, String> {
    if target == Target::EventType && is_system_exclusion(regex) {
        return Ok(GroupFilter::default());
    }
    let alts = include_alternatives(regex).ok_or_else(|| ACCEPTED.to_owned())?;
    match target {
        Target::EventType => {
            let mut types = Vec::with_capacity(alts.len());
            for a in alts {
                if a.open || a.literal.is_empty() {
                    return Err(format!(
                        "{ACCEPTED} (event types match whole names in Strata, not by prefix or pattern)"
                    ));
                }
                types.push(a.literal);
            }
            Ok(GroupFilter {
                event_types: types,
                stream_prefixes: Vec::new(),
            })
        }
        Target::StreamName => {
            let mut prefixes = Vec::with_capacity(alts.len());
            for a in alts {
                if !a.open {
                    return Err(format!(
                        "a $all persistent subscription cannot filter by an exact stream name \
                         ('{}'): use a prefix ('{}.*'), or subscribe to the stream",
                        a.literal, a.literal
                    ));
                }
                prefixes.push(a.literal);
            }
            // An empty prefix matches every stream: no filter.
            if prefixes.iter().any(String::is_empty) {
                prefixes.clear();
            }
            Ok(GroupFilter {
                event_types: Vec::new(),
                stream_prefixes: prefixes,
            })
        }
    }
}

/// Whether `regex` only excludes system event types.
fn is_system_exclusion(regex: &str) -> bool {
    if EXCLUDE_SYSTEM_EVENTS.contains(&regex) {
        return true;
    }
    let Some(inner) = regex.strip_prefix("^(?!").and_then(|r| r.strip_suffix(')')) else {
        return false;
    };
    let inner = strip_group(inner);
    let Some(alts) = split_alternatives(inner) else {
        return false;
    };
    alts.iter().all(|a| {
        a.strip_suffix('$')
            .is_some_and(|p| SYSTEM_TYPE_PATTERNS.contains(&p))
    })
}

/// One alternative of an include regex.
#[derive(Debug, PartialEq, Eq)]
struct Alternative {
    /// The name or prefix, escapes undone.
    literal: String,
    /// Open-ended (a prefix): followed by `.*`, or not closed by `$`.
    open: bool,
}

/// The alternatives of `^alt1|alt2…$` (or `^(alt1|alt2…)$`), when every
/// one is a literal, optionally followed by `.*` and `$`.
fn include_alternatives(regex: &str) -> Option<Vec<Alternative>> {
    let body = regex.strip_prefix('^')?;
    let (body, closed) = match strip_unescaped_dollar(body) {
        Some(b) => (b, true),
        None => (body, false),
    };
    let body = strip_group(body);
    let mut out = Vec::new();
    for alt in split_alternatives(body)? {
        let alt = alt.strip_prefix('^').unwrap_or(alt);
        let (alt, own_dollar) = match strip_unescaped_dollar(alt) {
            Some(a) => (a, true),
            None => (alt, false),
        };
        let (alt, star) = match alt.strip_suffix(".*") {
            Some(a) if !ends_with_escape(a) => (a, true),
            _ => (alt, false),
        };
        out.push(Alternative {
            literal: literal(alt)?,
            open: star || !(closed || own_dollar),
        });
    }
    Some(out)
}

/// `s` without a final `$` that is not escaped.
fn strip_unescaped_dollar(s: &str) -> Option<&str> {
    s.strip_suffix('$').filter(|r| !ends_with_escape(r))
}

/// Whether `s` ends with an unpaired `\` (so the next character is escaped).
fn ends_with_escape(s: &str) -> bool {
    s.bytes().rev().take_while(|b| *b == b'\\').count() % 2 == 1
}

/// `s` without one group around all of it (`(…)` or `(?:…)`).
fn strip_group(s: &str) -> &str {
    let inner = match s.strip_prefix("(?:").or_else(|| s.strip_prefix('(')) {
        Some(i) => i,
        None => return s,
    };
    let Some(inner) = inner.strip_suffix(')') else {
        return s;
    };
    // The parentheses must pair with each other, not `(a)|(b)`'s.
    let mut depth = 0i32;
    let mut escaped = false;
    for c in inner.chars() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '(') => depth += 1,
            (false, ')') => {
                depth -= 1;
                if depth < 0 {
                    return s;
                }
            }
            _ => {}
        }
    }
    if depth == 0 && !escaped {
        inner
    } else {
        s
    }
}

/// `s` split at its `|`s outside escapes, groups and classes; `None` if
/// its brackets do not pair.
fn split_alternatives(s: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let (mut depth, mut class, mut escaped, mut start) = (0i32, false, false, 0);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ']' if class => class = false,
            _ if class => {}
            '[' => class = true,
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return None;
                }
            }
            '|' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 || class || escaped {
        return None;
    }
    out.push(&s[start..]);
    Some(out)
}

/// `s` as the text it matches, when it is a literal: escaped punctuation
/// is itself; any unescaped metacharacter or escape class is not.
fn literal(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) if e.is_ascii_punctuation() => out.push(e),
                _ => return None,
            },
            '.' | '^' | '$' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|' => {
                return None
            }
            c if c.is_control() => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(t: &[&str]) -> Result<GroupFilter, ()> {
        Ok(GroupFilter {
            event_types: t.iter().map(|s| (*s).to_owned()).collect(),
            stream_prefixes: Vec::new(),
        })
    }

    fn prefixes(p: &[&str]) -> Result<GroupFilter, ()> {
        Ok(GroupFilter {
            event_types: Vec::new(),
            stream_prefixes: p.iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    const NONE: Result<GroupFilter, ()> = Ok(GroupFilter {
        event_types: Vec::new(),
        stream_prefixes: Vec::new(),
    });
    const REFUSED: Result<GroupFilter, ()> = Err(());

    #[test]
    fn event_type_regexes() {
        use Target::EventType as T;
        let cases: &[(&str, &str, Result<GroupFilter, ()>)] = &[
            (
                "python's default exclusion",
                r"^(?!(\$.+$|PersistentConfig\d+$|Result$))",
                NONE,
            ),
            ("part of the default exclusion", r"^(?!(\$.+$))", NONE),
            ("other clients' exclude system events", r"^[^\$].*", NONE),
            ("exclude system events, $ unescaped", r"^[^$].*", NONE),
            (
                "an exclusion of an application type",
                r"^(?!(\$.+$|OrderPlaced$))",
                REFUSED,
            ),
            ("exclusion without its $", r"^(?!(Result))", REFUSED),
            ("one name", "^OrderPlaced$", types(&["OrderPlaced"])),
            (
                "python's include of names",
                "^OrderPlaced|OrderShipped|OrderPaid$",
                types(&["OrderPlaced", "OrderShipped", "OrderPaid"]),
            ),
            ("grouped", "^(A|B)$", types(&["A", "B"])),
            ("non-capturing group", "^(?:A|B)$", types(&["A", "B"])),
            ("each anchored", "^A$|^B$", types(&["A", "B"])),
            (
                "escaped punctuation",
                r"^Order\.Placed|Order\-Paid$",
                types(&["Order.Placed", "Order-Paid"]),
            ),
            ("an unescaped dot", "^Order.Placed$", REFUSED),
            ("a prefix of types", "^Order.*$", REFUSED),
            ("not closed: a prefix", "^Order", REFUSED),
            ("a class", "^Order[PS]$", REFUSED),
            ("an escape class", r"^Order\d$", REFUSED),
            ("not anchored", "OrderPlaced", REFUSED),
            ("an empty alternative", "^A|$", REFUSED),
            ("unpaired groups", "^(A)|(B)$", REFUSED),
            ("an open group", "^(A|B$", REFUSED),
            ("case-insensitive flag", "(?i)^a$", REFUSED),
        ];
        for (name, regex, want) in cases {
            let got = translate(T, regex).map_err(|_| ());
            assert_eq!(&got, want, "{name}: {regex}");
        }
    }

    #[test]
    fn stream_name_regexes() {
        use Target::StreamName as S;
        let cases: &[(&str, &str, Result<GroupFilter, ()>)] = &[
            ("one prefix", "^order-.*$", prefixes(&["order-"])),
            (
                "python's include of prefixes",
                "^order-.*|invoice-.*$",
                prefixes(&["order-", "invoice-"]),
            ),
            (
                "grouped",
                "^(order-.*|invoice-.*)$",
                prefixes(&["order-", "invoice-"]),
            ),
            ("each with .*$", "^a.*$|b.*$", prefixes(&["a", "b"])),
            ("not closed: a prefix", "^order-", prefixes(&["order-"])),
            ("everything", "^.*$", NONE),
            ("an exact stream", "^order-1$", REFUSED),
            (
                "a prefix and an exact stream",
                "^order-.*|invoice-1$",
                REFUSED,
            ),
            ("a pattern", "^order-[0-9]+$", REFUSED),
            (
                "the default exclusion on streams",
                r"^(?!(\$.+$|Result$))",
                REFUSED,
            ),
            ("an escaped star is literal", r"^order\.*$", REFUSED),
        ];
        for (name, regex, want) in cases {
            let got = translate(S, regex).map_err(|_| ());
            assert_eq!(&got, want, "{name}: {regex}");
        }
    }

    #[test]
    fn refusals_say_what_is_accepted() {
        let e = translate(Target::EventType, "^Order[PS]$").unwrap_err();
        assert!(e.contains("^Type1|Type2$"), "{e}");
        let e = translate(Target::StreamName, "^order-1$").unwrap_err();
        assert!(e.contains("'order-1.*'"), "{e}");
    }
}
