//! The offline admin commands: `strata verify` and `strata stats`.

mod common;

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use common::{events, Server};
use strata_client::{EventData, ExpectedRevision};

/// Writes 35 events over 5 streams, then stops the server with SIGTERM.
async fn populated_and_stopped() -> Server {
    let mut server = Server::start();
    let c = server.client().await;
    let mut n = 0;
    for i in 0..10 {
        let k = 1 + i % 4 + usize::from(i == 9);
        c.append(
            format!("adm-{}", i % 4),
            ExpectedRevision::Any,
            events("E", &format!("{i}"), k),
        )
        .await
        .unwrap();
        n += k;
    }
    assert_eq!(n, 24);
    c.append(
        "adm-marker",
        ExpectedRevision::NoStream,
        vec![EventData::binary(
            "Marker",
            b"MARKER-0123456789-MARKER".repeat(64),
        )],
    )
    .await
    .unwrap();
    c.append("adm-0", ExpectedRevision::Any, events("E", "tail", 10))
        .await
        .unwrap();
    let st = server.terminate().await;
    assert!(st.success(), "{st:?}");
    server
}

/// Numbers anywhere in a JSON document.
fn numbers(v: &serde_json::Value, out: &mut Vec<u64>) {
    match v {
        serde_json::Value::Number(n) => out.extend(n.as_u64()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| numbers(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| numbers(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn verify_and_stats_on_a_healthy_dir() {
    let server = populated_and_stopped().await;
    let total_events = 35u64;
    let total_streams = 5u64;

    let out = server.command(&["verify"]);
    assert_eq!(out.status.code(), Some(0), "verify: {out:?}");

    let out = server.command(&["stats"]);
    assert_eq!(out.status.code(), Some(0), "stats: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.split(|c: char| !c.is_ascii_digit()).any(|w| w == "35"),
        "stats does not show the 35 events:\n{text}"
    );

    let out = server.command(&["stats", "--json"]);
    assert_eq!(out.status.code(), Some(0), "stats --json: {out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stats --json is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert!(json.is_object(), "{json}");
    let mut nums = Vec::new();
    numbers(&json, &mut nums);
    assert!(
        nums.contains(&total_events),
        "no event count {total_events} in {json}"
    );
    assert!(
        nums.contains(&total_streams),
        "no stream count {total_streams} in {json}"
    );
}

fn segments(data_dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(data_dir.join("log"))
        .expect("log dir")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn verify_reports_corruption() {
    let server = populated_and_stopped().await;
    // Flip one byte inside the marker event's payload, which has committed
    // records after it (so it cannot pass for a torn tail).
    let marker = b"MARKER-0123456789-MARKER";
    let mut flipped = false;
    for seg in segments(server.data_dir()) {
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&seg)
            .unwrap();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).unwrap();
        if let Some(at) = bytes.windows(marker.len()).position(|w| w == marker) {
            let at = at as u64 + 100;
            f.seek(SeekFrom::Start(at)).unwrap();
            f.write_all(&[bytes[at as usize] ^ 0xFF]).unwrap();
            f.sync_all().unwrap();
            flipped = true;
            break;
        }
    }
    assert!(flipped, "marker payload not found in any segment");
    let out = server.command(&["verify"]);
    let verify_text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // What a restart makes of it: refusing to open is fine; serving fewer
    // than the 35 acknowledged events is silent loss.
    let mut server = server;
    let outcome = match server.try_restart() {
        Err(e) => format!("restart refused: {e}"),
        Ok(()) => {
            let c = server.client().await;
            let head = c.server_info().await.map(|i| i.head_position);
            format!(
                "restart opened the dir and serves head position {head:?} (35 were acknowledged)"
            )
        }
    };
    assert_eq!(
        out.status.code(),
        Some(1),
        "verify accepted a dir whose acknowledged events 25..=35 are damaged:\n{verify_text}\n{outcome}"
    );
}
