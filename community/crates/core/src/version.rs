//! Defines script versions and their global order (`1.2.0` == `1_2_0`, any number of parts).

use std::cmp::Ordering;
use std::fmt;

/// A migration version such as `1.2.0`, normalised to dots as the original stores it.
///
/// Ordering is numeric part by part, like the original's tuple sort: `1.2 < 1.2.0 < 1.10`.
/// Parts are compared as arbitrarily long digit strings, so no version overflows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version {
    text: String,
}

/// Why a string is not a version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a version: expected numbers separated by '.' or '_' (like 1.2.0)")]
pub struct VersionError(pub String);

impl Version {
    /// Parses `1.2.0` or `1_2_0`.
    pub fn parse(s: &str) -> Result<Self, VersionError> {
        let ok = !s.is_empty()
            && s.split(['.', '_'])
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if ok {
            Ok(Version {
                text: s.replace('_', "."),
            })
        } else {
            Err(VersionError(s.to_string()))
        }
    }

    /// The normalised text (`1.2.0`), as written to `change_history.version`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn parts(&self) -> impl Iterator<Item = &str> {
        self.text
            .split('.')
            .map(|p| match p.trim_start_matches('0') {
                "" => "0",
                t => t,
            })
    }

    /// The numeric value as text without leading zeros (`1.02` → `1.2`): equal keys
    /// mean [`Version::same_number`].
    pub fn numeric_key(&self) -> String {
        self.parts().collect::<Vec<_>>().join(".")
    }

    /// True when both versions have the same numeric value (`1.02` and `1.2`), even
    /// if their text differs.
    pub fn same_number(&self, other: &Version) -> bool {
        self.cmp_numeric(other) == Ordering::Equal
    }

    /// Compares numeric values only, as the original does (`2024.01.05` equals
    /// `2024.1.5`); [`Ord`] breaks such ties by text to keep a total order.
    pub fn cmp_numeric(&self, other: &Version) -> Ordering {
        let mut a = self.parts();
        let mut b = other.parts();
        loop {
            match (a.next(), b.next()) {
                (None, None) => return Ordering::Equal,
                (None, Some(_)) => return Ordering::Less,
                (Some(_), None) => return Ordering::Greater,
                (Some(x), Some(y)) => {
                    let ord = x.len().cmp(&y.len()).then_with(|| x.cmp(y));
                    if ord != Ordering::Equal {
                        return ord;
                    }
                }
            }
        }
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.cmp_numeric(other)
            .then_with(|| self.text.cmp(&other.text))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn underscores_equal_dots() {
        assert_eq!(v("1_2_0"), v("1.2.0"));
        assert_eq!(v("1_2_0").as_str(), "1.2.0");
    }

    #[test]
    fn orders_numerically_like_python_tuples() {
        let mut list = [
            v("1.10"),
            v("2"),
            v("1.2.0"),
            v("1.2"),
            v("0.0.1"),
            v("1.9.9.9"),
            v("99999999999999999999999.1"),
        ];
        list.sort();
        let got: Vec<&str> = list.iter().map(Version::as_str).collect();
        assert_eq!(
            got,
            [
                "0.0.1",
                "1.2",
                "1.2.0",
                "1.9.9.9",
                "1.10",
                "2",
                "99999999999999999999999.1"
            ]
        );
    }

    #[test]
    fn leading_zeros_are_the_same_number_but_not_the_same_version() {
        assert!(v("1.02").same_number(&v("1.2")));
        assert_eq!(v("01.02.0").numeric_key(), "1.2.0");
        assert_ne!(v("1.02"), v("1.2"));
        assert!(v("1.02") != v("1.2") && v("1.02").cmp(&v("1.2")) != Ordering::Equal);
    }

    #[test]
    fn rejects_non_versions() {
        for bad in ["", "1.", ".1", "1..2", "a.b", "1-2", "v1"] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
    }
}
