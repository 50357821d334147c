//! Who may do what: the [`Caller`] an adapter authenticated, its [`Access`]
//! (roles and grants, fixed when the request was authenticated), and the
//! checks every adapter makes before a `Node` call ([`Caller::check`]).
//!
//! Rules:
//! - `admin` may do everything (backups, which copy every stream, are
//!   admin-only); `ops` may run scavenges and the other `Admin` calls, manage
//!   consumer groups, and read the system streams of those features
//!   (`$scavenges`, `$groups`, `$checkpoint-*`, `$parked-*`);
//! - everyone else needs a grant covering the stream: a permission
//!   (`read`, `write`, `delete`, `metadata`, `subscribe`) on the streams
//!   whose names start with a prefix (`""`: every application stream);
//! - `$security` and `$audit` are for admins only; a metadata stream
//!   `$$s` is read with `read` on `s`;
//! - `$all` reads and subscriptions are open to every authenticated caller
//!   but deliver only the streams the caller may read (subscribe): the
//!   caller's filter is narrowed to its granted prefixes ([`Access::restrict`]),
//!   so checkpoints still advance over what it may not see.
//!
//! Not here: authentication (`mod`), the wire (adapters turn a refusal into
//! `PERMISSION_DENIED` / `access-denied`).

use super::model::{Permission, ROLE_ADMIN, ROLE_OPS};
use crate::domain::Error;
use std::net::SocketAddr;
use std::sync::Arc;
use strata_storage::Filter;

/// A stream prefix no stream name can start with (names hold no control
/// characters): the filter of a caller who may read nothing.
const NOTHING_PREFIX: &str = "\u{0}";

/// System streams `ops` may read.
const OPS_READABLE_PREFIXES: [&str; 4] = ["$scavenges", "$groups", "$checkpoint-", "$parked-"];

/// What a caller may do, computed once per request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    pub admin: bool,
    pub ops: bool,
    /// (stream prefix, permissions) of every grant that applies.
    pub grants: Vec<(String, Vec<Permission>)>,
}

impl Access {
    /// Everything (auth off, or an admin).
    pub fn everything() -> Access {
        Access {
            admin: true,
            ops: true,
            grants: Vec::new(),
        }
    }

    /// Access from roles and grants.
    pub fn of(roles: &[String], grants: Vec<(String, Vec<Permission>)>) -> Access {
        let admin = roles.iter().any(|r| r == ROLE_ADMIN);
        Access {
            admin,
            ops: admin || roles.iter().any(|r| r == ROLE_OPS),
            grants,
        }
    }

    /// Whether `perm` on `stream` is allowed.
    pub fn may(&self, perm: Permission, stream: &str) -> bool {
        if self.admin {
            return true;
        }
        if let Some(owner) = strata_storage::lifecycle::stream_of_metadata(stream) {
            return perm == Permission::Read && self.may(Permission::Read, owner);
        }
        if stream.starts_with('$') {
            let read = matches!(perm, Permission::Read | Permission::Subscribe);
            return read && self.ops && OPS_READABLE_PREFIXES.iter().any(|p| stream.starts_with(p));
        }
        self.grants
            .iter()
            .any(|(prefix, perms)| stream.starts_with(prefix.as_str()) && perms.contains(&perm))
    }

    /// Whether `perm` is allowed on every application stream whose name
    /// starts with `prefix` (`""`: every one): an admin, or a grant whose
    /// prefix begins `prefix`. What a name that sums up such streams needs
    /// (a category covers the streams starting with it; event types span
    /// them all).
    pub fn covers(&self, perm: Permission, prefix: &str) -> bool {
        self.admin
            || self
                .grants
                .iter()
                .any(|(p, perms)| prefix.starts_with(p.as_str()) && perms.contains(&perm))
    }

    /// `filter` narrowed to the application streams `perm` is granted on.
    pub fn restrict(&self, mut filter: Filter, perm: Permission) -> Filter {
        if self.admin {
            return filter;
        }
        filter.include_system = false;
        let granted: Vec<&str> = self
            .grants
            .iter()
            .filter(|(_, perms)| perms.contains(&perm))
            .map(|(p, _)| p.as_str())
            .collect();
        if granted.contains(&"") {
            return filter;
        }
        let wanted: Vec<String> = if filter.stream_prefixes.is_empty() {
            vec![String::new()]
        } else {
            std::mem::take(&mut filter.stream_prefixes)
        };
        let mut both: Vec<String> = Vec::new();
        for w in &wanted {
            for g in &granted {
                // The names starting with both: the longer prefix, if one
                // extends the other.
                let narrower = if w.starts_with(g) {
                    Some(w.as_str())
                } else if g.starts_with(w.as_str()) {
                    Some(*g)
                } else {
                    None
                };
                if let Some(p) = narrower {
                    if !both.iter().any(|b| b == p) {
                        both.push(p.to_owned());
                    }
                }
            }
        }
        filter.stream_prefixes = if both.is_empty() {
            vec![NOTHING_PREFIX.to_owned()]
        } else {
            both
        };
        filter
    }
}

/// Whether everything `used` lets through, `now` still does: each of
/// `used`'s prefixes lies under one of `now`'s (no prefixes: everything).
pub fn still_covers(now: &Filter, used: &Filter) -> bool {
    if now.stream_prefixes.is_empty() {
        return now.include_system || !used.include_system;
    }
    !used.stream_prefixes.is_empty()
        && used.stream_prefixes.iter().all(|u| {
            now.stream_prefixes
                .iter()
                .any(|n| u.starts_with(n.as_str()))
        })
}

/// What an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need<'a> {
    /// Any authenticated caller.
    Authenticated,
    /// A permission on one stream.
    Stream(Permission, &'a str),
    /// A permission on every application stream starting with a prefix
    /// ([`Access::covers`]).
    Streams(Permission, &'a str),
    /// The `ops` role (or `admin`).
    Ops,
    /// The `admin` role.
    Admin,
}

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// `None`: authentication is off (the loopback default with no users);
    /// the caller may do everything.
    pub user: Option<String>,
    /// Where the request came from.
    pub peer: Option<SocketAddr>,
    pub access: Arc<Access>,
    /// The bearer token the caller authenticated with, if any: streams
    /// opened with it end when it is revoked or expires.
    pub token: Option<TokenUse>,
}

/// The token a request was authenticated with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUse {
    /// The token's id.
    pub id: String,
    /// When it expires, unix µs (`None`: never).
    pub expires_micros: Option<i64>,
}

impl Caller {
    /// The caller when authentication is off.
    pub fn anonymous(peer: Option<SocketAddr>) -> Caller {
        Caller {
            user: None,
            peer,
            access: Arc::new(Access::everything()),
            token: None,
        }
    }

    /// The name for logs and the audit trail.
    pub fn name(&self) -> &str {
        self.user.as_deref().unwrap_or("anonymous")
    }

    /// `Ok` if the caller has what `need` says; else
    /// [`Error::AccessDenied`], before anything is read or written.
    pub fn check(&self, need: Need<'_>) -> Result<(), Error> {
        let a = &self.access;
        let ok = match need {
            Need::Authenticated => true,
            Need::Stream(perm, stream) => a.may(perm, stream),
            Need::Streams(perm, prefix) => a.covers(perm, prefix),
            Need::Ops => a.ops,
            Need::Admin => a.admin,
        };
        if ok {
            return Ok(());
        }
        let what = match need {
            Need::Authenticated => "this".to_owned(),
            Need::Stream(perm, stream) => format!("{} on stream '{stream}'", perm.as_str()),
            Need::Streams(perm, "") => format!("{} on every stream", perm.as_str()),
            Need::Streams(perm, prefix) => {
                format!("{} on every stream starting with '{prefix}'", perm.as_str())
            }
            Need::Ops => "the ops role".to_owned(),
            Need::Admin => "the admin role".to_owned(),
        };
        Err(Error::AccessDenied(format!("{} lacks {what}", self.name())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Permission::*;

    fn user(grants: &[(&str, &[Permission])]) -> Access {
        Access::of(
            &["billing".into()],
            grants
                .iter()
                .map(|(p, perms)| (p.to_string(), perms.to_vec()))
                .collect(),
        )
    }

    #[test]
    fn grants_cover_their_prefix_and_permission_only() {
        let a = user(&[("order-", &[Read, Subscribe])]);
        assert!(a.may(Read, "order-1"));
        assert!(!a.may(Write, "order-1"));
        assert!(!a.may(Read, "invoice-1"));
        assert!(a.may(Read, "$$order-1"), "metadata with read on the owner");
        assert!(!a.may(Read, "$audit"));
        assert!(!a.may(Read, "$parked-g"));
        let ops = Access::of(&["ops".into()], vec![]);
        assert!(ops.may(Read, "$parked-g") && !ops.may(Read, "$security"));
        assert!(Access::everything().may(Delete, "$security"));
    }

    #[test]
    fn a_prefix_is_covered_by_a_grant_on_a_prefix_of_it() {
        let a = user(&[("order", &[Read]), ("invoice-", &[Read]), ("", &[Write])]);
        assert!(a.covers(Read, "order") && a.covers(Read, "orders"));
        assert!(
            !a.covers(Read, "invoice"),
            "the stream 'invoice' is not granted"
        );
        assert!(!a.covers(Read, "") && a.covers(Write, "") && a.covers(Write, "x"));
        assert!(Access::everything().covers(Read, ""));
        let c = Caller {
            user: Some("bob".into()),
            peer: None,
            access: Arc::new(a),
            token: None,
        };
        let e = c.check(Need::Streams(Read, "")).unwrap_err();
        assert!(
            e.to_string().contains("bob lacks read on every stream"),
            "{e}"
        );
    }

    #[test]
    fn all_filters_narrow_to_the_intersection_of_prefixes() {
        let a = user(&[
            ("order-", &[Read]),
            ("invoice-eu-", &[Read]),
            ("x", &[Write]),
        ]);
        let f = |prefixes: &[&str]| Filter {
            stream_prefixes: prefixes.iter().map(|s| s.to_string()).collect(),
            ..Filter::default()
        };
        assert_eq!(
            a.restrict(f(&[]), Read).stream_prefixes,
            ["order-", "invoice-eu-"]
        );
        assert_eq!(
            a.restrict(f(&["invoice-"]), Read).stream_prefixes,
            ["invoice-eu-"]
        );
        assert_eq!(
            a.restrict(f(&["order-7"]), Read).stream_prefixes,
            ["order-7"]
        );
        let none = a.restrict(f(&["cart-"]), Read);
        assert!(!none.matches("cart-1", "T") && !none.matches("order-1", "T"));
        let all = user(&[("", &[Read])]);
        assert_eq!(all.restrict(f(&["cart-"]), Read).stream_prefixes, ["cart-"]);
        let mut sys = f(&[]);
        sys.include_system = true;
        assert!(!a.restrict(sys, Read).include_system);
    }
}
