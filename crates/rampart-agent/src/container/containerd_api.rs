//! containerd's native gRPC API over its socket: a container is looked up in every namespace
//! (`k8s.io` for Kubernetes, `moby` for Docker-on-containerd, `default` for ctr/nerdctl), then its
//! image's digest, and for a Kubernetes container its pod's labels from the pod's sandbox container.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use containerd_client::services::v1::containers_client::ContainersClient;
use containerd_client::services::v1::images_client::ImagesClient;
use containerd_client::services::v1::namespaces_client::NamespacesClient;
use containerd_client::services::v1::{
    Container, GetContainerRequest, GetImageRequest, ListContainersRequest, ListNamespacesRequest,
};
use tonic::transport::Channel;
use tonic::{Code, Request};

use super::grpc::GrpcSocket;
use super::kube::{is_pod_uid, pod_labels, CONTAINER_NAME_LABEL, POD_UID_LABEL};
use super::runtime_api::{parse_image_reference, ApiError, ContainerDetails};

/// The gRPC header that names the namespace of a request.
const NAMESPACE_HEADER: &str = "containerd-namespace";
/// The CRI plugin marks a pod's sandbox container with this label (`sandbox`) and its containers
/// (`container`).
const KIND_LABEL: &str = "io.cri-containerd.kind";
/// nerdctl keeps the container's name here.
const NERDCTL_NAME_LABEL: &str = "nerdctl/name";

/// One containerd endpoint.
#[derive(Debug, Clone)]
pub struct ContainerdApi {
    grpc: GrpcSocket,
}

impl ContainerdApi {
    /// `timeout` bounds one whole lookup (connect and every request).
    pub fn new(socket: impl Into<PathBuf>, timeout: Duration) -> ContainerdApi {
        ContainerdApi {
            grpc: GrpcSocket::new(socket.into(), timeout),
        }
    }

    pub fn socket(&self) -> &Path {
        self.grpc.path()
    }

    /// The namespaces containerd has, in its order.
    pub async fn namespaces(&self) -> Result<Vec<String>, ApiError> {
        self.grpc
            .bounded(async {
                let channel = self.grpc.connect().await?;
                self.list_namespaces(channel).await
            })
            .await
    }

    /// The container with this id in whichever namespace holds it; `Ok(None)` when none does.
    pub async fn inspect_container(&self, id: &str) -> Result<Option<ContainerDetails>, ApiError> {
        self.grpc
            .bounded(async {
                let channel = self.grpc.connect().await?;
                for namespace in self.list_namespaces(channel.clone()).await? {
                    let request = namespaced(GetContainerRequest { id: id.into() }, &namespace)?;
                    match ContainersClient::new(channel.clone()).get(request).await {
                        Ok(found) => {
                            let Some(container) = found.into_inner().container else {
                                continue;
                            };
                            return Ok(Some(self.describe(channel, &namespace, container).await?));
                        }
                        Err(status) if status.code() == Code::NotFound => continue,
                        Err(status) => return Err(self.grpc.error(status)),
                    }
                }
                Ok(None)
            })
            .await
    }

    async fn describe(
        &self,
        channel: Channel,
        namespace: &str,
        container: Container,
    ) -> Result<ContainerDetails, ApiError> {
        let digest = if container.image.is_empty() {
            None
        } else {
            self.image_digest(channel.clone(), namespace, &container.image)
                .await?
        };
        let pod_labels = match container.labels.get(POD_UID_LABEL) {
            Some(uid) if is_pod_uid(uid) => self.sandbox_labels(channel, namespace, uid).await?,
            _ => BTreeMap::new(),
        };
        let name = [CONTAINER_NAME_LABEL, NERDCTL_NAME_LABEL]
            .iter()
            .find_map(|l| container.labels.get(*l).filter(|v| !v.is_empty()))
            .cloned();
        Ok(ContainerDetails {
            id: container.id,
            name,
            image: parse_image_reference(&container.image),
            image_digest: digest,
            created_at: container
                .created_at
                .and_then(|t| timestamp_ns(t.seconds, t.nanos))
                .unwrap_or(0),
            labels: container.labels.into_iter().collect(),
            pod_labels,
        })
    }

    /// The digest of the manifest the image name points at; `None` when the image is gone.
    async fn image_digest(
        &self,
        channel: Channel,
        namespace: &str,
        name: &str,
    ) -> Result<Option<String>, ApiError> {
        let request = namespaced(GetImageRequest { name: name.into() }, namespace)?;
        match ImagesClient::new(channel).get(request).await {
            Ok(found) => Ok(found
                .into_inner()
                .image
                .and_then(|i| i.target)
                .map(|t| t.digest)
                .filter(|d| !d.is_empty())),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(self.grpc.error(status)),
        }
    }

    /// The pod's labels, from the sandbox container the CRI plugin keeps for the pod.
    async fn sandbox_labels(
        &self,
        channel: Channel,
        namespace: &str,
        pod_uid: &str,
    ) -> Result<BTreeMap<String, String>, ApiError> {
        // `pod_uid` is checked to be a uid: nothing in it can change the filter's meaning.
        let filter =
            format!("labels.\"{POD_UID_LABEL}\"=={pod_uid},labels.\"{KIND_LABEL}\"==sandbox");
        let request = namespaced(
            ListContainersRequest {
                filters: vec![filter],
            },
            namespace,
        )?;
        let listed = ContainersClient::new(channel)
            .list(request)
            .await
            .map_err(|s| self.grpc.error(s))?;
        Ok(listed
            .into_inner()
            .containers
            .into_iter()
            .next()
            .map(|sandbox| pod_labels(&sandbox.labels))
            .unwrap_or_default())
    }

    async fn list_namespaces(&self, channel: Channel) -> Result<Vec<String>, ApiError> {
        let listed = NamespacesClient::new(channel)
            .list(ListNamespacesRequest::default())
            .await
            .map_err(|s| self.grpc.error(s))?;
        Ok(listed
            .into_inner()
            .namespaces
            .into_iter()
            .map(|n| n.name)
            .collect())
    }
}

/// A request for `namespace`; a name that is not a valid header value is refused (containerd's
/// own names are `[A-Za-z0-9._-]`).
fn namespaced<T>(message: T, namespace: &str) -> Result<Request<T>, ApiError> {
    let value = namespace.parse().map_err(|_| ApiError::Invalid {
        what: format!("containerd namespace {namespace:?}"),
    })?;
    let mut request = Request::new(message);
    request.metadata_mut().insert(NAMESPACE_HEADER, value);
    Ok(request)
}

/// A protobuf timestamp in nanoseconds since the epoch; `None` before 1970 or when out of range.
fn timestamp_ns(seconds: i64, nanos: i32) -> Option<u64> {
    let seconds = u64::try_from(seconds).ok()?;
    let nanos = u64::try_from(nanos).ok().filter(|n| *n < 1_000_000_000)?;
    seconds.checked_mul(1_000_000_000)?.checked_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(timestamp_ns(0, 0), Some(0));
        assert_eq!(timestamp_ns(1, 5), Some(1_000_000_005));
        assert_eq!(timestamp_ns(-1, 0), None);
        assert_eq!(timestamp_ns(1, -1), None);
        assert_eq!(timestamp_ns(1, 1_000_000_000), None);
        assert_eq!(timestamp_ns(i64::MAX, 0), None);
    }

    #[test]
    fn namespaces_that_are_not_header_values_are_refused() {
        assert!(namespaced((), "k8s.io").is_ok());
        assert!(matches!(
            namespaced((), "bad\nname"),
            Err(ApiError::Invalid { .. })
        ));
    }

    #[tokio::test]
    async fn absent_socket_is_a_connect_error() {
        let api = ContainerdApi::new(
            "/nonexistent/rampart/containerd.sock",
            Duration::from_millis(500),
        );
        let err = api.inspect_container("x").await.unwrap_err();
        assert!(matches!(err, ApiError::Connect { .. }), "{err}");
    }
}
