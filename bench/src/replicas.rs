//! **P8**: the replicated split topology as OS processes on PostgreSQL, NATS and a private
//! etcd, under an open-loop load through both edges, while replicas are killed, frozen,
//! added and terminated and etcd restarts on an emptied data directory. The topology, the
//! load and the faults are the fault suite's own (`saas_tests::topology`), so the figures
//! and the suite's verdict come from the same code.
//!
//! - `P8.load`: requests answered per second over the run (300 sent per second, half of them
//!   commands, over 100 users), with the retries, free retries and hedges the edges sent.
//! - `P8.kill_errors`, `P8.freeze_errors`: failed requests sent while a SIGKILLed Identity
//!   replica was down, and from a Workspace replica's SIGSTOP to 2 s after its SIGCONT.
//! - `P8.freeze_p99`: the read p99 of requests sent during the freeze, over the read p99
//!   of the healthy phase before any fault.
//! - `P8.reregister`: seconds from etcd's restart on an empty data directory until every
//!   live replica is registered again.
//!
//! Each line also carries the faulted replica's share of its context's calls before its
//! fault, read from the replica's own log of served calls.

use std::time::Duration;

use saas_tests::{
    PrivateEtcd,
    topology::{Shape, Topology, run},
};
use serde_json::json;

use crate::{
    BoxError,
    report::{Figure, Target, Unit},
};

/// The P8 figures, or one skipped line per id saying why they could not run.
pub async fn p8(
    postgres: Option<&str>,
    nats: Option<&str>,
    quick: bool,
) -> Result<Vec<Figure>, BoxError> {
    let skipped = |why: &str| -> Vec<Figure> {
        vec![
            Figure::skipped("P8.load", Unit::Requests, Some(Target::AtLeast(300.0)), why),
            Figure::skipped(
                "P8.kill_errors",
                Unit::Errors,
                Some(Target::AtMost(0.0)),
                why,
            ),
            Figure::skipped(
                "P8.freeze_errors",
                Unit::Errors,
                Some(Target::AtMost(0.0)),
                why,
            ),
            Figure::skipped(
                "P8.freeze_p99",
                Unit::Millis,
                Some(Target::AtMost(3.0)),
                why,
            ),
            Figure::skipped(
                "P8.reregister",
                Unit::Seconds,
                Some(Target::AtMost(10.0)),
                why,
            ),
        ]
    };
    let (Some(postgres), Some(nats)) = (postgres, nats) else {
        return Ok(skipped("needs --postgres URL and --nats URL"));
    };
    // Without etcd on PATH the figures are skipped lines, never a failed run.
    if std::env::var_os("PATH")
        .is_none_or(|path| !std::env::split_paths(&path).any(|dir| dir.join("etcd").is_file()))
    {
        return Ok(skipped("needs an etcd binary on PATH"));
    }
    let Some(etcd) = PrivateEtcd::start("P8").await else {
        return Ok(skipped("needs an etcd binary on PATH"));
    };
    let shape = Shape {
        // --quick: shorter phases, the same topology and rate.
        phase: if quick {
            Duration::from_secs(3)
        } else {
            Shape::default().phase
        },
        ..Shape::default()
    };
    tracing::info!(
        "P8: starting {} data-service replicas and {} edges",
        shape.replicas.iter().sum::<usize>(),
        shape.edges
    );
    let mut topology = Topology::start(postgres, nats, etcd, shape).await;
    let accounts = topology.sign_up(shape.accounts).await;
    let report = run(&mut topology, accounts).await;
    tracing::info!("P8: {report:?}");
    let shares: serde_json::Map<String, serde_json::Value> = report
        .shares
        .iter()
        .map(|(fault, replica, share)| {
            (
                fault.clone(),
                json!({ "replica": replica, "share": (share * 1000.0).round() / 1000.0 }),
            )
        })
        .collect();
    let errors = report.failures.len() as u64;
    let mut load = Figure::absolute(
        "P8.load",
        report.load,
        Unit::Requests,
        Target::AtLeast(300.0),
    )
    .with_errors(errors);
    load.n = Some(report.requests as u64);
    load.extra = vec![
        ("retries", json!(report.retries)),
        ("free_retries", json!(report.free_retries)),
        ("hedges", json!(report.hedges)),
        ("shares_before_faults", json!(shares)),
        (
            "new_replica_first_call_s",
            json!((report.new_replica_first_call * 1000.0).round() / 1000.0),
        ),
        ("etcd_restart_errors", json!(report.etcd_errors)),
        ("new_replica_errors", json!(report.new_replica_errors)),
        ("term_errors", json!(report.term_errors)),
    ];
    let mut kill = Figure::absolute(
        "P8.kill_errors",
        report.kill_errors as f64,
        Unit::Errors,
        Target::AtMost(0.0),
    )
    .with_errors(report.kill_errors as u64);
    kill.extra = vec![("share_before", json!(report.shares.first().map(|s| s.2)))];
    let freeze = Figure::absolute(
        "P8.freeze_errors",
        report.freeze_errors as f64,
        Unit::Errors,
        Target::AtMost(0.0),
    )
    .with_errors(report.freeze_errors as u64);
    let (healthy, frozen) = report.read_p99_ms;
    let freeze_p99 = Figure::ratio(
        "P8.freeze_p99",
        frozen,
        Unit::Millis,
        healthy,
        Target::AtMost(3.0),
    )
    .with_errors(report.freeze_errors as u64);
    let reregister = Figure::absolute(
        "P8.reregister",
        report.reregister,
        Unit::Seconds,
        Target::AtMost(10.0),
    )
    .with_errors(report.etcd_errors as u64);
    Ok(vec![load, kill, freeze, freeze_p99, reregister])
}
