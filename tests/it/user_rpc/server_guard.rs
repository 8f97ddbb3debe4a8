//! What the server bootstrap adds around the UserService: the service credential, health,
//! reflection (v1 and v1alpha) open without it, and the message size cap.

use std::time::Duration;

use saas_proto::identity::v1::{self as pb, user_service_client::UserServiceClient};
use saas_tests::{IdentityService, SERVICE_TOKEN, user_client};
use tonic::{Code, transport::Channel};

use super::{PASSWORD, get, register, rejected_in, request_id};

const PLATFORM_DOMAIN: &str = "platform.saas";
const USER_SERVICE: &str = "saas.identity.v1.UserService";

async fn channel(service: &IdentityService) -> Channel {
    Channel::from_shared(format!("http://{}", service.addr))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap()
}

#[track_caller]
fn credential_refused<T: std::fmt::Debug>(answer: Result<tonic::Response<T>, tonic::Status>) {
    rejected_in(
        answer,
        Code::Unauthenticated,
        "SERVICE_CREDENTIAL_INVALID",
        PLATFORM_DOMAIN,
    );
}

#[tokio::test]
async fn a_call_without_the_service_credential_is_unauthenticated() {
    let service = IdentityService::spawn().await;
    let mut anonymous = UserServiceClient::new(channel(&service).await);
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    credential_refused(
        anonymous
            .get_user(pb::GetUserRequest {
                id: user.id.clone(),
            })
            .await,
    );
    credential_refused(
        anonymous
            .register_user(pb::RegisterUserRequest {
                request_id: request_id(),
                email: "mallory@example.com".into(),
                display_name: "Mallory".into(),
                password: PASSWORD.into(),
                ..Default::default()
            })
            .await,
    );
    credential_refused(
        anonymous
            .verify_credentials(pb::VerifyCredentialsRequest {
                email: "ada@example.com".into(),
                password: PASSWORD.into(),
            })
            .await,
    );
    // Nothing was registered by the refused call.
    let all = client
        .list_users(pb::ListUsersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .users;
    assert_eq!(all, vec![user]);
}

#[tokio::test]
async fn a_call_with_a_wrong_service_credential_is_unauthenticated() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    let prefix = &SERVICE_TOKEN[..SERVICE_TOKEN.len() - 1];
    let longer = format!("{SERVICE_TOKEN}x");
    for token in ["wrong-token", "", prefix, longer.as_str()] {
        let mut wrong = user_client(service.addr, token).await;
        credential_refused(
            wrong
                .get_user(pb::GetUserRequest {
                    id: user.id.clone(),
                })
                .await,
        );
        credential_refused(
            wrong
                .erase_user(pb::EraseUserRequest {
                    id: user.id.clone(),
                    request_id: request_id(),
                    etag: String::new(),
                })
                .await,
        );
    }
    assert_eq!(get(&mut client, &user.id).await, user);
}

#[tokio::test]
async fn the_token_without_the_bearer_scheme_is_refused() {
    let service = IdentityService::spawn().await;
    let token: tonic::metadata::MetadataValue<_> = SERVICE_TOKEN.parse().unwrap();
    let mut client = UserServiceClient::with_interceptor(
        channel(&service).await,
        move |mut request: tonic::Request<()>| {
            request
                .metadata_mut()
                .insert("authorization", token.clone());
            Ok(request)
        },
    );
    credential_refused(
        client
            .get_user(pb::GetUserRequest {
                id: super::unknown_id(),
            })
            .await,
    );
}

#[tokio::test]
async fn health_reports_serving_without_the_credential() {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    let service = IdentityService::spawn().await;
    let mut health = HealthClient::new(channel(&service).await);
    for name in ["", USER_SERVICE] {
        let answer = health
            .check(HealthCheckRequest {
                service: name.into(),
            })
            .await
            .unwrap_or_else(|e| panic!("health of {name:?}: {e:?}"))
            .into_inner();
        assert_eq!(answer.status, ServingStatus::Serving as i32, "{name:?}");
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "saas.nothing.v1.NoService".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn reflection_v1_lists_the_user_service_without_the_credential() {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let service = IdentityService::spawn().await;
    let mut reflection = ServerReflectionClient::new(channel(&service).await);
    let requests = [
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        },
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                USER_SERVICE.to_owned(),
            )),
        },
    ];
    let mut answers = reflection
        .server_reflection_info(futures::stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let listed = answers.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = listed.message_response else {
        panic!("not a service list: {listed:?}");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.iter().any(|n| n == USER_SERVICE), "{names:?}");
    assert!(
        names.iter().any(|n| n == "grpc.health.v1.Health"),
        "{names:?}"
    );
    let file = answers.message().await.unwrap().unwrap();
    let Some(MessageResponse::FileDescriptorResponse(files)) = file.message_response else {
        panic!("not a file descriptor: {file:?}");
    };
    assert!(!files.file_descriptor_proto.is_empty());
    assert!(
        files
            .file_descriptor_proto
            .iter()
            .any(|f| String::from_utf8_lossy(f).contains("UserService"))
    );
}

#[tokio::test]
async fn reflection_v1alpha_lists_the_user_service_without_the_credential() {
    use tonic_reflection::pb::v1alpha::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let service = IdentityService::spawn().await;
    let mut reflection = ServerReflectionClient::new(channel(&service).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let listed = answers.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = listed.message_response else {
        panic!("not a service list: {listed:?}");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.iter().any(|n| n == USER_SERVICE), "{names:?}");
}

#[tokio::test]
async fn an_oversized_message_is_refused_cleanly_and_the_server_keeps_serving() {
    let service = IdentityService::spawn().await;
    let mut client = service
        .client()
        .await
        .max_encoding_message_size(64 * 1024 * 1024)
        .max_decoding_message_size(64 * 1024 * 1024);
    let huge = "x".repeat(5 * 1024 * 1024);
    let answer = client
        .register_user(pb::RegisterUserRequest {
            request_id: request_id(),
            email: "big@example.com".into(),
            display_name: huge.clone(),
            password: PASSWORD.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(answer.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{:?}: {}",
        answer.code(),
        answer.message()
    );
    let user = register(&mut client, "ada@example.com").await;
    let answer = client
        .change_display_name(pb::ChangeDisplayNameRequest {
            id: user.id.clone(),
            request_id: request_id(),
            etag: String::new(),
            display_name: huge,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(answer.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{:?}: {}",
        answer.code(),
        answer.message()
    );
    // Still serving, on the same connection and on a new one.
    assert_eq!(get(&mut client, &user.id).await, user);
    let mut fresh = service.client().await;
    assert_eq!(get(&mut fresh, &user.id).await, user);
}

#[tokio::test]
async fn a_message_just_under_the_cap_is_decoded_and_judged_on_its_content() {
    let service = IdentityService::spawn().await;
    let mut client = service
        .client()
        .await
        .max_encoding_message_size(64 * 1024 * 1024);
    // 3 MiB is below the 4 MiB cap: decoded, then refused as a too-long name.
    super::invalid(
        client
            .register_user(pb::RegisterUserRequest {
                request_id: request_id(),
                email: "big@example.com".into(),
                display_name: "x".repeat(3 * 1024 * 1024),
                password: PASSWORD.into(),
                ..Default::default()
            })
            .await,
        "INVALID_DISPLAY_NAME",
        &["display_name"],
    );
}
