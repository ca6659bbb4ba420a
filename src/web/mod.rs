//! The web app (feature `web`): the JSON API under `/api/`, the batch workspace and the
//! monitoring dashboard, over any [`store`](crate::store), served by axum (`smsbatch serve`).

mod api;
mod app;
mod assets;
mod error;
mod jwt;
mod sample;
#[cfg(feature = "twilio")]
mod twilio;

pub use self::app::{Identity, WebApp, serve};
pub use self::error::ApiError;
pub use self::jwt::{JwtVerifier, MIN_SECRET_LEN};
pub use self::sample::{SampleLoaded, load_sample, sample_prices};
