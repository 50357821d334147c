//! [`Filter`]: which events of `$all` a read or subscription delivers,
//! including whether system records (streams starting with `$`) are among
//! them.
//!
//! Not here: sending it (`convert.rs`), or the read and subscription
//! options that carry it (`types.rs`).

/// A filter for `$all` reads and subscriptions. Empty lists match every
/// application event; both lists must match when both are set. System
/// records (streams starting with `$`: stream metadata and deletes in
/// `$$<stream>`, scavenge history in `$scavenges`) are left out unless
/// [`Filter::include_system`] is set — with or without a filter.
///
/// ```
/// use strata_client::Filter;
/// let f = Filter::new().event_type("OrderPlaced").stream_prefix("order-");
/// assert!(f.matches("order-1", "OrderPlaced"));
/// assert!(!f.matches("user-1", "OrderPlaced"));
///
/// let lifecycle = Filter::new().stream_prefix("$$order-").include_system(true);
/// assert!(lifecycle.matches("$$order-1", "$metadata"));
/// assert!(!Filter::new().matches("$$order-1", "$metadata"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Filter {
    /// Keep events whose type is one of these (exact match).
    pub event_types: Vec<String>,
    /// Keep events whose stream name starts with one of these.
    pub stream_prefixes: Vec<String>,
    /// Also deliver system records (streams starting with `$`).
    pub include_system: bool,
}

impl Filter {
    /// A filter that matches everything (add conditions with the builders).
    pub fn new() -> Self {
        Self::default()
    }

    /// Also accepts events of this type.
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_types.push(event_type.into());
        self
    }

    /// Also accepts events of streams starting with this prefix.
    pub fn stream_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.stream_prefixes.push(prefix.into());
        self
    }

    /// Also (`true`) or not (`false`, the default) accepts system records:
    /// events of streams whose name starts with `$`. The type and prefix
    /// conditions apply to them as to any event.
    pub fn include_system(mut self, include: bool) -> Self {
        self.include_system = include;
        self
    }

    /// True if the filter has no type or prefix condition: it lets every
    /// application event through (system records only with
    /// [`include_system`](Filter::include_system)).
    pub fn is_empty(&self) -> bool {
        self.event_types.is_empty() && self.stream_prefixes.is_empty()
    }

    /// Whether an event of this stream and type passes (the server applies
    /// the same rule).
    pub fn matches(&self, stream: &str, event_type: &str) -> bool {
        (self.include_system || !stream.starts_with('$'))
            && (self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type))
            && (self.stream_prefixes.is_empty()
                || self
                    .stream_prefixes
                    .iter()
                    .any(|p| stream.starts_with(p.as_str())))
    }
}
