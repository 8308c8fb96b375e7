//! A thin relay between a client socket and opensrv-mysql that answers COM_FIELD_LIST
//! itself. opensrv answers it with an 8-byte 0xFE packet, which libmariadb (the Debian
//! `mysql` client) does not accept as the end of the field list (it wants fewer than 8
//! bytes), so `USE db` in the interactive client hung while reading table information.
//! It also hides CLIENT_DEPRECATE_EOF in the server greeting: with it, opensrv ends result
//! sets with OK packets that lack SERVER_MORE_RESULTS_EXISTS, so drivers that negotiate it
//! (mysql_async, Connector/J) lost every result after the first of a multi-statement query.
//! Entry point: [`relay`].

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Mutex;

const COM_FIELD_LIST: u8 = 0x04;
const CLIENT_DEPRECATE_EOF: u32 = 0x0100_0000;
/// Packets of the connection phase read whole (greeting, auth switch, login result).
const HANDSHAKE_PACKETS: usize = 4;
/// opensrv's code for a failed login (ER_ACCESS_DENIED_NO_PASSWORD_ERROR).
const OPENSRV_AUTH_FAILED: u16 = 1698;

/// Largest packet the relay buffers whole (bigger ones are streamed through unchanged).
const MAX_PACKET: usize = 1 << 24;

/// Copies bytes between `client` and `server` (the opensrv side) until either side closes,
/// answering COM_FIELD_LIST with an empty field list.
///
/// The client's capability flags (from its handshake response) are stored in `client_caps`;
/// `client_closed` runs as soon as the client's side of the connection ends (so a query it
/// was waiting for can be cancelled at once).
pub async fn relay(
    client_r: OwnedReadHalf,
    client_w: OwnedWriteHalf,
    server: DuplexStream,
    client_caps: Arc<AtomicU32>,
    client_closed: impl FnOnce() + Send,
) {
    let (mut server_r, mut server_w) = tokio::io::split(server);
    let client_w = Arc::new(Mutex::new(client_w));
    let to_client = {
        let client_w = Arc::clone(&client_w);
        async move {
            // The handshake packets are read whole: the greeting gets its capabilities
            // patched, and a failed login is reported with MySQL's access-denied error.
            for n in 0..HANDSHAKE_PACKETS {
                let mut header = [0u8; 4];
                if server_r.read_exact(&mut header).await.is_err() {
                    return;
                }
                let len = usize::from(header[0])
                    | usize::from(header[1]) << 8
                    | usize::from(header[2]) << 16;
                let mut payload = vec![0u8; len];
                if server_r.read_exact(&mut payload).await.is_err() {
                    return;
                }
                if n == 0 {
                    hide_deprecate_eof(&mut payload);
                } else if let Some(err) = access_denied(&payload) {
                    payload = err;
                    let l = payload.len();
                    header[..3].copy_from_slice(&[l as u8, (l >> 8) as u8, (l >> 16) as u8]);
                }
                let mut w = client_w.lock().await;
                if w.write_all(&header).await.is_err() || w.write_all(&payload).await.is_err() {
                    return;
                }
                // After the login's OK or ERR the rest is copied as it comes.
                if n > 0 && matches!(payload.first(), Some(0x00) | Some(0xff)) {
                    break;
                }
            }
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match server_r.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if client_w.lock().await.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            let _ = client_w.lock().await.shutdown().await;
        }
    };
    let to_server = async move {
        let mut client_r = client_r;
        let mut deprecate_eof = false;
        let mut first = true;
        loop {
            let mut header = [0u8; 4];
            if client_r.read_exact(&mut header).await.is_err() {
                break;
            }
            let len =
                usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
            let seq = header[3];
            if len > MAX_PACKET {
                break;
            }
            let mut payload = vec![0u8; len];
            if client_r.read_exact(&mut payload).await.is_err() {
                break;
            }
            if first && payload.len() >= 4 {
                let caps = u32::from_le_bytes([payload[0], payload[1], payload[2], payload[3]]);
                deprecate_eof = caps & CLIENT_DEPRECATE_EOF != 0;
                client_caps.store(caps, Ordering::Relaxed);
                first = false;
            }
            if seq == 0 && payload.first() == Some(&COM_FIELD_LIST) {
                let reply: &[u8] = if deprecate_eof {
                    &[7, 0, 0, 1, 0xfe, 0, 0, 2, 0, 0, 0]
                } else {
                    &[5, 0, 0, 1, 0xfe, 0, 0, 2, 0]
                };
                if client_w.lock().await.write_all(reply).await.is_err() {
                    break;
                }
                continue;
            }
            if server_w.write_all(&header).await.is_err()
                || server_w.write_all(&payload).await.is_err()
            {
                break;
            }
        }
        client_closed();
        let _ = server_w.shutdown().await;
    };
    tokio::join!(to_client, to_server);
}

/// opensrv reports a failed login as error 1698 with its own text; clients and tools expect
/// MySQL's 1045 `Access denied for user '...'` (28000).
fn access_denied(payload: &[u8]) -> Option<Vec<u8>> {
    if payload.first() != Some(&0xff) || payload.len() < 3 {
        return None;
    }
    if u16::from_le_bytes([payload[1], payload[2]]) != OPENSRV_AUTH_FAILED {
        return None;
    }
    let text = String::from_utf8_lossy(payload.get(9..).unwrap_or_default());
    let user = text
        .split("user: \"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("");
    let mut out = vec![0xff];
    out.extend_from_slice(&1045u16.to_le_bytes());
    out.extend_from_slice(b"#28000");
    out.extend_from_slice(format!("Access denied for user '{user}'").as_bytes());
    Some(out)
}

/// Clears CLIENT_DEPRECATE_EOF in a HandshakeV10 payload: protocol byte, NUL-terminated
/// version, connection id (4), scramble part 1 (8), filler (1), capabilities low (2),
/// charset (1), status (2), capabilities high (2).
fn hide_deprecate_eof(greeting: &mut [u8]) {
    let Some(nul) = greeting.iter().skip(1).position(|b| *b == 0) else {
        return;
    };
    let caps_high = 1 + nul + 1 + 4 + 8 + 1 + 2 + 1 + 2;
    let bit = (CLIENT_DEPRECATE_EOF >> 16) as u16;
    if let Some(bytes) = greeting.get_mut(caps_high..caps_high + 2) {
        let high = u16::from_le_bytes([bytes[0], bytes[1]]) & !bit;
        bytes.copy_from_slice(&high.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_failed_login() {
        let mut p = vec![0xff];
        p.extend_from_slice(&1698u16.to_le_bytes());
        p.extend_from_slice(b"#28000Authenticate failed, user: \"jack\", auth_plugin: \"x\"");
        let out = access_denied(&p).expect("rewritten");
        assert_eq!(u16::from_le_bytes([out[1], out[2]]), 1045);
        assert!(String::from_utf8_lossy(&out).ends_with("#28000Access denied for user 'jack'"));
        assert!(access_denied(&[0x00, 0, 0]).is_none());
    }

    #[test]
    fn clears_only_deprecate_eof() {
        let mut g = vec![10u8];
        g.extend_from_slice(b"5.7.99\0");
        g.extend_from_slice(&[1, 0, 0, 0]);
        g.extend_from_slice(&[b'x'; 8]);
        g.push(0);
        g.extend_from_slice(&[0xff, 0xf7]);
        g.push(33);
        g.extend_from_slice(&[2, 0]);
        g.extend_from_slice(&[0x81, 0x01]);
        g.push(21);
        let at = g.len() - 3;
        hide_deprecate_eof(&mut g);
        assert_eq!(&g[at..at + 2], &[0x81, 0x00]);
    }
}
