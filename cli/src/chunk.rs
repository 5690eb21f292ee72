//! Records copied out of the consumer in chunks: one arena of bytes per chunk holding the
//! values and headers of a few thousand records, so a worker thread can decode them while
//! the reading thread goes on polling (a borrowed Kafka message cannot leave its thread).

use event_store::wire::HeaderView;
use rdkafka::Message;
use rdkafka::message::{BorrowedMessage, Headers};

/// Where a piece of a record sits in its chunk's arena.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    len: usize,
}

#[derive(Debug, Clone, Copy)]
struct Header {
    name: Span,
    value: Option<Span>,
}

/// One record: its place in Kafka, its value, its headers.
#[derive(Debug, Clone, Copy)]
struct Copied {
    partition: i32,
    offset: i64,
    value: Span,
    headers: (usize, usize),
    /// What the reading thread learnt about the record (an export's customer).
    note: Option<Span>,
}

/// A run of records in the order they were read, numbered so the writer can put the
/// chunks back in that order.
#[derive(Debug, Default)]
pub struct Chunk {
    pub seq: u64,
    arena: Vec<u8>,
    headers: Vec<Header>,
    records: Vec<Copied>,
}

/// A record of a chunk, as the decoder reads it.
pub struct Parts<'a> {
    chunk: &'a Chunk,
    record: Copied,
}

impl Parts<'_> {
    pub fn partition(&self) -> i32 {
        self.record.partition
    }

    pub fn offset(&self) -> i64 {
        self.record.offset
    }
}

impl<'a> Parts<'a> {
    pub fn value(&self) -> &'a [u8] {
        self.chunk.bytes(self.record.value)
    }

    /// What the reading thread noted with the record, if anything.
    pub fn note(&self) -> Option<&'a [u8]> {
        self.record.note.map(|n| self.chunk.bytes(n))
    }

    /// The value of header `name` (the first of that name).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        let (from, to) = self.record.headers;
        self.chunk.headers[from..to]
            .iter()
            .find(|h| self.chunk.bytes(h.name) == name.as_bytes())
            .and_then(|h| h.value.map(|v| self.chunk.bytes(v)))
    }
}

impl Chunk {
    pub fn new(seq: u64) -> Self {
        Self {
            seq,
            ..Self::default()
        }
    }

    /// A chunk whose arena reuses `bytes` (emptied), so chunk after chunk the same memory
    /// is filled instead of fresh pages being mapped and faulted in.
    pub fn reusing(seq: u64, bytes: Vec<u8>) -> Self {
        let mut arena = bytes;
        arena.clear();
        Self {
            seq,
            arena,
            ..Self::default()
        }
    }

    /// Gives the arena back, for [`Chunk::reusing`].
    pub fn into_arena(self) -> Vec<u8> {
        self.arena
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Bytes held, values and headers.
    pub fn weight(&self) -> usize {
        self.arena.len()
    }

    /// Copies `message` in.
    pub fn push(&mut self, message: &BorrowedMessage<'_>) {
        let headers = message.headers();
        let pairs = headers
            .iter()
            .flat_map(|h| h.iter())
            .map(|h| (h.key.as_bytes(), h.value));
        self.push_parts(
            message.partition(),
            message.offset(),
            pairs,
            message.payload().unwrap_or_default(),
        );
    }

    /// Copies `message` in with its `headers` (read once by the caller) and a `note` for
    /// whoever decodes it.
    pub fn push_noted(
        &mut self,
        message: &BorrowedMessage<'_>,
        headers: &HeaderView<'_>,
        note: Option<&[u8]>,
    ) {
        let pairs = headers.pairs().map(|(k, v)| (k.as_bytes(), Some(v)));
        self.push_parts(
            message.partition(),
            message.offset(),
            pairs,
            message.payload().unwrap_or_default(),
        );
        if let (Some(note), Some(record)) = (note, self.records.len().checked_sub(1)) {
            let span = self.put(note);
            self.records[record].note = Some(span);
        }
    }

    /// Copies a record given by its parts in.
    pub fn push_parts<'h>(
        &mut self,
        partition: i32,
        offset: i64,
        headers: impl Iterator<Item = (&'h [u8], Option<&'h [u8]>)>,
        value: &[u8],
    ) {
        let first = self.headers.len();
        for (name, header_value) in headers {
            let name = self.put(name);
            let value = header_value.map(|v| self.put(v));
            self.headers.push(Header { name, value });
        }
        let value = self.put(value);
        self.records.push(Copied {
            partition,
            offset,
            value,
            headers: (first, self.headers.len()),
            note: None,
        });
    }

    /// The records, in the order they were pushed.
    pub fn records(&self) -> impl Iterator<Item = Parts<'_>> {
        self.records.iter().map(|&record| Parts {
            chunk: self,
            record,
        })
    }

    fn put(&mut self, bytes: &[u8]) -> Span {
        let start = self.arena.len();
        self.arena.extend_from_slice(bytes);
        Span {
            start,
            len: bytes.len(),
        }
    }

    fn bytes(&self, span: Span) -> &[u8] {
        &self.arena[span.start..span.start + span.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_with_their_headers_and_values() {
        let mut chunk = Chunk::new(7);
        let headers: [(&[u8], Option<&[u8]>); 3] = [
            (b"ce_type", Some(b"dev.orderlog.order.placed")),
            (b"empty", None),
            (b"ce_type", Some(b"second of the name")),
        ];
        chunk.push_parts(2, 41, headers.into_iter(), b"{\"a\":1}");
        chunk.push_parts(3, 9, std::iter::empty(), b"");
        let records: Vec<_> = chunk.records().collect();
        assert_eq!(records.len(), 2);
        assert_eq!((records[0].partition(), records[0].offset()), (2, 41));
        assert_eq!(
            records[0].header("ce_type"),
            Some(&b"dev.orderlog.order.placed"[..])
        );
        assert_eq!(records[0].header("empty"), None);
        assert_eq!(records[0].header("missing"), None);
        assert_eq!(records[0].value(), b"{\"a\":1}");
        assert_eq!(records[1].header("ce_type"), None);
        assert_eq!(records[1].value(), b"");
    }
}
