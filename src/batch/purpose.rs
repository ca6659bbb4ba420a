//! Why a batch is sent: marketing or transactional, which decides whether consent is needed.

use serde::{Deserialize, Serialize};

/// What a batch is for (JSON `"marketing"` / `"transactional"`). Marketing texts need the
/// recipient's consent; transactional ones (an order update, a one-time code) do not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Purpose {
    /// Promotions and campaigns (the default).
    #[default]
    Marketing,
    /// Messages the customer expects as part of a service they use.
    Transactional,
}

impl Purpose {
    /// The name, the same in JSON and in the database.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Marketing => "marketing",
            Self::Transactional => "transactional",
        }
    }

    /// Reads the name back.
    pub fn from_code(text: &str) -> crate::Result<Self> {
        match text {
            "marketing" => Ok(Self::Marketing),
            "transactional" => Ok(Self::Transactional),
            other => Err(crate::ErrorKind::InvalidInput {
                message: format!("unknown purpose {other:?}; expected marketing or transactional"),
            }
            .into()),
        }
    }
}
