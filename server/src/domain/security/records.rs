//! The `$security` stream: one JSON record per change to users, tokens and
//! grants, applied in log order to rebuild the state at start-up and after
//! every change. Record types: `$userAdded`, `$passwordChanged`,
//! `$userEnabled`, `$userRolesSet`, `$tokenCreated`, `$tokenRevoked`,
//! `$grantAdded`, `$grantRevoked` (layouts in docs/FORMAT.md).
//!
//! And the `$audit` stream: `$audit` records of who did what, from where.
//!
//! Not here: what the state means (`model`), who may write these (`mod`).

use super::model::{Grant, Permission, Principal, Token};
use serde::{Deserialize, Serialize};
use strata_storage::{NewEvent, RecordedEvent};

/// Users, tokens and grants.
pub const SECURITY_STREAM: &str = "$security";
/// Who did what.
pub const AUDIT_STREAM: &str = "$audit";
/// Record type in `$audit`.
pub const AUDIT_RECORD: &str = "$audit";

/// One change, as the domain sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityRecord {
    UserAdded {
        name: String,
        roles: Vec<String>,
        password_hash: String,
    },
    PasswordChanged {
        name: String,
        password_hash: String,
    },
    UserEnabled {
        name: String,
        enabled: bool,
    },
    UserRolesSet {
        name: String,
        roles: Vec<String>,
    },
    TokenCreated(Token),
    TokenRevoked {
        id: String,
    },
    GrantAdded(Grant),
    GrantRevoked {
        id: String,
    },
}

/// The JSON of every record type (fields a type does not use are absent).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_micros: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_micros: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<Vec<String>>,
}

fn json_event(event_type: &str, data: Vec<u8>) -> NewEvent {
    NewEvent {
        id: uuid::Uuid::new_v4(),
        event_type: event_type.to_owned(),
        content_type: "application/json".to_owned(),
        data,
        metadata: Vec::new(),
    }
}

impl SecurityRecord {
    /// The log record.
    pub fn to_event(&self) -> NewEvent {
        let (kind, w) = match self.clone() {
            SecurityRecord::UserAdded {
                name,
                roles,
                password_hash,
            } => (
                "$userAdded",
                Wire {
                    name: Some(name),
                    roles: Some(roles),
                    password_hash: Some(password_hash),
                    ..Wire::default()
                },
            ),
            SecurityRecord::PasswordChanged {
                name,
                password_hash,
            } => (
                "$passwordChanged",
                Wire {
                    name: Some(name),
                    password_hash: Some(password_hash),
                    ..Wire::default()
                },
            ),
            SecurityRecord::UserEnabled { name, enabled } => (
                "$userEnabled",
                Wire {
                    name: Some(name),
                    enabled: Some(enabled),
                    ..Wire::default()
                },
            ),
            SecurityRecord::UserRolesSet { name, roles } => (
                "$userRolesSet",
                Wire {
                    name: Some(name),
                    roles: Some(roles),
                    ..Wire::default()
                },
            ),
            SecurityRecord::TokenCreated(t) => (
                "$tokenCreated",
                Wire {
                    id: Some(t.id),
                    user: Some(t.user),
                    sha256: Some(t.sha256_hex),
                    description: Some(t.description),
                    created_micros: Some(t.created_micros),
                    expires_micros: t.expires_micros,
                    ..Wire::default()
                },
            ),
            SecurityRecord::TokenRevoked { id } => (
                "$tokenRevoked",
                Wire {
                    id: Some(id),
                    ..Wire::default()
                },
            ),
            SecurityRecord::GrantAdded(g) => (
                "$grantAdded",
                Wire {
                    id: Some(g.id),
                    principal: Some(g.principal.to_string()),
                    stream_prefix: Some(g.prefix),
                    permissions: Some(
                        g.permissions
                            .iter()
                            .map(|p| p.as_str().to_owned())
                            .collect(),
                    ),
                    ..Wire::default()
                },
            ),
            SecurityRecord::GrantRevoked { id } => (
                "$grantRevoked",
                Wire {
                    id: Some(id),
                    ..Wire::default()
                },
            ),
        };
        json_event(kind, serde_json::to_vec(&w).unwrap_or_default())
    }

    /// Decodes a `$security` record; `None` for one that does not decode.
    pub fn from_event(e: &RecordedEvent) -> Option<SecurityRecord> {
        let w: Wire = serde_json::from_slice(&e.data).ok()?;
        Some(match e.event_type.as_str() {
            "$userAdded" => SecurityRecord::UserAdded {
                name: w.name?,
                roles: w.roles.unwrap_or_default(),
                password_hash: w.password_hash?,
            },
            "$passwordChanged" => SecurityRecord::PasswordChanged {
                name: w.name?,
                password_hash: w.password_hash?,
            },
            "$userEnabled" => SecurityRecord::UserEnabled {
                name: w.name?,
                enabled: w.enabled?,
            },
            "$userRolesSet" => SecurityRecord::UserRolesSet {
                name: w.name?,
                roles: w.roles.unwrap_or_default(),
            },
            "$tokenCreated" => SecurityRecord::TokenCreated(Token {
                id: w.id?,
                user: w.user?,
                sha256_hex: w.sha256?,
                description: w.description.unwrap_or_default(),
                created_micros: w.created_micros.unwrap_or(0),
                expires_micros: w.expires_micros,
            }),
            "$tokenRevoked" => SecurityRecord::TokenRevoked { id: w.id? },
            "$grantAdded" => SecurityRecord::GrantAdded(Grant {
                id: w.id?,
                principal: Principal::parse(&w.principal?)?,
                prefix: w.stream_prefix.unwrap_or_default(),
                permissions: w
                    .permissions?
                    .iter()
                    .map(|p| Permission::parse(p))
                    .collect::<Option<Vec<_>>>()?,
            }),
            "$grantRevoked" => SecurityRecord::GrantRevoked { id: w.id? },
            _ => return None,
        })
    }
}

/// An `$audit` record: who (`user`, or `anonymous`), from where, did what
/// (`action`, e.g. `deleteStream`) to what (`target`), and whether it
/// succeeded. The record's own timestamp says when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    pub action: String,
    pub target: String,
    pub outcome: String,
}

impl AuditRecord {
    pub fn to_event(&self) -> NewEvent {
        json_event(AUDIT_RECORD, serde_json::to_vec(self).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(e: NewEvent) -> RecordedEvent {
        RecordedEvent {
            stream: SECURITY_STREAM.into(),
            revision: 0,
            position: 1,
            id: e.id,
            event_type: e.event_type,
            content_type: e.content_type,
            created_micros: 0,
            data: e.data,
            metadata: e.metadata,
        }
    }

    #[test]
    fn every_record_type_round_trips() {
        let all = vec![
            SecurityRecord::UserAdded {
                name: "ann".into(),
                roles: vec!["admin".into()],
                password_hash: "$argon2id$x".into(),
            },
            SecurityRecord::PasswordChanged {
                name: "ann".into(),
                password_hash: "$argon2id$y".into(),
            },
            SecurityRecord::UserEnabled {
                name: "ann".into(),
                enabled: false,
            },
            SecurityRecord::UserRolesSet {
                name: "ann".into(),
                roles: vec![],
            },
            SecurityRecord::TokenCreated(Token {
                id: "t1".into(),
                user: "ann".into(),
                sha256_hex: "ab".into(),
                description: "ci".into(),
                created_micros: 5,
                expires_micros: Some(9),
            }),
            SecurityRecord::TokenRevoked { id: "t1".into() },
            SecurityRecord::GrantAdded(Grant {
                id: "g1".into(),
                principal: Principal::Role("billing".into()),
                prefix: "order-".into(),
                permissions: vec![Permission::Read, Permission::Subscribe],
            }),
            SecurityRecord::GrantRevoked { id: "g1".into() },
        ];
        for r in all {
            assert_eq!(SecurityRecord::from_event(&recorded(r.to_event())), Some(r));
        }
    }
}
