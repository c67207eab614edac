//! One row with 100,000 links: `contains`, a duplicate `add` and `remove`
//! stay correct at that degree (their cost is measured flat by
//! `cargo bench --bench bench -- degree`).

mod common;

use common::verify;
use junctiondb::{row, Database, Error, Key, Schema};

#[test]
fn hub_with_100k_links() {
    const N: usize = 100_000;
    let schema = Schema::builder()
        .table("group", |_| {})
        .table("user", |t| {
            t.many_to_many("groups", "group");
        })
        .build()
        .unwrap();
    let db = Database::new(schema);
    let groups_acc = db.schema().accessor("user", "groups").unwrap();
    let members_acc = db.schema().accessor("group", "user_set").unwrap();
    let (hub, users) = db
        .write(|tx| {
            let hub = tx.insert("group", row! {})?;
            let users: Vec<Key> = (0..N).map(|_| tx.insert("user", row! {})).collect::<Result<_, _>>()?;
            let mut m = tx.related_at(hub, members_acc)?;
            assert_eq!(m.add(&users)?, N);
            Ok::<_, Error>((hub, users))
        })
        .unwrap();
    db.write(|tx| {
        assert_eq!(tx.related_at(hub, members_acc)?.count(), N);
        for &u in users.iter().step_by(9_973) {
            assert!(tx.related_at(hub, members_acc)?.contains(u));
            assert!(tx.related_at(u, groups_acc)?.contains(hub));
            assert_eq!(tx.related_at(u, groups_acc)?.add([hub])?, 0, "duplicate add is refused");
        }
        assert_eq!(tx.related_at(hub, members_acc)?.count(), N);
        // Remove from the hub's side and from the member's side.
        for (i, &u) in users.iter().enumerate().step_by(1_000) {
            let removed = if i % 2 == 0 {
                tx.related_at(hub, members_acc)?.remove([u])?
            } else {
                tx.related_at(u, groups_acc)?.remove([hub])?
            };
            assert_eq!(removed, 1);
            assert!(!tx.related_at(hub, members_acc)?.contains(u));
        }
        assert_eq!(tx.related_at(hub, members_acc)?.count(), N - N / 1_000);
        verify(tx);
        // Deleting a member costs its own degree, and unlinks it from the hub.
        tx.delete(users[1])?;
        assert_eq!(tx.related_at(hub, members_acc)?.count(), N - N / 1_000 - 1);
        let d = tx.delete(hub)?;
        assert_eq!(d.count("user_groups"), N - N / 1_000 - 1);
        verify(tx);
        Ok::<_, Error>(())
    })
    .unwrap();
}
