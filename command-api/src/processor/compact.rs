//! Snapshot format 2: an order's slot in a compact binary layout. The state stays in the
//! domain's own JSON (parsed through its validating types); the idempotency memory, most of
//! a format-1 snapshot's size, is binary: ids as 16 bytes, fingerprints as 8, event types
//! as their index in [`EVENT_TYPES`]. The first bytes say whether the order is in a final
//! state, so a takeover can put such orders aside without parsing them. Pure.
//!
//! ```text
//! magic u8 = 0x02 | flags u8 (bit 0: final) | varint len, state JSON | varint count, recents
//! recent:  command id [16] | fingerprint | outcome
//! fingerprint: 0 (none) | 1, u64 LE (16 hex digits) | 2, varint len, bytes
//! outcome: 0 accepted, varint version, varint n, n x (id [16], type, varint version)
//!          | 1 rejected, varint len, rejection JSON | 2 idempotency key reused
//! type:    index < 255 in EVENT_TYPES | 255, varint len, name
//! ```

use std::collections::VecDeque;

use schemas::envelope::EventSummary;
use schemas::event::EVENT_TYPES;
use schemas::{CommandOutcome, OrderState};
use uuid::Uuid;

use super::slot::{OrderSlot, Recent};

/// The first byte of a format-2 value (a format-1 value is JSON and starts with `{`).
pub const MAGIC: u8 = 0x02;
const FINAL: u8 = 0b1;
const OTHER_TYPE: u8 = 255;

/// The slot in format 2.
pub fn encode(slot: &OrderSlot) -> Vec<u8> {
    let state = serde_json::to_vec(&slot.state).unwrap_or_default();
    let mut out = Vec::with_capacity(state.len() + 16 + slot.recent.len() * 48);
    out.push(MAGIC);
    out.push(if is_final(&slot.state) { FINAL } else { 0 });
    put_bytes(&mut out, &state);
    put_varint(&mut out, slot.recent.len() as u64);
    for recent in &slot.recent {
        out.extend_from_slice(recent.command_id.as_bytes());
        put_fingerprint(&mut out, recent.fingerprint.as_deref());
        put_outcome(&mut out, &recent.outcome);
    }
    out
}

/// The slot a format-2 value holds; `None` when the value is not one (whatever its bytes).
pub fn decode(value: &[u8]) -> Option<OrderSlot> {
    let mut input = Reader(value);
    (input.byte()? == MAGIC).then_some(())?;
    let _flags = input.byte()?;
    let state: OrderState = serde_json::from_slice(input.bytes()?).ok()?;
    let count = input.varint()?;
    let mut recent = VecDeque::with_capacity(usize::try_from(count).ok()?.min(256));
    for _ in 0..count {
        let command_id = input.uuid()?;
        let fingerprint = input.fingerprint()?;
        let outcome = input.outcome()?;
        recent.push_back(Recent {
            command_id,
            fingerprint,
            outcome,
        });
    }
    input.0.is_empty().then_some(OrderSlot { state, recent })
}

/// Whether a format-2 value says its order is in a final state (delivered or cancelled),
/// read from its flags alone.
pub fn says_final(value: &[u8]) -> bool {
    matches!(value, [MAGIC, flags, ..] if flags & FINAL != 0)
}

/// Delivered and cancelled orders never change again.
pub fn is_final(state: &OrderState) -> bool {
    state
        .order()
        .is_some_and(|order| order.status.is_terminal())
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_fingerprint(out: &mut Vec<u8>, fingerprint: Option<&str>) {
    match fingerprint {
        None => out.push(0),
        Some(hex)
            if hex.len() == 16 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            out.push(1);
            let value = u64::from_str_radix(hex, 16).unwrap_or_default();
            out.extend_from_slice(&value.to_le_bytes());
        }
        Some(other) => {
            out.push(2);
            put_bytes(out, other.as_bytes());
        }
    }
}

fn put_outcome(out: &mut Vec<u8>, outcome: &CommandOutcome) {
    match outcome {
        CommandOutcome::Accepted { version, events } => {
            out.push(0);
            put_varint(out, *version);
            put_varint(out, events.len() as u64);
            for event in events {
                out.extend_from_slice(event.id.as_bytes());
                match EVENT_TYPES
                    .iter()
                    .position(|(name, _)| *name == event.type_name)
                {
                    Some(index) if index < usize::from(OTHER_TYPE) => out.push(index as u8),
                    _ => {
                        out.push(OTHER_TYPE);
                        put_bytes(out, event.type_name.as_bytes());
                    }
                }
                put_varint(out, event.version);
            }
        }
        CommandOutcome::Rejected { rejection } => {
            out.push(1);
            put_bytes(out, &serde_json::to_vec(rejection).unwrap_or_default());
        }
        CommandOutcome::IdempotencyKeyReused => out.push(2),
    }
}

/// The unread rest of a value.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*first)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        (self.0.len() >= n).then_some(())?;
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(taken)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        self.take(len)
    }

    fn uuid(&mut self) -> Option<Uuid> {
        Uuid::from_slice(self.take(16)?).ok()
    }

    fn fingerprint(&mut self) -> Option<Option<String>> {
        match self.byte()? {
            0 => Some(None),
            1 => {
                let bytes: [u8; 8] = self.take(8)?.try_into().ok()?;
                Some(Some(format!("{:016x}", u64::from_le_bytes(bytes))))
            }
            2 => Some(Some(String::from_utf8(self.bytes()?.to_vec()).ok()?)),
            _ => None,
        }
    }

    fn outcome(&mut self) -> Option<CommandOutcome> {
        match self.byte()? {
            0 => {
                let version = self.varint()?;
                let n = self.varint()?;
                let mut events = Vec::with_capacity(usize::try_from(n).ok()?.min(64));
                for _ in 0..n {
                    let id = self.uuid()?;
                    let type_name = match self.byte()? {
                        OTHER_TYPE => String::from_utf8(self.bytes()?.to_vec()).ok()?,
                        index => EVENT_TYPES.get(usize::from(index))?.0.to_owned(),
                    };
                    let version = self.varint()?;
                    events.push(EventSummary {
                        id,
                        type_name,
                        version,
                    });
                }
                Some(CommandOutcome::Accepted { version, events })
            }
            1 => Some(CommandOutcome::Rejected {
                rejection: serde_json::from_slice(self.bytes()?).ok()?,
            }),
            2 => Some(CommandOutcome::IdempotencyKeyReused),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use schemas::Rejection;

    use super::*;

    fn recent(n: u128, fingerprint: Option<&str>, outcome: CommandOutcome) -> Recent {
        Recent {
            command_id: Uuid::from_u128(n),
            fingerprint: fingerprint.map(str::to_owned),
            outcome,
        }
    }

    fn accepted(version: u64, types: &[&str]) -> CommandOutcome {
        CommandOutcome::Accepted {
            version,
            events: types
                .iter()
                .enumerate()
                .map(|(i, name)| EventSummary {
                    id: Uuid::now_v7(),
                    type_name: (*name).to_owned(),
                    version: version + 1 - (types.len() - i) as u64,
                })
                .collect(),
        }
    }

    #[test]
    fn every_kind_of_answer_survives_the_round_trip() {
        let mut slot = OrderSlot::default();
        slot.recent.push_back(recent(
            1,
            Some("00ff00ff00ff00ff"),
            accepted(1, &[EVENT_TYPES[0].0]),
        ));
        slot.recent.push_back(recent(
            2,
            None,
            accepted(3, &[EVENT_TYPES[1].0, "dev.orderlog.order.future"]),
        ));
        slot.recent.push_back(recent(
            3,
            Some("not hex, or longer than sixteen"),
            CommandOutcome::IdempotencyKeyReused,
        ));
        slot.recent
            .push_back(recent(4, Some("0123456789ABCDEF"), accepted(3, &[])));
        for rejection in Rejection::every_kind() {
            slot.recent
                .push_back(recent(5, Some(""), CommandOutcome::Rejected { rejection }));
        }
        let value = encode(&slot);
        assert_eq!(decode(&value), Some(slot));
        assert!(!says_final(&value));
    }

    #[test]
    fn damaged_values_decode_to_nothing() {
        let mut slot = OrderSlot::default();
        slot.recent.push_back(recent(
            1,
            Some("00ff00ff00ff00ff"),
            accepted(1, &[EVENT_TYPES[0].0]),
        ));
        let value = encode(&slot);
        for cut in 0..value.len() {
            assert_eq!(decode(&value[..cut]), None, "cut at {cut}");
        }
        let mut longer = value.clone();
        longer.push(0);
        assert_eq!(decode(&longer), None, "trailing bytes");
        assert_eq!(decode(br#"{"format":1}"#), None);
        assert_eq!(
            decode(&[
                MAGIC, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
            ]),
            None
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut value = vec![MAGIC, 0];
            value.extend(bytes);
            let _ = decode(&value);
        }
    }
}
