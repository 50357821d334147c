//! Generates the `strata.v1` protobuf/gRPC code and a file descriptor set
//! (for gRPC reflection) from `proto/` at the workspace root, and the
//! KurrentDB client protocol (`proto/kurrentdb/`, compiled with that
//! directory as its include root because its files import each other by
//! bare name, as upstream's do).
//!
//! Uses a vendored `protoc` so building needs no system protobuf install.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // Edition 2021: `set_var` is safe; build scripts are single-threaded here.
    std::env::set_var("PROTOC", protoc);

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed=../../proto");

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .file_descriptor_set_path(out_dir.join("strata_descriptor.bin"))
        .compile_protos(
            &[
                "../../proto/strata/v1/streams.proto",
                "../../proto/strata/v1/snapshots.proto",
                "../../proto/strata/v1/admin.proto",
                "../../proto/strata/v1/persistent.proto",
                "../../proto/strata/v1/security.proto",
            ],
            &["../../proto"],
        )?;

    // KurrentDB's files import the well-known types (empty, any, timestamp,
    // duration), which the vendored protoc ships beside itself.
    let well_known = protoc_bin_vendored::include_path()?;
    let kurrent = PathBuf::from("../../proto/kurrentdb");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .file_descriptor_set_path(out_dir.join("kurrent_descriptor.bin"))
        .compile_protos(
            &[
                "shared.proto",
                "code.proto",
                "status.proto",
                "streams.proto",
                "persistent.proto",
                "gossip.proto",
                "serverfeatures.proto",
            ]
            .map(|f| kurrent.join(f)),
            &[kurrent.clone(), well_known],
        )?;
    Ok(())
}
