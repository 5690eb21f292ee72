//! A private Jaeger (the binary `compose/local/jaeger.sh install` builds) with in-memory
//! storage on ports of its own, for tests that look at the traces the services export.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Jaeger {
    child: Child,
    dir: PathBuf,
    otlp_port: u16,
    query_port: u16,
}

impl Jaeger {
    /// Starts Jaeger and waits until it is healthy.
    ///
    /// # Panics
    /// When the binary is missing (`make test` builds it) or it does not become healthy.
    pub fn start() -> Self {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let binary = std::env::var("ORDERLOG_JAEGER")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root.join(".local/bin/jaeger"));
        assert!(
            binary.exists(),
            "{} is missing: run compose/local/jaeger.sh install (make test does)",
            binary.display()
        );
        let dir =
            std::env::temp_dir().join(format!("orderlog-jaeger-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("dir");
        let ports: Vec<u16> = (0..5).map(|_| super::free_port()).collect();
        let config = std::fs::read_to_string(root.join("compose/local/jaeger/config.yaml.in"))
            .expect("the Jaeger configuration template")
            .replace("@QUERY_PORT@", &ports[0].to_string())
            .replace("@QUERY_GRPC_PORT@", &ports[1].to_string())
            .replace("@HEALTH_PORT@", &ports[2].to_string())
            .replace("@OTLP_HTTP_PORT@", &ports[3].to_string())
            .replace("@OTLP_GRPC_PORT@", &ports[4].to_string());
        std::fs::write(dir.join("config.yaml"), config).expect("config");
        let log = std::fs::File::create(dir.join("jaeger.log")).expect("log");
        let child = Command::new(&binary)
            .arg("--config")
            .arg(dir.join("config.yaml"))
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("jaeger starts");
        let jaeger = Self {
            child,
            dir,
            otlp_port: ports[3],
            query_port: ports[0],
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", jaeger.query_port)).is_err()
            || std::net::TcpStream::connect(("127.0.0.1", jaeger.otlp_port)).is_err()
        {
            assert!(
                Instant::now() < deadline,
                "Jaeger did not listen within 30 s (see {})",
                jaeger.dir.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        jaeger
    }

    /// Where services send spans (OTLP/HTTP).
    pub fn otlp_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.otlp_port)
    }

    /// Jaeger's query API (`/api/traces/<id>`).
    pub fn query_base(&self) -> String {
        format!("http://127.0.0.1:{}", self.query_port)
    }
}

impl Drop for Jaeger {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
