//! Security against the real binary: real TLS handshakes (the dev CA, a
//! wrong CA, an expired certificate, plaintext against TLS and back),
//! certificate reload under connected clients, mutual TLS mapping a client
//! certificate to its user, a permission matrix over the RPCs with refused
//! writes leaving the log untouched, `$all` filtered by permission, tokens
//! revoked and expiring, open subscriptions ended by a revoke, the audit
//! trail, and failed logins costing the same and slowing down.

mod common;

use common::{error_kind, Server};
use futures::{StreamExt, TryStreamExt};
use std::path::Path;
use std::time::{Duration, Instant};
use strata_client::{
    Client, ClientBuilder, Error, EventData, ExpectedRevision, Filter, Permission, ReadAllOptions,
    ReadOptions, RetryPolicy, SubscribeFrom, SubscriptionItem,
};

const ADMIN_PASSWORD: &str = "admin-password-1";

fn certs(dir: &Path, clients: &[&str]) {
    let mut args = vec!["certs", "dev", "--out", dir.to_str().unwrap()];
    for c in clients {
        args.extend(["--client", c]);
    }
    let out = std::process::Command::new(common::STRATA)
        .args(&args)
        .output()
        .expect("run strata certs dev");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A TLS server (auth on, `admin` bootstrapped) with certificates in `dir`.
fn tls_server(dir: &Path, extra: &[&str]) -> Server {
    std::fs::write(dir.join("admin-password"), ADMIN_PASSWORD).unwrap();
    let (cert, key, pw) = (
        dir.join("server.pem"),
        dir.join("server.key"),
        dir.join("admin-password"),
    );
    let mut args = vec![
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--admin-password-file",
        pw.to_str().unwrap(),
    ];
    args.extend(extra);
    Server::start_with_args(&args)
}

fn tls_builder(server: &Server, ca: &Path) -> ClientBuilder {
    Client::builder(format!("https://localhost:{}", server.addr.port()))
        .tls_ca_pem(std::fs::read(ca).unwrap())
        .retry_policy(RetryPolicy::none())
        .connect_timeout(Duration::from_secs(5))
}

async fn admin_over_tls(server: &Server, ca: &Path) -> Client {
    tls_builder(server, ca)
        .basic_auth("admin", ADMIN_PASSWORD)
        .connect()
        .await
        .expect("an admin connects over TLS")
}

fn one(ty: &str) -> Vec<EventData> {
    vec![EventData::binary(ty, vec![1])]
}

#[tokio::test]
async fn tls_works_with_the_dev_ca_and_fails_clearly_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    certs(dir.path(), &[]);
    let server = tls_server(dir.path(), &[]);
    let admin = admin_over_tls(&server, &dir.path().join("ca.pem")).await;
    admin
        .append("tls-1", ExpectedRevision::NoStream, one("T"))
        .await
        .unwrap();
    // No credentials over TLS: the handshake works, the call is refused.
    let anon = tls_builder(&server, &dir.path().join("ca.pem"))
        .connect()
        .await
        .unwrap();
    let e = anon.server_info().await.unwrap_err();
    assert!(matches!(e, Error::Unauthenticated { .. }), "{e:?}");
    // Another CA: the server's certificate is not trusted.
    let other = tempfile::tempdir().unwrap();
    certs(other.path(), &[]);
    let e = tls_builder(&server, &other.path().join("ca.pem"))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Transport(_)), "{e:?}");
    // Plaintext against the TLS port, and TLS against a plaintext port.
    let e = Client::builder(server.url())
        .retry_policy(RetryPolicy::none())
        .connect()
        .await;
    match e {
        Err(Error::Transport(_)) => {}
        Ok(c) => assert!(
            c.server_info().await.is_err(),
            "plaintext must not get through"
        ),
        Err(other) => panic!("{other:?}"),
    }
    let plain = Server::start();
    let e = tls_builder(&plain, &dir.path().join("ca.pem"))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Transport(_)), "{e:?}");
    // Python's grpcio with the same CA and credentials (the example the
    // README shows) runs in scripts/test-all.sh against a TLS server.
}

#[tokio::test]
async fn an_expired_server_certificate_is_refused() {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::default();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let mut leaf = CertificateParams::default();
    leaf.subject_alt_names = vec![SanType::DnsName("localhost".try_into().unwrap())];
    let now = time::OffsetDateTime::now_utc();
    leaf.not_before = now - time::Duration::days(30);
    leaf.not_after = now - time::Duration::days(1);
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &Issuer::new(ca, ca_key)).unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.path().join("server.pem"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
    let server = tls_server(dir.path(), &[]);
    let e = tls_builder(&server, &dir.path().join("ca.pem"))
        .connect()
        .await
        .unwrap_err();
    assert!(format!("{e:?}").to_lowercase().contains("expired"), "{e:?}");
}

#[tokio::test]
async fn certificates_reload_while_clients_stay_connected() {
    let dir = tempfile::tempdir().unwrap();
    certs(dir.path(), &[]);
    let server = tls_server(dir.path(), &[]);
    let first = admin_over_tls(&server, &dir.path().join("ca.pem")).await;
    first
        .append("reload", ExpectedRevision::Any, one("Before"))
        .await
        .unwrap();
    // A new CA and server certificate replace the files.
    let next = tempfile::tempdir().unwrap();
    certs(next.path(), &[]);
    for f in ["server.pem", "server.key"] {
        std::fs::copy(next.path().join(f), dir.path().join(f)).unwrap();
    }
    let fresh = common::eventually(Duration::from_secs(15), "the new certificate", || async {
        tls_builder(&server, &next.path().join("ca.pem"))
            .basic_auth("admin", ADMIN_PASSWORD)
            .connect()
            .await
            .ok()
    })
    .await;
    fresh
        .append("reload", ExpectedRevision::Any, one("New"))
        .await
        .unwrap();
    // The open connection keeps its session; new ones with the old CA fail.
    first
        .append("reload", ExpectedRevision::Any, one("Still"))
        .await
        .unwrap();
    assert!(tls_builder(&server, &dir.path().join("ca.pem"))
        .connect()
        .await
        .is_err());
    // A broken file keeps the current certificate.
    std::fs::write(dir.path().join("server.pem"), "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    tls_builder(&server, &next.path().join("ca.pem"))
        .basic_auth("admin", ADMIN_PASSWORD)
        .connect()
        .await
        .expect("the last good certificate still serves");
    assert!(
        server.logs().contains("keeping the previous ones"),
        "{}",
        server.logs()
    );
}

#[tokio::test]
async fn mutual_tls_refuses_clients_without_a_certificate_and_maps_one_to_its_user() {
    let dir = tempfile::tempdir().unwrap();
    certs(dir.path(), &["alice"]);
    let ca = dir.path().join("ca.pem");
    let server = tls_server(dir.path(), &["--tls-client-ca", ca.to_str().unwrap()]);
    let e = tls_builder(&server, &ca).connect().await;
    match e {
        Err(Error::Transport(_)) => {}
        Ok(c) => assert!(c.server_info().await.is_err(), "no certificate, no service"),
        Err(other) => panic!("{other:?}"),
    }
    let alice_cert = std::fs::read(dir.path().join("client-alice.pem")).unwrap();
    let alice_key = std::fs::read(dir.path().join("client-alice.key")).unwrap();
    let admin = tls_builder(&server, &ca)
        .tls_client_identity(alice_cert.clone(), alice_key.clone())
        .basic_auth("admin", ADMIN_PASSWORD)
        .connect()
        .await
        .unwrap();
    admin
        .add_user("alice", "alice-password", &["billing"])
        .await
        .unwrap();
    let alice = tls_builder(&server, &ca)
        .tls_client_identity(alice_cert, alice_key)
        .connect()
        .await
        .unwrap();
    let me = alice.who_am_i().await.unwrap();
    assert_eq!(
        (me.name.as_str(), me.roles.as_slice()),
        ("alice", &["billing".to_owned()][..])
    );
}

async fn as_user(server: &Server, user: &str, password: &str) -> Client {
    Client::builder(server.url())
        .basic_auth(user, password)
        .retry_policy(RetryPolicy::none())
        .connect()
        .await
        .unwrap()
}

/// How `sub` ends (within 10 s): the error's [`code`].
async fn ends(
    mut sub: impl futures::Stream<Item = Result<SubscriptionItem, Error>> + Unpin,
) -> &'static str {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match sub.next().await {
                Some(Err(e)) => return code(&e),
                Some(Ok(_)) => continue,
                None => return "ended without an error",
            }
        }
    })
    .await
    .expect("the subscription ends")
}

fn code(e: &Error) -> &'static str {
    match e {
        Error::Unauthenticated { .. } => "unauthenticated",
        Error::PermissionDenied { .. } => "denied",
        _ => "other",
    }
}

#[tokio::test]
async fn the_permission_matrix_holds_and_refused_writes_change_nothing() {
    let server = Server::start();
    let anon = server.client_no_retry().await;
    assert!(!anon.who_am_i().await.unwrap().auth_enabled);
    let e = anon
        .add_user("reader", "reader-password", &[])
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidArgument { .. }),
        "the first user must be an admin: {e:?}"
    );
    anon.add_user("root", "root-password", &["admin"])
        .await
        .unwrap();
    // Authentication is on now, for this loopback server too; the probes
    // stay open, /metrics needs credentials.
    assert_eq!(
        code(&anon.server_info().await.unwrap_err()),
        "unauthenticated"
    );
    assert_eq!(
        common::http_get(server.addr, "/health/ready", "*/*").status,
        200
    );
    let m = common::http_get(server.addr, "/metrics", "*/*");
    assert_eq!(m.status, 401, "{}", m.body);
    assert_eq!(m.header("www-authenticate"), Some("Basic realm=\"strata\""));
    let root = as_user(&server, "root", "root-password").await;
    root.add_user("reader", "reader-password", &["billing"])
        .await
        .unwrap();
    root.add_user("writer", "writer-password", &[])
        .await
        .unwrap();
    root.add_user("operator", "operator-password", &["ops"])
        .await
        .unwrap();
    root.add_user("nobody", "nobody-password", &[])
        .await
        .unwrap();
    root.grant(
        "role:billing",
        "order-",
        &[Permission::Read, Permission::Subscribe],
    )
    .await
    .unwrap();
    root.grant("user:writer", "order-", &[Permission::Write])
        .await
        .unwrap();
    for s in ["order-1", "invoice-1"] {
        root.append(s, ExpectedRevision::Any, one("Seed"))
            .await
            .unwrap();
    }
    let reader = as_user(&server, "reader", "reader-password").await;
    let writer = as_user(&server, "writer", "writer-password").await;
    let operator = as_user(&server, "operator", "operator-password").await;
    let nobody = as_user(&server, "nobody", "nobody-password").await;
    let audits = |c: &Client| {
        let c = c.clone();
        async move {
            c.read_stream("$audit", ReadOptions::forwards())
                .try_collect::<Vec<_>>()
                .await
                .unwrap()
                .len() as u64
        }
    };
    let head = root.server_info().await.unwrap().head_position;
    let audited_before = audits(&root).await;

    let read = |c: &Client, s: &'static str| {
        let c = c.clone();
        async move {
            c.read_stream(s, ReadOptions::forwards())
                .try_collect::<Vec<_>>()
                .await
                .map(|_| ())
        }
    };
    let append = |c: &Client, s: &'static str| {
        let c = c.clone();
        async move {
            c.append(s, ExpectedRevision::Any, one("X"))
                .await
                .map(|_| ())
        }
    };
    // (who, what, allowed)
    assert!(read(&reader, "order-1").await.is_ok());
    assert_eq!(
        code(&read(&reader, "invoice-1").await.unwrap_err()),
        "denied"
    );
    assert_eq!(
        code(&append(&reader, "order-1").await.unwrap_err()),
        "denied"
    );
    assert!(append(&writer, "order-2").await.is_ok());
    assert_eq!(
        code(&append(&writer, "invoice-2").await.unwrap_err()),
        "denied"
    );
    assert_eq!(code(&read(&writer, "order-1").await.unwrap_err()), "denied");
    assert_eq!(code(&read(&nobody, "order-1").await.unwrap_err()), "denied");
    assert_eq!(
        code(&append(&nobody, "order-1").await.unwrap_err()),
        "denied"
    );
    assert_eq!(
        code(
            &writer
                .delete_stream("order-2", ExpectedRevision::Any)
                .await
                .unwrap_err()
        ),
        "denied"
    );
    assert_eq!(
        code(&reader.start_scavenge(None).await.unwrap_err()),
        "denied"
    );
    assert!(operator.scavenge_status().await.is_ok());
    assert_eq!(
        code(
            &operator
                .add_user("x", "x-password-1", &[])
                .await
                .unwrap_err()
        ),
        "denied"
    );
    assert_eq!(code(&reader.list_users().await.unwrap_err()), "denied");
    assert_eq!(code(&read(&reader, "$audit").await.unwrap_err()), "denied");
    assert_eq!(
        code(&read(&operator, "$security").await.unwrap_err()),
        "denied"
    );
    // Refused writes left the log as it was: only writer's one append and
    // the audit records of refused admin calls were added.
    let audited = audits(&root).await - audited_before;
    assert!(audited >= 1, "the refused scavenge is audited");
    assert_eq!(
        root.server_info().await.unwrap().head_position,
        head + 1 + audited
    );
    // Bad passwords and unknown users.
    let wrong = as_user(&server, "reader", "not-the-password").await;
    assert_eq!(
        code(&wrong.server_info().await.unwrap_err()),
        "unauthenticated"
    );
    let ghost = as_user(&server, "ghost", "whatever-password").await;
    assert_eq!(
        code(&ghost.server_info().await.unwrap_err()),
        "unauthenticated"
    );

    // $all shows the reader only order-* streams; a subscription too, with
    // checkpoints advancing over the rest.
    let all: Vec<_> = reader
        .read_all(ReadAllOptions::forwards())
        .try_collect()
        .await
        .unwrap();
    assert!(
        !all.is_empty() && all.iter().all(|e| e.stream.starts_with("order-")),
        "{all:?}"
    );
    let listed = reader.list_streams_page("", None, 100).await.unwrap();
    assert!(
        listed.streams.iter().all(|s| s.name.starts_with("order-")),
        "{listed:?}"
    );
    let mut sub = reader.subscribe_to_all(SubscribeFrom::Start, Filter::default());
    let mut seen = Vec::new();
    while let Some(item) = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .unwrap()
    {
        match item.unwrap() {
            SubscriptionItem::Event(e) => seen.push(e.stream),
            SubscriptionItem::CaughtUp(_) => break,
            _ => {}
        }
    }
    assert!(
        !seen.is_empty() && seen.iter().all(|s| s.starts_with("order-")),
        "{seen:?}"
    );

    // Revoking the grant ends the open subscription with PERMISSION_DENIED.
    let grants = root.list_grants().await.unwrap();
    let g = grants
        .iter()
        .find(|g| g.principal == "role:billing")
        .unwrap();
    let mut stream_sub = Client::builder(server.url())
        .basic_auth("reader", "reader-password")
        .retry_policy(RetryPolicy::none())
        .connect()
        .await
        .unwrap()
        .subscribe_to_stream("order-1", SubscribeFrom::Start);
    loop {
        if let SubscriptionItem::CaughtUp(_) = stream_sub.next().await.unwrap().unwrap() {
            break;
        }
    }
    root.revoke_grant(&g.id).await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream_sub.next().await {
                Some(Err(e)) => return Some(e),
                Some(Ok(_)) => continue,
                None => return None,
            }
        }
    })
    .await
    .expect("the subscription ends after the revoke");
    assert_eq!(code(&ended.expect("with an error")), "denied");
    assert_eq!(
        code(&read(&reader, "order-1").await.unwrap_err()),
        "denied",
        "new requests at once"
    );
}

#[tokio::test]
async fn tokens_work_until_revoked_or_expired_and_disabled_users_are_refused() {
    let server = Server::start();
    let anon = server.client_no_retry().await;
    anon.add_user("root", "root-password", &["admin"])
        .await
        .unwrap();
    let root = as_user(&server, "root", "root-password").await;
    root.add_user("svc", "svc-password-1", &["admin"])
        .await
        .unwrap();
    let token = root.create_token("svc", None, "ci").await.unwrap();
    let short = root
        .create_token("svc", Some(Duration::from_secs(1)), "short")
        .await
        .unwrap();
    let by_token = |t: &str| {
        Client::builder(server.url())
            .bearer_token(t)
            .retry_policy(RetryPolicy::none())
            .connect_lazy()
            .unwrap()
    };
    assert_eq!(by_token(&token.token).who_am_i().await.unwrap().name, "svc");
    assert_eq!(by_token(&short.token).who_am_i().await.unwrap().name, "svc");
    let listed = root.list_tokens("svc").await.unwrap();
    assert_eq!(listed.len(), 2);
    // Subscriptions opened with each token, caught up.
    let mut subs = Vec::new();
    for t in [&token.token, &short.token] {
        let mut sub = by_token(t).subscribe_to_all(SubscribeFrom::Start, Filter::default());
        loop {
            if let SubscriptionItem::CaughtUp(_) = sub.next().await.unwrap().unwrap() {
                break;
            }
        }
        subs.push(sub);
    }
    let mut subs = subs.into_iter();
    let (with_token, with_short) = (subs.next().unwrap(), subs.next().unwrap());
    // The short token expires: new calls are refused, its stream ends.
    assert_eq!(ends(with_short).await, "denied", "at expiry");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        code(&by_token(&short.token).who_am_i().await.unwrap_err()),
        "unauthenticated"
    );
    // Revoked: the same, at once.
    root.revoke_token(&token.id).await.unwrap();
    assert_eq!(
        code(&by_token(&token.token).who_am_i().await.unwrap_err()),
        "unauthenticated"
    );
    assert_eq!(ends(with_token).await, "denied", "after the revoke");
    assert_eq!(
        code(&by_token("strata_made_up").who_am_i().await.unwrap_err()),
        "unauthenticated"
    );
    // A disabled user's password stops working at once.
    let svc = as_user(&server, "svc", "svc-password-1").await;
    svc.who_am_i().await.unwrap();
    root.set_user_enabled("svc", false).await.unwrap();
    assert_eq!(code(&svc.who_am_i().await.unwrap_err()), "unauthenticated");
    // Everything above is in the audit trail, with who and from where.
    let audit: Vec<_> = root
        .read_stream("$audit", ReadOptions::forwards())
        .try_collect()
        .await
        .unwrap();
    let text: Vec<String> = audit
        .iter()
        .map(|e| String::from_utf8_lossy(&e.data).into_owned())
        .collect();
    for needle in [
        "\"action\":\"addUser\"",
        "\"action\":\"createToken\"",
        "\"action\":\"revokeToken\"",
        "\"action\":\"disableUser\"",
        "\"user\":\"root\"",
        "\"peer\":\"127.0.0.1:",
    ] {
        assert!(
            text.iter().any(|t| t.contains(needle)),
            "{needle} in {text:#?}"
        );
    }
}

#[tokio::test]
async fn metrics_can_be_opened_to_an_unauthenticated_scraper() {
    let dir = tempfile::tempdir().unwrap();
    certs(dir.path(), &[]);
    let server = tls_server(dir.path(), &["--metrics-unauthenticated"]);
    let admin = admin_over_tls(&server, &dir.path().join("ca.pem")).await;
    admin.server_info().await.unwrap();
    // Plain HTTP/1.1 over TLS, no credentials: rustls as a client would be
    // a lot of code here; curl is on every machine this runs on.
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(dir.path().join("ca.pem"))
        .arg(format!("https://localhost:{}/metrics", server.addr.port()))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
}

#[tokio::test]
async fn lifecycle_changes_are_audited_with_who_did_them() {
    let server = Server::start();
    let anon = server.client_no_retry().await;
    anon.append("doomed", ExpectedRevision::Any, one("T"))
        .await
        .unwrap();
    anon.delete_stream("doomed", ExpectedRevision::Any)
        .await
        .unwrap();
    let audit: Vec<_> = anon
        .read_stream("$audit", ReadOptions::forwards())
        .try_collect()
        .await
        .unwrap();
    let last: serde_json::Value = serde_json::from_slice(&audit.last().unwrap().data).unwrap();
    assert_eq!(last["action"], "deleteStream");
    assert_eq!(last["target"], "doomed");
    assert_eq!(last["user"], "anonymous");
    assert_eq!(last["outcome"], "ok");
}

#[tokio::test]
async fn wrong_passwords_cost_the_same_for_real_and_missing_users_and_repeats_slow_down() {
    let server = Server::start();
    let anon = server.client_no_retry().await;
    anon.add_user("root", "root-password", &["admin"])
        .await
        .unwrap();
    let root = as_user(&server, "root", "root-password").await;
    let attempt = |user: &'static str| {
        let url = server.url();
        async move {
            let c = Client::builder(url)
                .basic_auth(user, "wrong-password")
                .retry_policy(RetryPolicy::none())
                .connect()
                .await
                .unwrap();
            let t = Instant::now();
            let e = c.server_info().await.unwrap_err();
            assert_eq!(code(&e), "unauthenticated");
            t.elapsed()
        }
    };
    let (mut real, mut missing) = (Vec::new(), Vec::new());
    for _ in 0..8 {
        real.push(attempt("root").await);
        missing.push(attempt("nobody-here").await);
        // A success clears the address's failure count.
        root.server_info().await.unwrap();
    }
    real.sort();
    missing.sort();
    let (r, m) = (real[4].as_secs_f64(), missing[4].as_secs_f64());
    eprintln!("median wrong-password time: existing user {r:.4}s, missing user {m:.4}s");
    assert!(
        (r - m).abs() <= 0.5 * r.max(m),
        "existing {real:?} vs missing {missing:?}"
    );
    // Five failures in a row are free; the next ones wait.
    for _ in 0..5 {
        attempt("root").await;
    }
    let slowed = attempt("root").await;
    assert!(
        slowed >= Duration::from_millis(200),
        "the sixth failure waited only {slowed:?}"
    );
    let _ = error_kind;
}
