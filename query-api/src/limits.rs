//! Gives the errors async-graphql raises before execution (parse, validation, depth and
//! complexity limits) a stable `extensions.code`, and refuses oversized query texts.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerError, ServerResult, ValidationResult, Variables};

pub struct ErrorCodes {
    pub max_query_bytes: usize,
}

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension { max_query_bytes: self.max_query_bytes })
    }
}

struct ErrorCodesExtension {
    max_query_bytes: usize,
}

fn with_code(mut error: ServerError, code: &'static str) -> ServerError {
    metrics::counter!("orderlog_query_errors_total", "code" => code).increment(1);
    let mut extensions = error.extensions.take().unwrap_or_default();
    if extensions.get("code").is_none() {
        extensions.set("code", code);
    }
    error.extensions = Some(extensions);
    error
}

/// The code of a validation error, from async-graphql's messages for its limits.
fn validation_code(error: &ServerError) -> &'static str {
    if error.message.contains("nested too deep") {
        "QUERY_TOO_DEEP"
    } else if error.message.contains("too complex") {
        "QUERY_TOO_COMPLEX"
    } else {
        "GRAPHQL_VALIDATION_FAILED"
    }
}

#[async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if query.len() > self.max_query_bytes {
            let message = format!("the query is {} bytes; at most {} are accepted", query.len(), self.max_query_bytes);
            return Err(with_code(ServerError::new(message, None), "QUERY_TOO_LARGE"));
        }
        next.run(ctx, query, variables).await.map_err(|e| with_code(e, "GRAPHQL_PARSE_FAILED"))
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
