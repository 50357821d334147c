//! The demo domain used by the `strata-project` binary, the tests and the
//! benchmark: orders in streams `order-<id>` with `OrderPlaced`,
//! `OrderShipped` and `OrderCancelled` events, and three projections —
//! [`CustomerTotals`] and [`OpenOrders`] (exactly-once, sled) and
//! [`OrderLog`] (at-least-once, an append-only file). Owns no runner logic.

use crate::error::HandlerError;
use crate::kv::KvTxn;
use crate::projection::{KvProjection, Projection};
use crate::source::Source;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use strata_client::{EventData, Filter, RecordedEvent};

/// `OrderPlaced` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placed {
    /// Order id.
    pub order: u64,
    /// Customer name.
    pub customer: String,
    /// Amount in cents.
    pub amount: i64,
}

/// `OrderShipped` payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRef {
    /// Order id.
    pub order: u64,
}

/// `OrderCancelled` payload: carries what is refunded, so per-customer
/// totals need no per-order state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancelled {
    /// Order id.
    pub order: u64,
    /// Customer name.
    pub customer: String,
    /// Refunded amount in cents.
    pub amount: i64,
}

/// A customer's totals, the value under `c/<customer>` in [`CustomerTotals`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Sum of the amounts of the customer's non-cancelled orders.
    pub total: i64,
    /// Number of non-cancelled orders.
    pub orders: u64,
}

/// The stream of an order.
pub fn stream_of(order: u64) -> String {
    format!("order-{order}")
}

/// An `OrderPlaced` event.
pub fn placed(order: u64, customer: &str, amount: i64) -> EventData {
    let p = Placed {
        order,
        customer: customer.to_owned(),
        amount,
    };
    EventData::json("OrderPlaced", &p).expect("serializable")
}

/// An `OrderShipped` event.
pub fn shipped(order: u64) -> EventData {
    EventData::json("OrderShipped", &OrderRef { order }).expect("serializable")
}

/// An `OrderCancelled` event (refunding `amount` to `customer`).
pub fn cancelled(order: u64, customer: &str, amount: i64) -> EventData {
    let c = Cancelled {
        order,
        customer: customer.to_owned(),
        amount,
    };
    EventData::json("OrderCancelled", &c).expect("serializable")
}

/// Totals per customer (`c/<customer>` → [`Totals`]): placed orders add,
/// cancellations subtract.
#[derive(Debug, Clone, Copy, Default)]
pub struct CustomerTotals;

impl KvProjection for CustomerTotals {
    fn name(&self) -> &str {
        "customer-totals"
    }
    fn source(&self) -> Source {
        Source::Category("order-".into())
    }
    async fn apply(&mut self, e: &RecordedEvent, m: &mut KvTxn<'_>) -> Result<(), HandlerError> {
        match e.event_type.as_str() {
            "OrderPlaced" => {
                let p: Placed = serde_json::from_slice(&e.data)?;
                let key = format!("c/{}", p.customer);
                let mut t: Totals = m.get_json(key.as_bytes())?.unwrap_or_default();
                t.total += p.amount;
                t.orders += 1;
                m.insert_json(key, &t)?;
            }
            "OrderCancelled" => {
                let c: Cancelled = serde_json::from_slice(&e.data)?;
                let key = format!("c/{}", c.customer);
                let mut t: Totals = m.get_json(key.as_bytes())?.unwrap_or_default();
                t.total -= c.amount;
                t.orders = t.orders.saturating_sub(1);
                m.insert_json(key, &t)?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Open orders (`<order id, 20 digits>` → [`Placed`]), over `$all` filtered
/// by event type.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOrders;

impl KvProjection for OpenOrders {
    fn name(&self) -> &str {
        "open-orders"
    }
    fn source(&self) -> Source {
        Source::All(
            Filter::new()
                .event_type("OrderPlaced")
                .event_type("OrderShipped")
                .event_type("OrderCancelled"),
        )
    }
    async fn apply(&mut self, e: &RecordedEvent, m: &mut KvTxn<'_>) -> Result<(), HandlerError> {
        if e.event_type == "OrderPlaced" {
            let p: Placed = serde_json::from_slice(&e.data)?;
            m.insert_json(format!("{:020}", p.order), &p)?;
        } else {
            // OrderShipped and OrderCancelled both carry `order`.
            let r: OrderRef = serde_json::from_slice(&e.data)?;
            m.remove(format!("{:020}", r.order));
        }
        Ok(())
    }
}

/// An at-least-once projection: appends `<position> <stream> <type>` per
/// order event to a file, fsynced before each checkpoint. After a crash,
/// lines since the last checkpoint may appear twice; none is missing.
#[derive(Debug)]
pub struct OrderLog {
    file: std::fs::File,
    buf: Vec<u8>,
}

impl OrderLog {
    /// Appends to `path` (created if missing).
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self {
            file,
            buf: Vec::new(),
        })
    }
}

impl Projection for OrderLog {
    fn name(&self) -> &str {
        "order-log"
    }
    fn source(&self) -> Source {
        Source::Category("order-".into())
    }
    async fn handle(&mut self, e: &RecordedEvent) -> Result<(), HandlerError> {
        writeln!(self.buf, "{} {} {}", e.position, e.stream, e.event_type)?;
        Ok(())
    }
    async fn flush(&mut self) -> Result<(), HandlerError> {
        self.file.write_all(&self.buf)?;
        self.file.sync_data()?;
        self.buf.clear();
        Ok(())
    }
}
