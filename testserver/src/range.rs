//! Row ranges: `limit`/`offset`, the `Range` request header and the `Content-Range` answer, with
//! PostgREST's arithmetic (`RangeQuery.hs`, `ApiRequest.getRanges`, `Response.hs`), edge cases
//! included: `limit=0` is allowed, a negative limit or an upside-down `Range` is a 416, and the
//! status is 200, 206 or 416 from the page against the counted total.

use crate::error::ApiError;

/// A range of row positions. Bounds are inclusive; `None` is unbounded. Like `Data.Ranged`, an
/// intersection of two non-empty ranges keeps its bounds even when they cross (that is how
/// `limit=0` survives: `[0, -1]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Range {
    lower: Option<i64>,
    upper: Option<i64>,
}

impl Range {
    /// Every row: `[0, ∞)`.
    pub(crate) const ALL: Range = Range {
        lower: Some(0),
        upper: None,
    };

    /// The canonical empty range.
    const EMPTY: Range = Range {
        lower: Some(1),
        upper: Some(0),
    };

    const LIMIT_ZERO: Range = Range {
        lower: Some(0),
        upper: Some(-1),
    };

    fn geq(n: i64) -> Range {
        Range {
            lower: Some(n),
            upper: None,
        }
    }

    fn leq(n: i64) -> Range {
        Range {
            lower: None,
            upper: Some(n),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        matches!((self.lower, self.upper), (Some(l), Some(u)) if u < l)
    }

    fn intersect(self, other: Range) -> Range {
        if self.is_empty() || other.is_empty() {
            return Range::EMPTY;
        }
        let max_lower = match (self.lower, other.lower) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let min_upper = match (self.upper, other.upper) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Range {
            lower: max_lower,
            upper: min_upper,
        }
    }

    /// The rows to skip (PostgREST's `rangeOffset`).
    pub(crate) fn offset(&self) -> i64 {
        self.lower.unwrap_or(0)
    }

    /// The number of rows, when bounded (`rangeLimit`).
    pub(crate) fn limit(&self) -> Option<i64> {
        match (self.lower, self.upper) {
            (Some(l), Some(u)) => Some(1i64.saturating_add(u).saturating_sub(l)),
            _ => None,
        }
    }

    fn equals(&self, other: &Range) -> bool {
        (self.is_empty() && other.is_empty()) || self == other
    }

    /// `restrictRange`: at most `limit` rows from this range's offset.
    fn restrict(self, limit: Option<i64>) -> Range {
        match limit {
            None => self,
            Some(l) => self.intersect(Range::leq(
                self.offset().saturating_add(l).saturating_sub(1),
            )),
        }
    }
}

/// `readMaybe` of an Integer: optional blanks, an optional `-`, digits, optional blanks. Beyond
/// `i64` saturates (no table has that many rows).
fn read_integer(s: &str) -> Option<i64> {
    let t = s.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude = digits.parse::<i64>().unwrap_or(i64::MAX);
    Some(if neg { -magnitude } else { magnitude })
}

/// The range of the `limit` and `offset` parameters (the last of each, as a map keeps it).
pub(crate) fn from_params(limit: Option<&str>, offset: Option<&str>) -> Option<Range> {
    let limit_range = limit.map(|v| Range::ALL.restrict(read_integer(v)));
    let offset_range = offset.map(|v| read_integer(v).map_or(Range::ALL, Range::geq));
    match (limit_range, offset_range) {
        (Some(l), Some(o)) => {
            let lim = l.limit().unwrap_or(0);
            let off = o.offset();
            Some(Range {
                lower: Some(off),
                upper: Some(off.saturating_add(lim).saturating_sub(1)),
            })
        }
        (l, o) => l.or(o),
    }
}

/// `rangeParse` of a `Range: a-b` header (anything else is every row).
fn parse_header(value: &str) -> Range {
    let Some((l, u)) = value.split_once('-') else {
        return Range::ALL;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(l) || !(u.is_empty() || digits(u)) {
        return Range::ALL;
    }
    let lower = Range::geq(l.parse().unwrap_or(i64::MAX));
    let upper = if u.is_empty() {
        Range::ALL
    } else {
        Range::leq(u.parse().unwrap_or(i64::MAX))
    };
    lower.intersect(upper)
}

/// `getRanges`: the rows a request asks for, from the `limit`/`offset` range and, on GET only,
/// the `Range` header.
pub(crate) fn requested(
    params: Option<Range>,
    header: Option<&str>,
    is_get: bool,
) -> Result<Range, ApiError> {
    let header_range = match header {
        Some(h) if is_get => parse_header(h),
        _ => Range::ALL,
    };
    let limit_range = params.unwrap_or(Range::ALL);
    let has_limit_zero = limit_range.upper == Range::LIMIT_ZERO.upper;
    let combined = header_range.intersect(limit_range);
    let top = if has_limit_zero {
        Range::LIMIT_ZERO
    } else {
        combined
    };
    if top.equals(&Range::EMPTY) && !has_limit_zero {
        return Err(ApiError::invalid_range(if header_range.is_empty() {
            "The lower boundary must be lower than or equal to the upper boundary in the Range header."
        } else {
            "Limit should be greater than or equal to zero."
        }));
    }
    Ok(top)
}

/// `Content-Range` for a page of `page_rows` rows starting at `lower`, out of `total` when counted.
pub(crate) fn content_range(lower: i64, upper: i64, total: Option<i64>) -> String {
    let from_to = if total != Some(0) && lower <= upper {
        format!("{lower}-{upper}")
    } else {
        "*".to_owned()
    };
    let total = total.map_or_else(|| "*".to_owned(), |t| t.to_string());
    format!("{from_to}/{total}")
}

/// Status and `Content-Range` of a read (`rangeStatusHeader`).
pub(crate) fn read_status(range: &Range, page_rows: i64, total: Option<i64>) -> (u16, String) {
    let lower = range.offset();
    let upper = lower + page_rows - 1;
    let status = match total {
        None => 200,
        Some(t) if lower > t => 416,
        Some(t) if 1 + upper - lower < t => 206,
        Some(_) => 200,
    };
    (status, content_range(lower, upper, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(
        limit: Option<&str>,
        offset: Option<&str>,
        header: Option<&str>,
    ) -> Result<Range, u16> {
        requested(from_params(limit, offset), header, true).map_err(|e| e.status)
    }

    #[test]
    fn limits_offsets_and_headers() {
        let r = range(Some("10"), Some("5"), None).expect("valid");
        assert_eq!((r.offset(), r.limit()), (5, Some(10)));
        let r = range(None, Some("5"), None).expect("valid");
        assert_eq!((r.offset(), r.limit()), (5, None));
        let r = range(Some("0"), None, None).expect("limit=0 is allowed");
        assert_eq!((r.offset(), r.limit()), (0, Some(0)));
        assert_eq!(range(Some("-1"), None, None), Err(416));
        assert_eq!(range(None, None, Some("5-3")), Err(416));
        let r = range(None, None, Some("2-4")).expect("valid");
        assert_eq!((r.offset(), r.limit()), (2, Some(3)));
        let r = range(Some("2"), None, Some("1-10")).expect("valid");
        assert_eq!((r.offset(), r.limit()), (1, Some(1)));
        // Non-numbers are ignored, as `readMaybe` gives nothing.
        assert_eq!(range(Some("abc"), None, None), Ok(Range::ALL));
        assert_eq!(range(None, None, Some("items=0-9")), Ok(Range::ALL));
        // The header counts on GET only.
        assert_eq!(
            requested(None, Some("0-1"), false).map(|r| r.limit()),
            Ok(None)
        );
    }

    #[test]
    fn statuses_and_content_range() {
        assert_eq!(read_status(&Range::ALL, 3, None), (200, "0-2/*".to_owned()));
        assert_eq!(
            read_status(&Range::ALL, 3, Some(3)),
            (200, "0-2/3".to_owned())
        );
        let page = range(Some("2"), None, None).expect("valid");
        assert_eq!(read_status(&page, 2, Some(15)), (206, "0-1/15".to_owned()));
        let past = range(None, Some("20"), None).expect("valid");
        assert_eq!(read_status(&past, 0, Some(15)).0, 416);
        let zero = range(Some("0"), None, None).expect("valid");
        assert_eq!(read_status(&zero, 0, Some(15)), (206, "*/15".to_owned()));
        assert_eq!(read_status(&zero, 0, None), (200, "*/*".to_owned()));
        assert_eq!(
            read_status(&Range::ALL, 0, Some(0)),
            (200, "*/0".to_owned())
        );
    }
}
