//! Protobuf ↔ domain for users, tokens and grants (`Security`).
//!
//! Part of the one conversion module of the strata.v1 adapter.

use crate::api::status;
use crate::domain::security::{Grant, NewToken, Permission, Token, UserView};
use strata_proto::v1 as pb;
use tonic::Status;

pub fn user(u: UserView, auth_enabled: bool) -> pb::UserInfo {
    pb::UserInfo {
        name: u.name,
        roles: u.roles,
        enabled: u.enabled,
        auth_enabled,
    }
}

pub fn permission(p: Permission) -> pb::Permission {
    match p {
        Permission::Read => pb::Permission::Read,
        Permission::Write => pb::Permission::Write,
        Permission::Delete => pb::Permission::Delete,
        Permission::Metadata => pb::Permission::Metadata,
        Permission::Subscribe => pb::Permission::Subscribe,
    }
}

/// Permissions from their enum numbers; unknown or unspecified ones are
/// refused.
pub fn permissions(ns: &[i32]) -> Result<Vec<Permission>, Status> {
    ns.iter()
        .map(|n| match pb::Permission::try_from(*n) {
            Ok(pb::Permission::Read) => Ok(Permission::Read),
            Ok(pb::Permission::Write) => Ok(Permission::Write),
            Ok(pb::Permission::Delete) => Ok(Permission::Delete),
            Ok(pb::Permission::Metadata) => Ok(Permission::Metadata),
            Ok(pb::Permission::Subscribe) => Ok(Permission::Subscribe),
            _ => Err(status::invalid_request(format!("unknown permission {n}"))),
        })
        .collect()
}

pub fn grant(g: Grant) -> pb::GrantInfo {
    pb::GrantInfo {
        id: g.id,
        principal: g.principal.to_string(),
        stream_prefix: g.prefix,
        permissions: g
            .permissions
            .into_iter()
            .map(|p| permission(p) as i32)
            .collect(),
    }
}

pub fn token(t: Token) -> pb::TokenInfo {
    pb::TokenInfo {
        id: t.id,
        user: t.user,
        description: t.description,
        created_micros: t.created_micros,
        expires_micros: t.expires_micros,
    }
}

pub fn new_token(t: NewToken) -> pb::CreateTokenResponse {
    pb::CreateTokenResponse {
        id: t.id,
        token: t.token,
        expires_micros: t.expires_micros,
    }
}
