//! Security: who the caller is (authentication), what it may do
//! (authorization, [`authz`]), and who did what ([`Node::audit`]).
//!
//! Every change — a user, a password, a role, a token, a grant — is a
//! record in `$security` ([`records`]), written through the log like any
//! event and applied to the in-memory [`SecurityState`] once durable; at
//! start-up the state is rebuilt by reading the stream. Changes are
//! serialised (one at a time), so "check, then write" cannot race.
//!
//! When is authentication on? When the server listens with TLS or on a
//! non-loopback address ("required"), or as soon as any user exists.
//! Otherwise — the loopback default of a fresh store — every caller is an
//! anonymous admin, and the first user added must be an admin, which turns
//! authentication on. A server that requires authentication but has no
//! users creates `admin` from a bootstrap password, or refuses to start.
//!
//! Credentials: HTTP basic (argon2id-verified, successes cached,
//! `passwords`), bearer tokens (SHA-256 looked up), or a client
//! certificate's common name (mTLS, verified by the TLS layer). Failures
//! look the same and take as long whether or not the user exists, and
//! repeated failures from one address are slowed down (`throttle`).
//!
//! Not here: decoding credentials from a wire (`api::auth`), TLS (`tls`),
//! the administrative operations (`manage`).

pub mod authz;
mod manage;
pub mod model;
mod passwords;
pub mod records;
mod throttle;

pub use authz::{still_covers, Access, Caller, Need, TokenUse};
pub use manage::{NewToken, UserView};
pub use model::{Grant, Permission, Token, ROLE_ADMIN};

use super::{blocking, Error, Node};
use model::SecurityState;
use records::{AuditRecord, SecurityRecord, AUDIT_STREAM, SECURITY_STREAM};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;
use strata_storage::{Direction, ExpectedRevision, StreamAppend, StreamFrom, Write};
use tokio::sync::watch;

/// The user a bootstrap password creates.
pub const BOOTSTRAP_ADMIN: &str = "admin";

/// Credentials as an adapter decoded them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    None,
    Basic {
        user: String,
        password: String,
    },
    Bearer(String),
    /// The common name of a client certificate the TLS layer verified.
    ClientCertificate(String),
}

/// How the server was started, as far as security cares.
#[derive(Debug, Clone, Default)]
pub struct SecurityConfig {
    /// TLS is on or the address is not loopback: no anonymous access.
    pub auth_required: bool,
    /// Creates `admin` with this password when authentication is required
    /// and no user exists.
    pub bootstrap_admin_password: Option<String>,
}

/// The security state a node shares between requests.
#[derive(Debug)]
pub struct Security {
    state: RwLock<SecurityState>,
    /// One change at a time.
    change: tokio::sync::Mutex<()>,
    auth_required: AtomicBool,
    verified: passwords::VerifiedCache,
    /// Permits for argon2 runs (`MAX_CONCURRENT_PASSWORD_VERIFICATIONS`).
    verifying: tokio::sync::Semaphore,
    throttle: throttle::Throttle,
    /// Bumped after each applied change (open subscriptions re-check).
    changed: watch::Sender<u64>,
}

impl Default for Security {
    fn default() -> Security {
        Security {
            state: RwLock::default(),
            change: tokio::sync::Mutex::new(()),
            auth_required: AtomicBool::new(false),
            verified: passwords::VerifiedCache::default(),
            verifying: tokio::sync::Semaphore::new(
                passwords::MAX_CONCURRENT_PASSWORD_VERIFICATIONS,
            ),
            throttle: throttle::Throttle::default(),
            changed: watch::channel(0).0,
        }
    }
}

impl Security {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, SecurityState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn apply(&self, r: SecurityRecord) {
        let generation = {
            let mut s = self.state.write().unwrap_or_else(|p| p.into_inner());
            s.apply(r);
            s.generation
        };
        self.changed.send_replace(generation);
    }
}

impl Node {
    /// Rebuilds users, tokens and grants from `$security`, then applies
    /// `cfg` (creating the bootstrap admin if needed). Returns the number of
    /// users. Must run before the server accepts requests.
    pub async fn start_security(&self, cfg: SecurityConfig) -> Result<usize, Error> {
        let store = self.store.clone();
        let events = blocking(move || {
            match store.read_stream(
                SECURITY_STREAM,
                StreamFrom::Start,
                Direction::Forwards,
                usize::MAX,
            ) {
                Err(strata_storage::Error::StreamNotFound(_)) => Ok(Vec::new()),
                r => r,
            }
        })
        .await?;
        for e in &events {
            match SecurityRecord::from_event(e) {
                Some(r) => self.security.apply(r),
                None => tracing::warn!(
                    revision = e.revision,
                    "a $security record does not decode; skipped"
                ),
            }
        }
        self.security
            .auth_required
            .store(cfg.auth_required, Ordering::Relaxed);
        let users = self.security.read().users.len();
        if cfg.auth_required && users == 0 {
            let Some(password) = cfg.bootstrap_admin_password else {
                return Err(Error::InvalidRequest(
                    "authentication is required (TLS is on or the address is not loopback) and \
                     no user exists: set STRATA_ADMIN_PASSWORD (or --admin-password-file) to \
                     create the first admin, or add one first on a loopback address"
                        .into(),
                ));
            };
            // The audit trail names the bootstrap as the one who did it.
            let bootstrap = Caller {
                user: Some("$bootstrap".into()),
                ..Caller::anonymous(None)
            };
            self.add_user(
                &bootstrap,
                BOOTSTRAP_ADMIN,
                &password,
                vec![ROLE_ADMIN.into()],
            )
            .await?;
            tracing::warn!(
                user = BOOTSTRAP_ADMIN,
                "created the first admin from the bootstrap password; change it"
            );
            return Ok(1);
        }
        Ok(users)
    }

    /// Whether requests must carry credentials.
    pub fn auth_enabled(&self) -> bool {
        self.security.auth_required.load(Ordering::Relaxed)
            || !self.security.read().users.is_empty()
    }

    /// Turns `credentials` from `peer` into a [`Caller`], or
    /// [`Error::AuthenticationFailed`].
    pub async fn authenticate(
        &self,
        credentials: Credentials,
        peer: Option<SocketAddr>,
    ) -> Result<Caller, Error> {
        if !self.auth_enabled() {
            return Ok(Caller::anonymous(peer));
        }
        let ip = peer.map(|p| p.ip());
        if let Some(ip) = ip {
            let wait = self.security.throttle.delay(ip, Instant::now());
            if !wait.is_zero() {
                tracing::debug!(%ip, ?wait, "slowing down a peer after failed logins");
                tokio::time::sleep(wait).await;
            }
        }
        let mut token_use = None;
        let user = match credentials {
            Credentials::None => None,
            Credentials::Basic { user, password } => self.verify_password(user, password).await?,
            Credentials::Bearer(token) => self.verify_token(&token).map(|(user, t)| {
                token_use = Some(t);
                user
            }),
            Credentials::ClientCertificate(name) => self.enabled_user(&name).then_some(name),
        };
        let Some(name) = user else {
            if let Some(ip) = ip {
                self.security.throttle.failed(ip, Instant::now());
            }
            return Err(Error::AuthenticationFailed);
        };
        if let Some(ip) = ip {
            self.security.throttle.succeeded(ip);
        }
        let access = self.access_of(&name).ok_or(Error::AuthenticationFailed)?;
        Ok(Caller {
            user: Some(name),
            peer,
            access: Arc::new(access),
            token: token_use,
        })
    }

    fn enabled_user(&self, name: &str) -> bool {
        self.security
            .read()
            .users
            .get(name)
            .is_some_and(|u| u.enabled)
    }

    /// The user's name if `password` is theirs and they are enabled. Takes
    /// one argon2 verification unless this exact pair verified before (for
    /// a missing user, against a decoy hash: the same time).
    async fn verify_password(
        &self,
        user: String,
        password: String,
    ) -> Result<Option<String>, Error> {
        if password.len() > passwords::MAX_PASSWORD_BYTES {
            return Ok(None);
        }
        let sha = passwords::sha256_hex(&password);
        let known = self
            .security
            .read()
            .users
            .get(&user)
            .map(|u| (u.password_hash.clone(), u.generation, u.enabled));
        let cached = |known: &Option<(String, u64, bool)>| {
            matches!(known, Some((_, generation, true))
                if self.security.verified.hit(&user, &sha, *generation))
        };
        if cached(&known) {
            return Ok(Some(user));
        }
        let _permit = self
            .security
            .verifying
            .acquire()
            .await
            .map_err(|e| Error::Internal(format!("password check failed: {e}")))?;
        // The same credentials may have been verified while this waited.
        if cached(&known) {
            return Ok(Some(user));
        }
        let hash = known
            .as_ref()
            .map_or_else(|| passwords::decoy_hash().to_owned(), |k| k.0.clone());
        let ok = tokio::task::spawn_blocking(move || passwords::verify(&password, &hash))
            .await
            .map_err(|e| Error::Internal(format!("password check failed: {e}")))?;
        match known {
            Some((_, generation, true)) if ok => {
                self.security.verified.insert(&user, sha, generation);
                Ok(Some(user))
            }
            _ => Ok(None),
        }
    }

    /// The token's user if the token exists, has not expired, and its user
    /// is enabled.
    fn verify_token(&self, token: &str) -> Option<(String, TokenUse)> {
        let sha = passwords::sha256_hex(token);
        let s = self.security.read();
        let t = s.tokens.get(s.token_by_hash.get(&sha)?)?;
        let now = strata_storage::clock::now_micros();
        if t.expires_micros.is_some_and(|e| e <= now) {
            return None;
        }
        let user = s.users.get(&t.user).filter(|u| u.enabled)?;
        Some((
            user.name.clone(),
            TokenUse {
                id: t.id.clone(),
                expires_micros: t.expires_micros,
            },
        ))
    }

    /// What `user` may do now; `None` if they no longer exist or are
    /// disabled.
    pub fn access_of(&self, user: &str) -> Option<Access> {
        let s = self.security.read();
        let u = s.users.get(user).filter(|u| u.enabled)?;
        let grants = s
            .grants_of(u)
            .map(|g| (g.prefix.clone(), g.permissions.clone()))
            .collect();
        Some(Access::of(&u.roles, grants))
    }

    /// Resolves once `caller` may no longer do what `still` checks:
    /// re-checked after every change of users, tokens or grants (so within
    /// the time a change takes to commit), and when the caller's token
    /// expires. An anonymous caller loses everything when authentication
    /// turns on; a user, when disabled or removed; a token's caller, when
    /// the token is revoked. Never resolves while the permission holds.
    pub async fn revoked(&self, caller: &Caller, still: impl Fn(&Access) -> bool) {
        let mut changes = self.security.changed.subscribe();
        let expiry = caller
            .token
            .as_ref()
            .and_then(|t| t.expires_micros)
            .map(|e| {
                let left = e.saturating_sub(strata_storage::clock::now_micros()).max(0);
                tokio::time::Instant::now() + std::time::Duration::from_micros(left as u64)
            });
        loop {
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return std::future::pending().await;
                    }
                }
                () = async {
                    match expiry {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => {
                    tracing::info!(user = caller.name(), "token expired under an open stream; ending it");
                    return;
                }
            }
            if !self.access_now(caller).is_some_and(|a| still(&a)) {
                tracing::info!(
                    user = caller.name(),
                    "permissions changed under an open stream; ending it"
                );
                return;
            }
        }
    }

    /// What `caller` may do as of now (users, tokens and grants may have
    /// changed since it was authenticated): `None` for an anonymous caller
    /// once authentication is on, a user disabled or removed, or a token
    /// revoked or expired.
    pub fn access_now(&self, caller: &Caller) -> Option<Access> {
        if let Some(t) = &caller.token {
            let now = strata_storage::clock::now_micros();
            let live = self.security.read().tokens.contains_key(&t.id)
                && t.expires_micros.is_none_or(|e| e > now);
            if !live {
                return None;
            }
        }
        match &caller.user {
            None if self.auth_enabled() => None,
            None => Some(Access::everything()),
            Some(name) => self.access_of(name),
        }
    }

    /// A number that changes whenever users, tokens or grants change, so a
    /// long-lived call can tell cheaply whether to call
    /// [`Node::access_now`] again.
    pub fn security_generation(&self) -> u64 {
        *self.security.changed.borrow()
    }

    /// Writes one `$security` record and applies it once durable.
    async fn write_security(&self, r: SecurityRecord) -> Result<(), Error> {
        let write = Write::Append(vec![StreamAppend {
            stream: SECURITY_STREAM.to_owned(),
            expected: ExpectedRevision::Any,
            events: vec![r.to_event()],
        }]);
        self.submit_system(write).await?;
        self.security.apply(r);
        Ok(())
    }

    /// Records in `$audit` that `caller` did `action` to `target` with
    /// `outcome` (`ok` or an error kind). Written after the operation: a
    /// crash in between can lose the audit record, never the operation's
    /// own record. A failed audit write is logged, not returned.
    pub async fn audit(&self, caller: &Caller, action: &str, target: &str, outcome: &str) {
        let record = AuditRecord {
            user: caller.name().to_owned(),
            peer: caller.peer.map(|p| p.to_string()),
            action: action.to_owned(),
            target: target.to_owned(),
            outcome: outcome.to_owned(),
        };
        tracing::info!(
            user = %record.user,
            peer = ?record.peer,
            action,
            target,
            outcome,
            "audit"
        );
        let write = Write::Append(vec![StreamAppend {
            stream: AUDIT_STREAM.to_owned(),
            expected: ExpectedRevision::Any,
            events: vec![record.to_event()],
        }]);
        if let Err(e) = self.submit_system(write).await {
            tracing::error!(error = %e, action, target, "writing the audit record failed");
        }
    }

    /// [`Node::audit`] of an operation's result (`ok`, or the error's
    /// kind), passing the result through.
    pub async fn audited<T>(
        &self,
        caller: &Caller,
        action: &str,
        target: &str,
        r: Result<T, Error>,
    ) -> Result<T, Error> {
        let outcome = match &r {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("failed: {e}"),
        };
        self.audit(caller, action, target, &outcome).await;
        r
    }
}
