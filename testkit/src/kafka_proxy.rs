//! A TCP proxy in front of a private broker ([`super::broker::Broker::start_behind`]) that
//! passes every byte through, except that it can hold back the request that initialises a
//! transactional producer (InitProducerId) until told to let it go: a transaction
//! coordinator that stalls for one client while the rest of the cluster answers, as a long
//! pause or a slow network makes it. A held request still reaches the broker when released,
//! even if its client gave up and closed the connection meanwhile.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Kafka's API key of InitProducerId.
const INIT_PRODUCER_ID: i16 = 22;

/// The proxy (a handle on it); it runs until the process ends.
#[derive(Clone)]
pub struct KafkaProxy {
    port: u16,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    upstream: OnceLock<String>,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// Transactional ids starting with this have their first InitProducerId held.
    hold_prefix: Option<String>,
    /// InitProducerId requests seen, by transactional id.
    inits: HashMap<String, usize>,
    /// Requests held back now.
    held: usize,
    released: bool,
}

impl KafkaProxy {
    /// Listens on a free loopback port; connections wait until [`Self::forward_to`]
    /// (which [`crate::broker::Broker::start_behind`] calls).
    ///
    /// # Panics
    /// When no port can be bound.
    pub fn listen() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().expect("address").port();
        let shared = Arc::new(Shared::default());
        let accepting = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let shared = accepting.clone();
                std::thread::spawn(move || {
                    let _ = relay(&shared, client);
                });
            }
        });
        Self { port, shared }
    }

    /// Where the proxied broker listens (`host:port`).
    pub fn forward_to(&self, upstream: &str) {
        let _ = self.shared.upstream.set(upstream.to_owned());
    }

    /// `127.0.0.1:<port>` of the proxy, for clients.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// From now on, the first InitProducerId of every transactional id that starts with
    /// `prefix` is held until [`Self::release`].
    pub fn hold_first_init_of(&self, prefix: &str) {
        let mut state = self.shared.state.lock().expect("lock");
        state.hold_prefix = Some(prefix.to_owned());
        state.released = false;
    }

    /// Lets every held request go, in the order they were held, and holds no more.
    pub fn release(&self) {
        let mut state = self.shared.state.lock().expect("lock");
        state.released = true;
        state.hold_prefix = None;
        self.shared.changed.notify_all();
    }

    /// How many InitProducerId requests of `transactional_id` came through so far (held or not).
    pub fn inits_of(&self, transactional_id: &str) -> usize {
        let state = self.shared.state.lock().expect("lock");
        state.inits.get(transactional_id).copied().unwrap_or(0)
    }

    /// Waits until at least `count` requests are held; false after `patience`.
    pub fn wait_held(&self, count: usize, patience: Duration) -> bool {
        self.wait(patience, |state| state.held >= count)
    }

    /// Waits until `transactional_id` sent at least `count` InitProducerId requests.
    pub fn wait_inits(&self, transactional_id: &str, count: usize, patience: Duration) -> bool {
        self.wait(patience, |state| {
            state.inits.get(transactional_id).copied().unwrap_or(0) >= count
        })
    }

    fn wait(&self, patience: Duration, done: impl Fn(&State) -> bool) -> bool {
        let deadline = Instant::now() + patience;
        let mut state = self.shared.state.lock().expect("lock");
        while !done(&state) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .expect("lock")
                .0;
        }
        true
    }
}

/// One client connection: requests go up frame by frame (a held one holds the frames after
/// it), answers come back as they are.
fn relay(shared: &Shared, mut client: TcpStream) -> io::Result<()> {
    let upstream = loop {
        if let Some(upstream) = shared.upstream.get() {
            break upstream.clone();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut broker = TcpStream::connect(upstream)?;
    let (mut answers, mut to_client) = (broker.try_clone()?, client.try_clone()?);
    std::thread::spawn(move || {
        let _ = io::copy(&mut answers, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Both);
    });
    loop {
        let mut size = [0u8; 4];
        if client.read_exact(&mut size).is_err() {
            break;
        }
        let mut frame = vec![0u8; u32::from_be_bytes(size) as usize];
        if client.read_exact(&mut frame).is_err() {
            break;
        }
        if let Some(transactional_id) = init_producer_id_of(&frame) {
            hold_if_asked(shared, transactional_id);
        }
        broker.write_all(&size)?;
        broker.write_all(&frame)?;
    }
    broker.shutdown(Shutdown::Write)
}

fn hold_if_asked(shared: &Shared, transactional_id: String) {
    let mut state = shared.state.lock().expect("lock");
    let seen = state.inits.entry(transactional_id.clone()).or_insert(0);
    *seen += 1;
    let first = *seen == 1;
    let held = first
        && state
            .hold_prefix
            .as_deref()
            .is_some_and(|prefix| transactional_id.starts_with(prefix));
    shared.changed.notify_all();
    if !held {
        return;
    }
    state.held += 1;
    shared.changed.notify_all();
    while !state.released {
        state = shared.changed.wait(state).expect("lock");
    }
    state.held -= 1;
}

/// The transactional id of an InitProducerId request frame (without its size); `None` for
/// any other request.
fn init_producer_id_of(frame: &[u8]) -> Option<String> {
    let mut reader = Frame {
        bytes: frame,
        at: 0,
    };
    if reader.i16()? != INIT_PRODUCER_ID {
        return None;
    }
    let version = reader.i16()?;
    let _correlation_id = reader.take(4)?;
    // Request header v1: the client id, a nullable string; v2 (flexible versions, from
    // InitProducerId v2) adds tagged fields.
    let client_id = reader.i16()?;
    if client_id > 0 {
        reader.take(client_id as usize)?;
    }
    let flexible = version >= 2;
    if flexible {
        reader.skip_tagged_fields()?;
    }
    let length = if flexible {
        reader.varint()?.checked_sub(1)?
    } else {
        usize::try_from(reader.i16()?).ok()?
    };
    String::from_utf8(reader.take(length)?.to_vec()).ok()
}

struct Frame<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Frame<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let taken = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(taken)
    }

    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    /// An unsigned varint.
    fn varint(&mut self) -> Option<usize> {
        let mut value = 0usize;
        for shift in (0..35).step_by(7) {
            let byte = *self.take(1)?.first()?;
            value |= usize::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn skip_tagged_fields(&mut self) -> Option<()> {
        for _ in 0..self.varint()? {
            let _tag = self.varint()?;
            let size = self.varint()?;
            self.take(size)?;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(version: i16, client: &str) -> Vec<u8> {
        let mut frame = Vec::new();
        frame.extend(INIT_PRODUCER_ID.to_be_bytes());
        frame.extend(version.to_be_bytes());
        frame.extend(7i32.to_be_bytes());
        frame.extend((client.len() as i16).to_be_bytes());
        frame.extend(client.as_bytes());
        frame
    }

    #[test]
    fn the_transactional_id_is_read_from_old_and_flexible_requests() {
        let mut old = header(1, "rdkafka");
        old.extend(5i16.to_be_bytes());
        old.extend(b"tx-01");
        old.extend(60_000i32.to_be_bytes());
        assert_eq!(init_producer_id_of(&old).as_deref(), Some("tx-01"));

        let mut flexible = header(4, "rdkafka");
        flexible.push(0); // no tagged fields in the header
        flexible.push(6); // compact string: length + 1
        flexible.extend(b"tx-02");
        flexible.extend(60_000i32.to_be_bytes());
        assert_eq!(init_producer_id_of(&flexible).as_deref(), Some("tx-02"));

        let mut other = header(4, "rdkafka");
        other[1] = 3; // Metadata
        assert_eq!(init_producer_id_of(&other), None);
        assert_eq!(
            init_producer_id_of(&old[..9]),
            None,
            "a cut frame is no request"
        );
    }
}
