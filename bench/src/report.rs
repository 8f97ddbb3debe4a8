//! Figures and how they are printed: one JSON line each, as QUALITY.md specifies.

use std::{fmt, time::Duration};

/// What a figure must reach, as a bound on its ratio (or on its value when it has no baseline).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// `>= x`
    AtLeast(f64),
    /// `<= x`
    AtMost(f64),
}

impl Target {
    /// Whether `x` meets the target.
    pub fn met_by(self, x: f64) -> bool {
        match self {
            Target::AtLeast(bound) => x >= bound,
            Target::AtMost(bound) => x <= bound,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (op, bound) = match self {
            Target::AtLeast(bound) => (">=", bound),
            Target::AtMost(bound) => ("<=", bound),
        };
        if bound.fract() == 0.0 {
            write!(f, "{op} {bound:.1}")
        } else {
            write!(f, "{op} {bound}")
        }
    }
}

/// The unit of a figure; it also decides how the value is rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Calls (or transactions) per second, printed as a whole number.
    PerSecond,
    /// Milliseconds, printed to the microsecond.
    Millis,
    /// Seconds, printed to the millisecond.
    Seconds,
    /// Mebibytes (2^20 bytes), printed to a tenth.
    Mebibytes,
    /// A number of failed requests, printed as a whole number.
    Errors,
    /// A number of database connections, printed as a whole number.
    Connections,
    /// A number of open event streams, printed as a whole number.
    Streams,
    /// Kibibytes (2^10 bytes), printed to a tenth.
    Kibibytes,
    /// Transactions per second, printed as a whole number.
    Transactions,
    /// Machine instructions (callgrind's `Ir`) per call, printed as a whole number.
    Instructions,
    /// HTTP requests per second, printed as a whole number.
    Requests,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::PerSecond => "calls/s",
            Unit::Millis => "ms",
            Unit::Seconds => "s",
            Unit::Mebibytes => "MiB",
            Unit::Errors => "errors",
            Unit::Connections => "connections",
            Unit::Streams => "streams",
            Unit::Kibibytes => "KiB",
            Unit::Transactions => "transactions/s",
            Unit::Instructions => "instructions/call",
            Unit::Requests => "requests/s",
        }
    }

    fn round(self, x: f64) -> f64 {
        match self {
            Unit::PerSecond
            | Unit::Errors
            | Unit::Connections
            | Unit::Streams
            | Unit::Transactions
            | Unit::Instructions
            | Unit::Requests => x.round(),
            Unit::Millis | Unit::Seconds => round_to(x, 3),
            Unit::Mebibytes | Unit::Kibibytes => round_to(x, 1),
        }
    }

    /// Whether the unit counts whole things (printed without a fraction).
    fn whole(self) -> bool {
        matches!(
            self,
            Unit::PerSecond
                | Unit::Errors
                | Unit::Connections
                | Unit::Streams
                | Unit::Transactions
                | Unit::Instructions
                | Unit::Requests
        )
    }
}

/// One measured figure.
#[derive(Debug, Clone)]
pub struct Figure {
    /// One of the ids QUALITY.md lists.
    pub id: &'static str,
    /// The measurement.
    pub value: f64,
    /// Its unit.
    pub unit: Unit,
    /// The baseline measured in the same run, if the figure has one.
    pub baseline: Option<f64>,
    /// The target, on the ratio (or on the value without a baseline); `None` for a figure
    /// that is information only (`"target": null, "pass": null`).
    pub target: Option<Target>,
    /// Failed calls behind the figure; any fails it.
    pub errors: u64,
    /// How much was measured (calls), printed in `--quick` mode.
    pub n: Option<u64>,
    /// Why the figure could not be measured properly; forces `pass: false`.
    pub note: Option<String>,
    /// Why the figure could not run here at all (`"skipped": "<why>"`, no value).
    pub skipped: Option<String>,
    /// More fields, printed after the others (what a figure's run took, e.g. retries).
    pub extra: Vec<(&'static str, serde_json::Value)>,
}

impl Figure {
    /// A figure compared with a baseline.
    pub fn ratio(id: &'static str, value: f64, unit: Unit, baseline: f64, target: Target) -> Self {
        Figure {
            id,
            value,
            unit,
            baseline: Some(baseline),
            target: Some(target),
            errors: 0,
            n: None,
            note: None,
            skipped: None,
            extra: Vec::new(),
        }
    }

    /// A figure without a baseline: the target bounds the value itself.
    pub fn absolute(id: &'static str, value: f64, unit: Unit, target: Target) -> Self {
        Figure {
            id,
            value,
            unit,
            baseline: None,
            target: Some(target),
            errors: 0,
            n: None,
            note: None,
            skipped: None,
            extra: Vec::new(),
        }
    }

    /// A figure that is information only (`"target": null, "pass": null`), with or without
    /// a baseline.
    pub fn info(id: &'static str, value: f64, unit: Unit, baseline: Option<f64>) -> Self {
        Figure {
            id,
            value,
            unit,
            baseline,
            target: None,
            errors: 0,
            n: None,
            note: None,
            skipped: None,
            extra: Vec::new(),
        }
    }

    /// A figure that cannot run here, and why; `target` is what it would be held to.
    pub fn skipped(id: &'static str, unit: Unit, target: Option<Target>, why: &str) -> Self {
        Figure {
            id,
            value: f64::NAN,
            unit,
            baseline: None,
            target,
            errors: 0,
            n: None,
            note: None,
            skipped: Some(why.to_owned()),
            extra: Vec::new(),
        }
    }

    /// The same figure with `errors` failed calls behind it.
    pub fn with_errors(mut self, errors: u64) -> Self {
        self.errors = errors;
        self
    }

    /// `value / baseline`, rounded as printed; `None` without a (positive) baseline.
    pub fn ratio_value(&self) -> Option<f64> {
        let baseline = self.unit.round(self.baseline?);
        let value = self.unit.round(self.value);
        (baseline > 0.0).then(|| round_to(value / baseline, 3))
    }

    /// The verdict, on the printed numbers so a reader can check it; `None` for information
    /// and skipped figures. A figure with errors or a note fails.
    pub fn pass(&self) -> Option<bool> {
        let target = self.target?;
        if self.skipped.is_some() {
            return None;
        }
        if self.note.is_some() || self.errors > 0 {
            return Some(false);
        }
        Some(match (self.baseline, self.ratio_value()) {
            (Some(_), Some(ratio)) => target.met_by(ratio),
            (Some(_), None) => false,
            (None, _) => target.met_by(self.unit.round(self.value)),
        })
    }

    /// The JSON line, keys in the order of QUALITY.md's example.
    pub fn json_line(&self) -> String {
        let number = |x: f64| {
            if self.unit.whole() {
                serde_json::json!(x as i64)
            } else {
                serde_json::json!(x)
            }
        };
        let value = if self.skipped.is_some() || !self.value.is_finite() {
            serde_json::Value::Null
        } else {
            number(self.unit.round(self.value))
        };
        let mut fields: Vec<(&str, serde_json::Value)> = vec![
            ("id", serde_json::json!(self.id)),
            ("value", value),
            ("unit", serde_json::json!(self.unit.name())),
            (
                "baseline",
                self.baseline
                    .map_or(serde_json::Value::Null, |b| number(self.unit.round(b))),
            ),
            ("ratio", serde_json::json!(self.ratio_value())),
            (
                "target",
                serde_json::json!(self.target.map(|t| t.to_string())),
            ),
            ("pass", serde_json::json!(self.pass())),
            ("errors", serde_json::json!(self.errors)),
        ];
        if let Some(n) = self.n {
            fields.push(("n", serde_json::json!(n)));
        }
        if let Some(note) = &self.note {
            fields.push(("note", serde_json::json!(note)));
        }
        if let Some(why) = &self.skipped {
            fields.push(("skipped", serde_json::json!(why)));
        }
        fields.extend(self.extra.iter().cloned());
        let body: Vec<String> = fields
            .iter()
            .map(|(key, value)| format!("{}: {value}", serde_json::json!(key)))
            .collect();
        format!("{{{}}}", body.join(", "))
    }
}

fn round_to(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

/// The `q`-quantile (0 < q <= 1) of sorted latencies by the nearest-rank method.
pub fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(percentile(&sorted, 0.5), Some(ms(50)));
        assert_eq!(percentile(&sorted, 0.99), Some(ms(99)));
        assert_eq!(percentile(&sorted, 1.0), Some(ms(100)));
        assert_eq!(percentile(&sorted, 0.001), Some(ms(1)));
        assert_eq!(percentile(&[ms(7)], 0.99), Some(ms(7)));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn throughput_line_matches_the_quality_format() {
        let figure = Figure::ratio(
            "P1.user",
            21_000.4,
            Unit::PerSecond,
            39_000.0,
            Target::AtLeast(0.5),
        );
        assert_eq!(
            figure.json_line(),
            r#"{"id": "P1.user", "value": 21000, "unit": "calls/s", "baseline": 39000, "ratio": 0.538, "target": ">= 0.5", "pass": true, "errors": 0}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&figure.json_line()).unwrap();
        assert_eq!(parsed["ratio"], 0.538);
    }

    #[test]
    fn latency_targets_are_upper_bounds_and_quick_mode_says_n() {
        let mut figure = Figure::ratio("P1.user.p99", 7.5, Unit::Millis, 2.0, Target::AtMost(3.0));
        figure.n = Some(1234);
        assert_eq!(figure.pass(), Some(false));
        assert_eq!(
            figure.json_line(),
            r#"{"id": "P1.user.p99", "value": 7.5, "unit": "ms", "baseline": 2.0, "ratio": 3.75, "target": "<= 3.0", "pass": false, "errors": 0, "n": 1234}"#
        );
        figure.value = 6.0;
        assert_eq!(figure.pass(), Some(true), "exactly 3x meets <= 3.0");
    }

    #[test]
    fn a_note_fails_the_figure_and_no_baseline_gives_null_ratio() {
        let mut figure =
            Figure::ratio("P3.user", 900.0, Unit::PerSecond, 0.0, Target::AtLeast(0.3));
        assert_eq!(figure.ratio_value(), None);
        assert_eq!(figure.pass(), Some(false));
        figure.baseline = None;
        figure.note = Some("pgbench is not installed".into());
        let parsed: serde_json::Value = serde_json::from_str(&figure.json_line()).unwrap();
        assert_eq!(parsed["ratio"], serde_json::Value::Null);
        assert_eq!(parsed["baseline"], serde_json::Value::Null);
        assert_eq!(parsed["pass"], false);
        assert_eq!(parsed["note"], "pgbench is not installed");
    }

    #[test]
    fn absolute_figures_bound_the_value_and_counts_print_whole() {
        let mut ready = Figure::absolute("P5.ready", 0.41234, Unit::Seconds, Target::AtMost(2.0));
        ready.n = Some(1);
        assert_eq!(
            ready.json_line(),
            r#"{"id": "P5.ready", "value": 0.412, "unit": "s", "baseline": null, "ratio": null, "target": "<= 2.0", "pass": true, "errors": 0, "n": 1}"#
        );
        ready.value = 2.0004;
        assert_eq!(ready.pass(), Some(true), "2.000 s as printed meets <= 2.0");
        ready.value = 2.1;
        assert_eq!(ready.pass(), Some(false));

        let rss = Figure::absolute("P5.rss", 61.26, Unit::Mebibytes, Target::AtMost(60.0));
        let parsed: serde_json::Value = serde_json::from_str(&rss.json_line()).unwrap();
        assert_eq!(parsed["value"], 61.3);
        assert_eq!(parsed["unit"], "MiB");
        assert_eq!(parsed["pass"], false);

        let errors = Figure::absolute("P7.errors", 0.0, Unit::Errors, Target::AtMost(0.0));
        assert_eq!(errors.pass(), Some(true));
        assert!(
            errors
                .json_line()
                .contains(r#""value": 0, "unit": "errors""#)
        );
        let errors = Figure::absolute("P7.errors", 1.0, Unit::Errors, Target::AtMost(0.0));
        assert_eq!(errors.pass(), Some(false));

        let streams = Figure::absolute(
            "P6.streams",
            9_999.0,
            Unit::Streams,
            Target::AtLeast(10_000.0),
        );
        assert_eq!(streams.pass(), Some(false));
        assert!(
            streams
                .json_line()
                .contains(r#""value": 9999, "unit": "streams""#)
        );
        let per_stream = Figure::absolute(
            "P6.rss_per_stream",
            31.24,
            Unit::Kibibytes,
            Target::AtMost(48.0),
        );
        let parsed: serde_json::Value = serde_json::from_str(&per_stream.json_line()).unwrap();
        assert_eq!(parsed["value"], 31.2);
        assert_eq!(parsed["unit"], "KiB");
        assert_eq!(parsed["pass"], true);

        let connections = Figure::ratio(
            "P7.connections",
            4.0,
            Unit::Connections,
            4.0,
            Target::AtMost(1.0),
        );
        assert_eq!(
            connections.json_line(),
            r#"{"id": "P7.connections", "value": 4, "unit": "connections", "baseline": 4, "ratio": 1.0, "target": "<= 1.0", "pass": true, "errors": 0}"#
        );
    }

    #[test]
    fn errors_fail_a_figure_and_information_has_no_verdict() {
        let figure = Figure::ratio(
            "P2.user",
            9_000.0,
            Unit::PerSecond,
            40_000.0,
            Target::AtLeast(0.12),
        );
        assert_eq!(figure.pass(), Some(true));
        let failed = figure.clone().with_errors(1);
        assert_eq!(failed.pass(), Some(false));
        let parsed: serde_json::Value = serde_json::from_str(&failed.json_line()).unwrap();
        assert_eq!(parsed["errors"], 1);
        assert_eq!(parsed["pass"], false);

        let info = Figure::info("W0.user", 3_000.0, Unit::PerSecond, None);
        assert_eq!(
            info.json_line(),
            r#"{"id": "W0.user", "value": 3000, "unit": "calls/s", "baseline": null, "ratio": null, "target": null, "pass": null, "errors": 0}"#
        );
        let reference = Figure::info("C1.read", 123_456.4, Unit::Instructions, None);
        assert!(
            reference
                .json_line()
                .contains(r#""value": 123456, "unit": "instructions/call""#)
        );

        let skipped = Figure::skipped(
            "P3.user",
            Unit::PerSecond,
            Some(Target::AtLeast(0.3)),
            "needs --postgres URL",
        );
        assert_eq!(skipped.pass(), None);
        assert_eq!(
            skipped.json_line(),
            r#"{"id": "P3.user", "value": null, "unit": "calls/s", "baseline": null, "ratio": null, "target": ">= 0.3", "pass": null, "errors": 0, "skipped": "needs --postgres URL"}"#
        );
    }
}
