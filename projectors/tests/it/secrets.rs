//! The database URL's password never appears in `--help`, nor in what the binary prints
//! when it cannot connect.

const BINARY: &str = env!("CARGO_BIN_EXE_projectors");

#[test]
fn help_and_a_failed_start_never_print_the_database_password() {
    let help = testkit::assert_secret_hidden(
        BINARY,
        &["--help"],
        &["ORDERLOG_DATABASE_URL", "ORDERLOG_KAFKA_SASL_PASSWORD"],
        std::time::Duration::from_secs(10),
    );
    assert!(help.contains("ORDERLOG_DATABASE_URL"), "{help}");
    let failed = testkit::assert_secret_hidden(
        BINARY,
        &["--kafka-bootstrap", "127.0.0.1:1"],
        &["ORDERLOG_DATABASE_URL", "ORDERLOG_KAFKA_SASL_PASSWORD"],
        std::time::Duration::from_secs(40),
    );
    assert!(failed.contains("error"), "it says why it stopped: {failed}");
}
