//! Every limit, size and duration of the storage engine, in one place.
//! Input limits are enforced before anything is written (a violation is a
//! typed error and nothing is stored); the rest bound memory and pace the
//! background threads. Units are in the names (durations are `Duration`s).

use std::time::Duration;

/// Largest `data` + `metadata` of one event, in bytes (1 MiB).
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;
/// Most events in one transaction (all of its streams together).
pub const MAX_EVENTS_PER_APPEND: usize = 10_000;
/// Largest encoded size of one transaction, in bytes (16 MiB).
pub const MAX_APPEND_BYTES: usize = 16 * 1024 * 1024;
/// Most streams in one multi-stream transaction.
pub const MAX_STREAMS_PER_APPEND: usize = 100;
/// Longest stream name, in bytes of UTF-8.
pub const MAX_STREAM_NAME_BYTES: usize = 255;
/// Longest event type or content type, in bytes of UTF-8.
pub const MAX_TYPE_NAME_BYTES: usize = 255;
/// Most bytes one group commit writes before its fdatasync (64 MiB). Also
/// bounds how much a torn tail can hold: recovery refuses to cut more.
pub const MAX_GROUP_COMMIT_BYTES: usize = 64 * 1024 * 1024;
/// Disk blocks the writer reserves ahead of the end of the active segment
/// (fallocate with KEEP_SIZE), in bytes (32 MiB). An fdatasync of a large
/// append into reserved blocks measured 2.7x faster here than one that must
/// allocate them (3.5 ms vs 9.5 ms for 4.5 MiB).
pub const RESERVE_AHEAD_BYTES: u64 = 32 * 1024 * 1024;
/// Default largest segment file, in bytes (256 MiB).
pub const DEFAULT_SEGMENT_MAX_BYTES: u64 = 256 * 1024 * 1024;
/// Smallest allowed segment size, in bytes: one maximal transaction must fit.
pub const MIN_SEGMENT_MAX_BYTES: u64 = (MAX_APPEND_BYTES as u64) * 2;
/// Largest allowed segment size: offsets inside a segment are `u32`.
pub const MAX_SEGMENT_MAX_BYTES: u64 = u32::MAX as u64;
/// How many of the most recent events are remembered by id for idempotent
/// retries with `ExpectedRevision::Any` / `StreamExists` (about 40 bytes each).
pub const DEFAULT_DEDUPE_WINDOW_EVENTS: usize = 262_144;
/// Committed-but-not-yet-indexed events kept in memory before the writer
/// waits for the indexer (back-pressure bounds memory).
pub const MAX_UNINDEXED_EVENTS: usize = 1_000_000;
/// Events the indexer writes to sled in one batch.
pub const INDEX_BATCH_EVENTS: usize = 16_384;
/// The indexer waits for at least this many events (or [`INDEX_LINGER`])
/// before writing a batch to sled.
pub const INDEX_MIN_BATCH_EVENTS: usize = 4_096;
/// How long the indexer lets a small batch build up.
pub const INDEX_LINGER: Duration = Duration::from_millis(20);
/// The index keeps the location of every revision of a stream that is a
/// multiple of this; revisions between are reached through each record's
/// link to the stream's previous event (at most this many hops).
pub const STREAM_SPARSE_INTERVAL_REVISIONS: u64 = 64;
/// How long the idle indexer sleeps between checks for new events (it is
/// also woken by every commit).
pub const INDEXER_IDLE_WAIT: Duration = Duration::from_millis(100);
/// Longest an open waits for sled's own lock on `index/`. The data
/// directory's `LOCK` is already held by then, so only a store of this
/// same process that was just closed can still hold it, while its last
/// threads let go of the index.
pub const INDEX_LOCK_WAIT: Duration = Duration::from_secs(5);
/// How long the indexer waits before retrying a failed index write (reads
/// are served from the in-memory tail meanwhile).
pub const INDEX_RETRY_DELAY: Duration = Duration::from_secs(1);
/// How long the writer waits between checks while the indexer is
/// [`MAX_UNINDEXED_EVENTS`] behind.
pub const WRITER_INDEX_ROOM_WAIT: Duration = Duration::from_millis(10);
/// Default `Options::index_cache_bytes`: sled's page cache for the index,
/// in bytes (64 MiB). The index of 1 M events takes about 11 MB, so this
/// holds the working set of a store of about 5 M events while bounding the
/// server's memory; a larger store works with it too, reading the index
/// pages that do not fit from the OS page cache.
pub const DEFAULT_INDEX_CACHE_BYTES: u64 = 64 * 1024 * 1024;
/// Smallest `Options::index_cache_bytes`, in bytes (1 MiB); a store is not
/// opened with less (`Error::Config`).
pub const MIN_INDEX_CACHE_BYTES: u64 = 1024 * 1024;
/// How often sled flushes the stream index on its own (the log is the
/// truth; the index catches up from it after a crash).
pub const INDEX_FLUSH_EVERY: Duration = Duration::from_millis(1000);
/// Requests that may queue for the writer before `Store::submit` blocks and
/// `Store::try_submit` refuses with `Error::Overloaded`.
pub const WRITER_QUEUE_REQUESTS: usize = 16_384;
/// Streams whose heads the writer caches; past this the cache is cleared.
pub const HEAD_CACHE_STREAMS: usize = 200_000;
/// Most `$all` records one read call examines before returning a page, so a
/// filter that rarely matches cannot hold a reader for the whole log. A
/// read through the type or category index counts the records it reads.
pub const MAX_SCAN_EVENTS_PER_READ: usize = 65_536;
/// Position-map entries a read through the type or category index fetches
/// at a time (4 KiB of a sealed segment's map): nearby candidates cost one
/// read of the map, not one each.
pub const LOCATE_BATCH_POSITIONS: usize = 1_024;
/// Most names one `Store::list_event_types` / `Store::list_categories`
/// call returns (a larger limit is cut to this); page with `after`.
pub const MAX_LISTED_NAMES: usize = 1_000;
/// The default `Options::category_separator` (KurrentDB's convention).
pub const DEFAULT_CATEGORY_SEPARATOR: char = '-';
/// Bytes read at a time by sequential scans (512 KiB).
pub const SCAN_CHUNK_BYTES: usize = 512 * 1024;
/// Bytes read for a single random record; more is read if it is larger.
pub const POINT_READ_BYTES: usize = 4 * 1024;
/// Bytes read before a record when walking a stream's chain backwards.
pub const READ_BEHIND_BYTES: usize = 32 * 1024;
/// Bytes read ahead when point reads turn out to be sequential.
pub const READ_AHEAD_BYTES: usize = 256 * 1024;
/// Bytes recovery and verification read at a time (4 MiB).
pub const RECOVERY_READ_BYTES: usize = 4 * 1024 * 1024;
/// Largest snapshot `data + metadata`, in bytes (16 MiB).
pub const MAX_SNAPSHOT_BYTES: usize = 16 * 1024 * 1024;
/// Default number of snapshots kept per stream (older ones are dropped).
pub const DEFAULT_SNAPSHOTS_PER_STREAM: usize = 3;
/// Largest `custom` part of a stream's metadata, in bytes (64 KiB).
pub const MAX_METADATA_CUSTOM_BYTES: usize = 64 * 1024;
/// How often a starting scavenge checks whether the index has caught up
/// with the segments it is about to rewrite.
pub const SCAVENGE_INDEX_WAIT: Duration = Duration::from_millis(10);
/// A scavenge's rewrite fdatasyncs its new segment after every this many
/// bytes written (2 MiB), so the filesystem never has a large pile of its
/// dirty pages to flush while the writer waits on an fdatasync.
pub const SCAVENGE_SYNC_EVERY_BYTES: u64 = 2 * 1024 * 1024;
/// Bytes a scavenge reads at a time (1 MiB): the unit its rate limit
/// paces, small enough that its I/O comes in short bursts.
pub const SCAVENGE_READ_BYTES: usize = 1024 * 1024;
/// The rate a scavenge reads segments at when the operator names none, in
/// bytes per second (64 MiB/s): a 1 GiB log in about 20 s, while append
/// p99 stays within 2x of an idle store's on this machine's disk
/// (docs/BENCHMARKS.md; unthrottled, 900 MB/s but p99 x11).
pub const DEFAULT_SCAVENGE_BYTES_PER_SECOND: u64 = 64 * 1024 * 1024;
