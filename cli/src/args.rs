//! The command line: `orderlog <group> <command> [options]`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "orderlog",
    version,
    about = "Replay, export, inspect and verify orderlog's event log, straight from Kafka.",
    after_help = "Examples:
  orderlog events replay --from -24h --type placed --format csv > placed.csv
  orderlog events tail --customer cust-42
  orderlog order state 0193e4f0-7c1a-7000-8000-000000000001 --at 2026-11-20T12:00:00Z
  orderlog stats --from 2026-11-01 --to 2026-12-01
  orderlog verify
  orderlog export parquet --out /data/orderlog

Exit status: 0 on success, 1 when `verify` finds differences, 2 on any error."
)]
pub struct Cli {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers.
    #[arg(
        long,
        global = true,
        env = "ORDERLOG_KAFKA_BOOTSTRAP",
        default_value = "127.0.0.1:9092"
    )]
    pub bootstrap: String,
    /// Prefix of the platform's topic names.
    #[arg(long, global = true, env = "ORDERLOG_TOPIC_PREFIX", default_value = "")]
    pub topic_prefix: String,
    /// How long to wait for Kafka to answer before giving up, in seconds.
    #[arg(long, global = true, default_value_t = 10)]
    pub timeout: u64,
    /// How the CLI authenticates to Kafka (an analyst's principal reads the topics).
    #[command(flatten)]
    pub security: event_store::KafkaSecurity,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read the event log: replay a range, or follow new events.
    #[command(subcommand)]
    Events(EventsCommand),
    /// One order's state and history.
    #[command(subcommand)]
    Order(OrderCommand),
    /// Fold the whole log into the read models it implies and compare them with PostgreSQL.
    #[command(after_help = "Examples:
  orderlog verify
  orderlog verify --database-url postgres://reader@replica/orderlog --max-differences 20

Each projection is compared with the log up to the offsets it has stored, in one
database snapshot, so `verify` is exact even while events keep arriving.
Prints one difference per line (model, key, field, expected, actual) and exits 1 if any.")]
    Verify(VerifyArgs),
    /// Counts per event type and per UTC day over a range.
    #[command(after_help = "Examples:
  orderlog stats
  orderlog stats --from -7d --format csv
  orderlog stats --from 2026-11-01 --to 2026-12-01 --type cancelled")]
    Stats(StatsArgs),
    /// Replay the history with another payment window: what would have expired.
    #[command(after_help = "Examples:
  orderlog simulate --payment-window 15m
  orderlog simulate --payment-window 10m --from 2026-11-01 --to 2026-12-01 --format json

Orders placed in the range are followed to the end of the log on a virtual clock (the
events' own times); one neither paid nor cancelled when the window closes would have
expired. Windows: 90s, 15m, 2h, 1d.")]
    Simulate(SimulateArgs),
    /// Export the log as Parquet for DuckDB, Apache Spark and other engines.
    #[command(subcommand)]
    Export(ExportCommand),
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// The events as Parquet datasets (one per type, one of envelopes), exporting only what
    /// is new since the directory's last run.
    #[command(after_help = "Examples:
  orderlog export parquet --out /data/orderlog              # every night: only what is new
  orderlog export parquet --out /data/paid --type payment_confirmed
  orderlog export parquet --out /data/recent --from -30d    # a new export starting 30 days ago

Layout: DIR/<dataset>/date=YYYY-MM-DD/part-<run>-NNNN.parquet, datasets `envelope` and
one per event type (placed, payment_confirmed, ...); DIR/_orderlog/ holds the manifest.
Each run commits its files and the manifest at once: a run that is killed and run again
leaves every event exactly once. Filters (--type, --order, --customer, --partition) are
kept by the directory; --from applies to a new directory only. Only committed events are
exported (read_committed).

Read it with DuckDB:
  SELECT date, count(*) FROM read_parquet('DIR/envelope/*/*.parquet', hive_partitioning = true) GROUP BY date;")]
    Parquet(ParquetArgs),
    /// Every order as it stood at a moment, one row per order, as one Parquet file.
    #[command(after_help = "Examples:
  orderlog export state --at 2026-11-30T23:59:59Z --out orders-november.parquet
  orderlog export state --at -1h --out orders.parquet")]
    State(ExportStateArgs),
}

#[derive(Debug, Args)]
pub struct ParquetArgs {
    /// The export directory (created if needed; later runs add what is new).
    #[arg(long)]
    pub out: PathBuf,
    /// Where a new export starts (default: the beginning). A directory that holds an
    /// export continues where its last run stopped.
    #[arg(long, allow_hyphen_values = true)]
    pub from: Option<String>,
    /// Where this run stops (exclusive): the bounds of `events replay`.
    #[arg(long, default_value = "end", allow_hyphen_values = true)]
    pub to: String,
    #[command(flatten)]
    pub filters: Filters,
}

#[derive(Debug, Args)]
pub struct ExportStateArgs {
    /// The moment (RFC 3339, a date, or relative like -1h).
    #[arg(long, allow_hyphen_values = true)]
    pub at: String,
    /// The Parquet file to write (replaced whole when done).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Replay the events of a range to stdout or a file, then stop.
    #[command(after_help = "Examples:
  orderlog events replay                                   # the whole log, JSON Lines
  orderlog events replay --from -24h --type placed,cancelled
  orderlog events replay --from 2026-11-01 --to 2026-11-02 --format csv -o day.csv
  orderlog events replay --order 0193e4f0-7c1a-7000-8000-000000000001
  orderlog events replay --customer cust-42 | jq -c 'select(.type | endswith(\"cancelled\"))'
  orderlog events replay --partition 2 --from 1200 --to 1300

Bounds: beginning, end, now, an offset (in every partition read), RFC 3339, a date
(midnight UTC) or relative to now (-90s, -30m, -24h, -7d, -2w). Times select on the
event's time through Kafka's offsets-for-times: from is inclusive, to exclusive.
Events come in order per order (per partition); sort by time for a global order.")]
    Replay(ReplayArgs),
    /// Follow new events as they are committed (Ctrl-C to stop).
    #[command(after_help = "Examples:
  orderlog events tail
  orderlog events tail --type payment_confirmed --format csv
  orderlog events tail --from -5m --order 0193e4f0-7c1a-7000-8000-000000000001")]
    Tail(TailArgs),
}

#[derive(Debug, Subcommand)]
pub enum OrderCommand {
    /// The order as it was, folded with the domain's own code, and its event history.
    #[command(after_help = "Examples:
  orderlog order state 0193e4f0-7c1a-7000-8000-000000000001
  orderlog order state 0193e4f0-7c1a-7000-8000-000000000001 --at 2026-11-20T12:00:00Z
  orderlog order state 0193e4f0-7c1a-7000-8000-000000000001 --version 3 | jq .state.status")]
    State(StateArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One CloudEvent per line, data as JSON.
    Jsonl,
    /// A header row, then one event per row; data as a JSON string in the last column.
    Csv,
}

/// Which events: the filters `events replay`, `events tail` and `export parquet` share.
#[derive(Debug, Clone, Default, Args)]
pub struct Filters {
    /// Only these event types (short like `placed` or full like `dev.orderlog.order.placed`;
    /// repeat or separate with commas).
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Only events of these orders.
    #[arg(long = "order", value_name = "ORDER_ID")]
    pub orders: Vec<String>,
    /// Only events of these customers' orders (reads placements from the beginning).
    #[arg(long = "customer", value_name = "CUSTOMER_ID")]
    pub customers: Vec<String>,
    /// Only this partition of the events topic.
    #[arg(long)]
    pub partition: Option<i32>,
}

#[derive(Debug, Args)]
pub struct Selection {
    #[command(flatten)]
    pub filters: Filters,
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: Format,
    /// Write to this file instead of stdout.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Where to start (inclusive).
    #[arg(long, default_value = "beginning", allow_hyphen_values = true)]
    pub from: String,
    /// Where to stop (exclusive). Ignored with --follow.
    #[arg(long, default_value = "end", allow_hyphen_values = true)]
    pub to: String,
    /// Keep going past the end, printing new events as they come.
    #[arg(long)]
    pub follow: bool,
    /// Threads decoding and formatting a bounded replay (0: one per core; 1: the reading
    /// thread writes each event itself, as with --follow). The output is the same.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub threads: usize,
    #[command(flatten)]
    pub selection: Selection,
}

#[derive(Debug, Args)]
pub struct TailArgs {
    /// Where to start.
    #[arg(long, default_value = "end", allow_hyphen_values = true)]
    pub from: String,
    #[command(flatten)]
    pub selection: Selection,
}

#[derive(Debug, Args)]
pub struct StateArgs {
    /// The order id.
    pub order_id: String,
    /// The state as it was at this moment (RFC 3339, a date, or relative like -1h).
    #[arg(long, allow_hyphen_values = true, conflicts_with = "version")]
    pub at: Option<String>,
    /// The state after this many events.
    #[arg(long)]
    pub version: Option<u64>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The read models' PostgreSQL.
    #[arg(
        long,
        env = "ORDERLOG_DATABASE_URL",
        default_value = "postgres://orderlog:orderlog@127.0.0.1:5432/orderlog",
        hide_default_value = true,
        hide_env_values = true
    )]
    pub database_url: telemetry::Secret,
    /// Print at most this many differences (all are counted).
    #[arg(long, default_value_t = 100)]
    pub max_differences: usize,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[arg(long, default_value = "beginning", allow_hyphen_values = true)]
    pub from: String,
    #[arg(long, default_value = "end", allow_hyphen_values = true)]
    pub to: String,
    /// Only these event types.
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// `text` for people, `json` or `csv` for tools.
    #[arg(long, value_enum, default_value = "text")]
    pub format: StatsFormat,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The payment window to replay the history with (90s, 15m, 2h, 1d).
    #[arg(long)]
    pub payment_window: String,
    /// Orders placed from here (the bounds of `events replay`).
    #[arg(long, default_value = "beginning", allow_hyphen_values = true)]
    pub from: String,
    /// Orders placed before here (their later events count, to the end of the log).
    #[arg(long, default_value = "end", allow_hyphen_values = true)]
    pub to: String,
    /// `text` for people, `json` for tools.
    #[arg(long, value_enum, default_value = "text")]
    pub format: SimulateFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SimulateFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatsFormat {
    Text,
    Json,
    Csv,
}
