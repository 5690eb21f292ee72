//! Gives the errors async-graphql raises before execution (parse, validation, depth and
//! complexity limits) their stable `extensions.code` (the codes are `errors.rs`'s), refuses oversized query texts, and refuses
//! introspection with a clear error when it is switched off (async-graphql alone would
//! answer `null`, which a client cannot tell from an empty schema).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Response, ServerError, ServerResult, ValidationResult, Variables};

use crate::errors::{validation_code, with_code};

/// The request limits, as an async-graphql extension.
pub struct RequestLimits {
    pub max_query_bytes: usize,
    pub max_depth: usize,
    pub introspection: bool,
    parsed: Arc<ParseCache>,
}

impl RequestLimits {
    pub fn new(max_query_bytes: usize, max_depth: usize, introspection: bool) -> Self {
        Self {
            max_query_bytes,
            max_depth,
            introspection,
            parsed: Arc::new(ParseCache::default()),
        }
    }
}

/// How deep what lies under `__schema` or `__type` may nest: GraphiQL's own introspection
/// query nests type references about a dozen levels, past any sensible limit for data.
pub const INTROSPECTION_DEPTH: usize = 16;

impl ExtensionFactory for RequestLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(LimitsExtension {
            max_query_bytes: self.max_query_bytes,
            max_depth: self.max_depth,
            introspection: self.introspection,
            parsed: self.parsed.clone(),
        })
    }
}

struct LimitsExtension {
    max_query_bytes: usize,
    max_depth: usize,
    introspection: bool,
    parsed: Arc<ParseCache>,
}

/// Most distinct query texts kept parsed. Clients send a handful of texts with varying
/// variables, so parsing (a good share of a small request's CPU) happens once per text.
const PARSED_CAPACITY: usize = 512;

/// Parsed documents by query text. Only parsing is cached: validation, depth and
/// complexity depend on the variables and run on every request.
#[derive(Default)]
struct ParseCache {
    documents: Mutex<HashMap<String, ExecutableDocument>>,
}

impl ParseCache {
    fn get(&self, query: &str) -> Option<ExecutableDocument> {
        self.documents.lock().ok()?.get(query).cloned()
    }

    fn put(&self, query: &str, document: &ExecutableDocument) {
        if let Ok(mut documents) = self.documents.lock() {
            if documents.len() >= PARSED_CAPACITY {
                documents.clear(); // crude but bounded; the working set refills at once
            }
            documents.insert(query.to_owned(), document.clone());
        }
    }
}

#[async_trait::async_trait]
impl Extension for LimitsExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if query.len() > self.max_query_bytes {
            let message = format!(
                "the query is {} bytes; at most {} are accepted",
                query.len(),
                self.max_query_bytes
            );
            return Err(with_code(
                ServerError::new(message, None),
                "QUERY_TOO_LARGE",
            ));
        }
        let document = match self.parsed.get(query) {
            Some(document) => document,
            None => {
                let document = next
                    .run(ctx, query, variables)
                    .await
                    .map_err(|e| with_code(e, "GRAPHQL_PARSE_FAILED"))?;
                self.parsed.put(query, &document);
                document
            }
        };
        if too_deep(&document, self.max_depth) {
            return Err(with_code(
                ServerError::new("Query is nested too deep.", None),
                "QUERY_TOO_DEEP",
            ));
        }
        if !self.introspection && asks_for_introspection(&document) {
            let message = "introspection is switched off on this server; the schema is published as SDL instead";
            return Err(with_code(
                ServerError::new(message, None),
                "INTROSPECTION_DISABLED",
            ));
        }
        Ok(document)
    }

    /// Every error of ours carries its code; one without comes from async-graphql about the
    /// request itself: an argument or variable that is not of its input type (`Expected
    /// input type "ID", found null`), an unknown `operationName`. The caller's input,
    /// `BAD_USER_INPUT`.
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        response.errors = std::mem::take(&mut response.errors)
            .into_iter()
            .map(|e| with_code(e, "BAD_USER_INPUT"))
            .collect();
        response
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|e| {
                    let code = validation_code(&e);
                    with_code(e, code)
                })
                .collect()
        })
    }
}

/// Whether an operation nests data fields deeper than `max`, or introspection deeper than
/// [`INTROSPECTION_DEPTH`]. Fragments count as the fields they hold, each measured once
/// (a fragment bomb costs no more than its text); a fragment cycle is left to validation.
fn too_deep(document: &ExecutableDocument, max: usize) -> bool {
    let mut depth = Depth {
        document,
        measured: HashMap::new(),
        open: Vec::new(),
        introspection_too_deep: false,
    };
    let deepest = document
        .operations
        .iter()
        .map(|(_, op)| depth.of(&op.node.selection_set.node))
        .max()
        .unwrap_or(0);
    deepest > max || depth.introspection_too_deep
}

struct Depth<'a> {
    document: &'a ExecutableDocument,
    measured: HashMap<&'a str, usize>,
    open: Vec<&'a str>,
    introspection_too_deep: bool,
}

impl<'a> Depth<'a> {
    fn of(&mut self, set: &'a SelectionSet) -> usize {
        let mut deepest = 0;
        for item in &set.items {
            let depth = match &item.node {
                Selection::Field(field) => {
                    let below = self.of(&field.node.selection_set.node);
                    match field.node.name.node.as_str() {
                        "__schema" | "__type" => {
                            self.introspection_too_deep |= below + 1 > INTROSPECTION_DEPTH;
                            0
                        }
                        _ => below + 1,
                    }
                }
                Selection::InlineFragment(fragment) => self.of(&fragment.node.selection_set.node),
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if let Some(known) = self.measured.get(name) {
                        *known
                    } else if self.open.contains(&name) {
                        0
                    } else if let Some(fragment) =
                        self.document.fragments.get(&spread.node.fragment_name.node)
                    {
                        self.open.push(name);
                        let depth = self.of(&fragment.node.selection_set.node);
                        self.open.pop();
                        self.measured.insert(name, depth);
                        depth
                    } else {
                        0
                    }
                }
            };
            deepest = deepest.max(depth);
        }
        deepest
    }
}

/// Whether any operation or fragment selects `__schema` or `__type` (`__typename` is not
/// introspection of the schema and stays allowed).
fn asks_for_introspection(document: &ExecutableDocument) -> bool {
    fn selects(set: &SelectionSet) -> bool {
        set.items.iter().any(|item| match &item.node {
            Selection::Field(field) => {
                let name = field.node.name.node.as_str();
                name == "__schema" || name == "__type" || selects(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => selects(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => false,
        })
    }
    document
        .operations
        .iter()
        .any(|(_, op)| selects(&op.node.selection_set.node))
        || document
            .fragments
            .values()
            .any(|fragment| selects(&fragment.node.selection_set.node))
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::{asks_for_introspection, too_deep};

    fn asks(query: &str) -> bool {
        asks_for_introspection(&parse_query(query).expect("parses"))
    }

    fn deeper_than(query: &str, max: usize) -> bool {
        too_deep(&parse_query(query).expect("parses"), max)
    }

    #[test]
    fn data_depth_counts_fields_through_fragments_and_introspection_has_its_own_bound() {
        let three = "{ orders { edges { node } } }";
        assert!(!deeper_than(three, 3));
        assert!(deeper_than(three, 2));
        let through_fragments = "{ orders { ...E } } fragment E on OrderConnection { edges { ... on OrderEdge { node } } }";
        assert!(deeper_than(through_fragments, 2));
        assert!(!deeper_than(through_fragments, 3));
        let type_ref = (0..10).fold("name".to_owned(), |inner, _| {
            format!("ofType {{ {inner} }}")
        });
        let introspection =
            format!("{{ __schema {{ types {{ fields {{ type {{ {type_ref} }} }} }} }} }}");
        assert!(!deeper_than(&introspection, 2), "introspection is not data");
        let bomb = (0..20).fold("name".to_owned(), |inner, _| {
            format!("ofType {{ {inner} }}")
        });
        assert!(deeper_than(
            &format!("{{ __type(name: \"Order\") {{ {bomb} }} }}"),
            12
        ));
        let cycle = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
        assert!(!deeper_than(cycle, 1), "left to validation");
    }

    #[test]
    fn finds_introspection_anywhere_in_the_document() {
        assert!(asks("{ __schema { types { name } } }"));
        assert!(asks("query Q { a: __type(name: \"Order\") { name } }"));
        assert!(asks("{ ... on Query { __schema { queryType { name } } } }"));
        assert!(asks(
            "query { ...F } fragment F on Query { __schema { queryType { name } } }"
        ));
    }

    #[test]
    fn the_parse_cache_returns_what_was_parsed_and_stays_bounded() {
        let cache = super::ParseCache::default();
        let document = parse_query("{ projections { name } }").expect("parses");
        assert!(cache.get("{ projections { name } }").is_none());
        cache.put("{ projections { name } }", &document);
        let cached = cache.get("{ projections { name } }").expect("cached");
        assert_eq!(
            cached.operations.iter().count(),
            document.operations.iter().count()
        );
        for n in 0..(super::PARSED_CAPACITY * 2) {
            cache.put(&format!("{{ q{n} }}"), &document);
        }
        assert!(cache.documents.lock().expect("lock").len() <= super::PARSED_CAPACITY);
    }

    #[test]
    fn lets_ordinary_queries_and_typename_through() {
        assert!(!asks("{ projections { name __typename } }"));
        assert!(!asks("{ order(id: \"x\") { id } }"));
    }
}
