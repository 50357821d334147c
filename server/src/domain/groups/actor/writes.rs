//! The records a consumer group writes, as its actor's methods: a parked
//! event into `$parked-<group>`, a checkpoint into `$checkpoint-<group>`,
//! their answers coming back as [`Written`], and replaying parked events
//! (reading them back and truncating the parked stream once they are
//! acked). Everything goes to the writer with `try_submit_system` and never
//! blocks the actor's task.
//!
//! Not here: the actor's loop and dispatch (`actor.rs`), record layouts
//! (`records`).

use super::*;

impl GroupActor {
    pub(super) fn submit(
        &self,
        write: Write,
        on_done: impl FnOnce(bool) -> Written + Send + 'static,
    ) {
        let Some(node) = self.node() else { return };
        let tx = self.done_tx.clone();
        node.store.try_submit_system(
            write,
            move |r: strata_storage::Result<Vec<AppendResult>>| {
                if let Err(e) = &r {
                    tracing::warn!(error = %e, "a consumer group record was not written");
                }
                let _ = tx.send(on_done(r.is_ok()));
            },
        );
    }

    pub(super) fn park(&mut self, e: Entry, reason: String) {
        tracing::debug!(group = %self.name, stream = %e.event.stream, revision = e.event.revision, %reason, "parking");
        let write = Write::Append(vec![StreamAppend {
            stream: parked_stream(&self.name),
            expected: ExpectedRevision::Any,
            events: vec![parked_event(&e.event, &reason, e.retry_count)],
        }]);
        self.submit(write, move |ok| Written::Park(e, ok));
    }

    pub(super) fn write_checkpoint(&mut self, cp: u64) {
        self.writing = true;
        let write = Write::Append(vec![StreamAppend {
            stream: checkpoint_stream(&self.name),
            expected: ExpectedRevision::Any,
            events: vec![checkpoint_event(cp)],
        }]);
        self.submit(write, move |ok| Written::Checkpoint(cp, ok));
    }

    pub(super) fn maybe_checkpoint(&mut self) {
        let cp = self.state.checkpoint();
        if self.writing || cp <= self.written {
            return;
        }
        let s = self.state.settings();
        let due = self.acks_since >= s.checkpoint_max_count
            || self
                .first_unwritten
                .is_none_or(|t| t.elapsed() >= s.checkpoint_after());
        if due {
            self.acks_since = 0;
            self.first_unwritten = None;
            self.write_checkpoint(cp);
        }
    }

    pub(super) fn written(&mut self, w: Written) {
        match w {
            Written::Checkpoint(cp, ok) => {
                self.writing = false;
                if ok {
                    self.written = self.written.max(cp);
                }
            }
            Written::Park(e, ok) => {
                let replay = e.replay;
                if ok {
                    self.parked.end += 1;
                }
                self.state.parked(e, ok);
                if let (Some(rev), true) = (replay, ok) {
                    self.replay_finished(rev);
                }
            }
            Written::Unparked(tb, ok) => {
                if ok && tb > self.parked.truncate_before {
                    self.parked.truncate_before = tb;
                }
            }
        }
    }

    /// Queues up to `max` parked events (0: all) for delivery again.
    pub(super) async fn replay(&mut self, max: u64) -> Result<u64, Error> {
        let node = self.node().ok_or(Error::ShuttingDown)?;
        let want = match max {
            0 => MAX_REPLAY_EVENTS,
            n => n.min(MAX_REPLAY_EVENTS),
        };
        // Past what is already queued for replay, oldest first.
        let from = self.parked.replayed_to.max(
            self.parked
                .replaying
                .last()
                .map_or(self.parked.truncate_before, |r| r + 1),
        );
        let (store, stream) = (node.store.clone(), parked_stream(&self.name));
        let records = crate::domain::blocking(move || {
            match store.read_stream(
                &stream,
                StreamFrom::Revision(from),
                Direction::Forwards,
                want as usize,
            ) {
                Err(strata_storage::Error::StreamNotFound(_)) => Ok(Vec::new()),
                r => r,
            }
        })
        .await?;
        let mut queued = 0;
        for r in records {
            let Some(original) = unparked(&r) else {
                tracing::warn!(group = %self.name, revision = r.revision, "a parked record does not decode; left in place");
                continue;
            };
            let key = self.key_of(&original);
            let partition = self.partition_of(&original);
            self.parked.replaying.insert(r.revision);
            self.state.push_replay(Entry {
                event: Arc::new(original),
                key,
                retry_count: 0,
                partition,
                replay: Some(r.revision),
            });
            queued += 1;
        }
        tracing::info!(group = %self.name, queued, "replaying parked events");
        Ok(queued)
    }

    /// A replayed parked record was handled: move truncate_before past
    /// every record handled so far.
    pub(super) fn replay_finished(&mut self, rev: u64) {
        self.parked.replaying.remove(&rev);
        self.parked.replayed_to = self.parked.replayed_to.max(rev + 1);
        let tb = self
            .parked
            .replaying
            .first()
            .copied()
            .unwrap_or(self.parked.replayed_to);
        if tb > self.parked.truncate_before {
            let write = Write::SetMetadata {
                stream: parked_stream(&self.name),
                expected: ExpectedRevision::Any,
                metadata: StreamMetadata {
                    truncate_before: Some(tb),
                    ..Default::default()
                },
            };
            self.submit(write, move |ok| Written::Unparked(tb, ok));
        }
    }
}
