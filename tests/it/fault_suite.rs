//! The fault suite: QUALITY.md's P8 topology as OS processes (3 replicas of Identity and of
//! Workspace, 2 of Billing and of Notifications, 2 edges) on PostgreSQL, NATS and a private
//! etcd, under an open-loop load through both edges, half of it commands. One replica is
//! SIGKILLed, one frozen by SIGSTOP for 2 s, etcd restarts on an emptied data directory, a
//! new replica starts, one is SIGTERMed: no user request may fail, the faulted replica must
//! have served its share of its context's calls before each fault, and every event the
//! Billing replicas committed must reach its feed exactly once, whichever replica relayed it
//! and whichever edge's policies applied it.
//!
//! Runs when `SAAS_TEST_POSTGRES_URL` and `SAAS_TEST_NATS_URL` are set and `etcd` is on the
//! PATH (with a private NATS and etcd of its own), and says it skipped otherwise. The figures
//! of the same run are `saas-bench`'s P8 lines.

use saas_tests::{
    PrivateEtcd,
    topology::{Shape, Topology, run},
};

use crate::on_nats::private_nats;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_fails_while_replicas_die_freeze_leave_and_join_and_etcd_restarts() {
    let test = "fault suite";
    let Some(admin) = std::env::var("SAAS_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        eprintln!("skipped {test}: SAAS_TEST_POSTGRES_URL is not set");
        return;
    };
    let Some(nats) = private_nats().await else {
        return;
    };
    let Some(etcd) = PrivateEtcd::start(test).await else {
        return;
    };
    let shape = Shape::default();
    let mut topology = Topology::start(&admin, &nats.url(), etcd, shape).await;
    let accounts = topology.sign_up(shape.accounts).await;
    let report = run(&mut topology, accounts).await;
    eprintln!("{report:#?}");

    assert!(
        report.failures.is_empty(),
        "{} of {} user requests failed: {:#?}",
        report.failures.len(),
        report.requests,
        report.failures
    );
    for (fault, replica, share) in &report.shares {
        assert!(
            *share >= 0.2,
            "{replica} served only {:.0}% of its context's calls before the {fault}",
            share * 100.0
        );
    }
    let (events, entries, sources) = report.plan_changes;
    assert!(events > 0, "the load changed no plan");
    assert_eq!(
        (entries, sources),
        (events, events),
        "plan changes committed / feed entries / distinct events differ"
    );
}
