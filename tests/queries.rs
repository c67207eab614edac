//! Queries across relations: every lookup on every column type, `Q`
//! compositions, Django's multi-valued rules, ordering and paging, every
//! error message, `explain`, the traversal helpers and `choices`.

mod common;

use junctiondb::{row, Arg, Database, Error, Key, OnDelete, Query, ReadTxn, Schema, Type, Value, ValueRef, Q};

fn schema() -> Schema {
    Schema::builder()
        .table("city", |t| {
            t.column("name", Type::Text).indexed();
        })
        .table("group", |t| {
            t.column("name", Type::Text).unique();
            t.column("rank", Type::Int).nullable();
        })
        .table("tag", |t| {
            t.column("label", Type::Text).unique();
        })
        .table("user", |t| {
            t.column("username", Type::Text).unique();
            t.column("age", Type::Int).nullable();
            t.column("score", Type::Float).nullable();
            t.column("active", Type::Bool);
            t.column("avatar", Type::Bytes).nullable();
            t.foreign_key("city", "city").nullable().on_delete(OnDelete::SetNull);
            t.many_to_many("groups", "group").through("membership").related_name("members");
            t.many_to_many("tags", "tag").limit_choices_to("label__startswith", "a");
            t.many_to_many("secret", "tag").related_name("hidden+");
        })
        .table("membership", |t| {
            t.foreign_key("user", "user");
            t.foreign_key("group", "group");
            t.column("invite_reason", Type::Text).nullable();
            t.column("joined", Type::Int);
        })
        .table("person", |t| {
            t.column("name", Type::Text);
            t.many_to_many("friends", "self");
            t.many_to_many("follows", "person").related_name("followers");
        })
        .table("category", |t| {
            t.column("name", Type::Text);
            t.foreign_key("parent", "self").nullable().related_name("children");
        })
        .build()
        .expect("schema builds")
}

struct Fixture {
    db: Database,
    k: std::collections::HashMap<&'static str, Key>,
}

impl Fixture {
    fn key(&self, name: &str) -> Key {
        self.k[name]
    }

    /// A second membership row of `user` in `group` (joined 2024).
    fn add_membership(&self, user: &str, group: &str) {
        self.db
            .write(|tx| {
                tx.insert("membership", row! { "user" => self.key(user), "group" => self.key(group), "joined" => 2024 })
            })
            .unwrap();
    }
}

fn fixture() -> Fixture {
    let db = Database::new(schema());
    let mut k = std::collections::HashMap::new();
    db.write(|tx| {
        let paris = tx.insert("city", row! { "name" => "Paris" })?;
        let london = tx.insert("city", row! { "name" => "London" })?;
        let users = [
            ("jim", Some(30), Some(1.5), true, Some(vec![1u8, 2, 3]), Some(paris)),
            ("ann", Some(25), None, false, None, Some(london)),
            ("bob", None, Some(-2.0), true, Some(vec![0xff]), None),
            ("Zoe", Some(41), Some(3.25), false, Some(vec![]), Some(paris)),
        ];
        for (name, age, score, active, avatar, city) in users {
            let key = tx.insert(
                "user",
                row! { "username" => name, "age" => age, "score" => score, "active" => active,
                "avatar" => avatar, "city" => city.map(|c: Key| c.id()) },
            )?;
            k.insert(name, key);
        }
        for (name, rank) in [("rock", Some(1)), ("jazz", Some(2)), ("folk", None), ("pop", Some(1))] {
            k.insert(name, tx.insert("group", row! { "name" => name, "rank" => rank })?);
        }
        let m = [
            ("jim", "rock", Some("needed a drummer"), 2021),
            ("ann", "rock", None, 2019),
            ("ann", "jazz", Some("likes sax"), 2022),
            ("bob", "rock", Some("Drummer too"), 2020),
            ("bob", "folk", None, 2023),
        ];
        for (u, g, reason, joined) in m {
            tx.insert(
                "membership",
                row! { "user" => k[u], "group" => k[g], "invite_reason" => reason, "joined" => joined },
            )?;
        }
        for label in ["alpha", "beta", "apex"] {
            k.insert(label, tx.insert("tag", row! { "label" => label })?);
        }
        tx.related(k["jim"], "tags")?.add([k["alpha"], k["beta"]])?;
        tx.related(k["ann"], "tags")?.add([k["alpha"]])?;
        tx.related(k["bob"], "secret")?.add([k["beta"]])?;
        for name in ["a", "b", "c", "d", "e", "f"] {
            k.insert(name, tx.insert("person", row! { "name" => name })?);
        }
        for (x, y) in [("a", "b"), ("a", "c"), ("b", "d"), ("d", "e")] {
            tx.related(k[x], "friends")?.add([k[y]])?;
        }
        for (x, y) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
            tx.related(k[x], "follows")?.add([k[y]])?;
        }
        let root = tx.insert("category", row! { "name" => "root" })?;
        let c1 = tx.insert("category", row! { "name" => "c1", "parent" => root })?;
        tx.insert("category", row! { "name" => "c2", "parent" => root })?;
        tx.insert("category", row! { "name" => "c11", "parent" => c1 })?;
        k.insert("root", root);
        k.insert("c1", c1);
        k.insert("paris", paris);
        k.insert("london", london);
        Ok::<_, Error>(())
    })
    .expect("fixture loads");
    Fixture { db, k }
}

/// Sorted usernames of a query's results (repeats kept).
fn names(q: &Query<'_>) -> Vec<String> {
    let mut v: Vec<String> = q.rows().iter().map(|r| r.text("username").unwrap_or("?").to_owned()).collect();
    v.sort();
    v
}

fn users(tx: &ReadTxn<'_>, path: &str, value: impl Into<junctiondb::Arg>) -> Vec<String> {
    names(&tx.query("user").unwrap().filter(path, value).unwrap())
}

fn s(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|x| (*x).to_owned()).collect();
    v.sort();
    v
}

#[test]
fn text_lookups() {
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    assert_eq!(users(&tx, "username", "jim"), s(&["jim"]));
    assert_eq!(users(&tx, "username__exact", "JIM"), s(&[]));
    assert_eq!(users(&tx, "username__iexact", "JIM"), s(&["jim"]));
    assert_eq!(users(&tx, "username__contains", "o"), s(&["bob", "Zoe"]));
    assert_eq!(users(&tx, "username__contains", "z"), s(&[]));
    assert_eq!(users(&tx, "username__icontains", "Z"), s(&["Zoe"]));
    assert_eq!(users(&tx, "username__startswith", "z"), s(&[]));
    assert_eq!(users(&tx, "username__istartswith", "z"), s(&["Zoe"]));
    assert_eq!(users(&tx, "username__endswith", "n"), s(&["ann"]));
    assert_eq!(users(&tx, "username__iendswith", "OE"), s(&["Zoe"]));
    // Byte order: uppercase before lowercase.
    assert_eq!(users(&tx, "username__gt", "bob"), s(&["jim"]));
    assert_eq!(users(&tx, "username__gte", "bob"), s(&["bob", "jim"]));
    assert_eq!(users(&tx, "username__lt", "ann"), s(&["Zoe"]));
    assert_eq!(users(&tx, "username__lte", "ann"), s(&["ann", "Zoe"]));
    assert_eq!(users(&tx, "username__in", ["ann", "bob", "nobody"]), s(&["ann", "bob"]));
    assert_eq!(users(&tx, "username__in", Vec::<&str>::new()), s(&[]));
    assert_eq!(users(&tx, "username__range", ["ann", "bob"]), s(&["ann", "bob"]));
    assert_eq!(users(&tx, "username__isnull", false).len(), 4);
    assert_eq!(users(&tx, "username__isnull", true), s(&[]));
    // Case-insensitive lookups fold Unicode.
    assert_eq!(users(&tx, "username__icontains", "ZOE"), s(&["Zoe"]));
}

#[test]
fn int_float_bool_bytes_lookups() {
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    assert_eq!(users(&tx, "age", 30), s(&["jim"]));
    assert_eq!(users(&tx, "age__gt", 30), s(&["Zoe"]));
    assert_eq!(users(&tx, "age__gte", 30), s(&["jim", "Zoe"]));
    assert_eq!(users(&tx, "age__lt", 30), s(&["ann"]));
    assert_eq!(users(&tx, "age__lte", 30), s(&["ann", "jim"]));
    assert_eq!(users(&tx, "age__in", [25, 41, 99]), s(&["ann", "Zoe"]));
    assert_eq!(users(&tx, "age__range", [25, 30]), s(&["ann", "jim"]));
    assert_eq!(users(&tx, "age__isnull", true), s(&["bob"]));
    assert_eq!(users(&tx, "age", None::<i64>), s(&["bob"]), "exact NULL means isnull");
    assert_eq!(users(&tx, "age__isnull", false), s(&["ann", "jim", "Zoe"]));
    assert_eq!(users(&tx, "id", f.key("ann")), s(&["ann"]));
    assert_eq!(users(&tx, "id__in", [f.key("ann").id(), f.key("bob").id()]), s(&["ann", "bob"]));

    assert_eq!(users(&tx, "score", 1.5), s(&["jim"]));
    assert_eq!(users(&tx, "score", -0.0), s(&[]));
    assert_eq!(users(&tx, "score__gt", 0.0), s(&["jim", "Zoe"]));
    assert_eq!(users(&tx, "score__gte", 1.5), s(&["jim", "Zoe"]));
    assert_eq!(users(&tx, "score__lt", 1.5), s(&["bob"]));
    assert_eq!(users(&tx, "score__lte", 1.5), s(&["bob", "jim"]));
    assert_eq!(users(&tx, "score__in", [1.5, 3.25]), s(&["jim", "Zoe"]));
    assert_eq!(users(&tx, "score__range", [-5.0, 2.0]), s(&["bob", "jim"]));
    assert_eq!(users(&tx, "score__isnull", true), s(&["ann"]));

    assert_eq!(users(&tx, "active", true), s(&["bob", "jim"]));
    assert_eq!(users(&tx, "active", false), s(&["ann", "Zoe"]));
    assert_eq!(users(&tx, "active__in", [true, false]).len(), 4);
    assert_eq!(users(&tx, "active__gt", false), s(&["bob", "jim"]));
    assert_eq!(users(&tx, "active__isnull", true), s(&[]));

    assert_eq!(users(&tx, "avatar", vec![1u8, 2, 3].as_slice()), s(&["jim"]));
    assert_eq!(users(&tx, "avatar__contains", [2u8, 3].as_slice()), s(&["jim"]));
    assert_eq!(users(&tx, "avatar__startswith", [1u8].as_slice()), s(&["jim"]));
    assert_eq!(users(&tx, "avatar__endswith", [0xffu8].as_slice()), s(&["bob"]));
    assert_eq!(users(&tx, "avatar__contains", [].as_slice() as &[u8]), s(&["bob", "jim", "Zoe"]));
    assert_eq!(users(&tx, "avatar__gt", [1u8, 2].as_slice()), s(&["bob", "jim"]));
    assert_eq!(users(&tx, "avatar__lt", [1u8].as_slice()), s(&["Zoe"]));
    assert_eq!(users(&tx, "avatar__isnull", true), s(&["ann"]));
    // An owned `Vec<u8>` is a bytes value, as `&[u8]` is; a `Vec` of
    // numbers is a list.
    assert_eq!(users(&tx, "avatar", vec![1u8, 2, 3]), s(&["jim"]));
    assert_eq!(users(&tx, "avatar__in", vec![vec![1u8, 2, 3], vec![9u8]]), s(&["jim"]));
    assert_eq!(users(&tx, "age__in", vec![25, 41]), s(&["ann", "Zoe"]));
}

#[test]
fn foreign_key_paths() {
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    assert_eq!(users(&tx, "city", f.key("paris")), s(&["jim", "Zoe"]));
    assert_eq!(users(&tx, "city", f.key("paris").id()), s(&["jim", "Zoe"]));
    assert_eq!(users(&tx, "city__id", f.key("paris").id()), s(&["jim", "Zoe"]));
    assert_eq!(users(&tx, "city_id", f.key("london").id()), s(&["ann"]));
    assert_eq!(users(&tx, "city__name", "London"), s(&["ann"]));
    assert_eq!(users(&tx, "city__name__startswith", "P"), s(&["jim", "Zoe"]));
    assert_eq!(users(&tx, "city__isnull", true), s(&["bob"]));
    assert_eq!(users(&tx, "city__in", [f.key("paris"), f.key("london")]).len(), 3);
    // Reverse foreign key: cities by their users.
    let q = tx.query("city").unwrap().filter("user__username", "ann").unwrap();
    assert_eq!(q.ids(), vec![f.key("london").id()]);
    // The default reverse query name is the table name; `user_set` is the accessor, not a path.
    assert!(tx.query("city").unwrap().filter("user_set__username", "ann").is_err());
    // Self foreign key both ways.
    let q = tx.query("category").unwrap().filter("parent__name", "root").unwrap();
    assert_eq!(q.count(), 2);
    let q = tx.query("category").unwrap().filter("children__name", "c11").unwrap();
    assert_eq!(q.ids(), vec![f.key("c1").id()]);
    let q = tx.query("category").unwrap().filter("parent__parent__name", "root").unwrap();
    assert_eq!(q.values_list(&["name"]).unwrap(), vec![vec![Value::from("c11")]]);
}

#[test]
fn many_to_many_paths() {
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    assert_eq!(users(&tx, "groups__name", "jazz"), s(&["ann"]));
    assert_eq!(users(&tx, "groups", f.key("rock")), s(&["ann", "bob", "jim"]));
    assert_eq!(users(&tx, "groups__id", f.key("jazz").id()), s(&["ann"]));
    assert_eq!(users(&tx, "groups__in", [f.key("jazz"), f.key("folk")]), s(&["ann", "bob"]));
    assert_eq!(users(&tx, "groups__rank__isnull", true), s(&["bob", "Zoe"]), "folk has no rank; Zoe has no group");
    assert_eq!(users(&tx, "membership__invite_reason__icontains", "drummer"), s(&["bob", "jim"]));
    assert_eq!(users(&tx, "membership__joined__gt", 2020), s(&["ann", "bob", "jim"]));
    assert_eq!(users(&tx, "membership__group__name", "folk"), s(&["bob"]));
    assert_eq!(users(&tx, "tags__label", "alpha"), s(&["ann", "jim"]));
    assert_eq!(users(&tx, "groups__members__username", "jim"), s(&["ann", "bob", "jim"]));
    // Reverse: groups by members, through-table columns from the group side.
    let q = tx.query("group").unwrap().filter("members__username", "ann").unwrap();
    let mut g: Vec<i64> = q.ids();
    g.sort_unstable();
    assert_eq!(g, vec![f.key("rock").id(), f.key("jazz").id()]);
    let q = tx.query("group").unwrap().filter("membership__invite_reason__isnull", false).unwrap().distinct();
    assert_eq!(q.count(), 2);
    // The auto-created reverse query name is the source table's name.
    let q = tx.query("tag").unwrap().filter("user__username", "jim").unwrap();
    assert_eq!(q.count(), 2);
    // Symmetrical friends: both ends see each other; follows is directed.
    let q = tx.query("person").unwrap().filter("friends__name", "a").unwrap();
    assert_eq!(q.values_list(&["name"]).unwrap().len(), 2);
    let q = tx.query("person").unwrap().filter("followers__name", "c").unwrap();
    let mut n: Vec<Value> = q.values_list(&["name"]).unwrap().into_iter().flatten().collect();
    n.sort_by_key(|v| v.as_text().map(str::to_owned));
    assert_eq!(n, vec![Value::from("a"), Value::from("d")]);
    // The auto-created through table is a real table too.
    let q = tx.query("user_tags").unwrap().filter("user__username", "jim").unwrap();
    assert_eq!(q.count(), 2);
    let q = tx.query("user_tags").unwrap().filter("tag", f.key("alpha")).unwrap();
    assert_eq!(q.count(), 2);
    // Its rows' columns, flat or in lists, from rows it does not store.
    for column in ["id", "user", "tag", "user__username"] {
        let lists: Vec<Value> = q.values_list(&[column]).unwrap().into_iter().flatten().collect();
        assert_eq!(q.values_list_flat(column).unwrap(), lists, "{column}");
        assert_eq!(owned(q.values_list_flat_ref(column).unwrap()), lists, "{column}");
        assert_eq!(lists.len(), 2);
    }
    assert_eq!(tx.query("person_follows").unwrap().filter("from_person__name", "c").unwrap().count(), 2);
}

#[test]
fn multi_valued_results_repeat_per_link_row() {
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    let q = tx.query("user").unwrap().filter("groups__name__in", ["rock", "jazz"]).unwrap();
    assert_eq!(names(&q), s(&["ann", "ann", "bob", "jim"]));
    assert_eq!(q.count(), 4);
    assert_eq!(q.clone().distinct().count(), 3);
    assert_eq!(names(&q.distinct()), s(&["ann", "bob", "jim"]));
}

/// `filter(a, b)` in one call needs one related row satisfying both;
/// `filter(a).filter(b)` lets each match its own row.
#[test]
fn one_filter_call_vs_chained_calls() {
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    let one = tx
        .query("user")
        .unwrap()
        .filter_all([("groups__name", "rock".into()), ("membership__joined__gt", junctiondb::Arg::from(2020))])
        .unwrap();
    assert_eq!(names(&one), s(&["jim"]));
    let chained = tx
        .query("user")
        .unwrap()
        .filter("groups__name", "rock")
        .unwrap()
        .filter("membership__joined__gt", 2020)
        .unwrap();
    // ann: rock (2019) and jazz (2022); bob: rock and folk (2023).
    assert_eq!(names(&chained), s(&["ann", "bob", "jim"]));
    // Chained calls multiply: bob is in rock once and joined after 2020 once.
    let chained = tx
        .query("user")
        .unwrap()
        .filter("groups__rank__isnull", false)
        .unwrap()
        .filter("groups__rank__gte", 1)
        .unwrap();
    // ann has two ranked groups: 2 x 2 combinations.
    assert_eq!(names(&chained), s(&["ann", "ann", "ann", "ann", "bob", "jim"]));
}

#[test]
fn walks_establish_their_anchor() {
    let f = fixture();
    // A second membership of ann in rock: two link rows to walk.
    f.add_membership("ann", "rock");
    let tx = f.db.begin_read().unwrap();
    let q = tx.query("user").unwrap().filter("groups__name", "rock").unwrap();
    let p = q.explain();
    assert!(p.starts_with("probe unique index group.name = \"rock\", walk group -> membership"), "{p}");
    assert!(p.ends_with("\nfilter groups__name = \"rock\" (established by the access path)"), "{p}");
    // One result per link row walked: ann twice, with nothing rechecked.
    assert_eq!(names(&q), s(&["ann", "ann", "bob", "jim"]));
    assert_eq!(q.count(), 4);
    assert_eq!(q.clone().distinct().count(), 3);
    assert_eq!(names(&q.clone().distinct()), s(&["ann", "bob", "jim"]));
    assert_eq!(q.clone().order_by(&["username"]).unwrap().offset(1).limit(2).count(), 2);
    assert_eq!(q.first().map(|r| r.key()), Some(f.key("jim")));
    assert!(q.exists());

    // Same call, other conditions: checked on the membership walked, not on
    // any membership (the same-row rule). ann's 2019 and 2024 rows differ.
    let one = tx
        .query("user")
        .unwrap()
        .filter_all([("groups__name", "rock".into()), ("membership__joined__gt", Arg::from(2020))])
        .unwrap();
    let p = one.explain();
    assert!(
        p.contains("groups__name = \"rock\" established by the access path; the rest checked per row, on its binding"),
        "{p}"
    );
    assert_eq!(names(&one), s(&["ann", "jim"]));
    // The same condition where it cannot anchor (under OR) scans, and agrees.
    let scanned = tx
        .query("user")
        .unwrap()
        .filter_q(Q::any([Q::new("groups__name", "rock")]) & Q::new("membership__joined__gt", 2020))
        .unwrap();
    assert!(scanned.explain().starts_with("scan user"), "{}", scanned.explain());
    assert_eq!(names(&scanned), names(&one));

    // A chained call is checked per candidate and multiplies: ann (2 rock
    // rows) has 2 memberships after 2020 (jazz 2022, rock 2024).
    let chained = tx
        .query("user")
        .unwrap()
        .filter("groups__name", "rock")
        .unwrap()
        .filter("membership__joined__gt", 2020)
        .unwrap();
    let p = chained.explain();
    assert!(p.ends_with("(established by the access path)\nfilter membership__joined__gt = 2020"), "{p}");
    assert_eq!(names(&chained), s(&["ann", "ann", "ann", "ann", "bob", "jim"]));
    // An exclude removes walked rows without repeating any.
    let q = tx.query("user").unwrap().filter("groups__name", "rock").unwrap().exclude("groups__name", "jazz").unwrap();
    assert_eq!(names(&q), s(&["bob", "jim"]));
    // An `in` anchor: one walk per value, a user in both groups twice.
    let q = tx.query("user").unwrap().filter("groups__name__in", ["rock", "folk"]).unwrap();
    assert!(q.explain().contains("(established by the access path)"), "{}", q.explain());
    assert_eq!(names(&q), s(&["ann", "ann", "bob", "bob", "jim"]));
}

#[test]
fn exclude_and_isnull_over_relations() {
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    let q = tx.query("user").unwrap().exclude("groups", f.key("rock")).unwrap();
    assert_eq!(names(&q), s(&["Zoe"]), "rows with no links at all are kept");
    let q = tx.query("user").unwrap().exclude("groups__name", "jazz").unwrap();
    assert_eq!(names(&q), s(&["bob", "jim", "Zoe"]));
    assert_eq!(users(&tx, "groups__isnull", true), s(&["Zoe"]));
    assert_eq!(users(&tx, "groups__isnull", false), s(&["ann", "ann", "bob", "bob", "jim"]));
    let q = tx.query("user").unwrap().exclude("groups__isnull", true).unwrap();
    assert_eq!(names(&q), s(&["ann", "bob", "jim"]), "exclude never repeats a row");
    let q = tx.query("group").unwrap().filter("members__isnull", true).unwrap();
    assert_eq!(q.values_list(&["name"]).unwrap(), vec![vec![Value::from("pop")]]);
    // exclude with several conditions is the complement of the same filter.
    let q = tx
        .query("user")
        .unwrap()
        .exclude_q(Q::new("groups__name", "rock") & Q::new("membership__joined__gt", 2020))
        .unwrap();
    assert_eq!(names(&q), s(&["ann", "bob", "Zoe"]));
    // tags: Zoe and bob have none.
    assert_eq!(users(&tx, "tags__isnull", true), s(&["bob", "Zoe"]));
    assert_eq!(users(&tx, "tags", None::<i64>), s(&["bob", "Zoe"]));
}

#[test]
fn q_composition() {
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    let q = |q: Q| names(&tx.query("user").unwrap().filter_q(q).unwrap());
    assert_eq!(q(Q::new("age__lt", 26) | Q::new("age__gt", 40)), s(&["ann", "Zoe"]));
    assert_eq!(q(Q::new("active", true) & Q::new("age__isnull", false)), s(&["jim"]));
    assert_eq!(q(!Q::new("active", true)), s(&["ann", "Zoe"]));
    assert_eq!(q(!(Q::new("age__lt", 26) | Q::new("age__gt", 40))), s(&["bob", "jim"]));
    assert_eq!(q(Q::all([])).len(), 4);
    assert_eq!(q(Q::any([])), s(&[]));
    // NOT over a relation: no related row matches (users in no rock group).
    assert_eq!(q(!Q::new("groups__name", "rock")), s(&["Zoe"]));
    // OR across a relation is a left join: one result per link row, and
    // rows without links still count once.
    assert_eq!(q(Q::new("groups__name", "jazz") | Q::new("username", "Zoe")), s(&["ann", "Zoe"]));
    assert_eq!(q(Q::new("groups__name", "folk") | Q::new("username", "jim")), s(&["bob", "jim"]));
    assert_eq!(q(Q::new("groups__name", "jazz") | Q::new("username", "bob")), s(&["ann", "bob", "bob"]));
    // OR inside one related row: rock members who joined before 2020 or whose reason mentions drum.
    assert_eq!(
        q(Q::new("groups__name", "rock")
            & (Q::new("membership__joined__lt", 2020) | Q::new("membership__invite_reason__icontains", "drum"))),
        s(&["ann", "bob", "jim"])
    );
    // Two different relations in one OR: combinations of both joins.
    assert_eq!(q(Q::new("groups__name", "jazz") | Q::new("tags__label", "beta")), s(&["ann", "jim"]));
    assert_eq!(
        q(Q::new("groups__name", "rock") | Q::new("tags__label", "alpha")),
        s(&["ann", "ann", "bob", "jim", "jim"])
    );
    assert_eq!((Q::new("a", 1) & Q::new("b", 2) & !Q::new("c", 3)).to_string(), "(a = 1 AND b = 2 AND NOT c = 3)");
}

#[test]
fn ordering_nulls_and_ties() {
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    let order = |keys: &[&str]| -> Vec<String> {
        tx.query("user")
            .unwrap()
            .order_by(keys)
            .unwrap()
            .rows()
            .iter()
            .map(|r| r.text("username").unwrap().to_owned())
            .collect()
    };
    // NULL first ascending, last descending.
    assert_eq!(order(&["age"]), ["bob", "ann", "jim", "Zoe"]);
    assert_eq!(order(&["-age"]), ["Zoe", "jim", "ann", "bob"]);
    assert_eq!(order(&["score"]), ["ann", "bob", "jim", "Zoe"]);
    // Ties broken by ascending id (insertion order here), even descending.
    assert_eq!(order(&["active"]), ["ann", "Zoe", "jim", "bob"]);
    assert_eq!(order(&["-active"]), ["jim", "bob", "ann", "Zoe"]);
    assert_eq!(order(&["-active", "-username"]), ["jim", "bob", "ann", "Zoe"]);
    assert_eq!(order(&["active", "-age"]), ["Zoe", "ann", "jim", "bob"]);
    // Across a foreign key; bob has no city (NULL first).
    assert_eq!(order(&["city__name", "username"]), ["bob", "ann", "Zoe", "jim"]);
    assert_eq!(order(&["-city__name", "username"]), ["Zoe", "jim", "ann", "bob"]);
    // Text is ordered by bytes.
    assert_eq!(order(&["username"]), ["Zoe", "ann", "bob", "jim"]);
    // Ordering applies to repeated rows too.
    let q = tx.query("user").unwrap().filter("groups__rank__gte", 1).unwrap().order_by(&["-username"]).unwrap();
    let got: Vec<String> = q.rows().iter().map(|r| r.text("username").unwrap().to_owned()).collect();
    assert_eq!(got, ["jim", "bob", "ann", "ann"]);
}

#[test]
fn paging() {
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    let q = tx.query("user").unwrap().order_by(&["username"]).unwrap();
    let page = |o: usize, l: usize| -> Vec<String> {
        q.clone().offset(o).limit(l).rows().iter().map(|r| r.text("username").unwrap().to_owned()).collect()
    };
    assert_eq!(page(0, 2), ["Zoe", "ann"]);
    assert_eq!(page(2, 2), ["bob", "jim"]);
    assert_eq!(page(3, 10), ["jim"]);
    assert!(page(9, 2).is_empty());
    assert_eq!(q.clone().offset(1).limit(2).count(), 2);
    assert_eq!(q.clone().offset(3).count(), 1);
    assert_eq!(q.clone().limit(0).count(), 0);
    assert_eq!(q.first().unwrap().text("username"), Some("Zoe"));
    assert_eq!(q.clone().offset(1).first().unwrap().text("username"), Some("ann"));
    // Unordered first is by id.
    let q = tx.query("user").unwrap().filter("age__isnull", false).unwrap();
    assert_eq!(q.first().unwrap().key(), f.key("jim"));
    assert!(q.exists());
    assert!(!tx.query("user").unwrap().filter("age", 1).unwrap().exists());
    assert!(tx.query("user").unwrap().filter("age", 1).unwrap().first().is_none());
    // Paging counts repeats.
    let q = tx.query("user").unwrap().filter("groups__isnull", false).unwrap();
    assert_eq!(q.count(), 5);
    assert_eq!(q.clone().limit(3).count(), 3);
    assert_eq!(q.clone().limit(3).ids().len(), 3);
}

/// `get` is Django's: the one result, none, or `MultipleFound` with the
/// count (a repeated row counts as another result, and paging comes
/// first).
#[test]
fn get_answers_the_one_result_none_or_how_many() {
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    let users = || tx.query("user").unwrap();
    let one = users().filter("username", "ann").unwrap().get().unwrap();
    assert_eq!(one.map(|r| r.key()), Some(f.key("ann")));
    assert!(users().filter("username", "nobody").unwrap().get().unwrap().is_none());
    let several = users().filter("age__gte", 25).unwrap().get();
    assert!(matches!(&several, Err(Error::MultipleFound { table, count: 3 }) if table == "user"), "{several:?}");
    // ann is a member of two groups: two results until `distinct`.
    let members = || users().filter("groups__name__in", ["rock", "jazz"]).unwrap().filter("username", "ann").unwrap();
    assert!(matches!(members().get(), Err(Error::MultipleFound { count: 2, .. })));
    assert_eq!(members().distinct().get().unwrap().map(|r| r.key()), Some(f.key("ann")));
    // Paging first: the second user by name.
    let second = users().order_by(&["username"]).unwrap().offset(1).limit(1).get().unwrap();
    assert_eq!(second.and_then(|r| r.text("username")), Some("ann"));
    assert!(users().offset(4).get().unwrap().is_none());
    // An ordering without an offset changes nothing: one result, or how
    // many there are.
    let by_name = || users().order_by(&["-username"]).unwrap();
    let one = by_name().filter("username", "ann").unwrap().get().unwrap();
    assert_eq!(one.map(|r| r.key()), Some(f.key("ann")));
    let several = by_name().filter("age__gte", 25).unwrap().get();
    assert!(matches!(several, Err(Error::MultipleFound { count: 3, .. })), "{several:?}");
    // A limit of one picks the first by the ordering.
    let picked = |order: &str| {
        let q = users().order_by(&[order]).unwrap().filter("age__gte", 25).unwrap();
        let all: Vec<String> = q.rows().iter().map(|r| r.text("username").unwrap().to_owned()).collect();
        let got = q.limit(1).get().unwrap().and_then(|r| r.text("username")).map(str::to_owned);
        (all, got)
    };
    for order in ["username", "-username"] {
        let (all, got) = picked(order);
        assert_eq!(got.as_ref(), all.first(), "{order}");
    }
    assert_ne!(picked("username").1, picked("-username").1);
    assert!(by_name().filter("username", "nobody").unwrap().get().unwrap().is_none());
}

#[test]
fn terminals() {
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    let q = tx.query("user").unwrap().filter("city__name", "Paris").unwrap().order_by(&["username"]).unwrap();
    assert_eq!(q.ids(), vec![f.key("Zoe").id(), f.key("jim").id()]);
    assert_eq!(q.keys(), vec![f.key("Zoe"), f.key("jim")]);
    let rows = q.values(&["username", "city__name", "age"]).unwrap();
    assert_eq!(rows[0], row! { "username" => "Zoe", "city__name" => "Paris", "age" => 41 });
    assert_eq!(
        q.values_list(&["username", "city"]).unwrap(),
        vec![
            vec![Value::from("Zoe"), Value::Int(f.key("paris").id())],
            vec![Value::from("jim"), Value::Int(f.key("paris").id())]
        ]
    );
    assert_eq!(q.values_list_flat("username").unwrap(), [Value::from("Zoe"), Value::from("jim")]);
    // No columns: every column, foreign keys by column name, as Django's
    // `values()`.
    let all = q.values::<&str>(&[]).unwrap();
    let zoe = all[0].clone();
    let names: Vec<&str> = zoe.iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["id", "username", "age", "score", "active", "avatar", "city_id"]);
    assert_eq!(zoe.get("city_id"), Some(&Value::Int(f.key("paris").id())));
    assert_eq!(zoe.get("username"), Some(&Value::from("Zoe")));
    let lists = q.values_list::<&str>(&[]).unwrap();
    assert_eq!(lists[1][..2], [Value::Int(f.key("jim").id()), Value::from("jim")]);
    assert_eq!(lists[1].len(), 7);
    assert_eq!(q.values_list_flat("city__name").unwrap(), [Value::from("Paris"), Value::from("Paris")]);
    assert_eq!(q.clone().offset(1).values_list_flat("age").unwrap(), [Value::Int(30)]);
    // In declaration order, foreign keys among the columns where they
    // were declared, as Django's fields are.
    let schema = Schema::builder()
        .table("city", |t| {
            t.column("name", Type::Text);
        })
        .table("shop", |t| {
            t.foreign_key("owner", "city").related_name("owned");
            t.column("title", Type::Text);
            t.foreign_key("city", "city");
            t.foreign_key("depot", "city").nullable().related_name("depots");
            t.column("size", Type::Int).default(3);
        })
        .build()
        .unwrap();
    let db = Database::new(schema);
    let shop = db
        .write(|tx| {
            let c = tx.insert("city", row! { "name" => "Oslo" })?;
            tx.insert("shop", row! { "owner" => c, "title" => "a", "city" => c })
        })
        .unwrap();
    let rows = db.read(|v| v.query("shop")?.values::<&str>(&[])).unwrap();
    let names: Vec<&str> = rows[0].iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["id", "owner_id", "title", "city_id", "depot_id", "size"]);
    // The schema's columns and a row's `to_row` in the same order.
    let listed: Vec<&str> = db.schema().columns(db.schema().table("shop").unwrap()).map(|(n, _)| n).collect();
    assert_eq!(listed, names);
    let whole = db.read(|v| Ok::<_, Error>(v.get(shop).map(|r| r.to_row()))).unwrap().unwrap();
    assert_eq!(whole, rows[0]);
    let lists = db.read(|v| v.query("shop")?.values_list::<&str>(&[])).unwrap();
    assert_eq!(
        lists,
        [vec![Value::Int(shop.id()), Value::Int(1), Value::from("a"), Value::Int(1), Value::Null, Value::Int(3)]]
    );
    assert!(matches!(q.values_list_flat("nope"), Err(Error::Query { .. })));
    assert!(matches!(q.values_list_flat("groups__name"), Err(Error::Query { .. })), "multi-valued");
    // The borrowed twin: the same values, without copies, the same errors.
    assert_eq!(q.values_list_flat_ref("username").unwrap(), [ValueRef::Text("Zoe"), ValueRef::Text("jim")]);
    assert_eq!(q.values_list_flat_ref("city__name").unwrap(), [ValueRef::Text("Paris"); 2]);
    assert_eq!(q.clone().offset(1).values_list_flat_ref("age").unwrap(), [ValueRef::Int(30)]);
    assert!(matches!(q.values_list_flat_ref("groups__name"), Err(Error::Query { .. })), "multi-valued");
    assert_eq!(q.rows()[1].int("age"), Some(30));
    assert_eq!(q.table(), tx.schema().table("user").unwrap());
}

/// A unique foreign key's reverse side (Django's reverse one-to-one)
/// reaches at most one row, so ordering and projections may cross it, with
/// `NULL` where no row refers; a plain reverse key is still refused.
#[test]
fn ordering_and_values_cross_a_reverse_one_to_one() {
    let schema = Schema::builder()
        .table("user", |t| {
            t.column("username", Type::Text).unique();
        })
        .table("profile", |t| {
            t.foreign_key("user", "user").unique();
            t.column("bio", Type::Text).nullable();
        })
        .table("post", |t| {
            t.foreign_key("author", "user");
        })
        .build()
        .unwrap();
    let db = Database::new(schema);
    let (ann, bob, cy) = db
        .write(|tx| {
            let mut user = |name: &str| tx.insert("user", row! { "username" => name });
            let (ann, bob, cy) = (user("ann")?, user("bob")?, user("cy")?);
            tx.insert("profile", row! { "user" => cy.id(), "bio" => "a" })?;
            tx.insert("profile", row! { "user" => ann.id(), "bio" => "b" })?;
            tx.insert("post", row! { "author" => ann.id() })?;
            Ok::<_, Error>((ann, bob, cy))
        })
        .unwrap();
    let tx = db.begin_read().unwrap();
    let q = tx.query("user").unwrap();
    // NULLs first ascending, as everywhere: bob has no profile.
    assert_eq!(q.clone().order_by(&["profile__bio"]).unwrap().ids(), [bob.id(), cy.id(), ann.id()]);
    assert_eq!(q.clone().order_by(&["-profile__bio"]).unwrap().ids(), [ann.id(), cy.id(), bob.id()]);
    let by_name = q.clone().order_by(&["username"]).unwrap();
    assert_eq!(by_name.values_list_flat("profile__bio").unwrap(), [Value::from("b"), Value::Null, Value::from("a")]);
    let rows = by_name.values(&["username", "profile"]).unwrap();
    assert_eq!(rows[0], row! { "username" => "ann", "profile" => 2 });
    assert_eq!(rows[1], row! { "username" => "bob", "profile" => Value::Null });
    // A filter across it is unchanged.
    let bios = tx.query("user").unwrap().filter("profile__bio", "a").unwrap();
    assert_eq!(bios.ids(), [cy.id()]);
    // `post` is a plain foreign key: its reverse side is multi-valued.
    let e = q.clone().order_by(&["post__id"]).unwrap_err();
    assert!(e.to_string().contains("multi-valued"), "{e}");
    assert!(matches!(q.values_list_flat("post"), Err(Error::Query { .. })));
}

fn query_error(r: Result<Query<'_>, Error>) -> (String, String, String) {
    match r {
        Err(Error::Query { table, path, reason }) => (table, path, reason),
        Err(other) => panic!("expected a query error, got {other}"),
        Ok(q) => panic!("expected a query error, got a query: {}", q.explain()),
    }
}

#[test]
fn error_messages() {
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    let q = || tx.query("user").unwrap();

    let (table, path, reason) = query_error(q().filter("nope", 1));
    assert_eq!((table.as_str(), path.as_str()), ("user", "nope"));
    assert_eq!(
        reason,
        "table \"user\" has no field \"nope\"; choices are: active, age, avatar, city, city_id, groups, id, membership, score, secret, tags, username"
    );
    // The failing step names its own table; hidden reverse names are never listed.
    let (_, _, reason) = query_error(q().filter("tags__nope", 1));
    assert_eq!(reason, "table \"tag\" has no field \"nope\"; choices are: id, label, user");
    let (_, _, reason) = query_error(q().filter("groups__members__nme", 1));
    assert!(reason.starts_with("table \"user\" has no field \"nme\""), "{reason}");
    let (_, _, reason) = query_error(q().filter("username__like", "x"));
    assert_eq!(
        reason,
        "\"like\" is not a lookup for column user.username (Text); lookups are: exact, iexact, contains, icontains, startswith, istartswith, endswith, iendswith, gt, gte, lt, lte, in, range, isnull"
    );
    let (_, _, reason) = query_error(q().filter("username__exact__x", "x"));
    assert_eq!(reason, "the lookup \"exact\" must end the path, but \"x\" follows it");
    let (_, _, reason) = query_error(q().filter("groups____name", "x"));
    assert_eq!(reason, "a path is field names joined by \"__\", with no empty part");
    // A path crossing relations back and forth is fine up to 64 parts; past
    // that it is refused (it would recurse once per relation when run).
    let long = |parts: usize| "groups__members__".repeat((parts - 1) / 2) + "username";
    assert!(q().filter(&long(63), "ann").is_ok());
    let (_, _, reason) = query_error(q().filter(&long(65), "x"));
    assert_eq!(reason, "a path has at most 64 parts");
    let (_, _, reason) = query_error(q().filter(&long(200_001), "x"));
    assert_eq!(reason, "a path has at most 64 parts");
    let (_, _, reason) = query_error(q().filter("age__contains", 3));
    assert_eq!(reason, "the lookup contains applies to Text and Bytes columns, and user.age is Int");
    let (_, _, reason) = query_error(q().filter("avatar__icontains", "x"));
    assert_eq!(reason, "the lookup icontains applies to Text columns, and user.avatar is Bytes");
    let (_, _, reason) = query_error(q().filter("age__in", 3));
    assert_eq!(reason, "the lookup in takes a list");
    let (_, _, reason) = query_error(q().filter("age", [1, 2]));
    assert_eq!(reason, "the lookup exact takes one value, not a list");
    let (_, _, reason) = query_error(q().filter("age__range", [1, 2, 3]));
    assert_eq!(reason, "the lookup range takes two values, not 3");
    let (_, _, reason) = query_error(q().filter("age__isnull", 1));
    assert_eq!(reason, "the lookup isnull takes true or false, not 1");
    let (_, _, reason) = query_error(q().filter("age__gt", None::<i64>));
    assert_eq!(reason, "NULL is only compared with exact or iexact (meaning isnull); use age__isnull");
    let (_, _, reason) = query_error(q().filter("age", f.key("rock")));
    assert_eq!(reason, "a key compares with an id, a foreign key or a relation, and column user.age is none of these");
    let (_, _, reason) = query_error(q().order_by(&["groups__name"]));
    assert!(
        reason.contains("multi-valued; ordering and values follow foreign keys and reverse one-to-one keys only"),
        "{reason}"
    );
    let (_, _, reason) = query_error(q().order_by(&["username__exact"]));
    assert_eq!(reason, "column user.username (Text) has no field \"exact\"; a path here ends at a column");

    // Wrong value type: a clear TypeMismatch naming the column.
    let e = q().filter("age", "old").unwrap_err();
    assert_eq!(e.to_string(), "column user.age holds Int, but \"old\" was given");
    let e = q().filter("groups__name", 3).unwrap_err();
    assert_eq!(e.to_string(), "column group.name holds Text, but 3 was given");
    let e = q().filter("score", 1).unwrap_err();
    assert!(matches!(e, Error::TypeMismatch { .. }));
    // A key of the wrong table.
    let e = q().filter("groups", f.key("jim")).unwrap_err();
    assert_eq!(e.to_string(), "expected a row of table \"group\", but got \"user\" id 1");
    // Unknown table; bad values paths.
    assert!(matches!(tx.query("nope"), Err(Error::UnknownTable { .. })));
    let e = q().values(&["groups"]).unwrap_err();
    assert!(matches!(e, Error::Query { .. }));
    assert!(e.to_string().starts_with("bad query path \"groups\" on table \"user\": "), "{e}");
}

#[test]
fn explain_never_scans_for_unique_equality_or_known_keys() {
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    let plan = |q: Query<'_>| q.explain();
    let p = plan(tx.query("user").unwrap().filter("username", "jim").unwrap());
    assert!(p.starts_with("probe unique index user.username = \"jim\""), "{p}");
    let p = plan(tx.query("user").unwrap().filter("id", f.key("jim")).unwrap());
    assert!(p.starts_with("probe primary key user.id = 1"), "{p}");
    let p = plan(tx.query("user").unwrap().filter("username__in", ["a", "b"]).unwrap());
    assert!(p.starts_with("probe unique index user.username in [\"a\", \"b\"]"), "{p}");
    // A relation to a known key walks back from the key.
    let p = plan(tx.query("user").unwrap().filter("groups", f.key("rock")).unwrap());
    assert!(
        p.starts_with("probe index membership.group_id = 1, walk membership -> user (foreign key membership.user)"),
        "{p}"
    );
    let p = plan(tx.query("user").unwrap().filter("groups__name", "rock").unwrap());
    assert!(p.starts_with("probe unique index group.name = \"rock\", walk group -> membership"), "{p}");
    let p = plan(tx.query("user").unwrap().filter("tags", f.key("alpha")).unwrap());
    assert!(p.starts_with("probe junction user_tags.tag_id"), "{p}");
    let p = plan(tx.query("user").unwrap().filter("city", f.key("paris")).unwrap());
    assert!(p.starts_with("probe index user.city_id"), "{p}");
    let p = plan(tx.query("person").unwrap().filter("friends", f.key("a")).unwrap());
    assert!(p.starts_with("probe junction person_friends.to_person_id"), "{p}");
    for q in [
        tx.query("user").unwrap().filter("username", "jim").unwrap().filter("age__gt", 3).unwrap(),
        tx.query("user").unwrap().filter("age__gt", 3).unwrap().filter("groups", f.key("rock")).unwrap(),
        tx.query("group").unwrap().filter("members", f.key("ann")).unwrap(),
        tx.query("tag").unwrap().filter("user__username", "jim").unwrap(),
        tx.query("category").unwrap().filter("children", f.key("c1")).unwrap(),
    ] {
        let p = q.explain();
        assert!(!p.contains("scan"), "{p}");
        assert!(p.starts_with("probe"), "{p}");
    }
    // The results agree with the plan's.
    assert_eq!(users(&tx, "groups", f.key("rock")), s(&["ann", "bob", "jim"]));
    // Nothing anchored: a scan. Conditions under OR or NOT do not anchor.
    let p = plan(tx.query("user").unwrap().filter("age__gt", 3).unwrap());
    assert!(p.starts_with("scan user (4 rows)"), "{p}");
    let p = plan(tx.query("user").unwrap().filter_q(Q::new("username", "a") | Q::new("age", 1)).unwrap());
    assert!(p.starts_with("scan"), "{p}");
    let p = plan(tx.query("user").unwrap().exclude("username", "a").unwrap());
    assert!(p.starts_with("scan"), "{p}");
    // The rest of the plan.
    let p = plan(
        tx.query("user")
            .unwrap()
            .filter("age__gt", 3)
            .unwrap()
            .exclude("groups", f.key("rock"))
            .unwrap()
            .distinct()
            .order_by(&["-age"])
            .unwrap()
            .offset(1)
            .limit(2),
    );
    assert_eq!(
        p,
        "scan user (4 rows)\nfilter age__gt = 3\nexclude groups = 1\ndistinct\norder by -age, id (nulls first ascending)\noffset 1\nlimit 2"
    );
}

#[test]
fn related_manager_queries() {
    let f = fixture();
    // A duplicate membership row: jim in rock twice.
    f.add_membership("jim", "rock");
    let tx = f.db.begin_read().unwrap();
    let jim_groups = tx.related(f.key("jim"), "groups").unwrap().query();
    assert_eq!(jim_groups.count(), 2, "one row per link row");
    assert_eq!(jim_groups.clone().distinct().count(), 1);
    let p = jim_groups.explain();
    assert!(p.starts_with("related user 1.groups: walk its links"), "{p}");
    // Conditions on the through table read the manager's own link row.
    let q = jim_groups.clone().filter("membership__joined", 2024).unwrap();
    assert_eq!(q.count(), 1);
    let q = jim_groups.clone().filter("membership__invite_reason__isnull", true).unwrap();
    assert_eq!(q.count(), 1);
    // ...and on the relation back to the manager's row.
    let q = jim_groups.clone().filter("members__username", "ann").unwrap();
    assert_eq!(q.count(), 0, "the link row's member is jim");
    let q = jim_groups.clone().exclude("membership__joined__gt", 2022).unwrap();
    assert_eq!(q.count(), 1);
    // A plain query is not pinned: any membership of the group.
    let q =
        tx.query("group").unwrap().filter("members", f.key("jim")).unwrap().filter("members__username", "ann").unwrap();
    assert_eq!(q.count(), 2);

    // rock's members through the reverse accessor.
    let rock = tx.related(f.key("rock"), "members").unwrap().query();
    let q = rock.clone().filter("membership__joined__lt", 2021).unwrap().order_by(&["username"]).unwrap();
    assert_eq!(q.values_list(&["username"]).unwrap(), vec![vec![Value::from("ann")], vec![Value::from("bob")]]);
    // A root condition that finds fewer rows than the manager has links
    // checks each candidate's link instead.
    let q = rock.clone().filter("username", "bob").unwrap();
    assert!(q.explain().starts_with("probe unique index user.username = \"bob\", keep rows linked"), "{}", q.explain());
    assert_eq!(q.ids(), vec![f.key("bob").id()]);
    let q = rock.clone().filter("username", "jim").unwrap();
    assert_eq!(q.count(), 2, "both of jim's rock memberships");
    let q = rock.clone().filter("username", "Zoe").unwrap();
    assert_eq!(q.count(), 0);

    // Auto-created through and foreign key managers.
    let alpha = tx.related(f.key("alpha"), "user_set").unwrap().query();
    assert_eq!(alpha.count(), 2);
    assert_eq!(alpha.clone().filter("username", "ann").unwrap().count(), 1);
    let jim_tags = tx.related(f.key("jim"), "tags").unwrap().query().filter("label__startswith", "b").unwrap();
    assert_eq!(jim_tags.count(), 1);
    let kids = tx.related(f.key("root"), "children").unwrap().query().order_by(&["-name"]).unwrap();
    assert_eq!(kids.values_list(&["name"]).unwrap(), vec![vec![Value::from("c2")], vec![Value::from("c1")]]);
    let kids = tx.related(f.key("root"), "children").unwrap().query().filter("id", f.key("c1")).unwrap();
    assert_eq!(kids.count(), 1);
    let friends = tx.related(f.key("a"), "friends").unwrap().query().filter("friends__name", "d").unwrap();
    assert_eq!(friends.values_list(&["name"]).unwrap(), vec![vec![Value::from("b")]]);
}

#[test]
fn traversal_helpers() {
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    let schema = tx.schema();
    let friends = schema.accessor("person", "friends").unwrap();
    let name = |k: &Key| tx.get(*k).unwrap().text("name").unwrap().to_owned();
    let names = |ks: Vec<Key>| -> Vec<String> { ks.iter().map(name).collect() };
    assert_eq!(names(tx.within_hops(f.key("a"), friends, 1).unwrap()), ["b", "c"]);
    assert_eq!(names(tx.within_hops(f.key("a"), friends, 2).unwrap()), ["b", "c", "d"]);
    assert_eq!(names(tx.within_hops(f.key("a"), friends, 9).unwrap()), ["b", "c", "d", "e"]);
    assert!(tx.within_hops(f.key("a"), friends, 0).unwrap().is_empty());
    assert!(tx.within_hops(f.key("f"), friends, 3).unwrap().is_empty());

    let follows = schema.accessor("person", "follows").unwrap();
    let closure = |k: &str, d: usize| -> Vec<(String, usize)> {
        tx.closure(f.key(k), follows, d).unwrap().iter().map(|(k, d)| (name(k), *d)).collect()
    };
    let own = |v: &[(&str, usize)]| -> Vec<(String, usize)> { v.iter().map(|(n, d)| ((*n).to_owned(), *d)).collect() };
    assert_eq!(closure("a", usize::MAX), own(&[("b", 1), ("c", 2), ("a", 3), ("d", 3)]));
    assert_eq!(closure("a", 2), own(&[("b", 1), ("c", 2)]));
    assert_eq!(closure("d", 5), own(&[]));
    let followers = schema.accessor("person", "followers").unwrap();
    let up: Vec<String> = tx.closure(f.key("d"), followers, 10).unwrap().iter().map(|(k, _)| name(k)).collect();
    assert_eq!(up, ["c", "b", "a"]);

    let children = schema.accessor("category", "children").unwrap();
    let below: Vec<Key> = tx.closure(f.key("root"), children, 10).unwrap().into_iter().map(|(k, _)| k).collect();
    assert_eq!(below.len(), 3);

    let groups = schema.accessor("user", "groups").unwrap();
    let e = tx.within_hops(f.key("jim"), groups, 2).unwrap_err();
    assert_eq!(
        e.to_string(),
        "table \"user\": traversals follow a relation from a table to itself, and this accessor leads to \"group\""
    );
    assert!(matches!(tx.within_hops(f.key("jim"), friends, 2), Err(Error::WrongTable { .. })));
    let gone = Key::new(f.key("a").table(), 999);
    assert!(matches!(tx.closure(gone, friends, 2), Err(Error::NotFound { .. })));
}

#[test]
fn walk_ends_are_the_distinct_rows_exactly_k_steps_away() {
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    let schema = tx.schema();
    let name = |k: &Key| tx.get(*k).unwrap().text("name").unwrap().to_owned();
    let walk = |start: &str, accessor: &str, table: &str, steps: usize| -> Vec<String> {
        let accessor = schema.accessor(table, accessor).unwrap();
        tx.walk_ends(f.key(start), accessor, steps).unwrap().iter().map(name).collect()
    };
    // Friends (symmetrical): a-b, a-c, b-d, d-e.
    assert_eq!(walk("a", "friends", "person", 1), ["b", "c"]);
    assert_eq!(walk("a", "friends", "person", 2), ["d"], "a itself is an end of a-b-a, and excluded");
    assert_eq!(walk("b", "friends", "person", 2), ["c", "e"]);
    assert_eq!(walk("a", "friends", "person", 3), ["b", "c", "e"], "friends again, by a-b-a-b and a-c-a-c");
    assert!(walk("a", "friends", "person", 0).is_empty(), "the walk of no steps ends at the start");
    assert!(walk("f", "friends", "person", 2).is_empty());
    // Follows (directed): a->b, b->c, c->a, c->d; and its reverse.
    assert_eq!(walk("a", "follows", "person", 2), ["c"]);
    assert_eq!(walk("a", "follows", "person", 3), ["d"]);
    assert!(walk("c", "follows", "person", 3).is_empty(), "c-a-b-c ends at the start");
    // Walks of any length: friends' levels from a alternate between
    // {a, d} and {b, c, e} from the second on; follows' repeat every
    // three levels from the first ({b}, {c}, {a, d}), and 2^64 - 1 is a
    // multiple of 3.
    assert_eq!(walk("a", "friends", "person", 1_000), ["d"]);
    assert_eq!(walk("a", "friends", "person", usize::MAX), ["b", "c", "e"]);
    assert_eq!(walk("a", "friends", "person", usize::MAX - 1), ["d"]);
    assert_eq!(walk("a", "follows", "person", 1_001), ["c"]);
    assert_eq!(walk("a", "follows", "person", usize::MAX), ["d"]);
    assert_eq!(walk("a", "follows", "person", usize::MAX - 1), ["c"]);
    assert_eq!(walk("a", "follows", "person", usize::MAX - 2), ["b"]);
    assert!(walk("d", "follows", "person", usize::MAX).is_empty(), "an empty level ends the walk");
    assert_eq!(walk("d", "followers", "person", 2), ["b"]);
    assert!(walk("d", "follows", "person", 1).is_empty());
    // A foreign key's reverse accessor: the grandchildren.
    let children = schema.accessor("category", "children").unwrap();
    let below = tx.closure(f.key("root"), children, 2).unwrap();
    let grandchildren: Vec<Key> = below.iter().filter(|(_, d)| *d == 2).map(|(k, _)| *k).collect();
    assert_eq!(tx.walk_ends(f.key("root"), children, 2).unwrap(), grandchildren);
    // The errors of `within_hops`.
    let groups = schema.accessor("user", "groups").unwrap();
    assert!(matches!(tx.walk_ends(f.key("jim"), groups, 2), Err(Error::Unsupported { .. })));
    let friends = schema.accessor("person", "friends").unwrap();
    assert!(matches!(tx.walk_ends(f.key("jim"), friends, 2), Err(Error::WrongTable { .. })));
    let gone = Key::new(f.key("a").table(), 999);
    assert!(matches!(tx.walk_ends(gone, friends, 2), Err(Error::NotFound { .. })));
}

/// A walk into two directed cycles, of 5 and 7 rows: its levels repeat
/// only every 35, from the first, so the walk finds that period (Brent's
/// detection) and skips whole periods, whatever the number of steps.
#[test]
fn walk_ends_skips_whole_periods_of_levels() {
    let schema = Schema::builder()
        .table("node", |t| {
            t.many_to_many("next", "self").symmetrical(false);
        })
        .build()
        .unwrap();
    let db = Database::new(schema);
    let (start, five, seven) = db
        .write(|tx| {
            let start = tx.insert("node", row! {})?;
            let mut cycle = |n: usize| -> Result<Vec<Key>, Error> {
                let rows = (0..n).map(|_| tx.insert("node", row! {})).collect::<Result<Vec<Key>, Error>>()?;
                for (i, &k) in rows.iter().enumerate() {
                    tx.related(k, "next")?.add([rows[(i + 1) % n]])?;
                }
                Ok(rows)
            };
            let (five, seven) = (cycle(5)?, cycle(7)?);
            tx.related(start, "next")?.add([five[0], seven[0]])?;
            Ok::<_, Error>((start, five, seven))
        })
        .unwrap();
    let tx = db.begin_read().unwrap();
    let next = tx.schema().accessor("node", "next").unwrap();
    let steps = (0..80).chain([1_000, 1_000_003, usize::MAX - 34, usize::MAX - 1, usize::MAX]);
    for k in steps {
        let expected = match k {
            0 => vec![],
            _ => vec![five[(k - 1) % 5], seven[(k - 1) % 7]],
        };
        assert_eq!(tx.walk_ends(start, next, k).unwrap(), expected, "{k} steps");
    }
}

/// `walk_ends`, `within_hops` and `closure` against walks over the rows a
/// manager reads, on seeded random graphs whose levels span several of the
/// traversal's windows, over a many-to-many relation (symmetrical or not)
/// and over a foreign key's reverse accessor (a forest with a cycle), with
/// rows deleted and their slots reused so that ids are no longer slots.
#[test]
fn traversals_agree_with_a_naive_walk_on_random_graphs() {
    use std::collections::{BTreeMap, BTreeSet};
    for (seed, symmetrical) in [(1, true), (2, false), (3, true)] {
        let schema = Schema::builder()
            .table("node", |t| {
                t.many_to_many("links", "self").symmetrical(symmetrical).related_name("linked_by");
                t.foreign_key("parent", "node").nullable().on_delete(OnDelete::SetNull).related_name("children");
            })
            .build()
            .unwrap();
        let db = Database::new(schema);
        let mut rng = common::Rng(seed);
        let keys = db
            .write(|tx| {
                let mut keys: Vec<Key> = Vec::new();
                for _ in 0..300 {
                    let k = tx.insert("node", row! {})?;
                    if !keys.is_empty() && rng.chance(80) {
                        tx.update(k, row! {"parent" => rng.pick(&keys)})?;
                    }
                    keys.push(k);
                }
                // A cycle through the foreign key.
                tx.update(keys[0], row! {"parent" => keys[299]})?;
                for &k in &keys {
                    let targets: Vec<Key> = (0..rng.below(12)).map(|_| rng.pick(&keys)).collect();
                    tx.related(k, "links")?.add(targets)?;
                }
                for &k in keys.iter().skip(1).step_by(7) {
                    tx.delete(k)?;
                }
                // Inserts into freed slots: ids are no longer slots (the
                // first new row's id is out of step, which ends the
                // table's identity mode, so the others reuse freed slots).
                keys.retain(|k| tx.get(*k).is_some());
                for i in 0..40 {
                    let mut row = row! {"parent" => rng.pick(&keys)};
                    if i == 0 {
                        row.set("id", 1_000);
                    }
                    let k = tx.insert("node", row)?;
                    let targets: Vec<Key> = (0..rng.below(12)).map(|_| rng.pick(&keys)).collect();
                    tx.related(k, "links")?.add(targets)?;
                    keys.push(k);
                }
                Ok::<_, Error>(keys)
            })
            .unwrap();
        let tx = db.begin_read().unwrap();
        assert!(keys.iter().any(|k| k.id() > 300), "ids past the slots");
        assert!(common::slots_reused(&tx, "node"), "new rows in freed slots");
        for field in ["links", "linked_by", "children"] {
            // A symmetrical relation has no reverse accessor.
            let Some(accessor) = tx.schema().accessor("node", field) else {
                assert!(symmetrical && field == "linked_by");
                continue;
            };
            let next = |k: Key| -> Vec<Key> { tx.related(k, field).unwrap().keys().collect() };
            for &start in keys.iter().step_by(5) {
                let at = format!("seed {seed}, {field} from {start:?}");
                // Each row's distance: the first level that holds it.
                let (mut level, mut distance) = (BTreeSet::from([start]), BTreeMap::new());
                for steps in 1..=4 {
                    level = level.iter().flat_map(|&k| next(k)).collect();
                    for &k in &level {
                        distance.entry(k).or_insert(steps);
                    }
                    let mut ends: Vec<Key> = tx.walk_ends(start, accessor, steps).unwrap();
                    let count = ends.len();
                    ends.sort();
                    ends.dedup();
                    assert_eq!(ends.len(), count, "{at}: no row twice");
                    let expected: Vec<Key> = level.iter().copied().filter(|&k| k != start).collect();
                    assert_eq!(ends, expected, "{at}: {steps} steps");

                    let near = tx.within_hops(start, accessor, steps).unwrap();
                    let depths: Vec<usize> = near.iter().map(|k| distance[k]).collect();
                    assert!(depths.windows(2).all(|w| w[0] <= w[1]), "{at}: within_hops nearest first");
                    let mut near = near;
                    near.sort();
                    let want: Vec<Key> = distance.keys().copied().filter(|&k| k != start).collect();
                    assert_eq!(near, want, "{at}: within {steps}");

                    let closure = tx.closure(start, accessor, steps).unwrap();
                    assert!(closure.windows(2).all(|w| w[0].1 <= w[1].1), "{at}: closure nearest first");
                    let mut closure: Vec<(Key, usize)> = closure;
                    closure.sort();
                    let want: Vec<(Key, usize)> = distance.iter().map(|(&k, &d)| (k, d)).collect();
                    assert_eq!(closure, want, "{at}: closure to {steps}");
                }
                // Walks of any length: the levels as sets until one repeats
                // an earlier one, `first` levels in, every `period` levels.
                let mut levels = vec![BTreeSet::from([start])];
                let (first, period) = loop {
                    let level: BTreeSet<Key> = levels[levels.len() - 1].iter().flat_map(|&k| next(k)).collect();
                    if let Some(j) = levels.iter().position(|l| *l == level) {
                        break (j, levels.len() - j);
                    }
                    levels.push(level);
                };
                for steps in [5, 9, 16, 33, 100, 1_001, usize::MAX - 2, usize::MAX - 1, usize::MAX] {
                    let at_level = if steps < levels.len() { steps } else { first + (steps - first) % period };
                    let mut ends = tx.walk_ends(start, accessor, steps).unwrap();
                    ends.sort();
                    let expected: Vec<Key> = levels[at_level].iter().copied().filter(|&k| k != start).collect();
                    assert_eq!(ends, expected, "{at}: {steps} steps (levels repeat from {first}, every {period})");
                }
            }
        }
    }
}

#[test]
fn choices_follow_limit_choices_to_and_writes_are_not_checked() {
    let f = fixture();
    {
        let tx = f.db.begin_read().unwrap();
        let q = tx.choices("user", "tags").unwrap().order_by(&["label"]).unwrap();
        assert_eq!(q.values_list(&["label"]).unwrap(), vec![vec![Value::from("alpha")], vec![Value::from("apex")]]);
        assert!(q.explain().contains("filter (each row once) (label__startswith = \"a\")"), "{}", q.explain());
        // No limit: every target row.
        assert_eq!(tx.choices("user", "groups").unwrap().count(), 4);
        assert!(matches!(tx.choices("group", "members"), Err(Error::Unsupported { .. })));
        assert!(matches!(tx.choices("user", "nope"), Err(Error::UnknownAccessor { .. })));
        // The schema's limit is not a condition `rebind` numbers: 0 is the
        // caller's own, and the limit holds whatever it is given.
        let mut one = tx.choices("user", "tags").unwrap().filter("label", "apex").unwrap();
        assert_eq!(one.values_list_flat("label").unwrap(), vec![Value::from("apex")]);
        one.rebind(0, "beta").unwrap();
        assert_eq!(one.count(), 0);
        one.rebind(0, "alpha").unwrap();
        assert_eq!(one.values_list_flat("label").unwrap(), vec![Value::from("alpha")]);
        match one.rebind(1, "beta").unwrap_err() {
            Error::Query { reason, .. } => assert!(reason.contains("has 1 condition, and no condition 1"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
    // Like Django, add() does not check limit_choices_to.
    f.db.write(|tx| tx.related(f.key("Zoe"), "tags")?.add([f.key("beta")])).unwrap();
    let tx = f.db.begin_read().unwrap();
    assert!(tx.related(f.key("Zoe"), "tags").unwrap().contains(f.key("beta")));
}

/// A `limit_choices_to` path is resolved when the choices are asked for,
/// not when the schema is built (Django resolves it at query time too):
/// a bad one builds, and `choices` reports it.
#[test]
fn a_bad_limit_choices_to_path_is_reported_by_choices() {
    let schema = Schema::builder()
        .table("tag", |t| {
            t.column("label", Type::Text);
        })
        .table("note", |t| {
            t.many_to_many("tags", "tag").limit_choices_to("colour", "red");
            t.many_to_many("labels", "tag").limit_choices_to("label__startswith", 3).related_name("+");
        })
        .build()
        .expect("limit_choices_to is not resolved by build");
    let db = Database::new(schema);
    let tx = db.begin_read().unwrap();
    match tx.choices("note", "tags").unwrap_err() {
        Error::Query { path, reason, .. } => assert!(path == "colour" && reason.contains("colour"), "{path}: {reason}"),
        other => panic!("{other:?}"),
    }
    let e = tx.choices("note", "labels").unwrap_err();
    assert!(
        matches!(e, Error::TypeMismatch { ref column, .. } if column == "label"),
        "an integer for a text lookup: {e:?}"
    );
}

#[test]
fn queries_see_a_write_transactions_own_writes() {
    let f = fixture();
    let mut tx = f.db.begin_write().unwrap();
    let eve = tx.insert("user", row! { "username" => "eve", "active" => true }).unwrap();
    tx.related(eve, "groups").unwrap().add_with([f.key("pop")], row! { "joined" => 2025 }).unwrap();
    let q = tx.query("user").unwrap().filter("groups__name", "pop").unwrap();
    assert_eq!(q.keys(), vec![eve]);
    tx.verify().unwrap();
}

/// Items with unique names, tagged through a `db_constraint(false)`
/// relation; `unique_labels` lets a tag be found by its label's index.
fn tagged_items(unique_labels: bool) -> Database {
    let schema = Schema::builder()
        .table("tag", |t| {
            let label = t.column("label", Type::Text);
            if unique_labels {
                label.unique();
            }
        })
        .table("item", |t| {
            t.column("name", Type::Text).unique();
            t.many_to_many("tags", "tag").db_constraint(false);
        })
        .build()
        .unwrap();
    Database::new(schema)
}

/// With `db_constraint(false)` an auto-created through table stores links
/// to ids that do not exist. They are rows of the through table: probes,
/// scans and paths over the relation all see them, so an index plan and a
/// scan give the same answer.
#[test]
fn dangling_links_are_through_rows() {
    let db = tagged_items(false);
    let (a, b) = db
        .write(|tx| {
            let a = tx.insert("item", row! { "name" => "a" })?;
            let b = tx.insert("item", row! { "name" => "b" })?;
            let t = tx.insert("tag", row! { "label" => "x" })?;
            tx.related(a, "tags")?.add([junctiondb::Target::Id(999)])?;
            tx.related(b, "tags")?.add([t])?;
            Ok::<_, Error>((a, b))
        })
        .unwrap();
    let tx = db.begin_read().unwrap();
    let through = || tx.query("item_tags").unwrap();
    assert_eq!(through().count(), 2);
    let q = through().filter("tag_id", 999).unwrap();
    assert!(q.explain().starts_with("probe junction item_tags.tag_id = 999"), "{}", q.explain());
    assert_eq!(q.count(), 1);
    assert_eq!(q.count(), through().filter("tag_id__in", [999, 998]).unwrap().count());
    assert_eq!(through().filter("item__name", "a").unwrap().count(), 1);
    assert_eq!(through().filter("item", a).unwrap().count(), 1);
    assert_eq!(through().filter("tag__label", "x").unwrap().count(), 1);
    // From the item side: a has a link row (to a missing tag).
    let items = |path: &str, v: Arg| tx.query("item").unwrap().filter(path, v).unwrap().keys();
    assert_eq!(items("tags", Arg::from(999)), vec![a]);
    assert_eq!(items("tags__isnull", Arg::from(true)), Vec::<Key>::new());
    assert_eq!(items("tags__label__isnull", Arg::from(true)), vec![a]);
    assert_eq!(items("tags__label", Arg::from("x")), vec![b]);
}

/// An index walk across a many-to-many relation to its far end reads the
/// far ends straight from the row's list, then the dangling link rows
/// (`db_constraint(false)`), whose missing far ends are skipped; a limit
/// stops the walk early. The answer is the one a scan gives.
#[test]
fn index_walks_across_a_relation_read_the_far_ends_from_the_list() {
    let db = tagged_items(true);
    let [a, b, c] = db
        .write(|tx| {
            let x = tx.insert("tag", row! { "label" => "x" })?;
            let y = tx.insert("tag", row! { "label" => "y" })?;
            let [a, b, c] = ["a", "b", "c"].map(|n| tx.insert("item", row! { "name" => n }));
            let (a, b, c) = (a?, b?, c?);
            tx.related(b, "tags")?.add([x, y])?;
            tx.related(c, "tags")?.add([y])?;
            tx.related(a, "tags")?.add([x])?;
            // Dangling rows on both sides of tag x's links.
            tx.related(a, "tags")?.add([junctiondb::Target::Id(999)])?;
            tx.related(x, "item_set")?.add([junctiondb::Target::Id(777)])?;
            Ok::<_, Error>([a, b, c])
        })
        .unwrap();
    let tx = db.begin_read().unwrap();
    tx.verify().unwrap();
    let items = || tx.query("item").unwrap();
    let walked = items().filter("tags__label", "x").unwrap();
    assert!(walked.explain().starts_with("probe unique index tag.label = \"x\", walk tag"), "{}", walked.explain());
    // Tag x's links in list order: b, then a; the row to item 777 names no item.
    assert_eq!(walked.keys(), vec![b, a]);
    assert_eq!(walked.count(), 2);
    assert_eq!(items().filter("tags__label", "x").unwrap().limit(1).keys(), vec![b]);
    assert_eq!(items().filter("tags__label", "y").unwrap().keys(), vec![b, c]);
    // A scan (no index answers `startswith`) agrees, in slot order.
    let scanned = items().filter("tags__label__startswith", "x").unwrap();
    assert!(scanned.explain().starts_with("scan item"), "{}", scanned.explain());
    assert_eq!(scanned.keys(), vec![a, b]);
}

/// `values_list_flat` gathers a column of the results' own table a window
/// of rows at a time, prefetching the next window while it copies one: over
/// several full windows and a partial last one, with freed slots, nulls and
/// a reverse walk's order, it answers as `values_list` does, and
/// `values_list_flat_ref` lends the same values.
#[test]
fn values_list_flat_gathers_across_windows() {
    let db = Database::new(schema());
    db.write(|tx| {
        let rock = tx.insert("group", row! { "name" => "rock" })?;
        let mut users = Vec::new();
        for i in 0..150 {
            let age = if i % 7 == 0 { Value::Null } else { Value::Int(i) };
            // Some names too long to lie in their cells, some avatars.
            let name = if i % 5 == 0 { format!("a user with a long name, number {i}") } else { format!("user-{i}") };
            let avatar = if i % 4 == 0 { Value::Bytes(vec![i as u8; 3]) } else { Value::Null };
            let user = tx.insert(
                "user",
                row! { "username" => name, "age" => age, "active" => i % 2 == 0, "avatar" => avatar },
            )?;
            users.push(user);
        }
        // Freed slots between the rows left, and members in a shuffled order.
        for &user in users.iter().step_by(11) {
            tx.delete(user)?;
        }
        for (i, &user) in users.iter().enumerate().rev() {
            if i % 11 != 0 && i % 3 != 1 {
                tx.insert("membership", row! { "user" => user, "group" => rock, "joined" => 2020 })?;
            }
        }
        Ok::<_, Error>(())
    })
    .unwrap();
    let tx = db.begin_read().unwrap();
    let everyone = tx.query("user").unwrap();
    let members = tx.query("user").unwrap().filter("groups__name", "rock").unwrap();
    for (q, expected_len) in [(everyone, 136), (members, 90)] {
        for column in ["username", "age", "active", "id", "city", "avatar", "city__name"] {
            let lists: Vec<Value> = q.values_list(&[column]).unwrap().into_iter().flatten().collect();
            assert_eq!(lists.len(), expected_len, "{column}");
            assert_eq!(q.values_list_flat(column).unwrap(), lists, "{column}");
            assert_eq!(owned(q.values_list_flat_ref(column).unwrap()), lists, "{column}");
            for (offset, limit) in [(5, 40), (31, 33), (64, 100)] {
                let paged = q.clone().offset(offset).limit(limit);
                let end = (offset + limit).min(lists.len());
                assert_eq!(paged.values_list_flat(column).unwrap(), lists[offset..end], "{column} {offset} {limit}");
                let borrowed = owned(paged.values_list_flat_ref(column).unwrap());
                assert_eq!(borrowed, lists[offset..end], "{column} {offset} {limit}");
            }
        }
    }
}

#[test]
fn the_longest_path_runs_on_rows_without_links() {
    // A row with no links carries an empty binding down the whole path,
    // one level of recursion per relation: at the longest path allowed,
    // that must stay well inside a test thread's stack.
    let schema = Schema::builder()
        .table("person", |t| {
            t.column("name", Type::Text);
            t.many_to_many("friends", "self");
        })
        .build()
        .unwrap();
    let db = Database::new(schema);
    db.write(|tx| tx.insert("person", row! { "name" => "alone" })).unwrap();
    let tx = db.begin_read().unwrap();
    let path = "friends__".repeat(63) + "name";
    let q = tx.query("person").unwrap();
    assert_eq!(q.clone().filter(&path, "x").unwrap().count(), 0);
    assert_eq!(q.clone().exclude(&path, "x").unwrap().ids().len(), 1);
    assert!(q.filter(&("friends__".repeat(64) + "name"), "x").is_err());
}

#[test]
fn distinct_projections_drop_repeated_values_as_select_distinct_does() {
    // Django's `distinct().values_list(...)` is `SELECT DISTINCT` over the
    // selected columns (and the `order_by` ones), so a value shared by
    // several root rows comes once; paging applies after.
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    let users = || tx.query("user").unwrap();
    let cities = users().order_by(&["city__name"]).unwrap();
    assert_eq!(cities.values_list_flat("city__name").unwrap().len(), 4);
    let once = cities.clone().distinct();
    assert_eq!(once.values_list_flat("city__name").unwrap(), [Value::Null, "London".into(), "Paris".into()]);
    assert_eq!(once.clone().limit(2).values_list_flat("city__name").unwrap(), [Value::Null, "London".into()]);
    assert_eq!(once.clone().offset(2).values_list_flat("city__name").unwrap(), [Value::from("Paris")]);
    let rows = once.values(&["city__name"]).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2].get("city__name"), Some(&Value::from("Paris")));
    // Every selected column counts, and so do the ordering keys.
    assert_eq!(users().distinct().values_list(&["city__name", "active"]).unwrap().len(), 4);
    let mut active = users().distinct().values_list(&["active"]).unwrap();
    active.sort_by_key(|v| v[0] == Value::from(true));
    assert_eq!(active, [vec![Value::from(false)], vec![Value::from(true)]]);
    // Without an ordering, paging applies to the distinct values too.
    let two = users().distinct().values_list_flat("active").unwrap();
    assert_eq!(two.len(), 2);
    assert_eq!(users().distinct().limit(1).values_list_flat("active").unwrap(), two[..1]);
    assert_eq!(users().distinct().offset(1).limit(5).values_list_flat("active").unwrap(), two[1..]);
    assert!(users().distinct().offset(2).values_list_flat("active").unwrap().is_empty());
    let by_name = users().order_by(&["username"]).unwrap().distinct();
    assert_eq!(by_name.values_list_flat("active").unwrap().len(), 4, "username is selected too");
    // Repeats from a multi-valued filter go as well.
    let members = users().filter("groups__name__in", ["rock", "jazz"]).unwrap();
    let names = members.values_list_flat("username").unwrap();
    let mut unique = names.clone();
    unique.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    unique.dedup();
    assert!(names.len() > unique.len(), "the fixture has a user in both groups");
    assert_eq!(members.distinct().values_list_flat("username").unwrap().len(), unique.len());
}

#[test]
fn a_write_transactions_manager_queries_its_own_state() {
    // Inside a write, the manager reads and queries what the transaction
    // has written so far, as `View::related` does after commit.
    let f = fixture();
    f.db.write(|tx| {
        let jim = f.key("jim");
        let g = tx.insert("group", row! { "name" => "new", "rank" => 9 })?;
        tx.related(jim, "groups")?.add_with([g], row! { "joined" => 2026 })?;
        let m = tx.related(jim, "groups")?;
        let names = m.query().filter("rank__gte", 9)?.values_list_flat("name")?;
        assert_eq!(names, [Value::from("new")]);
        assert!(m.keys().any(|k| k == g));
        assert_eq!(m.rows().count(), m.count());
        Ok::<_, Error>(())
    })
    .unwrap();
}

#[test]
fn a_related_query_name_is_the_path_and_the_related_name_is_not() {
    // related_query_name names the relation in filter paths from the
    // target, also when the accessor is hidden; related_name does not.
    let schema = Schema::builder()
        .table("tag", |t| {
            t.column("label", Type::Text);
        })
        .table("post", |t| {
            t.column("title", Type::Text);
            t.many_to_many("tags", "tag").related_name("posts").related_query_name("post_q");
            t.many_to_many("hidden_tags", "tag").related_name("+").related_query_name("hidden_q");
        })
        .build()
        .unwrap();
    let db = Database::new(schema);
    db.write(|tx| {
        let t = tx.insert("tag", row! { "label" => "rust" })?;
        let p = tx.insert("post", row! { "title" => "hello" })?;
        tx.related(p, "tags")?.add([t])?;
        tx.related(p, "hidden_tags")?.add([t])?;
        let by = |path: &str| tx.query("tag").and_then(|q| q.filter(path, "hello")).map(|q| q.ids());
        assert_eq!(by("post_q__title")?, [t.id()]);
        assert_eq!(by("hidden_q__title")?, [t.id()], "a hidden accessor keeps its query name");
        assert!(matches!(by("posts__title"), Err(Error::Query { .. })), "the accessor is not a path");
        assert!(matches!(by("post__title"), Err(Error::Query { .. })), "nor is the default once replaced");
        assert_eq!(tx.related(t, "posts")?.count(), 1, "the accessor is the manager's name");
        Ok::<_, Error>(())
    })
    .unwrap();
}

/// The borrowed values of `values_list_flat_ref`, copied out to compare.
fn owned(values: Vec<ValueRef<'_>>) -> Vec<Value> {
    values.iter().map(ValueRef::to_owned).collect()
}

/// Django's `pk` shortcut names the primary key wherever a path goes: a
/// filter, a lookup on it, across a relation (trimmed to the id held, as
/// `rel__id`), an ordering and a projection.
#[test]
fn pk_is_the_primary_key_in_every_path() {
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    let users = || tx.query("user").unwrap();
    let (jim, ann) = (f.key("jim"), f.key("ann"));
    assert_eq!(users().filter("pk", jim.id()).unwrap().keys(), [jim]);
    assert_eq!(users().filter("pk__in", [jim.id(), ann.id()]).unwrap().order_by(&["pk"]).unwrap().keys(), [jim, ann]);
    assert_eq!(users().order_by(&["-pk"]).unwrap().ids(), users().order_by(&["-id"]).unwrap().ids());
    assert_eq!(users().filter("pk__gt", ann.id()).unwrap().count(), 2);
    let in_rock = users().filter("groups__pk", f.key("rock").id()).unwrap().order_by(&["pk"]).unwrap();
    assert_eq!(
        in_rock.ids(),
        users().filter("groups__id", f.key("rock").id()).unwrap().order_by(&["id"]).unwrap().ids()
    );
    assert_eq!(in_rock.count(), 3);
    assert_eq!(users().filter("city__pk", f.key("paris")).unwrap().count(), 2);
    let rows = users().filter("pk", jim.id()).unwrap().values(&["pk", "city__pk"]).unwrap();
    assert_eq!(rows, [row! { "pk" => jim.id(), "city__pk" => f.key("paris").id() }]);
    // `pk` is not a lookup: a column's path cannot go on through it.
    assert!(matches!(users().filter("username__pk", 1), Err(Error::Query { .. })));
}

/// `in` drops the NULLs of its list, which equal nothing (Django removes
/// them); `iexact` with NULL is `isnull`, as `exact` with NULL is.
#[test]
fn null_in_an_in_list_and_iexact_null() {
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    let users = || tx.query("user").unwrap();
    let with_null = users().filter("age__in", Arg::List(vec![30.into(), Value::Null.into()])).unwrap();
    assert_eq!(with_null.keys(), [f.key("jim")]);
    assert_eq!(users().filter("age__in", Arg::List(vec![Value::Null.into()])).unwrap().count(), 0);
    let excluded = users().exclude("age__in", Arg::List(vec![30.into(), Value::Null.into()])).unwrap();
    assert_eq!(excluded.ids(), users().exclude("age__in", [30]).unwrap().ids());
    assert_eq!(users().filter("age__iexact", Value::Null).unwrap().keys(), [f.key("bob")]);
    assert_eq!(users().filter("username__iexact", Value::Null).unwrap().count(), 0);
    // `range` keeps refusing a NULL bound.
    let range = users().filter("age__range", Arg::List(vec![Value::Null.into(), 30.into()]));
    assert!(matches!(range, Err(Error::Query { .. })));
}

/// A condition nests at most 64 levels, and one filter call makes at most
/// 256 joins (distinct multi-valued path prefixes, negated parts
/// included): compiling and counting recurse once per level or per
/// path, so past these they are refused with `Error::Query` rather than
/// risking the stack.
#[test]
fn conditions_are_bounded_in_depth_and_joins() {
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    // A `not` of a one-condition `and` of a `not` ... (`!!q` is `q`).
    let nested =
        |levels: usize| (0..levels).fold(Q::new("name", "a"), |q, i| if i % 2 == 0 { !q } else { Q::all([q]) });
    let deepest = tx.query("person").unwrap().filter_q(nested(64)).unwrap();
    assert_eq!(deepest.count(), 1, "an even number of nots");
    let Err(Error::Query { path, reason, .. }) = tx.query("person").unwrap().filter_q(nested(65)) else {
        panic!("65 levels are refused")
    };
    assert_eq!((path.as_str(), reason.as_str()), ("name", "a condition nests at most 64 levels of and, or and not"));
    let deep_and = (0..70).fold(Q::new("name", "a"), |q, _| Q::all([q]));
    assert!(matches!(tx.query("person").unwrap().exclude_q(deep_and), Err(Error::Query { .. })));
    let q = nested(200_000);
    assert!(matches!(tx.query("person").unwrap().filter_q(q), Err(Error::Query { .. })), "no overflow");

    // Every walk of 8 steps over `friends` and `follows`: 510 distinct
    // prefixes; one of 7 steps: 254, within the limit.
    let walks = |steps: u32| {
        Q::any((0..1u32 << steps).map(|bits| {
            let hops: Vec<&str> = (0..steps).map(|i| if bits >> i & 1 == 1 { "friends" } else { "follows" }).collect();
            Q::new(format!("{}__name", hops.join("__")), "e")
        }))
    };
    // (Compiled, not run: an OR across so many relations enumerates the
    // product of their rows.)
    assert!(tx.query("person").unwrap().filter_q(walks(7)).is_ok());
    let Err(Error::Query { reason, .. }) = tx.query("person").unwrap().filter_q(walks(8)) else {
        panic!("510 joins are refused")
    };
    assert_eq!(reason, "one filter call makes at most 256 joins (one per distinct multi-valued path prefix)");
    // Negated parts count toward the same bound: 254 + 6 joins.
    assert!(matches!(tx.query("person").unwrap().filter_q(walks(7) & !walks(2)), Err(Error::Query { .. })));
    assert!(tx.query("person").unwrap().filter_q(walks(7) & !walks(1)).is_ok(), "254 + 2 joins");
}

/// `&` and `|` squash a chain of one operator into one node however it
/// is grouped, as Django's `Q._combine` does: a condition folded from the
/// right over 10,000 ids is one level deep, the same tree as the left
/// fold, and a query takes it (unsquashed it nested 10,000 levels and was
/// refused). Mixed operators and negations still nest.
#[test]
fn operator_chains_stay_flat_however_folded() {
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    let ids: Vec<i64> = (1..=10_000).collect();
    let left = ids.iter().fold(Q::any([]), |q, &id| q | Q::new("id", id));
    let right = ids.iter().rev().fold(Q::any([]), |q, &id| Q::new("id", id) | q);
    assert_eq!(left, right);
    let users = tx.query("user").unwrap().ids();
    assert_eq!(tx.query("user").unwrap().filter_q(right).unwrap().ids(), users);
    let every = (0..10_000).fold(Q::all([]), |q, _| Q::new("username__isnull", false) & q);
    assert_eq!(tx.query("user").unwrap().filter_q(every).unwrap().ids(), users);

    let (a, b, c) = (Q::new("id", 1), Q::new("id", 2), Q::new("id", 3));
    assert_eq!((a.clone() | (b.clone() | c.clone())).to_string(), "(id = 1 OR id = 2 OR id = 3)");
    assert_eq!(
        ((a.clone() & b.clone()) & (c.clone() & a.clone())).to_string(),
        "(id = 1 AND id = 2 AND id = 3 AND id = 1)"
    );
    assert_eq!((a.clone() | (b.clone() & c.clone())).to_string(), "(id = 1 OR (id = 2 AND id = 3))");
    assert_eq!((a.clone() | !(b.clone() | c.clone())).to_string(), "(id = 1 OR NOT (id = 2 OR id = 3))");
    // The empty forms are TRUE and FALSE, so squashing them changes nothing.
    assert_eq!((Q::all([]) | a.clone()).to_string(), "(TRUE OR id = 1)");
    assert_eq!((Q::any([]) | a.clone()).to_string(), "(id = 1)");
    assert_eq!((a & Q::all([])).to_string(), "(id = 1)");
}

/// `!!q` is `q`, as Django's `~~q` is (`~` flips a flag): the same
/// tree, rows repeated per related row as `q` repeats them, and its
/// leaves talk about the same related row as the others of the call.
/// Two nested negations would ask instead that some related row match,
/// on its own: ann (in rock, rank 1, and jazz, rank 2) would pass
/// `rock & !!rank 2`.
#[test]
fn a_double_negation_is_the_condition() {
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    let users = |q: Q| tx.query("user").unwrap().filter_q(q).unwrap().ids();
    let in_either = || Q::new("groups__name__in", ["rock", "jazz"]);
    assert_eq!(!!in_either(), in_either());
    assert_eq!(users(!!in_either()), users(in_either()));
    assert_eq!(users(!!in_either()).len(), 4, "jim, bob and ann twice");
    let rock = || Q::new("groups__name", "rock");
    assert_eq!(users(rock() & !!Q::new("groups__rank", 2)), Vec::<i64>::new(), "no group is rock of rank 2");
    assert_eq!(users(rock() & Q::all([!!Q::new("groups__rank", 1)])).len(), 3);
    assert_eq!((!!!rock()).to_string(), "NOT groups__name = \"rock\"");
}

/// A value read from a row is an argument as it is: the borrowed
/// `ValueRef` converts, as it does into a row's cell.
#[test]
fn a_value_read_from_a_row_is_an_argument() {
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    let jim = tx.query("user").unwrap().filter("username", "jim").unwrap().first().unwrap();
    let name = jim.get("username").unwrap();
    let same = tx.query("user").unwrap().filter("username", name).unwrap().ids();
    assert_eq!(same, vec![jim.id()]);
    let none = tx.query("user").unwrap().filter("age__gt", jim.get("age").unwrap()).unwrap().count();
    assert_eq!(none, 1, "Zoe, 41, is older than jim, 30");
}

/// Cloning, comparing, printing and dropping a condition or an argument
/// nested 200,000 levels deep (a query refuses them, but a program may
/// build, log and compare them) do not overflow the stack: none of them
/// recurses.
#[test]
fn deep_conditions_and_arguments_need_no_recursion() {
    const LEVELS: usize = 200_000;
    let leaf = || Q::new("name", "a");
    // `not` of a one-condition `and` of a `not` ... (`!!q` is `q`).
    let nest = |leaf: Q| (0..LEVELS).fold(leaf, |q, i| if i % 2 == 0 { !q } else { Q::all([q]) });
    let nots = nest(leaf());
    let copy = nots.clone();
    assert_eq!(copy, nots);
    assert_ne!(!copy, nots, "one negation more");
    assert_ne!(nots.clone(), nest(Q::new("name", "b")), "the leaf differs");
    let shown = nots.to_string();
    assert_eq!(shown, format!("{}name = \"a\"{}", "(NOT ".repeat(LEVELS / 2), ")".repeat(LEVELS / 2)));
    let debug = format!("{nots:?}");
    let (open, close) = ("And[Not[".repeat(LEVELS / 2), "]]".repeat(LEVELS / 2));
    assert_eq!(debug, format!("{open}Leaf(\"name\", Value(Text(\"a\"))){close}"));

    // And inside or, alternately, so that no squashing flattens it.
    let mixed = (0..LEVELS).fold(leaf(), |q, i| if i % 2 == 0 { leaf() & q } else { leaf() | q });
    assert_eq!(mixed.clone(), mixed);
    assert_ne!(mixed.clone() & leaf(), mixed);
    assert!(mixed.to_string().ends_with(&format!("name = \"a\"{}", ")".repeat(LEVELS))));

    let lists = (0..LEVELS).fold(Arg::from(7), |a, _| Arg::List(vec![a, Arg::List(Vec::new())]));
    let copy = lists.clone();
    assert_eq!(copy, lists);
    assert_ne!(Arg::List(vec![copy]), lists);
    let debug = format!("{lists:?}");
    assert!(debug.starts_with("List[List[") && debug.contains("Value(Int(7)), List[]]"));
    assert_eq!(debug.matches("List[").count(), 2 * LEVELS);
    // Messages show 8 levels, a list below them as `[...]`.
    assert_eq!(lists.to_string(), format!("{}[...], [...]]{}", "[".repeat(8), ", []]".repeat(7)));
    let q = Q::new("id__in", lists);
    assert!(format!("{q:?}").starts_with("Leaf(\"id__in\", List[List["));
}

/// Choices whose `limit_choices_to` crosses a multi-valued relation offer
/// each row once (Django filters with `Exists`), without merging rows of
/// equal values as `distinct` would in a projection.
#[test]
fn choices_across_a_multi_valued_relation_come_once() {
    let schema = Schema::builder()
        .table("tag", |t| {
            t.column("label", Type::Text);
        })
        .table("note", |t| {
            t.foreign_key("tag", "tag");
            t.column("public", Type::Bool);
        })
        .table("user", |t| {
            t.many_to_many("tags", "tag").limit_choices_to("note__public", true);
            t.many_to_many("first", "tag").limit_choices_to("pk", 1).related_name("first_of");
            t.many_to_many("picked", "tag")
                .limit_choices_to("label__in", ["shown", "other"])
                .limit_choices_to("pk__range", [2, 3])
                .related_name("picked_by");
        })
        .build()
        .unwrap();
    let db = Database::new(schema);
    let (shown, twin) = db
        .write(|tx| {
            let shown = tx.insert("tag", row! { "label" => "shown" })?;
            let hidden = tx.insert("tag", row! { "label" => "hidden" })?;
            let twin = tx.insert("tag", row! { "label" => "shown" })?;
            for (tag, public) in [(shown, true), (shown, true), (shown, false), (hidden, false), (twin, true)] {
                tx.insert("note", row! { "tag" => tag, "public" => public })?;
            }
            Ok::<_, Error>((shown, twin))
        })
        .unwrap();
    let tx = db.begin_read().unwrap();
    let choices = tx.choices("user", "tags").unwrap();
    assert_eq!((choices.keys(), choices.count()), (vec![shown, twin], 2));
    // Rows, not values, come once: two tags of one label both show it.
    assert_eq!(choices.values_list_flat("label").unwrap(), [Value::from("shown"), Value::from("shown")]);
    assert!(choices.explain().contains("filter (each row once)"), "{}", choices.explain());
    // Refined with a filter of its own, which repeats as usual.
    let refined = choices.filter("note__public", true).unwrap();
    assert_eq!(refined.count(), 3, "a row per matching note of the refining filter");
    // Over single-valued hops the condition still picks the access path.
    let first = tx.choices("user", "first").unwrap();
    assert_eq!(first.keys(), [shown]);
    assert!(first.explain().starts_with("probe primary key tag.id = 1"), "{}", first.explain());
    // Any value a filter takes, lists among them; every condition holds.
    assert_eq!(tx.choices("user", "picked").unwrap().keys(), [twin]);
}

#[test]
fn rebind_runs_a_built_query_for_new_values() {
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    let by_group = |q: &Query<'_>| names(q);
    // One condition, through a relation: the walk follows the new value.
    let mut members = tx.query("user").unwrap().filter("groups__name", "rock").unwrap();
    assert_eq!(by_group(&members), s(&["ann", "bob", "jim"]));
    members.rebind(0, "jazz").unwrap();
    assert_eq!(by_group(&members), s(&["ann"]));
    assert_eq!(members.explain(), tx.query("user").unwrap().filter("groups__name", "jazz").unwrap().explain());
    members.rebind(0, "nobody").unwrap();
    assert!(!members.exists());

    // Numbering: filter calls in turn, a Q's leaves left to right, negated
    // parts included.
    let q = Q::new("age__gte", 0) & !(Q::new("username", "x") | Q::new("groups__name", "x"));
    let mut q = tx.query("user").unwrap().filter("active", true).unwrap().filter_q(q).unwrap();
    assert_eq!(by_group(&q), s(&["jim"])); // bob's age is NULL
    q.rebind(3, "rock").unwrap(); // NOT (username = x OR groups__name = rock)
    assert_eq!(by_group(&q), s(&[]));
    q.rebind(0, false).unwrap(); // active = false
    assert_eq!(by_group(&q), s(&["Zoe"]));
    q.rebind(2, "Zoe").unwrap();
    assert_eq!(by_group(&q), s(&[]));
    q.rebind(1, 42).unwrap(); // age >= 42
    q.rebind(2, "x").unwrap();
    assert_eq!(by_group(&q), s(&[]));
    q.rebind(1, 41).unwrap();
    assert_eq!(by_group(&q), s(&["Zoe"]));

    // A new value may change the condition's shape, as in `filter`: NULL
    // with `exact` is `isnull`, and `in` takes a list again.
    let mut ages = tx.query("user").unwrap().filter("age", 30).unwrap();
    ages.rebind(0, Value::Null).unwrap();
    assert_eq!(by_group(&ages), s(&["bob"]));
    let mut within = tx.query("user").unwrap().filter("id__in", [f.key("jim"), f.key("bob")]).unwrap();
    within.rebind(0, [f.key("ann")]).unwrap();
    assert_eq!(by_group(&within), s(&["ann"]));
    within.rebind(0, Vec::<i64>::new()).unwrap();
    assert_eq!(by_group(&within), s(&[]));

    // A related manager's query.
    let mut rock_since = tx.related(f.key("rock"), "members").unwrap().query().filter("username", "jim").unwrap();
    assert_eq!(rock_since.ids(), vec![f.key("jim").id()]);
    rock_since.rebind(0, "bob").unwrap();
    assert_eq!(rock_since.ids(), vec![f.key("bob").id()]);
    rock_since.rebind(0, "Zoe").unwrap();
    assert_eq!(rock_since.count(), 0);
}

#[test]
fn a_refused_rebind_changes_nothing() {
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    let mut q = tx.query("user").unwrap().filter("age__gt", 26).unwrap().filter("groups__name", "rock").unwrap();
    let (plan, ids) = (q.explain(), q.ids());
    assert_eq!(names(&q), s(&["jim"]));
    let wrong_type = q.rebind(0, "old").unwrap_err();
    assert!(matches!(wrong_type, Error::TypeMismatch { ref column, .. } if column == "age"), "{wrong_type:?}");
    let wrong_shape = q.rebind(1, ["rock", "jazz"]).unwrap_err();
    assert!(matches!(wrong_shape, Error::Query { ref path, .. } if path == "groups__name"), "{wrong_shape:?}");
    let wrong_table = q.rebind(0, f.key("rock")).unwrap_err();
    assert!(matches!(wrong_table, Error::Query { .. }), "{wrong_table:?}");
    match q.rebind(2, 1).unwrap_err() {
        Error::Query { table, reason, .. } => {
            assert_eq!(table, "user");
            assert!(reason.contains("2 conditions, and no condition 2"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!((q.explain(), q.ids()), (plan, ids));
    let mut keyed = tx.query("user").unwrap().filter("groups", f.key("rock")).unwrap();
    let other_table = keyed.rebind(0, f.key("jim")).unwrap_err();
    assert!(matches!(other_table, Error::WrongTable { .. }), "{other_table:?}");
    keyed.rebind(0, f.key("folk")).unwrap();
    assert_eq!(names(&keyed), s(&["bob"]));
}

#[test]
fn for_each_value_streams_what_values_list_flat_returns() {
    let db = Database::new(schema());
    db.write(|tx| {
        let rock = tx.insert("group", row! { "name" => "rock" })?;
        let alpha = tx.insert("tag", row! { "label" => "alpha" })?;
        // More members than one batch holds (512), some with long names
        // and NULL ages; joined in an order other than their slots', in a
        // custom through table and in an auto-created one (whose walk
        // reads the tag's list of users whole).
        for i in (0..1300).rev() {
            let name =
                if i % 9 == 0 { format!("a member with a name too long for its cell, {i}") } else { format!("m{i}") };
            let age = if i % 4 == 0 { Value::Null } else { Value::Int(i) };
            let user = tx.insert("user", row! { "username" => name, "age" => age, "active" => true })?;
            if i % 5 != 0 {
                tx.insert("membership", row! { "user" => user, "group" => rock, "joined" => 2020 })?;
            }
            if i % 7 != 0 {
                tx.related(user, "tags")?.add([alpha])?;
            }
        }
        Ok::<_, Error>(())
    })
    .unwrap();
    let tx = db.begin_read().unwrap();
    let members = tx.query("user").unwrap().filter("groups__name", "rock").unwrap();
    let tagged = tx.query("user").unwrap().filter("tags__label", "alpha").unwrap();
    assert!(tagged.explain().contains("walk"), "{}", tagged.explain());
    assert_eq!(tagged.count(), 1300 - 1300 / 7 - 1);
    let everyone = tx.query("user").unwrap();
    let some =
        tx.query("user").unwrap().filter("age__lt", 700).unwrap().order_by(&["-age"]).unwrap().offset(3).limit(600);
    for q in [&members, &tagged, &everyone, &some, &members.clone().distinct(), &tagged.clone().limit(700)] {
        for column in ["username", "age", "id", "city__name"] {
            let mut seen = Vec::new();
            q.for_each_value(column, |v| seen.push(v.to_owned())).unwrap();
            // `values_list` reads each row's value apart from the gather.
            let lists: Vec<Value> = q.values_list(&[column]).unwrap().into_iter().flatten().collect();
            assert_eq!(seen, lists, "{column}");
            assert_eq!(q.values_list_flat(column).unwrap(), lists, "{column}");
            assert!(!seen.is_empty());
        }
    }
    let mut called = false;
    let err = members.for_each_value("groups__name", |_| called = true).unwrap_err();
    assert!(matches!(err, Error::Query { .. }) && !called, "{err:?}");
}

/// ORs whose parts cross different many-to-many relations are counted by
/// inclusion–exclusion over factored counts, through each OR's complement
/// when its parts read one relation each and through the union of its
/// parts when one is an AND across relations, up to 16 factored counts in
/// one filter call, and by enumerating bindings past that; `exclude` and
/// `distinct` check existence one choice of parts at a time, up to 16
/// choices. ORs nested with `Q::any` count as one. Every way must give
/// every binding's count, with `NULL` bindings where a row has no related
/// rows; checked against a brute-force enumeration of the bindings, with
/// parts on the root row, and with an index probe establishing part of
/// the call (a seed).
#[test]
fn ors_across_relations_count_every_binding() {
    const RELS: [&str; 5] = ["a", "b", "c", "d", "e"];
    let schema = Schema::builder()
        .table("item", |t| {
            t.column("v", Type::Int).nullable();
        })
        .table("user", |t| {
            for r in RELS {
                t.many_to_many(r, "item").related_name("+");
            }
        })
        .build()
        .unwrap();
    let db = Database::new(schema);
    let mut rng = common::Rng(0x0A5_5EED);
    /// An item and its value.
    type Item = (Key, Option<i64>);
    // Per user: its id, and per relation the linked items.
    let mut users: Vec<(i64, Vec<Vec<Item>>)> = Vec::new();
    let items = db
        .write(|tx| {
            let items: Vec<Item> = (0..8)
                .map(|i| {
                    let v = (i % 4 != 3).then_some(i % 4);
                    tx.insert("item", row! { "v" => v }).map(|k| (k, v))
                })
                .collect::<Result<_, _>>()?;
            for _ in 0..40 {
                let u = tx.insert("user", row! {})?;
                let mut per_rel = Vec::new();
                for r in RELS {
                    let mut linked: Vec<Item> = (0..rng.below(4)).map(|_| rng.pick(&items)).collect();
                    linked.sort_by_key(|(k, _)| *k);
                    linked.dedup_by_key(|(k, _)| *k);
                    tx.related(u, r)?.add(linked.iter().map(|(k, _)| *k))?;
                    per_rel.push(linked);
                }
                users.push((u.id(), per_rel));
            }
            Ok::<_, Error>(items)
        })
        .unwrap();

    /// A part of an OR: `v = x` or `v > x` on a relation, `id < x` on
    /// the root row, `v = x` on one relation and `v > y` on another,
    /// `v > x` on one relation and `v > y` on another, `id < x` and `v =
    /// y` on a relation (which reads one join node), `id < x` with
    /// `Both`'s two, `v` NULL on one relation (or none linked) and `v > y`
    /// on another, or no item of `v = x` on one relation (a negation)
    /// with `Both`'s two.
    #[derive(Clone, Copy)]
    enum Part {
        Eq(usize, i64),
        Gt(usize, i64),
        IdBelow(i64),
        Both(usize, i64, usize, i64),
        Gts(usize, i64, usize, i64),
        RootAnd(i64, usize, i64),
        Three(i64, usize, i64, usize, i64),
        NullAnd(usize, usize, i64),
        NotBoth(usize, i64, usize, i64, usize, i64),
    }
    use Part::{Both, Eq, Gt, Gts, IdBelow, NotBoth, NullAnd, RootAnd, Three};
    /// ORs, a condition `v < x` on one relation besides, and the ids an
    /// `id__in` in the same call keeps (the access path's anchor), and the
    /// item (by index) that one relation's binding must be, `rel = item`
    /// in the same call (an anchor that fixes that relation's join node).
    struct Case {
        ors: Vec<Vec<Part>>,
        extra: Option<(usize, i64)>,
        ids: Option<Vec<i64>>,
        pin: Option<(usize, usize)>,
    }
    let part_q = |p: &Part| match *p {
        Eq(r, x) => Q::new(format!("{}__v", RELS[r]), x),
        Gt(r, x) => Q::new(format!("{}__v__gt", RELS[r]), x),
        IdBelow(x) => Q::new("id__lt", x),
        Both(r, x, s, y) => Q::new(format!("{}__v", RELS[r]), x) & Q::new(format!("{}__v__gt", RELS[s]), y),
        Gts(r, x, s, y) => Q::new(format!("{}__v__gt", RELS[r]), x) & Q::new(format!("{}__v__gt", RELS[s]), y),
        RootAnd(x, r, y) => Q::new("id__lt", x) & Q::new(format!("{}__v", RELS[r]), y),
        // Written nested, `a & (b & c)` as `Q::all` builds it.
        Three(x, r, y, s, z) => Q::all([
            Q::new("id__lt", x),
            Q::all([Q::new(format!("{}__v", RELS[r]), y), Q::new(format!("{}__v__gt", RELS[s]), z)]),
        ]),
        NullAnd(r, s, y) => Q::new(format!("{}__v__isnull", RELS[r]), true) & Q::new(format!("{}__v__gt", RELS[s]), y),
        NotBoth(n, x, r, y, s, z) => {
            !Q::new(format!("{}__v", RELS[n]), x)
                & Q::new(format!("{}__v", RELS[r]), y)
                & Q::new(format!("{}__v__gt", RELS[s]), z)
        }
    };
    // An OR of three parts or more is written nested, `a | (b | c)` as
    // `Q::any` builds it (`|` would squash it).
    let or_q = |or: &Vec<Part>| match &or[..] {
        [first, rest @ ..] if rest.len() > 1 => Q::any([part_q(first), Q::any(rest.iter().map(part_q))]),
        [only] => Q::any([part_q(only)]),
        _ => or.iter().map(part_q).reduce(|a, b| a | b).unwrap(),
    };
    let q_of = |case: &Case| {
        let mut q = Q::all(case.ors.iter().map(or_q));
        if let Some((r, x)) = case.extra {
            q = q & Q::new(format!("{}__v__lt", RELS[r]), x);
        }
        if let Some(ids) = &case.ids {
            q = Q::new("id__in", ids.clone()) & q;
        }
        if let Some((r, k)) = case.pin {
            q = Q::new(RELS[r], items[k].0) & q;
        }
        q
    };
    // Bindings of one user: one value per relation the condition names
    // (its join nodes; the others bind nothing), `None` for a relation
    // without rows (left join), and for an item whose `v` is NULL.
    let brute = |(id, per_rel): &(i64, Vec<Vec<Item>>), case: &Case| -> usize {
        if case.ids.as_ref().is_some_and(|ids| !ids.contains(id)) {
            return 0;
        }
        let reads = |p: &Part, r: usize| match *p {
            Eq(x, _) | Gt(x, _) | RootAnd(_, x, _) => x == r,
            Both(x, _, y, _) | Gts(x, _, y, _) | Three(_, x, _, y, _) | NotBoth(_, _, x, _, y, _) => x == r || y == r,
            NullAnd(x, y, _) => x == r || y == r,
            // A negation reads its relation in a scope of its own.
            IdBelow(_) => false,
        };
        let named = |r: usize| {
            case.ors.iter().flatten().any(|p| reads(p, r))
                || case.extra.is_some_and(|(e, _)| e == r)
                || case.pin.is_some_and(|(p, _)| p == r)
        };
        let domains: Vec<Vec<Option<Item>>> = (0..RELS.len())
            .map(|r| {
                if per_rel[r].is_empty() || !named(r) {
                    vec![None]
                } else {
                    per_rel[r].iter().copied().map(Some).collect()
                }
            })
            .collect();
        let mut count = 0;
        let mut at = vec![0usize; RELS.len()];
        loop {
            let v = |r: usize| domains[r][at[r]].and_then(|(_, v)| v);
            let none_of = |r: usize, x: i64| !per_rel[r].iter().any(|&(_, v)| v == Some(x));
            let part = |p: &Part| match *p {
                Eq(r, x) => v(r) == Some(x),
                Gt(r, x) => v(r).is_some_and(|y| y > x),
                IdBelow(x) => *id < x,
                Both(r, x, s, y) => v(r) == Some(x) && v(s).is_some_and(|z| z > y),
                Gts(r, x, s, y) => v(r).is_some_and(|z| z > x) && v(s).is_some_and(|z| z > y),
                RootAnd(x, r, y) => *id < x && v(r) == Some(y),
                Three(x, r, y, s, z) => *id < x && v(r) == Some(y) && v(s).is_some_and(|w| w > z),
                NullAnd(r, s, y) => v(r).is_none() && v(s).is_some_and(|z| z > y),
                NotBoth(n, x, r, y, s, z) => none_of(n, x) && v(r) == Some(y) && v(s).is_some_and(|w| w > z),
            };
            let pinned = case.pin.is_none_or(|(r, k)| domains[r][at[r]].is_some_and(|(key, _)| key == items[k].0));
            let holds = case.ors.iter().all(|or| or.iter().any(part))
                && case.extra.is_none_or(|(r, x)| v(r).is_some_and(|y| y < x))
                && pinned;
            count += usize::from(holds);
            // The next binding, odometer-style.
            let mut r = 0;
            while r < RELS.len() {
                at[r] += 1;
                if at[r] < domains[r].len() {
                    break;
                }
                at[r] = 0;
                r += 1;
            }
            if r == RELS.len() {
                return count;
            }
        }
    };
    let four =
        vec![vec![Eq(0, 1), Gt(1, 0)], vec![Eq(2, 0), Gt(3, 1)], vec![Eq(4, 2), Gt(0, 0)], vec![Eq(1, 1), Gt(2, 1)]];
    let cases = [
        Case { ors: vec![vec![Eq(0, 1), Gt(1, 1)]], extra: None, ids: None, pin: None },
        Case { ors: vec![vec![Eq(0, 1), Gt(1, 1)]], extra: Some((2, 2)), ids: None, pin: None },
        Case { ors: vec![vec![Eq(0, 0), Gt(1, 0)], vec![Eq(2, 2), Gt(3, 1)]], extra: None, ids: None, pin: None },
        Case {
            ors: vec![vec![Eq(0, 0), Gt(1, 0)], vec![Eq(1, 2), Gt(0, 1)], vec![Eq(4, 1), Gt(3, 0)]],
            extra: Some((0, 2)),
            ids: None,
            pin: None,
        },
        Case { ors: four.clone(), extra: None, ids: None, pin: None },
        // Parts on the root row, and two parts of one OR on one relation.
        Case {
            ors: vec![vec![Eq(0, 1), IdBelow(12), Gt(1, 1)], vec![Eq(2, 0), Gt(2, 1)]],
            extra: None,
            ids: None,
            pin: None,
        },
        // 3^4 = 81 choices: past what an existence check tries one by one.
        Case {
            ors: vec![
                vec![Eq(0, 1), Gt(1, 1), Eq(2, 2)],
                vec![Eq(3, 0), Gt(4, 1), Eq(0, 2)],
                vec![Eq(1, 0), Gt(2, 0), IdBelow(5), Eq(3, 1)],
                vec![Eq(4, 0), Gt(0, 1), Eq(1, 2)],
            ],
            extra: None,
            ids: None,
            pin: None,
        },
        // Established in part by a probe of the primary key.
        Case { ors: four.clone(), extra: None, ids: Some((1..=40).step_by(2).collect()), pin: None },
        // Five: past the inclusion–exclusion limit, enumerated.
        Case { ors: [four, vec![vec![Eq(3, 2), Gt(4, 0)]]].concat(), extra: Some((1, 3)), ids: None, pin: None },
        // A part that is an AND across relations: the union of the parts.
        Case { ors: vec![vec![Both(0, 1, 1, 0), Eq(2, 2)]], extra: None, ids: None, pin: None },
        Case {
            ors: vec![vec![Both(0, 1, 1, 0), Both(2, 0, 3, 1), Gt(4, 1)], vec![Eq(0, 0), Gt(2, 1)]],
            extra: Some((3, 2)),
            ids: None,
            pin: None,
        },
        // ANDs with a part on the root row, and a part on the root alone.
        Case {
            ors: vec![vec![RootAnd(20, 0, 1), Three(25, 1, 2, 2, 0), IdBelow(6)], vec![Eq(3, 1), RootAnd(30, 4, 0)]],
            extra: None,
            ids: None,
            pin: None,
        },
        Case {
            ors: vec![vec![Both(0, 0, 1, 0), Both(1, 1, 2, 0)]],
            extra: None,
            ids: Some((1..=40).step_by(3).collect()),
            pin: None,
        },
        Case {
            ors: vec![vec![Three(20, 0, 1, 1, 0), Gt(2, 1)], vec![Eq(3, 1), Gt(4, 0)]],
            extra: None,
            ids: None,
            pin: None,
        },
        // ORs of one part, an AND across relations, one term each: five
        // ORs across relations in all, with two complements (four terms).
        Case {
            ors: vec![
                vec![Gts(0, -1, 1, -1)],
                vec![Gts(2, -1, 3, -1)],
                vec![Gts(4, -1, 0, 0)],
                vec![Eq(1, 0), Gt(3, 1)],
                vec![Eq(2, 0), Gt(4, 0)],
            ],
            extra: None,
            ids: None,
            pin: None,
        },
        // A NULL test and a negation in ANDs across relations.
        Case {
            ors: vec![vec![NullAnd(0, 1, 0), NotBoth(2, 1, 3, 0, 4, -1), Eq(0, 2)], vec![Eq(1, 1), Gt(2, 0)]],
            extra: None,
            ids: None,
            pin: None,
        },
        // An OR of one part alone: one term.
        Case { ors: vec![vec![Gts(1, 0, 3, -1)]], extra: None, ids: None, pin: None },
        // A union of four parts: 15 terms.
        Case { ors: vec![vec![Both(0, 1, 1, 0), Eq(2, 2), Gt(3, 1), IdBelow(8)]], extra: None, ids: None, pin: None },
        // Established in part by a relation's item, which fixes its node.
        Case {
            ors: vec![vec![Both(0, 1, 1, 0), Eq(2, 2)], vec![Gt(0, 0), Eq(3, 1)]],
            extra: None,
            ids: None,
            pin: Some((0, 1)),
        },
        // 3 × 7 = 21 terms: past the limit, enumerated.
        Case {
            ors: vec![vec![Both(0, 1, 1, 0), Eq(2, 2)], vec![Both(3, 0, 4, 0), Gt(1, 1), Both(2, 1, 0, 0)]],
            extra: None,
            ids: None,
            pin: None,
        },
    ];
    let tx = db.begin_read().unwrap();
    for (n, case) in cases.iter().enumerate() {
        let per_user: Vec<usize> = users.iter().map(|u| brute(u, case)).collect();
        let total: usize = per_user.iter().sum();
        let some = per_user.iter().filter(|&&c| c > 0).count();
        assert!(total > some && some > 0 && some < users.len(), "case {n} tells counts apart: {total}, {some}");
        let filtered = tx.query("user").unwrap().filter_q(q_of(case)).unwrap();
        let plan = filtered.explain();
        // ORs whose parts read different join nodes (one per relation; a
        // condition on the root row reads none) take two terms, or
        // 2^parts - 1 with an AND across relations among them; one that
        // reads a single relation (and the root) factors.
        let nodes = |p: &Part| match *p {
            Eq(r, _) | Gt(r, _) | RootAnd(_, r, _) => vec![r],
            IdBelow(_) => vec![],
            Both(r, _, s, _)
            | Gts(r, _, s, _)
            | Three(_, r, _, s, _)
            | NullAnd(r, s, _)
            | NotBoth(_, _, r, _, s, _) => {
                vec![r, s]
            }
        };
        let terms: usize = case
            .ors
            .iter()
            .map(|or| match or.iter().map(nodes).collect::<Vec<_>>() {
                parts if parts.iter().any(|p| p.len() > 1) => (1 << or.len()) - 1,
                parts if parts.iter().flatten().any(|n| Some(n) != parts.iter().flatten().next()) => 2,
                _ => 1,
            })
            .product();
        let how = match terms {
            1 => "(ORs across relations: 1 factored count per row)".to_owned(),
            2..=16 => format!("(ORs across relations: {terms} factored counts per row)"),
            _ => "(bindings enumerated per row)".to_owned(),
        };
        assert!(plan.ends_with(&how), "case {n}: {plan}");
        assert_eq!(case.ids.is_some(), plan.starts_with("probe primary key"), "case {n}: {plan}");
        assert_eq!(case.pin.is_some(), plan.starts_with("probe junction"), "case {n}: {plan}");
        assert_eq!(filtered.count(), total, "case {n}");
        assert_eq!(filtered.distinct().count(), some, "case {n}, distinct");
        let excluded = tx.query("user").unwrap().exclude_q(q_of(case)).unwrap();
        assert_eq!(excluded.count(), users.len() - some, "case {n}, excluded");
    }
}

/// Django's `aggregate()`: `NULL`s left out, a row counted as often as it
/// is a result, paging first, across foreign keys and from a manager.
#[test]
fn aggregates_read_the_rows_a_query_returns() {
    use junctiondb::Aggregate::{Avg, Count, CountDistinct, Max, Min, Sum};
    let f = fixture();
    let tx = f.db.begin_read().unwrap();
    let users = || tx.query("user").unwrap();
    let of = |q: &Query<'_>, column: &str, how| q.aggregate(column, how).unwrap();
    let all = users();
    assert_eq!(of(&all, "age", Sum), Value::Int(96));
    assert_eq!(of(&all, "age", Avg), Value::Float(32.0));
    assert_eq!(of(&all, "age", Count), Value::Int(3));
    assert_eq!(of(&all, "age", Min), Value::Int(25));
    assert_eq!(of(&all, "age", Max), Value::Int(41));
    assert_eq!(of(&all, "score", Sum), Value::Float(2.75));
    assert_eq!(of(&all, "username", Min), Value::from("Zoe"));
    assert_eq!(of(&all, "avatar", Max), Value::Bytes(vec![0xff]));
    assert_eq!(of(&all, "active", CountDistinct), Value::Int(2));
    assert_eq!(of(&all, "id", Count), Value::Int(4));
    // Across a foreign key: bob has no city.
    assert_eq!(of(&all, "city__name", Count), Value::Int(3));
    assert_eq!(of(&all, "city__name", CountDistinct), Value::Int(2));
    // Across a relation: ann is in rock and jazz, a result twice, unless
    // distinct.
    let rock_or_jazz = users().filter("groups__name__in", ["rock", "jazz"]).unwrap();
    assert_eq!(rock_or_jazz.ids().len(), 4);
    assert_eq!(of(&rock_or_jazz, "age", Sum), Value::Int(80));
    assert_eq!(of(&rock_or_jazz, "age", Count), Value::Int(3));
    // The same rows from a scan, whose filter counts ann's two bindings
    // as one result of multiplicity two.
    let ranked = users().filter("groups__rank__lte", 2).unwrap();
    assert!(ranked.explain().starts_with("scan"), "{}", ranked.explain());
    assert_eq!((of(&ranked, "age", Sum), of(&ranked, "age", Count)), (Value::Int(80), Value::Int(3)));
    let once = users().filter("groups__name__in", ["rock", "jazz"]).unwrap().distinct();
    assert_eq!(of(&once, "age", Sum), Value::Int(55));
    assert_eq!(of(&once, "age", Count), Value::Int(2));
    // `distinct` makes the rows distinct, not the values: jim and bob are
    // both active.
    assert_eq!((of(&once, "active", Count), of(&once, "active", CountDistinct)), (Value::Int(3), Value::Int(2)));
    // Paging picks the rows first, by the ordering (`NULL` first).
    let oldest = users().order_by(&["-age"]).unwrap().limit(2);
    assert_eq!(of(&oldest, "age", Sum), Value::Int(71));
    let middle = users().order_by(&["age"]).unwrap().offset(1).limit(2);
    assert_eq!(of(&middle, "age", Sum), Value::Int(55));
    assert_eq!(of(&users().limit(0), "age", Count), Value::Int(0));
    // Without an ordering, the rows `ids` gives.
    let some = users().offset(1).limit(2);
    assert_eq!(of(&some, "id", Sum), Value::Int(some.ids().iter().sum()));
    assert_eq!(of(&some, "id", Count), Value::Int(2));
    // No values: `NULL`, or 0 for the counts.
    let nobody = users().filter("age__gt", 100).unwrap();
    assert_eq!((of(&nobody, "age", Sum), of(&nobody, "age", Avg)), (Value::Null, Value::Null));
    assert_eq!((of(&nobody, "username", Max), of(&nobody, "age", Count)), (Value::Null, Value::Int(0)));
    // A manager's query: rock's members are jim, ann and bob (no age).
    let rock = tx.related(f.key("rock"), "members").unwrap().query();
    assert_eq!((of(&rock, "age", Max), of(&rock, "age", Avg)), (Value::Int(30), Value::Float(27.5)));
    // Several in one run of the query, each as alone.
    let several = [("age", Sum), ("age", Max), ("city__name", CountDistinct), ("score", Avg)];
    let alone: Vec<Value> = several.iter().map(|&(path, how)| of(&rock_or_jazz, path, how)).collect();
    assert_eq!(rock_or_jazz.aggregates(&several).unwrap(), alone);
    assert_eq!(middle.aggregates(&[("age", Min), ("age", Max)]).unwrap(), [Value::Int(25), Value::Int(30)]);
    assert_eq!(users().aggregates::<&str>(&[]).unwrap(), []);
    // Refused: a sum of text, a multi-valued path, an unknown column; in
    // `aggregates`, the first refused pair, before the query runs.
    for (path, how) in [("username", Sum), ("active", Avg), ("groups__name", Count), ("height", Max)] {
        let err = users().aggregate(path, how).unwrap_err();
        assert!(matches!(&err, Error::Query { path: p, .. } if p == path), "{path}: {err}");
        let err = users().aggregates(&[("age", Sum), (path, how), ("nope", Min)]).unwrap_err();
        assert!(matches!(&err, Error::Query { path: p, .. } if p == path), "{path}: {err}");
    }
}

/// An `Int` sum is exact until the end: only a total past `i64` is an
/// overflow, not a partial one that later values bring back.
#[test]
fn an_int_sum_that_does_not_fit_is_an_overflow() {
    use junctiondb::Aggregate::{Avg, Sum};
    let schema = Schema::builder().table("n", |t| {
        t.column("v", Type::Int);
    });
    let db = Database::new(schema.build().unwrap());
    let insert = |values: &[i64]| {
        db.write(|tx| values.iter().try_for_each(|&v| tx.insert("n", row! { "v" => v }).map(drop))).unwrap();
    };
    insert(&[i64::MAX, 1, 2]);
    db.read(|tx| {
        let err = tx.query("n")?.aggregate("v", Sum).unwrap_err();
        assert!(matches!(&err, Error::Overflow { table, path } if table == "n" && path == "v"), "{err}");
        let err = tx.query("n")?.aggregates(&[("id", Sum), ("v", Sum)]).unwrap_err();
        assert!(matches!(&err, Error::Overflow { path, .. } if path == "v"), "{err}");
        assert_eq!(err.to_string(), "the sum of \"v\" over rows of table \"n\" does not fit a 64-bit integer");
        // The mean of the same values needs no `i64` sum.
        assert_eq!(tx.query("n")?.aggregate("v", Avg)?, Value::Float((i64::MAX as f64 + 3.0) / 3.0));
        assert_eq!(tx.query("n")?.filter("v__lt", 10)?.aggregate("v", Sum)?, Value::Int(3));
        Ok::<_, Error>(())
    })
    .unwrap();
    // A row of -5 brings the total back: `i64::MAX - 2`.
    insert(&[-5]);
    assert_eq!(db.read(|tx| tx.query("n")?.aggregate("v", Sum)).unwrap(), Value::Int(i64::MAX - 2));
}
