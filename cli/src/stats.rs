//! `orderlog stats`: counts per event type and per UTC day over a range, from the records'
//! headers alone (payloads are not parsed).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use event_store::wire::HeaderView;
use serde::Serialize;

use crate::Context;
use crate::args::{StatsArgs, StatsFormat};
use crate::bound::{Bound, check_range};
use crate::filter::Filter;
use crate::scan::Log;

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Stats {
    pub total: u64,
    pub by_type: BTreeMap<String, u64>,
    /// UTC day -> event type -> count.
    pub by_day: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Stats {
    pub fn add(&mut self, event_type: &str, at: DateTime<Utc>) {
        self.total += 1;
        *self.by_type.entry(event_type.to_owned()).or_default() += 1;
        let day = at.format("%Y-%m-%d").to_string();
        *self
            .by_day
            .entry(day)
            .or_default()
            .entry(event_type.to_owned())
            .or_default() += 1;
    }

    pub fn render(&self, format: StatsFormat) -> anyhow::Result<String> {
        Ok(match format {
            StatsFormat::Json => serde_json::to_string_pretty(self)? + "\n",
            StatsFormat::Csv => {
                let mut out = String::from("day,type,count\n");
                for (day, types) in &self.by_day {
                    for (event_type, count) in types {
                        out.push_str(&format!("{day},{event_type},{count}\n"));
                    }
                }
                out
            }
            StatsFormat::Text => {
                let mut out = format!("{} events\n\nby type\n", self.total);
                for (event_type, count) in &self.by_type {
                    out.push_str(&format!("  {count:>10}  {event_type}\n"));
                }
                out.push_str("\nby day (UTC)\n");
                for (day, types) in &self.by_day {
                    out.push_str(&format!("  {day}  {:>10}\n", types.values().sum::<u64>()));
                }
                out
            }
        })
    }
}

pub fn run(ctx: &Context, args: &StatsArgs) -> anyhow::Result<Stats> {
    let now = Utc::now();
    let from = Bound::parse(&args.from, now)?;
    let to = Bound::parse(&args.to, now)?;
    check_range(from, to).map_err(anyhow::Error::msg)?;
    let filter = Filter::new(&args.types, &[], &[]).map_err(anyhow::Error::msg)?;
    let log = Log::open(&ctx.kafka, ctx.timeout)?;
    let ranges = log.ranges(from, Some(to), false)?;
    let mut stats = Stats::default();
    log.read_to_end(&ranges, |message| {
        let headers = HeaderView::of(message);
        let (Some(event_type), Some(time)) = (headers.text("ce_type"), headers.text("ce_time"))
        else {
            return Ok(());
        };
        let Ok(at) = DateTime::parse_from_rfc3339(time).map(|t| t.with_timezone(&Utc)) else {
            return Ok(());
        };
        if from.time().is_some_and(|from| at < from) || to.time().is_some_and(|to| at >= to) {
            return Ok(());
        }
        if filter.keeps(event_type, "", None) {
            stats.add(event_type, at);
        }
        Ok(())
    })?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn counts_per_type_and_day_in_every_format() {
        let mut stats = Stats::default();
        let day = |d, h| {
            Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0)
                .single()
                .expect("time")
        };
        stats.add("dev.orderlog.order.placed", day(22, 23));
        stats.add("dev.orderlog.order.placed", day(23, 0));
        stats.add("dev.orderlog.order.cancelled", day(23, 1));
        assert_eq!(stats.total, 3);
        assert_eq!(stats.by_type["dev.orderlog.order.placed"], 2);
        assert_eq!(stats.by_day["2026-11-23"].values().sum::<u64>(), 2);
        let csv = stats.render(StatsFormat::Csv).expect("csv");
        assert_eq!(
            csv,
            "day,type,count\n2026-11-22,dev.orderlog.order.placed,1\n2026-11-23,dev.orderlog.order.cancelled,1\n2026-11-23,dev.orderlog.order.placed,1\n"
        );
        let json: serde_json::Value =
            serde_json::from_str(&stats.render(StatsFormat::Json).expect("json")).expect("parses");
        assert_eq!(json["total"], 3);
        assert!(
            stats
                .render(StatsFormat::Text)
                .expect("text")
                .starts_with("3 events\n")
        );
    }
}
