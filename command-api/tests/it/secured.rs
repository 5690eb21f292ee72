//! command-api against a Kafka broker that takes only SASL/SCRAM-SHA-512 clients and
//! authorizes each with ACLs: the processors (principal `processor`) and the HTTP tier
//! (principal `http`) serve a command; a client with no credentials or a wrong password is
//! refused, and so is a service started with them; the HTTP tier's principal cannot write
//! events, and the projectors' cannot write results, so nobody but the processors can
//! answer a caller or change an order.

use std::time::Duration;

use command_api::config::Role;
use event_store::KafkaSecurity;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use reqwest::Method;
use testkit::broker::Broker;

use crate::support::*;

const USERS: [(&str, &str); 4] = [
    ("processor", "processor-secret"),
    ("http", "http-secret"),
    ("projector", "projector-secret"),
    ("analyst", "analyst-secret"),
];

fn client(bootstrap: &str, security: &KafkaSecurity) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("message.timeout.ms", "10000");
    security.apply(&mut config);
    config
}

fn metadata(bootstrap: &str, security: &KafkaSecurity) -> Result<usize, KafkaError> {
    let consumer: BaseConsumer = client(bootstrap, security).create()?;
    consumer
        .fetch_metadata(None, Duration::from_secs(5))
        .map(|m| m.brokers().len())
}

async fn produce(bootstrap: &str, security: &KafkaSecurity, topic: &str) -> Result<(), KafkaError> {
    let producer: FutureProducer = client(bootstrap, security).create()?;
    producer
        .send(
            FutureRecord::to(topic).key("k").payload("forged"),
            Duration::from_secs(10),
        )
        .await
        .map(drop)
        .map_err(|(error, _)| error)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn services_run_on_a_scram_secured_broker_and_everyone_else_is_refused() {
    let broker = tokio::task::spawn_blocking(|| Broker::start_secured("secured", &USERS))
        .await
        .expect("broker");
    let bootstrap = broker.bootstrap();
    let prefix = unique_prefix();
    broker.grant_orderlog_acls(&prefix);

    let mut processors = test_config(&prefix, Role::Processor);
    processors.kafka_bootstrap = bootstrap.clone();
    processors.kafka_security = KafkaSecurity::scram("processor", "processor-secret");
    let processors = TestApp::spawn_with(processors).await;
    let mut http = test_config(&prefix, Role::Http);
    http.kafka_bootstrap = bootstrap.clone();
    http.kafka_security = KafkaSecurity::scram("http", "http-secret");
    let http = TestApp::spawn_with(http).await;
    let placed = http
        .until_definite(Method::POST, "/v1/orders", Some(place_body()), "secured-1")
        .await;
    assert_eq!(placed.status, 201, "{}", placed.body);

    // No credentials, a wrong password: no answer at all.
    let bootstrap_ = bootstrap.clone();
    let (anonymous, wrong) = tokio::task::spawn_blocking(move || {
        (
            metadata(&bootstrap_, &KafkaSecurity::default()),
            metadata(&bootstrap_, &KafkaSecurity::scram("processor", "wrong")),
        )
    })
    .await
    .expect("join");
    assert!(
        anonymous.is_err(),
        "a client without credentials got {anonymous:?}"
    );
    assert!(
        wrong.is_err(),
        "a client with a wrong password got {wrong:?}"
    );
    // A service with a wrong password does not start.
    let mut impostor = test_config(&prefix, Role::Processor);
    impostor.kafka_bootstrap = bootstrap.clone();
    impostor.kafka_security = KafkaSecurity::scram("processor", "wrong");
    let refused = tokio::time::timeout(
        Duration::from_secs(120),
        command_api::app::Application::build(impostor),
    )
    .await
    .expect("build gives up");
    assert!(
        refused.is_err(),
        "a processor with a wrong password started"
    );

    // Authenticated, but not allowed: the HTTP tier cannot forge events, the projectors
    // cannot forge results; the processors can write both.
    let events = event_store::TopicSet::new(&prefix).events;
    let results = format!("{prefix}order-command-results");
    let denied = |r: Result<(), KafkaError>| {
        matches!(
            r,
            Err(KafkaError::MessageProduction(
                RDKafkaErrorCode::TopicAuthorizationFailed
            ))
        )
    };
    let forged_event = produce(
        &bootstrap,
        &KafkaSecurity::scram("http", "http-secret"),
        &events,
    )
    .await;
    assert!(denied(forged_event.clone()), "{forged_event:?}");
    let forged_result = produce(
        &bootstrap,
        &KafkaSecurity::scram("projector", "projector-secret"),
        &results,
    )
    .await;
    assert!(denied(forged_result.clone()), "{forged_result:?}");
    let analyst_write = produce(
        &bootstrap,
        &KafkaSecurity::scram("analyst", "analyst-secret"),
        &event_store::TopicSet::new(&prefix).commands,
    )
    .await;
    assert!(denied(analyst_write.clone()), "{analyst_write:?}");

    // The analysts' principal reads the log: the event of the command is there.
    let analyst = KafkaSecurity::scram("analyst", "analyst-secret");
    let bootstrap_ = bootstrap.clone();
    let read = tokio::task::spawn_blocking(move || metadata(&bootstrap_, &analyst))
        .await
        .expect("join");
    assert!(read.is_ok(), "{read:?}");

    http.stop().await;
    processors.stop().await;
    drop(broker);
}
