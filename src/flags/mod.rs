//! Feature flags with the Unleash client specification's semantics: load an Unleash state, compile it once into an [`Engine`], evaluate many times (see [`Engine`], [`Flags`], [`Context`]).
//!
//! ```
//! use smsbatch::Timestamp;
//! use smsbatch::flags::{Context, Engine, Env, SeededRandom};
//!
//! let engine = Engine::from_json(r#"{"features": [{"name": "new-batch-system", "enabled": true,
//!     "strategies": [{"name": "userWithId", "parameters": {"userIds": "operator-1"}}]}]}"#)?;
//! let mut random = SeededRandom::new(7);
//! let mut env = Env::new(Timestamp::UNIX_EPOCH, &mut random);
//! assert!(engine.is_enabled("new-batch-system", &Context::new().user_id("operator-1"), &mut env));
//! assert!(!engine.is_enabled("new-batch-system", &Context::new().user_id("operator-2"), &mut env));
//! // A flag the state does not have is off.
//! assert!(!engine.is_enabled("batch-kill-switch", &Context::new(), &mut env));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod compile;
mod context;
mod eval;
mod handle;
mod hash;
mod number;
mod rule;
mod state;

pub use self::compile::{Config, Engine, Warning};
pub use self::context::Context;
pub use self::eval::{Details, Env, ErrorCode, RandomSource, Reason, SeededRandom, Variant};
pub use self::handle::{Flags, IgnoreMissing, MissingFlag};
pub use self::hash::rollout_bucket;
pub use self::state::{
    Constraint, Dependency, Feature, Operator, Override, Payload, Segment, State, Strategy,
    VariantDefinition,
};
