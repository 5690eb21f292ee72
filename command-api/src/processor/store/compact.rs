//! Snapshot formats 2 and 3: an order's slot in a compact binary layout. The idempotency
//! memory, most of a format-1 snapshot's size, is binary: ids as 16 bytes, fingerprints as
//! 8, event types as their index in [`EVENT_TYPES`]. Format 3 (written) packs the state too
//! ([`schemas::order::packed`], a third of its JSON); format 2 (still read) kept the state
//! in the domain's JSON. Both go through the domain's validating types. The first bytes say
//! whether the order is in a final state, so a takeover can put such orders aside without
//! parsing them. Pure.
//!
//! ```text
//! magic u8 = 0x03 | flags u8 (bit 0: final) | packed state | varint count, recents
//!   (format 2: magic 0x02 | flags | varint len, state JSON | varint count, recents)
//! recent:  command id [16] | fingerprint | outcome
//! fingerprint: 0 (none) | 1, u64 LE (16 hex digits) | 2, varint len, bytes
//! outcome: 0 accepted, varint version, varint n, n x (id [16], type, varint version)
//!          | 1 rejected, varint len, rejection JSON | 2 idempotency key reused
//! type:    index < 255 in EVENT_TYPES | 255, varint len, name
//! ```

use std::collections::VecDeque;

use schemas::envelope::EventSummary;
use schemas::event::EVENT_TYPES;
use schemas::order::packed;
use schemas::packed::{Reader, put_bytes, put_varint};
use schemas::{CommandOutcome, OrderState};

use crate::processor::store::slot::{OrderSlot, Recent};

/// The first byte of a format-3 value (a format-1 value is JSON and starts with `{`).
pub(crate) const MAGIC: u8 = 0x03;
/// The first byte of a format-2 value.
pub(crate) const MAGIC_2: u8 = 0x02;
const FINAL: u8 = 0b1;
const OTHER_TYPE: u8 = 255;

/// The slot in format 3.
pub(crate) fn encode(slot: &OrderSlot) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + slot.recent.len() * 48);
    out.push(MAGIC);
    out.push(flags(&slot.state));
    packed::encode(&slot.state, &mut out);
    put_recents(&mut out, slot);
    out
}

fn flags(state: &OrderState) -> u8 {
    if is_final(state) { FINAL } else { 0 }
}

fn put_recents(out: &mut Vec<u8>, slot: &OrderSlot) {
    put_varint(out, slot.recent.len() as u64);
    for recent in &slot.recent {
        out.extend_from_slice(recent.command_id.as_bytes());
        put_fingerprint(out, recent.fingerprint.as_deref());
        put_outcome(out, &recent.outcome);
    }
}

/// The slot a format-3 or format-2 value holds; `None` when the value is neither (whatever
/// its bytes).
pub(crate) fn decode(value: &[u8]) -> Option<OrderSlot> {
    let mut input = Reader(value);
    let magic = input.byte()?;
    let _flags = input.byte()?;
    let state = match magic {
        MAGIC => packed::decode(&mut input)?,
        MAGIC_2 => serde_json::from_slice::<OrderState>(input.bytes()?).ok()?,
        _ => return None,
    };
    let count = input.varint()?;
    let mut recent = VecDeque::with_capacity(usize::try_from(count).ok()?.min(256));
    for _ in 0..count {
        let command_id = input.uuid()?;
        let fingerprint = fingerprint(&mut input)?;
        let outcome = outcome(&mut input)?;
        recent.push_back(Recent {
            command_id,
            fingerprint,
            outcome,
        });
    }
    input.is_empty().then_some(OrderSlot { state, recent })
}

/// Whether a format-3 or format-2 value says its order is in a final state (delivered or
/// cancelled), read from its flags alone.
pub(crate) fn says_final(value: &[u8]) -> bool {
    matches!(value, [MAGIC | MAGIC_2, flags, ..] if flags & FINAL != 0)
}

/// Delivered and cancelled orders never change again.
pub(crate) fn is_final(state: &OrderState) -> bool {
    state
        .order()
        .is_some_and(|order| order.status.is_terminal())
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

fn fingerprint(input: &mut Reader<'_>) -> Option<Option<String>> {
    match input.byte()? {
        0 => Some(None),
        1 => {
            let bytes: [u8; 8] = input.take(8)?.try_into().ok()?;
            Some(Some(format!("{:016x}", u64::from_le_bytes(bytes))))
        }
        2 => Some(Some(input.str()?.to_owned())),
        _ => None,
    }
}

fn outcome(input: &mut Reader<'_>) -> Option<CommandOutcome> {
    match input.byte()? {
        0 => {
            let version = input.varint()?;
            let n = input.varint()?;
            let mut events = Vec::with_capacity(usize::try_from(n).ok()?.min(64));
            for _ in 0..n {
                let id = input.uuid()?;
                let type_name = match input.byte()? {
                    OTHER_TYPE => input.str()?.to_owned(),
                    index => EVENT_TYPES.get(usize::from(index))?.0.to_owned(),
                };
                let version = input.varint()?;
                events.push(EventSummary {
                    id,
                    type_name,
                    version,
                });
            }
            Some(CommandOutcome::Accepted { version, events })
        }
        1 => Some(CommandOutcome::Rejected {
            rejection: serde_json::from_slice(input.bytes()?).ok()?,
        }),
        2 => Some(CommandOutcome::IdempotencyKeyReused),
        _ => None,
    }
}

/// The slot in format 2, as versions before format 3 wrote it (for tests of the upgrade).
#[cfg(test)]
pub(crate) fn encode_format_2(slot: &OrderSlot) -> Vec<u8> {
    let mut out = vec![MAGIC_2, flags(&slot.state)];
    put_bytes(
        &mut out,
        &serde_json::to_vec(&slot.state).unwrap_or_default(),
    );
    put_recents(&mut out, slot);
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use schemas::Rejection;
    use uuid::Uuid;

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

    #[test]
    fn format_3_packs_the_state_and_format_2_is_still_read() {
        let slot = OrderSlot::cancelled_for_tests();
        let value = encode(&slot);
        assert_eq!(value.first(), Some(&MAGIC));
        assert_eq!(decode(&value), Some(slot.clone()));
        assert!(says_final(&value));
        let format_2 = encode_format_2(&slot);
        assert_eq!(format_2.first(), Some(&MAGIC_2));
        assert_eq!(decode(&format_2), Some(slot));
        assert!(says_final(&format_2));
        assert!(
            value.len() + 100 < format_2.len(),
            "{} vs {}",
            value.len(),
            format_2.len()
        );
        let mut unknown = value.clone();
        unknown[0] = 0x04;
        assert_eq!(decode(&unknown), None);
        assert!(!says_final(&unknown));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            for magic in [MAGIC, MAGIC_2] {
                let mut value = vec![magic, 0];
                value.extend(&bytes);
                let _ = decode(&value);
            }
        }
    }
}
