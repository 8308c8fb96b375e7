//! A tiny HTTP/1.1 client over tokio's `TcpStream`, just enough for Doris stream load.
//! [`put`] sends one PUT with basic auth `root:`, honours `Expect: 100-continue`, and follows
//! 307/308 redirects (re-sending the auth header to the new host, as Doris requires).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Limit for one whole call, redirects included.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(300);
/// How long to wait for `100 Continue` before sending the body anyway (RFC 9110 §10.1.1).
const CONTINUE_WAIT: Duration = Duration::from_secs(2);
const MAX_REDIRECTS: usize = 5;
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// A final (non-1xx) response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// `host:port` + path that produced this response (after redirects).
    pub url: String,
}

impl Response {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) UTF-8.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `PUT http://{host_port}{path}` with basic auth `root:` and the given extra headers.
pub async fn put(
    host_port: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Response, String> {
    match tokio::time::timeout(HTTP_TIMEOUT, put_following(host_port, path, headers, body)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "PUT http://{host_port}{path} timed out after {} s",
            HTTP_TIMEOUT.as_secs()
        )),
    }
}

async fn put_following(
    host_port: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Response, String> {
    let mut target = (host_port.to_string(), path.to_string());
    for _ in 0..=MAX_REDIRECTS {
        let resp = put_once(&target.0, &target.1, headers, body).await?;
        if matches!(resp.status, 301 | 302 | 303 | 307 | 308) {
            let location = resp.header("Location").ok_or_else(|| {
                format!(
                    "{} answered {} without a Location header",
                    resp.url, resp.status
                )
            })?;
            target = resolve_location(&target.0, location)?;
            continue;
        }
        return Ok(resp);
    }
    Err(format!(
        "more than {MAX_REDIRECTS} redirects starting at http://{host_port}{path}"
    ))
}

/// `http://h:p/x?y` → (`h:p`, `/x?y`); `/x` → (current host, `/x`).
pub fn resolve_location(current_host: &str, location: &str) -> Result<(String, String), String> {
    if location.starts_with('/') {
        return Ok((current_host.to_string(), location.to_string()));
    }
    let rest = location
        .strip_prefix("http://")
        .ok_or_else(|| format!("unsupported redirect Location `{location}` (only http://)"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let host = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    Ok((host, path.to_string()))
}

/// Buffered reads on one connection.
struct Reader {
    stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

impl Reader {
    async fn fill(&mut self) -> Result<usize, String> {
        let mut chunk = [0u8; 8192];
        let n = self
            .stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("reading the response: {e}"))?;
        if n == 0 {
            self.eof = true;
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads a status line + headers (up to the blank line).
    async fn read_head(&mut self) -> Result<(u16, Vec<(String, String)>), String> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..end + 4).collect();
                return parse_head(&String::from_utf8_lossy(&head[..end]));
            }
            if self.buf.len() > MAX_HEAD_BYTES {
                return Err("response header too large".to_string());
            }
            if self.fill().await? == 0 {
                return Err(format!(
                    "connection closed before a complete response header (got {:?})",
                    String::from_utf8_lossy(&self.buf)
                ));
            }
        }
    }

    async fn read_exact(&mut self, n: usize) -> Result<Vec<u8>, String> {
        while self.buf.len() < n {
            if self.fill().await? == 0 {
                return Err(format!(
                    "connection closed after {} of {n} body bytes",
                    self.buf.len()
                ));
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    async fn read_line(&mut self) -> Result<String, String> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..end + 2).collect();
                return Ok(String::from_utf8_lossy(&line[..end]).into_owned());
            }
            if self.fill().await? == 0 {
                return Err("connection closed inside a chunked body".to_string());
            }
        }
    }

    async fn read_body(&mut self, headers: &[(String, String)]) -> Result<Vec<u8>, String> {
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
        };
        if get("Transfer-Encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
            let mut body = Vec::new();
            loop {
                let line = self.read_line().await?;
                let size_text = line.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size_text, 16)
                    .map_err(|_| format!("bad chunk size line `{line}`"))?;
                if size == 0 {
                    // Trailers, if any, end with an empty line.
                    while !self.read_line().await?.is_empty() {}
                    return Ok(body);
                }
                body.extend(self.read_exact(size).await?);
                self.read_exact(2).await?;
            }
        }
        if let Some(len) = get("Content-Length") {
            let n: usize = len
                .parse()
                .map_err(|_| format!("bad Content-Length `{len}`"))?;
            return self.read_exact(n).await;
        }
        while !self.eof {
            self.fill().await?;
        }
        Ok(std::mem::take(&mut self.buf))
    }
}

async fn put_once(
    host_port: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Response, String> {
    let url = format!("http://{host_port}{path}");
    let stream = TcpStream::connect(host_port)
        .await
        .map_err(|e| format!("connecting to {url}: {e}"))?;
    let mut r = Reader {
        stream,
        buf: Vec::new(),
        eof: false,
    };
    let expect_continue = !body.is_empty();
    let mut head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {host_port}\r\nAuthorization: Basic {}\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        base64("root:"),
        body.len()
    );
    if expect_continue {
        head.push_str("Expect: 100-continue\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    r.stream
        .write_all(head.as_bytes())
        .await
        .map_err(|e| format!("sending request to {url}: {e}"))?;

    // With a body, wait briefly for `100 Continue` or an early final answer (e.g. the FE's
    // 307, which must not be followed by the body); send the body on 100 or on silence.
    let early = if expect_continue {
        match tokio::time::timeout(CONTINUE_WAIT, r.read_head()).await {
            Ok(head) => Some(head?),
            Err(_) => None,
        }
    } else {
        None
    };
    let (status, resp_headers) = match early {
        Some((status, h)) if status >= 200 => (status, h),
        _ => {
            if expect_continue {
                r.stream
                    .write_all(body)
                    .await
                    .map_err(|e| format!("sending the body to {url}: {e}"))?;
            }
            let mut final_head = r.read_head().await?;
            while final_head.0 < 200 {
                final_head = r.read_head().await?;
            }
            final_head
        }
    };
    let body = r.read_body(&resp_headers).await?;
    Ok(Response {
        status,
        headers: resp_headers,
        body,
        url,
    })
}

fn parse_head(head: &str) -> Result<(u16, Vec<(String, String)>), String> {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or("");
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| version.starts_with("HTTP/"))
        .ok_or_else(|| format!("bad HTTP status line `{status_line}`"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok((status, headers))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Standard base64 with padding.
pub fn base64(input: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Checks `K=V` assertions against a JSON object: strings compare as-is, other values as their
/// JSON text (`2`, `true`, `null`). Returns one message per failed assertion.
pub fn check_json(body: &str, expect: &[(String, String)]) -> Result<(), Vec<String>> {
    let value: serde_json::Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => return Err(vec![format!("response is not JSON ({e}): {body}")]),
    };
    let Some(obj) = value.as_object() else {
        return Err(vec![format!("response is not a JSON object: {body}")]);
    };
    let failures: Vec<String> = expect
        .iter()
        .filter_map(|(k, want)| {
            let got = match obj.get(k) {
                None => return Some(format!("`{k}` is missing (wanted `{want}`)")),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            (got != *want).then(|| format!("`{k}` is `{got}`, wanted `{want}`"))
        })
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn base64_encodes() {
        assert_eq!(base64("root:"), "cm9vdDo=");
        assert_eq!(base64(""), "");
        assert_eq!(base64("ab"), "YWI=");
        assert_eq!(base64("abc"), "YWJj");
    }

    #[test]
    fn resolves_redirects() {
        assert_eq!(
            resolve_location(
                "127.0.0.1:1",
                "http://127.0.0.1:8040/api/d/t/_stream_load?x=1"
            ),
            Ok((
                "127.0.0.1:8040".to_string(),
                "/api/d/t/_stream_load?x=1".to_string()
            ))
        );
        assert_eq!(
            resolve_location("h:1", "/p"),
            Ok(("h:1".to_string(), "/p".to_string()))
        );
        assert!(resolve_location("h:1", "https://x/").is_err());
    }

    #[test]
    fn checks_json_fields() {
        let body = r#"{"Status":"Success","NumberTotalRows":2,"TwoPhaseCommit":"true","X":true}"#;
        let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(
            check_json(
                body,
                &[
                    kv("Status", "Success"),
                    kv("NumberTotalRows", "2"),
                    kv("TwoPhaseCommit", "true"),
                    kv("X", "true")
                ]
            ),
            Ok(())
        );
        let errs =
            check_json(body, &[kv("Status", "Fail"), kv("Missing", "1")]).expect_err("mismatch");
        assert_eq!(errs.len(), 2);
        assert!(check_json("not json", &[]).is_err());
    }

    /// Serves `answers.len()` connections on `listener`, one answer each, and returns the raw
    /// requests. An answer starting with `HTTP/1.1 100` is followed, once `body_len` body bytes
    /// arrived, by a chunked 200 response with the body `{"a":1}`.
    async fn serve(listener: TcpListener, answers: Vec<String>, body_len: usize) -> Vec<String> {
        let mut seen = Vec::new();
        for answer in answers {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            let end = loop {
                let n = s.read(&mut buf).await.expect("read");
                req.extend_from_slice(&buf[..n]);
                if let Some(end) = find(&req, b"\r\n\r\n") {
                    break end;
                }
                assert!(n > 0, "client closed early");
            };
            s.write_all(answer.as_bytes()).await.expect("write");
            if answer.starts_with("HTTP/1.1 100") {
                while req.len() < end + 4 + body_len {
                    let n = s.read(&mut buf).await.expect("read");
                    assert!(n > 0, "client closed before the body");
                    req.extend_from_slice(&buf[..n]);
                }
                s.write_all(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                      4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n",
                )
                .await
                .expect("write");
            }
            seen.push(String::from_utf8_lossy(&req).into_owned());
        }
        seen
    }

    #[tokio::test]
    async fn put_follows_307_and_resends_auth() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let answers = vec![
            format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{addr}/be/path\r\n\
                 Content-Length: 0\r\n\r\n"
            ),
            "HTTP/1.1 100 Continue\r\n\r\n".to_string(),
        ];
        let server = tokio::spawn(serve(listener, answers, 5));
        let headers = vec![("column_separator".to_string(), "\t".to_string())];
        let resp = put(&addr, "/api/d/t/_stream_load", &headers, b"hello").await;
        let seen = server.await.expect("server task");
        let resp = resp.expect("PUT succeeds");
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body_text(), "{\"a\":1}");
        assert_eq!(seen.len(), 2);
        assert!(seen[0].starts_with("PUT /api/d/t/_stream_load HTTP/1.1\r\n"));
        assert!(!seen[0].ends_with("hello"), "no body before 100 Continue");
        assert!(seen[1].starts_with("PUT /be/path HTTP/1.1\r\n"));
        for req in &seen {
            assert!(req.contains("Authorization: Basic cm9vdDo=\r\n"));
            assert!(req.contains("Expect: 100-continue\r\n"));
            assert!(req.contains("column_separator: \t\r\n"));
        }
        assert!(seen[1].ends_with("hello"));
    }

    #[tokio::test]
    async fn put_without_body_reads_content_length_answer() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let answers = vec![
            "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n{\"status\":\"Success\"}".to_string(),
        ];
        let server = tokio::spawn(serve(listener, answers, 0));
        let resp = put(&addr, "/api/d/t/_stream_load_2pc", &[], b"").await;
        let seen = server.await.expect("server task");
        let resp = resp.expect("PUT succeeds");
        assert_eq!(resp.body_text(), "{\"status\":\"Success\"}");
        assert!(!seen[0].contains("Expect:"));
        assert!(seen[0].contains("Content-Length: 0\r\n"));
    }
}
