//! `strata whoami`, `strata user …`, `strata token …` and `strata grant …`:
//! users, bearer tokens and per-stream grants from a terminal, through
//! `strata-client`'s `Security` calls (the admin API).
//!
//! New passwords never come from arguments (other users of the machine see
//! those): from `STRATA_NEW_PASSWORD`, a prompt without echo on a terminal,
//! or one line of stdin (`--password-stdin`, for scripts).
//!
//! Not here: the security rules (the server's `domain::security`), the
//! connection's own credentials (`Conn`).

use super::{output, Conn, Outcome};
use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::io::{BufRead, IsTerminal};
use std::time::Duration;
use strata_client::{Grant, Permission, TokenInfo, UserInfo};

/// `strata whoami`.
#[derive(Debug, Args)]
pub struct WhoAmIArgs {
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: Conn,
}

/// `strata user`.
#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(subcommand)]
    pub command: UserCommand,
    /// Print as JSON (one object per line).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(flatten)]
    pub conn: Conn,
}

/// Where a new password comes from.
#[derive(Debug, Args)]
pub struct NewPassword {
    /// Read the new password from the first line of stdin (otherwise
    /// STRATA_NEW_PASSWORD, or a prompt on a terminal).
    #[arg(long)]
    pub password_stdin: bool,
}

/// The user subcommands (admins; `passwd` also for oneself).
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user. The first user of a server must have the admin role;
    /// adding it turns authentication on.
    Add {
        /// The user name.
        name: String,
        /// A role: admin, ops, or a group name grants can name (repeatable).
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        #[command(flatten)]
        password: NewPassword,
    },
    /// Set a user's password (admins anyone's; a user their own, logged in
    /// with the current one).
    Passwd {
        /// The user name.
        name: String,
        #[command(flatten)]
        password: NewPassword,
    },
    /// Disable a user: their password and tokens are refused from now on.
    Disable {
        /// The user name.
        name: String,
    },
    /// Enable a disabled user again.
    Enable {
        /// The user name.
        name: String,
    },
    /// Replace a user's roles.
    Roles {
        /// The user name.
        name: String,
        /// The new roles (repeatable; none: no role).
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
    },
    /// List users.
    List,
}

/// `strata token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
    /// Print as JSON (one object per line).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(flatten)]
    pub conn: Conn,
}

/// The token subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a bearer token (printed once: it is stored only hashed).
    Create {
        /// Whose token [default: your own]; others' need the admin role.
        #[arg(long = "for", id = "for_user", value_name = "USER", default_value = "")]
        user: String,
        /// Expire after this long: seconds, or with a unit (90m, 12h, 30d).
        #[arg(long, value_parser = parse_duration)]
        expires_in: Option<Duration>,
        /// A note to recognise it by.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Revoke a token by id.
    Revoke {
        /// The token's id.
        id: String,
    },
    /// List tokens (without their secrets).
    List {
        /// Only this user's (your own need no admin role) [default:
        /// everyone's, for admins].
        #[arg(long = "for", id = "for_user", value_name = "USER", default_value = "")]
        user: String,
    },
}

/// `strata grant`.
#[derive(Debug, Args)]
pub struct GrantArgs {
    #[command(subcommand)]
    pub command: GrantCommand,
    /// Print as JSON (one object per line).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(flatten)]
    pub conn: Conn,
}

/// The grant subcommands (admins).
#[derive(Debug, Subcommand)]
pub enum GrantCommand {
    /// Allow PERMISSIONS on the streams starting with PREFIX to PRINCIPAL.
    Add {
        /// `user:NAME` or `role:NAME`.
        principal: String,
        /// Stream name prefix (`""`: every application stream).
        prefix: String,
        /// Comma-separated: read, write, delete, metadata, subscribe.
        #[arg(value_delimiter = ',', value_parser = parse_permission, required = true)]
        permissions: Vec<Permission>,
    },
    /// Remove a grant by id.
    Revoke {
        /// The grant's id.
        id: String,
    },
    /// List every grant.
    List,
}

fn parse_permission(s: &str) -> Result<Permission, String> {
    match s.trim() {
        "read" => Ok(Permission::Read),
        "write" => Ok(Permission::Write),
        "delete" => Ok(Permission::Delete),
        "metadata" => Ok(Permission::Metadata),
        "subscribe" => Ok(Permission::Subscribe),
        other => Err(format!(
            "unknown permission {other:?} (read, write, delete, metadata, subscribe)"
        )),
    }
}

fn permission_name(p: Permission) -> &'static str {
    match p {
        Permission::Read => "read",
        Permission::Write => "write",
        Permission::Delete => "delete",
        Permission::Metadata => "metadata",
        Permission::Subscribe => "subscribe",
    }
}

/// `90`, `90s`, `15m`, `12h`, `30d`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 3600, 90m, 12h, 30d)"))?;
    let secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unknown unit in {s:?} (s, m, h, d)")),
    };
    n.checked_mul(secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is too long"))
}

/// The new password: STRATA_NEW_PASSWORD, one stdin line, or a prompt.
fn new_password(p: &NewPassword) -> anyhow::Result<String> {
    if p.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        let pw = line.trim_end_matches(['\n', '\r']).to_owned();
        if pw.is_empty() {
            bail!("the password on stdin is empty");
        }
        return Ok(pw);
    }
    if let Ok(pw) = std::env::var("STRATA_NEW_PASSWORD") {
        return Ok(pw);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no new password: set STRATA_NEW_PASSWORD or pass --password-stdin");
    }
    let pw = rpassword::prompt_password("new password: ").context("reading the password")?;
    let again = rpassword::prompt_password("again: ").context("reading the password")?;
    if pw != again {
        bail!("the passwords differ");
    }
    Ok(pw)
}

fn user_json(u: &UserInfo) -> Value {
    json!({"name": u.name, "roles": u.roles, "enabled": u.enabled, "auth_enabled": u.auth_enabled})
}

fn print_user(u: &UserInfo, json: bool) -> anyhow::Result<()> {
    if json {
        output::json_line(&user_json(u))?;
    } else {
        let roles = if u.roles.is_empty() {
            "-".to_owned()
        } else {
            u.roles.join(", ")
        };
        output::line(&format!(
            "user:     {}\nroles:    {roles}\nenabled:  {}\nauth:     {}",
            u.name,
            if u.enabled { "yes" } else { "no" },
            if u.auth_enabled { "on" } else { "off" },
        ))?;
    }
    Ok(())
}

fn expiry(micros: Option<i64>) -> String {
    micros.map_or_else(|| "never".to_owned(), output::format_micros)
}

fn token_json(t: &TokenInfo) -> Value {
    json!({"id": t.id, "user": t.user, "description": t.description,
           "created_micros": t.created_micros, "expires_micros": t.expires_micros})
}

fn grant_json(g: &Grant) -> Value {
    let perms: Vec<&str> = g.permissions.iter().map(|p| permission_name(*p)).collect();
    json!({"id": g.id, "principal": g.principal, "stream_prefix": g.stream_prefix, "permissions": perms})
}

/// `strata whoami`.
pub async fn whoami(a: WhoAmIArgs) -> Outcome {
    let client = a.conn.client().await?;
    print_user(&client.who_am_i().await?, a.json)?;
    Ok(())
}

/// `strata user …`.
pub async fn user(a: UserArgs) -> Outcome {
    // Read the password before connecting: a prompt must not race the
    // connection's timeout.
    let password = match &a.command {
        UserCommand::Add { password, .. } | UserCommand::Passwd { password, .. } => {
            Some(new_password(password)?)
        }
        _ => None,
    };
    let client = a.conn.client().await?;
    match &a.command {
        UserCommand::Add { name, roles, .. } => {
            let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
            let pw = password.ok_or_else(|| anyhow!("no password"))?;
            print_user(&client.add_user(name, &pw, &roles).await?, a.json)?;
        }
        UserCommand::Passwd { name, .. } => {
            let pw = password.ok_or_else(|| anyhow!("no password"))?;
            // A user changing their own password proves the current one:
            // the password they connected with.
            let current = a.conn.password.clone().unwrap_or_default();
            client.change_password(name, &current, &pw).await?;
            if a.json {
                output::json_line(&json!({"name": name, "password_changed": true}))?;
            } else {
                output::line(&format!("password of {name} changed"))?;
            }
        }
        UserCommand::Disable { name } => {
            print_user(&client.set_user_enabled(name, false).await?, a.json)?
        }
        UserCommand::Enable { name } => {
            print_user(&client.set_user_enabled(name, true).await?, a.json)?
        }
        UserCommand::Roles { name, roles } => {
            let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
            print_user(&client.set_user_roles(name, &roles).await?, a.json)?;
        }
        UserCommand::List => {
            let users = client.list_users().await?;
            if a.json {
                for u in &users {
                    output::json_line(&user_json(u))?;
                }
            } else {
                let rows: Vec<Vec<String>> = users
                    .iter()
                    .map(|u| {
                        vec![
                            u.name.clone(),
                            u.roles.join(","),
                            (if u.enabled { "yes" } else { "no" }).to_owned(),
                        ]
                    })
                    .collect();
                output::line(&output::table(
                    &["USER", "ROLES", "ENABLED"],
                    &rows,
                    output::color_stdout(),
                ))?;
            }
        }
    }
    Ok(())
}

/// `strata token …`.
pub async fn token(a: TokenArgs) -> Outcome {
    let client = a.conn.client().await?;
    match &a.command {
        TokenCommand::Create {
            user,
            expires_in,
            description,
        } => {
            let t = client.create_token(user, *expires_in, description).await?;
            if a.json {
                output::json_line(&json!({"id": t.id, "token": t.token,
                                          "expires_micros": t.expires_micros}))?;
            } else {
                output::line(&format!(
                    "token:    {}\nid:       {}\nexpires:  {}\n(shown once: it is stored only hashed)",
                    t.token,
                    t.id,
                    expiry(t.expires_micros)
                ))?;
            }
        }
        TokenCommand::Revoke { id } => {
            client.revoke_token(id).await?;
            if a.json {
                output::json_line(&json!({"id": id, "revoked": true}))?;
            } else {
                output::line(&format!("revoked token {id}"))?;
            }
        }
        TokenCommand::List { user } => {
            let tokens = client.list_tokens(user).await?;
            if a.json {
                for t in &tokens {
                    output::json_line(&token_json(t))?;
                }
            } else {
                let rows: Vec<Vec<String>> = tokens
                    .iter()
                    .map(|t| {
                        vec![
                            t.id.clone(),
                            t.user.clone(),
                            output::format_micros(t.created_micros),
                            expiry(t.expires_micros),
                            t.description.clone(),
                        ]
                    })
                    .collect();
                output::line(&output::table(
                    &["ID", "USER", "CREATED", "EXPIRES", "DESCRIPTION"],
                    &rows,
                    output::color_stdout(),
                ))?;
            }
        }
    }
    Ok(())
}

/// `strata grant …`.
pub async fn grant(a: GrantArgs) -> Outcome {
    let client = a.conn.client().await?;
    match &a.command {
        GrantCommand::Add {
            principal,
            prefix,
            permissions,
        } => {
            let g = client.grant(principal, prefix, permissions).await?;
            if a.json {
                output::json_line(&grant_json(&g))?;
            } else {
                output::line(&format!("granted {}", grant_line(&g)))?;
            }
        }
        GrantCommand::Revoke { id } => {
            client.revoke_grant(id).await?;
            if a.json {
                output::json_line(&json!({"id": id, "revoked": true}))?;
            } else {
                output::line(&format!("revoked grant {id}"))?;
            }
        }
        GrantCommand::List => {
            let grants = client.list_grants().await?;
            if a.json {
                for g in &grants {
                    output::json_line(&grant_json(g))?;
                }
            } else {
                let rows: Vec<Vec<String>> = grants
                    .iter()
                    .map(|g| {
                        vec![
                            g.id.clone(),
                            g.principal.clone(),
                            prefix_text(&g.stream_prefix),
                            perms_text(g),
                        ]
                    })
                    .collect();
                output::line(&output::table(
                    &["ID", "PRINCIPAL", "PREFIX", "PERMISSIONS"],
                    &rows,
                    output::color_stdout(),
                ))?;
            }
        }
    }
    Ok(())
}

fn prefix_text(p: &str) -> String {
    if p.is_empty() {
        "(every stream)".to_owned()
    } else {
        format!("{p}*")
    }
}

fn perms_text(g: &Grant) -> String {
    let p: Vec<&str> = g.permissions.iter().map(|p| permission_name(*p)).collect();
    p.join(",")
}

fn grant_line(g: &Grant) -> String {
    format!(
        "{} on {} to {} (id {})",
        perms_text(g),
        prefix_text(&g.stream_prefix),
        g.principal,
        g.id
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(2_592_000)
        );
        assert!(parse_duration("3w").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn permissions_parse_by_name() {
        assert_eq!(
            parse_permission("subscribe").unwrap(),
            Permission::Subscribe
        );
        assert!(parse_permission("admin").is_err());
    }
}
