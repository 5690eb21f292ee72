use projectors::db;

use crate::support::fresh_database;

#[tokio::test]
async fn migrations_apply_to_a_fresh_database_and_are_idempotent() {
    let url = fresh_database().await;
    let pool = db::connect(&url, 2).await.expect("connect");
    db::migrate(&pool).await.expect("first migration");
    db::migrate(&pool)
        .await
        .expect("second run changes nothing");

    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pool)
        .await
        .expect("migrations table");
    assert_eq!(applied, db::MIGRATOR.iter().count() as i64);

    sqlx::query("INSERT INTO projection_offsets (projection, topic, partition, next_offset) VALUES ('orders', 'e', 0, 5)")
        .execute(&pool)
        .await
        .expect("offsets table accepts a row");
    let rejected = sqlx::query("INSERT INTO projection_offsets (projection, topic, partition, next_offset) VALUES ('orders', 'e', 1, -1)")
        .execute(&pool)
        .await;
    assert!(
        rejected.is_err(),
        "a negative offset must be refused by the schema"
    );
}
