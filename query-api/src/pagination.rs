//! Keyset pagination, pure: opaque cursors and the page a Relay argument set asks for.
//!
//! A cursor names a row by its sort key and its id, `(placed_at, order_id)` or
//! `(total_minor, order_id)`, so a page starts exactly after (or before) that row however
//! many rows were inserted since: no OFFSET, no duplicates, no gaps.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

/// What a list of orders is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
#[graphql(name = "OrderSortField")]
pub enum SortField {
    PlacedAt,
    Total,
}

impl SortField {
    pub(crate) fn column(self) -> &'static str {
        match self {
            SortField::PlacedAt => "placed_at",
            SortField::Total => "total_minor",
        }
    }

    fn tag(self) -> char {
        match self {
            SortField::PlacedAt => 'p',
            SortField::Total => 't',
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
#[graphql(name = "SortDirection")]
pub enum Direction {
    Asc,
    Desc,
}

/// A position in a sorted list: the sort key (microseconds since the epoch for placed-at,
/// minor units for the total) and the order id that breaks ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub field: SortField,
    pub key: i64,
    pub id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("`{0}` is not a cursor this API gave out")]
    BadCursor(String),
    #[error("the cursor belongs to a list sorted by another field")]
    CursorForAnotherSort,
    #[error("`first` and `last` cannot be used together")]
    FirstAndLast,
    #[error("`{argument}` must be between 0 and {max}, got {value}")]
    PageSize {
        argument: &'static str,
        value: i64,
        max: usize,
    },
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "{}:{}:{}",
            self.field.tag(),
            self.key,
            self.id.simple()
        ))
    }

    pub fn decode(text: &str) -> Result<Self, PageError> {
        let bad = || PageError::BadCursor(text.chars().take(64).collect());
        let raw = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
        let raw = String::from_utf8(raw).map_err(|_| bad())?;
        let mut parts = raw.splitn(3, ':');
        let field = match parts.next() {
            Some("p") => SortField::PlacedAt,
            Some("t") => SortField::Total,
            _ => return Err(bad()),
        };
        let key = parts
            .next()
            .and_then(|k| k.parse::<i64>().ok())
            .ok_or_else(bad)?;
        let id = parts
            .next()
            .and_then(|i| Uuid::parse_str(i).ok())
            .ok_or_else(bad)?;
        Ok(Self { field, key, id })
    }
}

/// The Relay arguments of a connection field.
#[derive(Debug, Clone, Default)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

/// One page to fetch: at most `limit` rows strictly between the bounds, taken from the
/// start of the range (forwards) or from its end (backwards).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub field: SortField,
    pub direction: Direction,
    pub limit: usize,
    pub after: Option<Cursor>,
    pub before: Option<Cursor>,
    pub backwards: bool,
}

impl Page {
    pub fn new(
        args: &PageArgs,
        field: SortField,
        direction: Direction,
        default_size: usize,
        max: usize,
    ) -> Result<Self, PageError> {
        let size = |argument: &'static str, value: i32| {
            usize::try_from(value)
                .ok()
                .filter(|v| *v <= max)
                .ok_or(PageError::PageSize {
                    argument,
                    value: value.into(),
                    max,
                })
        };
        let (limit, backwards) = match (args.first, args.last) {
            (Some(_), Some(_)) => return Err(PageError::FirstAndLast),
            (Some(first), None) => (size("first", first)?, false),
            (None, Some(last)) => (size("last", last)?, true),
            // Without a size, paging back from `before` means the rows just before it.
            (None, None) => (
                default_size.min(max),
                args.before.is_some() && args.after.is_none(),
            ),
        };
        let cursor = |text: &Option<String>| -> Result<Option<Cursor>, PageError> {
            text.as_deref()
                .map(Cursor::decode)
                .transpose()?
                .map(|c| {
                    if c.field == field {
                        Ok(c)
                    } else {
                        Err(PageError::CursorForAnotherSort)
                    }
                })
                .transpose()
        };
        Ok(Self {
            field,
            direction,
            limit,
            after: cursor(&args.after)?,
            before: cursor(&args.before)?,
            backwards,
        })
    }

    /// The direction rows are fetched in: the list's own, reversed when paging backwards.
    pub fn fetch_direction(&self) -> Direction {
        match (self.direction, self.backwards) {
            (d, false) => d,
            (Direction::Asc, true) => Direction::Desc,
            (Direction::Desc, true) => Direction::Asc,
        }
    }

    /// Turns `limit + 1` fetched rows into the page in list order and whether more rows lie
    /// beyond it in the fetch direction.
    pub fn trim<T>(&self, mut rows: Vec<T>) -> (Vec<T>, bool) {
        let more = rows.len() > self.limit;
        rows.truncate(self.limit);
        if self.backwards {
            rows.reverse();
        }
        (rows, more)
    }

    /// (hasPreviousPage, hasNextPage) given whether more rows lay beyond the page.
    /// The side the client came from is known to hold rows exactly when it gave a cursor.
    pub fn page_info(&self, more: bool) -> (bool, bool) {
        if self.backwards {
            (more, self.before.is_some())
        } else {
            (self.after.is_some(), more)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> PageArgs {
        PageArgs {
            first,
            after,
            last,
            before,
        }
    }

    #[test]
    fn a_cursor_survives_its_round_trip_and_garbage_is_refused() {
        let cursor = Cursor {
            field: SortField::Total,
            key: -42,
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor));
        for bad in [
            "",
            "!!",
            "eDoxOjI",
            &URL_SAFE_NO_PAD.encode("p:notanumber:00000000000000000000000000000000"),
        ] {
            assert!(
                matches!(Cursor::decode(bad), Err(PageError::BadCursor(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn page_sizes_are_bounded_and_first_excludes_last() {
        let page = |a: PageArgs| Page::new(&a, SortField::PlacedAt, Direction::Asc, 20, 100);
        assert_eq!(
            page(args(None, None, None, None)).map(|p| (p.limit, p.backwards)),
            Ok((20, false))
        );
        assert_eq!(
            page(args(Some(100), None, None, None)).map(|p| p.limit),
            Ok(100)
        );
        assert!(matches!(
            page(args(Some(101), None, None, None)),
            Err(PageError::PageSize {
                argument: "first",
                ..
            })
        ));
        assert!(matches!(
            page(args(None, None, Some(-1), None)),
            Err(PageError::PageSize {
                argument: "last",
                ..
            })
        ));
        assert_eq!(
            page(args(Some(1), None, Some(1), None)),
            Err(PageError::FirstAndLast)
        );
    }

    #[test]
    fn a_cursor_from_another_sort_is_refused() {
        let cursor = Cursor {
            field: SortField::Total,
            key: 1,
            id: Uuid::nil(),
        }
        .encode();
        let page = Page::new(
            &args(Some(5), Some(cursor), None, None),
            SortField::PlacedAt,
            Direction::Asc,
            20,
            100,
        );
        assert_eq!(page, Err(PageError::CursorForAnotherSort));
    }

    #[test]
    fn backwards_pages_fetch_reversed_and_come_back_in_list_order() {
        let before = Cursor {
            field: SortField::PlacedAt,
            key: 10,
            id: Uuid::nil(),
        }
        .encode();
        let page = Page::new(
            &args(None, None, Some(2), Some(before)),
            SortField::PlacedAt,
            Direction::Desc,
            20,
            100,
        )
        .expect("page");
        assert_eq!(page.fetch_direction(), Direction::Asc);
        let (rows, more) = page.trim(vec![1, 2, 3]);
        assert_eq!((rows, more), (vec![2, 1], true));
        assert_eq!(page.page_info(more), (true, true));
    }
}
