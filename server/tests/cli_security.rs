//! The operator's security commands against the real binary over real TLS:
//! `strata whoami`, `user add|passwd|disable|enable|list`, `token
//! create|list|revoke`, `grant add|list|revoke`, with the connection's TLS
//! and credentials from STRATA_* variables and connection strings; refusals
//! exit 5; `strata health`, `scavenge` and `backup` over TLS with
//! credentials.

mod common;

use common::cli::describe;
use common::Server;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const ADMIN_PASSWORD: &str = "admin-password-1";

struct Tls {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    server: Server,
    addr: String,
}

fn tls_server() -> Tls {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(common::STRATA)
        .args(["certs", "dev", "--out", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let pw = dir.path().join("admin-password");
    std::fs::write(&pw, ADMIN_PASSWORD).unwrap();
    let p = |f: &str| dir.path().join(f).to_str().unwrap().to_owned();
    let server = Server::start_with_args(&[
        "--tls-cert",
        &p("server.pem"),
        "--tls-key",
        &p("server.key"),
        "--admin-password-file",
        pw.to_str().unwrap(),
    ]);
    let addr = format!("https://localhost:{}", server.addr.port());
    Tls {
        ca: dir.path().join("ca.pem"),
        _dir: dir,
        server,
        addr,
    }
}

/// `strata <args>` with `env` (and nothing of the test's own STRATA_*).
fn run(env: &[(&str, &str)], args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(common::STRATA);
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("STRATA_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    common::wait_output(child, Duration::from_secs(60))
}

fn json(out: &Output) -> Vec<serde_json::Value> {
    assert_eq!(out.status.code(), Some(0), "{}", describe(out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn ca_env<'a>(t: &'a Tls, ca: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("STRATA_ADDR", t.addr.as_str()), ("STRATA_TLS_CA", ca)]
}

#[test]
fn an_operator_manages_users_tokens_and_grants_over_tls() {
    let t = tls_server();
    let ca = t.ca.to_str().unwrap().to_owned();
    let base = ca_env(&t, &ca);
    let admin: Vec<_> = base
        .iter()
        .copied()
        .chain([
            ("STRATA_USER", "admin"),
            ("STRATA_PASSWORD", ADMIN_PASSWORD),
        ])
        .collect();

    let me = &json(&run(&admin, &["whoami", "--json"], None))[0];
    assert_eq!(me["name"], "admin", "{me}");
    assert_eq!(me["auth_enabled"], true);
    // No credentials: refused, exit 5, and the message says why.
    let anon = run(&base, &["ls"], None);
    assert_eq!(anon.status.code(), Some(5), "{}", describe(&anon));
    assert!(
        String::from_utf8_lossy(&anon.stderr).contains("authentication failed"),
        "{}",
        describe(&anon)
    );

    // A user from stdin, a grant to a role, events written by the admin.
    let ann = &json(&run(
        &admin,
        &[
            "user",
            "add",
            "ann",
            "--role",
            "reader",
            "--password-stdin",
            "--json",
        ],
        Some("ann-password-1\n"),
    ))[0];
    assert_eq!(ann["roles"], serde_json::json!(["reader"]));
    let again = run(
        &admin,
        &["user", "add", "ann", "--password-stdin"],
        Some("another-password\n"),
    );
    assert_eq!(
        again.status.code(),
        Some(4),
        "user exists: {}",
        describe(&again)
    );
    let grant = &json(&run(
        &admin,
        &[
            "grant",
            "add",
            "role:reader",
            "orders-",
            "read,subscribe",
            "--json",
        ],
        None,
    ))[0];
    assert_eq!(
        grant["permissions"],
        serde_json::json!(["read", "subscribe"])
    );
    for stream in ["orders-1", "secret-1"] {
        let out = run(
            &admin,
            &["append", stream, "--type", "T", "--data", "{}"],
            None,
        );
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    }

    // Ann reads what her role may read, and nothing else.
    let as_ann: Vec<_> = base
        .iter()
        .copied()
        .chain([
            ("STRATA_USER", "ann"),
            ("STRATA_PASSWORD", "ann-password-1"),
        ])
        .collect();
    assert_eq!(
        json(&run(&as_ann, &["read", "orders-1", "--json"], None)).len(),
        1
    );
    for args in [
        &["read", "secret-1"][..],
        &["append", "orders-1", "--type", "T", "--data", "{}"],
        &["user", "list"],
    ] {
        let out = run(&as_ann, args, None);
        assert_eq!(out.status.code(), Some(5), "{args:?}: {}", describe(&out));
    }

    // Her own token, as a connection string's token and as STRATA_TOKEN.
    let token = &json(&run(
        &admin,
        &[
            "token",
            "create",
            "--for",
            "ann",
            "--expires-in",
            "1h",
            "--json",
        ],
        None,
    ))[0];
    let secret = token["token"].as_str().unwrap().to_owned();
    let with_token: Vec<_> = base
        .iter()
        .copied()
        .chain([("STRATA_TOKEN", secret.as_str())])
        .collect();
    assert_eq!(
        json(&run(&with_token, &["whoami", "--json"], None))[0]["name"],
        "ann"
    );
    let conn = format!(
        "strata://localhost:{}?tls=true&ca={ca}&token={secret}",
        t.server.addr.port()
    );
    let by_string = run(
        &[],
        &["read", "orders-1", "--json", "--addr", &conn][..],
        None,
    );
    assert_eq!(json(&by_string).len(), 1);
    let listed = json(&run(
        &admin,
        &["token", "list", "--for", "ann", "--json"],
        None,
    ));
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0].get("token").is_none(),
        "a listed token has no secret"
    );

    // Ann changes her own password; the old one stops working.
    let passwd = run(
        &as_ann
            .iter()
            .copied()
            .chain([("STRATA_NEW_PASSWORD", "ann-password-2")])
            .collect::<Vec<_>>(),
        &["user", "passwd", "ann"],
        None,
    );
    assert_eq!(passwd.status.code(), Some(0), "{}", describe(&passwd));
    assert_eq!(run(&as_ann, &["whoami"], None).status.code(), Some(5));
    let as_ann2: Vec<_> = base
        .iter()
        .copied()
        .chain([
            ("STRATA_USER", "ann"),
            ("STRATA_PASSWORD", "ann-password-2"),
        ])
        .collect();
    assert_eq!(run(&as_ann2, &["whoami"], None).status.code(), Some(0));

    // Disabled: her password and her token are refused; enabled again.
    json(&run(&admin, &["user", "disable", "ann", "--json"], None));
    assert_eq!(run(&as_ann2, &["whoami"], None).status.code(), Some(5));
    assert_eq!(run(&with_token, &["whoami"], None).status.code(), Some(5));
    let back = &json(&run(&admin, &["user", "enable", "ann", "--json"], None))[0];
    assert_eq!(back["enabled"], true);
    let users = json(&run(&admin, &["user", "list", "--json"], None));
    let names: Vec<_> = users.iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "ann"]);

    // Revoking the token and the grant.
    let id = listed[0]["id"].as_str().unwrap();
    json(&run(&admin, &["token", "revoke", id, "--json"], None));
    assert_eq!(run(&with_token, &["whoami"], None).status.code(), Some(5));
    let gid = grant["id"].as_str().unwrap();
    json(&run(&admin, &["grant", "revoke", gid, "--json"], None));
    assert!(json(&run(&admin, &["grant", "list", "--json"], None)).is_empty());
    assert_eq!(
        run(&as_ann2, &["read", "orders-1"], None).status.code(),
        Some(5)
    );

    // The last enabled admin can be neither disabled nor demoted.
    for args in [
        &["user", "disable", "admin"][..],
        &["user", "roles", "admin", "--role", "ops"],
    ] {
        let out = run(&admin, args, None);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", describe(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("no enabled user with the admin role"),
            "{}",
            describe(&out)
        );
    }
    // A refused security change is in the audit trail too.
    let audit = json(&run(&admin, &["read", "$audit", "--json"], None));
    let actions: Vec<(String, String)> = audit
        .iter()
        .map(|e| {
            let d = &e["data"];
            (
                d["action"].as_str().unwrap().to_owned(),
                d["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        actions
            .iter()
            .any(|(a, o)| a == "disableUser" && o.starts_with("failed")),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|(a, o)| a == "grant" && o == "ok"),
        "{actions:?}"
    );
}

#[test]
fn health_scavenge_and_backup_work_over_tls_with_credentials() {
    let t = tls_server();
    let ca = t.ca.to_str().unwrap().to_owned();
    let health = run(
        &[],
        &["health", "--addr", &t.addr, "--tls-ca", &ca][..],
        None,
    );
    assert_eq!(health.status.code(), Some(0), "{}", describe(&health));
    assert!(String::from_utf8_lossy(&health.stdout).contains("SERVING"));

    let admin: Vec<_> = ca_env(&t, &ca)
        .into_iter()
        .chain([
            ("STRATA_USER", "admin"),
            ("STRATA_PASSWORD", ADMIN_PASSWORD),
        ])
        .collect();
    let out = run(
        &admin,
        &["append", "a-1", "--type", "T", "--data", "{}"],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let scavenge = run(&admin, &["scavenge"], None);
    assert_eq!(scavenge.status.code(), Some(0), "{}", describe(&scavenge));

    let to = tempfile::tempdir().unwrap();
    let backup = run(
        &admin,
        &["backup", "--to", to.path().to_str().unwrap(), "--json"],
        None,
    );
    let summary = &json(&backup)[0];
    assert!(summary["position"].as_u64().unwrap() >= 1, "{summary}");
    let manifest = std::fs::read_to_string(Path::new(to.path()).join("MANIFEST.json")).unwrap();
    assert!(!manifest.contains(ADMIN_PASSWORD));
    // A backup by someone who is not an admin is refused.
    let anon = run(
        &ca_env(&t, &ca),
        &["backup", "--to", to.path().join("x").to_str().unwrap()],
        None,
    );
    assert_eq!(anon.status.code(), Some(5), "{}", describe(&anon));
}
