//! Sending a JSON request to a vendor and sorting the answer into delivered, retry later, or give up.

use std::time::Duration;

use super::{response_snippet, DeliveryError, Senders};
use crate::notify::egress;

/// Sends `body` and returns the HTTP status of a 2xx answer. The host is checked against the egress policy:
/// an IP literal here, a name by the client's resolver (see `notify::egress`).
pub async fn send_json(
    s: &Senders,
    method: reqwest::Method,
    url: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Result<u16, DeliveryError> {
    let parsed =
        url::Url::parse(url).map_err(|e| DeliveryError::permanent(format!("{url}: {e}")))?;
    s.egress
        .check_literal(&parsed)
        .map_err(|r| DeliveryError::refused(&r))?;
    let mut req = s
        .http
        .request(method, parsed)
        .header("content-type", "application/json")
        .header("user-agent", concat!("Rampart/", env!("CARGO_PKG_VERSION")));
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = req.body(body).send().await.map_err(|e| {
        if let Some(r) = egress::refusal(&e) {
            return DeliveryError::refused(r);
        }
        // Connection refused, reset, timed out: the receiver may come back.
        let retryable = !e.is_builder();
        DeliveryError {
            retryable,
            status: None,
            message: error_chain(&e),
            retry_after: None,
            response: None,
        }
    })?;
    let status = resp.status().as_u16();
    if resp.status().is_success() {
        return Ok(status);
    }
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(3600)));
    let text = resp.text().await.unwrap_or_default();
    Err(DeliveryError {
        // Throttled, timed out, or a server error: retry. Other 4xx (bad URL, key or payload) will not heal.
        // A redirect is not followed (its target was never checked): it fails like any other answer.
        retryable: matches!(status, 408 | 425 | 429) || status >= 500,
        status: Some(status),
        message: if resp_is_redirect(status) {
            format!("HTTP {status}: redirects are not followed")
        } else {
            format!("HTTP {status}")
        },
        retry_after,
        response: response_snippet(&text),
    })
}

fn resp_is_redirect(status: u16) -> bool {
    (300..400).contains(&status)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// POSTs a JSON value.
pub async fn post(
    s: &Senders,
    url: &str,
    headers: &[(String, String)],
    body: &serde_json::Value,
) -> Result<u16, DeliveryError> {
    let bytes = serde_json::to_vec(body).map_err(|e| DeliveryError::permanent(e.to_string()))?;
    send_json(s, reqwest::Method::POST, url, headers, bytes).await
}
