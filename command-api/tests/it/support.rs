//! A command-api on a random port with topics of its own, and helpers to talk to it and
//! to read its events as a plain Kafka consumer would.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use command_api::app::Application;
use command_api::config::{Config, Role};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{Value, json};
pub(crate) use testkit::bootstrap;
use tokio::sync::oneshot;

pub(crate) const PARTITIONS: i32 = 3;

pub(crate) fn test_config(prefix: &str, role: Role) -> Config {
    let mut config = Config::defaults();
    config.role = role;
    config.listen = "127.0.0.1:0".parse().expect("addr");
    config.kafka_bootstrap = bootstrap();
    config.topic_prefix = prefix.to_owned();
    config.topic_partitions = PARTITIONS;
    config.result_timeout_ms = 20_000;
    config.auth = testkit::auth::settings();
    config
}

pub(crate) use testkit::http::client;

pub(crate) fn unique_prefix() -> String {
    testkit::topic_prefix()
}

/// A running command-api; stops gracefully when dropped.
pub(crate) struct TestApp {
    pub(crate) base: String,
    pub(crate) prefix: String,
    pub(crate) client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub(crate) async fn spawn() -> Self {
        Self::spawn_with(test_config(&unique_prefix(), Role::All)).await
    }

    pub(crate) async fn spawn_with(config: Config) -> Self {
        let runs_processor = config.runs_processor();
        let app = Self::start(config).await;
        if runs_processor {
            app.wait_ready().await;
        }
        app
    }

    /// Starts the service without waiting for its processor to be ready.
    pub(crate) async fn start(config: Config) -> Self {
        testkit::logs::capture();
        let prefix = config.topic_prefix.clone();
        let app = Application::build(config)
            .await
            .expect("application builds");
        let base = format!("http://{}", app.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        Self {
            base,
            prefix,
            client: client(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub(crate) async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = self
                .client
                .get(format!("{}/readyz", self.base))
                .send()
                .await
                .map(|r| r.status().is_success());
            if ready.unwrap_or(false) {
                return;
            }
            assert!(
                !self.task.as_ref().is_some_and(|t| t.is_finished()),
                "command-api stopped before it was ready (see its log)"
            );
            assert!(
                Instant::now() < deadline,
                "command-api not ready within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The service ended (on its own: a test stops it with [`Self::stop`]).
    pub(crate) fn is_finished(&self) -> bool {
        self.task.as_ref().is_some_and(|t| t.is_finished())
    }

    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("join").expect("clean shutdown");
        }
    }

    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        self.send_with(method, path, body, &[]).await
    }

    pub(crate) async fn send_with(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.try_send_with(method, path, body, headers)
            .await
            .expect("request sent")
    }

    /// [`Self::send_with`], with a transport error (a keep-alive connection the server
    /// closed as the request left, for example) returned rather than panicking.
    async fn try_send_with(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, reqwest::Error> {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Ok(Reply::from(request.send().await?).await)
    }

    /// Sends a command with an `Idempotency-Key`.
    pub(crate) async fn send_keyed(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        key: &str,
    ) -> Reply {
        self.send_with(method, path, body, &[("Idempotency-Key", key)])
            .await
    }

    /// Sends a command until it gets a definite answer, retrying 503s with the same key.
    pub(crate) async fn until_definite(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        key: &str,
    ) -> Reply {
        self.until_definite_within(method, path, body, key, Duration::from_secs(90))
            .await
    }

    /// [`Self::until_definite`], giving up (with the last 503) after `patience`.
    pub(crate) async fn until_definite_within(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        key: &str,
        patience: Duration,
    ) -> Reply {
        let deadline = Instant::now() + patience;
        loop {
            // No answer at all is as indefinite as a 503: the same key makes the retry safe.
            let reply = self
                .try_send_with(
                    method.clone(),
                    path,
                    body.clone(),
                    &[("Idempotency-Key", key)],
                )
                .await;
            match reply {
                Ok(reply) if reply.status != 503 || Instant::now() > deadline => return reply,
                Err(error) if Instant::now() > deadline => panic!("no answer: {error}"),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    pub(crate) async fn place(&self, body: Value) -> Reply {
        self.send(reqwest::Method::POST, "/v1/orders", Some(body))
            .await
    }

    /// Places the default order and returns its id.
    pub(crate) async fn place_default(&self) -> String {
        let reply = self.place(place_body()).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body["order_id"]
            .as_str()
            .expect("order id")
            .to_owned()
    }

    pub(crate) fn events_topic(&self) -> String {
        event_store::TopicSet::new(&self.prefix).events
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Value,
}

impl Reply {
    async fn from(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Self {
            status,
            headers,
            body,
        }
    }

    pub(crate) fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// An `Idempotency-Key` whose PlaceOrder creates an order on `partition`.
pub(crate) fn key_in_partition(partition: i32, partitions: i32) -> String {
    (0..)
        .map(|n| format!("{}-{n}", uuid::Uuid::new_v4().simple()))
        .find(|key| {
            let order = command_api::http::order_id_for_key(key).to_string();
            event_store::partitioner::partition_of(order.as_bytes(), partitions) == partition
        })
        .expect("some key lands on every partition")
}

pub(crate) fn money(minor: i64) -> Value {
    json!({ "amount_minor": minor, "currency": "EUR" })
}

pub(crate) fn address(city: &str) -> Value {
    json!({ "name": "Ada Lovelace", "line1": "1 Analytical Way", "city": city, "postal_code": "10115", "country": "DE" })
}

/// Two lines: 2 x 500 + 1 x 250 = 1250 cents.
pub(crate) fn place_body() -> Value {
    json!({
        "customer_id": "cust-42",
        "currency": "EUR",
        "lines": [
            { "sku": "A-1", "quantity": 2, "unit_price": money(500) },
            { "sku": "B-2", "quantity": 1, "unit_price": money(250) }
        ],
        "shipping_address": address("Berlin")
    })
}

/// The ids of the events the acknowledged answers name.
pub(crate) fn acknowledged_event_ids(acknowledged: &[Value]) -> std::collections::HashSet<String> {
    acknowledged
        .iter()
        .flat_map(|ack| ack["events"].as_array().cloned().unwrap_or_default())
        .map(|e| e["id"].as_str().expect("event id").to_owned())
        .collect()
}

/// Every acknowledged event is in the log.
pub(crate) fn assert_acknowledged_in_log(
    expected: &std::collections::HashSet<String>,
    log: &[PlainEvent],
) {
    let seen: std::collections::HashSet<&str> = log.iter().map(|e| e.header("ce_id")).collect();
    let missing: Vec<_> = expected
        .iter()
        .filter(|id| !seen.contains(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged events missing from the log: {missing:?}"
    );
}

/// Every order's versions run 1, 2, 3... in the log, with no gap or duplicate; `context`
/// is added to a failure's message.
pub(crate) fn assert_versions_run_1_to_n(log: &[PlainEvent], context: &str) {
    let mut versions: HashMap<&str, Vec<u64>> = HashMap::new();
    for event in log {
        versions
            .entry(event.key.as_str())
            .or_default()
            .push(event.version());
    }
    for (order, versions) in versions {
        assert_eq!(
            versions,
            (1..=versions.len() as u64).collect::<Vec<_>>(),
            "order {order}{context}"
        );
    }
}

/// An event as a plain Kafka consumer sees it: headers and JSON value, nothing else.
/// (Where it sits is read by the `broker_restart` test binary, which shares this file.)
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub(crate) struct PlainEvent {
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) key: String,
    pub(crate) headers: HashMap<String, String>,
    pub(crate) value: Value,
}

impl PlainEvent {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    pub(crate) fn version(&self) -> u64 {
        self.header("ce_orderversion")
            .parse()
            .expect("ce_orderversion")
    }
}

/// Assigns `consumer` every one of the topic's `partitions`, from its first record.
pub(crate) fn assign_from_beginning(consumer: &BaseConsumer, topic: &str, partitions: i32) {
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .expect("offset");
    }
    consumer.assign(&assignment).expect("assign");
}

/// Every committed event of the topic, read with nothing but rdkafka and the CloudEvents
/// binding (no orderlog code), until `expected` are seen or the deadline passes.
pub(crate) fn read_events(topic: &str, expected: usize) -> Vec<PlainEvent> {
    read_events_from(&bootstrap(), topic, expected)
}

/// [`read_events`] from the brokers at `bootstrap`.
pub(crate) fn read_events_from(bootstrap: &str, topic: &str, expected: usize) -> Vec<PlainEvent> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "plain-reader")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let partitions = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata")
        .topics()
        .first()
        .map_or(0, |t| t.partitions().len() as i32);
    assign_from_beginning(&consumer, topic, partitions);
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                quiet_since = Instant::now();
                let headers = headers_of(&message);
                events.push(PlainEvent {
                    partition: message.partition(),
                    offset: message.offset(),
                    key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
                    headers,
                    value: serde_json::from_slice(message.payload().unwrap_or_default())
                        .expect("value is JSON"),
                });
            }
            Some(Err(error)) => panic!("consume: {error}"),
            // Past the expected count, wait a little longer to catch any extra (duplicate) event.
            None if events.len() >= expected
                && quiet_since.elapsed() > Duration::from_millis(1500) =>
            {
                break;
            }
            None => {}
        }
    }
    events
}

/// A record's headers as text, as a plain consumer reads them.
pub(crate) fn headers_of(message: &impl Message) -> HashMap<String, String> {
    message.headers().map_or_else(HashMap::new, |h| {
        h.iter()
            .map(|h| {
                (
                    h.key.to_owned(),
                    String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                )
            })
            .collect()
    })
}

/// The events of one order, in log order.
pub(crate) fn events_of(events: &[PlainEvent], order_id: &str) -> Vec<PlainEvent> {
    events
        .iter()
        .filter(|e| e.key == order_id)
        .cloned()
        .collect()
}

/// Calls `each` with every committed record of one partition of the snapshots topic.
pub(crate) fn read_snapshots(
    prefix: &str,
    partition: i32,
    mut each: impl FnMut(&rdkafka::message::BorrowedMessage<'_>),
) {
    let kafka = event_store::KafkaConfig::new(bootstrap(), prefix);
    event_store::read_to_end(
        &kafka,
        &event_store::TopicSet::new(prefix).snapshots,
        partition,
        event_store::Start::Beginning,
        |m| {
            each(m);
            Ok::<(), ()>(())
        },
    )
    .expect("read snapshots");
}
