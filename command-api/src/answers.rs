//! The requests waiting for their commands' results, and how a committed result reaches
//! them. Two paths, whichever comes first: the results topic, read by the HTTP tier's
//! read_committed listener (any processor, any process), and, when the HTTP role and the
//! processor owning the order's partition share a process, the processor itself, right
//! after `commit_transaction` returned. That is earlier than a read_committed reader can
//! see the result: the commit is durable at the coordinator when the call returns, but
//! readers see it only once the coordinator has written its markers to every partition of
//! the transaction (usually milliseconds later; longer behind another producer's open
//! transaction). A result answers nothing before its transaction's commit is durable on
//! either path; on the in-process path an answer can come before its events are visible.
//! The in-process path is off by default (`ORDERLOG_RESULTS_IN_PROCESS`): a broker-restart
//! chaos run with it on lost acknowledged events, which the results-topic path cannot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use schemas::CommandResult;
use tokio::sync::oneshot;
use uuid::Uuid;

/// Who is waiting, by command id and fingerprint: concurrent retries of one command all
/// wait for (and get) the same answer; a reused key with another body waits for its own.
type Key = (Uuid, String);

/// The waiting requests, shared by the HTTP tier and (in one process) the processors.
#[derive(Clone, Default)]
pub struct Answers {
    waiting: Arc<Mutex<HashMap<Key, Vec<oneshot::Sender<CommandResult>>>>>,
}

impl std::fmt::Debug for Answers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answers")
            .field("waiting", &self.lock().len())
            .finish()
    }
}

/// How a result reached its request, for `orderlog_command_results_answered_total{path}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// From the processor in this process, after its commit.
    InProcess,
    /// From the results topic.
    ResultsTopic,
    /// Handed to the owning lane directly, answered by it after its commit.
    Direct,
}

impl Path {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Path::InProcess => "in_process",
            Path::ResultsTopic => "results_topic",
            Path::Direct => "direct",
        }
    }
}

impl Answers {
    /// Registers a request waiting for the result of `command_id` with `fingerprint`.
    pub fn wait(&self, command_id: Uuid, fingerprint: &str) -> oneshot::Receiver<CommandResult> {
        let (sender, receiver) = oneshot::channel();
        self.lock()
            .entry((command_id, fingerprint.to_owned()))
            .or_default()
            .push(sender);
        receiver
    }

    /// Forgets the requests of this command that stopped waiting.
    pub fn forget_gone(&self, command_id: Uuid, fingerprint: &str) {
        let key = (command_id, fingerprint.to_owned());
        let mut waiting = self.lock();
        if let Some(list) = waiting.get_mut(&key) {
            list.retain(|sender| !sender.is_closed());
            if list.is_empty() {
                waiting.remove(&key);
            }
        }
    }

    /// Drops every waiting request: their outcome is unknown (they answer 503).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Hands a committed result to the requests waiting for it; how many there were.
    pub fn answer(&self, result: &CommandResult, path: Path) -> usize {
        let waiting = self
            .lock()
            .remove(&(result.command_id, result.fingerprint.clone()))
            .unwrap_or_default();
        let answered = waiting
            .into_iter()
            .filter_map(|sender| sender.send(result.clone()).ok())
            .count();
        if answered > 0 {
            metrics::counter!("orderlog_command_results_answered_total", "path" => path.label())
                .increment(answered as u64);
        }
        answered
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Vec<oneshot::Sender<CommandResult>>>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::CommandOutcome;
    use schemas::values::OrderId;

    fn result(command_id: Uuid, fingerprint: &str) -> CommandResult {
        CommandResult {
            command_id,
            order_id: OrderId::generate(),
            fingerprint: fingerprint.into(),
            processed_at: chrono::Utc::now(),
            outcome: CommandOutcome::IdempotencyKeyReused,
        }
    }

    #[test]
    fn every_retry_of_a_command_gets_its_result_once() {
        let answers = Answers::default();
        let id = Uuid::now_v7();
        let (mut first, mut retry) = (answers.wait(id, "f"), answers.wait(id, "f"));
        let mut other_body = answers.wait(id, "g");
        assert_eq!(answers.answer(&result(id, "f"), Path::InProcess), 2);
        assert_eq!(first.try_recv().expect("answered").command_id, id);
        assert_eq!(retry.try_recv().expect("answered").fingerprint, "f");
        assert!(
            other_body.try_recv().is_err(),
            "another body waits for its own"
        );
        // The same result again (from the results topic) finds nobody left to answer.
        assert_eq!(answers.answer(&result(id, "f"), Path::ResultsTopic), 0);
    }

    #[test]
    fn requests_that_gave_up_are_forgotten() {
        let answers = Answers::default();
        let id = Uuid::now_v7();
        drop(answers.wait(id, "f"));
        let kept = answers.wait(id, "g");
        answers.forget_gone(id, "f");
        answers.forget_gone(id, "g");
        assert_eq!(answers.lock().len(), 1);
        drop(kept);
        answers.clear();
        assert!(answers.lock().is_empty());
    }
}
