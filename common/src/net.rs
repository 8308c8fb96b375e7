//! Accepting TCP connections for the gRPC servers: tonic's `tcp_nodelay` only applies
//! when tonic binds the port itself, so pre-bound listeners set it here (small RPCs would
//! otherwise wait on Nagle's algorithm and delayed ACKs, ~40 ms each).

use futures::{Stream, StreamExt};
use tokio::net::{TcpListener, TcpStream};

/// The connections of `listener`, with `TCP_NODELAY` set on each.
pub fn nodelay_incoming(listener: TcpListener) -> impl Stream<Item = std::io::Result<TcpStream>> {
    tokio_stream::wrappers::TcpListenerStream::new(listener).map(|conn| {
        conn.inspect(|s| {
            if let Err(e) = s.set_nodelay(true) {
                tracing::debug!(error = %e, "cannot set TCP_NODELAY");
            }
        })
    })
}
