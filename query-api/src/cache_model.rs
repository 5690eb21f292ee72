//! A model test of the read cache (`order_cache.rs`, and `answer_cache.rs` over it):
//! commands, change signals (delivered late, or lost and replaced by a "missed" signal), and
//! reads that start, read the database and end later, by clients that pass the token of what
//! they last saw or named, against two query-api instances. A read is answered from the
//! answers kept, else from the orders kept, else from the database (and then kept). Checked
//! after every step: no read with a token returns a version older than the token names, and
//! no instance holds an order or an answer older than a version a signal it applied
//! announced.

use std::collections::{HashMap, VecDeque};

use async_graphql::{Request, Variables};
use axum::body::Bytes;
use proptest::prelude::*;
use uuid::Uuid;

use crate::answer_cache::{AnswerCache, Source, Sources};
use crate::changes::Change;
use crate::freshness::Wanted;
use crate::order_cache::{OrderCache, Ticket};
use crate::order_fixture::order;
use crate::persisted::PersistedQueries;

fn admin() -> guard::Principal {
    guard::Principal {
        subject: "model".to_owned(),
        scopes: guard::scope::Scopes::all(),
        customer: None,
    }
}

const QUERY: &str =
    "query($id: ID!, $t: String) { order(id: $id, consistencyToken: $t) { version } }";

const ORDERS: usize = 2;
const INSTANCES: usize = 2;
const CLIENTS: usize = 2;

#[derive(Debug, Clone)]
enum Step {
    /// Client `c` changes order `o`: the database moves on, both instances get a signal.
    Command { client: usize, order: usize },
    /// Instance `i` applies its oldest pending signal.
    Deliver { instance: usize },
    /// Instance `i` loses its oldest pending signal; a "missed" signal follows the others.
    Lose { instance: usize },
    /// Client `c` starts a read of order `o` on instance `i` (a hit answers at once).
    Start {
        client: usize,
        order: usize,
        instance: usize,
        token: bool,
    },
    /// Client `c`'s read in flight ends: it fills the cache with what it read.
    Finish { client: usize },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..CLIENTS, 0..ORDERS).prop_map(|(client, order)| Step::Command { client, order }),
        (0..INSTANCES).prop_map(|instance| Step::Deliver { instance }),
        (0..INSTANCES).prop_map(|instance| Step::Deliver { instance }),
        (0..INSTANCES).prop_map(|instance| Step::Lose { instance }),
        (0..CLIENTS, 0..ORDERS, 0..INSTANCES, any::<bool>()).prop_map(
            |(client, order, instance, token)| Step::Start {
                client,
                order,
                instance,
                token
            }
        ),
        (0..CLIENTS).prop_map(|client| Step::Finish { client }),
    ]
}

/// A read between its ticket and its end.
struct InFlight {
    instance: usize,
    order: usize,
    wanted: Option<i64>,
    ticket: Ticket,
    /// What the database held when the read reached it, right after the ticket.
    version: i64,
}

struct World {
    ids: Vec<Uuid>,
    database: Vec<i64>,
    caches: Vec<OrderCache>,
    answers: Vec<AnswerCache>,
    pending: Vec<VecDeque<Change>>,
    /// Per instance and order, the highest version a signal it applied announced.
    announced: Vec<HashMap<usize, i64>>,
    /// Per client and order, the highest version it received or named.
    known: Vec<Vec<i64>>,
    reads: Vec<Option<InFlight>>,
}

impl World {
    fn new() -> Self {
        let caches: Vec<OrderCache> = (0..INSTANCES).map(|_| OrderCache::new(1 << 20)).collect();
        let answers = caches
            .iter()
            .map(|c| AnswerCache::new(1 << 20, c.clone(), PersistedQueries::new(1 << 20)))
            .collect();
        Self {
            ids: (0..ORDERS).map(|_| Uuid::now_v7()).collect(),
            database: vec![1; ORDERS],
            caches,
            answers,
            pending: vec![VecDeque::new(); INSTANCES],
            announced: vec![HashMap::new(); INSTANCES],
            known: vec![vec![1; ORDERS]; CLIENTS],
            reads: (0..CLIENTS).map(|_| None).collect(),
        }
    }

    /// The request of a read of `order` (with a token naming `wanted`).
    fn request(&self, order: usize, wanted: Option<i64>) -> Request {
        let token = wanted.map(|v| format!("{}:{v}", self.ids[order]));
        let variables = serde_json::json!({ "id": self.ids[order], "t": token });
        Request::new(QUERY).variables(Variables::from_json(variables))
    }

    /// The version in the kept answer to a read of `order` on `instance`, if served.
    fn kept_answer(&self, instance: usize, order: usize, wanted: Option<i64>) -> Option<i64> {
        let cache = &self.answers[instance];
        let asked = cache
            .asked(&self.request(order, wanted), &admin())
            .expect("cacheable");
        let answer = cache.get(&asked.key, &admin())?;
        let body: serde_json::Value = serde_json::from_slice(&answer.body).expect("json");
        body["data"]["order"]["version"].as_i64()
    }

    /// Keeps the answer of a read of `order` that found `version`, as the HTTP layer does.
    fn keep_answer(&self, instance: usize, order: usize, wanted: Option<i64>, version: i64) {
        let request = self.request(order, wanted);
        let cache = &self.answers[instance];
        let asked = cache.asked(&request, &admin()).expect("cacheable");
        let sources = Sources::default();
        sources.record(Some(Source {
            order: self.ids[order],
            version: i128::from(version),
            customer: "cust-1".to_owned(),
        }));
        let body = serde_json::json!({ "data": { "order": { "version": version } } });
        let body = Bytes::from(body.to_string());
        let ticket = cache.ticket();
        cache.keep(asked, QUERY, None, &sources, ticket, body, String::new());
    }

    fn signal(&self, order: usize, version: i64) -> Change {
        Change {
            projection: "orders".to_owned(),
            orders: vec![(self.ids[order], version)],
            missed: false,
        }
    }

    fn apply(&mut self, instance: usize, change: &Change) {
        self.caches[instance].apply(change);
        for (id, version) in &change.orders {
            let order = self.ids.iter().position(|i| i == id).expect("known");
            let seen = self.announced[instance].entry(order).or_insert(0);
            *seen = (*seen).max(*version);
        }
        if change.missed {
            // Whatever was lost is announced now: the database's versions.
            for order in 0..ORDERS {
                let seen = self.announced[instance].entry(order).or_insert(0);
                *seen = (*seen).max(self.database[order]);
            }
        }
    }

    /// A read returns `version` to `client` who asked for at least `wanted`.
    fn answered(&mut self, client: usize, order: usize, wanted: Option<i64>, version: i64) {
        if let Some(wanted) = wanted {
            assert!(
                version >= wanted,
                "a read with a token of {wanted} answered {version}"
            );
        }
        self.known[client][order] = self.known[client][order].max(version);
    }

    fn run(&mut self, step: &Step) {
        match *step {
            Step::Command { client, order } => {
                self.database[order] += 1;
                let version = self.database[order];
                self.known[client][order] = version;
                let change = self.signal(order, version);
                for queue in &mut self.pending {
                    queue.push_back(change.clone());
                }
            }
            Step::Deliver { instance } => {
                if let Some(change) = self.pending[instance].pop_front() {
                    self.apply(instance, &change);
                }
            }
            Step::Lose { instance } => {
                if self.pending[instance].pop_front().is_some() {
                    self.pending[instance].push_back(Change {
                        projection: String::new(),
                        orders: Vec::new(),
                        missed: true,
                    });
                }
            }
            Step::Start {
                client,
                order,
                instance,
                token,
            } => {
                if self.reads[client].is_some() {
                    return;
                }
                let wanted = token.then_some(self.known[client][order]);
                let asked = wanted.map(|version| Wanted {
                    order_id: self.ids[order],
                    version,
                });
                if let Some(version) = self.kept_answer(instance, order, wanted) {
                    self.answered(client, order, wanted, version);
                    return self.check_entries();
                }
                match self.caches[instance].get(self.ids[order], asked) {
                    Some(hit) => {
                        let version = i64::try_from(hit.version.0).expect("small");
                        self.answered(client, order, wanted, version);
                    }
                    // A miss waits for the token's version (the database has it), takes
                    // its ticket and reads; its answer and fill come later.
                    None => {
                        self.reads[client] = Some(InFlight {
                            instance,
                            order,
                            wanted,
                            ticket: self.caches[instance].ticket(),
                            version: self.database[order],
                        });
                    }
                }
            }
            Step::Finish { client } => {
                let Some(read) = self.reads[client].take() else {
                    return;
                };
                // Signals may have been applied since the read reached the database.
                let found = order(self.ids[read.order], read.version);
                self.caches[read.instance].fill(read.ticket, &found);
                self.keep_answer(read.instance, read.order, read.wanted, read.version);
                self.answered(client, read.order, read.wanted, read.version);
            }
        }
        self.check_entries();
    }

    /// No entry, order or answer, is older than a version its instance's applied signals
    /// announced.
    fn check_entries(&self) {
        for (instance, cache) in self.caches.iter().enumerate() {
            for (order, id) in self.ids.iter().enumerate() {
                let announced = self.announced[instance].get(&order).copied().unwrap_or(0);
                if let Some(kept) = self.kept_answer(instance, order, None) {
                    assert!(
                        kept >= announced,
                        "instance {instance} answers version {kept} of order {order} after a signal announced {announced}"
                    );
                }
                let Some(entry) = cache.get(*id, None) else {
                    continue;
                };
                let announced = self.announced[instance].get(&order).copied().unwrap_or(0);
                assert!(
                    entry.version.0 >= i128::from(announced),
                    "instance {instance} holds version {} of order {order} after a signal announced {announced}",
                    entry.version.0
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn no_read_goes_back_behind_a_token_and_no_entry_behind_an_applied_signal(
        steps in proptest::collection::vec(step(), 1..80)
    ) {
        let mut world = World::new();
        for step in &steps {
            world.run(step);
        }
    }
}
