//! Parts on SQLite: each command writes only the elements it changed, and every read puts
//! them back in the aggregate's order.

use std::sync::Arc;

use kernel_domain::{AggregateRoot, DomainEvent, Rejection, RejectionKind, Timestamp};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Collections, collection};
use crate::{
    migration::{PartsField, create_parts_table, split_documents},
    store::{
        Command, IntegrationEvent, Schema, Store,
        test_support::{TempDir, count, database},
    },
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Item {
    key: String,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Roster {
    id: Uuid,
    name: String,
    items: Vec<Item>,
    tags: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Changed;

impl DomainEvent for Changed {
    fn event_type(&self) -> &'static str {
        "test.roster.changed"
    }
}

impl AggregateRoot for Roster {
    type Event = Changed;
    fn aggregate_id(&self) -> Uuid {
        self.id
    }
}

struct Rosters;

impl Schema for Rosters {
    type Aggregate = Roster;
    const TABLE: &'static str = "rosters";
    const AGGREGATE_TYPE: &'static str = "test.roster";
    const ERROR_DOMAIN: &'static str = "test.saas";
    const COLUMNS: &'static [crate::migration::IndexedColumn] = &[];
    fn column_values(_: &Roster) -> Vec<Option<String>> {
        Vec::new()
    }
    fn taken(_: &str) -> Rejection {
        Rejection::new(RejectionKind::AlreadyExists, "TAKEN", "taken")
    }
    fn not_found() -> Rejection {
        Rejection::new(RejectionKind::NotFound, "NOT_FOUND", "no such roster")
    }
    fn integration_event(_: &Roster, _: &Changed) -> IntegrationEvent {
        IntegrationEvent::new(None, &prost_types::Timestamp::default())
    }
    const PARTS: &'static [&'static str] = &["items", "tags"];
    fn parts(roster: &Roster) -> Collections<'_> {
        vec![
            collection(&roster.items, |item| item.key.clone()),
            collection(&roster.tags, Clone::clone),
        ]
    }
}

async fn rosters() -> (TempDir, DatabaseConnection) {
    let (dir, db) = database("platform-parts", "rosters").await;
    let manager = sea_orm_migration::SchemaManager::new(&db);
    create_parts_table(&manager, "rosters").await.unwrap();
    (dir, db)
}

fn store(db: &DatabaseConnection) -> Store<Rosters> {
    Store::new(db.clone(), Arc::new(crate::SystemClock))
}

fn item(key: &str, text: &str) -> Item {
    Item {
        key: key.into(),
        text: text.into(),
    }
}

async fn create(store: &Store<Rosters>, items: Vec<Item>) -> Roster {
    let roster = Roster {
        id: crate::new_id(),
        name: "crew".into(),
        items,
        tags: vec!["a".into()],
    };
    let made = roster.clone();
    store
        .create(
            Command::new("Create", crate::new_id(), &(), None),
            move |_| Ok((made, Vec::new())),
            |_, _| (),
        )
        .await
        .unwrap();
    roster
}

/// Runs `change` as a command and answers the roster as it left it.
async fn change(
    store: &Store<Rosters>,
    id: Uuid,
    change: impl Fn(&mut Roster) + Send + 'static,
) -> Roster {
    store
        .update(
            Command::new("Change", crate::new_id(), &(), None),
            id,
            move |roster, _: Timestamp| {
                change(roster);
                Ok(Vec::new())
            },
            |_, _| (),
        )
        .await
        .unwrap();
    store.get(id).await.unwrap().unwrap().aggregate
}

/// The roster as a store with an empty read cache reads it: from the rows alone.
async fn fresh_read(db: &DatabaseConnection, id: Uuid) -> Roster {
    store(db).get(id).await.unwrap().unwrap().aggregate
}

/// How many part rows the command at `version` wrote a place for.
async fn placed_at(db: &DatabaseConnection, version: i64) -> i64 {
    count(
        db,
        &format!("SELECT COUNT(*) FROM rosters_parts WHERE since = {version}"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_writes_only_the_elements_it_changed_and_reads_put_them_back_in_order() {
    let (_dir, db) = rosters().await;
    let store = store(&db);
    let roster = create(
        &store,
        vec![item("k1", "one"), item("k2", "two"), item("k3", "three")],
    )
    .await;
    let id = roster.id;
    assert_eq!(fresh_read(&db, id).await, roster);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM rosters_parts").await, 4);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM rosters WHERE doc LIKE '%items%' OR doc LIKE '%tags%'"
        )
        .await,
        0,
        "the document row keeps only the head"
    );

    // Appending writes one row; nothing else moves.
    let appended = change(&store, id, |r| r.items.push(item("k4", "four"))).await;
    assert_eq!(placed_at(&db, 2).await, 1);
    assert_eq!(fresh_read(&db, id).await, appended);

    // Changing one element in place rewrites that row's document only.
    let edited = change(&store, id, |r| r.items[1].text = "deux".into()).await;
    assert_eq!(placed_at(&db, 3).await, 0);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM rosters_parts WHERE doc LIKE '%deux%' AND since = 1"
        )
        .await,
        1
    );
    assert_eq!(fresh_read(&db, id).await, edited);

    // Removing one deletes its row.
    let removed = change(&store, id, |r| {
        r.items.remove(0);
    })
    .await;
    assert_eq!(count(&db, "SELECT COUNT(*) FROM rosters_parts").await, 4);
    assert_eq!(fresh_read(&db, id).await, removed);

    // A new element before kept ones, and a reordering, still read back in order.
    let front = change(&store, id, |r| r.items.insert(0, item("k0", "zero"))).await;
    assert_eq!(front.items[0].key, "k0");
    assert_eq!(fresh_read(&db, id).await, front);
    let reversed = change(&store, id, |r| r.items.reverse()).await;
    assert_eq!(fresh_read(&db, id).await, reversed);
    let keys: Vec<_> = reversed.items.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["k4", "k3", "k2", "k0"]);

    // A command that changes nothing writes nothing and keeps the version.
    let version = count(&db, "SELECT version FROM rosters").await;
    change(&store, id, |_| {}).await;
    assert_eq!(count(&db, "SELECT version FROM rosters").await, version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_aggregate_deletes_its_parts() {
    let (_dir, db) = rosters().await;
    let store = store(&db);
    let roster = create(&store, vec![item("k1", "one")]).await;
    store
        .delete(
            Command::new("Delete", crate::new_id(), &(), None),
            roster.id,
            |_, _| Ok(Vec::new()),
            |_, _| (),
        )
        .await
        .unwrap();
    assert_eq!(count(&db, "SELECT COUNT(*) FROM rosters_parts").await, 0);
    assert!(store.get(roster.id).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_stored_whole_are_split_by_the_migration_and_read_back_the_same() {
    let (_dir, db) = rosters().await;
    let roster = Roster {
        id: crate::new_id(),
        name: "old".into(),
        items: vec![item("k2", "two"), item("k1", "one")],
        tags: vec!["x".into(), "y".into()],
    };
    let whole = serde_json::to_string(&roster).unwrap();
    db.execute_unprepared(&format!(
        "INSERT INTO rosters (id, version, doc, updated_at) VALUES ('{}', 3, '{whole}', 0)",
        roster.id
    ))
    .await
    .unwrap();
    let manager = sea_orm_migration::SchemaManager::new(&db);
    let fields = [
        PartsField {
            collection: "items",
            key: "key",
        },
        PartsField {
            collection: "tags",
            key: "unused",
        },
    ];
    // A tag is a string, not an object: it has no key field.
    assert!(split_documents(&manager, "rosters", &fields).await.is_err());
    let fields = &fields[..1];
    let tagless = Roster {
        tags: Vec::new(),
        ..roster.clone()
    };
    db.execute_unprepared(&format!(
        "UPDATE rosters SET doc = '{}'",
        serde_json::to_string(&tagless).unwrap()
    ))
    .await
    .unwrap();
    db.execute_unprepared("DELETE FROM rosters_parts")
        .await
        .unwrap();
    split_documents(&manager, "rosters", fields).await.unwrap();
    split_documents(&manager, "rosters", fields).await.unwrap();
    assert_eq!(count(&db, "SELECT COUNT(*) FROM rosters_parts").await, 2);
    let store = store(&db);
    assert_eq!(fresh_read(&db, roster.id).await, tagless);
    // The keys the migration wrote are the schema's: changing an element updates its row.
    let changed = change(&store, roster.id, |r| r.items[0].text = "deux".into()).await;
    assert_eq!(count(&db, "SELECT COUNT(*) FROM rosters_parts").await, 2);
    assert_eq!(fresh_read(&db, roster.id).await, changed);
}
