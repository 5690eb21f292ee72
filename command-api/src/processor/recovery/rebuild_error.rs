//! What can stop a rebuild: a topic that cannot be read (a transient failure the takeover
//! waits out).

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("reading {topic}: {error}")]
    Read { topic: String, error: String },
}
