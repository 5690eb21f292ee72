//! Which operations the answer cache may keep (`answer_cache.rs`): queries of the orders
//! read model alone, with orders' own fields only (their lines, total, payment, shipment,
//! address...). `order(id)` at the root makes an answer that changes only when one of its
//! orders gets a new version, which the change signal names ([`Reads::NamedOrders`]); a page
//! of `orders` (its members, cursors and counts) may change with any order
//! ([`Reads::AnyOrder`]). An order's `customer` or `history` (other read models), the
//! customer and sales reports and the projections' status are not kept.

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
};

/// The fields of `Order` read from the order's own row and lines. Every field of `Order`
/// is either here or among those that read other models (`customer`, `history`): a test
/// holds the SDL to it.
pub(crate) const ORDER_OWN_FIELDS: &[&str] = &[
    "id",
    "customerId",
    "status",
    "currency",
    "total",
    "lineCount",
    "shippingAddress",
    "payment",
    "shipment",
    "cancellation",
    "placedAt",
    "paidAt",
    "shippedAt",
    "deliveredAt",
    "cancelledAt",
    "version",
    "lastEventAt",
    "paymentDueAt",
    "shipBy",
    "overdue",
    "lines",
    "__typename",
];

/// How deep fragments may nest here (the schema's validation refuses cycles; this check
/// runs on answers that passed it, and stops anyway).
const MAX_NESTING: usize = 16;

/// What a kept answer depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reads {
    /// The orders it names (`order(id)`), at their versions.
    NamedOrders,
    /// Any order (a page: its members may change with any order).
    AnyOrder,
}

/// A query whose answer may be kept: its operation's name, and what its answer reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cacheable {
    pub operation: Option<String>,
    pub reads: Reads,
}

/// `query` (with `operation_name` choosing among several) when it is a query of orders'
/// own fields only; `None` when it is anything else or does not parse.
pub(crate) fn cacheable(query: &str, operation_name: Option<&str>) -> Option<Cacheable> {
    let document = async_graphql::parser::parse_query(query).ok()?;
    let (name, operation) = match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), _) => (None, operation),
        (DocumentOperations::Multiple(operations), Some(wanted)) => {
            let (name, operation) = operations
                .iter()
                .find(|(name, _)| name.as_str() == wanted)?;
            (Some(name.to_string()), operation)
        }
        // One named operation is run without being named.
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            let (name, operation) = operations.iter().next()?;
            (Some(name.to_string()), operation)
        }
        (DocumentOperations::Multiple(_), None) => return None,
    };
    if operation.node.ty != OperationType::Query {
        return None;
    }
    let operation_name = name.or_else(|| operation_name.map(str::to_owned));
    let mut reads = Reads::NamedOrders;
    root_is_orders(&document, &operation.node.selection_set.node, 0, &mut reads).then_some(
        Cacheable {
            operation: operation_name,
            reads,
        },
    )
}

/// Every root field is `order` or `orders` over orders' own fields (or `__typename`);
/// `reads` becomes [`Reads::AnyOrder`] at the first page.
fn root_is_orders(
    document: &ExecutableDocument,
    set: &SelectionSet,
    depth: usize,
    reads: &mut Reads,
) -> bool {
    depth <= MAX_NESTING
        && set.items.iter().all(|item| match &item.node {
            Selection::Field(field) => match field.node.name.node.as_str() {
                "__typename" => true,
                "order" => own_fields_only(document, &field.node.selection_set.node, 0),
                "orders" => {
                    *reads = Reads::AnyOrder;
                    page_of_own_fields(document, &field.node.selection_set.node, 0)
                }
                _ => false,
            },
            Selection::FragmentSpread(spread) => document
                .fragments
                .get(&spread.node.fragment_name.node)
                .is_some_and(|f| {
                    root_is_orders(document, &f.node.selection_set.node, depth + 1, reads)
                }),
            Selection::InlineFragment(inline) => {
                root_is_orders(document, &inline.node.selection_set.node, depth + 1, reads)
            }
        })
}

/// A page of orders (`OrderConnection`, its edges) with orders' own fields only.
fn page_of_own_fields(document: &ExecutableDocument, set: &SelectionSet, depth: usize) -> bool {
    depth <= MAX_NESTING
        && set.items.iter().all(|item| match &item.node {
            Selection::Field(field) => {
                let below = &field.node.selection_set.node;
                match field.node.name.node.as_str() {
                    "__typename" | "cursor" | "pageInfo" | "totalCount" | "totalCountIsExact" => {
                        true
                    }
                    "edges" => page_of_own_fields(document, below, depth + 1),
                    "node" | "nodes" => own_fields_only(document, below, 0),
                    _ => false,
                }
            }
            Selection::FragmentSpread(spread) => document
                .fragments
                .get(&spread.node.fragment_name.node)
                .is_some_and(|f| {
                    page_of_own_fields(document, &f.node.selection_set.node, depth + 1)
                }),
            Selection::InlineFragment(inline) => {
                page_of_own_fields(document, &inline.node.selection_set.node, depth + 1)
            }
        })
}

/// Every field selected on an order is one of its own (what is below them are values of
/// the order: lines, money, the address).
fn own_fields_only(document: &ExecutableDocument, set: &SelectionSet, depth: usize) -> bool {
    depth <= MAX_NESTING
        && set.items.iter().all(|item| match &item.node {
            Selection::Field(field) => ORDER_OWN_FIELDS.contains(&field.node.name.node.as_str()),
            Selection::FragmentSpread(spread) => document
                .fragments
                .get(&spread.node.fragment_name.node)
                .is_some_and(|f| own_fields_only(document, &f.node.selection_set.node, depth + 1)),
            Selection::InlineFragment(inline) => {
                own_fields_only(document, &inline.node.selection_set.node, depth + 1)
            }
        })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The fields of `Order` that read other models.
    const ORDER_FIELDS_ELSEWHERE: &[&str] = &["customer", "history"];

    #[test]
    fn an_order_with_its_own_fields_is_kept_under_its_operation_name() {
        let query = "query One($id: ID!) { order(id: $id) { id version lines { sku quantity } \
                     total { minorUnits currency } ...More } } fragment More on Order { status }";
        let named = |name: Option<&str>, reads| {
            Some(Cacheable {
                operation: name.map(str::to_owned),
                reads,
            })
        };
        assert_eq!(
            cacheable(query, None),
            named(Some("One"), Reads::NamedOrders)
        );
        assert_eq!(
            cacheable(query, Some("One")),
            named(Some("One"), Reads::NamedOrders),
            "the name is the label of its metrics"
        );
        let two = "{ a: order(id: \"x\") { id } b: order(id: \"y\") { version } __typename }";
        assert_eq!(cacheable(two, None), named(None, Reads::NamedOrders));
        let page = "{ orders(first: 2) { edges { cursor node { id lines { sku } } } nodes { version } \
                    pageInfo { hasNextPage endCursor } totalCount } order(id: \"x\") { id } }";
        assert_eq!(cacheable(page, None), named(None, Reads::AnyOrder));
    }

    #[test]
    fn what_reads_other_models_or_is_not_a_query_is_not_kept() {
        for query in [
            "{ order(id: \"x\") { id customer { id } } }",
            "{ order(id: \"x\") { id history { version } } }",
            "{ order(id: \"x\") { ... on Order { customer { id } } } }",
            "{ orders(first: 1) { edges { node { id customer { id } } } } }",
            "{ orders(first: 1) { nodes { history { version } } } }",
            "{ customer(id: \"c\") { orders { nodes { id } } } }",
            "{ order(id: \"x\") { id } projections { name } }",
            "subscription { orderChanged { id } }",
            "{ order(id: \"x\") { ...Missing } }",
            "not graphql",
        ] {
            assert_eq!(cacheable(query, None), None, "{query}");
        }
        let two = "query A { order(id: \"x\") { id } } query B { projections { name } }";
        assert_eq!(
            cacheable(two, Some("A")).and_then(|c| c.operation),
            Some("A".to_owned())
        );
        assert_eq!(cacheable(two, Some("B")), None);
        assert_eq!(cacheable(two, None), None, "which one is not said");
    }

    /// A field added to `Order` must be classified here, and what is below the own fields
    /// holds only values (no object that reads another model).
    #[test]
    fn every_field_of_order_is_classified_and_its_own_fields_hold_values_only() {
        let sdl = crate::schema::sdl();
        let fields = |type_name: &str| -> Vec<(String, String)> {
            let start = sdl
                .find(&format!("type {type_name} {{"))
                .unwrap_or_else(|| panic!("type {type_name} in the SDL"));
            let body = &sdl[start..];
            let body = &body[body.find('{').expect("{") + 1..body.find("\n}").expect("}")];
            let mut in_description = false;
            body.lines()
                .map(str::trim)
                .filter(|line| {
                    if *line == "\"\"\"" {
                        in_description = !in_description;
                        return false;
                    }
                    !in_description && !line.is_empty() && !line.starts_with('"')
                })
                .filter_map(|line| {
                    let (name, ty) = line.split_once(':')?;
                    let name = name.split('(').next()?.trim().to_owned();
                    let ty = ty.trim().trim_matches(|c| "[]!".contains(c)).to_owned();
                    Some((name, ty))
                })
                .collect()
        };
        let order: BTreeSet<String> = fields("Order").into_iter().map(|(n, _)| n).collect();
        let classified: BTreeSet<String> = ORDER_OWN_FIELDS
            .iter()
            .chain(ORDER_FIELDS_ELSEWHERE)
            .filter(|f| **f != "__typename")
            .map(|f| (*f).to_owned())
            .collect();
        assert_eq!(order, classified);

        let scalars = [
            "ID",
            "String",
            "Int",
            "Long",
            "Boolean",
            "DateTime",
            "OrderStatus",
        ];
        let mut values: Vec<String> = fields("Order")
            .into_iter()
            .filter(|(name, _)| ORDER_OWN_FIELDS.contains(&name.as_str()))
            .map(|(_, ty)| ty)
            .filter(|ty| !scalars.contains(&ty.as_str()))
            .collect();
        let mut seen = BTreeSet::new();
        while let Some(value) = values.pop() {
            if !seen.insert(value.clone()) {
                continue;
            }
            assert!(
                !["Order", "Customer", "TimelineEvent"].contains(&value.as_str()),
                "{value} is below an order's own field"
            );
            values.extend(
                fields(&value)
                    .into_iter()
                    .map(|(_, ty)| ty)
                    .filter(|ty| !scalars.contains(&ty.as_str())),
            );
        }
    }
}
