//! The Workspace figures: their fixtures, and W0 for an `InviteMember` command.
//!
//! **The fixture** is [`WORKSPACES`] workspaces (fewer with `--quick`) of [`MEMBERS`] members
//! each, made through the real commands: `CreateWorkspace`, then 49 users joining, each
//! through `InviteMember` (by the owner) and `AcceptInvitation` (by the user, a fresh UUIDv7:
//! the service does not look users up), 64 workspaces at a time. Their seat limit is far above
//! anything a run invites ([`SEAT_LIMIT`]), so no invite is ever refused for seats.
//!
//! **P1.workspace** reads them uniformly at random.
//!
//! **P2.workspace** sends `InviteMember` (by the owner, role Member, a fresh email, token and
//! `request_id` each call) into the same workspaces. Worker `i` of `W` only ever writes
//! workspaces `i, i + W, i + 2W, ...` in turn ([`crate::services::spread`]), so no two calls in flight
//! touch one workspace (no version conflicts) and each workspace gets a handful of invites
//! per window. A workspace keeps every pending invitation, so it grows by a part row of
//! about 300 bytes per invite (its head stays the same size); the run logs the sizes. The
//! answer is the invitation and the workspace in its basic view (without its invitations),
//! so its size does not grow with them.
//!
//! **W0** for P2.workspace runs the statements `platform::store::Store::update` runs for an
//! invite, in one transaction, through sqlx alone (members and invitations are rows of
//! their own, see `platform::store::parts`, so the document is the workspace's head):
//!
//! ```sql
//! BEGIN IMMEDIATE;
//! SELECT method, fingerprint, response FROM idempotency WHERE request_id = ?;  -- none
//! SELECT version FROM workspaces WHERE id = ?;
//! UPDATE workspaces SET version = ?, doc = ?, updated_at = ?, due_at = ?, slug = ?
//!   WHERE id = ? AND version = ?;
//! -- workspaces_members rows only for members that changed: an invite changes none
//! INSERT INTO workspaces_parts (aggregate_id, collection, key, since, position, doc)
//!   VALUES (?, 'invitations', ?, ?, ?, ?);  -- the new invitation, the only part it changes
//! INSERT INTO outbox (event_id, aggregate_type, aggregate_id, aggregate_version, event_type,
//!   envelope, occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?);  -- one per event
//! INSERT INTO idempotency (request_id, method, fingerprint, response, created_at)
//!   VALUES (?, ?, ?, ?, ?);
//! COMMIT;
//! ```
//!
//! with the very bytes the service writes: the head, the invitation's row, `due_at`, the event
//! envelope and the encoded `InviteMemberResponse` are made by the domain's
//! `Workspace::invite`, the service's `WorkspaceSchema`, the store's `parts::head` and the
//! service's rendering (checked against `GetWorkspace` before the run), and the fingerprint
//! is bound to the actor as the service binds it. They are worked out **before** the
//! transaction, from an in-memory copy of the workspace (nobody else writes it), as the
//! service's pipeline prepares a command on its cached copy, so the transaction itself holds
//! nothing but the database work; the version read in it is checked against the copy's. Like
//! W0.user it
//! runs at its best: one connection, one transaction at a time, statements prepared once, on
//! a copy (`VACUUM INTO`) of the service's database, call `k` inviting into workspace
//! `k % count`.

use std::{path::Path, sync::Arc};

use kernel_domain::{DomainEvent as _, Email, Version};
use platform::{
    db::sqlite_options,
    rpc::timestamp,
    store::{Command, Schema as _, Stored, outbox::envelope, parts::Collection},
};
use prost::Message as _;
use saas_proto::workspace::v1 as pb;
use sqlx::{SqlitePool, sqlite::SqlitePoolOptions};
use tonic::metadata::AsciiMetadataValue;
use uuid::Uuid;
use workspace_data::WorkspaceSchema;
use workspace_domain::{
    Invitation, InvitationId, InvitationStatus, Member, Role, SubscriptionStanding, UserId,
    Workspace,
};

use crate::{
    BoxError,
    baseline::{copy_database, one_connection},
    drive::{Plan, Sample, drive},
    services::{WorkspaceClient, actor_value, as_actor},
};

/// Members of each fixture workspace.
pub const MEMBERS: usize = 50;
/// Fixture workspaces of a full run.
pub const WORKSPACES: usize = 1_000;
/// The seat limit of the fixture workspaces: pending invitations hold seats, so it is far
/// above the invites any run makes (a workspace gets a few hundred at most).
const SEAT_LIMIT: i32 = 1_000_000;
/// Workspaces made at once while seeding.
const SEEDERS: usize = 64;
const METHOD: &str = "InviteMember";

/// The statements W0 runs, as literals; [`check_schema`] proves they name the service's
/// table, indexed columns and set index.
const SELECT: &str = "SELECT version FROM workspaces WHERE id = ?";
/// The whole document, members and invitations put back in order (what the store's reads
/// select), to load W0's copies.
const SELECT_WHOLE: &str = "SELECT version, json_set(doc, \
     '$.members', json((SELECT json_group_array(json(p.doc) ORDER BY p.since, p.position) \
     FROM workspaces_parts AS p WHERE p.aggregate_id = workspaces.id \
     AND p.collection = 'members')), \
     '$.invitations', json((SELECT json_group_array(json(p.doc) ORDER BY p.since, p.position) \
     FROM workspaces_parts AS p WHERE p.aggregate_id = workspaces.id \
     AND p.collection = 'invitations'))) FROM workspaces WHERE id = ?";
const INSERT_PART: &str = "INSERT INTO workspaces_parts \
     (aggregate_id, collection, key, since, position, doc) VALUES (?, 'invitations', ?, ?, ?, ?)";
const UPDATE: &str = "UPDATE workspaces SET version = ?, doc = ?, updated_at = ?, due_at = ?, \
                      slug = ? WHERE id = ? AND version = ?";
const UNINDEX: &str = "DELETE FROM workspaces_members WHERE value = ? AND aggregate_id = ?";
const INDEX: &str = "INSERT INTO workspaces_members (value, aggregate_id) VALUES (?, ?)";

/// A workspace the invites go to, and its owner (the acting user of the invites).
#[derive(Debug, Clone)]
pub struct InviteTarget {
    /// The workspace id.
    pub id: String,
    /// The owner's user id.
    pub owner: String,
    /// The owner as `x-saas-actor` metadata.
    pub actor: AsciiMetadataValue,
}

/// A fresh opaque token, as the application would mail it.
fn token() -> String {
    Uuid::now_v7().simple().to_string()
}

/// An `InviteMember` of a fresh address as a Member, with a fresh request id and token (the
/// same shape, so the same sizes, in the service run and in W0).
pub fn invite_request(workspace_id: &str) -> pb::InviteMemberRequest {
    pb::InviteMemberRequest {
        id: workspace_id.to_owned(),
        request_id: platform::new_id().to_string(),
        etag: String::new(),
        email: format!("invitee-{}@example.com", Uuid::now_v7().simple()),
        role: pb::Role::Member as i32,
        token: token(),
        invitee_user_id: String::new(),
    }
}

async fn create(
    client: &mut WorkspaceClient,
    slug: String,
    seat_limit: i32,
) -> Result<(pb::Workspace, InviteTarget), BoxError> {
    let owner = platform::new_id().to_string();
    let actor = actor_value(&owner)?;
    let workspace = client
        .create_workspace(as_actor(
            pb::CreateWorkspaceRequest {
                request_id: platform::new_id().to_string(),
                name: format!("Bench {slug}"),
                slug,
                seat_limit,
            },
            &actor,
        ))
        .await?
        .into_inner();
    let target = InviteTarget {
        id: workspace.id.clone(),
        owner,
        actor,
    };
    Ok((workspace, target))
}

/// Makes one fixture workspace of [`MEMBERS`] members through the real commands.
async fn seed_one(client: &mut WorkspaceClient, index: usize) -> Result<InviteTarget, BoxError> {
    let (workspace, owner) = create(client, format!("bench-{index}"), SEAT_LIMIT).await?;
    for i in 1..MEMBERS {
        let request = pb::InviteMemberRequest {
            email: format!("member-{index}-{i}@example.com"),
            ..invite_request(&workspace.id)
        };
        let invited = client
            .invite_member(as_actor(request.clone(), &owner.actor))
            .await?
            .into_inner();
        let invitation = invited
            .invitation
            .ok_or("InviteMember answered no invitation")?;
        let user = actor_value(&platform::new_id().to_string())?;
        client
            .accept_invitation(as_actor(
                pb::AcceptInvitationRequest {
                    id: workspace.id.clone(),
                    request_id: platform::new_id().to_string(),
                    invitation_id: invitation.id,
                    token: request.token,
                    user_email: request.email,
                },
                &user,
            ))
            .await?;
    }
    Ok(owner)
}

/// Makes `count` fixture workspaces of [`MEMBERS`] members, [`SEEDERS`] at a time, and
/// returns them in order; checks the first has its members.
pub async fn seed(client: &WorkspaceClient, count: usize) -> Result<Vec<InviteTarget>, BoxError> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(SEEDERS);
    for _ in 0..SEEDERS.min(count) {
        let mut client = client.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut made = Vec::new();
            loop {
                let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if index >= count {
                    break;
                }
                made.push((index, seed_one(&mut client, index).await?));
            }
            Ok::<_, BoxError>(made)
        }));
    }
    let mut made = Vec::with_capacity(count);
    for task in tasks {
        made.extend(task.await??);
    }
    made.sort_by_key(|(index, _)| *index);
    let targets: Vec<InviteTarget> = made.into_iter().map(|(_, target)| target).collect();
    let mut client = client.clone();
    let first = client
        .get_workspace(pb::GetWorkspaceRequest {
            id: targets.first().map(|t| t.id.clone()).unwrap_or_default(),
            ..Default::default()
        })
        .await?
        .into_inner();
    if first.members.len() != MEMBERS {
        return Err(format!(
            "the fixture workspace has {} members, not {MEMBERS}",
            first.members.len()
        )
        .into());
    }
    Ok(targets)
}

// ----- the service's rendering (`workspace-data`'s `wire` module, which is private) -----

/// A stored workspace as the service renders it: in the full view (as `GetWorkspace`
/// answers) with `invitations`, else in the basic view commands answer.
pub fn render(workspace: &Workspace, version: Version, invitations: bool) -> pb::Workspace {
    let invitations = if invitations {
        workspace
            .invitations()
            .iter()
            .map(render_invitation)
            .collect()
    } else {
        Vec::new()
    };
    pb::Workspace {
        id: workspace.id().to_string(),
        slug: workspace.slug().as_str().to_owned(),
        name: workspace.name().as_str().to_owned(),
        members: workspace.members().iter().map(render_member).collect(),
        invitations,
        seat_limit: count(workspace.seat_limit()),
        seats_in_use: count(workspace.seats_in_use()),
        archived: workspace.is_archived(),
        etag: version.to_etag(),
        create_time: Some(timestamp(workspace.created_at())),
        update_time: Some(timestamp(workspace.updated_at())),
        subscription_standing: match workspace.subscription_standing() {
            SubscriptionStanding::Good => pb::SubscriptionStanding::Good,
            SubscriptionStanding::Lapsed => pb::SubscriptionStanding::Lapsed,
        } as i32,
    }
}

fn count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn render_member(member: &Member) -> pb::Member {
    pb::Member {
        user_id: member.user_id().to_string(),
        role: render_role(member.role()) as i32,
        join_time: Some(timestamp(member.joined_at())),
    }
}

fn render_invitation(invitation: &Invitation) -> pb::Invitation {
    pb::Invitation {
        id: invitation.id().to_string(),
        email: invitation.email().as_str().to_owned(),
        role: render_role(invitation.role()) as i32,
        inviter_id: invitation.invited_by().to_string(),
        expire_time: Some(timestamp(invitation.expires_at())),
        state: match invitation.status() {
            InvitationStatus::Pending => pb::InvitationState::Pending,
            InvitationStatus::Accepted => pb::InvitationState::Accepted,
            InvitationStatus::Revoked => pb::InvitationState::Revoked,
            InvitationStatus::Expired => pb::InvitationState::Expired,
        } as i32,
    }
}

fn render_role(role: Role) -> pb::Role {
    match role {
        Role::Owner => pb::Role::Owner,
        Role::Admin => pb::Role::Admin,
        Role::Member => pb::Role::Member,
    }
}

// ----- W0 -----

/// Fails unless the literal statements name the service's table, columns and set index.
fn check_schema() -> Result<(), BoxError> {
    let columns: Vec<&str> = WorkspaceSchema::COLUMNS.iter().map(|c| c.name).collect();
    if WorkspaceSchema::TABLE != "workspaces"
        || columns != ["slug"]
        || WorkspaceSchema::SET_INDEX != Some("members")
        || WorkspaceSchema::PARTS != ["members", "invitations"]
    {
        return Err(format!(
            "W0's statements are out of date: the schema is {} {columns:?} {:?} {:?}",
            WorkspaceSchema::TABLE,
            WorkspaceSchema::SET_INDEX,
            WorkspaceSchema::PARTS,
        )
        .into());
    }
    Ok(())
}

/// The worker's copy of one of its workspaces, as last written.
struct Replica {
    workspace: Workspace,
    version: i64,
    owner: UserId,
}

/// Everything an invite writes, worked out before the transaction.
struct Invite {
    request_id: String,
    fingerprint: String,
    id: String,
    loaded: i64,
    next: Workspace,
    doc: String,
    /// The new invitation's key, place and JSON.
    part: (String, i64, String),
    due_at: Option<i64>,
    slug: Option<String>,
    gone: Vec<String>,
    new: Vec<String>,
    events: Vec<(&'static str, Vec<u8>)>,
    response: Vec<u8>,
}

fn decide(copy: &Replica) -> Result<Invite, BoxError> {
    let id = copy.workspace.id().to_string();
    let request = invite_request(&id);
    let request_id = Uuid::try_parse(&request.request_id)?;
    let fingerprinted = pb::InviteMemberRequest {
        token: String::new(),
        ..request.clone()
    };
    let fingerprint = Command::new(METHOD, request_id, &fingerprinted, None)
        .by_actor(Some(copy.owner.as_uuid()))
        .idempotency
        .map(|key| key.fingerprint)
        .ok_or("the command has no idempotency key")?;
    let email = Email::parse(&request.email)?;
    let token = platform::rpc::parse_token("token", &request.token)?;
    let invitation_id = InvitationId::from_uuid(platform::new_id());
    let mut next = copy.workspace.clone();
    let events = next.invite(
        copy.owner,
        invitation_id,
        email,
        None,
        Role::Member,
        token,
        chrono::Utc::now(),
    )?;
    let version = copy.version + 1;
    let before = WorkspaceSchema::set_index_values(&copy.workspace);
    let after = WorkspaceSchema::set_index_values(&next);
    let response = pb::InviteMemberResponse {
        workspace: Some(render(&next, Version::new(version as u64), false)),
        invitation: next.invitation(invitation_id).map(render_invitation),
    };
    // Kept as the service keeps it: a zstd frame at this size.
    let response = platform::store::responses::pack(response.encode_to_vec());
    let stored = Stored {
        aggregate: next.clone(),
        version: Version::new(version as u64),
    };
    let part = new_invitation(&copy.workspace, &next)?;
    let now = chrono::Utc::now();
    let events = events
        .iter()
        .map(|event| {
            let id = platform::new_id().to_string();
            let envelope = envelope::<WorkspaceSchema>(&stored, event, id, now);
            (event.event_type(), envelope.encode_to_vec())
        })
        .collect();
    Ok(Invite {
        request_id: request.request_id,
        fingerprint,
        id,
        loaded: copy.version,
        doc: platform::store::parts::head::<WorkspaceSchema>(&next)?,
        part,
        due_at: WorkspaceSchema::due_at(&next).map(|t| t.timestamp_micros()),
        slug: WorkspaceSchema::column_values(&next)
            .into_iter()
            .next()
            .flatten(),
        gone: before
            .iter()
            .filter(|v| !after.contains(v))
            .cloned()
            .collect(),
        new: after
            .iter()
            .filter(|v| !before.contains(v))
            .cloned()
            .collect(),
        next,
        events,
        response,
    })
}

/// The one part an invite changes, the invitation it appends: its key, its index and its
/// JSON. Fails if the invite changed any other member or invitation, which W0 does not write.
fn new_invitation(
    before: &Workspace,
    after: &Workspace,
) -> Result<(String, i64, String), BoxError> {
    let (before, after) = (
        WorkspaceSchema::parts(before),
        WorkspaceSchema::parts(after),
    );
    let [members_before, invitations_before] = before.as_slice() else {
        return Err("a workspace has two collections of parts".into());
    };
    let [members_after, invitations_after] = after.as_slice() else {
        return Err("a workspace has two collections of parts".into());
    };
    let kept = |before: &dyn Collection, after: &dyn Collection, len: usize| {
        before.len() == len && (0..len).all(|i| after.same(i, before.element(i)))
    };
    let appended = invitations_before.len();
    if !kept(
        members_before.as_ref(),
        members_after.as_ref(),
        members_after.len(),
    ) || invitations_after.len() != appended + 1
        || !kept(
            invitations_before.as_ref(),
            invitations_after.as_ref(),
            appended,
        )
    {
        return Err("the invite changed more than its invitation".into());
    }
    Ok((
        invitations_after.key(appended),
        appended as i64,
        invitations_after.json(appended)?,
    ))
}

/// W0.workspace on a copy of the service's database.
pub struct InviteW0 {
    pool: SqlitePool,
    copies: Arc<Vec<std::sync::Mutex<Replica>>>,
}

impl InviteW0 {
    /// A copy at `path` of the service's database at `service_db`, inviting into `targets`.
    /// `expected` is `GetWorkspace` of `targets[0]`: the bench's rendering must match it, or
    /// the response bytes W0 stores would not be the service's.
    pub async fn prepare(
        path: &Path,
        service_db: &Path,
        targets: &[InviteTarget],
        expected: &pb::Workspace,
    ) -> Result<InviteW0, BoxError> {
        check_schema()?;
        copy_database(service_db, path).await?;
        let pool = one_connection(path).await?;
        let mut ordered = Vec::with_capacity(targets.len());
        for target in targets {
            let (version, doc): (i64, String) = sqlx::query_as(SELECT_WHOLE)
                .bind(&target.id)
                .fetch_one(&pool)
                .await?;
            ordered.push(std::sync::Mutex::new(Replica {
                workspace: serde_json::from_str(&doc)?,
                version,
                owner: UserId::from_uuid(Uuid::try_parse(&target.owner)?),
            }));
        }
        if let Some(first) = ordered.first() {
            let copy = first.lock().map_err(|_| "a workspace copy is poisoned")?;
            if render(&copy.workspace, Version::new(copy.version as u64), true) != *expected {
                return Err("the bench renders a Workspace differently from the service".into());
            }
        }
        Ok(InviteW0 {
            pool,
            copies: Arc::new(ordered),
        })
    }

    /// Runs the invites sequentially (`plan.concurrency` is ignored), call `k` inviting into
    /// workspace `k % count`.
    pub async fn run(&self, plan: Plan) -> Result<Sample, BoxError> {
        let pool = self.pool.clone();
        let copies = self.copies.clone();
        let plan = Plan {
            concurrency: 1,
            ..plan
        };
        drive("W0.workspace raw sqlx invite", plan, move |_, sequence| {
            let pool = pool.clone();
            let copies = copies.clone();
            async move {
                let index = (sequence % copies.len().max(1) as u64) as usize;
                let copy = copies.get(index).ok_or("no such workspace")?;
                write(&pool, copy).await.map_err(|e| e.to_string())
            }
        })
        .await
    }

    /// Closes the pool.
    pub async fn close(self) {
        self.pool.close().await;
    }
}

async fn write(pool: &SqlitePool, copy: &std::sync::Mutex<Replica>) -> Result<(), BoxError> {
    let invite = {
        let copy = copy.lock().map_err(|_| "a workspace copy is poisoned")?;
        decide(&copy)?
    };
    let now = chrono::Utc::now().timestamp_micros();
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let seen =
        sqlx::query("SELECT method, fingerprint, response FROM idempotency WHERE request_id = ?")
            .bind(&invite.request_id)
            .fetch_optional(&mut *tx)
            .await?;
    if seen.is_some() {
        return Err("the request id was already used".into());
    }
    let (version,): (i64,) = sqlx::query_as(SELECT)
        .bind(&invite.id)
        .fetch_one(&mut *tx)
        .await?;
    if version != invite.loaded {
        return Err("the workspace changed under its worker".into());
    }
    let updated = sqlx::query(UPDATE)
        .bind(invite.loaded + 1)
        .bind(&invite.doc)
        .bind(now)
        .bind(invite.due_at)
        .bind(&invite.slug)
        .bind(&invite.id)
        .bind(invite.loaded)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if updated != 1 {
        return Err("the version check failed".into());
    }
    for value in &invite.gone {
        sqlx::query(UNINDEX)
            .bind(value)
            .bind(&invite.id)
            .execute(&mut *tx)
            .await?;
    }
    for value in &invite.new {
        sqlx::query(INDEX)
            .bind(value)
            .bind(&invite.id)
            .execute(&mut *tx)
            .await?;
    }
    let (key, position, part) = &invite.part;
    sqlx::query(INSERT_PART)
        .bind(&invite.id)
        .bind(key)
        .bind(invite.loaded + 1)
        .bind(position)
        .bind(part)
        .execute(&mut *tx)
        .await?;
    for (event_type, envelope) in &invite.events {
        sqlx::query(
            "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, aggregate_version, \
             event_type, envelope, occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(platform::new_id().to_string())
        .bind(WorkspaceSchema::AGGREGATE_TYPE)
        .bind(&invite.id)
        .bind(invite.loaded + 1)
        .bind(*event_type)
        .bind(envelope.as_slice())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO idempotency (request_id, method, fingerprint, response, created_at) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&invite.request_id)
    .bind(METHOD)
    .bind(&invite.fingerprint)
    .bind(invite.response.as_slice())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut copy = copy.lock().map_err(|_| "a workspace copy is poisoned")?;
    copy.workspace = invite.next;
    copy.version = invite.loaded + 1;
    Ok(())
}

/// What a database holds after invites, for the log: proof that W0 and the service wrote
/// the same things (average document and response sizes).
pub async fn sizes(path: &Path) -> Result<String, BoxError> {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(sqlite_options(path))
        .await?;
    let docs: (i64, f64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COALESCE(AVG(LENGTH(doc)), 0.0), COALESCE(SUM(version - 1), 0) \
         FROM workspaces WHERE slug LIKE 'bench-%'",
    )
    .fetch_one(&pool)
    .await?;
    let parts: (i64, f64) =
        sqlx::query_as("SELECT COUNT(*), COALESCE(AVG(LENGTH(doc)), 0.0) FROM workspaces_parts")
            .fetch_one(&pool)
            .await?;
    let responses: (i64, f64) = sqlx::query_as(
        "SELECT COUNT(*), COALESCE(AVG(LENGTH(response)), 0.0) FROM idempotency \
         WHERE method = 'InviteMember'",
    )
    .fetch_one(&pool)
    .await?;
    let outbox: (i64, f64) = sqlx::query_as(
        "SELECT COUNT(*), COALESCE(AVG(LENGTH(envelope)), 0.0) FROM outbox \
         WHERE event_type = 'workspace.workspace.invitation_sent'",
    )
    .fetch_one(&pool)
    .await?;
    pool.close().await;
    Ok(format!(
        "{} invites into {} workspaces, document heads {:.0} B on average, {} parts of {:.0} B; \
         {} InviteMember responses of {:.0} B; {} invitation_sent outbox rows of {:.0} B",
        docs.2, docs.0, docs.1, parts.0, parts.1, responses.0, responses.1, outbox.0, outbox.1
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w0_statements_name_the_service_schema() {
        assert!(check_schema().is_ok());
    }

    #[test]
    fn invites_have_the_same_shape_every_time() {
        let a = invite_request("w");
        let b = invite_request("w");
        assert_ne!(a.request_id, b.request_id);
        assert_ne!(a.email, b.email);
        assert_ne!(a.token, b.token);
        assert_eq!(a.encoded_len(), b.encoded_len());
        assert!(Email::parse(&a.email).is_ok());
    }
}
