//! Stream load on the BE: the HTTP body is decompressed and parsed as it arrives
//! ([`format`]), mapped and converted to the table's rows ([`convert`]), written into
//! tablets under a load transaction that the FE begins and commits ([`stream_load`]);
//! rejected rows go to an error log ([`error_log`]). Headers: [`request`].

pub mod convert;
pub mod error_log;
pub mod format;
pub mod request;
pub mod stream_load;
