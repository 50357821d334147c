//! The administrative operations on users, tokens and grants: each checks
//! the caller, validates, writes one `$security` record (applied once
//! durable) and is audited in `$audit`.
//!
//! Only admins manage; anyone may change their own password (giving the
//! current one) and create or list their own tokens.
//!
//! Not here: authentication (`mod`), the record layouts (`records`).

use super::model::{Grant, Permission, Principal, Token, ROLE_ADMIN};
use super::passwords::{self, MAX_PASSWORD_BYTES, MIN_PASSWORD_BYTES};
use super::records::SecurityRecord;
use super::{Caller, Need};
use crate::domain::{Error, Node};

/// Longest user name, in bytes.
pub const MAX_USER_NAME_BYTES: usize = 128;
/// Longest role name, in bytes.
pub const MAX_ROLE_NAME_BYTES: usize = 64;
/// Most roles per user.
pub const MAX_ROLES_PER_USER: usize = 32;
/// Longest grant prefix, in bytes (a stream name's limit).
pub const MAX_GRANT_PREFIX_BYTES: usize = 255;
/// Most users, tokens and grants, each.
pub const MAX_SECURITY_ENTRIES: usize = 10_000;
/// Longest token description, in bytes.
pub const MAX_TOKEN_DESCRIPTION_BYTES: usize = 256;

/// A user as listed (no password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserView {
    pub name: String,
    pub roles: Vec<String>,
    pub enabled: bool,
}

/// A freshly created token: the secret is shown once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub id: String,
    pub token: String,
    pub expires_micros: Option<i64>,
}

fn invalid(m: impl Into<String>) -> Error {
    Error::InvalidRequest(m.into())
}

fn validate_user_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.len() > MAX_USER_NAME_BYTES {
        return Err(invalid(format!(
            "a user name is 1..={MAX_USER_NAME_BYTES} bytes"
        )));
    }
    if name.contains(':') || name.chars().any(char::is_control) {
        return Err(invalid(
            "a user name holds no ':' and no control characters",
        ));
    }
    Ok(())
}

fn validate_password(p: &str) -> Result<(), Error> {
    if p.len() < MIN_PASSWORD_BYTES || p.len() > MAX_PASSWORD_BYTES {
        return Err(invalid(format!(
            "a password is {MIN_PASSWORD_BYTES}..={MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(())
}

fn validate_roles(roles: &[String]) -> Result<(), Error> {
    if roles.len() > MAX_ROLES_PER_USER {
        return Err(invalid(format!("at most {MAX_ROLES_PER_USER} roles")));
    }
    for r in roles {
        let ok = !r.is_empty()
            && r.len() <= MAX_ROLE_NAME_BYTES
            && r.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(invalid(format!(
                "role {r:?}: 1..={MAX_ROLE_NAME_BYTES} bytes of letters, digits, '-' and '_'"
            )));
        }
    }
    Ok(())
}

fn is_active_admin(u: &super::model::User) -> bool {
    u.enabled && u.roles.iter().any(|r| r == ROLE_ADMIN)
}

/// `u` as it would be after `record`.
fn after(u: &super::model::User, record: &SecurityRecord) -> super::model::User {
    let mut u = u.clone();
    match record {
        SecurityRecord::UserEnabled { name, enabled } if *name == u.name => u.enabled = *enabled,
        SecurityRecord::UserRolesSet { name, roles } if *name == u.name => u.roles = roles.clone(),
        _ => {}
    }
    u
}

fn view(u: &super::model::User) -> UserView {
    UserView {
        name: u.name.clone(),
        roles: u.roles.clone(),
        enabled: u.enabled,
    }
}

impl Node {
    /// Adds a user (admins; the first user must be an admin).
    pub async fn add_user(
        &self,
        caller: &Caller,
        name: &str,
        password: &str,
        roles: Vec<String>,
    ) -> Result<UserView, Error> {
        let r = async {
            caller.check(Need::Admin)?;
            validate_user_name(name)?;
            validate_password(password)?;
            validate_roles(&roles)?;
            let _one_at_a_time = self.security.change.lock().await;
            {
                let s = self.security.read();
                if s.users.contains_key(name) {
                    return Err(Error::UserExists(name.to_owned()));
                }
                if s.users.len() >= MAX_SECURITY_ENTRIES {
                    return Err(invalid(format!("at most {MAX_SECURITY_ENTRIES} users")));
                }
                if s.users.is_empty() && !roles.iter().any(|r| r == ROLE_ADMIN) {
                    return Err(invalid(
                        "the first user must have the admin role (adding it turns authentication on)",
                    ));
                }
            }
            let pw = password.to_owned();
            let password_hash = tokio::task::spawn_blocking(move || passwords::hash(&pw))
                .await
                .map_err(|e| Error::Internal(format!("hashing failed: {e}")))?;
            self.write_security(SecurityRecord::UserAdded {
                name: name.to_owned(),
                roles: roles.clone(),
                password_hash,
            })
            .await?;
            Ok(UserView {
                name: name.to_owned(),
                roles,
                enabled: true,
            })
        }
        .await;
        self.audited(caller, "addUser", name, r).await
    }

    /// Sets a password: admins anyone's, others their own with `current`.
    pub async fn change_password(
        &self,
        caller: &Caller,
        name: &str,
        current: &str,
        new: &str,
    ) -> Result<(), Error> {
        let own = caller.user.as_deref() == Some(name);
        let r = async {
            if !own {
                caller.check(Need::Admin)?;
            }
            validate_password(new)?;
            if own && !caller.access.admin {
                let ok = self
                    .verify_password(name.to_owned(), current.to_owned())
                    .await?;
                if ok.is_none() {
                    return Err(Error::AuthenticationFailed);
                }
            }
            let _one_at_a_time = self.security.change.lock().await;
            if !self.security.read().users.contains_key(name) {
                return Err(Error::UserNotFound(name.to_owned()));
            }
            let pw = new.to_owned();
            let password_hash = tokio::task::spawn_blocking(move || passwords::hash(&pw))
                .await
                .map_err(|e| Error::Internal(format!("hashing failed: {e}")))?;
            self.write_security(SecurityRecord::PasswordChanged {
                name: name.to_owned(),
                password_hash,
            })
            .await
        }
        .await;
        self.audited(caller, "changePassword", name, r).await
    }

    /// Enables or disables a user (admins).
    pub async fn set_user_enabled(
        &self,
        caller: &Caller,
        name: &str,
        enabled: bool,
    ) -> Result<UserView, Error> {
        let r = async {
            caller.check(Need::Admin)?;
            self.change_user(
                name,
                SecurityRecord::UserEnabled {
                    name: name.to_owned(),
                    enabled,
                },
            )
            .await
        }
        .await;
        let action = if enabled { "enableUser" } else { "disableUser" };
        self.audited(caller, action, name, r).await
    }

    /// Replaces a user's roles (admins).
    pub async fn set_user_roles(
        &self,
        caller: &Caller,
        name: &str,
        roles: Vec<String>,
    ) -> Result<UserView, Error> {
        let r = async {
            caller.check(Need::Admin)?;
            validate_roles(&roles)?;
            self.change_user(
                name,
                SecurityRecord::UserRolesSet {
                    name: name.to_owned(),
                    roles,
                },
            )
            .await
        }
        .await;
        self.audited(caller, "setUserRoles", name, r).await
    }

    async fn change_user(&self, name: &str, record: SecurityRecord) -> Result<UserView, Error> {
        let _one_at_a_time = self.security.change.lock().await;
        {
            let s = self.security.read();
            if !s.users.contains_key(name) {
                return Err(Error::UserNotFound(name.to_owned()));
            }
            // Nobody could manage users again: refuse.
            if s.users.values().any(is_active_admin)
                && !s
                    .users
                    .values()
                    .any(|u| is_active_admin(&after(u, &record)))
            {
                return Err(invalid(
                    "this would leave no enabled user with the admin role",
                ));
            }
        }
        self.write_security(record).await?;
        let s = self.security.read();
        s.users
            .get(name)
            .map(view)
            .ok_or_else(|| Error::UserNotFound(name.to_owned()))
    }

    /// Every user (admins).
    pub fn list_users(&self, caller: &Caller) -> Result<Vec<UserView>, Error> {
        caller.check(Need::Admin)?;
        Ok(self.security.read().users.values().map(view).collect())
    }

    /// The caller as a user (anonymous: an admin named `anonymous`).
    pub fn who_am_i(&self, caller: &Caller) -> UserView {
        let s = self.security.read();
        match caller.user.as_deref().and_then(|n| s.users.get(n)) {
            Some(u) => view(u),
            None => UserView {
                name: caller.name().to_owned(),
                roles: vec![ROLE_ADMIN.to_owned()],
                enabled: true,
            },
        }
    }

    /// Creates a bearer token for `user` (empty: the caller); admins may
    /// name anyone. `expires_in_seconds` 0: never expires.
    pub async fn create_token(
        &self,
        caller: &Caller,
        user: &str,
        expires_in_seconds: u64,
        description: &str,
    ) -> Result<NewToken, Error> {
        let user = if user.is_empty() { caller.name() } else { user }.to_owned();
        let r = async {
            if caller.user.as_deref() != Some(user.as_str()) {
                caller.check(Need::Admin)?;
            }
            if description.len() > MAX_TOKEN_DESCRIPTION_BYTES {
                return Err(invalid(format!(
                    "a token description is at most {MAX_TOKEN_DESCRIPTION_BYTES} bytes"
                )));
            }
            let _one_at_a_time = self.security.change.lock().await;
            {
                let s = self.security.read();
                if !s.users.contains_key(&user) {
                    return Err(Error::UserNotFound(user.clone()));
                }
                if s.tokens.len() >= MAX_SECURITY_ENTRIES {
                    return Err(invalid(format!("at most {MAX_SECURITY_ENTRIES} tokens")));
                }
            }
            let secret: [u8; 32] = rand::random();
            let token = format!(
                "strata_{}",
                secret
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            );
            let now = strata_storage::clock::now_micros();
            let expires_micros = (expires_in_seconds > 0).then(|| {
                now.saturating_add(
                    i64::try_from(expires_in_seconds)
                        .unwrap_or(i64::MAX / 1_000_000)
                        .saturating_mul(1_000_000),
                )
            });
            let id = uuid::Uuid::new_v4().to_string();
            self.write_security(SecurityRecord::TokenCreated(Token {
                id: id.clone(),
                user: user.clone(),
                sha256_hex: passwords::sha256_hex(&token),
                description: description.to_owned(),
                created_micros: now,
                expires_micros,
            }))
            .await?;
            Ok(NewToken {
                id,
                token,
                expires_micros,
            })
        }
        .await;
        self.audited(caller, "createToken", &user, r).await
    }

    /// Revokes a token: admins any, others their own.
    pub async fn revoke_token(&self, caller: &Caller, id: &str) -> Result<(), Error> {
        let r = async {
            let _one_at_a_time = self.security.change.lock().await;
            let owner = self.security.read().tokens.get(id).map(|t| t.user.clone());
            let Some(owner) = owner else {
                return Err(Error::TokenNotFound(id.to_owned()));
            };
            if caller.user.as_deref() != Some(owner.as_str()) {
                caller.check(Need::Admin)?;
            }
            self.write_security(SecurityRecord::TokenRevoked { id: id.to_owned() })
                .await
        }
        .await;
        self.audited(caller, "revokeToken", id, r).await
    }

    /// Tokens of `user` (empty: everyone's, admins only; others see only
    /// their own).
    pub fn list_tokens(&self, caller: &Caller, user: &str) -> Result<Vec<Token>, Error> {
        if user.is_empty() || caller.user.as_deref() != Some(user) {
            caller.check(Need::Admin)?;
        }
        let s = self.security.read();
        Ok(s.tokens
            .values()
            .filter(|t| user.is_empty() || t.user == user)
            .cloned()
            .collect())
    }

    /// Grants `permissions` on streams starting with `prefix` (admins).
    pub async fn grant(
        &self,
        caller: &Caller,
        principal: &str,
        prefix: &str,
        permissions: Vec<Permission>,
    ) -> Result<Grant, Error> {
        let r = async {
            caller.check(Need::Admin)?;
            let principal = Principal::parse(principal)
                .ok_or_else(|| invalid("a principal is \"user:NAME\" or \"role:NAME\""))?;
            if prefix.len() > MAX_GRANT_PREFIX_BYTES
                || prefix.starts_with('$')
                || prefix.chars().any(char::is_control)
            {
                return Err(invalid(format!(
                    "a grant's stream prefix is at most {MAX_GRANT_PREFIX_BYTES} bytes, without control characters, and not a system stream ('$')"
                )));
            }
            if permissions.is_empty() {
                return Err(invalid("a grant needs at least one permission"));
            }
            let mut permissions = permissions;
            permissions.sort();
            permissions.dedup();
            let _one_at_a_time = self.security.change.lock().await;
            if self.security.read().grants.len() >= MAX_SECURITY_ENTRIES {
                return Err(invalid(format!("at most {MAX_SECURITY_ENTRIES} grants")));
            }
            let g = Grant {
                id: uuid::Uuid::new_v4().to_string(),
                principal,
                prefix: prefix.to_owned(),
                permissions,
            };
            self.write_security(SecurityRecord::GrantAdded(g.clone()))
                .await?;
            Ok(g)
        }
        .await;
        let target = format!("{principal} on '{prefix}'");
        self.audited(caller, "grant", &target, r).await
    }

    /// Removes a grant (admins).
    pub async fn revoke_grant(&self, caller: &Caller, id: &str) -> Result<(), Error> {
        let r = async {
            caller.check(Need::Admin)?;
            let _one_at_a_time = self.security.change.lock().await;
            if !self.security.read().grants.contains_key(id) {
                return Err(Error::GrantNotFound(id.to_owned()));
            }
            self.write_security(SecurityRecord::GrantRevoked { id: id.to_owned() })
                .await
        }
        .await;
        self.audited(caller, "revokeGrant", id, r).await
    }

    /// Every grant (admins).
    pub fn list_grants(&self, caller: &Caller) -> Result<Vec<Grant>, Error> {
        caller.check(Need::Admin)?;
        Ok(self.security.read().grants.values().cloned().collect())
    }
}
