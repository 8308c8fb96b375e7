//! HTTP in end-to-end tests through real `curl`, run the way users run it: stream loads
//! follow the FE's 307 to a BE with `--location-trusted -u user:password`.

use std::path::Path;

use serde_json::Value;

/// `curl --location-trusted -u <auth> [-T body | -X PUT] -H k:v ... <url>`: the HTTP status
/// and the reply (JSON, or the text as a JSON string). Panics when curl itself fails.
pub async fn put(
    url: &str,
    auth: &str,
    headers: &[(&str, &str)],
    body: Option<&Path>,
) -> (u16, Value) {
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args([
        "-sS",
        "--location-trusted",
        "-u",
        auth,
        "-w",
        "\n%{http_code}",
    ]);
    match body {
        Some(path) => cmd.arg("-T").arg(path),
        None => cmd.args(["-X", "PUT"]),
    };
    for (k, v) in headers {
        cmd.arg("-H").arg(format!("{k}:{v}"));
    }
    let out = cmd
        .arg(url)
        .output()
        .await
        .expect("curl must be installed (bin/install-deps.sh)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "curl PUT {url} failed: {}{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (reply, code) = text.rsplit_once('\n').unwrap_or(("", text.as_str()));
    let code = code.trim().parse().unwrap_or(0);
    let value = serde_json::from_str(reply.trim()).unwrap_or(Value::String(reply.to_string()));
    (code, value)
}

/// `curl <url>`: the HTTP status and the body.
pub async fn get(url: &str) -> (u16, String) {
    request(&[], url).await
}

/// `curl -X POST <url>`: the HTTP status and the body.
pub async fn post(url: &str) -> (u16, String) {
    request(&["-X", "POST"], url).await
}

async fn request(args: &[&str], url: &str) -> (u16, String) {
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .await
        .expect("curl must be installed (bin/install-deps.sh)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", text.as_str()));
    (code.trim().parse().unwrap_or(0), body.to_string())
}
