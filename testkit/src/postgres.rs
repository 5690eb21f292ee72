//! A private PostgreSQL server for tests that restart the database under a running
//! service: Debian's server binaries, a data directory of its own, a port of its own.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How a server is stopped (`pg_ctl stop -m ...`).
#[derive(Debug, Clone, Copy)]
pub enum Shutdown {
    /// Sessions are ended and the server checkpoints.
    Fast,
    /// No checkpoint: the next start recovers from the write-ahead log, as after a crash.
    Immediate,
}

/// A PostgreSQL server a test owns, with a `orderlog` superuser (password `orderlog`);
/// stopped and removed when dropped.
pub struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    /// Whether the server takes only TLS connections (see [`Postgres::start_tls`]).
    tls: bool,
    /// More `-c name=value` settings at every start.
    settings: String,
}

impl Postgres {
    /// Initialises and starts a fresh server.
    ///
    /// # Panics
    /// When Debian's PostgreSQL server is not installed (`make test` installs it) or the
    /// server does not start.
    pub fn start_fresh() -> Self {
        Self::init(false)
    }

    /// A fresh server that refuses every connection not over TLS, with a self-signed
    /// certificate for `127.0.0.1` ([`Self::ca_file`] verifies it).
    ///
    /// # Panics
    /// As [`Self::start_fresh`], and when openssl cannot make the certificate.
    pub fn start_tls() -> Self {
        Self::init(true)
    }

    /// The certificate a client verifies the server with (`sslrootcert`).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("server.crt")
    }

    fn init(tls: bool) -> Self {
        let bin = server_bin();
        let dir =
            std::env::temp_dir().join(format!("orderlog-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("server directory");
        let password = dir.join("password");
        std::fs::write(&password, "orderlog\n").expect("password file");
        chown_postgres(&dir);
        let port = super::free_port();
        let server = Self {
            dir,
            bin,
            port,
            tls,
            settings: String::new(),
        };
        server.run(
            "initdb",
            &[
                "-D",
                &server.data(),
                "-U",
                "orderlog",
                "--auth=scram-sha-256",
                "--pwfile",
                &password.display().to_string(),
                "-E",
                "UTF8",
            ],
        );
        if tls {
            server.make_certificate();
        }
        server.start();
        server
    }

    /// A self-signed certificate for 127.0.0.1, and a pg_hba.conf that takes only TLS.
    fn make_certificate(&self) {
        let (crt, key) = (self.dir.join("server.crt"), self.dir.join("server.key"));
        let status = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
            ])
            .args(["-addext", "subjectAltName=IP:127.0.0.1"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&crt)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl runs");
        assert!(status.success(), "openssl could not make a certificate");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("key mode");
        let hba = "hostnossl all all 0.0.0.0/0 reject\nhostssl all all 127.0.0.1/32 scram-sha-256\nlocal all all trust\n";
        std::fs::write(self.dir.join("pg_hba.conf"), hba).expect("pg_hba.conf");
        chown_postgres(&self.dir);
    }

    /// A streaming replica of this server (`pg_basebackup -R`: a hot standby on a port of
    /// its own), started, that applies each commit `apply_delay` after the primary made it
    /// (`recovery_min_apply_delay`), so a test can see a reader run ahead of it.
    ///
    /// # Panics
    /// When the base backup or the start fails.
    pub fn start_replica(&self, apply_delay: Duration) -> Self {
        let dir =
            std::env::temp_dir().join(format!("orderlog-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("server directory");
        chown_postgres(&dir);
        let replica = Self {
            dir,
            bin: self.bin.clone(),
            port: super::free_port(),
            tls: false,
            settings: format!(
                " -c hot_standby=on -c recovery_min_apply_delay={}ms",
                apply_delay.as_millis()
            ),
        };
        let source = format!(
            "host=127.0.0.1 port={} user=orderlog password=orderlog",
            self.port
        );
        replica.run(
            "pg_basebackup",
            &[
                "-d",
                &source,
                "-D",
                &replica.data(),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
            ],
        );
        replica.start();
        replica
    }

    /// `postgres://orderlog:orderlog@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!(
            "postgres://orderlog:orderlog@127.0.0.1:{}/postgres",
            self.port
        )
    }

    /// Starts the server (again) on its data and waits until it accepts connections.
    pub fn start(&self) {
        let mut options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} -c fsync=off",
            self.port,
            self.dir.display()
        );
        options.push_str(&self.settings);
        if self.tls {
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={dir}/server.crt -c ssl_key_file={dir}/server.key -c hba_file={dir}/pg_hba.conf",
                dir = self.dir.display()
            ));
        }
        let log = self.dir.join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stop(&self, how: Shutdown) {
        let mode = match how {
            Shutdown::Fast => "fast",
            Shutdown::Immediate => "immediate",
        };
        self.run("pg_ctl", &["-D", &self.data(), "-m", mode, "-w", "stop"]);
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// Runs a server tool, as the `postgres` user when this process is root (the server
    /// refuses to run as root).
    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let mut command = if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        let status = command
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|error| panic!("{}: {error}", program.display()));
        assert!(
            status.success(),
            "{tool} {args:?} failed (see {}/server.log)",
            self.dir.display()
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new(if is_root() { "runuser" } else { "true" })
            .args(if is_root() {
                vec!["-u", "postgres", "--"]
            } else {
                vec![]
            })
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    std::env::var("USER").is_ok_and(|user| user == "root")
        || Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}

fn chown_postgres(dir: &std::path::Path) {
    if is_root() {
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir)
            .status();
    }
}

/// The newest installed server's binaries (`/usr/lib/postgresql/<version>/bin`).
fn server_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("no PostgreSQL server under /usr/lib/postgresql: run `make test` once")
}
