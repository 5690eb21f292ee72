//! The answer cache: whole GraphQL answers (the bytes sent) to queries of orders' own
//! fields (`answer_shape.rs`), served without parsing or executing the query again
//! (docs/query-api.md, "The read cache").
//!
//! Never stale, by construction on the order cache. An answer of named orders
//! (`order(id)`) records the version of each, is kept only while the order cache holds
//! those very versions, and is served only while it still does; the order cache follows the
//! change signals (a newer version evicts, a signal that lost its list empties it, a fill
//! older than a signal is refused), so such an answer outlives none of them. A page (whose
//! members may change with any order) is kept only when no signal of the orders read model
//! came between the start of its execution and its end, and served only until the next
//! one. The key is the query (its SHA-256, as persisted queries name it), the operation's
//! name, the variables and the customer a caller's token is limited to (what a page holds
//! depends on it), never the token; an answer records its orders' customers as well and is
//! served only to a caller who sees every one of them.

use std::sync::Arc;

use async_graphql::Request;
use axum::body::Bytes;
use guard::Principal;
use moka::sync::Cache;
use sha2::{Digest, Sha256};

use crate::answer_shape::{self, Reads};
pub use crate::answer_sources::{Source, Sources};
use crate::order_cache::{OrderCache, Ticket};
use crate::persisted::{self, PersistedQueries};

/// What identifies an answer: the query's hash, the operation and the variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key([u8; 32]);

/// A request that may have a kept answer: its key, and its query's hash (the key to its
/// text among the persisted queries when it was sent as a hash alone).
pub struct Asked {
    pub key: Key,
    query_hash: String,
}

/// A kept answer.
pub struct Answer {
    pub body: Bytes,
    pub etag: String,
    /// The name of its operation, for its metrics (`operation_metrics.rs`).
    pub operation: Option<String>,
    sources: Vec<Source>,
    /// For a page: the signals applied when it was read (it is valid until the next).
    signals: Option<Ticket>,
}

#[derive(Clone)]
pub struct AnswerCache {
    /// `None` when the cache is off.
    entries: Option<Cache<Key, Arc<Answer>>>,
    orders: OrderCache,
    persisted: PersistedQueries,
}

impl AnswerCache {
    /// At most `bytes` of answers (0: off), valid while `orders` holds their versions.
    pub fn new(bytes: u64, orders: OrderCache, persisted: PersistedQueries) -> Self {
        let entries = (bytes > 0 && orders.enabled()).then(|| {
            Cache::builder()
                .max_capacity(bytes)
                .weigher(|_, answer: &Arc<Answer>| weight(answer))
                .build()
        });
        for counter in [
            "orderlog_query_answer_cache_hits_total",
            "orderlog_query_answer_cache_misses_total",
        ] {
            metrics::counter!(counter).increment(0);
        }
        metrics::gauge!("orderlog_query_answer_cache_bytes").set(0.0);
        Self {
            entries,
            orders,
            persisted,
        }
    }

    /// The key of `request`, when it may have a kept answer: a query sent as text, or as a
    /// persisted query's hash (version 1, the hash of the text when both are sent).
    pub fn asked(&self, request: &Request, caller: &Principal) -> Option<Asked> {
        self.entries.as_ref()?;
        let query_hash = match request.extensions.get("persistedQuery") {
            None if request.query.is_empty() => return None,
            None => persisted::hash(&request.query),
            Some(value) => {
                let asked = persisted::asked(value.clone()).ok()?;
                let text_matches = request.query.is_empty()
                    || persisted::hash(&request.query) == asked.sha256_hash;
                if asked.version != 1 || !text_matches {
                    return None;
                }
                asked.sha256_hash
            }
        };
        let variables = serde_json::to_vec(&request.variables).ok()?;
        let mut hasher = Sha256::new();
        hasher.update(query_hash.as_bytes());
        hasher.update([0]);
        hasher.update(request.operation_name.as_deref().unwrap_or("").as_bytes());
        hasher.update([0]);
        hasher.update(&variables);
        hasher.update([0]);
        if let Some(customer) = &caller.customer {
            hasher.update(customer.as_bytes());
        }
        Some(Asked {
            key: Key(hasher.finalize().into()),
            query_hash,
        })
    }

    /// The kept answer under `key`, if every order in it is still at its version in the
    /// order cache and `caller` sees each of them.
    pub fn get(&self, key: &Key, caller: &Principal) -> Option<Arc<Answer>> {
        let entries = self.entries.as_ref()?;
        let found = entries.get(key).filter(|answer| {
            answer
                .signals
                .is_none_or(|read| self.orders.ticket() == read)
                && answer.sources.iter().all(|source| {
                    caller.sees_customer(&source.customer)
                        && self.orders.version_of(source.order) == Some(source.version)
                })
        });
        if found.is_some() {
            metrics::counter!("orderlog_query_answer_cache_hits_total").increment(1);
        } else {
            metrics::counter!("orderlog_query_answer_cache_misses_total").increment(1);
        }
        found
    }

    /// Taken before a request that may be kept executes.
    pub fn ticket(&self) -> Ticket {
        self.orders.ticket()
    }

    /// Keeps the answer `body` (tagged `etag`) to the `asked` request, whose text is
    /// `query` (empty: a persisted query's, looked up), executed after `ticket`, when its
    /// query reads orders' own fields only, and it is current: the order cache holds every
    /// order it names at the answered version, or (a page) no signal came since `ticket`.
    #[allow(clippy::too_many_arguments)]
    pub fn keep(
        &self,
        asked: Asked,
        query: &str,
        operation_name: Option<&str>,
        sources: &Sources,
        ticket: Ticket,
        body: Bytes,
        etag: String,
    ) {
        let Some(entries) = &self.entries else {
            return;
        };
        let text: Arc<str> = if query.is_empty() {
            let Some(text) = self.persisted.text_of(&asked.query_hash) else {
                return;
            };
            text
        } else {
            Arc::from(query)
        };
        let Some(shape) = answer_shape::cacheable(&text, operation_name) else {
            return;
        };
        let answer = match shape.reads {
            Reads::NamedOrders => {
                let Some(sources) = sources.take() else {
                    return;
                };
                let current = sources
                    .iter()
                    .all(|s| self.orders.version_of(s.order) == Some(s.version));
                if !current {
                    return;
                }
                Answer {
                    body,
                    etag,
                    operation: shape.operation,
                    sources,
                    signals: None,
                }
            }
            Reads::AnyOrder => {
                let sources = sources.take_all();
                if self.orders.ticket() != ticket || sources.is_none() {
                    return;
                }
                Answer {
                    body,
                    etag,
                    operation: shape.operation,
                    sources: sources.unwrap_or_default(),
                    signals: Some(ticket),
                }
            }
        };
        entries.insert(asked.key, Arc::new(answer));
        metrics::gauge!("orderlog_query_answer_cache_bytes").set(entries.weighted_size() as f64);
    }
}

/// About what an answer costs in memory, in bytes.
fn weight(answer: &Answer) -> u32 {
    let sources: usize = answer
        .sources
        .iter()
        .map(|s| std::mem::size_of::<Source>() + s.customer.len())
        .sum();
    let total = answer.body.len()
        + answer.etag.len()
        + answer.operation.as_ref().map_or(0, String::len)
        + sources
        + std::mem::size_of::<Answer>()
        + 96;
    u32::try_from(total).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use async_graphql::{Value, Variables};
    use guard::scope::Scopes;

    use uuid::Uuid;

    use super::*;
    use crate::changes::Change;
    use crate::order_fixture::order;

    const QUERY: &str = "query($id: ID!) { order(id: $id) { id version } }";

    fn caller(customer: Option<&str>) -> Principal {
        Principal {
            subject: "test".to_owned(),
            scopes: Scopes::all(),
            customer: customer.map(str::to_owned),
        }
    }

    fn request(id: Uuid) -> Request {
        Request::new(QUERY).variables(Variables::from_json(serde_json::json!({ "id": id })))
    }

    fn made_of(id: Uuid, version: i128) -> Sources {
        let sources = Sources::default();
        sources.record(Some(Source {
            order: id,
            version,
            customer: "cust-1".to_owned(),
        }));
        sources
    }

    fn caches() -> (OrderCache, PersistedQueries, AnswerCache) {
        let orders = OrderCache::new(1 << 20);
        let persisted = PersistedQueries::new(1 << 20);
        let answers = AnswerCache::new(1 << 20, orders.clone(), persisted.clone());
        (orders, persisted, answers)
    }

    #[test]
    fn an_answer_is_served_until_a_signal_names_one_of_its_orders() {
        let (orders, _, answers) = caches();
        let id = Uuid::now_v7();
        assert!(orders.fill(orders.ticket(), &order(id, 3)));
        let asked = answers.asked(&request(id), &caller(None)).expect("a query");
        let key = asked.key;
        answers.keep(
            asked,
            QUERY,
            None,
            &made_of(id, 3),
            answers.ticket(),
            Bytes::from("v3"),
            "\"t\"".into(),
        );
        let served = answers.get(&key, &caller(None)).expect("kept");
        assert_eq!(
            (served.body.as_ref(), served.etag.as_str()),
            (&b"v3"[..], "\"t\"")
        );
        assert!(
            answers
                .asked(&request(Uuid::now_v7()), &caller(None))
                .map(|a| a.key)
                != Some(key),
            "the variables are in the key"
        );
        orders.apply(&Change {
            projection: "orders".to_owned(),
            orders: vec![(id, 4)],
            missed: false,
        });
        assert!(
            answers.get(&key, &caller(None)).is_none(),
            "version 4 is out"
        );
        assert!(orders.fill(orders.ticket(), &order(id, 4)));
        assert!(
            answers.get(&key, &caller(None)).is_none(),
            "the order cache holds version 4, the answer is of 3"
        );
    }

    #[test]
    fn an_answer_goes_only_to_callers_who_see_every_order_in_it() {
        let (orders, _, answers) = caches();
        let id = Uuid::now_v7();
        assert!(orders.fill(orders.ticket(), &order(id, 1)));
        let key = answers
            .asked(&request(id), &caller(None))
            .expect("a query")
            .key;
        let asked = answers.asked(&request(id), &caller(None)).expect("a query");
        assert_ne!(
            answers
                .asked(&request(id), &caller(Some("cust-1")))
                .map(|a| a.key),
            Some(key),
            "the customer a caller is limited to is in the key"
        );
        answers.keep(
            asked,
            QUERY,
            None,
            &made_of(id, 1),
            answers.ticket(),
            Bytes::from("v1"),
            String::new(),
        );
        assert!(answers.get(&key, &caller(Some("cust-1"))).is_some());
        assert!(answers.get(&key, &caller(Some("cust-2"))).is_none());
    }

    #[test]
    fn what_is_not_kept_null_answers_other_models_and_orders_the_cache_does_not_hold() {
        let (orders, _, answers) = caches();
        let id = Uuid::now_v7();
        let keep = |query: &str, sources: Sources| {
            let request = Request::new(query)
                .variables(Variables::from_json(serde_json::json!({ "id": id })));
            let asked = answers.asked(&request, &caller(None)).expect("a query");
            let key = asked.key;
            answers.keep(
                asked,
                query,
                None,
                &sources,
                answers.ticket(),
                Bytes::from("x"),
                String::new(),
            );
            answers.get(&key, &caller(None)).is_some()
        };
        assert!(
            !keep(QUERY, made_of(id, 1)),
            "the order cache does not hold it"
        );
        assert!(orders.fill(orders.ticket(), &order(id, 1)));
        assert!(
            !keep(QUERY, made_of(id, 2)),
            "the order cache holds another version"
        );
        let null = Sources::default();
        null.record(None);
        assert!(!keep(QUERY, null), "a null order");
        assert!(!keep(QUERY, Sources::default()), "no order");
        let customer = "query($id: ID!) { order(id: $id) { id customer { id } } }";
        assert!(
            !keep(customer, made_of(id, 1)),
            "the customer is another model"
        );
        assert!(keep(QUERY, made_of(id, 1)));
    }

    #[test]
    fn a_persisted_query_is_one_key_whether_sent_as_text_or_hash() {
        let (orders, persisted, answers) = caches();
        let id = Uuid::now_v7();
        assert!(orders.fill(orders.ticket(), &order(id, 1)));
        let extension = |hash: &str| {
            Value::from_json(serde_json::json!({ "version": 1, "sha256Hash": hash }))
                .expect("value")
        };
        let mut by_hash = request(id);
        by_hash.query = String::new();
        by_hash.extensions.insert(
            "persistedQuery".to_owned(),
            extension(&persisted::hash(QUERY)),
        );
        let by_text = request(id);
        let key = answers.asked(&by_text, &caller(None)).expect("text").key;
        assert_eq!(
            answers.asked(&by_hash, &caller(None)).expect("hash").key,
            key
        );

        // A hash alone is kept once its text is persisted.
        let keep_by_hash = || {
            answers.keep(
                answers.asked(&by_hash, &caller(None)).expect("hash"),
                "",
                None,
                &made_of(id, 1),
                answers.ticket(),
                Bytes::from("v1"),
                String::new(),
            );
        };
        keep_by_hash();
        assert!(answers.get(&key, &caller(None)).is_none(), "text unknown");
        persisted.remember(&persisted::hash(QUERY), QUERY);
        keep_by_hash();
        assert!(answers.get(&key, &caller(None)).is_some());

        let mut wrong = request(id);
        wrong
            .extensions
            .insert("persistedQuery".to_owned(), extension("00"));
        assert!(
            answers.asked(&wrong, &caller(None)).is_none(),
            "a text with another hash"
        );
    }

    #[test]
    fn no_bytes_no_answers() {
        let orders = OrderCache::new(1 << 20);
        let answers = AnswerCache::new(0, orders, PersistedQueries::new(1 << 20));
        assert!(
            answers
                .asked(&request(Uuid::now_v7()), &caller(None))
                .is_none()
        );
    }

    const PAGE: &str = "{ orders(first: 2) { nodes { id version } totalCount } }";

    #[test]
    fn a_page_is_kept_only_if_no_signal_came_while_it_was_read_and_served_until_the_next() {
        let orders = OrderCache::new(1 << 20);
        let answers = AnswerCache::new(1 << 20, orders.clone(), PersistedQueries::new(1 << 20));
        let admin = Principal {
            subject: "test".to_owned(),
            scopes: Scopes::all(),
            customer: None,
        };
        let signal = Change {
            projection: "orders".to_owned(),
            orders: vec![(Uuid::now_v7(), 1)],
            missed: false,
        };
        let keep = |ticket| {
            let asked = answers.asked(&Request::new(PAGE), &admin).expect("a query");
            let key = asked.key;
            answers.keep(
                asked,
                PAGE,
                None,
                &Sources::default(),
                ticket,
                Bytes::from("p"),
                String::new(),
            );
            answers.get(&key, &admin).is_some()
        };
        let before = answers.ticket();
        orders.apply(&signal);
        assert!(!keep(before), "a signal came while the page was read");
        assert!(keep(answers.ticket()));
        let key = answers
            .asked(&Request::new(PAGE), &admin)
            .expect("a query")
            .key;
        orders.apply(&signal);
        assert!(
            answers.get(&key, &admin).is_none(),
            "the next signal ends it"
        );
    }
}
