//! The batch preview: per-recipient messages, segments and cost, exclusions and the batch summary.

mod consent;
mod phone;
mod preview;
mod price;
mod recipient;
mod sample;

pub use self::consent::Purpose;
pub use self::phone::PhoneNormalizer;
pub(crate) use self::phone::calling_code;
pub use self::preview::{
    ByEncoding, EncodingTotals, ExclusionCounts, MissingVariablePolicy, Preview, PreviewConfig,
    PreviewRun, PreviewStream, PreviewSummary, Previewer, RecipientList,
};
pub use self::price::{Amount, EncodingPrices, PriceTable};
pub use self::recipient::{
    ExcludedRecipient, ExclusionReason, FailedRecipient, IncludedRecipient, RecipientPreview,
};
pub use self::sample::Sample;
