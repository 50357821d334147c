//! `strata groups …`: consumer groups (persistent subscriptions) from a
//! terminal — list, info, create, update, delete, and replaying parked
//! events — through `strata-client`'s group calls.
//!
//! Not here: consuming a group (applications do that with
//! `Client::persistent`), the group rules (the server's `domain::groups`).

use super::exit::Failure;
use super::{output, Conn, Outcome};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};
use std::time::Duration;
use strata_client::{
    Filter, GroupInfo, GroupSettings, GroupSource, GroupStart, GroupState, Strategy,
};

/// `strata groups`.
#[derive(Debug, Args)]
pub struct GroupsArgs {
    #[command(subcommand)]
    pub command: GroupsCommand,
    /// Print as JSON (one object per line).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(flatten)]
    pub conn: Conn,
}

/// The group subcommands.
#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// List every group with its state and lag.
    Ls,
    /// A group's definition, state, counters and consumers.
    Info {
        /// The group.
        group: String,
    },
    /// Create a group on a stream (--stream) or on `$all` (--all).
    Create(CreateArgs),
    /// Replace a group's settings (those not given go back to defaults).
    Update {
        /// The group.
        group: String,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Delete a group (its checkpoint and parked streams with it).
    Delete {
        /// The group.
        group: String,
    },
    /// Hand a group's parked events to its consumers again.
    Replay {
        /// The group.
        group: String,
        /// At most this many [default: all].
        #[arg(long)]
        max: Option<u64>,
    },
}

/// `strata groups create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The group's name.
    pub group: String,
    /// Follow this stream.
    #[arg(long, conflicts_with = "all", required_unless_present = "all")]
    pub stream: Option<String>,
    /// Follow `$all` (filtered by --type/--prefix).
    #[arg(long)]
    pub all: bool,
    /// `$all`: only events of this type (repeatable).
    #[arg(long = "type", value_name = "TYPE", requires = "all")]
    pub types: Vec<String>,
    /// `$all`: only streams starting with this (repeatable).
    #[arg(long = "prefix", value_name = "PREFIX", requires = "all")]
    pub prefixes: Vec<String>,
    /// Where to start: start, end, or after a revision (stream) or
    /// position (`$all`).
    #[arg(long, default_value = "start")]
    pub from: String,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// How a group hands out events.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StrategyArg {
    /// Each event to the next consumer with room.
    RoundRobin,
    /// Everything to one consumer while it has room.
    DispatchToSingle,
    /// One stream's events to the same consumer.
    Pinned,
    /// One partition's events in order, one at a time.
    OrderedByStream,
}

/// A group's settings (unset: the server's defaults).
#[derive(Debug, Args)]
pub struct SettingsArgs {
    /// How events are handed out.
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyArg>,
    /// Retries before an event is parked.
    #[arg(long)]
    pub max_retry_count: Option<u32>,
    /// Redeliver an event not acked within this many milliseconds.
    #[arg(long)]
    pub message_timeout_ms: Option<u64>,
    /// Events in flight per consumer.
    #[arg(long)]
    pub max_in_flight: Option<u32>,
    /// Most consumers at once.
    #[arg(long)]
    pub max_subscribers: Option<u32>,
    /// Write the checkpoint at most this many milliseconds after acks.
    #[arg(long)]
    pub checkpoint_after_ms: Option<u64>,
    /// ... or after this many acks.
    #[arg(long)]
    pub checkpoint_max_count: Option<u32>,
    /// ordered-by-stream: partition by this metadata key.
    #[arg(long)]
    pub partition_key: Option<String>,
}

impl SettingsArgs {
    fn settings(&self) -> GroupSettings {
        let mut s = GroupSettings::new();
        if let Some(st) = self.strategy {
            s = s.strategy(match st {
                StrategyArg::RoundRobin => Strategy::RoundRobin,
                StrategyArg::DispatchToSingle => Strategy::DispatchToSingle,
                StrategyArg::Pinned => Strategy::Pinned,
                StrategyArg::OrderedByStream => Strategy::OrderedByStream,
            });
        }
        s.max_retry_count = self.max_retry_count;
        s.message_timeout = self.message_timeout_ms.map(Duration::from_millis);
        s.max_in_flight = self.max_in_flight;
        s.max_subscribers = self.max_subscribers;
        s.checkpoint_after = self.checkpoint_after_ms.map(Duration::from_millis);
        s.checkpoint_max_count = self.checkpoint_max_count;
        s.partition_key = self.partition_key.clone();
        s
    }
}

fn strategy_name(s: Strategy) -> &'static str {
    match s {
        Strategy::RoundRobin => "round-robin",
        Strategy::DispatchToSingle => "dispatch-to-single",
        Strategy::Pinned => "pinned",
        Strategy::OrderedByStream => "ordered-by-stream",
    }
}

fn state_name(s: &GroupState) -> String {
    match s {
        GroupState::Live => "live".into(),
        GroupState::CatchingUp => "catching-up".into(),
        GroupState::WaitingForConsumers => "waiting-for-consumers".into(),
        GroupState::ConsumersFull => "consumers-full".into(),
        GroupState::PartitionsBlocked => "partitions-blocked".into(),
        GroupState::Failing => "failing".into(),
        GroupState::Deleted => "deleted".into(),
        GroupState::Other(o) => o.clone(),
        _ => format!("{s:?}"),
    }
}

fn source_text(s: &GroupSource) -> String {
    match s {
        GroupSource::Stream(name) => name.clone(),
        GroupSource::All(f) if f.is_empty() => "$all".into(),
        GroupSource::All(f) => {
            let mut parts = Vec::new();
            parts.extend(f.event_types.iter().map(|t| format!("type={t}")));
            parts.extend(f.stream_prefixes.iter().map(|p| format!("prefix={p}")));
            format!("$all ({})", parts.join(", "))
        }
    }
}

fn info_json(g: &GroupInfo) -> Value {
    let s = &g.settings;
    let ms = |d: Option<Duration>| d.map(|d| d.as_millis() as u64);
    let source = match &g.source {
        GroupSource::Stream(name) => json!({"stream": name}),
        GroupSource::All(f) => json!({
            "stream": "$all", "event_types": f.event_types, "stream_prefixes": f.stream_prefixes,
        }),
    };
    json!({
        "group": g.group,
        "source": source,
        "state": state_name(&g.state),
        "reason": g.reason,
        "settings": {
            "strategy": strategy_name(s.strategy),
            "max_retry_count": s.max_retry_count,
            "message_timeout_ms": ms(s.message_timeout),
            "max_in_flight": s.max_in_flight,
            "max_subscribers": s.max_subscribers,
            "checkpoint_after_ms": ms(s.checkpoint_after),
            "checkpoint_max_count": s.checkpoint_max_count,
            "partition_key": s.partition_key,
        },
        "checkpoint": g.checkpoint, "head": g.head, "lag": g.lag,
        "in_flight": g.in_flight, "parked": g.parked,
        "delivered": g.delivered, "acked": g.acked, "nacked": g.nacked,
        "parked_total": g.parked_total, "redelivered": g.redelivered,
        "consumers": g.consumers.iter().map(|c| json!({
            "id": c.id, "name": c.name, "in_flight": c.in_flight, "capacity": c.capacity,
            "delivered": c.delivered, "acked": c.acked, "nacked": c.nacked,
        })).collect::<Vec<_>>(),
    })
}

fn info_human(g: &GroupInfo) -> String {
    let s = &g.settings;
    let opt = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
    let mut out = format!(
        "group:        {}\nsource:       {}\nstate:        {}{}\nstrategy:     {}\n\
         checkpoint:   {}\nhead:         {}\nlag:          {}\nin flight:    {}\n\
         parked:       {}\ndelivered:    {} (acked {}, nacked {}, redelivered {})\n\
         settings:     max_retry_count {}, message_timeout_ms {}, max_in_flight {}, \
         max_subscribers {}, checkpoint_after_ms {}, checkpoint_max_count {}",
        g.group,
        source_text(&g.source),
        state_name(&g.state),
        g.reason
            .as_ref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default(),
        strategy_name(s.strategy),
        g.checkpoint,
        g.head,
        g.lag,
        g.in_flight,
        g.parked,
        g.delivered,
        g.acked,
        g.nacked,
        g.redelivered,
        opt(s.max_retry_count.map(u64::from)),
        opt(s.message_timeout.map(|d| d.as_millis() as u64)),
        opt(s.max_in_flight.map(u64::from)),
        opt(s.max_subscribers.map(u64::from)),
        opt(s.checkpoint_after.map(|d| d.as_millis() as u64)),
        opt(s.checkpoint_max_count.map(u64::from)),
    );
    if let Some(k) = &s.partition_key {
        out.push_str(&format!(", partition_key {k}"));
    }
    out.push_str(&format!("\nconsumers:    {}", g.consumers.len()));
    for c in &g.consumers {
        out.push_str(&format!(
            "\n  {} ({}): {}/{} in flight, {} delivered, {} acked, {} nacked",
            c.name, c.id, c.in_flight, c.capacity, c.delivered, c.acked, c.nacked
        ));
    }
    out
}

fn print_info(g: &GroupInfo, json: bool) -> std::io::Result<()> {
    if json {
        output::json_line(&info_json(g))
    } else {
        output::line(&info_human(g))
    }
}

/// `strata groups …`.
pub async fn run(a: GroupsArgs) -> Outcome {
    let client = a.conn.client().await?;
    match a.command {
        GroupsCommand::Ls => {
            let groups = client.list_groups().await?;
            if a.json {
                for g in &groups {
                    output::json_line(&info_json(g))?;
                }
            } else {
                let rows: Vec<Vec<String>> = groups
                    .iter()
                    .map(|g| {
                        vec![
                            g.group.clone(),
                            source_text(&g.source),
                            state_name(&g.state),
                            g.lag.to_string(),
                            g.consumers.len().to_string(),
                            g.parked.to_string(),
                        ]
                    })
                    .collect();
                output::line(&output::table(
                    &["GROUP", "SOURCE", "STATE", "LAG", "CONSUMERS", "PARKED"],
                    &rows,
                    output::color_stdout(),
                ))?;
            }
        }
        GroupsCommand::Info { group } => print_info(&client.group_info(group).await?, a.json)?,
        GroupsCommand::Create(c) => {
            let source = match (&c.stream, c.all) {
                (Some(s), false) => GroupSource::stream(s.clone()),
                (None, true) => {
                    let mut f = Filter::new();
                    for t in &c.types {
                        f = f.event_type(t.clone());
                    }
                    for p in &c.prefixes {
                        f = f.stream_prefix(p.clone());
                    }
                    GroupSource::all(f)
                }
                _ => return Err(anyhow::anyhow!("give --stream STREAM or --all").into()),
            };
            let start = match c.from.as_str() {
                "start" => GroupStart::Start,
                "end" => GroupStart::End,
                n => {
                    let n: u64 = n
                        .parse()
                        .map_err(|_| anyhow::anyhow!("--from {n:?}: start, end or a number"))?;
                    if c.all {
                        GroupStart::AfterPosition(n)
                    } else {
                        GroupStart::AfterRevision(n)
                    }
                }
            };
            let info = client
                .create_group(c.group.clone(), source, start, c.settings.settings())
                .await
                .map_err(|e| Failure::client(e, true))?;
            print_info(&info, a.json)?;
        }
        GroupsCommand::Update { group, settings } => {
            let info = client
                .update_group(group, settings.settings())
                .await
                .map_err(|e| Failure::client(e, true))?;
            print_info(&info, a.json)?;
        }
        GroupsCommand::Delete { group } => {
            client
                .delete_group(group.clone())
                .await
                .map_err(|e| Failure::client(e, true))?;
            if a.json {
                output::json_line(&json!({"group": group, "deleted": true}))?;
            } else {
                output::line(&format!("deleted group {group}"))?;
            }
        }
        GroupsCommand::Replay { group, max } => {
            let queued = client.replay_parked(group.clone(), max).await?;
            if a.json {
                output::json_line(&json!({"group": group, "queued": queued}))?;
            } else {
                output::line(&format!(
                    "{queued} parked events of {group} queued for redelivery"
                ))?;
            }
        }
    }
    Ok(())
}
