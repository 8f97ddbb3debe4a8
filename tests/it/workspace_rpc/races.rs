//! Races (QUALITY.md "Reliability"): concurrent invites and accepts never push a workspace
//! past its seat limit; same-etag commands have exactly one winner; duplicates execute once.
//! The seat and etag races also run against two instances of the service as separate OS
//! processes on one database, so no in-process lock can be what passes them.

use std::{collections::BTreeSet, net::SocketAddr};

use saas_proto::workspace::v1::{self as pb, workspace_service_client::WorkspaceServiceClient};
use saas_tests::{SERVICE_TOKEN, ServerProcess, TestDatabase, WorkspaceClient, as_actor};
use tonic::{Code, Status};

use crate::concurrency::{all_at_once, open_db, outbox_rows, reason, unfinished_idempotency_rows};

use super::{
    accept_request, basic, create, create_owned, create_request, fresh_email, fresh_slug,
    fresh_token, get, invite, invite_request, members_and_pending, rename_request, start, user,
    version,
};

/// A Workspace client of a server at `addr`, with the service credential.
async fn workspace_client(addr: SocketAddr) -> WorkspaceClient {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("valid uri")
        .connect()
        .await
        .expect("connect to the service");
    WorkspaceServiceClient::with_interceptor(
        channel,
        platform::server::ServiceCredential::new(SERVICE_TOKEN).expect("token is header text"),
    )
}

/// Two `saas serve workspace` processes on one database, and a client for each.
async fn two_processes(db: &TestDatabase) -> ([ServerProcess; 2], Vec<WorkspaceClient>) {
    let first = ServerProcess::start("workspace", &db.url).await;
    let second = ServerProcess::start("workspace", &db.url).await;
    assert_ne!(first.pid(), second.pid());
    let clients = vec![
        workspace_client(first.addr).await,
        workspace_client(second.addr).await,
    ];
    ([first, second], clients)
}

/// `(code, reason)` of a status, for readable assertions.
fn outcome(status: &Status) -> (String, String) {
    (format!("{:?}", status.code()), reason(status))
}

/// The set of outcomes that holds only `(code, reason)`.
fn only(code: Code, reason: &str) -> BTreeSet<(String, String)> {
    BTreeSet::from([(format!("{code:?}"), reason.to_owned())])
}

/// Checks a workspace's seats: members plus pending invitations, as counted from the lists
/// and as reported, never above the limit. A command's answer leaves the invitations out (the
/// basic view), so only a read's lists can be counted; an answer's reported seats are checked
/// against its members and the limit.
#[track_caller]
fn within_limit(workspace: &pb::Workspace) {
    let (members, pending) = members_and_pending(workspace);
    let used = i32::try_from(members + pending).unwrap();
    let counted = if workspace.invitations.is_empty() {
        assert!(used <= workspace.seats_in_use, "{workspace:?}");
        workspace.seats_in_use
    } else {
        assert_eq!(used, workspace.seats_in_use, "{workspace:?}");
        used
    };
    assert!(
        counted <= workspace.seat_limit,
        "{members} members + {pending} pending > limit {}",
        workspace.seat_limit
    );
}

const LIMIT: i32 = 10;
/// Invitations already pending when the race starts; they are accepted during it.
const PENDING_BEFORE: usize = 4;
const RACERS: usize = 100;

/// What one racer saw: its invite, and its accept if the invite went through.
type Racer = (
    Result<pb::InviteMemberResponse, Status>,
    Option<Result<pb::Workspace, Status>>,
);

/// The invite/accept race on `clients` (one or two servers): a workspace with a limit of
/// [`LIMIT`], its Owner and [`PENDING_BEFORE`] pending invitations; then, all at once, those
/// invitations are accepted and [`RACERS`] unconditional invites of distinct emails are sent,
/// each accepted as soon as it is made.
async fn seat_race(clients: &[WorkspaceClient]) {
    let mut client = clients[0].clone();
    let owner = user();
    let workspace = create_owned(&mut client, owner, LIMIT).await;
    let mut waiting = Vec::new();
    for _ in 0..PENDING_BEFORE {
        let (email, token) = (fresh_email(), fresh_token());
        let (invitation, _) = invite(
            &mut client,
            owner,
            &workspace.id,
            &email,
            pb::Role::Member,
            &token,
        )
        .await;
        waiting.push((invitation.id, token, email));
    }

    let accepts = all_at_once(PENDING_BEFORE, |i| {
        let mut client = clients[i % clients.len()].clone();
        let (invitation, token, email) = waiting[i].clone();
        let request = accept_request(&workspace.id, &invitation, &token, &email);
        async move {
            client
                .accept_invitation(as_actor(user(), request))
                .await
                .map(tonic::Response::into_inner)
        }
    });
    let invites = all_at_once(RACERS, |i| {
        let mut client = clients[i % clients.len()].clone();
        let (email, token) = (fresh_email(), fresh_token());
        let id = workspace.id.clone();
        async move {
            let invited = client
                .invite_member(as_actor(
                    owner,
                    invite_request(&id, &email, pb::Role::Member, &token),
                ))
                .await
                .map(tonic::Response::into_inner);
            let accepted = match &invited {
                Ok(response) => {
                    let invitation = response.invitation.as_ref().expect("invitation");
                    Some(
                        client
                            .accept_invitation(as_actor(
                                user(),
                                accept_request(&id, &invitation.id, &token, &email),
                            ))
                            .await
                            .map(tonic::Response::into_inner),
                    )
                }
                Err(_) => None,
            };
            (invited, accepted)
        }
    });
    let (accepts, racers): (Vec<_>, Vec<Racer>) = tokio::join!(accepts, invites);

    for accepted in &accepts {
        match accepted {
            Ok(workspace) => within_limit(workspace),
            Err(status) => panic!("accepting a pending invitation failed: {status:?}"),
        }
    }
    let mut refusals = BTreeSet::new();
    let mut invited = 0;
    for (invite, accept) in &racers {
        match invite {
            Ok(response) => {
                invited += 1;
                within_limit(response.workspace.as_ref().unwrap());
                match accept.as_ref().unwrap() {
                    Ok(workspace) => within_limit(workspace),
                    Err(status) => panic!("accepting a new invitation failed: {status:?}"),
                }
            }
            Err(status) => {
                refusals.insert(outcome(status));
            }
        }
    }
    let free = usize::try_from(LIMIT).unwrap() - 1 - PENDING_BEFORE;
    assert_eq!(
        invited, free,
        "exactly the free seats are invited into; refusals: {refusals:?}"
    );
    assert_eq!(
        refusals,
        only(Code::FailedPrecondition, "SEAT_LIMIT_REACHED"),
        "every refused invite is refused for the seat limit"
    );

    let after = get(&mut client, &workspace.id).await;
    within_limit(&after);
    assert_eq!(
        members_and_pending(&after),
        (usize::try_from(LIMIT).unwrap(), 0),
        "every invitation made was accepted: the workspace is exactly full"
    );
    let distinct: BTreeSet<_> = after.members.iter().map(|m| m.user_id.clone()).collect();
    assert_eq!(distinct.len(), after.members.len(), "a member at most once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_invites_and_accepts_never_pass_the_seat_limit() {
    let (_services, client) = start().await;
    seat_race(&[client]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_invites_and_accepts_across_two_processes_never_pass_the_seat_limit() {
    let db = TestDatabase::fresh().await;
    let (_servers, clients) = two_processes(&db).await;
    seat_race(&clients).await;
    let conn = open_db(&db).await;
    assert_eq!(unfinished_idempotency_rows(&conn).await, 0);
}

/// 100 renames of one workspace with the etag it has now, at once on `clients`: exactly one
/// wins, every other is `ABORTED` / `ETAG_MISMATCH`, and only the winner left a trace.
async fn same_etag_race(clients: &[WorkspaceClient], db: &TestDatabase) {
    let mut client = clients[0].clone();
    let (owner, workspace) = create(&mut client).await;
    let results = all_at_once(100, |i| {
        let mut client = clients[i % clients.len()].clone();
        let request = rename_request(&workspace.id, &workspace.etag, &format!("Name {i}"));
        async move {
            client
                .rename_workspace(as_actor(owner, request))
                .await
                .map(tonic::Response::into_inner)
        }
    })
    .await;

    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let losers: BTreeSet<_> = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(outcome)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one winner; losers: {losers:?}");
    assert_eq!(losers, only(Code::Aborted, "ETAG_MISMATCH"));
    assert_eq!(version(&winners[0].etag), version(&workspace.etag) + 1);
    for client in clients {
        assert_eq!(&get(&mut client.clone(), &workspace.id).await, winners[0]);
    }
    let conn = open_db(db).await;
    assert_eq!(
        outbox_rows(&conn, &workspace.id, Some("workspace.workspace.renamed")).await,
        1,
        "refused renames leave no event"
    );
    assert_eq!(unfinished_idempotency_rows(&conn).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_renames_with_the_same_etag_have_exactly_one_winner() {
    let (services, client) = start().await;
    same_etag_race(&[client], &services.databases[1]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_etag_renames_across_two_processes_have_exactly_one_winner() {
    let db = TestDatabase::fresh().await;
    let (_servers, clients) = two_processes(&db).await;
    same_etag_race(&clients, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_duplicate_invitations_at_once_make_one_invitation() {
    let db = TestDatabase::fresh().await;
    let (_servers, clients) = two_processes(&db).await;
    let (owner, workspace) = create(&mut clients[0].clone()).await;
    let request = invite_request(
        &workspace.id,
        &fresh_email(),
        pb::Role::Member,
        &fresh_token(),
    );
    let results = all_at_once(50, |i| {
        let mut client = clients[i % 2].clone();
        let request = request.clone();
        async move {
            client
                .invite_member(as_actor(owner, request))
                .await
                .map(tonic::Response::into_inner)
        }
    })
    .await;
    let first = results[0].clone().expect("a duplicate failed");
    for result in &results {
        assert_eq!(
            result.as_ref().expect("a duplicate failed"),
            &first,
            "every duplicate gets the original response"
        );
    }
    let after = get(&mut clients[1].clone(), &workspace.id).await;
    assert_eq!(after.invitations.len(), 1, "executed once");
    assert_eq!(version(&after.etag), version(&workspace.etag) + 1);
    let conn = open_db(&db).await;
    assert_eq!(
        outbox_rows(
            &conn,
            &workspace.id,
            Some("workspace.workspace.invitation_sent")
        )
        .await,
        1
    );
    assert_eq!(unfinished_idempotency_rows(&conn).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_slug_make_one_workspace() {
    let (_services, client) = start().await;
    let slug = fresh_slug();
    let results = all_at_once(20, |_| {
        let mut client = client.clone();
        let request = create_request(&slug, "Race", 5);
        async move {
            client
                .create_workspace(as_actor(user(), request))
                .await
                .map(tonic::Response::into_inner)
        }
    })
    .await;
    let created: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let refused: BTreeSet<_> = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(outcome)
        .collect();
    assert_eq!(
        created.len(),
        1,
        "one workspace per slug; refused: {refused:?}"
    );
    assert_eq!(refused, only(Code::AlreadyExists, "SLUG_TAKEN"));
    let found = client
        .clone()
        .lookup_workspace(pb::LookupWorkspaceRequest {
            slug,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(&found, created[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_invitation_accepted_by_many_at_once_admits_one() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (email, token) = (fresh_email(), fresh_token());
    let (invitation, _) = invite(
        &mut client,
        owner,
        &workspace.id,
        &email,
        pb::Role::Member,
        &token,
    )
    .await;
    let results = all_at_once(20, |_| {
        let mut client = client.clone();
        let request = accept_request(&workspace.id, &invitation.id, &token, &email);
        async move {
            client
                .accept_invitation(as_actor(user(), request))
                .await
                .map(tonic::Response::into_inner)
        }
    })
    .await;
    let admitted: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let refused: BTreeSet<_> = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(outcome)
        .collect();
    assert_eq!(admitted.len(), 1, "refused: {refused:?}");
    assert_eq!(
        refused,
        only(Code::FailedPrecondition, "INVITATION_NOT_PENDING")
    );
    let after = get(&mut client, &workspace.id).await;
    assert_eq!(&basic(after.clone()), admitted[0]);
    assert_eq!(members_and_pending(&after), (2, 0));
}

/// 100 renames without an etag at once on `clients`. A command without an etag is
/// unconditional: the pipeline re-runs it when it loses the version race, so every one
/// succeeds, each on its own version, and the workspace moves on by exactly 100.
async fn unconditional_race(clients: &[WorkspaceClient], db: &TestDatabase) {
    let mut client = clients[0].clone();
    let (owner, workspace) = create(&mut client).await;
    let results = all_at_once(100, |i| {
        let mut client = clients[i % clients.len()].clone();
        let request = rename_request(&workspace.id, "", &format!("Name {i}"));
        async move {
            client
                .rename_workspace(as_actor(owner, request))
                .await
                .map(tonic::Response::into_inner)
        }
    })
    .await;
    let refused: Vec<_> = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(outcome)
        .collect();
    assert!(
        refused.is_empty(),
        "{} of 100 unconditional renames were refused: {:?}",
        refused.len(),
        refused.iter().collect::<BTreeSet<_>>()
    );
    let versions: BTreeSet<u64> = results
        .iter()
        .map(|r| version(&r.as_ref().unwrap().etag))
        .collect();
    let first = version(&workspace.etag);
    assert_eq!(versions, (first + 1..=first + 100).collect::<BTreeSet<_>>());
    let after = get(&mut client, &workspace.id).await;
    assert_eq!(version(&after.etag), first + 100, "no update lost");
    let conn = open_db(db).await;
    assert_eq!(
        outbox_rows(&conn, &workspace.id, Some("workspace.workspace.renamed")).await,
        100
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unconditional_renames_at_once_all_succeed() {
    let (services, client) = start().await;
    unconditional_race(&[client], &services.databases[1]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unconditional_renames_at_once_across_two_processes_all_succeed() {
    let db = TestDatabase::fresh().await;
    let (_servers, clients) = two_processes(&db).await;
    unconditional_race(&clients, &db).await;
}
