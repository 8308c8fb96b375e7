//! Doris HTTP API replies and handlers shared by the FE and BE web servers.

use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

/// The stream-load reply for a load this build cannot run yet (Doris's JSON shape, so
/// scripts that check `Status` see a clear failure rather than an HTTP 404).
pub fn stream_load_not_supported(label: &str) -> Value {
    json!({
        "TxnId": -1,
        "Label": label,
        "Comment": "",
        "TwoPhaseCommit": "false",
        "Status": "Fail",
        "Message": "not supported yet: stream load",
        "NumberTotalRows": 0,
        "NumberLoadedRows": 0,
        "NumberFilteredRows": 0,
        "NumberUnselectedRows": 0,
        "LoadBytes": 0,
        "LoadTimeMs": 0,
        "BeginTxnTimeMs": 0,
        "StreamLoadPutTimeMs": 0,
        "ReadDataTimeMs": 0,
        "WriteDataTimeMs": 0,
        "CommitAndPublishTimeMs": 0
    })
}

/// `PUT /api/{db}/{table}/_stream_load` until stream load is built.
pub async fn stream_load_handler(headers: HeaderMap) -> Json<Value> {
    let label = headers
        .get("label")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    Json(stream_load_not_supported(label))
}
