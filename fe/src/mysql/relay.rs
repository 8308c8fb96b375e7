//! A thin relay between a client socket and opensrv-mysql that answers COM_FIELD_LIST
//! itself. opensrv answers it with an 8-byte 0xFE packet, which libmariadb (the Debian
//! `mysql` client) does not accept as the end of the field list (it wants fewer than 8
//! bytes), so `USE db` in the interactive client hung while reading table information.
//! Entry point: [`relay`].

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Mutex;

const COM_FIELD_LIST: u8 = 0x04;
const CLIENT_DEPRECATE_EOF: u32 = 0x0100_0000;
/// Largest packet the relay buffers whole (bigger ones are streamed through unchanged).
const MAX_PACKET: usize = 1 << 24;

/// Copies bytes between `client` and `server` (the opensrv side) until either side closes,
/// answering COM_FIELD_LIST with an empty field list.
pub async fn relay(client_r: OwnedReadHalf, client_w: OwnedWriteHalf, server: DuplexStream) {
    let (mut server_r, mut server_w) = tokio::io::split(server);
    let client_w = Arc::new(Mutex::new(client_w));
    let to_client = {
        let client_w = Arc::clone(&client_w);
        async move {
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
        let _ = server_w.shutdown().await;
    };
    tokio::join!(to_client, to_server);
}
