//! `saas-bench`: measures the performance figures of QUALITY.md and their baselines in one
//! run, and prints one JSON line per figure on stdout (logs go to stderr).
//!
//! - **E0** (baseline of P1): a bare `EchoService` served by the same `GrpcServer` stack
//!   (credential check, load shedding, health, reflection, `TCP_NODELAY`), driven by the same
//!   client (one tonic `Channel` = one HTTP/2 connection, `ServiceCredential` interceptor) at
//!   the same concurrency, echoing a payload whose `EchoResponse` encodes to the size of the
//!   `User` that `GetUser` returns. It runs right before P1.
//! - **P1.user / P1.user.p99**: `GetUser` on the embedded SQLite Identity service (started
//!   in-process as the launcher starts it: default pool, system clock), 64 in flight over one
//!   connection, worker `i` reading user `i`.
//! - **W0** (baseline of P2): the command's statements in one transaction through sqlx alone,
//!   the faster of two ways to keep SQLite writers one at a time; see [`baseline`].
//! - **P2.user**: unconditional `ChangeDisplayName` (no etag, a fresh `request_id` each), 64 in
//!   flight, worker `i` writing user `i` of 64 (W0 uses the same spread).
//! - **E0 again, P1.workspace / P1.workspace.p99**: `GetWorkspace` of a workspace with 50
//!   members on the embedded SQLite Workspace service, 64 in flight over one connection,
//!   against an E0 measured right before it that echoes as much as that `Workspace` encodes
//!   to.
//! - **W0 of invites, P2.workspace**: `InviteMember` (a fresh email and `request_id` each),
//!   64 in flight, against the raw write of an invite; see [`workspace`].
//! - **P3.user** (with `--postgres`): see [`postgres`].
//! - **E0 again, P4.read / P4.read.p50**: `GET /v1/me` through the HTTP edge, the
//!   application service and the Identity data service of the embedded system, 64 in flight
//!   over HTTP/1.1 keep-alive connections, against an E0 measured right before it at 64 in
//!   flight that echoes as many bytes as the answer's body; see [`edge`].
//! - **P5.rss / P5.ready**: the real `saas serve` started on a fresh data directory; see
//!   [`launcher`]. The `saas` binary must be built next to this one
//!   (`cargo build --release --bins`).
//! - **P6.streams / P6.rss_per_stream / P6.delivery_p99**: SSE streams of `GET
//!   /v1/me/feed/stream` held by the real `saas serve` (10,000; 1,000 with `--quick`), the
//!   server's memory growth per stream, and an appended entry's delivery on its stream, p99;
//!   see [`streams`].
//! - **P7.errors / P7.connections**: 1,000 concurrent `GET /v1/me` on a freshly started
//!   embedded system, each on its own connection; see [`edge`].
//! - **E2.relay_latency_p99**: an event's commit to its consumer, p99, through the outbox
//!   relay and the embedded bus, under `ChangeDisplayName` at a fixed 200 per second; see
//!   [`relay`].
//!
//! Exit code 0 whether or not figures meet their targets; non-zero only when the benchmark
//! itself fails.

mod baseline;
mod drive;
mod edge;
mod launcher;
mod postgres;
mod relay;
mod report;
mod services;
mod streams;
mod workspace;

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
    time::Duration,
};

use clap::Parser;
use platform::db::PoolSize;
use prost::Message as _;
use saas_proto::{bench::v1::EchoRequest, identity::v1 as pb, workspace::v1 as wpb};

use crate::{
    drive::{Plan, Sample, drive},
    report::{Figure, Target, Unit},
};

/// Errors that end the run.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Calls in flight for P1 and P2 (and their baselines).
const IN_FLIGHT: usize = 64;
/// Users the commands are spread over (one per worker: no artificial hot spot).
const USERS: usize = 64;
/// SSE streams of P6 (10 workspaces of 1,000 members).
const STREAMS: usize = 10_000;
/// SSE streams of P6 with `--quick`.
const QUICK_STREAMS: usize = 1_000;
/// Requests of P7's burst (the same with `--quick`).
const BURST: usize = 1_000;

#[derive(Debug, Parser)]
#[command(
    name = "saas-bench",
    about = "Measures the performance figures against their baselines"
)]
struct Args {
    /// Measure every figure at a smaller size (2 s windows), within a minute in all.
    #[arg(long)]
    quick: bool,
    /// Also measure P3 on this PostgreSQL server (an admin URL: a database is created and
    /// dropped on it).
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// Override the measured window per figure, in seconds.
    #[arg(long, value_name = "SECONDS")]
    seconds: Option<f64>,
}

impl Args {
    fn plan(&self, concurrency: usize) -> Plan {
        let (warmup, window) = if self.quick {
            (Duration::from_millis(250), Duration::from_secs(2))
        } else {
            (Duration::from_secs(2), Duration::from_secs(10))
        };
        let window = self
            .seconds
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(window, Duration::from_secs_f64);
        Plan {
            concurrency,
            warmup,
            window,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("SAAS_BENCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,saas_bench=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let dir = std::env::temp_dir().join(format!("saas-bench-{}", uuid::Uuid::now_v7()));
    let result = match std::fs::create_dir_all(&dir) {
        Ok(()) => run(&args, &dir).await,
        Err(e) => Err(e.into()),
    };
    std::fs::remove_dir_all(&dir).ok();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("benchmark failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn emit(figure: &mut Figure, quick: bool, n: u64) -> Result<(), BoxError> {
    if quick {
        figure.n.get_or_insert(n);
    } else {
        figure.n = None;
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", figure.json_line())?;
    stdout.flush()?;
    Ok(())
}

/// E0: the echo service on the same server stack, echoing a payload whose `EchoResponse`
/// encodes to `response_len` bytes (the size of the `what` response it is compared with).
async fn echo_baseline(
    label: &str,
    plan: Plan,
    what: &str,
    response_len: usize,
) -> Result<Sample, BoxError> {
    let payload_len = services::echo_payload_len(response_len);
    tracing::info!(
        "{what} answers {response_len} encoded bytes; E0 echoes {payload_len} payload bytes \
         ({} encoded)",
        EchoRequest {
            payload: vec![0; payload_len]
        }
        .encoded_len()
    );
    let echo = services::Served::start(
        platform::server::GrpcServer::new(services::server_config())
            .add_service(services::echo_service()),
    )
    .await?;
    let echo_client = services::echo_client(echo.addr).await?;
    let payload = Arc::new(vec![0x5au8; payload_len]);
    let sample = drive(label, plan, move |_, _| {
        let mut client = echo_client.clone();
        let request = EchoRequest {
            payload: payload.as_ref().clone(),
        };
        async move {
            client
                .echo(request)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await;
    echo.stop().await?;
    sample
}

async fn run(args: &Args, dir: &Path) -> Result<(), BoxError> {
    // P5 needs the launcher's binary: refuse to start without it rather than fail late.
    let saas = launcher::saas_binary()?;
    tracing::info!("P5 starts {}", saas.display());
    let plan = args.plan(IN_FLIGHT);
    tracing::info!(
        "{} in flight, {:.2} s warm-up, {:.1} s window per figure",
        plan.concurrency,
        plan.warmup.as_secs_f64(),
        plan.window.as_secs_f64()
    );

    // The embedded SQLite Identity service with its fixture users.
    let service_db: PathBuf = dir.join("identity.db");
    let (identity, identity_db) = services::start_identity(
        &format!("sqlite://{}", service_db.display()),
        PoolSize::default(),
    )
    .await?;
    let mut client = services::user_client(identity.addr).await?;
    let users = services::register_users(&mut client, USERS).await?;
    let ids: Arc<Vec<String>> = Arc::new(users.iter().map(|u| u.id.clone()).collect());
    let first = client
        .get_user(pb::GetUserRequest {
            id: ids.first().cloned().unwrap_or_default(),
        })
        .await?
        .into_inner();

    // The embedded SQLite Workspace service with its fixtures.
    let workspace_db: PathBuf = dir.join("workspace.db");
    let workspaces = services::WorkspaceServer::start(
        &format!("sqlite://{}", workspace_db.display()),
        PoolSize::default(),
    )
    .await?;
    let mut workspace_client = services::workspace_client(workspaces.served.addr).await?;
    let fifty = workspace::fifty_member_workspace(&mut workspace_client).await?;
    let targets = Arc::new(workspace::invite_targets(&workspace_client, IN_FLIGHT).await?);
    let first_target = workspace_client
        .get_workspace(wpb::GetWorkspaceRequest {
            id: targets.first().map(|t| t.id.clone()).unwrap_or_default(),
        })
        .await?
        .into_inner();
    tracing::info!(
        "fixtures: {} users; a workspace of {} members; {} workspaces to invite into",
        ids.len(),
        fifty.members.len(),
        targets.len()
    );

    // E0, right before P1.
    let e0 = echo_baseline("E0 echo (User-sized)", plan, "GetUser", first.encoded_len()).await?;

    // P1: GetUser.
    let reader = client.clone();
    let read_ids = ids.clone();
    let p1 = drive("P1 GetUser", plan, move |worker, _| {
        let mut client = reader.clone();
        let id = read_ids
            .get(worker % read_ids.len().max(1))
            .cloned()
            .unwrap_or_default();
        async move {
            client
                .get_user(pb::GetUserRequest { id })
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await?;
    emit(
        &mut Figure::ratio(
            "P1.user",
            p1.throughput(),
            Unit::PerSecond,
            e0.throughput(),
            Target::AtLeast(0.5),
        ),
        args.quick,
        p1.calls(),
    )?;
    emit(
        &mut Figure::ratio(
            "P1.user.p99",
            p1.quantile_ms(0.99),
            Unit::Millis,
            e0.quantile_ms(0.99),
            Target::AtMost(3.0),
        ),
        args.quick,
        p1.calls(),
    )?;

    // E0 again at the size of the Workspace, right before P1.workspace.
    let e0 = echo_baseline(
        "E0 echo (Workspace-sized)",
        plan,
        "GetWorkspace",
        fifty.encoded_len(),
    )
    .await?;
    let reader = workspace_client.clone();
    let id = fifty.id.clone();
    let p1 = drive("P1 GetWorkspace", plan, move |_, _| {
        let mut client = reader.clone();
        let request = wpb::GetWorkspaceRequest { id: id.clone() };
        async move {
            client
                .get_workspace(request)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await?;
    emit(
        &mut Figure::ratio(
            "P1.workspace",
            p1.throughput(),
            Unit::PerSecond,
            e0.throughput(),
            Target::AtLeast(0.5),
        ),
        args.quick,
        p1.calls(),
    )?;
    emit(
        &mut Figure::ratio(
            "P1.workspace.p99",
            p1.quantile_ms(0.99),
            Unit::Millis,
            e0.quantile_ms(0.99),
            Target::AtMost(3.0),
        ),
        args.quick,
        p1.calls(),
    )?;

    // W0, then P2 on the same users.
    let w0 = baseline::W0::prepare(dir, &service_db, &users).await?;
    let mut w0_sample = w0.run(plan, baseline::Discipline::SqliteLock).await?;
    let gated = w0.run(plan, baseline::Discipline::WriteGate).await?;
    if gated.throughput() > w0_sample.throughput() {
        w0_sample = gated;
    }
    tracing::info!(
        "W0 wrote {} outbox rows and {} idempotency records",
        w0.count("outbox").await?,
        w0.count("idempotency").await?
    );
    w0.close().await;
    let writer = client.clone();
    let write_ids = ids.clone();
    let p2 = drive("P2 ChangeDisplayName", plan, move |worker, sequence| {
        let mut client = writer.clone();
        let id = write_ids
            .get(worker % write_ids.len().max(1))
            .cloned()
            .unwrap_or_default();
        async move {
            client
                .change_display_name(services::change_display_name(&id, worker, sequence))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await?;
    emit(
        &mut Figure::ratio(
            "P2.user",
            p2.throughput(),
            Unit::PerSecond,
            w0_sample.throughput(),
            Target::AtLeast(0.5),
        ),
        args.quick,
        p2.calls(),
    )?;
    drop(client);
    identity.stop().await?;
    identity_db.close().await?;

    // W0 of invites (each discipline on its own copy of the fixture), then P2.workspace.
    let mut w0_sample: Option<Sample> = None;
    for (discipline, file) in [
        (baseline::Discipline::SqliteLock, "w0-workspace-lock.db"),
        (baseline::Discipline::WriteGate, "w0-workspace-gate.db"),
    ] {
        let path = dir.join(file);
        let w0 =
            workspace::InviteW0::prepare(&path, &workspace_db, &targets, &first_target).await?;
        let sample = w0.run(plan, discipline).await;
        w0.close().await;
        let sample = sample?;
        tracing::info!("{discipline:?}: {}", workspace::sizes(&path).await?);
        if w0_sample
            .as_ref()
            .is_none_or(|best| sample.throughput() > best.throughput())
        {
            w0_sample = Some(sample);
        }
    }
    let w0_sample = w0_sample.ok_or("W0 of invites did not run")?;
    let inviter = workspace_client.clone();
    let invite_targets = targets.clone();
    let p2 = drive("P2 InviteMember", plan, move |worker, sequence| {
        let mut client = inviter.clone();
        let index =
            workspace::invite_target(worker, sequence, workspace::INVITE_WORKSPACES_PER_WORKER);
        let request = invite_targets
            .get(index)
            .map(|target| services::as_actor(workspace::invite_request(&target.id), &target.actor));
        async move {
            let request = request.ok_or("no such workspace")?;
            client
                .invite_member(request)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await?;
    drop(workspace_client);
    workspaces.stop().await?;
    tracing::info!("service: {}", workspace::sizes(&workspace_db).await?);
    emit(
        &mut Figure::ratio(
            "P2.workspace",
            p2.throughput(),
            Unit::PerSecond,
            w0_sample.throughput(),
            Target::AtLeast(0.5),
        ),
        args.quick,
        p2.calls(),
    )?;

    // P3, with a PostgreSQL server.
    if let Some(admin_url) = &args.postgres {
        let mut figure = postgres::p3(admin_url, args.plan(postgres::CLIENTS), dir).await?;
        let n = figure.n.unwrap_or(0);
        emit(&mut figure, args.quick, n)?;
    }

    // E0 at the size of the /v1/me body, right before P4, on the embedded system.
    let system = edge::System::start(dir, "p4").await?;
    let body_len = edge::me_body_len(&system).await?;
    let e0 = echo_baseline("E0 echo (/v1/me-sized)", plan, "GET /v1/me", body_len).await?;
    let (p4, failures) = edge::read_me(&system, plan).await?;
    system.stop().await?;
    let note = (failures > 0).then(|| format!("{failures} requests did not answer 200"));
    let mut figure = Figure::ratio(
        "P4.read",
        p4.throughput(),
        Unit::PerSecond,
        e0.throughput(),
        Target::AtLeast(0.25),
    );
    figure.note = note.clone();
    emit(&mut figure, args.quick, p4.calls())?;
    let mut figure = Figure::ratio(
        "P4.read.p50",
        p4.quantile_ms(0.5),
        Unit::Millis,
        e0.quantile_ms(0.5),
        Target::AtMost(4.0),
    );
    figure.note = note;
    emit(&mut figure, args.quick, p4.calls())?;

    // P5: the real launcher on a fresh data directory.
    let startup = launcher::p5(&dir.join("p5")).await?;
    emit(
        &mut Figure::absolute(
            "P5.rss",
            startup.rss_mib,
            Unit::Mebibytes,
            Target::AtMost(60.0),
        ),
        args.quick,
        1,
    )?;
    emit(
        &mut Figure::absolute(
            "P5.ready",
            startup.ready.as_secs_f64(),
            Unit::Seconds,
            Target::AtMost(2.0),
        ),
        args.quick,
        1,
    )?;

    // P6: SSE streams held by the real launcher on a fresh data directory.
    let streams = if args.quick { QUICK_STREAMS } else { STREAMS };
    for mut figure in streams::p6(&dir.join("p6"), streams).await? {
        emit(&mut figure, args.quick, streams as u64)?;
    }

    // P7: a burst on a freshly started embedded system.
    let system = edge::System::start(dir, "p7").await?;
    let burst = edge::burst(&system, BURST).await;
    system.stop().await?;
    let burst = burst?;
    emit(
        &mut Figure::absolute(
            "P7.errors",
            burst.errors as f64,
            Unit::Errors,
            Target::AtMost(0.0),
        ),
        args.quick,
        burst.requests as u64,
    )?;
    emit(
        &mut Figure::ratio(
            "P7.connections",
            f64::from(burst.peak_connections),
            Unit::Connections,
            f64::from(burst.max_connections),
            Target::AtMost(1.0),
        ),
        args.quick,
        burst.requests as u64,
    )?;

    // E2: commit to consumer through the relay and the embedded bus.
    let mut figure = relay::e2(dir, args.plan(1)).await?;
    let n = figure.n.unwrap_or(0);
    emit(&mut figure, args.quick, n)?;
    Ok(())
}
