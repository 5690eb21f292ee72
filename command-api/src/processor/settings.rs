//! How the processor role is set up (from command-api's configuration).

use std::time::Duration;

use super::lanes::direct::Owners;

/// How the processor role consumes and batches.
#[derive(Debug, Clone)]
pub struct ProcessorSettings {
    /// Consumer group of the processors; every processor of one platform shares it.
    pub group_id: String,
    /// Most commands handled in one transaction.
    pub batch_max: usize,
    /// Least time between the starts of a partition's transactions, unless a full batch
    /// waits.
    pub transaction_interval: Duration,
    /// How long the group waits for a silent processor before giving its partitions away.
    pub session_timeout: Duration,
    /// The topics' partition count.
    pub partitions: i32,
    /// The HTTP tier's waiting requests, when it runs in the same process and takes
    /// results in-process: committed results are handed to them at once.
    pub answers: Option<crate::answers::Answers>,
    /// Where this process's HTTP tier finds the lanes serving partitions here, to hand
    /// them commands directly (`direct`).
    pub owners: Option<Owners>,
    /// The payment window and shipping promise the domain grants (`ORDERLOG_PAYMENT_WINDOW`,
    /// `ORDERLOG_SHIP_WITHIN`).
    pub policy: schemas::order::Policy,
}
