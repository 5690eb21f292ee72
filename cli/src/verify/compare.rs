//! Differences between the expected and the actual rows of one table.

use std::collections::BTreeMap;
use std::fmt;

use super::expected::Table;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub model: &'static str,
    pub key: String,
    pub field: String,
    pub expected: String,
    pub actual: String,
}

impl fmt::Display for Difference {
    /// Tab-separated: model, key, field, expected, actual.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\t{}\t{}\t{}\t{}",
            self.model, self.key, self.field, self.expected, self.actual
        )
    }
}

/// Compares two tables. With `zero`, a missing row counts as that row (report tables keep
/// rows that went back to zero, or never had any).
pub fn compare(
    model: &'static str,
    expected: &Table,
    actual: &Table,
    zero: Option<&BTreeMap<&'static str, String>>,
) -> Vec<Difference> {
    let mut differences = Vec::new();
    let keys: std::collections::BTreeSet<&String> = expected.keys().chain(actual.keys()).collect();
    for key in keys {
        let (want, have) = match (expected.get(key), actual.get(key), zero) {
            (Some(want), Some(have), _) => (want, have),
            (Some(want), None, Some(zero)) => (want, zero),
            (None, Some(have), Some(zero)) => (zero, have),
            (Some(_), None, None) => {
                differences.push(row_difference(model, key, "present", "missing"));
                continue;
            }
            (None, Some(_), None) => {
                differences.push(row_difference(model, key, "missing", "present"));
                continue;
            }
            (None, None, _) => continue,
        };
        for (field, value) in want {
            let other = have.get(field).map_or("missing", String::as_str);
            if value != other {
                differences.push(Difference {
                    model,
                    key: key.clone(),
                    field: (*field).to_owned(),
                    expected: value.clone(),
                    actual: other.to_owned(),
                });
            }
        }
    }
    differences
}

fn row_difference(model: &'static str, key: &str, expected: &str, actual: &str) -> Difference {
    Difference {
        model,
        key: key.to_owned(),
        field: "(row)".to_owned(),
        expected: expected.to_owned(),
        actual: actual.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: &[(&str, &[(&'static str, &str)])]) -> Table {
        rows.iter()
            .map(|(key, fields)| {
                (
                    (*key).to_owned(),
                    fields.iter().map(|(f, v)| (*f, (*v).to_owned())).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn reports_changed_fields_and_missing_or_extra_rows() {
        let expected = table(&[
            ("a", &[("status", "paid"), ("total", "10")]),
            ("b", &[("status", "placed")]),
        ]);
        let actual = table(&[
            ("a", &[("status", "placed"), ("total", "10")]),
            ("c", &[("status", "placed")]),
        ]);
        let differences = compare("orders", &expected, &actual, None);
        let lines: Vec<String> = differences.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "orders\ta\tstatus\tpaid\tplaced",
                "orders\tb\t(row)\tpresent\tmissing",
                "orders\tc\t(row)\tmissing\tpresent"
            ]
        );
        assert!(compare("orders", &expected, &expected, None).is_empty());
    }

    #[test]
    fn a_missing_report_row_counts_as_zero() {
        let zero: BTreeMap<&'static str, String> = BTreeMap::from([("units", "0".to_owned())]);
        let expected = table(&[("sku-1", &[("units", "0")])]);
        let actual = table(&[("sku-2", &[("units", "0")])]);
        assert!(compare("product_sales", &expected, &actual, Some(&zero)).is_empty());
        let actual = table(&[("sku-2", &[("units", "3")])]);
        assert_eq!(
            compare("product_sales", &expected, &actual, Some(&zero)).len(),
            1
        );
    }
}
