//! Sending a JSON request to a vendor and sorting the answer into delivered, retry later, or give up.

use std::time::Duration;

use super::DeliveryError;

/// Sends `body` and returns the HTTP status of a 2xx answer.
pub async fn send_json(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Result<u16, DeliveryError> {
    let mut req = client
        .request(method, url)
        .header("content-type", "application/json")
        .header("user-agent", concat!("Rampart/", env!("CARGO_PKG_VERSION")));
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = req.body(body).send().await.map_err(|e| {
        // Connection refused, reset, timed out: the receiver may come back.
        let retryable = !e.is_builder();
        DeliveryError {
            retryable,
            status: None,
            message: error_chain(&e),
            retry_after: None,
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
    let snippet: String = text
        .chars()
        .take(300)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Err(DeliveryError {
        // Throttled, timed out, or a server error: retry. Other 4xx (bad URL, key or payload) will not heal.
        retryable: matches!(status, 408 | 425 | 429) || status >= 500,
        status: Some(status),
        message: format!("HTTP {status}: {snippet}"),
        retry_after,
    })
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
    s: &super::Senders,
    url: &str,
    headers: &[(String, String)],
    body: &serde_json::Value,
) -> Result<u16, DeliveryError> {
    let bytes = serde_json::to_vec(body).map_err(|e| DeliveryError::permanent(e.to_string()))?;
    send_json(&s.http, reqwest::Method::POST, url, headers, bytes).await
}
