//! The closed-loop load driver: a fixed number of calls in flight, a warm-up, then a window.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use crate::{BoxError, report::percentile};

/// How long to warm up and how long to measure.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Calls in flight at once (each a task running calls back to back).
    pub concurrency: usize,
    /// Time before the window; calls completing in it are not counted.
    pub warmup: Duration,
    /// The measured window.
    pub window: Duration,
}

/// What one run measured: the calls that completed inside the window.
#[derive(Debug)]
pub struct Sample {
    /// Latencies of the successful calls, sorted.
    pub latencies: Vec<Duration>,
    /// Failed calls, warm-up included: only OK answers count, and any failure fails the
    /// figure.
    pub errors: u64,
    /// The window.
    pub window: Duration,
}

impl Sample {
    /// Successful calls in the window.
    pub fn calls(&self) -> u64 {
        self.latencies.len() as u64
    }

    /// Successful calls per second.
    pub fn throughput(&self) -> f64 {
        self.calls() as f64 / self.window.as_secs_f64()
    }

    /// A latency quantile in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        percentile(&self.latencies, q).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    }

    /// One log line on stderr.
    pub fn log(&self, label: &str) {
        tracing::info!(
            "{label}: {:.0} calls/s, p50 {:.3} ms, p99 {:.3} ms ({} calls, {} errors, {:.1} s)",
            self.throughput(),
            self.quantile_ms(0.5),
            self.quantile_ms(0.99),
            self.calls(),
            self.errors,
            self.window.as_secs_f64()
        );
    }
}

/// Runs `call(worker, sequence)` back to back on `plan.concurrency` tasks. A successful call
/// counts when it completes inside the window; its latency is its own start to its
/// completion. Every failed call counts as an error, in the warm-up too.
pub async fn drive<F, Fut>(label: &str, plan: Plan, call: F) -> Result<Sample, BoxError>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let call = Arc::new(call);
    let start = Instant::now();
    let window_start = start + plan.warmup;
    let end = window_start + plan.window;
    let mut tasks = Vec::with_capacity(plan.concurrency);
    for worker in 0..plan.concurrency {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut first_error = None;
            let mut sequence = 0u64;
            loop {
                let began = Instant::now();
                if began >= end {
                    break;
                }
                let outcome = call(worker, sequence).await;
                sequence += 1;
                let done = Instant::now();
                match outcome {
                    Ok(()) if done >= window_start && done <= end => latencies.push(done - began),
                    Ok(()) => {}
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (latencies, errors, first_error)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for task in tasks {
        let (mut l, e, f) = task.await?;
        latencies.append(&mut l);
        errors += e;
        if first_error.is_none() {
            first_error = f;
        }
    }
    latencies.sort_unstable();
    if let Some(e) = &first_error {
        tracing::warn!("{label}: {errors} calls failed, the first with: {e}");
    }
    if latencies.is_empty() {
        return Err(format!(
            "{label}: no call succeeded in the window ({})",
            first_error.unwrap_or_else(|| "none completed".into())
        )
        .into());
    }
    let sample = Sample {
        latencies,
        errors,
        window: plan.window,
    };
    sample.log(label);
    Ok(sample)
}
