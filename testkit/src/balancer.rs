//! HAProxy in front of the HTTP tiers and the query-apis, as `suites scale` and query-api's
//! tests run it: a config written for the run's ports (the shape of
//! compose/haproxy/haproxy.cfg), and the process. Every slot is a
//! server from the start; one whose process is not running fails its health check
//! (`GET /readyz`, no token needed) and gets no traffic until it answers 200.

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The config for a commands frontend on `commands` and a queries frontend on `queries`,
/// balancing over the given backend ports.
pub fn config(commands: u16, http: &[u16], queries: u16, query: &[u16]) -> String {
    let servers = |name: &str, ports: &[u16]| -> String {
        ports
            .iter()
            .enumerate()
            .map(|(i, port)| format!("    server {name}-{} 127.0.0.1:{port}\n", i + 1))
            .collect()
    };
    format!(
        "global
    maxconn 8192

defaults
    mode http
    option redispatch
    retries 3
    timeout connect 2s
    timeout client 35s
    timeout server 35s
    timeout tunnel 1h
    timeout http-keep-alive 4s
    default-server check inter 500ms fall 2 rise 1

frontend commands
    bind 127.0.0.1:{commands}
    default_backend command-api

frontend queries
    bind 127.0.0.1:{queries}
    default_backend query-api

backend command-api
    option httpchk GET /readyz
    http-check expect status 200
{}
backend query-api
    option httpchk GET /readyz
    http-check expect status 200
    # Reads are idempotent: one that met a closing server is sent to another.
    retry-on conn-failure empty-response response-timeout 502 503
{}",
        servers("http", http),
        servers("query", query)
    )
}

/// A running HAProxy (in the foreground, `-db`), stopped on drop.
pub struct Balancer {
    child: Child,
}

impl Balancer {
    pub fn start(config: &str, dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("scale-haproxy.cfg");
        std::fs::write(&path, config)?;
        let check = Command::new("haproxy")
            .args(["-c", "-q", "-f"])
            .arg(&path)
            .status()
            .map_err(|e| {
                anyhow::anyhow!("haproxy: {e} (compose/local/haproxy.sh install installs it)")
            })?;
        anyhow::ensure!(check.success(), "haproxy refuses {}", path.display());
        let log = std::fs::File::create(dir.join("scale-haproxy.log"))?;
        let child = Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        Ok(Self { child })
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_port_is_a_checked_server_of_its_backend() {
        let text = config(9000, &[1, 2], 9001, &[3]);
        assert!(text.contains("bind 127.0.0.1:9000\n"));
        assert!(text.contains("    server http-1 127.0.0.1:1\n    server http-2 127.0.0.1:2\n"));
        assert!(text.contains("    server query-1 127.0.0.1:3\n"));
        assert!(text.contains("option httpchk GET /readyz"));
        assert_eq!(text.matches("\n    server ").count(), 3);
    }
}
