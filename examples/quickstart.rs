//! The scenario junctiondb was born from: users in groups through a
//! `membership` table with an invite reason and a join date, and a
//! symmetrical `friends` relation. Run with
//! `cargo run --release --example quickstart`.

use std::sync::{Mutex, PoisonError};

use junctiondb::{row, Aggregate, Arg, Database, Error, Key, M2mAction, OnDelete, Schema, Type, View};

fn main() -> Result<(), junctiondb::Error> {
    let schema = Schema::builder()
        .table("group", |t| {
            t.column("name", Type::Text).unique();
            t.column("size", Type::Int).default(0);
        })
        .table("user", |t| {
            t.column("username", Type::Text).unique();
            t.many_to_many("groups", "group").through("membership").related_name("members");
        })
        .table("membership", |t| {
            t.foreign_key("user", "user").on_delete(OnDelete::Cascade);
            t.foreign_key("group", "group").on_delete(OnDelete::Cascade);
            t.column("invite_reason", Type::Text).nullable();
            t.column("joined", Type::Int).default(2020);
        })
        .table("person", |t| {
            t.column("name", Type::Text);
            t.many_to_many("friends", "self");
        })
        .build()?;
    let db = Database::new(schema);

    // Django's `m2m_changed`: a group takes at most three members, whichever
    // end the members are added from (a group's `members` manager announces
    // with `reverse` set).
    let groups = db.schema().accessor("user", "groups").expect("declared above");
    db.on_m2m_changed(groups, |e, tx| {
        let (M2mAction::PreAdd, Some(ids)) = (e.action, e.pk_set) else { return Ok(()) };
        let view: &View = tx;
        let members = |group: Key| view.related(group, "members").map(|m| m.count());
        let full = if e.reverse {
            members(e.instance)? + ids.len() > 3
        } else {
            ids.iter().map(|&g| members(Key::new(e.model, g))).any(|n| n.is_ok_and(|n| n >= 3))
        };
        if full {
            return Err(Error::vetoed("a group takes at most three members"));
        }
        Ok(())
    })?;
    // A hook may also write, inside the call's transaction (and undone
    // with it): each group keeps its member count in `size`. A group's
    // change names the group; a user's names the groups (a removed id may
    // name none), and for a `clear`, they are read at `PreClear`.
    let leaving = Mutex::new(Vec::new());
    db.on_m2m_changed(groups, move |e, tx| {
        let mut leaving = leaving.lock().unwrap_or_else(PoisonError::into_inner);
        let touched: Vec<Key> = match (e.action, e.pk_set) {
            (M2mAction::PreClear, _) if !e.reverse => {
                *leaving = tx.related(e.instance, "groups")?.keys().collect();
                return Ok(());
            }
            (M2mAction::PostClear, _) if !e.reverse => std::mem::take(&mut *leaving),
            (M2mAction::PostAdd | M2mAction::PostRemove | M2mAction::PostClear, _) if e.reverse => vec![e.instance],
            (M2mAction::PostAdd | M2mAction::PostRemove, Some(ids)) => {
                ids.iter().filter_map(|&g| tx.get(Key::new(e.model, g)).map(|r| r.key())).collect()
            }
            _ => return Ok(()),
        };
        for group in touched {
            let size = tx.related(group, "members")?.count() as i64;
            tx.update(group, row! { "size" => size })?;
        }
        Ok(())
    })?;

    let (rock, jazz) = db.write(|tx| {
        let jim = tx.insert("user", row! { "username" => "jim" })?;
        let ann = tx.insert("user", row! { "username" => "ann" })?;
        let bob = tx.insert("user", row! { "username" => "bob" })?;
        let rock = tx.insert("group", row! { "name" => "rock" })?;
        let jazz = tx.insert("group", row! { "name" => "jazz" })?;
        tx.related(jim, "groups")?
            .add_with([rock], row! { "invite_reason" => "needed a drummer", "joined" => 2021 })?;
        tx.related(rock, "members")?.add([ann, bob])?;
        tx.related(ann, "groups")?.add([jazz])?;
        Ok::<_, junctiondb::Error>((rock, jazz))
    })?;

    // Rock is full: the hook refuses a fourth member, and the write that
    // asked rolls back, Cat's insert included.
    let refused = db.write(|tx| {
        let cat = tx.insert("user", row! { "username" => "cat" })?;
        tx.related(cat, "groups")?.add([rock])
    });
    if let Err(e) = refused {
        println!("cat joins rock: {e}");
    }
    println!("users: {}", db.read(|tx| tx.count("user"))?);

    // Dan wants rock and jazz together, or neither: a nested block (a
    // savepoint) undoes his jazz membership when rock refuses him, and the
    // transaction goes on with Dan himself.
    db.write(|tx| {
        let dan = tx.insert("user", row! { "username" => "dan" })?;
        let both = tx.atomic(|tx| {
            tx.related(dan, "groups")?.add([jazz])?;
            tx.related(dan, "groups")?.add([rock])
        });
        if let Err(e) = both {
            println!("dan joins jazz and rock: {e}; dan stays, in {} group(s)", tx.related(dan, "groups")?.count());
        }
        Ok::<_, Error>(())
    })?;

    db.read(|tx| {
        let members: Vec<String> =
            tx.related(rock, "members")?.rows().filter_map(|r| r.text("username").map(str::to_owned)).collect();
        println!("rock members: {members:?} (size {:?})", tx.get(rock).and_then(|g| g.int("size")));
        println!("jazz has {} member(s)", tx.related(jazz, "members")?.count());
        println!("memberships: {}", tx.count("membership")?);
        for m in tx.scan("membership")? {
            println!(
                "  user {} in group {}: {:?} since {}",
                m.int("user_id").unwrap_or(0),
                m.int("group_id").unwrap_or(0),
                m.text("invite_reason"),
                m.int("joined").unwrap_or(0)
            );
        }
        Ok::<_, junctiondb::Error>(())
    })?;

    // set(): rock keeps ann (same membership row) and loses jim and bob.
    db.write(|tx| {
        let ann = tx.find_by("user", "username", "ann")?[0].key();
        tx.related(rock, "members")?.set([ann])?;
        Ok::<_, junctiondb::Error>(())
    })?;
    db.read(|tx| {
        println!(
            "after set([ann]): rock members {:?} (size {:?}), memberships {}",
            tx.related(rock, "members")?.ids().collect::<Vec<_>>(),
            tx.get(rock).and_then(|g| g.int("size")),
            tx.count("membership")?
        );
        Ok::<_, junctiondb::Error>(())
    })?;

    // Friends are symmetrical: one add, both see each other.
    db.write(|tx| {
        let a = tx.insert("person", row! { "name" => "Alice" })?;
        let b = tx.insert("person", row! { "name" => "Bea" })?;
        let c = tx.insert("person", row! { "name" => "Cy" })?;
        tx.related(a, "friends")?.add([b, c])?;
        println!("Bea's friends: {:?}", tx.related(b, "friends")?.ids().collect::<Vec<_>>());
        println!("friend rows stored (mirrored): {}", tx.count("person_friends")?);
        Ok::<_, junctiondb::Error>(())
    })?;

    // Deleting a group cascades to its memberships.
    let deleted = db.write(|tx| tx.delete(rock))?;
    println!("deleting rock removed: {:?}", deleted.iter().collect::<Vec<_>>());
    db.read(|tx| {
        println!("memberships left: {}", tx.count("membership")?);
        tx.verify().expect("invariants hold");
        Ok::<_, junctiondb::Error>(())
    })?;

    // Queries across relations (docs/queries.md). A new "rock" first: the
    // old one was deleted above.
    db.write(|tx| {
        let jim = tx.find_by("user", "username", "jim")?[0].key();
        let bob = tx.find_by("user", "username", "bob")?[0].key();
        let rock = tx.insert("group", row! { "name" => "rock" })?;
        tx.related(jim, "groups")?
            .add_with([rock], row! { "invite_reason" => "needed a drummer", "joined" => 2021 })?;
        tx.related(bob, "groups")?.add_with([rock], row! { "joined" => 2023 })?;
        Ok::<_, junctiondb::Error>(())
    })?;
    db.read(|tx| {
        let usernames = |q: junctiondb::Query<'_>| -> Vec<String> {
            q.rows().iter().filter_map(|r| r.text("username").map(str::to_owned)).collect()
        };
        // 1. Usernames of the members of the group named rock.
        let rock = tx.query("user")?.filter("groups__name", "rock")?.order_by(&["username"])?;
        println!("members of rock: {:?}", usernames(rock.clone()));
        println!("  plan: {}", rock.explain().lines().next().unwrap_or_default());
        // 2. Joined after 2020 with an invite reason: both conditions on the
        //    same membership row (one filter call).
        let recent = tx.query("user")?.filter_all([
            ("membership__joined__gt", Arg::from(2020)),
            ("membership__invite_reason__isnull", Arg::from(false)),
        ])?;
        println!("joined after 2020 with an invite reason: {:?}", usernames(recent));
        // 3. Friends and friends of friends: the distinct people within
        //    two hops.
        let bea = tx.query("person")?.filter("name", "Bea")?.first().map(|r| r.key()).expect("Bea exists");
        let friends = tx.schema().accessor("person", "friends").expect("declared above");
        let near: Vec<&str> =
            tx.within_hops(bea, friends, 2)?.into_iter().filter_map(|k| tx.get(k)?.text("name")).collect();
        println!("Bea's friends and friends of friends: {near:?}");
        // 4. Friends of friends only: the distinct ends of two-step walks
        //    (a friend counts only if another friend of Bea's reaches it).
        let fof: Vec<&str> =
            tx.walk_ends(bea, friends, 2)?.into_iter().filter_map(|k| tx.get(k)?.text("name")).collect();
        println!("Bea's friends of friends: {fof:?}");
        // 5. One query for every group: built once and rebound to each
        //    name (a prepared statement), its usernames read in place.
        let mut members = tx.query("user")?.filter("groups__name", "")?;
        for group in ["rock", "jazz"] {
            members.rebind(0, group)?;
            let mut names = Vec::new();
            members.for_each_value("username", |v| names.extend(v.as_text()))?;
            println!("{group}: {names:?}");
        }
        // 6. Aggregates over a query (Django's `aggregate`): rock's first
        //    and mean join year.
        let joins = tx.query("membership")?.filter("group__name", "rock")?;
        let (first, mean) = (joins.aggregate("joined", Aggregate::Min)?, joins.aggregate("joined", Aggregate::Avg)?);
        println!("rock's memberships: first joined {first}, mean year {mean}");
        Ok::<_, junctiondb::Error>(())
    })?;
    Ok(())
}
