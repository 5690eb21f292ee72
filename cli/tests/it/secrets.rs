//! `orderlog` never prints the database URL's password: not in `--help`, not when it
//! cannot connect.

const BINARY: &str = env!("CARGO_BIN_EXE_orderlog");

#[test]
fn help_and_a_failed_verify_never_print_the_database_password() {
    let help = testkit::assert_secret_hidden(
        BINARY,
        &["verify", "--help"],
        &["ORDERLOG_DATABASE_URL", "ORDERLOG_KAFKA_SASL_PASSWORD"],
        std::time::Duration::from_secs(10),
    );
    assert!(help.contains("ORDERLOG_DATABASE_URL"), "{help}");
    let failed = testkit::assert_secret_hidden(
        BINARY,
        &["verify", "--bootstrap", "127.0.0.1:1"],
        &["ORDERLOG_DATABASE_URL", "ORDERLOG_KAFKA_SASL_PASSWORD"],
        std::time::Duration::from_secs(40),
    );
    assert!(
        failed.contains("PostgreSQL"),
        "it says what it could not reach: {failed}"
    );
}
