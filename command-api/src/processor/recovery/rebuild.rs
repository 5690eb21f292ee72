//! Rebuilding a partition's orders when this processor is assigned it: from the snapshot
//! changelog when every snapshot is in the current format (kept unparsed until each order's
//! first command), otherwise by folding the events partition. A record that cannot be used
//! (a snapshot not keyed by an order, an event that does not decode or does not fit its
//! order, a result that does not parse) is skipped and screened out for the dead letters.
//! The snapshots are checked against the events they name (`catch_up`): a committed event
//! they lack is folded in, and a last transaction whose events never landed is set aside
//! (`unconfirmed`). The dead letters past the position are found (`letters`).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use event_store::{KafkaConfig, Start, TopicSet, read_to_end, wire};
use rdkafka::Message;
use rdkafka::message::BorrowedMessage;
use schemas::order::EvolveError;
use schemas::values::OrderId;
use schemas::{CommandResult, EventEnvelope};

use crate::processor::recovery::snapshot_read::{FromSnapshots, from_snapshots};
use crate::processor::recovery::{catch_up, letters};
use crate::processor::screening::screen::Screen;
use crate::processor::store::orders::Orders;
use crate::processor::store::slot::OrderSlot;

/// Where a rebuilt state came from, for logs and the takeover benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Snapshots,
    Events,
}

pub(crate) use crate::processor::recovery::rebuild_error::RebuildError;

/// A partition's orders as of the committed end of its log, and where its commands resume.
pub(crate) struct Rebuilt {
    pub orders: Orders,
    pub source: Source,
    /// The next commands offset the state includes; `None` when no transaction recorded
    /// one (a new partition, or one last written before positions were recorded: the
    /// consumer group's committed offset is then the position).
    pub next_offset: Option<i64>,
    /// The unusable records met on the way, not dead-lettered yet.
    pub screen: Screen,
    /// The events offset the orders' states are complete up to (`None` for snapshots
    /// written before they named it: not checked against the events then).
    pub events_from: Option<i64>,
    /// Orders whose latest snapshot record is not their state (given committed events it
    /// lacked, or set aside): written again with the next transaction.
    pub stale: HashSet<OrderId>,
    /// Whether the position must be written again with the next transaction (the latest
    /// one was set aside).
    pub rewrite_position: bool,
    /// The number of the partition's next transaction.
    pub txn: i64,
    /// Where the dead-letter partition ended (`None` when not read: no position).
    pub letters_from: Option<i64>,
    /// Commands offsets at or after the position that have a dead letter already.
    pub lettered: HashSet<i64>,
}

/// Rebuilds `partition` from its snapshots, or from its events when a snapshot is
/// unreadable, checking the snapshots' last transaction against the events (`unconfirmed`)
/// and finding the dead letters past the position (`letters`). Blocking.
pub(crate) fn rebuild(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
) -> Result<Rebuilt, RebuildError> {
    let started = Instant::now();
    let mut screen = Screen::new(topics);
    let mut read = from_snapshots(kafka, topics, partition, &mut screen, None)?;
    let txn = read.last.next();
    let mut set_aside = HashSet::new();
    let mut state = caught_up(kafka, topics, partition, &mut read, true)?;
    if state.as_ref().is_some_and(|(_, caught)| !caught.confirmed) {
        set_aside = read.last.orders.clone();
        tracing::warn!(
            partition,
            txn = ?read.last.number,
            events = read.last.events,
            orders = set_aside.len(),
            "the last transaction's events are not in the log; its snapshots and position are set aside"
        );
        metrics::counter!("orderlog_processor_snapshots_set_aside_total")
            .increment(set_aside.len() as u64);
        screen = Screen::new(topics);
        read = from_snapshots(kafka, topics, partition, &mut screen, read.last.number)?;
        state = caught_up(kafka, topics, partition, &mut read, false)?;
    }
    let (mut orders, source, events_from, mut stale) = match state {
        Some((orders, caught)) => (orders, Source::Snapshots, caught.end, caught.orders),
        None => {
            let (orders, end) = screened_fold(kafka, topics, partition, &mut screen)?;
            (orders, Source::Events, Some(end), HashSet::new())
        }
    };
    // Written again with the next transaction: loaded, so that it writes their state.
    for order_id in &set_aside {
        let _ = orders.load(order_id);
    }
    stale.extend(&set_aside);
    let lettered = match read.next_offset {
        Some(next_offset) => Some(
            letters::past_position(kafka, topics, partition, read.letters_from, next_offset)
                .map_err(|error| RebuildError::Read {
                    topic: topics.dead_letter.clone(),
                    error: error.to_string(),
                })?,
        ),
        None => None,
    };
    let rebuilt = Rebuilt {
        orders,
        source,
        next_offset: read.next_offset,
        rewrite_position: !set_aside.is_empty(),
        screen,
        events_from,
        stale,
        txn,
        letters_from: lettered.as_ref().map(|l| l.end),
        lettered: lettered.map(|l| l.offsets).unwrap_or_default(),
    };
    let (finals, final_bytes) = rebuilt.orders.finals();
    tracing::info!(partition, orders = rebuilt.orders.len(), finals, final_bytes, source = ?rebuilt.source, next_offset = ?rebuilt.next_offset, elapsed_ms = started.elapsed().as_millis() as u64, "partition rebuilt");
    metrics::gauge!("orderlog_processor_final_orders_at_takeover", "partition" => partition.to_string())
        .set(finals as f64);
    // Summed over takeovers: a gauge per partition is overwritten by the next takeover of a
    // partition with that number (another platform's, in a process that runs several).
    metrics::counter!("orderlog_processor_final_orders_taken_over_total").increment(finals as u64);
    metrics::histogram!("orderlog_processor_rebuild_seconds")
        .record(started.elapsed().as_secs_f64());
    let source = match rebuilt.source {
        Source::Snapshots => "snapshots",
        Source::Events => "events",
    };
    metrics::counter!("orderlog_processor_rebuilds_total", "source" => source).increment(1);
    Ok(rebuilt)
}

/// The orders of the snapshots read, with the committed events they lack folded in, and
/// where the events partition ended (`None` when the snapshots name no events offset);
/// `None` when a snapshot is not in a format read. With `check`, whether the last
/// transaction's events are in the log is noted (`CaughtUp::confirmed`).
fn caught_up(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
    read: &mut FromSnapshots,
    check: bool,
) -> Result<Option<(Orders, CaughtUpEnd)>, RebuildError> {
    let Some(mut orders) = read.orders.take() else {
        return Ok(None);
    };
    // No order snapshot at all: every event is one the snapshots lack.
    let Some(from) = read.events_from.or((!read.any_order).then_some(0)) else {
        return Ok(Some((orders, CaughtUpEnd::unchecked())));
    };
    let watched = check.then(|| read.last.expected(&orders)).flatten();
    let caught = catch_up::fold_missing(
        kafka,
        topics,
        partition,
        &mut orders,
        from,
        watched.as_ref().unwrap_or(&HashSet::new()),
    )
    .map_err(|error| RebuildError::Read {
        topic: topics.events.clone(),
        error: error.to_string(),
    })?;
    Ok(Some((
        orders,
        CaughtUpEnd {
            end: Some(caught.end),
            confirmed: caught.confirmed || watched.is_none(),
            orders: caught.orders,
        },
    )))
}

/// What a catch-up left: where the events ended, whether the last transaction is
/// confirmed, and the orders it gave events.
struct CaughtUpEnd {
    end: Option<i64>,
    confirmed: bool,
    orders: HashSet<OrderId>,
}

impl CaughtUpEnd {
    fn unchecked() -> Self {
        Self {
            end: None,
            confirmed: true,
            orders: HashSet::new(),
        }
    }
}

/// Folds every event of the partition (the benchmark measures this path's events/s).
#[cfg(feature = "measure")]
pub(crate) fn from_events(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
) -> Result<Orders, RebuildError> {
    Ok(screened_fold(kafka, topics, partition, &mut Screen::new(topics))?.0)
}

fn screened_fold(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
    screen: &mut Screen,
) -> Result<(Orders, i64), RebuildError> {
    let mut orders: HashMap<OrderId, OrderSlot> = HashMap::new();
    let end = fold_matching(
        kafka,
        topics,
        partition,
        screen,
        |_| true,
        |envelope| {
            orders
                .entry(envelope.order_id)
                .or_default()
                .replay(envelope)
        },
    )?;
    fill_fingerprints(kafka, topics, partition, screen, orders.values_mut())?;
    Ok((orders.into_iter().collect(), end))
}

/// Events do not carry the request's fingerprint, so the answers a fold remembers lack
/// it; the results partition has it (a result is committed with its events). Without it
/// the same `Idempotency-Key` with another request would get the first answer instead of
/// `idempotency_key_reused`.
fn fill_fingerprints<'a>(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
    screen: &mut Screen,
    slots: impl Iterator<Item = &'a mut OrderSlot>,
) -> Result<(), RebuildError> {
    let mut missing: HashMap<uuid::Uuid, Vec<&'a mut Option<String>>> = HashMap::new();
    for slot in slots {
        for recent in slot.recent.iter_mut().filter(|r| r.fingerprint.is_none()) {
            missing
                .entry(recent.command_id)
                .or_default()
                .push(&mut recent.fingerprint);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let end = read_to_end::<std::convert::Infallible>(
        kafka,
        &topics.results,
        partition,
        Start::Beginning,
        |message| {
            let result = message
                .payload()
                .and_then(|value| serde_json::from_slice::<CommandResult>(value).ok());
            match result {
                Some(result) => {
                    if let Some(fingerprints) = missing.get_mut(&result.command_id) {
                        for fingerprint in fingerprints.iter_mut() {
                            fingerprint.get_or_insert_with(|| result.fingerprint.clone());
                        }
                    }
                }
                None => screen.unusable(message, "not a command result"),
            }
            Ok(())
        },
    )
    .map_err(|error| RebuildError::Read {
        topic: topics.results.clone(),
        error: error.to_string(),
    })?;
    screen.read(&topics.results, end);
    Ok(())
}

/// Folds one order's events (when its snapshot turns out unreadable on its first
/// command): a read of the whole partition that decodes only that order's records.
pub(crate) fn order_from_events(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
    order_id: OrderId,
) -> Result<OrderSlot, RebuildError> {
    let key = order_id.to_string();
    let mut slot = OrderSlot::default();
    // Only this order's records are looked at: what is unusable is skipped here, and
    // dead-lettered by the partition's next takeover, which reads the whole partition.
    let mut screen = Screen::new(topics);
    fold_matching(
        kafka,
        topics,
        partition,
        &mut screen,
        |message| message.key() == Some(key.as_bytes()),
        |envelope| slot.replay(envelope),
    )?;
    fill_fingerprints(
        kafka,
        topics,
        partition,
        &mut screen,
        std::iter::once(&mut slot),
    )?;
    Ok(slot)
}

/// Reads the events partition to its end, decoding and folding the records `wanted` keeps;
/// an event that does not decode or does not fit its order is screened out. A rejected
/// event leaves its order as it was (the fold of an order is all or nothing per event).
/// Returns where the partition ended.
fn fold_matching(
    kafka: &KafkaConfig,
    topics: &TopicSet,
    partition: i32,
    screen: &mut Screen,
    wanted: impl Fn(&BorrowedMessage<'_>) -> bool,
    mut fold: impl FnMut(&EventEnvelope) -> Result<(), EvolveError>,
) -> Result<i64, RebuildError> {
    let end = read_to_end::<std::convert::Infallible>(
        kafka,
        &topics.events,
        partition,
        Start::Beginning,
        |message| {
            if !wanted(message) {
                return Ok(());
            }
            let folded = wire::decode_event(message)
                .map_err(|e| format!("not an event: {e}"))
                .and_then(|envelope| {
                    fold(&envelope).map_err(|e| format!("does not fit its order: {e}"))
                });
            if let Err(reason) = folded {
                screen.unusable(message, &reason);
            }
            Ok(())
        },
    )
    .map_err(|error| RebuildError::Read {
        topic: topics.events.clone(),
        error: error.to_string(),
    })?;
    screen.read(&topics.events, end);
    Ok(end)
}
