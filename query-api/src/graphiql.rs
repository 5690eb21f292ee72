//! GraphiQL in the browser at `/`, served entirely from this service: the page below and
//! GraphiQL's pinned browser assets from a local directory (fetched once from the npm
//! registry by `compose/local/graphiql.sh`), so it works with no internet access.
//!
//! The page itself holds no data, so it is served to anyone. Its Headers tab starts with an
//! `Authorization` header to fill in; in the development mode it starts with the ready
//! development token (subscriptions send it in `connection_init` too). Only there: anyone
//! who can load the page of a development service can use its token.

use std::path::{Path, PathBuf};

use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// The files the page loads, and their content types.
const ASSETS: [(&str, &str); 4] = [
    ("react.production.min.js", "text/javascript"),
    ("react-dom.production.min.js", "text/javascript"),
    ("graphiql.min.js", "text/javascript"),
    ("graphiql.min.css", "text/css"),
];

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>orderlog GraphiQL</title>
  <style>body { margin: 0; height: 100vh; } #graphiql { height: 100vh; }</style>
  <link rel="stylesheet" href="/graphiql/assets/graphiql.min.css">
  <script src="/graphiql/assets/react.production.min.js"></script>
  <script src="/graphiql/assets/react-dom.production.min.js"></script>
  <script src="/graphiql/assets/graphiql.min.js"></script>
</head>
<body>
  <div id="graphiql">Loading GraphiQL...</div>
  <script>
    const ws = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql/ws';
    const token = __DEV_TOKEN__;
    const auth = token ? { Authorization: 'Bearer ' + token } : null;
    const fetcher = GraphiQL.createFetcher({ url: '/graphql', subscriptionUrl: ws, wsConnectionParams: auth || undefined });
    const defaultHeaders = JSON.stringify(auth || { Authorization: 'Bearer <a token with the scope orders:read>' }, null, 2);
    const params = new URLSearchParams(location.search);
    const defaultQuery = `# orderlog: the newest orders. Press the run button (or Ctrl-Enter).
query NewestOrders {
  orders(first: 10) {
    totalCount
    edges { cursor node { id status customerId total { minorUnits currency } placedAt } }
    pageInfo { hasNextPage endCursor }
  }
}
`;
    ReactDOM.createRoot(document.getElementById('graphiql')).render(
      React.createElement(GraphiQL, { fetcher, defaultQuery, defaultHeaders, headers: defaultHeaders, query: params.get('query') || undefined, defaultEditorToolsVisibility: true })
    );
  </script>
</body>
</html>
"#;

#[derive(Debug, Clone)]
pub struct Assets {
    dir: PathBuf,
    /// The development token the page starts with, in the development mode only.
    dev_token: Option<String>,
}

impl Assets {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            dev_token: None,
        }
    }

    /// The page starts with this token in its headers (the development mode).
    #[must_use]
    pub fn with_dev_token(mut self, token: Option<String>) -> Self {
        self.dev_token = token;
        self
    }

    /// Whether every asset the page needs is present.
    pub fn installed(&self) -> bool {
        ASSETS.iter().all(|(name, _)| self.dir.join(name).is_file())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The GraphiQL page, or a plain explanation when its assets are not installed.
pub async fn page(State(assets): State<Assets>) -> Response {
    if assets.installed() {
        let token = serde_json::to_string(&assets.dev_token).unwrap_or_else(|_| "null".into());
        return Html(PAGE.replace("__DEV_TOKEN__", &token)).into_response();
    }
    let message = format!(
        "GraphiQL's assets are not installed in {}. Run `compose/local/graphiql.sh` (make up does), \
         or point ORDERLOG_GRAPHIQL_ASSETS at them. GraphQL itself is served at /graphql.\n",
        assets.dir.display()
    );
    (StatusCode::SERVICE_UNAVAILABLE, message).into_response()
}

/// One of the known asset files; anything else is 404.
pub async fn asset(State(assets): State<Assets>, UrlPath(name): UrlPath<String>) -> Response {
    let Some((file, content_type)) = ASSETS.iter().find(|(file, _)| *file == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match tokio::fs::read(assets.dir.join(file)).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
