//! Readiness of command-api: Kafka reachable (HTTP role), and the processor role serving
//! every partition assigned to it. `/healthz` and `/metrics` come with it from `telemetry`.

use serde_json::{Map, Value, json};
use telemetry::operations::Readiness;

use super::AppState;

/// Ready when Kafka answers (HTTP role) and the processor role has its partitions.
pub(super) async fn readiness(state: AppState) -> Readiness {
    let kafka = match state.bus.clone() {
        Some(bus) => tokio::task::spawn_blocking(move || bus.kafka_reachable())
            .await
            .unwrap_or(false),
        None => true,
    };
    let processor = state
        .processor
        .as_ref()
        .map(|p| (p.is_ready(), p.partitions(), p.unserved()));
    let ready = kafka && processor.as_ref().is_none_or(|(ready, ..)| *ready);
    let mut details = Map::new();
    details.insert("kafka".to_owned(), Value::Bool(kafka));
    details.insert(
        "processor".to_owned(),
        processor.map_or(Value::Null, |(ready, partitions, unserved)| {
            json!({ "ready": ready, "partitions": partitions, "unserved": unserved })
        }),
    );
    Readiness { ready, details }
}
