//! ChangeShippingAddress.

use super::{Order, Rejection, require_modifiable};
use crate::command::ChangeShippingAddress;
use crate::event::{Event, ShippingAddressChanged};

pub(super) fn change(
    order: &Order,
    command: &ChangeShippingAddress,
) -> Result<Vec<Event>, Rejection> {
    require_modifiable(order, "ChangeShippingAddress")?;
    if order.shipping_address == command.shipping_address {
        return Ok(vec![]);
    }
    Ok(vec![Event::ShippingAddressChanged(
        ShippingAddressChanged {
            shipping_address: command.shipping_address.clone(),
        },
    )])
}
