//! The [`Client`]'s calls on users, tokens and grants (`Security`
//! service), and their types. Everything but [`Client::who_am_i`],
//! changing one's own password and one's own tokens needs the admin role.
//!
//! Retries: listing and `who_am_i` are retried like any call; changes only
//! when the request certainly did nothing (`error::is_safe_to_resend`).
//!
//! Not here: sending credentials (`transport`, set on the builder).

use crate::client::Client;
use crate::error::{self, is_safe_to_resend, Error, Result};
use std::time::Duration;
use strata_proto::v1 as pb;

/// A user as the server lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserInfo {
    /// The user name.
    pub name: String,
    /// `admin`, `ops`, or group names that grants can name.
    pub roles: Vec<String>,
    /// Disabled users' credentials and tokens are refused.
    pub enabled: bool,
    /// Whether the server requires credentials at all.
    pub auth_enabled: bool,
}

/// A token just created: `token` is shown this once.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewToken {
    /// Its id, for revoking it.
    pub id: String,
    /// The bearer token.
    pub token: String,
    /// When it expires, unix µs (`None`: never).
    pub expires_micros: Option<i64>,
}

/// A token as listed (without its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenInfo {
    /// Its id.
    pub id: String,
    /// Whose it is.
    pub user: String,
    /// The note given at creation.
    pub description: String,
    /// When it was created, unix µs.
    pub created_micros: i64,
    /// When it expires, unix µs (`None`: never).
    pub expires_micros: Option<i64>,
}

/// What a grant allows on the streams it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read the streams (and their metadata).
    Read,
    /// Append to them (and save snapshots).
    Write,
    /// Delete or tombstone them.
    Delete,
    /// Set their metadata.
    Metadata,
    /// Subscribe to them, and consume groups over them.
    Subscribe,
}

/// A grant: `permissions` on the streams whose names start with
/// `stream_prefix`, for `principal` (`user:NAME` or `role:NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Grant {
    /// Its id, for revoking it.
    pub id: String,
    /// `user:NAME` or `role:NAME`.
    pub principal: String,
    /// The streams it covers (`""`: every application stream).
    pub stream_prefix: String,
    /// What it allows.
    pub permissions: Vec<Permission>,
}

fn permission_to_pb(p: Permission) -> i32 {
    (match p {
        Permission::Read => pb::Permission::Read,
        Permission::Write => pb::Permission::Write,
        Permission::Delete => pb::Permission::Delete,
        Permission::Metadata => pb::Permission::Metadata,
        Permission::Subscribe => pb::Permission::Subscribe,
    }) as i32
}

fn permission_from_pb(n: i32) -> Result<Permission> {
    match pb::Permission::try_from(n) {
        Ok(pb::Permission::Read) => Ok(Permission::Read),
        Ok(pb::Permission::Write) => Ok(Permission::Write),
        Ok(pb::Permission::Delete) => Ok(Permission::Delete),
        Ok(pb::Permission::Metadata) => Ok(Permission::Metadata),
        Ok(pb::Permission::Subscribe) => Ok(Permission::Subscribe),
        _ => Err(Error::MalformedResponse(format!("unknown permission {n}"))),
    }
}

fn user(u: pb::UserInfo) -> UserInfo {
    UserInfo {
        name: u.name,
        roles: u.roles,
        enabled: u.enabled,
        auth_enabled: u.auth_enabled,
    }
}

fn grant(g: pb::GrantInfo) -> Result<Grant> {
    Ok(Grant {
        id: g.id,
        principal: g.principal,
        stream_prefix: g.stream_prefix,
        permissions: g
            .permissions
            .into_iter()
            .map(permission_from_pb)
            .collect::<Result<_>>()?,
    })
}

impl Client {
    /// Who the server takes this client to be.
    pub async fn who_am_i(&self) -> Result<UserInfo> {
        let u = self
            .retrying(&self.security, |mut c| async move {
                c.who_am_i(crate::trace::request(pb::WhoAmIRequest {}))
                    .await
            })
            .await
            .map_err(error::from_plain_status)?;
        Ok(user(u))
    }

    /// Adds a user (admins; the first user of a server must be an admin,
    /// and adding it turns authentication on).
    ///
    /// # Errors
    ///
    /// [`Error::UserExists`] when the name is taken, [`Error::InvalidArgument`] for
    /// a bad name, password (8..=1024 bytes) or role,
    /// [`Error::PermissionDenied`].
    pub async fn add_user(&self, name: &str, password: &str, roles: &[&str]) -> Result<UserInfo> {
        let request = pb::AddUserRequest {
            name: name.to_owned(),
            password: password.to_owned(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        };
        let u = self
            .retrying_if(&self.security, is_safe_to_resend, |mut c| {
                let request = request.clone();
                async move { c.add_user(crate::trace::request(request)).await }
            })
            .await
            .map_err(error::from_plain_status)?;
        Ok(user(u))
    }

    /// Sets `name`'s password: admins anyone's; others their own, giving
    /// `current`.
    pub async fn change_password(&self, name: &str, current: &str, new: &str) -> Result<()> {
        let request = pb::ChangePasswordRequest {
            name: name.to_owned(),
            current_password: current.to_owned(),
            new_password: new.to_owned(),
        };
        self.retrying_if(&self.security, is_safe_to_resend, |mut c| {
            let request = request.clone();
            async move { c.change_password(crate::trace::request(request)).await }
        })
        .await
        .map_err(error::from_plain_status)?;
        Ok(())
    }

    /// Enables or disables a user (admins).
    pub async fn set_user_enabled(&self, name: &str, enabled: bool) -> Result<UserInfo> {
        let request = pb::SetUserEnabledRequest {
            name: name.to_owned(),
            enabled,
        };
        let u = self
            .retrying(&self.security, |mut c| {
                let request = request.clone();
                async move { c.set_user_enabled(crate::trace::request(request)).await }
            })
            .await
            .map_err(error::from_plain_status)?;
        Ok(user(u))
    }

    /// Replaces a user's roles (admins).
    pub async fn set_user_roles(&self, name: &str, roles: &[&str]) -> Result<UserInfo> {
        let request = pb::SetUserRolesRequest {
            name: name.to_owned(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        };
        let u = self
            .retrying(&self.security, |mut c| {
                let request = request.clone();
                async move { c.set_user_roles(crate::trace::request(request)).await }
            })
            .await
            .map_err(error::from_plain_status)?;
        Ok(user(u))
    }

    /// Every user (admins).
    pub async fn list_users(&self) -> Result<Vec<UserInfo>> {
        let r = self
            .retrying(&self.security, |mut c| async move {
                c.list_users(crate::trace::request(pb::ListUsersRequest {}))
                    .await
            })
            .await
            .map_err(error::from_plain_status)?;
        Ok(r.users.into_iter().map(user).collect())
    }

    /// Creates a bearer token for `user` (`""`: oneself), expiring after
    /// `expires_in` (`None`: never).
    pub async fn create_token(
        &self,
        user: &str,
        expires_in: Option<Duration>,
        description: &str,
    ) -> Result<NewToken> {
        let request = pb::CreateTokenRequest {
            user: user.to_owned(),
            expires_in_seconds: expires_in.map_or(0, |d| d.as_secs().max(1)),
            description: description.to_owned(),
        };
        let t = self
            .retrying_if(&self.security, is_safe_to_resend, |mut c| {
                let request = request.clone();
                async move { c.create_token(crate::trace::request(request)).await }
            })
            .await
            .map_err(error::from_plain_status)?;
        Ok(NewToken {
            id: t.id,
            token: t.token,
            expires_micros: t.expires_micros,
        })
    }

    /// Revokes a token (admins any; others their own).
    pub async fn revoke_token(&self, id: &str) -> Result<()> {
        let request = pb::RevokeTokenRequest { id: id.to_owned() };
        self.retrying_if(&self.security, is_safe_to_resend, |mut c| {
            let request = request.clone();
            async move { c.revoke_token(crate::trace::request(request)).await }
        })
        .await
        .map_err(error::from_plain_status)?;
        Ok(())
    }

    /// Tokens of `user` (`""`: everyone's, admins only).
    pub async fn list_tokens(&self, user: &str) -> Result<Vec<TokenInfo>> {
        let request = pb::ListTokensRequest {
            user: user.to_owned(),
        };
        let r = self
            .retrying(&self.security, |mut c| {
                let request = request.clone();
                async move { c.list_tokens(crate::trace::request(request)).await }
            })
            .await
            .map_err(error::from_plain_status)?;
        Ok(r.tokens
            .into_iter()
            .map(|t| TokenInfo {
                id: t.id,
                user: t.user,
                description: t.description,
                created_micros: t.created_micros,
                expires_micros: t.expires_micros,
            })
            .collect())
    }

    /// Grants `permissions` on the streams starting with `stream_prefix`
    /// (`""`: every application stream) to `principal`, `user:NAME` or
    /// `role:NAME` (admins).
    pub async fn grant(
        &self,
        principal: &str,
        stream_prefix: &str,
        permissions: &[Permission],
    ) -> Result<Grant> {
        let request = pb::GrantRequest {
            principal: principal.to_owned(),
            stream_prefix: stream_prefix.to_owned(),
            permissions: permissions.iter().map(|p| permission_to_pb(*p)).collect(),
        };
        let g = self
            .retrying_if(&self.security, is_safe_to_resend, |mut c| {
                let request = request.clone();
                async move { c.grant(crate::trace::request(request)).await }
            })
            .await
            .map_err(error::from_plain_status)?;
        grant(g)
    }

    /// Removes a grant by id (admins).
    pub async fn revoke_grant(&self, id: &str) -> Result<()> {
        let request = pb::RevokeRequest { id: id.to_owned() };
        self.retrying_if(&self.security, is_safe_to_resend, |mut c| {
            let request = request.clone();
            async move { c.revoke(crate::trace::request(request)).await }
        })
        .await
        .map_err(error::from_plain_status)?;
        Ok(())
    }

    /// Every grant (admins).
    pub async fn list_grants(&self) -> Result<Vec<Grant>> {
        let r = self
            .retrying(&self.security, |mut c| async move {
                c.list_grants(crate::trace::request(pb::ListGrantsRequest {}))
                    .await
            })
            .await
            .map_err(error::from_plain_status)?;
        r.grants.into_iter().map(grant).collect()
    }
}
