//! Typed Arrow columns filled a row at a time. A dataset's schema is the one description of
//! its columns: [`Table`] makes a builder for each field, and a row is appended through a
//! [`Cursor`] that visits the fields in the schema's order. A row that does not match its
//! schema (a bug, never input) makes [`Table::finish`] fail with the column it broke at.

use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, ListArray, RecordBatch, StructArray};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, FieldRef, Fields, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};

/// Every timestamp column: microseconds (what Spark reads), adjusted to UTC.
pub fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The builder of one column.
enum Col {
    Text(StringBuilder),
    Int(Int64Builder),
    Small(Int32Builder),
    Time(TimestampMicrosecondBuilder),
    Struct {
        fields: Fields,
        cols: Vec<Col>,
    },
    List {
        item: FieldRef,
        offsets: Vec<i32>,
        values: Box<Col>,
    },
}

impl Col {
    fn of(data_type: &DataType) -> Result<Col, String> {
        Ok(match data_type {
            DataType::Utf8 => Col::Text(StringBuilder::new()),
            DataType::Int64 => Col::Int(Int64Builder::new()),
            DataType::Int32 => Col::Small(Int32Builder::new()),
            DataType::Timestamp(TimeUnit::Microsecond, zone) => {
                Col::Time(TimestampMicrosecondBuilder::new().with_timezone_opt(zone.clone()))
            }
            DataType::Struct(fields) => Col::Struct {
                fields: fields.clone(),
                cols: fields
                    .iter()
                    .map(|f| Col::of(f.data_type()))
                    .collect::<Result<_, _>>()?,
            },
            DataType::List(item) => Col::List {
                item: item.clone(),
                offsets: vec![0],
                values: Box::new(Col::of(item.data_type())?),
            },
            other => return Err(format!("no column builder for {other}")),
        })
    }

    fn finish(&mut self) -> Result<ArrayRef, String> {
        Ok(match self {
            Col::Text(b) => Arc::new(b.finish()),
            Col::Int(b) => Arc::new(b.finish()),
            Col::Small(b) => Arc::new(b.finish()),
            Col::Time(b) => Arc::new(b.finish()),
            Col::Struct { fields, cols } => {
                let arrays = cols.iter_mut().map(Col::finish).collect::<Result<_, _>>()?;
                Arc::new(
                    StructArray::try_new(fields.clone(), arrays, None)
                        .map_err(|e| e.to_string())?,
                )
            }
            Col::List {
                item,
                offsets,
                values,
            } => {
                let offsets =
                    OffsetBuffer::new(ScalarBuffer::from(std::mem::replace(offsets, vec![0])));
                Arc::new(
                    ListArray::try_new(item.clone(), offsets, values.finish()?, None)
                        .map_err(|e| e.to_string())?,
                )
            }
        })
    }

    fn kind(&self) -> &'static str {
        match self {
            Col::Text(_) => "text",
            Col::Int(_) => "int64",
            Col::Small(_) => "int32",
            Col::Time(_) => "timestamp",
            Col::Struct { .. } => "struct",
            Col::List { .. } => "list",
        }
    }

    fn len(&self) -> usize {
        match self {
            Col::Text(b) => b.len(),
            Col::Int(b) => b.len(),
            Col::Small(b) => b.len(),
            Col::Time(b) => b.len(),
            Col::Struct { cols, .. } => cols.first().map_or(0, Col::len),
            Col::List { offsets, .. } => offsets.len() - 1,
        }
    }
}

/// Rows being gathered for one batch of one dataset.
pub struct Table {
    schema: SchemaRef,
    cols: Vec<Col>,
    rows: usize,
    fault: Option<String>,
}

impl Table {
    pub fn new(schema: SchemaRef) -> Result<Self, String> {
        let cols = schema
            .fields()
            .iter()
            .map(|f| Col::of(f.data_type()))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            schema,
            cols,
            rows: 0,
            fault: None,
        })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends a row: `fill` gives every column's value in order.
    pub fn row(&mut self, fill: impl FnOnce(&mut Cursor<'_>)) {
        let mut cursor = Cursor {
            cols: &mut self.cols,
            at: 0,
            fault: &mut self.fault,
        };
        fill(&mut cursor);
        cursor.end();
        self.rows += 1;
    }

    /// The rows so far as one batch; the table starts empty again.
    pub fn finish(&mut self) -> Result<RecordBatch, String> {
        if let Some(fault) = self.fault.take() {
            return Err(fault);
        }
        let arrays = self
            .cols
            .iter_mut()
            .map(Col::finish)
            .collect::<Result<_, _>>()?;
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays).map_err(|e| e.to_string())
    }
}

/// Visits the columns of one row (or of one struct value) in order.
pub struct Cursor<'a> {
    cols: &'a mut [Col],
    at: usize,
    fault: &'a mut Option<String>,
}

impl Cursor<'_> {
    fn next(&mut self, wanted: &'static str) -> Option<&mut Col> {
        let at = self.at;
        self.at += 1;
        match self.cols.get_mut(at) {
            Some(col) => Some(col),
            None => {
                self.fault.get_or_insert_with(|| {
                    format!("a row has a {wanted} value past its {at} columns")
                });
                None
            }
        }
    }

    fn mismatch(&mut self, wanted: &'static str, found: &'static str) {
        let at = self.at - 1;
        self.fault
            .get_or_insert_with(|| format!("column {at} is {found}, the row gave {wanted}"));
    }

    pub fn text(&mut self, value: Option<&str>) -> &mut Self {
        match self.next("text") {
            Some(Col::Text(b)) => b.append_option(value),
            Some(other) => {
                let found = other.kind();
                self.mismatch("text", found);
            }
            None => {}
        }
        self
    }

    pub fn int(&mut self, value: Option<i64>) -> &mut Self {
        match self.next("int64") {
            Some(Col::Int(b)) => b.append_option(value),
            Some(other) => {
                let found = other.kind();
                self.mismatch("int64", found);
            }
            None => {}
        }
        self
    }

    pub fn small(&mut self, value: i32) -> &mut Self {
        match self.next("int32") {
            Some(Col::Small(b)) => b.append_value(value),
            Some(other) => {
                let found = other.kind();
                self.mismatch("int32", found);
            }
            None => {}
        }
        self
    }

    pub fn time(&mut self, value: Option<DateTime<Utc>>) -> &mut Self {
        match self.next("timestamp") {
            Some(Col::Time(b)) => b.append_option(value.map(|t| t.timestamp_micros())),
            Some(other) => {
                let found = other.kind();
                self.mismatch("timestamp", found);
            }
            None => {}
        }
        self
    }

    /// A struct value: `fill` gives its fields in order.
    pub fn group(&mut self, fill: impl FnOnce(&mut Cursor<'_>)) -> &mut Self {
        let fault = &mut *self.fault;
        let at = self.at;
        self.at += 1;
        match self.cols.get_mut(at) {
            Some(Col::Struct { cols, .. }) => {
                let mut inner = Cursor { cols, at: 0, fault };
                fill(&mut inner);
                inner.end();
            }
            Some(other) => {
                let found = other.kind();
                fault.get_or_insert_with(|| format!("column {at} is {found}, the row gave struct"));
            }
            None => {
                fault.get_or_insert_with(|| format!("a row has a struct past its {at} columns"));
            }
        }
        self
    }

    /// A list of struct values, one `fill` per item.
    pub fn list<T>(&mut self, items: &[T], fill: impl Fn(&mut Cursor<'_>, &T)) -> &mut Self {
        let fault = &mut *self.fault;
        let at = self.at;
        self.at += 1;
        match self.cols.get_mut(at) {
            Some(Col::List {
                offsets, values, ..
            }) => {
                let mut item = Cursor {
                    cols: std::slice::from_mut(values.as_mut()),
                    at: 0,
                    fault,
                };
                for value in items {
                    item.at = 0;
                    item.group(|fields| fill(fields, value));
                }
                let end = i32::try_from(values.len()).unwrap_or(i32::MAX);
                offsets.push(end);
            }
            Some(other) => {
                let found = other.kind();
                fault.get_or_insert_with(|| format!("column {at} is {found}, the row gave list"));
            }
            None => {
                fault.get_or_insert_with(|| format!("a row has a list past its {at} columns"));
            }
        }
        self
    }

    /// Every column must have had its value.
    fn end(&mut self) {
        if self.at != self.cols.len() {
            let (at, len) = (self.at, self.cols.len());
            self.fault
                .get_or_insert_with(|| format!("a row gave {at} values for {len} columns"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use arrow_schema::{Field, Schema};

    fn schema() -> SchemaRef {
        let line = Fields::from(vec![
            Field::new("sku", DataType::Utf8, false),
            Field::new("quantity", DataType::Int64, false),
        ]);
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("at", utc_micros(), true),
            Field::new("part", DataType::Int32, false),
            Field::new(
                "lines",
                DataType::List(Arc::new(Field::new("item", DataType::Struct(line), false))),
                false,
            ),
        ]))
    }

    #[test]
    fn rows_become_a_batch_of_the_schema() {
        let mut table = Table::new(schema()).expect("table");
        table.row(|r| {
            r.text(Some("a"))
                .time(None)
                .small(1)
                .list(&[("X", 2)], |l, (sku, n)| {
                    l.text(Some(sku)).int(Some(*n));
                });
        });
        table.row(|r| {
            r.text(Some("b")).time(Some(Utc::now())).small(2).list(
                &[("Y", 1), ("Z", 3)],
                |l, (sku, n)| {
                    l.text(Some(sku)).int(Some(*n));
                },
            );
        });
        let batch = table.finish().expect("batch");
        assert_eq!(batch.num_rows(), 2);
        let lines = batch
            .column(3)
            .as_any()
            .downcast_ref::<ListArray>()
            .expect("list");
        assert_eq!(lines.value_offsets(), &[0, 1, 3]);
        assert_eq!(batch.column(1).null_count(), 1);
        assert_eq!(table.rows(), 0, "the table starts again");
    }

    #[test]
    fn a_row_that_does_not_match_names_the_column() {
        let mut table = Table::new(schema()).expect("table");
        table.row(|r| {
            r.text(Some("a")).int(Some(1));
        });
        let fault = table.finish().expect_err("mismatch");
        assert_eq!(fault, "column 1 is timestamp, the row gave int64");

        let mut table = Table::new(schema()).expect("table");
        table.row(|r| {
            r.text(Some("a"));
        });
        assert_eq!(
            table.finish().expect_err("short row"),
            "a row gave 1 values for 4 columns"
        );
    }
}
