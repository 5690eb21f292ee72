//! The database URLs' passwords and the token secret never appear in `--help`, nor in what the binary prints
//! when it cannot connect.

const BINARY: &str = env!("CARGO_BIN_EXE_query-api");
const SECRETS: [&str; 3] = [
    "ORDERLOG_QUERY_DATABASE_URL",
    "ORDERLOG_QUERY_NOTIFY_DATABASE_URL",
    "ORDERLOG_AUTH_HS256_SECRET",
];

#[test]
fn help_and_a_failed_start_never_print_the_database_passwords() {
    let help = testkit::assert_secret_hidden(
        BINARY,
        &["--help"],
        &SECRETS,
        std::time::Duration::from_secs(10),
    );
    assert!(help.contains("ORDERLOG_QUERY_DATABASE_URL"), "{help}");
    let failed = testkit::assert_secret_hidden(
        BINARY,
        &["--listen", "127.0.0.1:0"],
        &SECRETS,
        std::time::Duration::from_secs(10),
    );
    assert!(!failed.contains("unexpected argument"), "{failed}");
    assert!(
        !failed.contains("no authentication is configured"),
        "{failed}"
    );
}
