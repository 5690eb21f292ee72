//! `suites demo` (`make demo`): realistic traffic for a newcomer to watch. A few
//! customers place orders, add lines, pay, get them shipped and delivered; some cancel;
//! some commands are refused as a real client's would be (paying the wrong amount,
//! shipping an unpaid order, cancelling a delivered one). Each request starts a trace
//! (`traceparent`), so with the services exporting to Jaeger every flow is a trace there.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[derive(Debug, clap::Args)]
pub(crate) struct Demo {
    /// Base URL of command-api.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    #[command(flatten)]
    token: testkit::harness::auth::TokenArgs,
    /// How long to run, in seconds (0: until interrupted).
    #[arg(long, default_value_t = 120)]
    seconds: u64,
    /// Order flows started per second.
    #[arg(long, default_value_t = 2)]
    flows_per_second: u32,
}

#[derive(Debug, Default)]
struct Tally {
    accepted: u64,
    refused: u64,
    failed: u64,
}

/// What a flow does after placing its order, chosen by its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Story {
    /// Lines, payment, shipment, delivery.
    Delivered,
    /// A line, then cancelled.
    Cancelled,
    /// Pays the wrong amount (refused), then the right one, then ships.
    WrongAmount,
    /// Ships before paying (refused), then pays.
    ShippedUnpaid,
    /// Delivered, then a late cancellation (refused).
    LateCancel,
}

pub(crate) fn story(n: u64) -> Story {
    match n % 10 {
        0 | 5 => Story::Cancelled,
        3 => Story::WrongAmount,
        7 => Story::ShippedUnpaid,
        9 => Story::LateCancel,
        _ => Story::Delivered,
    }
}

fn money(minor: i64) -> Value {
    json!({ "amount_minor": minor, "currency": "EUR" })
}

const SKUS: [(&str, i64); 5] = [
    ("TEA-GREEN", 450),
    ("MUG-BLUE", 1200),
    ("KETTLE", 3900),
    ("FILTER-100", 300),
    ("HONEY-JAR", 850),
];
const CITIES: [(&str, &str, &str); 4] = [
    ("Berlin", "10115", "DE"),
    ("Lyon", "69001", "FR"),
    ("Porto", "4000-001", "PT"),
    ("Utrecht", "3511", "NL"),
];

struct Client {
    http: reqwest::Client,
    url: String,
}

impl Client {
    /// One command with a fresh trace; the answer's status and body.
    async fn send(&self, path: &str, key: &str, body: Value, tally: &mut Tally) -> Option<Value> {
        let traceparent = format!(
            "00-{}-{}-01",
            uuid::Uuid::new_v4().simple(),
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        );
        let sent = self
            .http
            .post(format!("{}{path}", self.url))
            .header("Idempotency-Key", key)
            .header("traceparent", traceparent)
            .json(&body)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                tally.accepted += 1;
                response.json().await.ok()
            }
            Ok(response) if response.status().is_client_error() => {
                tally.refused += 1;
                None
            }
            _ => {
                tally.failed += 1;
                None
            }
        }
    }

    async fn flow(&self, run: &str, n: u64) -> Tally {
        let mut tally = Tally::default();
        let customer = format!("demo-{}", n % 7);
        let (city, postal, country) = CITIES[(n % 4) as usize];
        let (sku, price) = SKUS[(n % 5) as usize];
        let (extra, extra_price) = SKUS[((n + 2) % 5) as usize];
        let quantity = 1 + (n % 3) as i64;
        let key = |step: &str| format!("demo-{run}-{n}-{step}");
        let place = json!({
            "customer_id": customer, "currency": "EUR",
            "lines": [{ "sku": sku, "quantity": quantity, "unit_price": money(price) }],
            "shipping_address": { "name": "Demo Customer", "line1": "1 Market Street", "city": city, "postal_code": postal, "country": country }
        });
        let Some(placed) = self
            .send("/v1/orders", &key("place"), place, &mut tally)
            .await
        else {
            return tally;
        };
        let Some(id) = placed["order_id"].as_str().map(str::to_owned) else {
            return tally;
        };
        let path = |tail: &str| format!("/v1/orders/{id}/{tail}");
        let line = json!({ "sku": extra, "quantity": 1, "unit_price": money(extra_price) });
        self.send(&path("lines"), &key("line"), line, &mut tally)
            .await;
        let total = price * quantity + extra_price;
        let pay = |amount: i64| json!({ "payment_reference": format!("psp-{run}-{n}"), "amount": money(amount) });
        let ship = json!({ "carrier": "DHL", "tracking_number": format!("JD{n:010}") });
        match story(n) {
            Story::Cancelled => {
                let reason = json!({ "reason": "found it cheaper" });
                self.send(&path("cancellation"), &key("cancel"), reason, &mut tally)
                    .await;
                return tally;
            }
            Story::WrongAmount => {
                self.send(
                    &path("payment"),
                    &key("pay-wrong"),
                    pay(total - 1),
                    &mut tally,
                )
                .await;
            }
            Story::ShippedUnpaid => {
                self.send(
                    &path("shipment"),
                    &key("ship-early"),
                    ship.clone(),
                    &mut tally,
                )
                .await;
            }
            Story::Delivered | Story::LateCancel => {}
        }
        self.send(&path("payment"), &key("pay"), pay(total), &mut tally)
            .await;
        self.send(&path("shipment"), &key("ship"), ship, &mut tally)
            .await;
        if story(n) != Story::ShippedUnpaid {
            self.send(&path("delivery"), &key("deliver"), json!({}), &mut tally)
                .await;
        }
        if story(n) == Story::LateCancel {
            let reason = json!({ "reason": "too late" });
            self.send(
                &path("cancellation"),
                &key("late-cancel"),
                reason,
                &mut tally,
            )
            .await;
        }
        tally
    }
}

pub(crate) async fn run(args: Demo) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .default_headers(args.token.headers()?)
        .build()?;
    let client = std::sync::Arc::new(Client {
        http,
        url: args.url.trim_end_matches('/').to_owned(),
    });
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let (sender, mut tallies) = tokio::sync::mpsc::unbounded_channel();
    let started = Instant::now();
    let every = Duration::from_secs(1) / args.flows_per_second.max(1);
    let mut ticks = tokio::time::interval(every);
    let mut report = tokio::time::interval(Duration::from_secs(5));
    let mut total = Tally::default();
    let mut n = 0_u64;
    println!(
        "demo: order flows against {} (some cancelled, some commands refused); watch them in\n  GraphiQL    http://127.0.0.1:8081/  (try: {{ orders(first: 10) {{ nodes {{ id status total {{ minorUnits }} }} }} }})\n  Prometheus  http://127.0.0.1:9090/graph?g0.expr=sum%20by%20(outcome)%20(rate(orderlog_processor_commands_total%5B1m%5D))\n  Jaeger      http://127.0.0.1:16686/api/traces?service=command-api&limit=5",
        args.url
    );
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                n += 1;
                let (client, run, sender) = (client.clone(), run.clone(), sender.clone());
                tokio::spawn(async move {
                    let _ = sender.send(client.flow(&run, n).await);
                });
            }
            Some(tally) = tallies.recv() => {
                total.accepted += tally.accepted;
                total.refused += tally.refused;
                total.failed += tally.failed;
            }
            _ = report.tick() => {
                println!(
                    "demo: {:>4} s  {} commands accepted, {} refused (as intended), {} failed",
                    started.elapsed().as_secs(), total.accepted, total.refused, total.failed
                );
                anyhow::ensure!(
                    total.failed < 20 || total.accepted > 0,
                    "demo: no command accepted: is the platform up (`make up`)?"
                );
            }
            _ = tokio::signal::ctrl_c() => break,
        }
        if args.seconds > 0 && started.elapsed() >= Duration::from_secs(args.seconds) {
            break;
        }
    }
    println!(
        "demo: done: {} accepted, {} refused, {} failed",
        total.accepted, total.refused, total.failed
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_story_is_told_and_most_orders_are_delivered() {
        let stories: Vec<Story> = (0..10).map(story).collect();
        for wanted in [
            Story::Delivered,
            Story::Cancelled,
            Story::WrongAmount,
            Story::ShippedUnpaid,
            Story::LateCancel,
        ] {
            assert!(stories.contains(&wanted), "{wanted:?}");
        }
        let delivered = stories.iter().filter(|s| **s == Story::Delivered).count();
        assert_eq!(delivered, 5);
    }
}
