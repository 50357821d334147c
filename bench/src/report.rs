//! Results: throughput, latency percentiles (hdrhistogram), server resources;
//! printed as a table or JSON.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Latency {
    pub samples: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl Latency {
    pub fn from_hist(h: &Histogram<u64>) -> Latency {
        Latency {
            samples: h.len(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        }
    }
}

/// Server resources sampled from /proc while the workload ran.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ServerUsage {
    pub rss_max_mib: f64,
    pub rss_end_mib: f64,
    pub cpu_percent: f64,
}

/// One workload's report.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub workload: String,
    pub params: serde_json::Value,
    pub seconds: f64,
    pub events: u64,
    pub requests: u64,
    pub errors: u64,
    pub events_per_s: f64,
    pub requests_per_s: f64,
    pub mb_per_s: f64,
    pub latency: Option<Latency>,
    pub server: Option<ServerUsage>,
    pub notes: Vec<String>,
}

pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds")
}

impl Report {
    pub fn print_table(&self) {
        println!("workload      {}", self.workload);
        println!("params        {}", self.params);
        println!("duration      {:.2} s", self.seconds);
        println!(
            "events        {}  ({:.0} events/s, {:.1} MB/s)",
            self.events, self.events_per_s, self.mb_per_s
        );
        println!(
            "requests      {}  ({:.0} req/s, {} errors)",
            self.requests, self.requests_per_s, self.errors
        );
        if let Some(l) = &self.latency {
            println!(
                "latency µs    p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  (n={})",
                l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us, l.samples
            );
        }
        if let Some(s) = &self.server {
            println!(
                "server        RSS max {:.1} MiB, end {:.1} MiB, CPU {:.0}%",
                s.rss_max_mib, s.rss_end_mib, s.cpu_percent
            );
        }
        for n in &self.notes {
            println!("note          {n}");
        }
    }
}
