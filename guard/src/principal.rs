//! Who is calling, as their verified token says.

use crate::scope::{Scope, Scopes};

/// A verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's `sub`: rate limits count per subject, logs name it.
    pub subject: String,
    pub scopes: Scopes,
    /// The token's `customer_id` claim: when present, the caller sees and commands only
    /// that customer's orders.
    pub customer: Option<String>,
}

impl Principal {
    pub fn may(&self, scope: Scope) -> bool {
        self.scopes.contains(scope)
    }

    /// Whether this caller may see an order of `customer`.
    pub fn sees_customer(&self, customer: &str) -> bool {
        self.customer.as_deref().is_none_or(|own| own == customer)
    }
}
