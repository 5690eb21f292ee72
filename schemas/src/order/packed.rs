//! An order's state in the packed binary layout snapshots keep (a third of its JSON).
//! Decoding goes through the same checks as the JSON does (every value's `parse` or `new`),
//! so a damaged or foreign value is refused, never trusted. Pure.
//!
//! ```text
//! state:   varint version | 0 (no order) | 1, order | 2, order, deadlines
//! order:   str customer_id | currency [3] | status u8 | varint n, n x line | money total
//!          | address | payment? | shipment? | money? refund_due
//! deadlines: time? payment_due_at | time? ship_by | overdue u8 (0 | 1)
//! time:    varint zigzag(microseconds since the Unix epoch, UTC)
//! line:    str sku | varint quantity | money unit_price | money line_total
//! money:   varint (amount_minor << 1 | 1 when another currency than the order's)
//!          [, currency [3] when flagged]
//! address: str name | str line1 | 0 | 1, str line2 | str city | str postal_code | country [2]
//! x?:      0 (none) | 1, x
//! payment: str reference | money amount;  shipment: str carrier | str tracking_number
//! ```

use chrono::{DateTime, Utc};

use crate::event::Line;
use crate::packed::{Reader, put_str, put_varint};
use crate::values::{
    Address, Carrier, Currency, CustomerId, Money, PaymentReference, Quantity, Sku, TrackingNumber,
};

use super::state::{Order, OrderState, Payment, Shipment, Status};

/// Statuses by their byte; the position is the encoding, so only append.
const STATUSES: [Status; 6] = [
    Status::Placed,
    Status::Paid,
    Status::Shipped,
    Status::Delivered,
    Status::Cancelled,
    Status::Expired,
];

/// Appends `state` in the packed layout.
pub fn encode(state: &OrderState, out: &mut Vec<u8>) {
    put_varint(out, state.version());
    let Some(order) = state.order() else {
        out.push(0);
        return;
    };
    // Layout 2 adds the deadlines; layout 1 (snapshots written before them) is still read.
    out.push(2);
    let currency = order.currency;
    put_str(out, order.customer_id.as_str());
    out.extend_from_slice(currency.as_str().as_bytes());
    out.push(status_byte(order.status));
    put_varint(out, order.lines.len() as u64);
    for line in &order.lines {
        put_str(out, line.sku.as_str());
        put_varint(out, u64::from(line.quantity.get()));
        put_money(out, line.unit_price, currency);
        put_money(out, line.line_total, currency);
    }
    put_money(out, order.total, currency);
    let address = &order.shipping_address;
    put_str(out, address.name());
    put_str(out, address.line1());
    put_option(out, address.line2(), put_str);
    put_str(out, address.city());
    put_str(out, address.postal_code());
    out.extend_from_slice(address.country().as_bytes());
    put_option(out, order.payment.as_ref(), |out, payment| {
        put_str(out, payment.reference.as_str());
        put_money(out, payment.amount, currency);
    });
    put_option(out, order.shipment.as_ref(), |out, shipment| {
        put_str(out, shipment.carrier.as_str());
        put_str(out, shipment.tracking_number.as_str());
    });
    put_option(out, order.refund_due, |out, refund| {
        put_money(out, refund, currency);
    });
    put_option(out, order.payment_due_at, put_time);
    put_option(out, order.ship_by, put_time);
    out.push(u8::from(order.overdue));
}

fn put_time(out: &mut Vec<u8>, time: DateTime<Utc>) {
    let micros = time.timestamp_micros();
    put_varint(out, ((micros << 1) ^ (micros >> 63)) as u64);
}

fn time(input: &mut Reader<'_>) -> Option<DateTime<Utc>> {
    let zigzag = input.varint()?;
    let micros = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
    DateTime::from_timestamp_micros(micros)
}

/// The state at the start of `input`, advancing past it; `None` when the bytes are not a
/// state this layout and the domain's checks accept.
pub fn decode(input: &mut Reader<'_>) -> Option<OrderState> {
    let version = input.varint()?;
    let order = match input.byte()? {
        0 => None,
        1 => Some(order(input)?),
        2 => {
            let mut order = order(input)?;
            order.payment_due_at = option(input, time)?;
            order.ship_by = option(input, time)?;
            order.overdue = match input.byte()? {
                0 => false,
                1 => true,
                _ => return None,
            };
            Some(order)
        }
        _ => return None,
    };
    Some(OrderState::from_parts(version, order))
}

fn order(input: &mut Reader<'_>) -> Option<Order> {
    let customer_id = CustomerId::parse(input.str()?).ok()?;
    let currency = currency(input)?;
    let status = *STATUSES.get(usize::from(input.byte()?))?;
    let count = usize::try_from(input.varint()?).ok()?;
    let mut lines = Vec::with_capacity(count.min(super::MAX_LINES));
    for _ in 0..count {
        lines.push(Line {
            sku: Sku::parse(input.str()?).ok()?,
            quantity: Quantity::new(i64::try_from(input.varint()?).ok()?).ok()?,
            unit_price: money(input, currency)?,
            line_total: money(input, currency)?,
        });
    }
    let total = money(input, currency)?;
    let name = input.str()?;
    let line1 = input.str()?;
    let line2 = option(input, |input| input.str())?;
    let city = input.str()?;
    let postal_code = input.str()?;
    let country = std::str::from_utf8(input.take(2)?).ok()?;
    let shipping_address = Address::new(name, line1, line2, city, postal_code, country).ok()?;
    let payment = option(input, |input| {
        Some(Payment {
            reference: PaymentReference::parse(input.str()?).ok()?,
            amount: money(input, currency)?,
        })
    })?;
    let shipment = option(input, |input| {
        Some(Shipment {
            carrier: Carrier::parse(input.str()?).ok()?,
            tracking_number: TrackingNumber::parse(input.str()?).ok()?,
        })
    })?;
    let refund_due = option(input, |input| money(input, currency))?;
    Some(Order {
        customer_id,
        currency,
        status,
        lines,
        total,
        shipping_address,
        payment,
        shipment,
        refund_due,
        payment_due_at: None,
        ship_by: None,
        overdue: false,
    })
}

fn status_byte(status: Status) -> u8 {
    STATUSES
        .iter()
        .position(|known| *known == status)
        .map_or(u8::MAX, |index| index as u8)
}

fn put_money(out: &mut Vec<u8>, money: Money, order_currency: Currency) {
    // Amounts are 0..=10^15 by construction, so the shift cannot lose a bit.
    let amount = money.amount_minor().unsigned_abs() << 1;
    if money.currency() == order_currency {
        put_varint(out, amount);
    } else {
        put_varint(out, amount | 1);
        out.extend_from_slice(money.currency().as_str().as_bytes());
    }
}

fn money(input: &mut Reader<'_>, order_currency: Currency) -> Option<Money> {
    let tagged = input.varint()?;
    let currency = if tagged & 1 == 0 {
        order_currency
    } else {
        currency(input)?
    };
    Money::new(i64::try_from(tagged >> 1).ok()?, currency).ok()
}

fn currency(input: &mut Reader<'_>) -> Option<Currency> {
    Currency::parse(std::str::from_utf8(input.take(3)?).ok()?).ok()
}

fn put_option<T>(out: &mut Vec<u8>, value: Option<T>, put: impl FnOnce(&mut Vec<u8>, T)) {
    match value {
        None => out.push(0),
        Some(value) => {
            out.push(1);
            put(out, value);
        }
    }
}

/// `Some(None)` for an absent value, `Some(Some(x))` for a present one, `None` when the
/// bytes are neither.
fn option<'a, T>(
    input: &mut Reader<'a>,
    read: impl FnOnce(&mut Reader<'a>) -> Option<T>,
) -> Option<Option<T>> {
    match input.byte()? {
        0 => Some(None),
        1 => Some(Some(read(input)?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::command::{AddLine, Command, ConfirmPayment, PlaceOrder};
    use crate::order::{Context, decide, evolve};

    fn eur() -> Currency {
        Currency::parse("EUR").expect("currency")
    }

    fn apply(state: OrderState, command: &Command) -> OrderState {
        decide(&state, command, &Context::at(chrono::Utc::now()))
            .expect("accepted")
            .iter()
            .try_fold(state, evolve)
            .expect("evolves")
    }

    fn round_trip(state: &OrderState) -> Vec<u8> {
        let mut out = Vec::new();
        encode(state, &mut out);
        let mut input = Reader(&out);
        assert_eq!(decode(&mut input).as_ref(), Some(state));
        assert!(input.is_empty(), "every byte read");
        out
    }

    fn placed() -> OrderState {
        let place: PlaceOrder = serde_json::from_value(serde_json::json!({
            "customer_id": "cust-42",
            "currency": "EUR",
            "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": {"amount_minor": 1999, "currency": "EUR"}}],
            "shipping_address": {"name": "Ada Lovelace", "line1": "1 Main St", "line2": "Flat 3",
                "city": "Berlin", "postal_code": "10115", "country": "DE"}
        }))
        .expect("place order");
        apply(OrderState::default(), &Command::PlaceOrder(place))
    }

    #[test]
    fn every_state_the_domain_reaches_survives_the_round_trip() {
        round_trip(&OrderState::default());
        let mut state = placed();
        round_trip(&state);
        let add: AddLine = serde_json::from_value(serde_json::json!({
            "sku": "SKU-2", "quantity": 1, "unit_price": {"amount_minor": 500000, "currency": "EUR"}
        }))
        .expect("add line");
        state = apply(state, &Command::AddLine(add));
        let total = state.order().expect("order").total;
        state = apply(
            state,
            &Command::ConfirmPayment(ConfirmPayment {
                payment_reference: PaymentReference::parse("pay_123").expect("reference"),
                amount: total,
            }),
        );
        let packed = round_trip(&state);
        let json = serde_json::to_vec(&state).expect("json");
        assert!(
            packed.len() * 2 < json.len(),
            "{} vs {}",
            packed.len(),
            json.len()
        );
    }

    #[test]
    fn a_snapshot_written_before_deadlines_is_read_without_them() {
        let state = placed();
        let mut order = state.order().expect("order").clone();
        assert!(order.payment_due_at.is_some(), "placed now has a due time");
        order.payment_due_at = None;
        let mut new = Vec::new();
        encode(&OrderState::from_parts(1, Some(order.clone())), &mut new);
        // Layout 1: the same bytes up to the refund, without the deadlines (three bytes:
        // none, none, not overdue).
        assert_eq!(new[new.len() - 3..], [0, 0, 0]);
        let mut old = new[..new.len() - 3].to_vec();
        assert_eq!(old[1], 2);
        old[1] = 1;
        let read = decode(&mut Reader(&old)).expect("layout 1");
        let read = read.order().expect("order");
        assert_eq!(
            (read.payment_due_at, read.ship_by, read.overdue),
            (None, None, false)
        );
        assert_eq!(read.lines, order.lines);
    }

    #[test]
    fn money_in_another_currency_keeps_its_currency() {
        let mut out = Vec::new();
        let usd =
            Money::new(1_000_000_000_000_000, Currency::parse("USD").expect("usd")).expect("money");
        put_money(&mut out, usd, eur());
        assert_eq!(money(&mut Reader(&out), eur()), Some(usd));
    }

    #[test]
    fn damaged_or_invalid_values_are_refused() {
        let mut out = Vec::new();
        encode(&placed(), &mut out);
        for cut in 0..out.len() {
            assert_eq!(decode(&mut Reader(&out[..cut])), None, "cut at {cut}");
        }
        // The customer id's first byte, made a character the domain refuses.
        let mut bad = out.clone();
        let at = 3;
        bad[at] = b'!';
        assert_eq!(decode(&mut Reader(&bad)), None);
        let mut status = out.clone();
        // version, 1, len + "cust-42", "EUR": the status byte follows.
        status[2 + 1 + 7 + 3] = 9;
        assert_eq!(decode(&mut Reader(&status)), None);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut value = vec![1, 1];
            value.extend(bytes);
            let _ = decode(&mut Reader(&value));
        }
    }
}
