//! Bulk preload of a SQLite data dir: N images and M memberships written
//! straight into the store file in large transactions (not N HTTP calls).
//! The schema comes from the server's own migrations.
//!
//! usage: preload <data-dir> <images> <members-per-image>
//! Images are owned by `owner-<i % 1000>`; image 0 is owned by `project-a`.
//! Image i's members are `proj-<(i*7 + k) % 100000>`, k < members-per-image.

use std::time::Instant;

use rusqlite::params;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("data dir"));
    let images: u64 = args.next().expect("images").parse().unwrap();
    let per_image: u64 = args.next().expect("members per image").parse().unwrap();

    // Create and migrate the store exactly as the server does.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use imgshare_server::store::Store;
        let store = imgshare_server::store::sqlite::SqliteStore::open(&dir).expect("open store");
        store.shutdown().await;
    });

    let started = Instant::now();
    let conn = rusqlite::Connection::open(dir.join("imgshare.sqlite3")).unwrap();
    // Bulk load: durability comes from the final checkpoint, not per commit.
    conn.execute_batch("PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;")
        .unwrap();
    let base_ms: i64 = 1_700_000_000_000;
    let batch = 50_000u64;
    let mut done = 0u64;
    while done < images {
        let tx = conn.unchecked_transaction().unwrap();
        {
            let mut img = tx
                .prepare(
                    "INSERT INTO images (id, name, status, visibility, owner, protected, os_hidden, \
                     disk_format, container_format, min_disk, min_ram, tags, properties, created_at, updated_at) \
                     VALUES (?1, ?2, 'queued', 'shared', ?3, 0, 0, 'raw', 'bare', 0, 0, '[]', '{}', ?4, ?4)",
                )
                .unwrap();
            let mut mem = tx
                .prepare(
                    "INSERT INTO image_members \
                     (image_id, member_id, status, created_at, updated_at, image_created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?4, ?4)",
                )
                .unwrap();
            for i in done..(done + batch).min(images) {
                let id = uuid::Uuid::from_u128(
                    0x5eed_0000_0000_4000_8000_0000_0000_0000u128 | i as u128,
                )
                .to_string();
                let owner = if i == 0 {
                    "project-a".to_string()
                } else {
                    format!("owner-{}", i % 1000)
                };
                let t = base_ms + i as i64;
                img.execute(params![id, format!("image-{i}"), owner, t])
                    .unwrap();
                for k in 0..per_image {
                    let member = format!("proj-{}", (i * 7 + k) % 100_000);
                    let status = ["pending", "accepted", "rejected"][(k % 3) as usize];
                    mem.execute(params![id, member, status, t]).unwrap();
                }
            }
        }
        tx.commit().unwrap();
        done = (done + batch).min(images);
        eprintln!(
            "preload: {done}/{images} images ({:.0}s)",
            started.elapsed().as_secs_f64()
        );
    }
    conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")
        .unwrap();
    println!(
        "preloaded {images} images and {} memberships in {:.1}s",
        images * per_image,
        started.elapsed().as_secs_f64()
    );
}
