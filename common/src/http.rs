//! Doris HTTP API pieces shared by the FE and BE web servers: basic-auth credentials and
//! the JSON replies of stream load.

use axum::http::HeaderMap;
use base64::Engine;
use serde::Serialize;

/// `(user, password)` from `Authorization: Basic base64(user:password)`.
pub fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':').unwrap_or((text.as_str(), ""));
    // Doris accepts `user@cluster` style names; the cluster part is not used here.
    Some((user.to_string(), password.to_string()))
}

/// A header's value as text (names are case-insensitive).
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The stream-load reply, with Doris's field names and order.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamLoadReply {
    pub txn_id: i64,
    pub label: String,
    pub comment: String,
    /// "true" / "false", a string as in Doris.
    pub two_phase_commit: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing_job_status: Option<String>,
    pub message: String,
    pub number_total_rows: u64,
    pub number_loaded_rows: u64,
    pub number_filtered_rows: u64,
    pub number_unselected_rows: u64,
    pub load_bytes: u64,
    pub load_time_ms: u64,
    pub begin_txn_time_ms: u64,
    pub stream_load_put_time_ms: u64,
    pub read_data_time_ms: u64,
    pub write_data_time_ms: u64,
    pub receive_data_time_ms: u64,
    pub commit_and_publish_time_ms: u64,
    #[serde(rename = "ErrorURL", skip_serializing_if = "Option::is_none")]
    pub error_url: Option<String>,
}

impl StreamLoadReply {
    /// A load that failed before any transaction began.
    pub fn failed(label: &str, message: impl Into<String>) -> Self {
        Self {
            txn_id: -1,
            label: label.to_string(),
            two_phase_commit: "false".into(),
            status: "Fail".into(),
            message: message.into(),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_decodes_user_and_password() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            "Basic cm9vdDpzZWNyZXQ=".parse().expect("header value"),
        );
        assert_eq!(basic_auth(&h), Some(("root".into(), "secret".into())));
        h.insert(
            "authorization",
            "Basic cm9vdDo=".parse().expect("header value"),
        );
        assert_eq!(basic_auth(&h), Some(("root".into(), String::new())));
        h.insert("authorization", "Bearer x".parse().expect("header value"));
        assert_eq!(basic_auth(&h), None);
    }

    #[test]
    fn reply_uses_doris_field_names() {
        let mut r = StreamLoadReply::failed("l1", "boom");
        r.error_url = Some("http://x".into());
        let v = serde_json::to_value(&r).expect("json");
        assert_eq!(v["TxnId"], -1);
        assert_eq!(v["Status"], "Fail");
        assert_eq!(v["ErrorURL"], "http://x");
        assert_eq!(v["NumberTotalRows"], 0);
        assert_eq!(v["TwoPhaseCommit"], "false");
        assert!(v.get("ExistingJobStatus").is_none());
    }
}
