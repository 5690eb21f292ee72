//! Which customer each open order belongs to. Only `OrderPlaced` names the customer, so an
//! export remembers it for every order that can still have events, and keeps the map
//! between runs (`_orderlog/customers.parquet`, committed with the run's files). An order
//! leaves the map with its final event (delivered, cancelled, expired): memory follows the
//! orders that are open, not the log's size.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use arrow_array::{Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Deserialize;
use uuid::Uuid;

pub const PLACED: &str = "dev.orderlog.order.placed";
const FINAL: [&str; 3] = [
    "dev.orderlog.order.delivered",
    "dev.orderlog.order.cancelled",
    "dev.orderlog.order.expired",
];

/// Where the map is kept, relative to the export directory.
pub const FILE: &str = "_orderlog/customers.parquet";

#[derive(Deserialize)]
struct Placement<'a> {
    #[serde(borrow)]
    customer_id: &'a str,
}

#[derive(Debug, Default)]
pub struct Customers {
    open: HashMap<Uuid, Arc<str>>,
}

impl Customers {
    /// The map a previous run committed under `root` (empty for a new export).
    pub fn load(root: &Path) -> anyhow::Result<Self> {
        let path = root.join(FILE);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(e).context(format!("opening {}", path.display())),
        };
        let unreadable = || format!("{} is not a customer map", path.display());
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .with_context(unreadable)?
            .build()
            .with_context(unreadable)?;
        let mut open = HashMap::new();
        for batch in reader {
            let batch = batch.with_context(unreadable)?;
            let column = |at: usize| {
                batch
                    .column(at)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| anyhow!(unreadable()))
            };
            let (orders, customers) = (column(0)?, column(1)?);
            for row in 0..batch.num_rows() {
                let order = Uuid::parse_str(orders.value(row)).with_context(unreadable)?;
                open.insert(order, Arc::from(customers.value(row)));
            }
        }
        Ok(Self { open })
    }

    /// Learns from an event, told by its type and order (and, for a placement, its data):
    /// a placement adds its order, a final event removes it.
    pub fn learn(&mut self, event_type: &str, order: Uuid, payload: &[u8]) {
        if event_type == PLACED {
            if let Ok(placement) = serde_json::from_slice::<Placement<'_>>(payload) {
                self.open.insert(order, Arc::from(placement.customer_id));
            }
        } else if FINAL.contains(&event_type) {
            self.open.remove(&order);
        }
    }

    pub fn of(&self, order: &Uuid) -> Option<&str> {
        self.open.get(order).map(|c| &**c)
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Writes the map to `path` (a run's staging copy of [`FILE`]).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("order_id", DataType::Utf8, false),
            Field::new("customer_id", DataType::Utf8, false),
        ]));
        let mut entries: Vec<(&Uuid, &Arc<str>)> = self.open.iter().collect();
        entries.sort();
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let properties = super::files::properties()?.build();
        let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(properties))?;
        for slice in entries.chunks(65_536) {
            let orders: StringArray = slice.iter().map(|(o, _)| Some(o.to_string())).collect();
            let customers: StringArray = slice.iter().map(|(_, c)| Some(&***c)).collect();
            let batch =
                RecordBatch::try_new(schema.clone(), vec![Arc::new(orders), Arc::new(customers)])?;
            writer.write(&batch)?;
        }
        writer
            .into_inner()?
            .sync_all()
            .with_context(|| format!("syncing {}", path.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placements_add_final_events_remove_and_the_map_survives_a_save() {
        let mut customers = Customers::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        customers.learn(PLACED, a, br#"{"customer_id":"cust-a","lines":[]}"#);
        customers.learn(PLACED, b, br#"{"customer_id":"cust-b"}"#);
        customers.learn("dev.orderlog.order.payment_confirmed", a, b"{}");
        assert_eq!(customers.of(&a), Some("cust-a"));
        customers.learn("dev.orderlog.order.cancelled", b, b"{}");
        assert_eq!(customers.of(&b), None);

        let root = std::env::temp_dir().join(format!("orderlog-map-{}", Uuid::new_v4().simple()));
        customers.save(&root.join(FILE)).expect("save");
        let loaded = Customers::load(&root).expect("load");
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded.of(&a), Some("cust-a"));
        assert!(
            Customers::load(&root.join("nowhere"))
                .expect("none")
                .is_empty()
        );
        let _ = std::fs::remove_dir_all(root);
    }
}
