//! GraphQL requests by operation name and outcome:
//! `orderlog_query_request_seconds{operation, outcome}` (a histogram, so its `_count` is the
//! request count). The name is the executed operation's (`query OrderPage { ... }`, or the
//! request's `operationName`); `anonymous` when it has none. Names are the clients' to
//! choose, so the label is bounded: the first [`NAMES_KEPT`] valid names seen keep their
//! own series, later ones and anything that is not a GraphQL name count as `other`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextPrepareRequest, NextRequest,
};
use async_graphql::{Request, Response, ServerResult};

/// Distinct operation names with series of their own.
pub const NAMES_KEPT: usize = 64;

/// The longest name kept as it is.
const NAME_MAX: usize = 64;

/// The operation names that have a series, shared by every request.
#[derive(Default)]
pub struct OperationNames {
    kept: Mutex<HashSet<String>>,
}

impl OperationNames {
    /// The label for an operation named `name`.
    pub fn label(&self, name: Option<&str>) -> String {
        let Some(name) = name else {
            return "anonymous".to_owned();
        };
        if !is_graphql_name(name) {
            return "other".to_owned();
        }
        let Ok(mut kept) = self.kept.lock() else {
            return "other".to_owned();
        };
        if kept.contains(name) {
            return name.to_owned();
        }
        if kept.len() < NAMES_KEPT {
            kept.insert(name.to_owned());
            return name.to_owned();
        }
        "other".to_owned()
    }
}

/// `/[_A-Za-z][_0-9A-Za-z]*/`, at most [`NAME_MAX`] characters.
fn is_graphql_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= NAME_MAX
        && chars
            .next()
            .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// The schema extension that records each request.
#[derive(Default)]
pub struct OperationMetrics {
    names: Arc<OperationNames>,
}

impl OperationMetrics {
    /// Recording under `names`, which answers served outside the schema share.
    pub fn new(names: Arc<OperationNames>) -> Self {
        Self { names }
    }
}

/// Records a request answered without executing it (a kept answer: `answer_cache.rs`).
pub fn record_served(names: &OperationNames, operation: Option<&str>, started: Instant) {
    metrics::histogram!("orderlog_query_request_seconds", "operation" => names.label(operation), "outcome" => "ok")
        .record(started.elapsed().as_secs_f64());
}

impl ExtensionFactory for OperationMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PerRequest {
            names: self.names.clone(),
            operation: Mutex::new(None),
        })
    }
}

/// One request's extension: what it learns of the operation's name on the way.
struct PerRequest {
    names: Arc<OperationNames>,
    operation: Mutex<Option<String>>,
}

impl PerRequest {
    fn remember(&self, name: Option<&str>) {
        if let (Some(name), Ok(mut operation)) = (name, self.operation.lock()) {
            *operation = Some(name.to_owned());
        }
    }
}

#[async_trait::async_trait]
impl Extension for PerRequest {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let response = next.run(ctx).await;
        let name = self.operation.lock().ok().and_then(|mut o| o.take());
        let operation = self.names.label(name.as_deref());
        let outcome = if response.errors.is_empty() {
            "ok"
        } else {
            "error"
        };
        metrics::histogram!("orderlog_query_request_seconds", "operation" => operation, "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        response
    }

    /// The request's `operationName`: the label of a request refused before it executes.
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        self.remember(request.operation_name.as_deref());
        next.run(ctx, request).await
    }

    /// The executed operation's name, also when the request gave none.
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        self.remember(operation_name);
        next.run(ctx, operation_name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kept_up_to_the_bound_then_count_as_other() {
        let names = OperationNames::default();
        assert_eq!(names.label(None), "anonymous");
        assert_eq!(names.label(Some("OrderPage")), "OrderPage");
        for i in 1..NAMES_KEPT {
            assert_eq!(names.label(Some(&format!("Op{i}"))), format!("Op{i}"));
        }
        assert_eq!(names.label(Some("OneTooMany")), "other");
        // a name kept before stays its own
        assert_eq!(names.label(Some("OrderPage")), "OrderPage");
    }

    #[test]
    fn what_is_not_a_graphql_name_is_other() {
        let names = OperationNames::default();
        for bad in ["", "1st", "a b", "é", "x\"}", &"a".repeat(NAME_MAX + 1)] {
            assert_eq!(names.label(Some(bad)), "other", "{bad:?}");
        }
        assert_eq!(
            names.label(Some(&"a".repeat(NAME_MAX))),
            "a".repeat(NAME_MAX)
        );
    }
}
