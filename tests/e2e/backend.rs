//! Which store this run of the suite exercises. The suite is the same for
//! both: `cargo test --test e2e` runs it on SQLite,
//! `IMGSHARE_TEST_BACKEND=postgres cargo test --test e2e` on PostgreSQL.

use crate::support::postgres_selected;

#[test]
fn report_backend_under_test() {
    if postgres_selected() {
        println!("e2e suite backend: PostgreSQL");
        return;
    }
    println!("e2e suite backend: SQLite");
    if std::env::var_os("IMGSHARE_TEST_POSTGRES_URL").is_none() {
        eprintln!(
            "\n!!! PostgreSQL: e2e suite SKIPPED on PostgreSQL (set IMGSHARE_TEST_POSTGRES_URL and \
             IMGSHARE_TEST_BACKEND=postgres to run it) !!!\n"
        );
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must test PostgreSQL: IMGSHARE_TEST_POSTGRES_URL is missing"
        );
    }
}
