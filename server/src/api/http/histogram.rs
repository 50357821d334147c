//! Latency histograms for the dashboard: read from the exposition text the
//! server's own `/metrics` produces (the append-duration histogram lives
//! only in the live instruments) or from the store's fsync histogram, and
//! percentiles estimated from them as Prometheus's `histogram_quantile`
//! does (linear inside a bucket).
//!
//! Reading the exposition text rather than the instruments keeps the
//! dashboard's figures identical to what a scraper of `/metrics` computes.
//! Only the simple line shape that text has is parsed:
//! `name{label="value",...} number`.
//!
//! Not here: the instruments (`telemetry`), the dashboard's other figures.

use strata_storage::HistogramSnapshot;

/// A histogram at one moment: finite upper bounds (ascending), cumulative
/// counts at each, and the count of every observation (the `+Inf` bucket).
#[derive(Debug, Clone, PartialEq)]
pub struct Hist {
    pub bounds: Vec<f64>,
    pub cumulative: Vec<u64>,
    pub count: u64,
}

impl Hist {
    /// From the store's histogram (per-bucket counts), bounds scaled by `scale`.
    pub fn from_snapshot(s: &HistogramSnapshot, scale: f64) -> Hist {
        let mut total = 0;
        let cumulative = s
            .counts
            .iter()
            .map(|c| {
                total += c;
                total
            })
            .collect();
        Hist {
            bounds: s.bounds.iter().map(|b| *b as f64 * scale).collect(),
            cumulative,
            count: s.count,
        }
    }

    /// The histogram `name` (its `name_bucket` and `name_count` series) in
    /// exposition `text`, bounds scaled by `scale`; `None` if absent.
    pub fn from_exposition(text: &str, name: &str, scale: f64) -> Option<Hist> {
        let bucket = format!("{name}_bucket");
        let count = format!("{name}_count");
        let mut buckets = Vec::new();
        let mut total = None;
        for (series, labels, value) in text.lines().filter_map(sample) {
            if series == bucket {
                let le = labels.iter().find(|(k, _)| k == "le")?.1.as_str();
                if let Ok(le) = le.parse::<f64>() {
                    if le.is_finite() {
                        buckets.push((le * scale, value as u64));
                    }
                }
            } else if series == count {
                total = Some(value as u64);
            }
        }
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        Some(Hist {
            bounds: buckets.iter().map(|b| b.0).collect(),
            cumulative: buckets.iter().map(|b| b.1).collect(),
            count: total?,
        })
    }

    /// What was observed since `earlier` (same bounds), or `self` if the
    /// bounds differ.
    pub fn since(&self, earlier: &Hist) -> Hist {
        if earlier.bounds != self.bounds {
            return self.clone();
        }
        Hist {
            bounds: self.bounds.clone(),
            cumulative: self
                .cumulative
                .iter()
                .zip(&earlier.cumulative)
                .map(|(a, b)| a.saturating_sub(*b))
                .collect(),
            count: self.count.saturating_sub(earlier.count),
        }
    }

    /// The `q` quantile (0..=1), `None` without observations. Past the
    /// last finite bound it answers that bound (a lower bound of the truth).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * self.count as f64;
        let (mut lower, mut below) = (0.0, 0u64);
        for (bound, cum) in self.bounds.iter().zip(&self.cumulative) {
            if *cum as f64 >= rank && *cum > below {
                let share = (rank - below as f64) / (*cum - below) as f64;
                return Some(lower + (bound - lower) * share.clamp(0.0, 1.0));
            }
            lower = *bound;
            below = *cum;
        }
        Some(lower)
    }

    /// `{"p50", "p90", "p99", "count"}` (`null` percentiles without observations).
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "p50": self.quantile(0.50),
            "p90": self.quantile(0.90),
            "p99": self.quantile(0.99),
            "count": self.count,
        })
    }
}

/// The value of the series `name` with the label `key="value"` in
/// exposition `text`.
pub fn gauge(text: &str, name: &str, key: &str, value: &str) -> Option<f64> {
    text.lines()
        .filter_map(sample)
        .find(|(n, labels, _)| *n == name && labels.iter().any(|(k, v)| k == key && v == value))
        .map(|(_, _, v)| v)
}

/// A series' labels, in order.
type Labels = Vec<(String, String)>;

/// One sample line: series name, labels, value; `None` for comments and
/// anything else (an OpenMetrics exemplar after the value is ignored).
fn sample(line: &str) -> Option<(&str, Labels, f64)> {
    if line.starts_with('#') || line.trim().is_empty() {
        return None;
    }
    let (name, labels, rest) = match line.find('{') {
        Some(open) => {
            let (labels, rest) = labels(&line[open + 1..])?;
            (&line[..open], labels, rest)
        }
        None => {
            let (name, rest) = line.split_once(' ')?;
            (name, Vec::new(), rest)
        }
    };
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some((name, labels, value))
}

/// `k="v",k2="v2"}...` (values with `\"` and `\\` escapes): the labels
/// and what follows the closing brace.
fn labels(s: &str) -> Option<(Labels, &str)> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        if let Some(after) = rest.strip_prefix('}') {
            return Some((out, after));
        }
        let (k, after) = rest.split_once('=')?;
        let after = after.strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => value.push(chars.next()?.1),
                (_, c) => value.push(c),
            }
        };
        out.push((k.trim().to_owned(), value));
        rest = &after[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE strata_append_duration_seconds histogram
strata_append_duration_seconds_sum 0.5
strata_append_duration_seconds_count 10
strata_append_duration_seconds_bucket{le=\"0.001\"} 5
strata_append_duration_seconds_bucket{le=\"0.002\"} 9
strata_append_duration_seconds_bucket{le=\"0.004\"} 10
strata_append_duration_seconds_bucket{le=\"+Inf\"} 10
strata_subscriptions{phase=\"live\"} 3
strata_subscriptions{phase=\"catching_up\"} 1
";

    #[test]
    fn reads_a_histogram_and_gauges() {
        let h = Hist::from_exposition(TEXT, "strata_append_duration_seconds", 1000.0).unwrap();
        assert_eq!(h.bounds, vec![1.0, 2.0, 4.0]);
        assert_eq!(h.cumulative, vec![5, 9, 10]);
        assert_eq!(h.count, 10);
        // rank 5 of 10 ends the first bucket.
        assert_eq!(h.quantile(0.5), Some(1.0));
        // rank 9 ends the second.
        assert_eq!(h.quantile(0.9), Some(2.0));
        // rank 9.9: 90% into (2, 4].
        assert!((h.quantile(0.99).unwrap() - 3.8).abs() < 1e-9);
        assert_eq!(
            gauge(TEXT, "strata_subscriptions", "phase", "live"),
            Some(3.0)
        );
        assert_eq!(gauge(TEXT, "strata_subscriptions", "phase", "x"), None);
        assert!(Hist::from_exposition(TEXT, "nope", 1.0).is_none());
    }

    #[test]
    fn windows_and_overflow() {
        let s = HistogramSnapshot {
            bounds: &[100, 200],
            counts: vec![2, 2],
            sum: 0,
            count: 6,
        };
        let h = Hist::from_snapshot(&s, 0.001);
        assert_eq!(h.cumulative, vec![2, 4]);
        // Two observations above the last bound: the high quantiles say 0.2.
        assert_eq!(h.quantile(0.99), Some(0.2));
        let earlier = Hist {
            bounds: h.bounds.clone(),
            cumulative: vec![2, 2],
            count: 2,
        };
        let d = h.since(&earlier);
        assert_eq!(d.cumulative, vec![0, 2]);
        assert_eq!(d.count, 4);
        assert!((d.quantile(0.25).unwrap() - 0.15).abs() < 1e-12);
        let empty = d.since(&d);
        assert_eq!(empty.quantile(0.5), None);
        assert_eq!(empty.summary()["p50"], serde_json::Value::Null);
    }

    #[test]
    fn labels_with_escapes() {
        let (n, l, v) = sample("x{a=\"1\",b=\"q\\\"}\"} 2.5 # {trace_id=\"t\"} 1.0").unwrap();
        assert_eq!(n, "x");
        assert_eq!(
            l,
            vec![("a".into(), "1".into()), ("b".into(), "q\"}".into())]
        );
        assert_eq!(v, 2.5);
        assert!(sample("# HELP x").is_none());
    }
}
