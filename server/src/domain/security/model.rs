//! What security is made of — users, roles, bearer tokens, grants — and
//! the state they add up to, rebuilt by applying `$security` records in log
//! order ([`SecurityState::apply`]).
//!
//! Invariant: the state is a pure function of the records; nothing here
//! reads a clock or the disk. Not here: the record encoding (`records`),
//! deciding what a caller may do (`authz`).

use super::records::SecurityRecord;
use std::collections::{BTreeMap, HashMap};

/// The role that may do everything.
pub const ROLE_ADMIN: &str = "admin";
/// The role that may run the store: scavenges, backups, consumer groups,
/// and read the system streams of those features.
pub const ROLE_OPS: &str = "ops";

/// What a grant allows on the streams it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    Read,
    Write,
    Delete,
    Metadata,
    Subscribe,
}

impl Permission {
    pub const ALL: [Permission; 5] = [
        Permission::Read,
        Permission::Write,
        Permission::Delete,
        Permission::Metadata,
        Permission::Subscribe,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Delete => "delete",
            Permission::Metadata => "metadata",
            Permission::Subscribe => "subscribe",
        }
    }

    pub fn parse(s: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// Who a grant is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Principal {
    User(String),
    Role(String),
}

impl Principal {
    /// `user:NAME` or `role:NAME`.
    pub fn parse(s: &str) -> Option<Principal> {
        match s.split_once(':')? {
            ("user", n) if !n.is_empty() => Some(Principal::User(n.to_owned())),
            ("role", n) if !n.is_empty() => Some(Principal::Role(n.to_owned())),
            _ => None,
        }
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Principal::User(n) => write!(f, "user:{n}"),
            Principal::Role(n) => write!(f, "role:{n}"),
        }
    }
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub roles: Vec<String>,
    pub enabled: bool,
    /// Argon2id, PHC string format.
    pub password_hash: String,
    /// Bumped by every change to the user: cached verifications of an
    /// older generation no longer count.
    pub generation: u64,
}

/// A bearer token (only its SHA-256 is kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub id: String,
    pub user: String,
    pub sha256_hex: String,
    pub description: String,
    pub created_micros: i64,
    pub expires_micros: Option<i64>,
}

/// Permissions on the streams whose names start with `prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: String,
    pub principal: Principal,
    /// Empty: every application stream.
    pub prefix: String,
    pub permissions: Vec<Permission>,
}

/// Users, tokens and grants as the records so far say.
#[derive(Debug, Clone, Default)]
pub struct SecurityState {
    pub users: BTreeMap<String, User>,
    pub tokens: BTreeMap<String, Token>,
    /// Token id by the SHA-256 of the token.
    pub token_by_hash: HashMap<String, String>,
    pub grants: BTreeMap<String, Grant>,
    /// Records applied; the state's version.
    pub generation: u64,
}

impl SecurityState {
    /// Applies one record. Records that do not fit the state (a token for
    /// a missing user, say) are ignored: the writer never produces them.
    pub fn apply(&mut self, r: SecurityRecord) {
        self.generation += 1;
        let generation = self.generation;
        match r {
            SecurityRecord::UserAdded {
                name,
                roles,
                password_hash,
            } => {
                self.users.insert(
                    name.clone(),
                    User {
                        name,
                        roles,
                        enabled: true,
                        password_hash,
                        generation,
                    },
                );
            }
            SecurityRecord::PasswordChanged {
                name,
                password_hash,
            } => {
                if let Some(u) = self.users.get_mut(&name) {
                    u.password_hash = password_hash;
                    u.generation = generation;
                }
            }
            SecurityRecord::UserEnabled { name, enabled } => {
                if let Some(u) = self.users.get_mut(&name) {
                    u.enabled = enabled;
                    u.generation = generation;
                }
            }
            SecurityRecord::UserRolesSet { name, roles } => {
                if let Some(u) = self.users.get_mut(&name) {
                    u.roles = roles;
                    u.generation = generation;
                }
            }
            SecurityRecord::TokenCreated(t) => {
                if self.users.contains_key(&t.user) {
                    self.token_by_hash
                        .insert(t.sha256_hex.clone(), t.id.clone());
                    self.tokens.insert(t.id.clone(), t);
                }
            }
            SecurityRecord::TokenRevoked { id } => {
                if let Some(t) = self.tokens.remove(&id) {
                    self.token_by_hash.remove(&t.sha256_hex);
                }
            }
            SecurityRecord::GrantAdded(g) => {
                self.grants.insert(g.id.clone(), g);
            }
            SecurityRecord::GrantRevoked { id } => {
                self.grants.remove(&id);
            }
        }
    }

    /// The grants that apply to `user` (theirs and their roles').
    pub fn grants_of<'a>(&'a self, user: &'a User) -> impl Iterator<Item = &'a Grant> + 'a {
        self.grants.values().filter(move |g| match &g.principal {
            Principal::User(n) => *n == user.name,
            Principal::Role(r) => user.roles.contains(r),
        })
    }
}
