use std::time::{Duration, Instant};

use chrono::Utc;
use event_store::TransactionalProducer;
use event_store::{KafkaConfig, TopicSet, TopicSpec, wire};
use projectors::app::Application;
use projectors::config::Config;
use rdkafka::producer::{BaseRecord, Producer};
use schemas::command::{
    AddLine, CancelOrder, CancelReason, Command, ConfirmPayment, NewLine, PlaceOrder, ShipOrder,
};
use schemas::values::{
    Address, Carrier, Currency, CustomerId, Money, OrderId, PaymentReference, Quantity, Sku,
    TrackingNumber,
};
use schemas::{EventEnvelope, cloudevents};
use sqlx::PgPool;
pub(crate) use testkit::{bootstrap, fresh_database};

pub(crate) const PARTITIONS: i32 = 3;

/// A private set of topics and a private database.
pub(crate) struct Stack {
    pub(crate) prefix: String,
    pub(crate) database_url: String,
    pub(crate) pool: PgPool,
    pub(crate) kafka: KafkaConfig,
    pub(crate) topics: TopicSet,
}

impl Stack {
    pub(crate) async fn new() -> Self {
        Self::on_database(fresh_database().await).await
    }

    /// Topics of its own and the database at `database_url` (a private server's).
    pub(crate) async fn on_database(database_url: String) -> Self {
        let prefix = testkit::topic_prefix();
        let kafka = KafkaConfig::new(bootstrap(), &prefix);
        let topics = TopicSet::new(&prefix);
        topics
            .ensure(
                &kafka,
                TopicSpec {
                    partitions: PARTITIONS,
                    replication: 1,
                },
            )
            .await
            .expect("topics");
        let pool = projectors::db::connect(&database_url, 4)
            .await
            .expect("pool");
        Self {
            prefix,
            database_url,
            pool,
            kafka,
            topics,
        }
    }

    pub(crate) fn config(&self) -> Config {
        let mut config = Config::defaults();
        config.listen = "127.0.0.1:0".parse().expect("addr");
        config.kafka_bootstrap = bootstrap();
        config.topic_prefix = self.prefix.clone();
        config.database_url = self.database_url.as_str().into();
        config.batch_max = 500;
        config
    }

    pub(crate) async fn start(&self, config: Config) -> Running {
        testkit::logs::capture();
        let app = Application::build(config).await.expect("projectors build");
        let base = format!("http://{}", app.local_addr().expect("addr"));
        let service = testkit::running::run(|stopped| {
            app.run_until_stopped(async {
                let _ = stopped.await;
            })
        });
        Running { base, service }
    }

    /// Writes the events a sequence of commands produces (decided by the real domain) to
    /// the events topic, keyed and partitioned as the processors would.
    pub(crate) fn write(&self, histories: &[(OrderId, Vec<Command>)]) -> Vec<EventEnvelope> {
        let events = decide(histories);
        self.write_events(&events);
        events
    }

    /// Writes events as they are, keyed and partitioned as the processors would, in one
    /// committed Kafka transaction (so the log holds commit markers, as the processors'
    /// logs do).
    pub(crate) fn write_events(&self, events: &[EventEnvelope]) {
        self.transaction(events, true);
    }

    /// Writes events in a transaction that is then aborted: no reader may apply them.
    pub(crate) fn write_aborted(&self, events: &[EventEnvelope]) {
        self.transaction(events, false);
    }

    fn transaction(&self, events: &[EventEnvelope], commit: bool) {
        let id = format!("{}writer-{}", self.prefix, uuid::Uuid::new_v4().simple());
        let producer = TransactionalProducer::create(
            self.kafka
                .transactional_producer(&id)
                .set("partitioner", "murmur2_random"),
        )
        .expect("producer");
        producer
            .init_transactions(Duration::from_secs(30))
            .expect("init");
        producer.begin_transaction().expect("begin");
        for event in events {
            let record = cloudevents::encode(event);
            producer
                .send(
                    BaseRecord::to(&self.topics.events)
                        .key(record.key.as_bytes())
                        .payload(record.value.as_slice())
                        .headers(wire::headers(&record)),
                )
                .expect("send");
        }
        if commit {
            producer
                .commit_transaction(Duration::from_secs(30))
                .expect("commit");
        } else {
            producer
                .abort_transaction(Duration::from_secs(30))
                .expect("abort");
        }
    }
}

/// The events a sequence of commands produces, decided by the real domain (a refused
/// command writes nothing, as in the processor).
pub(crate) fn decide(histories: &[(OrderId, Vec<Command>)]) -> Vec<EventEnvelope> {
    let mut decided = Vec::new();
    for (order_id, commands) in histories {
        let mut state = schemas::OrderState::default();
        for command in commands {
            let events = schemas::order::decide(
                &state,
                command,
                &schemas::order::Context::at(chrono::Utc::now()),
            )
            .unwrap_or_default();
            let causation_id = uuid::Uuid::now_v7();
            for event in events {
                state = schemas::order::evolve(state, &event).expect("a decided event fits");
                decided.push(EventEnvelope {
                    event_id: uuid::Uuid::now_v7(),
                    order_id: *order_id,
                    order_version: state.version(),
                    occurred_at: Utc::now(),
                    correlation_id: causation_id,
                    causation_id,
                    traceparent: None,
                    event,
                });
            }
        }
    }
    decided
}

pub(crate) struct Running {
    /// `http://<health address>` of the projectors.
    pub(crate) base: String,
    service: testkit::running::Running,
}

impl Running {
    pub(crate) async fn stop(self) {
        self.service.stop().await;
    }
}

/// Polls `query` (a single i64) until it equals `expected` or 60 s pass.
pub(crate) async fn wait_for(pool: &PgPool, query: &'static str, expected: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = -1;
    while Instant::now() < deadline {
        last = sqlx::query_scalar::<_, i64>(query)
            .fetch_one(pool)
            .await
            .unwrap_or(-1);
        if last == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("`{query}` is {last}, expected {expected}");
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::parse("EUR").expect("EUR")).expect("money")
}

fn new_line(sku: &str, quantity: i64, unit: i64) -> NewLine {
    NewLine {
        sku: Sku::parse(sku).expect("sku"),
        quantity: Quantity::new(quantity).expect("qty"),
        unit_price: eur(unit),
    }
}

pub(crate) fn place(customer: &str, lines: &[(&str, i64, i64)]) -> Command {
    Command::PlaceOrder(PlaceOrder {
        customer_id: CustomerId::parse(customer).expect("customer"),
        currency: Currency::parse("EUR").expect("EUR"),
        lines: lines.iter().map(|(s, q, p)| new_line(s, *q, *p)).collect(),
        shipping_address: Address::new("Ada", "1 Way", None, "Berlin", "10115", "DE")
            .expect("address"),
        payment_window_seconds: None,
    })
}

pub(crate) fn add(sku: &str, quantity: i64, unit: i64) -> Command {
    Command::AddLine(AddLine {
        line: new_line(sku, quantity, unit),
    })
}

pub(crate) fn pay(amount: i64) -> Command {
    Command::ConfirmPayment(ConfirmPayment {
        payment_reference: PaymentReference::parse("psp").expect("ref"),
        amount: eur(amount),
    })
}

pub(crate) fn ship() -> Command {
    Command::ShipOrder(ShipOrder {
        carrier: Carrier::parse("DHL").expect("carrier"),
        tracking_number: TrackingNumber::parse("TRACK1").expect("tracking"),
    })
}

pub(crate) fn cancel() -> Command {
    Command::CancelOrder(CancelOrder {
        reason: CancelReason::parse("changed mind").expect("reason"),
    })
}
