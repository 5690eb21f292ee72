//! The services' logs in tests, librdkafka's included, kept out of the test output: a test
//! process writes them to one file (`target/test-logs/<binary>-<pid>.log`, beside the test
//! binaries), and a test that fails prints the file's last lines and its path. A passing
//! run prints nothing of them (librdkafka logs from threads of its own, whose output the
//! test harness cannot capture: brokers a test stops on purpose made pages of ERROR lines).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// How many of the file's last lines a failing test prints.
const TAIL: usize = 200;

static FILE: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Sends this process's logs (level from `RUST_LOG`, `info` by default) to its log file,
/// once; later calls do nothing. Returns the file's path, when it could be created.
pub fn capture() -> Option<&'static Path> {
    capture_with(|file| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_target(false)
            .with_writer(file)
            .try_init()
            .is_ok()
    })
}

/// [`capture`], with the subscriber installed by `install` (a test that needs the services'
/// own, with its span exporter): it gets the log file and says whether it installed.
pub fn capture_with(install: impl FnOnce(Mutex<File>) -> bool) -> Option<&'static Path> {
    FILE.get_or_init(|| {
        let path = log_path();
        std::fs::create_dir_all(path.parent()?).ok()?;
        let file = File::create(&path).ok()?;
        install(Mutex::new(file)).then_some(())?;
        print_tail_on_panic(path.clone());
        Some(path)
    })
    .as_deref()
}

/// `target/test-logs/<binary>-<pid>.log`: beside the running test binary's directory.
fn log_path() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let name = exe
        .file_stem()
        .map_or_else(|| "tests".into(), |s| s.to_string_lossy().into_owned());
    let target = exe
        .ancestors()
        .find(|dir| dir.file_name().is_some_and(|n| n == "target"))
        .map_or_else(std::env::temp_dir, Path::to_path_buf);
    target
        .join("test-logs")
        .join(format!("{name}-{}.log", std::process::id()))
}

fn print_tail_on_panic(path: PathBuf) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        previous(info);
        // Only a test's own thread: panics the services catch are theirs to report.
        let thread = std::thread::current();
        let on_test_thread = thread
            .name()
            .is_some_and(|n| n != "main" && !n.starts_with("tokio"));
        if !on_test_thread {
            return;
        }
        let lines: Vec<String> = File::open(&path)
            .map(|f| BufReader::new(f).lines().map_while(Result::ok).collect())
            .unwrap_or_default();
        let from = lines.len().saturating_sub(TAIL);
        eprintln!(
            "---- the last {} log lines of this test process ({}), every test's ----",
            lines.len() - from,
            path.display()
        );
        for line in &lines[from..] {
            eprintln!("{line}");
        }
    }));
}
