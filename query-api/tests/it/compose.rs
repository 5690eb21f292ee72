//! docker-compose.yml matches the binaries: every orderlog variable a service is given is a
//! setting of that binary, each service listens on the port it publishes and health-checks,
//! Prometheus (in compose) scrapes each service where it listens, and the Kafka image is the
//! version the local stack runs.

use std::collections::HashMap;

use serde_yaml_ng::Value;

fn compose() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../compose/docker-compose.yml"
    ))
    .expect("compose file");
    serde_yaml_ng::from_str(&text).expect("valid YAML")
}

fn port_of(address: &str) -> &str {
    address.rsplit(':').next().expect("a port")
}

#[test]
fn compose_services_ports_and_environment_match_the_binaries() {
    let compose = compose();
    let services = compose["services"].as_mapping().expect("services");
    let settings: HashMap<_, _> = testkit::platform::service_settings().into_iter().collect();
    let listen = [
        ("command-api", "ORDERLOG_COMMAND_API_LISTEN"),
        ("projectors", "ORDERLOG_PROJECTORS_LISTEN"),
        ("query-api", "ORDERLOG_QUERY_LISTEN"),
    ];
    for (name, listen_var) in listen {
        let service = &services[name];
        assert_eq!(
            service["command"][0].as_str(),
            Some(name),
            "{name} runs its binary"
        );
        let known = &settings[name];
        let environment = service["environment"]
            .as_mapping()
            .unwrap_or_else(|| panic!("{name}: environment"));
        for (key, _) in environment {
            let key = key.as_str().expect("a variable name");
            if key.starts_with("ORDERLOG_") {
                assert!(
                    known.iter().any(|k| k == key),
                    "{name} is given {key}, which it does not read"
                );
            }
        }
        let address = environment
            .get(listen_var)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{name} sets {listen_var}"));
        let port = port_of(address);
        let published = service["ports"][0].as_str().expect("a published port");
        assert!(
            published.ends_with(&format!(":{port}:{port}")),
            "{name}: {published} vs {address}"
        );
        let health = service["healthcheck"]["test"][1]
            .as_str()
            .expect("a health check");
        assert!(
            health.contains(&format!(":{port}/readyz")),
            "{name}: {health}"
        );
    }

    // Prometheus in compose scrapes each service on its port.
    let prometheus: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../compose/prometheus/prometheus.docker.yml"
        ))
        .expect("prometheus config"),
    )
    .expect("YAML");
    let targets: Vec<String> = prometheus["scrape_configs"]
        .as_sequence()
        .expect("scrape configs")
        .iter()
        .flat_map(|job| {
            job["static_configs"][0]["targets"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    for (name, listen_var) in listen {
        let port = port_of(
            services[name]["environment"][listen_var]
                .as_str()
                .expect("listen"),
        );
        assert!(
            targets.contains(&format!("{name}:{port}")),
            "{name}:{port} in {targets:?}"
        );
    }

    // The extra processors are processors of the same command-api.
    let processor = &services["processor"];
    assert_eq!(processor["command"][0].as_str(), Some("command-api"));
    assert_eq!(
        processor["environment"]["ORDERLOG_ROLE"].as_str(),
        Some("processor")
    );

    // The balancer's config is the one in compose/haproxy, and its backends are the
    // services on their listening ports, health-checked on /readyz.
    let balancer = &services["loadbalancer"];
    assert!(
        balancer["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("haproxy:")),
        "the official image"
    );
    assert!(
        balancer["volumes"][0]
            .as_str()
            .is_some_and(|v| v.starts_with("./haproxy/haproxy.cfg:")),
        "{:?}",
        balancer["volumes"]
    );
    let haproxy = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../compose/haproxy/haproxy.cfg"
    ))
    .expect("haproxy.cfg");
    for (name, listen_var) in [
        ("command-api", "ORDERLOG_COMMAND_API_LISTEN"),
        ("query-api", "ORDERLOG_QUERY_LISTEN"),
    ] {
        let port = port_of(
            services[name]["environment"][listen_var]
                .as_str()
                .expect("listen"),
        );
        assert!(
            haproxy
                .lines()
                .any(|l| l.trim().starts_with("server-template")
                    && l.trim().ends_with(&format!(" {name}:{port}"))),
            "haproxy.cfg balances {name}:{port}"
        );
    }
    assert_eq!(haproxy.matches("option httpchk GET /readyz").count(), 2);

    // The Kafka image is the local stack's version.
    let lib = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../compose/local/lib.sh"
    ))
    .expect("lib.sh");
    // KAFKA_VERSION="${KAFKA_VERSION:-4.3.1}"
    let version = lib
        .lines()
        .find(|l| l.starts_with("KAFKA_VERSION="))
        .and_then(|l| l.split(":-").nth(1))
        .and_then(|v| v.split('}').next())
        .expect("KAFKA_VERSION in lib.sh")
        .to_owned();
    let image = services["kafka"]["image"].as_str().expect("kafka image");
    assert!(
        image.ends_with(&version),
        "{image} vs the local stack's {version}"
    );
}
