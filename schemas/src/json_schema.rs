//! JSON Schemas generated from the Rust types: one per event type (at its current schema
//! version) and one per command body. They are checked in under `schemas/json/` and a
//! test fails when the types and the files drift apart.

use schemars::{JsonSchema, Schema, SchemaGenerator};

use crate::command::{
    AddLine, CancelOrder, ChangeShippingAddress, ConfirmPayment, DeliverOrder, PlaceOrder,
    RemoveLine, ShipOrder,
};
use crate::event::{
    EVENT_TYPES, LineAdded, LineRemoved, OrderCancelled, OrderDelivered, OrderPlaced, OrderShipped,
    PaymentConfirmed, ShippingAddressChanged,
};

/// A generated schema and the path, relative to `schemas/json/`, it is checked in at.
#[derive(Debug)]
pub struct SchemaFile {
    pub path: String,
    pub schema: Schema,
}

fn schema_of<T: JsonSchema>(id: &str) -> Schema {
    let mut schema = SchemaGenerator::default().into_root_schema_for::<T>();
    schema.insert(
        "$id".to_owned(),
        format!("https://orderlog.dev/schemas/{id}").into(),
    );
    schema
}

/// The JSON Schema of each event's payload, keyed by type name, at the current version.
pub fn event_schemas() -> Vec<(&'static str, u32, Schema)> {
    let schemas = [
        schema_of::<OrderPlaced>,
        schema_of::<LineAdded>,
        schema_of::<LineRemoved>,
        schema_of::<ShippingAddressChanged>,
        schema_of::<PaymentConfirmed>,
        schema_of::<OrderShipped>,
        schema_of::<OrderDelivered>,
        schema_of::<OrderCancelled>,
    ];
    EVENT_TYPES
        .iter()
        .zip(schemas)
        .map(|((name, version), schema)| {
            (
                *name,
                *version,
                schema(&format!("events/{name}.v{version}.json")),
            )
        })
        .collect()
}

/// Every schema file: events and command bodies.
pub fn all() -> Vec<SchemaFile> {
    let mut files: Vec<SchemaFile> = event_schemas()
        .into_iter()
        .map(|(name, version, schema)| SchemaFile {
            path: format!("events/{name}.v{version}.json"),
            schema,
        })
        .collect();
    let commands = [
        ("PlaceOrder", schema_of::<PlaceOrder> as fn(&str) -> Schema),
        ("AddLine", schema_of::<AddLine>),
        ("RemoveLine", schema_of::<RemoveLine>),
        ("ChangeShippingAddress", schema_of::<ChangeShippingAddress>),
        ("ConfirmPayment", schema_of::<ConfirmPayment>),
        ("ShipOrder", schema_of::<ShipOrder>),
        ("DeliverOrder", schema_of::<DeliverOrder>),
        ("CancelOrder", schema_of::<CancelOrder>),
    ];
    for (name, schema) in commands {
        let path = format!("commands/{name}.json");
        files.push(SchemaFile {
            schema: schema(&path),
            path,
        });
    }
    files
}
