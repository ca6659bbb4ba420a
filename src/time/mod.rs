//! Dates and instants (UTC, microseconds, years 0000 to 9999) with their RFC 3339 text: the little the filters, flags and templates need, in place of a time zone library.

mod date;
mod strftime;
mod text;
mod timestamp;

pub use date::Date;
pub(crate) use strftime::Moment;
pub use timestamp::Timestamp;
