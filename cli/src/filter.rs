//! Which events a replay keeps: by type, order id and customer id. Each kind of filter
//! narrows; several values of one kind widen.

use std::collections::HashSet;

use schemas::event::EVENT_TYPES;
use uuid::Uuid;

use crate::args::Filters;

const TYPE_PREFIX: &str = "dev.orderlog.order.";

#[derive(Debug, Default, Clone)]
pub struct Filter {
    types: Option<HashSet<&'static str>>,
    orders: Option<HashSet<String>>,
    customers: Option<HashSet<String>>,
}

/// An event type by its full name (`dev.orderlog.order.placed`) or short name (`placed`).
pub fn resolve_type(name: &str) -> Result<&'static str, String> {
    let name = name.trim();
    let full = if name.starts_with(TYPE_PREFIX) {
        name.to_owned()
    } else {
        format!("{TYPE_PREFIX}{name}")
    };
    EVENT_TYPES
        .iter()
        .map(|(t, _)| *t)
        .find(|t| *t == full)
        .ok_or_else(|| {
            let known: Vec<&str> = EVENT_TYPES
                .iter()
                .map(|(t, _)| t.trim_start_matches(TYPE_PREFIX))
                .collect();
            format!("unknown event type `{name}`; known: {}", known.join(", "))
        })
}

/// Splits repeated and comma-separated values.
pub fn values(inputs: &[String]) -> Vec<String> {
    inputs
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Filter {
    /// The filter of the command line's `--type`, `--order` and `--customer`.
    pub fn of(filters: &Filters) -> Result<Self, String> {
        Self::new(&filters.types, &filters.orders, &filters.customers)
    }

    pub fn new(types: &[String], orders: &[String], customers: &[String]) -> Result<Self, String> {
        let types = values(types);
        let orders = values(orders);
        let customers = values(customers);
        let types = if types.is_empty() {
            None
        } else {
            Some(
                types
                    .iter()
                    .map(|t| resolve_type(t))
                    .collect::<Result<HashSet<_>, _>>()?,
            )
        };
        let orders = if orders.is_empty() {
            None
        } else {
            let parsed = orders.iter().map(|o| {
                Uuid::parse_str(o)
                    .map(|u| u.to_string())
                    .map_err(|_| format!("`{o}` is not an order id (a UUID)"))
            });
            Some(parsed.collect::<Result<HashSet<_>, _>>()?)
        };
        let customers = if customers.is_empty() {
            None
        } else {
            Some(customers.into_iter().collect())
        };
        Ok(Self {
            types,
            orders,
            customers,
        })
    }

    /// Only order placements say who the customer is, so a customer filter has to see
    /// every placement, from the beginning of the log.
    pub fn needs_customers(&self) -> bool {
        self.customers.is_some()
    }

    pub fn wants_customer(&self, customer: &str) -> bool {
        self.customers.as_ref().is_none_or(|c| c.contains(customer))
    }

    /// Whether an event passes; `customer` is the order's customer when known.
    pub fn keeps(&self, event_type: &str, order_id: &str, customer: Option<&str>) -> bool {
        self.types.as_ref().is_none_or(|t| t.contains(event_type))
            && self.orders.as_ref().is_none_or(|o| o.contains(order_id))
            && self
                .customers
                .as_ref()
                .is_none_or(|c| customer.is_some_and(|customer| c.contains(customer)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    #[test]
    fn types_resolve_by_full_or_short_name() {
        assert_eq!(resolve_type("placed"), Ok("dev.orderlog.order.placed"));
        assert_eq!(
            resolve_type("dev.orderlog.order.payment_confirmed"),
            Ok("dev.orderlog.order.payment_confirmed")
        );
        let error = resolve_type("refunded").expect_err("unknown");
        assert!(
            error.starts_with("unknown event type `refunded`; known: placed, line_added"),
            "{error}"
        );
    }

    #[test]
    fn filters_narrow_across_kinds_and_widen_within_one() {
        let id = "0193e4f0-7c1a-7000-8000-000000000001";
        let filter =
            Filter::new(&strings(&["placed,cancelled"]), &strings(&[id]), &[]).expect("valid");
        assert!(filter.keeps("dev.orderlog.order.placed", id, None));
        assert!(filter.keeps("dev.orderlog.order.cancelled", id, None));
        assert!(!filter.keeps("dev.orderlog.order.shipped", id, None));
        assert!(!filter.keeps(
            "dev.orderlog.order.placed",
            "0193e4f0-7c1a-7000-8000-000000000002",
            None
        ));
        assert!(Filter::default().keeps("dev.orderlog.order.shipped", id, None));
    }

    #[test]
    fn a_customer_filter_needs_the_customer() {
        let filter = Filter::new(&[], &[], &strings(&["c-1", "c-2"])).expect("valid");
        assert!(filter.needs_customers());
        assert!(filter.keeps("dev.orderlog.order.placed", "x", Some("c-2")));
        assert!(!filter.keeps("dev.orderlog.order.placed", "x", Some("c-3")));
        assert!(!filter.keeps("dev.orderlog.order.placed", "x", None));
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        assert!(
            Filter::new(&[], &strings(&["nope"]), &[])
                .expect_err("bad")
                .contains("`nope` is not an order id")
        );
        assert!(Filter::new(&strings(&["placed", "bogus"]), &[], &[]).is_err());
    }
}
