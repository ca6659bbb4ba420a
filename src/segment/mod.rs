//! SMS encoding and segment counting (3GPP TS 23.038 alphabets, TS 23.040 concatenation).

mod fast;
mod gsm7;
mod segmenter;
mod smart;
mod ucs2;

pub use self::segmenter::{
    Encoding, NationalLanguage, NationalShift, NonGsmChar, SegmentConfig, SegmentCount,
    Segmentation, Segmenter, SplitPolicy, count, segment,
};
pub use self::smart::Replacement;
