//! GraphiQL loads in a real headless browser (Debian's chromium, driven over WebDriver by
//! chromedriver), runs a query against the live service, and its documentation explorer
//! lists the schema (GraphiQL's introspection query passes the limits).

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

struct Driver {
    child: tokio::process::Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Driver {
    async fn start() -> Self {
        let port = testkit::free_port();
        let child = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver runs (make test installs it: compose/local/chromium.sh)");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let capabilities = json!({ "capabilities": { "alwaysMatch": { "browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        } } } });
        let session: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("session")
            .json()
            .await
            .expect("json");
        let session = session["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {session}"))
            .to_owned();
        Self {
            child,
            base,
            session,
            http,
        }
    }

    async fn call(&self, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let reply: Value = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .expect("webdriver")
            .json()
            .await
            .expect("json");
        reply["value"].clone()
    }

    async fn script(&self, script: &str) -> Value {
        self.call("/execute/sync", json!({ "script": script, "args": [] }))
            .await
    }

    /// Polls `script` until it returns something truthy.
    async fn wait_for(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let value = self.script(script).await;
            if !(value.is_null() || value == false || value == "") {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "{what} did not happen in the browser within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn quit(mut self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
        let _ = self.child.kill().await;
    }
}

#[tokio::test]
async fn graphiql_loads_and_runs_a_query_in_a_headless_browser() {
    assert!(
        graphiql_assets().join("graphiql.min.js").is_file(),
        "GraphiQL's assets are missing: run compose/local/graphiql.sh"
    );
    // The development mode (with the tests' secret): the page starts with its token.
    let dev_dir = std::env::temp_dir().join(format!("orderlog-graphiql-{}", uuid::Uuid::new_v4()));
    let platform = {
        let dev_dir = dev_dir.clone();
        Platform::start_with(move |config| {
            config.auth.dev = true;
            config.auth.dev_dir = dev_dir;
        })
        .await
    };
    let placed = platform.place("browser", "EUR", &[("G-1", 1, 4200)]).await;
    let id = placed["order_id"].as_str().expect("id").to_owned();
    platform
        .caught_up(
            placed["consistency_token"].as_str().expect("token"),
            "browser",
        )
        .await;

    let driver = Driver::start().await;
    let query = format!("{{ order(id: \"{id}\") {{ id status total {{ minorUnits }} }} }}");
    let mut url = reqwest::Url::parse(&platform.query).expect("url");
    url.query_pairs_mut().append_pair("query", &query);
    driver.call("/url", json!({ "url": url.as_str() })).await;
    driver
        .wait_for(
            "GraphiQL rendering",
            "return document.querySelector('.graphiql-execute-button') !== null",
        )
        .await;
    driver
        .script("document.querySelector('.graphiql-execute-button').click(); return true")
        .await;
    let result = driver
        .wait_for(
            "the query's result",
            "const r = document.querySelector('.result-window'); return r && r.innerText.includes('minorUnits') ? r.innerText : null",
        )
        .await;
    let text = result.as_str().expect("text");
    assert!(
        text.contains(&id) && text.contains("PLACED") && text.contains("4200"),
        "{text}"
    );
    // The schema explorer works: GraphiQL's own introspection query passed the limits.
    let fields = driver
        .wait_for(
            "the documentation explorer listing the Query fields",
            r#"const button = document.querySelector('[aria-label="Show Documentation Explorer"]');
               if (button && !document.querySelector('.graphiql-doc-explorer')) { button.click(); return null; }
               const query = [...document.querySelectorAll('.graphiql-doc-explorer a')].find(a => a.innerText.trim() === 'Query');
               if (query) { query.click(); return null; }
               const names = [...document.querySelectorAll('.graphiql-doc-explorer-field-name')].map(e => e.innerText.trim());
               return names.includes('orders') ? names.join(',') : null"#,
        )
        .await;
    let fields = fields.as_str().expect("field names");
    for field in ["order", "orders", "customer", "projections"] {
        assert!(fields.split(',').any(|f| f == field), "{field} in {fields}");
    }
    let page = driver.script("return document.body.innerText").await;
    assert!(
        !page.as_str().unwrap_or_default().contains("QUERY_TOO_DEEP"),
        "introspection refused: {page}"
    );
    driver.quit().await;
    platform.stop().await;
    let _ = std::fs::remove_dir_all(dev_dir);
}
