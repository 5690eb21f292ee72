//! The SDL checked in under schemas/graphql/ is the schema the code serves.

const CHECKED_IN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../schemas/graphql/query-api.graphql"
);

#[test]
fn the_checked_in_sdl_is_the_served_schema() {
    let sdl = query_api::schema::sdl();
    if std::env::var_os("ORDERLOG_BLESS").is_some() {
        std::fs::write(CHECKED_IN, &sdl).expect("write the SDL");
    }
    let checked_in = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
    assert!(
        checked_in == sdl,
        "schemas/graphql/query-api.graphql is stale: run `ORDERLOG_BLESS=1 cargo test -p query-api contract` and commit it"
    );
}
