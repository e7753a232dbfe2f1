//! Generates the CRI `runtime.v1` client (RuntimeService, ImageService) from the vendored proto.
//! Client only: the agent serves no gRPC.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/cri/api.proto";
    println!("cargo:rerun-if-changed={proto}");
    tonic_prost_build::configure()
        .build_server(false)
        .build_transport(false)
        .compile_protos(&[proto], &["proto/cri"])?;
    Ok(())
}
