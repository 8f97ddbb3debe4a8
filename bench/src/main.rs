//! `saas-bench`: measures the performance figures of QUALITY.md and their baselines in one
//! run, and prints one JSON line per figure on stdout (logs go to stderr). Every id of
//! QUALITY.md is printed, with `"skipped": "<why>"` where a figure cannot run here.
//!
//! - **R0 / R0.reference**: the SQLite engine's best single-row write through rusqlite, and
//!   the same loop in Python's `sqlite3`; see [`engine`]. R0 is P2's baseline.
//! - **Fixtures**: 10,000 users registered through `RegisterUser` on the embedded SQLite
//!   Identity service (started in-process as the launcher starts it: default pool, system
//!   clock, cheap password hashing), and 1,000 workspaces of 50 members made through the
//!   Workspace commands ([`workspace`]); `--quick` makes a tenth of each. Reads draw their
//!   aggregate uniformly at random; commands are spread so that no two in flight touch one
//!   aggregate and none is refused. Only OK answers count, and any failed call fails the
//!   figure (`"errors"`).
//! - **E0** (baseline of P1 and P4): a bare `EchoService` served by the same `GrpcServer`
//!   stack (credential check, load shedding, health, reflection, `TCP_NODELAY`), driven by the
//!   same client (one tonic `Channel` = one HTTP/2 connection, `ServiceCredential`
//!   interceptor) at the same concurrency, echoing a payload whose `EchoResponse` encodes to
//!   the size of the response it is compared with. It runs right before each figure.
//! - **P1.user / P1.user.p99**: `GetUser`, 64 in flight over one connection. P1 and its E0
//!   take their answers undecoded ([`services::RawCaller`]), checking one per worker.
//! - **W0.user** (information): the command's statements at their best; see [`baseline`].
//! - **P2.user / P2.user.p99**: unconditional `ChangeDisplayName` (no etag, a fresh
//!   `request_id` each), 64 in flight, against R0.
//! - **P1.workspace / P1.workspace.p99**: `GetWorkspace` of the 50-member workspaces.
//! - **W0.workspace, P2.workspace / P2.workspace.p99**: `InviteMember`, 64 in flight, into
//!   the same workspaces, against R0; see [`workspace`].
//! - **P3.user** (with `--postgres`): see [`postgres`].
//! - **P4.read / P4.read.p50**: `GET /v1/me` through the HTTP edge, the application service
//!   and the Identity data service of the embedded system, as users drawn from the fixture's;
//!   see [`edge`].
//! - **P5.rss / P5.ready**: the real `saas serve` started on a fresh data directory; see
//!   [`launcher`]. The `saas` binary must be built next to this one
//!   (`cargo build --release --bins`).
//! - **P6.streams / P6.rss_per_stream / P6.delivery_p99**: SSE streams held by the real
//!   `saas serve`; see [`streams`].
//! - **P7.errors / P7.connections**: 1,000 concurrent `GET /v1/me` on a freshly started
//!   embedded system, each on its own connection; see [`edge`].
//! - **E2.relay_latency_p99**: an event's commit to its consumer, p99; see [`relay`].
//! - **P8.*** (with `--postgres` and `--nats`, and `etcd` on PATH): the replicated split
//!   topology under faults; see [`replicas`].
//! - **C1.read / C1.command** (with `--callgrind`): instructions per call on the server under
//!   callgrind; see [`callgrind`].
//!
//! Exit code 0 whether or not figures meet their targets; non-zero only when the benchmark
//! itself fails.

mod baseline;
mod callgrind;
mod drive;
mod edge;
mod engine;
mod launcher;
mod postgres;
mod relay;
mod replicas;
mod report;
mod services;
mod streams;
mod workspace;

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Parser;
use platform::db::PoolSize;
use prost::Message as _;
use saas_proto::{
    bench::v1::{EchoRequest, EchoResponse},
    identity::v1 as pb,
    workspace::v1 as wpb,
};

use crate::{
    drive::{Plan, Sample, drive},
    report::{Figure, Target, Unit},
};

/// Errors that end the run.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Calls in flight for P1 and P2 (and E0).
const IN_FLIGHT: usize = 64;
/// Fixture users of a full run (reads spread over them, commands too).
const USERS: usize = 10_000;
/// SSE streams of P6 (10 workspaces of 1,000 members).
const STREAMS: usize = 10_000;
/// SSE streams of P6 with `--quick`.
const QUICK_STREAMS: usize = 1_000;
/// Requests of P7's burst (the same with `--quick`).
const BURST: usize = 1_000;
/// `--quick` makes this fraction of the fixtures.
const QUICK_DIVISOR: usize = 10;
/// pgbench's `-T` with `--quick`.
const QUICK_PGBENCH_SECONDS: u64 = 5;
/// The methods the measured phases call through [`services::RawCaller`].
const ECHO_PATH: &str = "/saas.bench.v1.EchoService/Echo";
const GET_USER_PATH: &str = "/saas.identity.v1.UserService/GetUser";
const CHANGE_DISPLAY_NAME_PATH: &str = "/saas.identity.v1.UserService/ChangeDisplayName";
const GET_WORKSPACE_PATH: &str = "/saas.workspace.v1.WorkspaceService/GetWorkspace";
const INVITE_MEMBER_PATH: &str = "/saas.workspace.v1.WorkspaceService/InviteMember";

#[derive(Debug, Parser)]
#[command(
    name = "saas-bench",
    about = "Measures the performance figures against their baselines"
)]
struct Args {
    /// Measure every figure at a smaller size (2 s windows, a tenth of the fixtures, 5 s of
    /// pgbench), within 120 seconds in all.
    #[arg(long)]
    quick: bool,
    /// Also measure P3 on this PostgreSQL server (an admin URL: a database is created and
    /// dropped on it).
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// Also measure P8 (the replicated split topology under faults) with this NATS server,
    /// given --postgres and an `etcd` binary on PATH.
    #[arg(long, value_name = "URL")]
    nats: Option<String>,
    /// Also measure C1 (instructions per call) with valgrind's callgrind.
    #[arg(long)]
    callgrind: bool,
    /// Measure only C1 (implies --callgrind): the user fixture, then the server under
    /// callgrind; the other figures are not printed.
    #[arg(long)]
    c1_only: bool,
    /// Keep callgrind's dumps in this folder (for `callgrind_annotate`).
    #[arg(long, value_name = "DIR")]
    callgrind_out: Option<PathBuf>,
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

    /// A fixture size: `full`, or a tenth of it with `--quick`.
    fn size(&self, full: usize) -> usize {
        if self.quick {
            (full / QUICK_DIVISOR).max(1)
        } else {
            full
        }
    }
}

/// The launcher's allocator, since the benchmark hosts the servers it measures in process.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    let began = Instant::now();
    let result = match std::fs::create_dir_all(&dir) {
        Ok(()) => run(&args, &dir).await,
        Err(e) => Err(e.into()),
    };
    std::fs::remove_dir_all(&dir).ok();
    tracing::info!("the run took {:.0} s", began.elapsed().as_secs_f64());
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
    let echo_client = services::RawCaller::connect(echo.addr, ECHO_PATH).await?;
    let payload = Arc::new(vec![0x5au8; payload_len]);
    let sample = drive(label, plan, move |_, sequence| {
        let mut client = echo_client.clone();
        let request = EchoRequest {
            payload: payload.as_ref().clone(),
        };
        let expected = (sequence == 0).then(|| payload.clone());
        async move {
            let answer = client.call(request).await.map_err(|e| e.to_string())?;
            match expected {
                Some(payload) => services::check_first_answer(&answer, |echoed: &EchoResponse| {
                    echoed.payload == *payload
                }),
                None => Ok(()),
            }
        }
    })
    .await;
    echo.stop().await?;
    let sample = sample?;
    if sample.errors > 0 {
        return Err(format!("{label}: {} echo calls failed", sample.errors).into());
    }
    Ok(sample)
}

/// The throughput and p99 lines of a read figure (against E0's throughput and p99).
fn read_figures(
    ids: (&'static str, &'static str),
    sample: &Sample,
    e0: &Sample,
    targets: (f64, f64),
) -> [Figure; 2] {
    [
        Figure::ratio(
            ids.0,
            sample.throughput(),
            Unit::PerSecond,
            e0.throughput(),
            Target::AtLeast(targets.0),
        )
        .with_errors(sample.errors),
        Figure::ratio(
            ids.1,
            sample.quantile_ms(0.99),
            Unit::Millis,
            e0.quantile_ms(0.99),
            Target::AtMost(targets.1),
        )
        .with_errors(sample.errors),
    ]
}

/// The throughput (against R0) and p99 (at most 20 ms) lines of a command figure.
fn command_figures(
    ids: (&'static str, &'static str),
    sample: &Sample,
    r0: f64,
    target: f64,
) -> [Figure; 2] {
    [
        Figure::ratio(
            ids.0,
            sample.throughput(),
            Unit::PerSecond,
            r0,
            Target::AtLeast(target),
        )
        .with_errors(sample.errors),
        Figure::absolute(
            ids.1,
            sample.quantile_ms(0.99),
            Unit::Millis,
            Target::AtMost(20.0),
        )
        .with_errors(sample.errors),
    ]
}

fn w0_figure(id: &'static str, sample: &Sample) -> Figure {
    Figure::info(id, sample.throughput(), Unit::PerSecond, None).with_errors(sample.errors)
}

/// C1's lines (skipped without `--callgrind` or valgrind) on the Identity database `db`
/// holding `users`.
async fn c1(args: &Args, db: &Path, users: &[pb::User]) -> Result<(), BoxError> {
    let figures = if !args.callgrind && !args.c1_only {
        callgrind::skipped("needs --callgrind")
    } else if let Err(why) = callgrind::available() {
        callgrind::skipped(&why)
    } else {
        let out = args
            .callgrind_out
            .clone()
            .unwrap_or_else(|| db.with_extension("callgrind"));
        let lengths = if args.quick {
            callgrind::Lengths::QUICK
        } else {
            callgrind::Lengths::FULL
        };
        match callgrind::c1(db, users, &out, lengths).await {
            Ok(figures) => figures,
            Err(e) => {
                tracing::error!("C1 could not run: {e}");
                callgrind::skipped(&format!("callgrind could not run: {e}"))
            }
        }
    };
    for mut figure in figures {
        let n = figure.n.unwrap_or(0);
        emit(&mut figure, args.quick, n)?;
    }
    Ok(())
}

/// `--c1-only`: the user fixture on the in-process Identity service, then C1.
async fn c1_only(args: &Args, dir: &Path) -> Result<(), BoxError> {
    let service_db = dir.join("identity.db");
    let (identity, identity_db) = services::start_identity(
        &format!("sqlite://{}", service_db.display()),
        PoolSize::default(),
    )
    .await?;
    let client = services::user_client(identity.addr).await?;
    let users = services::register_users(&client, args.size(USERS)).await;
    drop(client);
    identity.stop().await?;
    identity_db.close().await?;
    c1(args, &service_db, &users?).await
}

async fn run(args: &Args, dir: &Path) -> Result<(), BoxError> {
    if args.c1_only {
        return c1_only(args, dir).await;
    }
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
    let quick = args.quick;

    // R0 and its reference, first, on fresh files.
    let r0 = engine::r0(&dir.join("r0.db"), plan).await?;
    let reference = engine::reference(&dir.join("r0-reference.db"), plan).await;
    let mut r0_figure = match &reference {
        Ok(reference) => Figure::ratio(
            "R0",
            r0.per_second(),
            Unit::Transactions,
            reference.per_second(),
            Target::AtLeast(1.0),
        ),
        Err(why) => Figure::skipped("R0", Unit::Transactions, Some(Target::AtLeast(1.0)), why),
    };
    if reference.is_err() {
        // R0 itself ran: print its value, with no reference to judge it by.
        r0_figure.value = r0.per_second();
    }
    emit(&mut r0_figure, quick, r0.transactions)?;
    let mut reference_figure = match &reference {
        Ok(reference) => Figure::info(
            "R0.reference",
            reference.per_second(),
            Unit::Transactions,
            None,
        ),
        Err(why) => Figure::skipped("R0.reference", Unit::Transactions, None, why),
    };
    let reference_n = reference.as_ref().map_or(0, |r| r.transactions);
    emit(&mut reference_figure, quick, reference_n)?;
    let r0 = r0.per_second();

    // The embedded SQLite Identity service with its fixture users.
    let service_db: PathBuf = dir.join("identity.db");
    let (identity, identity_db) = services::start_identity(
        &format!("sqlite://{}", service_db.display()),
        PoolSize::default(),
    )
    .await?;
    let mut client = services::user_client(identity.addr).await?;
    let seeding = Instant::now();
    let users = services::register_users(&client, args.size(USERS)).await?;
    tracing::info!(
        "fixture: {} users registered in {:.1} s",
        users.len(),
        seeding.elapsed().as_secs_f64()
    );
    let ids: Arc<Vec<String>> = Arc::new(users.iter().map(|u| u.id.clone()).collect());
    let first = client
        .get_user(pb::GetUserRequest {
            id: ids.first().cloned().unwrap_or_default(),
        })
        .await?
        .into_inner();

    // E0, right before P1.user.
    let e0 = echo_baseline("E0 echo (User-sized)", plan, "GetUser", first.encoded_len()).await?;
    let reader = services::RawCaller::connect(identity.addr, GET_USER_PATH).await?;
    let read_ids = ids.clone();
    let p1 = drive("P1 GetUser", plan, move |_, sequence| {
        let mut client = reader.clone();
        let id = read_ids
            .get(services::uniform(read_ids.len()))
            .cloned()
            .unwrap_or_default();
        async move {
            let asked = pb::GetUserRequest { id: id.clone() };
            let answer = client.call(asked).await.map_err(|e| e.to_string())?;
            if sequence == 0 {
                services::check_first_answer(&answer, |user: &pb::User| user.id == id)?;
            }
            Ok(())
        }
    })
    .await?;
    for mut figure in read_figures(("P1.user", "P1.user.p99"), &p1, &e0, (0.7, 2.0)) {
        emit(&mut figure, quick, p1.calls())?;
    }

    // W0.user, then P2.user on the same users.
    let w0 = baseline::W0::prepare(dir, &service_db, &users).await?;
    let w0_sample = w0.run(plan).await;
    tracing::info!(
        "W0.user wrote {} outbox rows and {} idempotency records in all",
        w0.count("outbox").await?,
        w0.count("idempotency").await?
    );
    w0.close().await;
    let w0_sample = w0_sample?;
    emit(
        &mut w0_figure("W0.user", &w0_sample),
        quick,
        w0_sample.calls(),
    )?;
    let writer = services::RawCaller::connect(identity.addr, CHANGE_DISPLAY_NAME_PATH).await?;
    let write_ids = ids.clone();
    let p2 = drive("P2 ChangeDisplayName", plan, move |worker, sequence| {
        let mut client = writer.clone();
        let index = services::spread(worker, sequence, IN_FLIGHT, write_ids.len());
        let id = write_ids.get(index).cloned().unwrap_or_default();
        async move {
            let asked = services::change_display_name(&id, worker, sequence);
            let name = asked.display_name.clone();
            let answer = client.call(asked).await.map_err(|e| e.to_string())?;
            if sequence == 0 {
                services::check_first_answer(&answer, |user: &pb::User| {
                    user.id == id && user.display_name == name
                })?;
            }
            Ok(())
        }
    })
    .await?;
    for mut figure in command_figures(("P2.user", "P2.user.p99"), &p2, r0, 0.12) {
        emit(&mut figure, quick, p2.calls())?;
    }
    drop(client);
    identity.stop().await?;
    identity_db.close().await?;
    // C1 runs last on a copy of this database; keep the fixture's file as it is now.
    let c1_db = dir.join("c1-identity.db");
    baseline::copy_database(&service_db, &c1_db).await?;

    // The embedded SQLite Workspace service with its fixtures.
    let workspace_db: PathBuf = dir.join("workspace.db");
    let workspaces = services::WorkspaceServer::start(
        &format!("sqlite://{}", workspace_db.display()),
        PoolSize::default(),
    )
    .await?;
    let mut workspace_client = services::workspace_client(workspaces.served.addr).await?;
    let seeding = Instant::now();
    let targets =
        Arc::new(workspace::seed(&workspace_client, args.size(workspace::WORKSPACES)).await?);
    tracing::info!(
        "fixture: {} workspaces of {} members made in {:.1} s",
        targets.len(),
        workspace::MEMBERS,
        seeding.elapsed().as_secs_f64()
    );
    let first = workspace_client
        .get_workspace(wpb::GetWorkspaceRequest {
            id: targets.first().map(|t| t.id.clone()).unwrap_or_default(),
            ..Default::default()
        })
        .await?
        .into_inner();

    // E0 again at the size of a Workspace, right before P1.workspace.
    let e0 = echo_baseline(
        "E0 echo (Workspace-sized)",
        plan,
        "GetWorkspace",
        first.encoded_len(),
    )
    .await?;
    let reader = services::RawCaller::connect(workspaces.served.addr, GET_WORKSPACE_PATH).await?;
    let read_targets = targets.clone();
    let p1 = drive("P1 GetWorkspace", plan, move |_, sequence| {
        let mut client = reader.clone();
        let id = read_targets
            .get(services::uniform(read_targets.len()))
            .map(|t| t.id.clone())
            .unwrap_or_default();
        async move {
            let asked = wpb::GetWorkspaceRequest {
                id: id.clone(),
                ..Default::default()
            };
            let answer = client.call(asked).await.map_err(|e| e.to_string())?;
            if sequence == 0 {
                services::check_first_answer(&answer, |workspace: &wpb::Workspace| {
                    workspace.id == id && workspace.members.len() == workspace::MEMBERS
                })?;
            }
            Ok(())
        }
    })
    .await?;
    for mut figure in read_figures(("P1.workspace", "P1.workspace.p99"), &p1, &e0, (0.6, 2.0)) {
        emit(&mut figure, quick, p1.calls())?;
    }

    // W0.workspace on a copy of the fixture, then P2.workspace.
    let w0_path = dir.join("w0-workspace.db");
    let w0 = workspace::InviteW0::prepare(&w0_path, &workspace_db, &targets, &first).await?;
    let w0_sample = w0.run(plan).await;
    w0.close().await;
    let w0_sample = w0_sample?;
    tracing::info!("W0.workspace: {}", workspace::sizes(&w0_path).await?);
    emit(
        &mut w0_figure("W0.workspace", &w0_sample),
        quick,
        w0_sample.calls(),
    )?;
    let inviter = services::RawCaller::connect(workspaces.served.addr, INVITE_MEMBER_PATH).await?;
    let invite_targets = targets.clone();
    let p2 = drive("P2 InviteMember", plan, move |worker, sequence| {
        let mut client = inviter.clone();
        let index = services::spread(worker, sequence, IN_FLIGHT, invite_targets.len());
        let request = invite_targets
            .get(index)
            .map(|target| services::as_actor(workspace::invite_request(&target.id), &target.actor));
        async move {
            let request = request.ok_or("no such workspace")?;
            let email = request.get_ref().email.clone();
            let answer = client
                .call::<wpb::InviteMemberRequest>(request)
                .await
                .map_err(|e| e.to_string())?;
            if sequence == 0 {
                services::check_first_answer(&answer, |invited: &wpb::InviteMemberResponse| {
                    invited
                        .invitation
                        .as_ref()
                        .is_some_and(|invitation| invitation.email == email)
                })?;
            }
            Ok(())
        }
    })
    .await?;
    drop(workspace_client);
    workspaces.stop().await?;
    tracing::info!("P2.workspace: {}", workspace::sizes(&workspace_db).await?);
    for mut figure in command_figures(("P2.workspace", "P2.workspace.p99"), &p2, r0, 0.08) {
        emit(&mut figure, quick, p2.calls())?;
    }

    // P3, with a PostgreSQL server.
    match &args.postgres {
        Some(admin_url) => {
            let seconds = if quick {
                QUICK_PGBENCH_SECONDS
            } else {
                postgres::PGBENCH_SECONDS
            };
            let mut figure = postgres::p3(
                admin_url,
                args.plan(postgres::CLIENTS),
                dir,
                args.size(postgres::USERS),
                seconds,
            )
            .await?;
            let n = figure.n.unwrap_or(0);
            emit(&mut figure, quick, n)?;
        }
        None => emit(
            &mut Figure::skipped(
                "P3.user",
                Unit::PerSecond,
                Some(Target::AtLeast(0.3)),
                "needs --postgres URL",
            ),
            quick,
            0,
        )?,
    }

    // E0 at the size of the /v1/me body, right before P4, on the embedded system.
    let system = edge::System::start(dir, "p4", args.size(USERS)).await?;
    let body_len = edge::me_body_len(&system).await?;
    let e0 = echo_baseline("E0 echo (/v1/me-sized)", plan, "GET /v1/me", body_len).await?;
    let (p4, failures) = edge::read_me(&system, plan).await?;
    system.stop().await?;
    let mut figure = Figure::ratio(
        "P4.read",
        p4.throughput(),
        Unit::PerSecond,
        e0.throughput(),
        Target::AtLeast(0.4),
    )
    .with_errors(failures);
    emit(&mut figure, quick, p4.calls())?;
    let mut figure = Figure::ratio(
        "P4.read.p50",
        p4.quantile_ms(0.5),
        Unit::Millis,
        e0.quantile_ms(0.5),
        Target::AtMost(3.0),
    )
    .with_errors(failures);
    emit(&mut figure, quick, p4.calls())?;

    // P5: the real launcher on a fresh data directory.
    let startup = launcher::p5(&dir.join("p5")).await?;
    emit(
        &mut Figure::absolute(
            "P5.rss",
            startup.rss_mib,
            Unit::Mebibytes,
            Target::AtMost(60.0),
        ),
        quick,
        1,
    )?;
    emit(
        &mut Figure::absolute(
            "P5.ready",
            startup.ready.as_secs_f64(),
            Unit::Seconds,
            Target::AtMost(2.0),
        ),
        quick,
        1,
    )?;

    // P6: SSE streams held by the real launcher on a fresh data directory.
    let streams = if quick { QUICK_STREAMS } else { STREAMS };
    for mut figure in streams::p6(&dir.join("p6"), streams).await? {
        emit(&mut figure, quick, streams as u64)?;
    }

    // P7: a burst on a freshly started embedded system.
    let system = edge::System::start(dir, "p7", 1).await?;
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
        quick,
        burst.requests as u64,
    )?;
    emit(
        &mut Figure::ratio(
            "P7.connections",
            f64::from(burst.peak_connections),
            Unit::Connections,
            f64::from(burst.max_connections),
            Target::AtMost(1.0),
        )
        .with_errors(burst.errors),
        quick,
        burst.requests as u64,
    )?;

    // E2: commit to consumer through the relay and the embedded bus.
    let mut figure = relay::e2(dir, args.plan(1)).await?;
    let n = figure.n.unwrap_or(0);
    emit(&mut figure, quick, n)?;

    // P8: the replicated split topology under faults (needs --postgres, --nats and etcd).
    for mut figure in replicas::p8(args.postgres.as_deref(), args.nats.as_deref(), quick).await? {
        let n = figure.n.unwrap_or(0);
        emit(&mut figure, quick, n)?;
    }

    // C1: instructions per call, the server under callgrind.
    c1(args, &c1_db, &users).await?;
    Ok(())
}
