//! Slow and idle HTTP clients, written byte by byte over plain TCP, for the tests that
//! check a service bounds them: a request whose headers never finish, a body that never
//! finishes, a keep-alive connection left idle.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// A connection that has sent the start of a request and then nothing.
pub struct Stalled {
    stream: TcpStream,
}

impl Stalled {
    /// Headers that never end.
    ///
    /// # Panics
    /// When the service cannot be reached.
    pub fn headers(addr: SocketAddr) -> Self {
        Self::sending(addr, "GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: ")
    }

    /// A POST of `path` whose body (announced as 1,000 bytes) stops after 10.
    ///
    /// # Panics
    /// When the service cannot be reached.
    pub fn body(addr: SocketAddr, path: &str, authorization: &str) -> Self {
        Self::sending(
            addr,
            &format!(
                "POST {path} HTTP/1.1\r\nHost: test\r\nAuthorization: {authorization}\r\n\
                 Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"a\": \"12"
            ),
        )
    }

    /// A keep-alive connection that completed one request and then sends nothing.
    ///
    /// # Panics
    /// When the service cannot be reached or does not answer.
    pub fn idle(addr: SocketAddr) -> Self {
        let mut stalled = Self::sending(addr, "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n");
        let answer = stalled.answer(Duration::from_secs(10));
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        stalled
    }

    /// A whole GET of `path` that asks to close the connection after the answer.
    ///
    /// # Panics
    /// When the service cannot be reached.
    pub fn sending_complete(addr: SocketAddr, path: &str) -> Self {
        Self::sending(
            addr,
            &format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"),
        )
    }

    fn sending(addr: SocketAddr, text: &str) -> Self {
        let mut stream = TcpStream::connect(addr).expect("the service accepts connections");
        stream.write_all(text.as_bytes()).expect("write");
        Self { stream }
    }

    /// What the service sends before it closes the connection or `patience` runs out;
    /// `None` when it neither answered nor closed in that time.
    ///
    /// # Panics
    /// On a read error other than a timeout or a reset.
    pub fn until_closed(&mut self, patience: Duration) -> Option<String> {
        let deadline = Instant::now() + patience;
        let mut received = Vec::new();
        let mut buffer = [0_u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.stream
                .set_read_timeout(Some(left.min(Duration::from_millis(200))))
                .expect("timeout");
            match self.stream.read(&mut buffer) {
                Ok(0) => return Some(String::from_utf8_lossy(&received).into_owned()),
                Ok(n) => received.extend_from_slice(&buffer[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    return Some(String::from_utf8_lossy(&received).into_owned());
                }
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// The first answer's head and what followed, read until a pause (the connection stays).
    fn answer(&mut self, patience: Duration) -> String {
        let deadline = Instant::now() + patience;
        let mut received = Vec::new();
        let mut buffer = [0_u8; 4096];
        self.stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        while Instant::now() < deadline {
            match self.stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if !received.is_empty() {
                        break;
                    }
                }
                Err(e) => panic!("read: {e}"),
            }
        }
        String::from_utf8_lossy(&received).into_owned()
    }
}
