//! Feature flags with the Unleash client specification's semantics: load an Unleash state, compile it once into an [`Engine`], evaluate many times (see [`Engine`], [`Flags`], [`Context`]).

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
