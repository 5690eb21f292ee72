//! A private single-node Apache Kafka (KRaft) for tests that inject broker faults: it runs
//! from the jars the local stack fetched, on ports of its own, with a data directory that
//! survives [`Broker::kill`] so [`Broker::start`] brings the same broker back.
//! [`Broker::start_secured`] makes one that authenticates clients with SASL/SCRAM-SHA-512
//! and authorizes them with ACLs (`compose/local/kafka/secure.properties.in`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;

use crate::kafka_proxy::KafkaProxy;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// A broker process a test owns; killed when dropped.
pub struct Broker {
    dir: PathBuf,
    jars: PathBuf,
    port: u16,
    child: Option<Child>,
    /// The admin user's password, on a secured broker.
    admin_password: Option<String>,
}

impl Broker {
    /// Formats a fresh broker and starts it.
    ///
    /// # Panics
    /// When the Kafka jars are missing (`make test` fetches them) or the broker does not
    /// answer within a minute.
    pub fn start_fresh(name: &str) -> Self {
        Self::format_and_start(name, None, None)
    }

    /// [`Self::start_fresh`] behind `proxy`: clients are told to connect through it, and
    /// it forwards to the broker's own port.
    ///
    /// # Panics
    /// As [`Self::start_fresh`].
    pub fn start_behind(name: &str, proxy: &KafkaProxy) -> Self {
        Self::format_and_start(name, None, Some(proxy))
    }

    /// Formats a broker that takes only SASL/SCRAM-SHA-512 clients, with `users` (and an
    /// `admin` super user) and the standard authorizer, and starts it. Nobody but the
    /// admin may do anything until [`Self::grant_orderlog_acls`].
    ///
    /// # Panics
    /// As [`Self::start_fresh`].
    pub fn start_secured(name: &str, users: &[(&str, &str)]) -> Self {
        Self::format_and_start(name, Some(users), None)
    }

    fn format_and_start(
        name: &str,
        users: Option<&[(&str, &str)]>,
        proxy: Option<&KafkaProxy>,
    ) -> Self {
        let jars = kafka_jars();
        let dir = std::env::temp_dir().join(format!(
            "orderlog-broker-{name}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(dir.join("data")).expect("broker directory");
        let (port, controller) = (super::free_port(), super::free_port());
        let template =
            std::fs::read_to_string(repo_root().join("compose/local/kafka/server.properties.in"))
                .expect("broker configuration template");
        let admin_password = users.map(|_| uuid::Uuid::new_v4().simple().to_string());
        let mut template = template;
        if let Some(password) = &admin_password {
            let secure = std::fs::read_to_string(
                repo_root().join("compose/local/kafka/secure.properties.in"),
            )
            .expect("secured broker template");
            template.push('\n');
            template.push_str(&secure.replace("@ADMIN_PASSWORD@", password));
        }
        let properties = template
            .replace("@PORT@", &port.to_string())
            .replace("@CONTROLLER_PORT@", &controller.to_string())
            .replace("@DATA@", &dir.join("data").display().to_string());
        let properties = match proxy {
            Some(proxy) => {
                proxy.forward_to(&format!("127.0.0.1:{port}"));
                properties.replace(
                    &format!("advertised.listeners=PLAINTEXT://127.0.0.1:{port}"),
                    &format!("advertised.listeners=PLAINTEXT://{}", proxy.bootstrap()),
                )
            }
            None => properties,
        };
        std::fs::write(dir.join("server.properties"), properties).expect("broker configuration");
        let mut scram = Vec::new();
        if let (Some(users), Some(password)) = (users, &admin_password) {
            for (user, secret) in std::iter::once(&("admin", password.as_str())).chain(users) {
                scram.push("--add-scram".to_owned());
                scram.push(format!("SCRAM-SHA-512=[name={user},password={secret}]"));
            }
        }
        let formatted = Command::new("java")
            .arg("-cp")
            .arg(jars.join("*"))
            .args([
                "kafka.tools.StorageTool",
                "format",
                "-t",
                &cluster_id(),
                "-c",
            ])
            .arg(dir.join("server.properties"))
            .args(&scram)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("java runs");
        assert!(
            formatted.success(),
            "formatting the broker's storage failed"
        );
        let mut broker = Self {
            dir,
            jars,
            port,
            child: None,
            admin_password,
        };
        broker.start();
        broker
    }

    /// `127.0.0.1:<port>` of the broker.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's own log, for a failing test to print.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("broker.log")
    }

    /// Starts the broker (again) on its data and waits until it answers.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "the broker is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("broker log");
        let child = Command::new("java")
            .args([
                "-Xms128m",
                "-Xmx384m",
                "-XX:+UseG1GC",
                "-Djava.awt.headless=true",
            ])
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                repo_root()
                    .join("compose/local/kafka/log4j2.properties")
                    .display()
            ))
            .arg("-cp")
            .arg(self.jars.join("*"))
            .arg("kafka.Kafka")
            .arg(self.dir.join("server.properties"))
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("the broker starts");
        self.child = Some(child);
        wait_answering_as(
            &self.bootstrap(),
            &self.admin_properties(),
            Duration::from_secs(60),
        );
    }

    /// Client properties of the admin user (none on a broker that is not secured).
    pub fn admin_properties(&self) -> Vec<(String, String)> {
        match &self.admin_password {
            Some(password) => vec![
                ("security.protocol".into(), "sasl_plaintext".into()),
                ("sasl.mechanism".into(), "SCRAM-SHA-512".into()),
                ("sasl.username".into(), "admin".into()),
                ("sasl.password".into(), password.clone()),
            ],
            None => Vec::new(),
        }
    }

    /// Grants orderlog's roles (`processor`, `http`, `projector`, `analyst`) their ACLs on
    /// the topics of `prefix`, with `compose/local/kafka/KafkaAcls.java`.
    ///
    /// # Panics
    /// On a broker that is not secured, or when the grant fails.
    pub fn grant_orderlog_acls(&self, prefix: &str) {
        let password = self.admin_password.as_ref().expect("a secured broker");
        let config = self.dir.join("admin.properties");
        std::fs::write(
            &config,
            format!(
                "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n\
                 sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule \
                 required username=\"admin\" password=\"{password}\";\n"
            ),
        )
        .expect("admin properties");
        let output = Command::new("java")
            .arg("-cp")
            .arg(self.jars.join("*"))
            .arg(repo_root().join("compose/local/kafka/KafkaAcls.java"))
            .arg(self.bootstrap())
            .arg(&config)
            .arg(prefix)
            .output()
            .expect("java runs");
        assert!(
            output.status.success(),
            "granting the ACLs failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// SIGKILL: no shutdown, no flush beyond what the OS already has.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Broker {
    /// Kills the broker and removes its data, unless the test is failing: then its log
    /// segments stay for `kafka-dump-log.sh` (producer ids, epochs, control records), and
    /// their place is printed.
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "the broker's data is kept for inspection: {}",
                self.dir.display()
            );
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits until a metadata request to `bootstrap` names at least one broker.
///
/// # Panics
/// After `patience` without an answer.
pub fn wait_answering(bootstrap: &str, patience: Duration) {
    wait_answering_as(bootstrap, &[], patience);
}

/// [`wait_answering`] with client `properties` (credentials).
///
/// # Panics
/// After `patience` without an answer.
pub fn wait_answering_as(bootstrap: &str, properties: &[(String, String)], patience: Duration) {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    for (key, value) in properties {
        config.set(key, value);
    }
    let consumer: BaseConsumer = config.create().expect("metadata client");
    let deadline = Instant::now() + patience;
    loop {
        match consumer.fetch_metadata(None, Duration::from_secs(2)) {
            Ok(metadata) if !metadata.brokers().is_empty() => return,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            other => panic!("no broker answered at {bootstrap}: {:?}", other.err()),
        }
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace holds testkit")
        .to_path_buf()
}

/// `ORDERLOG_KAFKA_JARS`, or the newest complete jar set under `.local/kafka/`.
fn kafka_jars() -> PathBuf {
    if let Ok(dir) = std::env::var("ORDERLOG_KAFKA_JARS") {
        return PathBuf::from(dir);
    }
    let local = std::env::var("ORDERLOG_LOCAL")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join(".local"))
        .join("kafka");
    let mut sets: Vec<PathBuf> = std::fs::read_dir(&local)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.join(".complete").exists())
        .collect();
    sets.sort();
    sets.pop().unwrap_or_else(|| {
        panic!(
            "no Kafka jars under {}: run `make test` (or compose/local/kafka.sh up) once",
            local.display()
        )
    })
}

/// A Kafka cluster id: 16 random bytes in URL-safe base64 without padding.
fn cluster_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut bits: u32 = 0;
    let mut count = 0;
    let mut out = String::with_capacity(22);
    for byte in bytes {
        bits = (bits << 8) | u32::from(byte);
        count += 8;
        while count >= 6 {
            count -= 6;
            out.push(char::from(ALPHABET[((bits >> count) & 63) as usize]));
        }
    }
    if count > 0 {
        out.push(char::from(ALPHABET[((bits << (6 - count)) & 63) as usize]));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_cluster_id_is_22_url_safe_characters() {
        let id = super::cluster_id();
        assert_eq!(id.len(), 22);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }
}
