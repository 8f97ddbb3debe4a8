//! Members and invitations are rows of their own (`workspaces_parts`): a command writes the
//! ones it changed, and reads put every one back in order, on the harness database.

use saas_proto::workspace::v1 as pb;
use saas_tests::as_actor;
use sea_orm::Value;

use crate::concurrency::{count, open_db};

use super::{
    accept_request, basic, create, fresh_email, fresh_token, get, invite, join, start, user,
    version,
};

/// How many part rows of `workspace` the command that saved `version` placed.
async fn placed_at(db: &sea_orm::DatabaseConnection, workspace: &str, version: u64) -> i64 {
    count(
        db,
        "SELECT COUNT(*) FROM workspaces_parts WHERE aggregate_id = $1 AND since = $2",
        vec![Value::from(workspace), Value::from(version as i64)],
    )
    .await
}

#[tokio::test]
async fn an_invite_writes_its_invitation_and_leaves_every_other_member_and_invitation_alone() {
    let (services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    for _ in 0..3 {
        join(&mut client, &workspace.id, owner, pb::Role::Member).await;
    }
    let db = open_db(&services.databases[1]).await;
    let rows = |collection: &'static str| {
        let db = db.clone();
        let id = workspace.id.clone();
        async move {
            count(
                &db,
                "SELECT COUNT(*) FROM workspaces_parts WHERE aggregate_id = $1 AND collection = $2",
                vec![Value::from(id), Value::from(collection)],
            )
            .await
        }
    };
    assert_eq!(rows("members").await, 4);
    assert_eq!(rows("invitations").await, 3);

    let (email, token) = (fresh_email(), fresh_token());
    let (invitation, invited) = invite(
        &mut client,
        owner,
        &workspace.id,
        &email,
        pb::Role::Admin,
        &token,
    )
    .await;
    let saved_at = version(&invited.etag);
    assert_eq!(
        placed_at(&db, &workspace.id, saved_at).await,
        1,
        "an invite places one row"
    );
    assert_eq!(rows("invitations").await, 4);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM workspaces WHERE doc LIKE $1",
            vec![Value::from(format!("%{}%", invitation.id))],
        )
        .await,
        0,
        "the document row keeps no invitation"
    );

    // Accepting changes that invitation's row in place and adds one member.
    let member = user();
    let joined = client
        .accept_invitation(as_actor(
            member,
            accept_request(&workspace.id, &invitation.id, &token, &email),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        placed_at(&db, &workspace.id, version(&joined.etag)).await,
        1,
        "only the new member is placed; the invitation keeps its place"
    );
    assert_eq!((rows("members").await, rows("invitations").await), (5, 4));

    // Every read, from any replica, puts them back in the order they came.
    let read = get(&mut client, &workspace.id).await;
    assert_eq!(basic(read.clone()), joined);
    let invited_order: Vec<&str> = read.invitations.iter().map(|i| i.email.as_str()).collect();
    assert_eq!(invited_order.last(), Some(&email.as_str()));
    assert_eq!(
        read.members.last().map(|m| m.user_id.clone()),
        Some(member.to_string())
    );
    assert_eq!(
        read.members.first().map(|m| m.user_id.clone()),
        Some(owner.to_string())
    );
}
