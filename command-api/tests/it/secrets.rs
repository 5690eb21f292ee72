//! The token secret never appears in `--help`, nor in what the binary prints when it
//! cannot start.

const BINARY: &str = env!("CARGO_BIN_EXE_command-api");
const SECRETS: [&str; 2] = ["ORDERLOG_AUTH_HS256_SECRET", "ORDERLOG_KAFKA_SASL_PASSWORD"];

#[test]
fn help_and_a_failed_start_never_print_the_token_secret() {
    let help = testkit::assert_secret_hidden(
        BINARY,
        &["--help"],
        &SECRETS,
        std::time::Duration::from_secs(10),
    );
    assert!(help.contains("ORDERLOG_AUTH_HS256_SECRET"), "{help}");
    // With the secret set the service gets past its auth settings and fails on Kafka.
    let failed = testkit::assert_secret_hidden(
        BINARY,
        &[
            "--listen",
            "127.0.0.1:0",
            "--kafka-bootstrap",
            "127.0.0.1:1",
        ],
        &SECRETS,
        std::time::Duration::from_secs(10),
    );
    assert!(
        !failed.contains("no authentication is configured"),
        "{failed}"
    );
}
