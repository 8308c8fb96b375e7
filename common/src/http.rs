//! Doris HTTP API replies shared by the FE and BE web servers.

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
