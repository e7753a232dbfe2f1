//! What the gRPC runtime clients (containerd, CRI) share: a unix socket, one connection per lookup
//! (lookups are rare: once per container), a deadline on the whole lookup, errors naming the socket.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tonic::transport::Channel;

use super::runtime_api::ApiError;

#[derive(Debug, Clone)]
pub struct GrpcSocket {
    path: PathBuf,
    timeout: Duration,
}

impl GrpcSocket {
    pub fn new(path: PathBuf, timeout: Duration) -> GrpcSocket {
        GrpcSocket { path, timeout }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub async fn connect(&self) -> Result<Channel, ApiError> {
        containerd_client::connect(&self.path)
            .await
            .map_err(|e| ApiError::Connect {
                path: self.path.clone(),
                source: std::io::Error::other(e),
            })
    }

    /// `work` within the timeout, else [`ApiError::Timeout`].
    pub async fn bounded<T>(
        &self,
        work: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| ApiError::Timeout {
                path: self.path.clone(),
                timeout: self.timeout,
            })?
    }

    pub fn error(&self, status: tonic::Status) -> ApiError {
        ApiError::grpc(&self.path, &status)
    }
}
