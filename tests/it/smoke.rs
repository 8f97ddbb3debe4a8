use saas_proto::identity::v1 as pb;
use saas_tests::IdentityService;

#[tokio::test]
async fn register_then_get() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = client
        .register_user(pb::RegisterUserRequest {
            request_id: uuid::Uuid::now_v7().to_string(),
            email: " Ada@Example.com ".into(),
            display_name: "Ada".into(),
            password: "correct horse battery".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(user.email, "ada@example.com");
    let got = client
        .get_user(pb::GetUserRequest {
            id: user.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, user);
}
