//! Torture: the server's data directory fills up (a size-capped tmpfs).
//! Appends then fail with `UNAVAILABLE` / `strata-error: disk-full`, nothing
//! acknowledged is lost, reads keep working, and appends succeed again as
//! soon as space returns — no restart needed. Needs root (to mount tmpfs),
//! as the project's machines and CI have.

mod common;

use common::{error_kind, raw_event, Server, Tmpfs};
use strata_proto::v1 as pb;

fn append(stream: &str, data: &[u8]) -> pb::AppendRequest {
    pb::AppendRequest {
        stream: stream.into(),
        expected_revision: Some(pb::append_request::ExpectedRevision::Any(pb::Empty {})),
        events: vec![raw_event("Blob", data)],
    }
}

#[tokio::test]
async fn a_full_disk_is_unavailable_loses_nothing_and_recovers_when_space_returns() {
    let mnt = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(mnt.path(), "16m");
    let mut server = Server::start_on(mnt.path().join("data"));
    let mut raw = server.raw().await;
    let blob = vec![9u8; 256 * 1024];
    let mut acked = 0u64;
    let status = loop {
        match raw.append(append("fill", &blob)).await {
            Ok(r) => {
                acked += 1;
                assert_eq!(r.into_inner().last_position, acked);
                assert!(acked < 200, "a 16 MiB disk never filled");
            }
            Err(st) => break st,
        }
    };
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert_eq!(
        error_kind(&status).as_deref(),
        Some("disk-full"),
        "{status:?}"
    );
    assert!(acked > 10);
    // Reads still work and show exactly what was acknowledged.
    let info = raw
        .server_info(pb::ServerInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.head_position, acked);
    // Space comes back: the same server accepts appends again.
    fs.resize("64m");
    let r = raw
        .append(append("fill", b"after"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.first_position, acked + 1);
    let st = server.terminate().await;
    assert!(st.success(), "{}", server.logs());
    let out = server.command(&["verify"]);
    assert!(
        out.status.success(),
        "verify: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}
