//! Who asks, in the resolvers: the [`Principal`] the HTTP layer (or the WebSocket's
//! `connection_init`) admitted is in every request's context. A caller whose token names a
//! customer sees that customer's orders only; what spans every customer (the sales reports)
//! is closed to them.

use async_graphql::Context;
use guard::Principal;

use crate::errors::ApiError;

/// The admitted caller. A request executed without one is a bug (`INTERNAL`).
pub(crate) fn caller<'a>(ctx: &Context<'a>) -> Result<&'a Principal, ApiError> {
    Ok(ctx.data::<Principal>()?)
}

/// The customer the caller is limited to, if any.
pub(crate) fn own_customer<'a>(ctx: &Context<'a>) -> Result<Option<&'a str>, ApiError> {
    Ok(caller(ctx)?.customer.as_deref())
}

/// Whether the caller may see what belongs to `customer`.
pub(crate) fn sees(ctx: &Context<'_>, customer: &str) -> Result<bool, ApiError> {
    Ok(caller(ctx)?.sees_customer(customer))
}

/// Refuses a caller limited to one customer: `what` spans every customer.
pub(crate) fn across_customers(ctx: &Context<'_>, what: &'static str) -> Result<(), ApiError> {
    match own_customer(ctx)? {
        Some(_) => Err(ApiError::Forbidden(format!(
            "{what} covers every customer; a token for one customer cannot read it"
        ))),
        None => Ok(()),
    }
}
