//! A Docker Engine API client over a unix socket: container name, image name and tag, creation time
//! and labels. Podman's `system service` serves the same API, so one client covers Docker and Podman.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use rampart_model::container::ImageRef;
use serde::Deserialize;
use tokio::net::UnixStream;

/// Colon-separated list of API sockets that replaces the default ones.
pub const SOCKETS_ENV: &str = "RAMPART_CONTAINER_SOCKETS";

/// Where Docker and Podman (rootful) listen by default.
pub const DEFAULT_SOCKETS: [&str; 3] = [
    "/var/run/docker.sock",
    "/run/podman/podman.sock",
    "/run/user/0/podman/podman.sock",
];

/// The sockets to ask: `$RAMPART_CONTAINER_SOCKETS` (colon-separated, `unix://` prefixes allowed)
/// when set and non-empty, else [`DEFAULT_SOCKETS`].
pub fn discover_sockets() -> Vec<PathBuf> {
    sockets_from(std::env::var(SOCKETS_ENV).ok().as_deref())
}

fn sockets_from(var: Option<&str>) -> Vec<PathBuf> {
    super::runtimes::socket_list(var)
        .unwrap_or_else(|| DEFAULT_SOCKETS.iter().map(PathBuf::from).collect())
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Nothing listens there (no such socket, connection refused): the runtime is absent.
    #[error("connecting to {path}: {source}")]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no answer from {path} within {timeout:?}")]
    Timeout { path: PathBuf, timeout: Duration },
    #[error("HTTP exchange with {path}: {message}")]
    Http { path: PathBuf, message: String },
    #[error("{path} answered {status} to GET {uri}")]
    Status {
        path: PathBuf,
        uri: String,
        status: u16,
    },
    #[error("decoding the answer to GET {uri}: {source}")]
    Decode {
        uri: String,
        source: serde_json::Error,
    },
    /// A gRPC runtime (containerd, CRI) answered with an error status.
    #[error("{path} answered {code}: {message}")]
    Grpc {
        path: PathBuf,
        code: String,
        message: String,
    },
    /// The runtime gave something no request can carry (a namespace that is not a header value).
    #[error("unusable {what}")]
    Invalid { what: String },
}

impl ApiError {
    /// A gRPC error status; `Unavailable` (the socket's server went away) counts as silence.
    pub fn grpc(path: &Path, status: &tonic::Status) -> ApiError {
        if status.code() == tonic::Code::Unavailable {
            return ApiError::Connect {
                path: path.to_path_buf(),
                source: std::io::Error::other(status.message().to_string()),
            };
        }
        ApiError::Grpc {
            path: path.to_path_buf(),
            code: format!("{:?}", status.code()),
            // Bounded: the message is the runtime's text.
            message: status.message().chars().take(200).collect(),
        }
    }
}

/// What the runtime knows about a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerDetails {
    pub id: String,
    /// Without Docker's leading `/`.
    pub name: Option<String>,
    pub image: Option<ImageRef>,
    /// `sha256:…` of the image's manifest, when the runtime tells it (containerd, CRI).
    pub image_digest: Option<String>,
    /// Nanoseconds since the epoch; 0 when unknown.
    pub created_at: u64,
    pub labels: BTreeMap<String, String>,
    /// A Kubernetes container's pod labels (from its pod sandbox), without the `io.kubernetes.*` ones.
    pub pod_labels: BTreeMap<String, String>,
}

/// One Docker-Engine-API endpoint.
#[derive(Debug, Clone)]
pub struct DockerApi {
    socket: PathBuf,
    timeout: Duration,
}

impl DockerApi {
    /// `timeout` bounds each whole request (connect, exchange, body).
    pub fn new(socket: impl Into<PathBuf>, timeout: Duration) -> DockerApi {
        DockerApi {
            socket: socket.into(),
            timeout,
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `GET /_ping`.
    pub async fn ping(&self) -> Result<(), ApiError> {
        let uri = "/_ping";
        let (status, _) = self.get(uri).await?;
        if status != StatusCode::OK {
            return Err(self.status_error(uri, status));
        }
        Ok(())
    }

    /// `GET /containers/<id>/json`, with the image's tags looked up when the container only names
    /// its image by id. `Ok(None)` when this runtime does not know the container.
    pub async fn inspect_container(&self, id: &str) -> Result<Option<ContainerDetails>, ApiError> {
        let uri = format!("/containers/{id}/json");
        let Some(inspect) = self.get_json::<InspectJson>(&uri).await? else {
            return Ok(None);
        };
        let config = inspect.config.unwrap_or_default();
        let reference = if config.image.is_empty() {
            inspect.image.clone()
        } else {
            config.image
        };
        let image = if is_image_id(&reference) {
            self.image_by_id(&reference).await?
        } else {
            parse_image_reference(&reference)
        };
        let name = inspect.name.trim_start_matches('/');
        Ok(Some(ContainerDetails {
            id: if inspect.id.is_empty() {
                id.to_string()
            } else {
                inspect.id
            },
            name: (!name.is_empty()).then(|| name.to_string()),
            image,
            created_at: parse_rfc3339_ns(&inspect.created).unwrap_or(0),
            labels: config.labels.unwrap_or_default(),
            ..ContainerDetails::default()
        }))
    }

    /// `GET /images/<id>/json`: the image's first usable tag (else its digest). `Ok(None)` when the
    /// runtime does not know the image or it has neither.
    pub async fn image_by_id(&self, image_id: &str) -> Result<Option<ImageRef>, ApiError> {
        // Podman's compat API refuses a bare 64-hex id as a "repository name"; both accept `sha256:`.
        let prefix = if image_id.starts_with("sha256:") {
            ""
        } else {
            "sha256:"
        };
        let uri = format!("/images/{prefix}{image_id}/json");
        let Some(image) = self.get_json::<ImageJson>(&uri).await? else {
            return Ok(None);
        };
        let tagged = image
            .repo_tags
            .unwrap_or_default()
            .into_iter()
            .find(|t| !t.starts_with("<none>"));
        let digested = || image.repo_digests.unwrap_or_default().into_iter().next();
        Ok(tagged
            .or_else(digested)
            .and_then(|r| parse_image_reference(&r)))
    }

    /// GET and decode; `None` on 404.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        uri: &str,
    ) -> Result<Option<T>, ApiError> {
        let (status, body) = self.get(uri).await?;
        match status {
            StatusCode::OK => {
                serde_json::from_slice(&body)
                    .map(Some)
                    .map_err(|source| ApiError::Decode {
                        uri: uri.to_string(),
                        source,
                    })
            }
            StatusCode::NOT_FOUND => Ok(None),
            other => Err(self.status_error(uri, other)),
        }
    }

    /// One request on a fresh connection: lookups are rare (once per container), so no pool.
    async fn get(&self, uri: &str) -> Result<(StatusCode, Bytes), ApiError> {
        let exchange = async {
            let stream =
                UnixStream::connect(&self.socket)
                    .await
                    .map_err(|source| ApiError::Connect {
                        path: self.socket.clone(),
                        source,
                    })?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| self.http_error(e))?;
            let request = Request::get(uri)
                .header(hyper::header::HOST, "docker")
                .body(Empty::<Bytes>::new())
                .map_err(|e| self.http_error(e))?;
            let response = async {
                let response = sender
                    .send_request(request)
                    .await
                    .map_err(|e| self.http_error(e))?;
                let status = response.status();
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| self.http_error(e))?;
                Ok((status, body.to_bytes()))
            };
            // Drive the connection and the exchange together; both are dropped (socket closed) after.
            tokio::pin!(response);
            tokio::select! {
                biased;
                r = &mut response => r,
                c = conn => {
                    c.map_err(|e| self.http_error(e))?;
                    response.await
                }
            }
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ApiError::Timeout {
                path: self.socket.clone(),
                timeout: self.timeout,
            })?
    }

    fn http_error(&self, e: impl std::fmt::Display) -> ApiError {
        ApiError::Http {
            path: self.socket.clone(),
            message: e.to_string(),
        }
    }

    fn status_error(&self, uri: &str, status: StatusCode) -> ApiError {
        ApiError::Status {
            path: self.socket.clone(),
            uri: uri.to_string(),
            status: status.as_u16(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct InspectJson {
    id: String,
    name: String,
    created: String,
    /// The image id (`sha256:…`).
    image: String,
    config: Option<ConfigJson>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ConfigJson {
    /// The image as the user named it (`nginx:1.25`), or an id when started by id.
    image: String,
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ImageJson {
    repo_tags: Option<Vec<String>>,
    repo_digests: Option<Vec<String>>,
}

/// `sha256:<hex>` or a bare 64-hex id (or its short prefix as `sha256:`): not a name.
fn is_image_id(reference: &str) -> bool {
    let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
    let all_hex = !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit());
    all_hex && (reference.starts_with("sha256:") || hex.len() == 64)
}

/// Splits `[registry[:port]/]repo[:tag][@digest]` into name and tag. The tag defaults to `latest`
/// as Docker does, except for digest-only references, whose tag stays empty.
pub fn parse_image_reference(reference: &str) -> Option<ImageRef> {
    let reference = reference.trim();
    if is_image_id(reference) {
        return None;
    }
    let (named, digest) = match reference.split_once('@') {
        Some((named, digest)) => (named, Some(digest)),
        None => (reference, None),
    };
    let last_slash = named.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match named[last_slash..].rfind(':') {
        Some(colon) => (
            &named[..last_slash + colon],
            &named[last_slash + colon + 1..],
        ),
        None => (named, if digest.is_some() { "" } else { "latest" }),
    };
    if name.is_empty() {
        return None;
    }
    Some(ImageRef {
        name: name.to_string(),
        tag: tag.to_string(),
    })
}

/// RFC 3339 (`2024-05-07T10:00:00.123456789Z`, `…+02:00`) to nanoseconds since the epoch. `None`
/// for malformed input and for times before 1970 (Go's zero time `0001-01-01T00:00:00Z` means unset).
pub fn parse_rfc3339_ns(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let part = s.get(from..to)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos: i64 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        for (i, c) in frac[..digits].bytes().enumerate().take(9) {
            nanos += i64::from(c - b'0') * 10i64.pow(8 - i as u32);
        }
        rest = &frac[digits..];
    }
    let offset_secs = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digit = |c: &u8| c.is_ascii_digit().then(|| i64::from(c - b'0'));
            let h = digit(h1)? * 10 + digit(h2)?;
            let m = digit(m1)? * 10 + digit(m2)?;
            let secs = h * 3600 + m * 60;
            if *sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    if secs < 0 {
        return None;
    }
    u64::try_from(secs)
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(nanos as u64)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(name: &str, tag: &str) -> Option<ImageRef> {
        Some(ImageRef {
            name: name.into(),
            tag: tag.into(),
        })
    }

    #[test]
    fn image_references() {
        let cases = [
            ("localhost/rampart-test-busybox:1.0", image("localhost/rampart-test-busybox", "1.0")),
            ("nginx", image("nginx", "latest")),
            ("nginx:1.25-alpine", image("nginx", "1.25-alpine")),
            ("docker.io/library/nginx:latest", image("docker.io/library/nginx", "latest")),
            ("registry.local:5000/team/app", image("registry.local:5000/team/app", "latest")),
            ("registry.local:5000/team/app:v2", image("registry.local:5000/team/app", "v2")),
            (
                "ghcr.io/o/app@sha256:0fb1bd7683279e02b1c651eefa549e090ca0c754afed358bfe7285d5838c597c",
                image("ghcr.io/o/app", ""),
            ),
            (
                "ghcr.io/o/app:1.2@sha256:0fb1bd7683279e02b1c651eefa549e090ca0c754afed358bfe7285d5838c597c",
                image("ghcr.io/o/app", "1.2"),
            ),
            ("sha256:0fb1bd7683279e02b1c651eefa549e090ca0c754afed358bfe7285d5838c597c", None),
            ("0fb1bd7683279e02b1c651eefa549e090ca0c754afed358bfe7285d5838c597c", None),
            ("", None),
        ];
        for (reference, expected) in cases {
            assert_eq!(parse_image_reference(reference), expected, "{reference}");
        }
        assert!(is_image_id("sha256:0fb1bd76"));
        assert!(!is_image_id("nginx"));
        assert!(!is_image_id("cafe"));
    }

    #[test]
    fn rfc3339_times() {
        // Answers seen from podman 4.3 and Docker.
        assert_eq!(parse_rfc3339_ns("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ns("2026-11-23T08:00:04.04387752Z"),
            Some(1_795_420_804_043_877_520)
        );
        assert_eq!(
            parse_rfc3339_ns("2015-01-06T15:47:31.485331387Z"),
            Some(1_420_559_251_485_331_387)
        );
        assert_eq!(
            parse_rfc3339_ns("2015-01-06T16:47:31.485331387+01:00"),
            parse_rfc3339_ns("2015-01-06T15:47:31.485331387Z")
        );
        assert_eq!(
            parse_rfc3339_ns("2015-01-06T10:17:31-05:30"),
            Some(1_420_559_251_000_000_000)
        );
        assert_eq!(
            parse_rfc3339_ns("2000-02-29T00:00:00.5Z"),
            Some(951_782_400_500_000_000)
        );
        // More than nine fractional digits: extra precision is dropped.
        assert_eq!(
            parse_rfc3339_ns("1970-01-01T00:00:01.1234567891Z"),
            Some(1_123_456_789)
        );
        for bad in [
            "",
            "0001-01-01T00:00:00Z",
            "2015-01-06",
            "2015-01-06T15:47:31",
            "2015-13-06T15:47:31Z",
            "2015-01-06T25:47:31Z",
            "2015-01-06T15:47:31.Z",
            "2015-01-06T15:47:31+0100",
            "2015-01-06T15:47:31Zjunk",
            "20x5-01-06T15:47:31Z",
        ] {
            assert_eq!(parse_rfc3339_ns(bad), None, "{bad}");
        }
    }

    #[test]
    fn socket_list() {
        let defaults: Vec<PathBuf> = DEFAULT_SOCKETS.iter().map(PathBuf::from).collect();
        assert_eq!(sockets_from(None), defaults);
        assert_eq!(sockets_from(Some("")), defaults);
        assert_eq!(
            sockets_from(Some("/a.sock:unix:///b.sock: /c.sock ")),
            vec![
                PathBuf::from("/a.sock"),
                PathBuf::from("/b.sock"),
                PathBuf::from("/c.sock")
            ]
        );
    }

    #[test]
    fn inspect_json_shape() {
        // Trimmed from podman 4.3's compat answer (labels null, name with a leading slash).
        let body = r#"{"Id":"462e","Created":"2026-11-23T08:00:04.04387752Z","Name":"/t1",
            "Image":"sha256:0fb1","Config":{"Image":"localhost/rampart-test-busybox:1.0","Labels":null}}"#;
        let parsed: InspectJson = serde_json::from_str(body).unwrap();
        assert_eq!(parsed.name, "/t1");
        assert_eq!(
            parsed.config.unwrap().image,
            "localhost/rampart-test-busybox:1.0"
        );
    }

    #[tokio::test]
    async fn absent_socket_fails_fast_with_connect_error() {
        let api = DockerApi::new("/nonexistent/rampart-test.sock", Duration::from_millis(500));
        let started = std::time::Instant::now();
        let err = api.inspect_container("x").await.unwrap_err();
        assert!(matches!(err, ApiError::Connect { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_millis(400));
    }

    #[tokio::test]
    async fn silent_server_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("silent.sock");
        let server = crate::container::silent_socket(&path);
        let api = DockerApi::new(&path, Duration::from_millis(200));
        let started = std::time::Instant::now();
        let err = api.ping().await.unwrap_err();
        assert!(matches!(err, ApiError::Timeout { .. }), "{err}");
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(200) && elapsed < Duration::from_secs(2),
            "{elapsed:?}"
        );
        server.abort();
    }
}
