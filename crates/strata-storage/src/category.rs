//! What a stream's category is, and when a `$all` filter's stream prefix
//! names one: the rule the category index is built and read by.
//!
//! A category is the part of a stream name before the first separator
//! (`Options::category_separator`, `-` by default, KurrentDB's convention:
//! `order-42` is in `order`); a name without the separator is its own
//! category. System streams (names starting with `$`) have none: the
//! secondary indexes leave them out.
//!
//! Not here: the index itself (`secondary`), reads through it (`by_index`).

/// The category of `stream`, or `None` for a system stream.
pub(crate) fn category_of(stream: &str, separator: char) -> Option<&str> {
    if stream.starts_with('$') {
        return None;
    }
    Some(match stream.find(separator) {
        Some(i) => &stream[..i],
        None => stream,
    })
}

/// The category every stream starting with `prefix` belongs to, if the
/// prefix fixes one: it holds the separator, so what is before its first
/// separator is the category of every name that starts with it (`order-`
/// and `order-eu-` are both in `order`; `order` is not: `orders-1` starts
/// with it). The category may hold other streams too (`order` itself, and
/// `order-us-1` for the prefix `order-eu-`), so a read through it still
/// applies the prefix to each record. `$` prefixes have none.
pub(crate) fn category_of_prefix(prefix: &str, separator: char) -> Option<&str> {
    if prefix.starts_with('$') {
        return None;
    }
    prefix.find(separator).map(|i| &prefix[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories() {
        assert_eq!(category_of("order-42", '-'), Some("order"));
        assert_eq!(category_of("order-eu-42", '-'), Some("order"));
        assert_eq!(category_of("order", '-'), Some("order"));
        assert_eq!(category_of("order_42", '_'), Some("order"));
        assert_eq!(category_of("order-42", '_'), Some("order-42"));
        assert_eq!(category_of("$$order-42", '-'), None);
        assert_eq!(category_of("-x", '-'), Some(""));
        assert_eq!(category_of("a→b", '→'), Some("a"));
    }

    #[test]
    fn prefixes() {
        assert_eq!(category_of_prefix("order-", '-'), Some("order"));
        assert_eq!(category_of_prefix("order-eu-", '-'), Some("order"));
        assert_eq!(category_of_prefix("order", '-'), None);
        assert_eq!(category_of_prefix("order-", '_'), None);
        assert_eq!(category_of_prefix("", '-'), None);
        assert_eq!(category_of_prefix("$parked-", '-'), None);
        // Whatever starts with the prefix is in the category it names.
        for s in ["order-1", "order-eu-1", "order-"] {
            assert!(s.starts_with("order-"));
            assert_eq!(category_of(s, '-'), category_of_prefix("order-", '-'));
        }
    }
}
