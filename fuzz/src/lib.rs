//! Fuzzing on the stable toolchain: structure-aware random inputs for a bounded time.
//!
//! Every target is a `#[test]` in [`targets`] that hands a proptest strategy and a check to
//! [`fuzz`]. The check fails on a panic (caught and reported as a failure) or on a broken
//! property; proptest then shrinks the input to a small one and [`fuzz`] panics with it and
//! with the seed that reproduces the run.
//!
//! - `cargo test -p saas-fuzz` (and so `cargo test --workspace`) runs each target for
//!   [`SMOKE_CASES`] cases, or `PROPTEST_CASES`.
//! - `SAAS_FUZZ_SECONDS=N` runs each target for N seconds instead, round after round of fresh
//!   seeds, and prints how many cases it ran (`--nocapture` shows it). `.ci/run` does this.
//! - `SAAS_FUZZ_SEED=<64 hex digits>` replays the seed a failure printed.
//!
//! Why not a coverage-guided fuzzer: `cargo fuzz` (libFuzzer) needs a nightly compiler, and
//! afl.rs builds AFL++ from C sources and instruments the whole dependency tree (tokio, tonic,
//! axum, ...) in a build of its own, which does not fit the CI's few minutes on two cores. The
//! inputs that matter here are structured (a JWT with a valid signature and odd claims, a
//! command sequence that gets somewhere, a protobuf message with well-formed tags), which a
//! generator reaches at once and blind byte mutation only slowly; proptest is already the
//! project's property-testing crate and shrinks what it finds to a minimal case.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseResult, TestError, TestRng, TestRunner};

#[cfg(test)]
mod targets;

/// Cases per target in a plain `cargo test`.
pub const SMOKE_CASES: u32 = 256;

/// Cases per round when running for a time: a round is one seed.
const ROUND_CASES: u32 = 500;

/// How long and from where to fuzz, from the environment.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Run rounds until this much time has passed; `None`: one round of `cases`.
    pub time: Option<Duration>,
    /// Cases of the single round when there is no time budget.
    pub cases: u32,
    /// Replay this seed (one round) instead of drawing fresh ones.
    pub seed: Option<[u8; 32]>,
}

impl Budget {
    /// `SAAS_FUZZ_SECONDS`, `SAAS_FUZZ_SEED` and `PROPTEST_CASES`; a malformed value panics,
    /// so that CI never fuzzes less than it asked for.
    pub fn from_env() -> Budget {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let time = var("SAAS_FUZZ_SECONDS").map(|s| {
            let secs: u64 = s
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("SAAS_FUZZ_SECONDS is not a number of seconds: {s}"));
            Duration::from_secs(secs)
        });
        let cases = var("PROPTEST_CASES").map_or(SMOKE_CASES, |s| {
            s.trim()
                .parse()
                .unwrap_or_else(|_| panic!("PROPTEST_CASES is not a number: {s}"))
        });
        let seed = var("SAAS_FUZZ_SEED").map(|s| {
            parse_seed(s.trim())
                .unwrap_or_else(|| panic!("SAAS_FUZZ_SEED is not 64 hex digits: {s}"))
        });
        Budget { time, cases, seed }
    }
}

fn parse_seed(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(seed)
}

fn to_hex(seed: &[u8; 32]) -> String {
    seed.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a finished run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ran {
    /// Inputs checked.
    pub cases: u64,
    /// Seeds used.
    pub rounds: u64,
}

/// Fuzzes `check` with inputs from `strategy` under the budget in the environment; panics
/// with the (shrunk) failing input and its seed on the first failure.
pub fn fuzz<S: Strategy>(name: &str, strategy: S, check: impl Fn(S::Value) -> TestCaseResult) {
    let budget = Budget::from_env();
    match run(&budget, &strategy, &check) {
        Ok(ran) => eprintln!(
            "fuzz {name}: {} cases in {} rounds, no failure",
            ran.cases, ran.rounds
        ),
        Err(failure) => panic!("fuzz {name}: {failure}"),
    }
}

/// Runs under `budget`; `Err` describes the first failure.
pub fn run<S: Strategy>(
    budget: &Budget,
    strategy: &S,
    check: &impl Fn(S::Value) -> TestCaseResult,
) -> Result<Ran, String> {
    let started = Instant::now();
    let checked = AtomicU64::new(0);
    let mut rounds = 0;
    loop {
        let seed = budget.seed.unwrap_or_else(rand::random);
        let cases = match (budget.time, budget.seed) {
            (Some(_), None) => ROUND_CASES,
            _ => budget.cases,
        };
        let config = Config {
            cases,
            failure_persistence: None,
            rng_algorithm: RngAlgorithm::ChaCha,
            max_shrink_iters: 10_000,
            ..Config::default()
        };
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed);
        let mut runner = TestRunner::new_with_rng(config, rng);
        rounds += 1;
        let result = runner.run(strategy, |value| {
            checked.fetch_add(1, Ordering::Relaxed);
            check(value)
        });
        match result {
            Ok(()) => {}
            Err(TestError::Fail(reason, value)) => {
                return Err(format!(
                    "{reason}\nminimal input: {value:#?}\nreplay with SAAS_FUZZ_SEED={}",
                    to_hex(&seed)
                ));
            }
            Err(TestError::Abort(reason)) => {
                return Err(format!(
                    "aborted: {reason} (SAAS_FUZZ_SEED={})",
                    to_hex(&seed)
                ));
            }
        }
        let more = match (budget.time, budget.seed) {
            (Some(time), None) => started.elapsed() < time,
            _ => false,
        };
        if !more {
            return Ok(Ran {
                cases: checked.load(Ordering::Relaxed),
                rounds,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn budget(cases: u32, seed: Option<[u8; 32]>) -> Budget {
        Budget {
            time: None,
            cases,
            seed,
        }
    }

    #[test]
    fn a_panic_is_a_failure_with_a_shrunk_input_and_a_seed_that_replays_it() {
        let check = |n: u32| -> TestCaseResult {
            assert!(n < 1_000, "too big");
            Ok(())
        };
        let failure = run(&budget(10_000, None), &any::<u32>(), &check).unwrap_err();
        assert!(failure.contains("too big"), "{failure}");
        assert!(failure.contains("minimal input: 1000"), "{failure}");
        let seed = failure.rsplit("SAAS_FUZZ_SEED=").next().unwrap();
        let replayed = run(
            &budget(10_000, Some(parse_seed(seed).unwrap())),
            &any::<u32>(),
            &check,
        )
        .unwrap_err();
        assert_eq!(replayed, failure);
    }

    #[test]
    fn a_broken_property_is_a_failure() {
        let failure = run(&budget(1_000, None), &(0u8..10), &|n| {
            prop_assert_ne!(n, 3);
            Ok(())
        });
        assert!(failure.is_err());
    }

    #[test]
    fn a_time_budget_runs_rounds_of_fresh_seeds_until_it_is_spent() {
        let budget = Budget {
            time: Some(Duration::from_millis(1)),
            cases: 1,
            seed: None,
        };
        let ran = run(&budget, &any::<u8>(), &|_| Ok(())).unwrap();
        assert!(ran.rounds >= 1);
        assert_eq!(ran.cases, ran.rounds * u64::from(ROUND_CASES));
    }

    #[test]
    fn seeds_are_64_hex_digits() {
        let seed = [0xab; 32];
        assert_eq!(parse_seed(&to_hex(&seed)), Some(seed));
        assert_eq!(parse_seed("ab"), None);
        assert_eq!(parse_seed(&"zz".repeat(32)), None);
    }
}
