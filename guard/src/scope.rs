//! What a token allows: reading orders, commanding them, operating the services.

use std::fmt;

/// One permission a token can carry in its `scope` (space-separated) or `scp` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Queries and subscriptions.
    Read,
    /// Commands.
    Write,
    /// Operations: metrics, readiness details.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "orders:read",
            Scope::Write => "orders:write",
            Scope::Admin => "orders:admin",
        }
    }

    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == word)
    }

    fn bit(self) -> u8 {
        match self {
            Scope::Read => 1,
            Scope::Write => 2,
            Scope::Admin => 4,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The set of scopes a token carries. Words that name no orderlog scope are ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    pub fn of<'a>(words: impl IntoIterator<Item = &'a str>) -> Self {
        Self(
            words
                .into_iter()
                .filter_map(Scope::parse)
                .fold(0, |bits, scope| bits | scope.bit()),
        )
    }

    pub fn all() -> Self {
        Self::of(Scope::ALL.map(Scope::as_str))
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// The scopes as a `scope` claim: space-separated.
    pub fn claim(self) -> String {
        Scope::ALL
            .into_iter()
            .filter(|s| self.contains(*s))
            .map(Scope::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_from_words_and_ignore_the_rest() {
        let scopes = Scopes::of("openid orders:read orders:admin".split(' '));
        assert!(scopes.contains(Scope::Read));
        assert!(scopes.contains(Scope::Admin));
        assert!(!scopes.contains(Scope::Write));
        assert_eq!(scopes.claim(), "orders:read orders:admin");
        assert_eq!(Scopes::of(Scopes::all().claim().split(' ')), Scopes::all());
        assert_eq!(Scopes::of(["orders:READ", ""]), Scopes::default());
    }
}
