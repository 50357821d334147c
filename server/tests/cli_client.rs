//! The command-line client against the real binary: what `strata append`,
//! `read`, `tail`, `ls`, `meta`, `delete` and `groups` print, for people and
//! with `--json`, compared with snapshot files, and the exit codes that tell
//! "not found" (3) and "conflict" (4) from other failures (1) and bad
//! usage (2).
//!
//! The snapshots are `tests/snapshots/cli_human.txt` and `cli_json.txt`:
//! each command, then its stdout, with commit timestamps replaced by
//! `<time>` (`0` in JSON). After an intended change of the output, regenerate them with
//! `UPDATE_SNAPSHOTS=1 cargo test -p strata-server --test cli_client` and
//! review the diff.

mod common;

use common::cli::{cli, cli_with_stdin, describe, json_of};
use common::Server;
use std::path::PathBuf;
use std::time::Duration;

const U1: &str = "00000000-0000-4000-8000-000000000001";
const U2: &str = "00000000-0000-4000-8000-000000000002";
const U3: &str = "00000000-0000-4000-8000-000000000003";
const U4: &str = "00000000-0000-4000-8000-000000000004";

/// Replaces commit timestamps: `2026-01-01T00:00:00.123456Z` with
/// `<time>`, `"created_micros":<digits>` with `"created_micros":0`.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    let is_time = |s: &[u8]| {
        s.len() >= 27
            && s[..27].iter().enumerate().all(|(k, c)| match k {
                4 | 7 => *c == b'-',
                10 => *c == b'T',
                13 | 16 => *c == b':',
                19 => *c == b'.',
                26 => *c == b'Z',
                _ => c.is_ascii_digit(),
            })
    };
    const MICROS: &str = "\"created_micros\":";
    while i < b.len() {
        if is_time(&b[i..]) {
            out.push_str("<time>");
            i += 27;
        } else if text[i..].starts_with(MICROS) {
            out.push_str(MICROS);
            out.push('0');
            i += MICROS.len();
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Runs the script against a fresh server and returns its transcript.
fn session(json: bool) -> String {
    let server = Server::start();
    let url = server.url();
    let mut transcript = String::new();
    let mut run = |args: &[&str], stdin: Option<&[u8]>| {
        let mut args: Vec<&str> = args.to_vec();
        if json {
            args.push("--json");
        }
        let out = cli_with_stdin(&url, &args, stdin);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
        transcript.push_str(&format!("$ strata {}\n", args.join(" ")));
        transcript.push_str(&normalise(&String::from_utf8_lossy(&out.stdout)));
    };
    let placed = r#"{"total":42,"items":[{"sku":"a-1","qty":2}]}"#;
    run(
        &[
            "append",
            "order-1",
            "--type",
            "OrderPlaced",
            "--data",
            placed,
            "--metadata",
            r#"{"user":"ann"}"#,
            "--id",
            U1,
        ],
        None,
    );
    run(
        &[
            "append",
            "order-1",
            "--type",
            "Note",
            "--content-type",
            "text/plain",
            "--id",
            U2,
        ],
        Some(b"hello\nworld"),
    );
    run(
        &[
            "append",
            "order-1",
            "--type",
            "Blob",
            "--expected",
            "1",
            "--id",
            U3,
        ],
        Some(&[0, 1, 2, 255]),
    );
    // The same event again: a retry, nothing written.
    run(
        &[
            "append",
            "order-1",
            "--type",
            "OrderPlaced",
            "--data",
            placed,
            "--metadata",
            r#"{"user":"ann"}"#,
            "--id",
            U1,
        ],
        None,
    );
    run(
        &[
            "append",
            "customer-7",
            "--type",
            "Registered",
            "--data",
            r#"{"name":"Zoë"}"#,
            "--expected",
            "no-stream",
            "--id",
            U4,
        ],
        None,
    );
    run(&["ls"], None);
    run(&["ls", "order-"], None);
    run(&["read", "order-1"], None);
    run(&["read", "order-1", "--backwards", "--max", "1"], None);
    run(&["read", "$all", "--from", "2", "--max", "2"], None);
    run(&["tail", "order-1", "--after", "0", "--count", "2"], None);
    run(
        &[
            "meta",
            "order-1",
            "--set",
            "max-count=100",
            "--set",
            r#"custom={"owner":"billing"}"#,
        ],
        None,
    );
    run(&["meta", "order-1", "--unset", "max-count"], None);
    run(&["delete", "customer-7"], None);
    // What `create` answers depends on how far the new group got: not in
    // the transcript.
    let created = cli(
        &url,
        &[
            "groups",
            "create",
            "audit",
            "--stream",
            "audit-log",
            "--max-retry-count",
            "3",
        ],
    );
    assert_eq!(created.status.code(), Some(0), "{}", describe(&created));
    // Let the new group settle (it reports catching-up until it has read
    // its empty source).
    for _ in 0..500 {
        let info = json_of(&cli(&url, &["groups", "info", "audit", "--json"]));
        if info["state"] == "live" {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    run(&["groups", "ls"], None);
    run(&["groups", "info", "audit"], None);
    run(&["groups", "delete", "audit"], None);
    transcript
}

fn check_snapshot(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{} ({e}); create it with UPDATE_SNAPSHOTS=1. Output:\n{actual}",
            path.display()
        )
    });
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the output at line {} (UPDATE_SNAPSHOTS=1 to accept):\n{actual}",
            path.display(),
            first + 1
        );
    }
}

#[test]
fn human_output_matches_its_snapshot() {
    check_snapshot("cli_human.txt", &session(false));
}

#[test]
fn json_output_is_one_object_per_line_and_matches_its_snapshot() {
    let transcript = session(true);
    for line in transcript.lines().filter(|l| !l.starts_with("$ strata")) {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
        assert!(v.is_object(), "{line}");
    }
    check_snapshot("cli_json.txt", &transcript);
}

#[test]
fn exit_codes_tell_not_found_and_conflict_from_other_failures() {
    let server = Server::start();
    let url = server.url();
    let code = |args: &[&str]| cli(&url, args).status.code();
    assert_eq!(
        code(&["append", "s", "--type", "T", "--data", "{}"]),
        Some(0)
    );

    // Not found: 3.
    assert_eq!(code(&["read", "missing"]), Some(3));
    assert_eq!(code(&["groups", "info", "missing"]), Some(3));
    assert_eq!(
        code(&["delete", "missing", "--expected", "exists"]),
        Some(3)
    );
    // Conflict: 4.
    let out = cli(
        &url,
        &[
            "append",
            "s",
            "--type",
            "T",
            "--data",
            "{}",
            "--expected",
            "5",
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong expected revision"));
    assert_eq!(
        code(&[
            "append",
            "s",
            "--type",
            "T",
            "--data",
            "{}",
            "--expected",
            "no-stream"
        ]),
        Some(4)
    );
    assert_eq!(code(&["groups", "create", "g", "--stream", "s"]), Some(0));
    assert_eq!(code(&["groups", "create", "g", "--stream", "s"]), Some(4));
    assert_eq!(
        code(&["meta", "s", "--set", "max-count=2", "--expected", "7"]),
        Some(4)
    );
    // A tombstone: reading is "not found", writing a conflict.
    assert_eq!(code(&["delete", "s", "--tombstone"]), Some(0));
    assert_eq!(code(&["read", "s"]), Some(3));
    assert_eq!(
        code(&["append", "s", "--type", "T", "--data", "{}"]),
        Some(4)
    );
    // Anything else: 1 (bad input, a server that is not there); usage: 2.
    assert_eq!(
        code(&["append", "x", "--type", "T", "--data", "{not json"]),
        Some(1)
    );
    // A reserved name is refused like a missing permission: 5.
    assert_eq!(
        code(&["append", "$x", "--type", "T", "--data", "{}"]),
        Some(5)
    );
    let out = cli("http://127.0.0.1:1", &["ls"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("connecting to"));
    assert_eq!(code(&["read"]), Some(2));
    assert_eq!(
        code(&["append", "s", "--expected", "seven", "--type", "T"]),
        Some(2)
    );
}
