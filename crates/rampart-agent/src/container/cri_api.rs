//! The Kubernetes CRI (`runtime.v1.RuntimeService`, `ImageService`) over a runtime's socket: what
//! CRI-O and containerd's CRI plugin tell the kubelet about a container (image, labels, container
//! name, creation time) and the labels of its pod's sandbox.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tonic::transport::Channel;
use tonic::Code;

use super::grpc::GrpcSocket;
use super::kube::{is_pod_uid, pod_labels, POD_UID_LABEL};
use super::runtime_api::{parse_image_reference, ApiError, ContainerDetails};

/// The client generated from the vendored `runtime.v1` proto (build.rs).
#[allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub)]
pub mod proto {
    tonic::include_proto!("runtime.v1");
}

use proto::image_service_client::ImageServiceClient;
use proto::runtime_service_client::RuntimeServiceClient;
use proto::{
    ContainerStatusRequest, ImageSpec, ImageStatusRequest, ListContainersRequest,
    ListPodSandboxRequest, PodSandboxFilter, VersionRequest,
};

/// One CRI endpoint.
#[derive(Debug, Clone)]
pub struct CriApi {
    grpc: GrpcSocket,
}

/// `Version`'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriVersion {
    pub runtime_name: String,
    pub runtime_version: String,
    pub runtime_api_version: String,
}

impl CriApi {
    /// `timeout` bounds one whole lookup (connect and every request).
    pub fn new(socket: impl Into<PathBuf>, timeout: Duration) -> CriApi {
        CriApi {
            grpc: GrpcSocket::new(socket.into(), timeout),
        }
    }

    pub fn socket(&self) -> &Path {
        self.grpc.path()
    }

    pub async fn version(&self) -> Result<CriVersion, ApiError> {
        self.grpc
            .bounded(async {
                let answer = self
                    .runtime(self.grpc.connect().await?)
                    .version(VersionRequest::default())
                    .await
                    .map_err(|s| self.grpc.error(s))?
                    .into_inner();
                Ok(CriVersion {
                    runtime_name: answer.runtime_name,
                    runtime_version: answer.runtime_version,
                    runtime_api_version: answer.runtime_api_version,
                })
            })
            .await
    }

    /// The ids of the containers the runtime created through the CRI.
    pub async fn container_ids(&self) -> Result<Vec<String>, ApiError> {
        self.grpc
            .bounded(async {
                let listed = self
                    .runtime(self.grpc.connect().await?)
                    .list_containers(ListContainersRequest::default())
                    .await
                    .map_err(|s| self.grpc.error(s))?;
                Ok(listed
                    .into_inner()
                    .containers
                    .into_iter()
                    .map(|c| c.id)
                    .collect())
            })
            .await
    }

    /// `ContainerStatus` (not verbose) and the pod's labels; `Ok(None)` when the runtime did not
    /// create this container through the CRI.
    pub async fn inspect_container(&self, id: &str) -> Result<Option<ContainerDetails>, ApiError> {
        self.grpc
            .bounded(async {
                let channel = self.grpc.connect().await?;
                let request = ContainerStatusRequest {
                    container_id: id.into(),
                    verbose: false,
                };
                let status = match self
                    .runtime(channel.clone())
                    .container_status(request)
                    .await
                {
                    Ok(answer) => answer.into_inner().status,
                    Err(status) if status.code() == Code::NotFound => return Ok(None),
                    Err(status) => return Err(self.grpc.error(status)),
                };
                let Some(status) = status else {
                    return Ok(None);
                };
                let labels: BTreeMap<String, String> = status.labels.into_iter().collect();
                let pod_labels = match labels.get(POD_UID_LABEL) {
                    Some(uid) if is_pod_uid(uid) => {
                        self.sandbox_labels(channel.clone(), uid).await?
                    }
                    _ => BTreeMap::new(),
                };
                let spec = status.image.map(|i| i.image).unwrap_or_default();
                let image = match parse_image_reference(&spec) {
                    Some(image) => Some(image),
                    // The runtime named the image by id: ask its image service for a tag.
                    None if !spec.is_empty() => self.image_tag(channel, &spec).await?,
                    None => None,
                };
                let name = status.metadata.map(|m| m.name).filter(|n| !n.is_empty());
                Ok(Some(ContainerDetails {
                    id: if status.id.is_empty() {
                        id.into()
                    } else {
                        status.id
                    },
                    name,
                    image,
                    image_digest: image_digest(&status.image_ref),
                    created_at: u64::try_from(status.created_at).unwrap_or(0),
                    labels,
                    pod_labels,
                }))
            })
            .await
    }

    async fn sandbox_labels(
        &self,
        channel: Channel,
        pod_uid: &str,
    ) -> Result<BTreeMap<String, String>, ApiError> {
        let request = ListPodSandboxRequest {
            filter: Some(PodSandboxFilter {
                label_selector: [(POD_UID_LABEL.to_string(), pod_uid.to_string())].into(),
                ..PodSandboxFilter::default()
            }),
        };
        let listed = self
            .runtime(channel)
            .list_pod_sandbox(request)
            .await
            .map_err(|s| self.grpc.error(s))?;
        Ok(listed
            .into_inner()
            .items
            .first()
            .map(|sandbox| pod_labels(&sandbox.labels))
            .unwrap_or_default())
    }

    /// The first tag of an image named by id.
    async fn image_tag(
        &self,
        channel: Channel,
        image_id: &str,
    ) -> Result<Option<rampart_model::container::ImageRef>, ApiError> {
        let request = ImageStatusRequest {
            image: Some(ImageSpec {
                image: image_id.into(),
                ..ImageSpec::default()
            }),
            verbose: false,
        };
        let answer = match ImageServiceClient::new(channel).image_status(request).await {
            Ok(answer) => answer.into_inner(),
            Err(status) if status.code() == Code::NotFound => return Ok(None),
            Err(status) => return Err(self.grpc.error(status)),
        };
        let Some(image) = answer.image else {
            return Ok(None);
        };
        let tagged = image.repo_tags.iter().find(|t| !t.starts_with("<none>"));
        Ok(tagged
            .or(image.repo_digests.first())
            .and_then(|r| parse_image_reference(r)))
    }

    fn runtime(&self, channel: Channel) -> RuntimeServiceClient<Channel> {
        RuntimeServiceClient::new(channel)
    }
}

/// `repo@sha256:…` (containerd, CRI-O) or a bare `sha256:…` id: the digest part.
fn image_digest(image_ref: &str) -> Option<String> {
    let digest = image_ref.rsplit_once('@').map_or(image_ref, |(_, d)| d);
    digest
        .strip_prefix("sha256:")
        .filter(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|_| digest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_from_image_refs() {
        let hex = "0fb1bd7683279e02b1c651eefa549e090ca0c754afed358bfe7285d5838c597c";
        let digest = format!("sha256:{hex}");
        assert_eq!(
            image_digest(&format!("docker.io/library/nginx@{digest}")),
            Some(digest.clone())
        );
        assert_eq!(image_digest(&digest), Some(digest.clone()));
        assert_eq!(image_digest("nginx:1.25"), None);
        assert_eq!(image_digest("x@sha256:abc"), None);
        assert_eq!(image_digest(""), None);
    }
}
