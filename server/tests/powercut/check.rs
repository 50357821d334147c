//! The history check: the state read back (`read_final`) against what the
//! clients did (`History`) — the rules are listed in `history`'s header.
//! Every violation is reported (up to 30), each naming the stream,
//! revision, position or event id concerned.
//!
//! Not here: recording (`history`), the scenarios (`tests/power_cut.rs`).

use super::history::{History, Op, Outcome, Seen, SubLog};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;
use strata_client::{AppendResult, CurrentRevision, EventData, ExpectedRevision, RecordedEvent};

/// The state read back: `$all` (checked streams only) and each stream.
#[derive(Debug, Default)]
pub struct Final {
    /// `$all` forwards, only the checked streams.
    pub all: Vec<RecordedEvent>,
    /// Each checked stream read forwards.
    pub streams: BTreeMap<String, Vec<RecordedEvent>>,
}

/// Reads the final state of every stream starting with `prefix`.
pub async fn read_final(c: &strata_client::Client, prefix: &str) -> Final {
    use futures::TryStreamExt;
    use strata_client::{Filter, ReadAllOptions, ReadOptions};
    let all: Vec<RecordedEvent> = c
        .read_all(ReadAllOptions::forwards().filter(Filter::new().stream_prefix(prefix)))
        .try_collect()
        .await
        .expect("read $all");
    let names: HashSet<String> = all.iter().map(|e| e.stream.clone()).collect();
    let mut streams = BTreeMap::new();
    for name in names {
        let evs: Vec<RecordedEvent> = c
            .read_stream(name.as_str(), ReadOptions::forwards())
            .try_collect()
            .await
            .unwrap_or_else(|e| panic!("read {name}: {e}"));
        streams.insert(name, evs);
    }
    Final { all, streams }
}

/// What a check covered (so a test can see it checked something).
#[derive(Debug, Default, Clone, Copy)]
pub struct Covered {
    /// Operations acknowledged.
    pub ok: usize,
    /// Conflicts (each justified).
    pub conflicts: usize,
    /// Certain failures.
    pub failed: usize,
    /// Unknown outcomes whose events are there.
    pub unknown_present: usize,
    /// Unknown outcomes whose events are not.
    pub unknown_absent: usize,
    /// Events read back and checked.
    pub events: usize,
    /// Subscription deliveries checked.
    pub delivered: usize,
}

impl std::fmt::Display for Covered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ok, {} justified conflicts, {} failed, unknown {} present / {} absent; {} events, {} deliveries",
            self.ok,
            self.conflicts,
            self.failed,
            self.unknown_present,
            self.unknown_absent,
            self.events,
            self.delivered
        )
    }
}

/// Checks `fin` (the streams starting with `prefix`) against the history;
/// `Err` lists the violations (at most 30).
pub fn check(h: &History, fin: &Final, prefix: &str) -> Result<Covered, Vec<String>> {
    let ops: Vec<Op> = h.ops();
    let ops: Vec<&Op> = ops
        .iter()
        .filter(|op| op.appends.iter().all(|a| a.stream.starts_with(prefix)))
        .collect();
    let mut bad: Vec<String> = Vec::new();
    let mut cov = Covered::default();
    // Who sent each id (retries send the same ids again).
    let mut senders: HashMap<uuid::Uuid, Vec<usize>> = HashMap::new();
    let mut sent: HashMap<uuid::Uuid, (&str, &EventData)> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        for a in &op.appends {
            for e in &a.events {
                senders.entry(e.id).or_default().push(i);
                sent.insert(e.id, (a.stream.as_str(), e));
            }
        }
    }
    // $all: increasing positions, no id twice, nothing unsent.
    let mut by_id: HashMap<uuid::Uuid, &RecordedEvent> = HashMap::new();
    let mut last = 0;
    for e in &fin.all {
        cov.events += 1;
        if e.position <= last {
            bad.push(format!("$all: position {} after {last}", e.position));
        }
        last = e.position;
        if by_id.insert(e.id, e).is_some() {
            bad.push(format!("event {} stored twice", e.id));
        }
        match (sent.get(&e.id), senders.get(&e.id)) {
            (Some((stream, d)), Some(owners)) => {
                if *stream != e.stream
                    || d.event_type != e.event_type
                    || d.content_type != e.content_type
                    || d.data != e.data
                    || d.metadata != e.metadata
                {
                    bad.push(format!(
                        "{}@{} (id {}) differs from what was sent to {stream}",
                        e.stream, e.revision, e.id
                    ));
                }
                if owners.iter().all(|i| ops[*i].certainly_failed()) {
                    bad.push(format!(
                        "{}@{} (id {}) is there, but its append failed: {:?}",
                        e.stream, e.revision, e.id, ops[owners[0]].outcome
                    ));
                }
            }
            _ => bad.push(format!(
                "{}@{} (id {}) at position {} was never sent",
                e.stream, e.revision, e.id, e.position
            )),
        }
    }
    // Streams: contiguous from 0, and as in $all.
    for (name, evs) in &fin.streams {
        for (i, e) in evs.iter().enumerate() {
            if e.revision != i as u64 {
                bad.push(format!("{name}: revision {} at index {i}", e.revision));
                break;
            }
            match by_id.get(&e.id) {
                Some(a) if a.position == e.position && a.revision == e.revision => {}
                _ => bad.push(format!(
                    "{name}@{}: the stream read and $all disagree",
                    e.revision
                )),
            }
        }
        let in_all = fin.all.iter().filter(|e| &e.stream == name).count();
        if in_all != evs.len() {
            bad.push(format!(
                "{name}: {} events in the stream, {in_all} in $all",
                evs.len()
            ));
        }
    }
    // Per operation: durability, atomicity, expectations.
    for op in &ops {
        let ids: Vec<uuid::Uuid> = op.ids().collect();
        let present = ids.iter().filter(|id| by_id.contains_key(id)).count();
        if present != 0 && present != ids.len() {
            bad.push(format!(
                "process {}: {present} of the {} events of one append are there ({:?})",
                op.process,
                ids.len(),
                op.outcome
            ));
        }
        match &op.outcome {
            Outcome::Ok(results) => {
                cov.ok += 1;
                check_acked(op, results, &by_id, &mut bad);
            }
            Outcome::Conflict { stream, actual } => {
                cov.conflicts += 1;
                check_conflict(op, stream, *actual, fin, &ops, &senders, &mut bad);
            }
            Outcome::Failed(_) => cov.failed += 1,
            Outcome::Unknown(_) | Outcome::Pending if present > 0 => cov.unknown_present += 1,
            Outcome::Unknown(_) | Outcome::Pending => cov.unknown_absent += 1,
        }
    }
    check_real_time(&ops, &by_id, &mut bad);
    // Subscriptions.
    for sub in h.subscriptions() {
        cov.delivered += sub.seen.len();
        check_subscription(&sub, fin, prefix, &mut bad);
    }
    if bad.is_empty() {
        Ok(cov)
    } else {
        bad.truncate(30);
        Err(bad)
    }
}

fn check_acked(
    op: &Op,
    results: &[AppendResult],
    by_id: &HashMap<uuid::Uuid, &RecordedEvent>,
    bad: &mut Vec<String>,
) {
    if results.len() != op.appends.len() {
        bad.push(format!("an append got {} results", results.len()));
        return;
    }
    for (a, r) in op.appends.iter().zip(results) {
        let expected_first = match a.expected {
            ExpectedRevision::Exact(x) => Some(x + 1),
            ExpectedRevision::NoStream => Some(0),
            _ => None,
        };
        if let (Some(want), false) = (expected_first, r.deduplicated) {
            if r.first_revision != want {
                bad.push(format!(
                    "{}: acknowledged at revision {} but expected {:?}",
                    a.stream, r.first_revision, a.expected
                ));
            }
        }
        if matches!(a.expected, ExpectedRevision::StreamExists) && r.first_revision == 0 {
            bad.push(format!("{}: StreamExists wrote revision 0", a.stream));
        }
        for (k, e) in a.events.iter().enumerate() {
            let (rev, pos) = (r.first_revision + k as u64, r.first_position + k as u64);
            match by_id.get(&e.id) {
                None => bad.push(format!(
                    "acknowledged {}@{rev} (position {pos}, id {}) is missing",
                    a.stream, e.id
                )),
                Some(got)
                    if got.stream != a.stream || got.revision != rev || got.position != pos =>
                {
                    bad.push(format!(
                        "acknowledged {}@{rev} at {pos} is now {}@{} at {}",
                        a.stream, got.stream, got.revision, got.position
                    ))
                }
                Some(_) => {}
            }
        }
    }
}

/// A conflict is justified if the stream really was at `actual` at some
/// moment while the request was in flight: the event at `actual` was sent
/// before the answer came, and the next one was not acknowledged before
/// the request was sent.
fn check_conflict(
    op: &Op,
    stream: &str,
    actual: CurrentRevision,
    fin: &Final,
    ops: &[&Op],
    senders: &HashMap<uuid::Uuid, Vec<usize>>,
    bad: &mut Vec<String>,
) {
    let Some(a) = op.appends.iter().find(|a| a.stream == stream) else {
        bad.push(format!(
            "a conflict names {stream}, which the append did not"
        ));
        return;
    };
    let violated = match (a.expected, actual) {
        (ExpectedRevision::Any, _) => false,
        (ExpectedRevision::NoStream, act) => act != CurrentRevision::NoStream,
        (ExpectedRevision::StreamExists, act) => act == CurrentRevision::NoStream,
        (ExpectedRevision::Exact(x), act) => act != CurrentRevision::Current(x),
    };
    if !violated {
        bad.push(format!(
            "{stream}: conflict expecting {:?} with actual {actual:?}",
            a.expected
        ));
    }
    let empty = Vec::new();
    let evs = fin.streams.get(stream).unwrap_or(&empty);
    let next = match actual {
        CurrentRevision::NoStream => 0,
        CurrentRevision::Current(r) => r + 1,
    };
    let owner = |rev: u64| {
        evs.get(rev as usize)
            .and_then(|e| senders.get(&e.id))
            .map(|v| v.iter().map(|i| ops[*i]).collect::<Vec<_>>())
    };
    let completed = op.completed.unwrap_or(Duration::MAX);
    if next > 0 {
        match owner(next - 1) {
            None => bad.push(format!(
                "{stream}: conflict says revision {} but it does not exist",
                next - 1
            )),
            Some(o) if o.iter().all(|x| x.invoked > completed) => bad.push(format!(
                "{stream}: conflict saw revision {} before it was sent",
                next - 1
            )),
            Some(_) => {}
        }
    }
    if let Some(o) = owner(next) {
        let acked_before = o.iter().any(|x| {
            matches!(x.outcome, Outcome::Ok(_)) && x.completed.is_some_and(|c| c < op.invoked)
        });
        if acked_before {
            bad.push(format!(
                "{stream}: conflict reported revision {actual:?} but revision {next} was acknowledged before the request was sent"
            ));
        }
    }
}

/// An append acknowledged before another was sent has smaller positions.
fn check_real_time(
    ops: &[&Op],
    by_id: &HashMap<uuid::Uuid, &RecordedEvent>,
    bad: &mut Vec<String>,
) {
    // (completed, max position) of acknowledged, not deduplicated appends.
    let mut done: Vec<(Duration, u64)> = ops
        .iter()
        .filter_map(|op| match &op.outcome {
            Outcome::Ok(r) if r.iter().all(|r| !r.deduplicated) => Some((
                op.completed?,
                r.iter().map(|r| r.last_position).max().unwrap_or(0),
            )),
            _ => None,
        })
        .collect();
    done.sort();
    let mut prefix_max = Vec::with_capacity(done.len());
    let mut m = 0;
    for (_, p) in &done {
        m = m.max(*p);
        prefix_max.push(m);
    }
    for op in ops {
        let positions: Vec<u64> = op
            .ids()
            .filter_map(|id| by_id.get(&id).map(|e| e.position))
            .collect();
        let Some(min) = positions.iter().min() else {
            continue;
        };
        if matches!(&op.outcome, Outcome::Ok(r) if r.iter().any(|r| r.deduplicated)) {
            continue;
        }
        let before = done.partition_point(|(c, _)| *c < op.invoked);
        if before > 0 && prefix_max[before - 1] >= *min {
            bad.push(format!(
                "position {min} was given to an append sent after one acknowledged at position {}",
                prefix_max[before - 1]
            ));
        }
    }
}

fn check_subscription(sub: &SubLog, fin: &Final, prefix: &str, bad: &mut Vec<String>) {
    let name = &sub.name;
    let mut last = sub.after;
    let mut ids = HashSet::new();
    for s in &sub.seen {
        if s.position <= last {
            bad.push(format!("{name}: position {} after {last}", s.position));
        }
        last = s.position;
        if !ids.insert(s.id) {
            bad.push(format!("{name}: event {} delivered twice", s.id));
        }
    }
    // Exactly the durable events of its range, in order.
    let expected: Vec<&RecordedEvent> = fin
        .all
        .iter()
        .filter(|e| e.position > sub.after && e.position <= last)
        .filter(|e| match &sub.stream {
            Some(s) => &e.stream == s,
            None => e.stream.starts_with(prefix),
        })
        .collect();
    let seen: Vec<&Seen> = sub
        .seen
        .iter()
        .filter(|s| s.stream.starts_with(prefix))
        .collect();
    if expected.len() != seen.len()
        || expected
            .iter()
            .zip(&seen)
            .any(|(e, s)| e.id != s.id || e.position != s.position || e.revision != s.revision)
    {
        let first_diff = expected
            .iter()
            .zip(&seen)
            .position(|(e, s)| e.id != s.id || e.position != s.position);
        bad.push(format!(
            "{name}: delivered {} events up to position {last}, the log has {} there (first difference at index {first_diff:?})",
            seen.len(),
            expected.len()
        ));
    }
}
