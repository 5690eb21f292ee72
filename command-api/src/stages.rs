//! Where a command's time goes, stage by stage, in `orderlog_command_stage_seconds{stage}`
//! (docs/performance.md, "Where a command's time goes"). Stages that cross processes are
//! measured from the record's Kafka timestamp (its producer's clock, in milliseconds), so
//! they hold on one machine or with synchronised clocks:
//!
//! - `produce`: the HTTP tier producing the command until the brokers acknowledge it;
//! - `to_processor`: the command record's timestamp until a processor's consumer has it;
//! - `to_transaction`: the same timestamp until the transaction deciding it begins (the
//!   difference to `to_processor` is the wait for the partition's thread and its pacing);
//! - `handed_to_transaction`: a command handed to its lane directly, from the hand-over
//!   until the transaction deciding it begins;
//! - the transaction's phases are in `orderlog_processor_transaction_phase_seconds`;
//! - `result_to_listener`: the result record's timestamp (written inside the transaction)
//!   until the HTTP tier's results listener reads it (acknowledgement, commit, fetch);
//! - `await_result`: the HTTP tier, from the acknowledgement until the result is handed to
//!   the waiting request;
//! - `direct`: a command handed to its lane directly, from the hand-over until its
//!   result (after its transaction committed), resends included.

use rdkafka::Timestamp;

pub fn record(stage: &'static str, seconds: f64) {
    metrics::histogram!("orderlog_command_stage_seconds", "stage" => stage).record(seconds);
}

/// Records the time from a record's timestamp until now.
pub fn since(stage: &'static str, timestamp: Timestamp) {
    let Some(millis) = timestamp.to_millis() else {
        return;
    };
    let now = chrono::Utc::now().timestamp_millis();
    let elapsed = u64::try_from(now - millis).unwrap_or(0);
    record(
        stage,
        std::time::Duration::from_millis(elapsed).as_secs_f64(),
    );
}
