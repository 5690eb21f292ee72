//! librdkafka's statistics as Prometheus metrics. A client configured with
//! `statistics.interval.ms` = [`INTERVAL_MS`] reports every five seconds; its context
//! hands each report to [`record`], which turns it into:
//!
//! - `orderlog_kafka_consumer_lag_messages{client, topic, partition}`: records between the
//!   partition's last stable offset (what a read_committed reader can reach) and the next
//!   one the client hands to the application, for the partitions the client consumes;
//! - `orderlog_kafka_messages_queued{client}`: records waiting in the clients' queues to be
//!   sent or acknowledged;
//! - `orderlog_kafka_broker_rtt_p99_seconds{client}`: the slowest broker's round trip p99;
//! - `orderlog_kafka_transmit_errors_total`, `_transmit_retries_total`,
//!   `_request_timeouts_total`, `_receive_errors_total` `{client}`: librdkafka's own counts
//!   of requests that failed, were retried or timed out.
//!
//! `client` is the role (`command-intake`, `command-processor`, `projection-orders`...),
//! never librdkafka's per-instance name, so the series stay few however often clients are
//! re-created. Several clients of one role add up: each client's counters are remembered
//! between reports and only their growth is added.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rdkafka::statistics::Statistics;

/// How often a client reports its statistics: the value of `statistics.interval.ms` for
/// clients whose context implements `stats` with [`record`] (rdkafka's default logs every
/// report, so other clients leave it unset).
pub const INTERVAL_MS: &str = "5000";

/// A client that has not reported for this long is gone: its queue no longer counts.
const FORGOTTEN_AFTER: Duration = Duration::from_secs(60);

/// The counters librdkafka keeps per client, summed over its brokers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub transmit_errors: u64,
    pub transmit_retries: u64,
    pub request_timeouts: u64,
    pub receive_errors: u64,
}

impl Totals {
    pub fn of(stats: &Statistics) -> Self {
        stats.brokers.values().fold(Self::default(), |sum, b| Self {
            transmit_errors: sum.transmit_errors + b.txerrs,
            transmit_retries: sum.transmit_retries + b.txretries,
            request_timeouts: sum.request_timeouts + b.req_timeouts,
            receive_errors: sum.receive_errors + b.rxerrs,
        })
    }

    /// What grew since `before`; a counter that went back (a re-created client reusing a
    /// name) counts from zero.
    pub fn growth_since(self, before: Self) -> Self {
        let grown = |now: u64, then: u64| if now >= then { now - then } else { now };
        Self {
            transmit_errors: grown(self.transmit_errors, before.transmit_errors),
            transmit_retries: grown(self.transmit_retries, before.transmit_retries),
            request_timeouts: grown(self.request_timeouts, before.request_timeouts),
            receive_errors: grown(self.receive_errors, before.receive_errors),
        }
    }
}

/// Each consumed partition's lag: `(topic, partition, records)`. A partition the client
/// no longer fetches shows 0, so a revoked partition does not keep its last lag.
pub fn consumer_lags(stats: &Statistics) -> Vec<(String, i32, i64)> {
    let mut lags = Vec::new();
    for (topic, t) in &stats.topics {
        for p in t.partitions.values() {
            if p.partition < 0 {
                continue; // librdkafka's internal "unassigned" partition
            }
            let fetching = p.desired && p.fetch_state == "active";
            let lag = if fetching && p.ls_offset >= 0 && p.app_offset >= 0 {
                (p.ls_offset - p.app_offset).max(0)
            } else {
                0
            };
            if fetching || p.app_offset >= 0 {
                lags.push((topic.clone(), p.partition, lag));
            }
        }
    }
    lags
}

/// The slowest broker's round-trip p99, in seconds (librdkafka counts microseconds).
fn rtt_p99(stats: &Statistics) -> f64 {
    let micros = stats
        .brokers
        .values()
        .filter_map(|b| b.rtt.as_ref())
        .map(|w| w.p99)
        .max()
        .unwrap_or(0);
    Duration::from_micros(u64::try_from(micros).unwrap_or(0)).as_secs_f64()
}

struct Last {
    client: String,
    totals: Totals,
    queued: u64,
    rtt_p99: f64,
    at: Instant,
}

/// What each client (by librdkafka's instance name) reported last.
fn seen() -> &'static Mutex<HashMap<String, Last>> {
    static SEEN: OnceLock<Mutex<HashMap<String, Last>>> = OnceLock::new();
    SEEN.get_or_init(Mutex::default)
}

/// Records one report of a client playing `client`'s role.
pub fn record(client: &str, stats: &Statistics) {
    let now = Instant::now();
    let totals = Totals::of(stats);
    let Ok(mut seen) = seen().lock() else {
        return;
    };
    let before = seen.get(&stats.name).map(|l| l.totals).unwrap_or_default();
    let grown = totals.growth_since(before);
    seen.insert(
        stats.name.clone(),
        Last {
            client: client.to_owned(),
            totals,
            queued: stats.msg_cnt,
            rtt_p99: rtt_p99(stats),
            at: now,
        },
    );
    seen.retain(|_, last| now.duration_since(last.at) < FORGOTTEN_AFTER);
    let role: Vec<&Last> = seen.values().filter(|l| l.client == client).collect();
    let queued: u64 = role.iter().map(|l| l.queued).sum();
    let rtt = role.iter().map(|l| l.rtt_p99).fold(0.0, f64::max);
    drop(seen);

    let client = client.to_owned();
    let count = |name: &'static str, by: u64| {
        metrics::counter!(name, "client" => client.clone()).increment(by);
    };
    count(
        "orderlog_kafka_transmit_errors_total",
        grown.transmit_errors,
    );
    count(
        "orderlog_kafka_transmit_retries_total",
        grown.transmit_retries,
    );
    count(
        "orderlog_kafka_request_timeouts_total",
        grown.request_timeouts,
    );
    count("orderlog_kafka_receive_errors_total", grown.receive_errors);
    metrics::gauge!("orderlog_kafka_messages_queued", "client" => client.clone())
        .set(queued as f64);
    metrics::gauge!("orderlog_kafka_broker_rtt_p99_seconds", "client" => client.clone()).set(rtt);
    for (topic, partition, lag) in consumer_lags(stats) {
        metrics::gauge!(
            "orderlog_kafka_consumer_lag_messages",
            "client" => client.clone(),
            "topic" => topic,
            "partition" => partition.to_string()
        )
        .set(lag as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report as librdkafka writes it (trimmed to what is read here).
    fn report(txerrs: u64, partitions: &str) -> Statistics {
        let json = format!(
            r#"{{"name":"rdkafka#consumer-1","client_id":"rdkafka","type":"consumer","ts":1,"time":1,"age":1,
            "replyq":0,"msg_cnt":3,"msg_size":0,"msg_max":0,"msg_size_max":0,"tx":0,"tx_bytes":0,"rx":0,
            "rx_bytes":0,"txmsgs":0,"txmsg_bytes":0,"rxmsgs":0,"rxmsg_bytes":0,"simple_cnt":0,
            "metadata_cache_cnt":0,
            "brokers":{{"b1":{{"name":"b1","nodeid":1,"nodename":"b1","source":"configured","state":"UP",
              "stateage":0,"outbuf_cnt":0,"outbuf_msg_cnt":0,"waitresp_cnt":0,"waitresp_msg_cnt":0,
              "tx":0,"txbytes":0,"txidle":0,"rxidle":0,"txerrs":{txerrs},"txretries":2,"req_timeouts":1,"rx":0,"rxbytes":0,
              "rxerrs":0,"rxcorriderrs":0,"rxpartial":0,"zbuf_grow":0,"buf_grow":0,"req":{{}},
              "toppars":{{}}}}}},
            "topics":{{"t":{{"topic":"t","age":0,"metadata_age":0,
              "batchsize":{{"min":0,"max":0,"avg":0,"sum":0,"cnt":0,"stddev":0,"hdrsize":0,"p50":0,"p75":0,"p90":0,"p95":0,"p99":0,"p99_99":0,"outofrange":0}},
              "batchcnt":{{"min":0,"max":0,"avg":0,"sum":0,"cnt":0,"stddev":0,"hdrsize":0,"p50":0,"p75":0,"p90":0,"p95":0,"p99":0,"p99_99":0,"outofrange":0}},
              "partitions":{{{partitions}}}}}}}}}"#
        );
        serde_json::from_str(&json).expect("a librdkafka report")
    }

    fn partition(id: i32, desired: bool, state: &str, app: i64, ls: i64) -> String {
        format!(
            r#""{id}":{{"partition":{id},"broker":1,"leader":1,"desired":{desired},"unknown":false,
            "msgq_cnt":0,"msgq_bytes":0,"xmit_msgq_cnt":0,"xmit_msgq_bytes":0,"fetchq_cnt":0,
            "fetchq_size":0,"fetch_state":"{state}","query_offset":0,"next_offset":0,
            "app_offset":{app},"stored_offset":-1001,"committed_offset":-1001,"eof_offset":0,
            "lo_offset":0,"hi_offset":{ls},"ls_offset":{ls},"consumer_lag":-1,
            "consumer_lag_stored":-1,"txmsgs":0,"txbytes":0,"rxmsgs":0,"rxbytes":0,"msgs":0,
            "rx_ver_drops":0,"msgs_inflight":0,"next_ack_seq":0,"next_err_seq":0,"acked_msgid":0}}"#
        )
    }

    #[test]
    fn lag_counts_from_what_the_application_got_to_the_last_stable_offset() {
        let parts = [
            partition(0, true, "active", 40, 100),
            partition(1, false, "none", 7, 100),
            partition(2, true, "active", -1001, 100),
            partition(-1, false, "none", -1001, -1001),
        ]
        .join(",");
        let mut lags = consumer_lags(&report(0, &parts));
        lags.sort();
        assert_eq!(
            lags,
            vec![
                ("t".to_owned(), 0, 60),
                // revoked: its last lag must not linger
                ("t".to_owned(), 1, 0),
                // assigned, nothing handed over yet: unknown, shown as 0 rather than guessed
                ("t".to_owned(), 2, 0),
            ]
        );
    }

    #[test]
    fn counters_add_only_their_growth() {
        let first = Totals::of(&report(5, ""));
        let second = Totals::of(&report(9, ""));
        assert_eq!(first.transmit_errors, 5);
        assert_eq!(first.transmit_retries, 2);
        assert_eq!(second.growth_since(first).transmit_errors, 4);
        assert_eq!(second.growth_since(first).transmit_retries, 0);
        // a client re-created under the same name starts again from zero
        assert_eq!(first.growth_since(second).transmit_errors, 5);
    }
}
