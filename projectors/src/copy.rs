//! New rows written with PostgreSQL's binary `COPY` (the "Binary Format" of
//! <https://www.postgresql.org/docs/current/sql-copy.html>), inside a projection's
//! transaction. A row no earlier batch wrote needs no conflict check, and `COPY` costs
//! the server far less than an `INSERT` over `UNNEST`ed arrays: no arrays to receive,
//! no table function to materialize, no speculative insertion.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// PostgreSQL's epoch for timestamps, 2000-01-01T00:00:00Z, in Unix microseconds.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Fewer rows than this are written with one `INSERT ... SELECT FROM UNNEST` instead of a
/// `COPY`: one round trip instead of three. A `COPY` from sqlx ends with two writes (the
/// data, then CopyDone); with Nagle's algorithm on, the second waits for the server to
/// acknowledge the first, which a server with nothing to answer yet delays (40 ms on
/// Linux). sqlx 0.9.0 left Nagle on (0.8 and 0.9.1 set `TCP_NODELAY`): every `COPY` paid
/// the delay, 92 ms a batch of the orders projection (two `COPY`s), freshness p50 112 ms
/// until session 11, and a catch-up at 13 to 18% of its `COPY` ceiling until session 15.
/// The workspace requires sqlx 0.9.1 for this.
pub(crate) const COPY_FROM_ROWS: usize = 64;

/// Rows being encoded for one `COPY ... FROM STDIN (FORMAT binary)`.
pub(crate) struct BinaryRows {
    buf: Vec<u8>,
    columns: u16,
    rows: usize,
}

impl BinaryRows {
    /// Rows of `columns` fields each.
    pub(crate) fn new(columns: u16) -> Self {
        let mut buf = Vec::with_capacity(64 * 1024);
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buf.extend_from_slice(&0_i32.to_be_bytes()); // flags: no OIDs
        buf.extend_from_slice(&0_i32.to_be_bytes()); // no header extension
        Self {
            buf,
            columns,
            rows: 0,
        }
    }

    /// Starts a row; exactly `columns` fields must follow.
    pub(crate) fn row(&mut self) -> &mut Self {
        self.buf
            .extend_from_slice(&(self.columns as i16).to_be_bytes());
        self.rows += 1;
        self
    }

    /// Appends one field of the current row.
    pub(crate) fn field(&mut self, value: impl Field) -> &mut Self {
        value.write(&mut self.buf);
        self
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The encoded rows with their trailer.
    fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1_i16).to_be_bytes());
        self.buf
    }

    /// Sends the rows with `statement` (a `COPY ... FROM STDIN (FORMAT binary)`).
    pub(crate) async fn copy_in(
        self,
        tx: &mut PgConnection,
        statement: &str,
    ) -> Result<u64, sqlx::Error> {
        let mut copy = tx.copy_in_raw(statement).await?;
        if let Err(error) = copy.send(self.finish()).await {
            // Leave the connection usable; the transaction fails with the first error.
            let _ = copy.abort("sending rows failed").await;
            return Err(error);
        }
        copy.finish().await
    }
}

/// A value as one binary `COPY` field: its length, then its bytes in the type's binary
/// wire format.
pub(crate) trait Field {
    fn write(&self, out: &mut Vec<u8>);
}

/// Writes a length placeholder, runs `body`, then patches the length in.
fn with_length(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&0_i32.to_be_bytes());
    body(out);
    let length = (out.len() - at - 4) as i32;
    out[at..at + 4].copy_from_slice(&length.to_be_bytes());
}

impl Field for Uuid {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&16_i32.to_be_bytes());
        out.extend_from_slice(self.as_bytes());
    }
}

impl Field for &str {
    fn write(&self, out: &mut Vec<u8>) {
        with_length(out, |out| out.extend_from_slice(self.as_bytes()));
    }
}

impl Field for i32 {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&4_i32.to_be_bytes());
        out.extend_from_slice(&self.to_be_bytes());
    }
}

impl Field for i64 {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&8_i32.to_be_bytes());
        out.extend_from_slice(&self.to_be_bytes());
    }
}

/// `bool`: one byte, 1 or 0.
impl Field for bool {
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&1_i32.to_be_bytes());
        out.push(u8::from(*self));
    }
}

/// `timestamptz`: microseconds since PostgreSQL's epoch (sub-microsecond digits dropped,
/// as PostgreSQL stores them).
impl Field for DateTime<Utc> {
    fn write(&self, out: &mut Vec<u8>) {
        (self.timestamp_micros() - PG_EPOCH_MICROS).write(out);
    }
}

/// `jsonb`: a format version byte, then the JSON text.
pub(crate) struct Jsonb<'a>(pub &'a serde_json::Value);

impl Field for Jsonb<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        with_length(out, |out| {
            out.push(1);
            // Writing a Value into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, self.0);
        });
    }
}

/// `jsonb` from JSON text already encoded.
pub(crate) struct JsonbText<'a>(pub &'a [u8]);

impl Field for JsonbText<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        with_length(out, |out| {
            out.push(1);
            out.extend_from_slice(self.0);
        });
    }
}

/// NULL is a length of -1 and no bytes.
impl<T: Field> Field for Option<T> {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Some(value) => value.write(out),
            None => out.extend_from_slice(&(-1_i32).to_be_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn field(value: impl Field) -> Vec<u8> {
        let mut out = Vec::new();
        value.write(&mut out);
        out
    }

    #[test]
    fn fields_are_length_prefixed_big_endian() {
        assert_eq!(field(7_i32), [0, 0, 0, 4, 0, 0, 0, 7]);
        assert_eq!(
            field(-2_i64),
            [0, 0, 0, 8, 255, 255, 255, 255, 255, 255, 255, 254]
        );
        assert_eq!(field("ab"), [0, 0, 0, 2, b'a', b'b']);
        assert_eq!(field(None::<i32>), [255, 255, 255, 255]);
        assert_eq!(field(Some("")), [0, 0, 0, 0]);
        let id = Uuid::from_u128(0x0102);
        assert_eq!(field(id)[..4], [0, 0, 0, 16]);
        assert_eq!(field(id)[4..], *id.as_bytes());
    }

    #[test]
    fn timestamps_count_microseconds_from_2000() {
        let epoch = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(field(epoch)[4..], 0_i64.to_be_bytes());
        let later = epoch + chrono::Duration::nanoseconds(1_500_999);
        assert_eq!(field(later)[4..], 1_500_i64.to_be_bytes());
    }

    #[test]
    fn jsonb_is_version_one_then_text() {
        let value = serde_json::json!({"a": 1});
        assert_eq!(field(Jsonb(&value)), b"\0\0\0\x08\x01{\"a\":1}");
        assert_eq!(field(JsonbText(b"{\"a\":1}")), field(Jsonb(&value)));
    }

    #[test]
    fn a_stream_has_header_rows_and_trailer() {
        let mut rows = BinaryRows::new(2);
        assert!(rows.is_empty());
        rows.row().field(1_i32).field(None::<&str>);
        assert!(!rows.is_empty());
        let bytes = rows.finish();
        assert_eq!(&bytes[..11], b"PGCOPY\n\xff\r\n\0");
        assert_eq!(&bytes[11..19], [0; 8]);
        assert_eq!(&bytes[19..21], [0, 2]);
        assert_eq!(&bytes[21..29], [0, 0, 0, 4, 0, 0, 0, 1]);
        assert_eq!(&bytes[29..33], [255; 4]);
        assert_eq!(&bytes[33..], [255, 255]);
    }
}
