//! Reads are served from decoded aggregates only while the database still holds that
//! version: a write by another instance on the same database is seen at once.

use std::sync::Arc;

use saas_proto::identity::v1 as pb;
use saas_tests::{IdentityService, TestDatabase};

#[tokio::test]
async fn a_read_sees_a_write_made_by_another_instance_on_the_same_database() {
    let database = Arc::new(TestDatabase::fresh().await);
    let first = IdentityService::spawn_on(database.clone()).await;
    let second = IdentityService::spawn_on(database).await;
    let mut reader = first.client().await;
    let mut writer = second.client().await;
    let user = reader
        .register_user(pb::RegisterUserRequest {
            request_id: uuid::Uuid::now_v7().to_string(),
            email: "reader@example.com".into(),
            display_name: "Before".into(),
            password: "correct horse battery".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // Read twice so the first instance has the aggregate decoded and cached.
    for _ in 0..2 {
        let read = reader
            .get_user(pb::GetUserRequest {
                id: user.id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(read.display_name, "Before");
    }
    let changed = writer
        .change_display_name(pb::ChangeDisplayNameRequest {
            id: user.id.clone(),
            request_id: uuid::Uuid::now_v7().to_string(),
            etag: user.etag.clone(),
            display_name: "After".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let read = reader
        .get_user(pb::GetUserRequest {
            id: user.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.display_name, "After");
    assert_eq!(read.etag, changed.etag);
}
