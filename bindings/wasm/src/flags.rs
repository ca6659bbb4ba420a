//! Feature flags: load an Unleash client-API state, evaluate with details, report missing flags.

use std::cell::RefCell;

use serde::Deserialize;
use smsbatch::ErrorKind;
use smsbatch::Timestamp;
use smsbatch::flags::{
    Context, Engine, Env, Flags, MissingFlag, RandomSource, SeededRandom, State, Variant,
};
use wasm_bindgen::prelude::*;

use crate::{OrThrow, from_js, from_js_or_default, js_error, json_from_js, to_js};

/// Time and randomness for one evaluation: the page's clock and `Math.random()` unless given.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EnvOptions {
    /// RFC 3339; date constraints use it when the context has no `currentTime`.
    now: Option<String>,
    /// Seeds the random source of `gradualRolloutRandom` and random stickiness.
    seed: Option<u64>,
}

/// The JavaScript callback told about flags that do not exist, so the page or its store can
/// create them (off).
#[derive(Debug, Default)]
struct JsMissing(RefCell<Option<js_sys::Function>>);

impl MissingFlag for JsMissing {
    fn flag_missing(&self, key: &str) {
        // Cloned out of the cell first: the callback may call `onMissing` itself (to report a
        // flag once, say), which needs the cell free.
        let callback = self.0.borrow().clone();
        if let Some(callback) = callback {
            // A throwing callback must not turn a flag evaluation into an exception: the
            // evaluation already has its answer (the caller's default).
            let _ = callback.call1(&JsValue::NULL, &JsValue::from_str(key));
        }
    }
}

/// The random source of one evaluation: seeded when the options give a seed, else
/// `Math.random()` as a 32-bit source.
enum Random {
    Seeded(SeededRandom),
    Math,
}

impl RandomSource for Random {
    fn next_u32(&mut self) -> u32 {
        match self {
            Random::Seeded(random) => random.next_u32(),
            Random::Math => (js_sys::Math::random() * 4_294_967_296.0) as u32,
        }
    }
}

/// Feature flags compiled from an Unleash client-API state (`{"version", "features",
/// "segments"}`), evaluated with Unleash's semantics, so a user in a 20 % rollout here is in it in
/// the service and in every Unleash SDK.
#[wasm_bindgen(js_name = FlagEngine)]
#[derive(Debug)]
pub struct JsFlagEngine {
    flags: Flags<JsMissing>,
}

/// Compiles a state given as JSON text or as an object. Like [`from_js`], the state is read from
/// a [`serde_json::Value`] rather than from the text (smaller code than `Engine::from_json`'s
/// second instance of the derived code): a syntax error in the text keeps its line and column, a
/// state of the wrong shape is reported without them.
fn compile(state: JsValue) -> Result<Engine, JsValue> {
    let invalid = |message: String| js_error(&ErrorKind::InvalidFlagState { message }.into());
    let value = match state.as_string() {
        Some(text) => serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?,
        None => json_from_js(state, "flag state")?,
    };
    let state = State::deserialize(&value).map_err(|e| invalid(e.to_string()))?;
    Ok(Engine::compile(&state))
}

fn context(value: JsValue) -> Result<Context, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(Context::new());
    }
    Context::from_value(json_from_js(value, "context")?).or_throw()
}

/// The clock and the random source the evaluation options describe. One plain function rather than
/// a `with_env` taking a closure, which was compiled again for each of the four evaluation methods.
fn env_parts(options: JsValue) -> Result<(Timestamp, Random), JsValue> {
    let options: EnvOptions = from_js_or_default(options, "evaluation options")?;
    let now = match options.now {
        Some(text) => text.parse::<Timestamp>().or_throw()?,
        // `Date.now()` is whole milliseconds within ±8.64e15, so the cast is exact.
        None => Timestamp::saturating_from_unix_millis(js_sys::Date::now() as i64),
    };
    let random = match options.seed {
        Some(seed) => Random::Seeded(SeededRandom::new(seed)),
        None => Random::Math,
    };
    Ok((now, random))
}

#[wasm_bindgen(js_class = FlagEngine)]
impl JsFlagEngine {
    /// Compiles a state (an object or its JSON text). Malformed rules are off, with a warning;
    /// only a state that is not an Unleash state at all throws (`invalidFlagState`).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "UnleashState | string")] state: JsValue,
    ) -> Result<JsFlagEngine, JsValue> {
        Ok(Self {
            flags: Flags::with_hook(compile(state)?, JsMissing::default()),
        })
    }

    /// Swaps in a new state, atomically for every later evaluation.
    pub fn load(
        &self,
        #[wasm_bindgen(unchecked_param_type = "UnleashState | string")] state: JsValue,
    ) -> Result<(), JsValue> {
        self.flags.store(compile(state)?);
        Ok(())
    }

    /// Calls `callback(name)` whenever a flag that does not exist is evaluated (`null` stops it).
    #[wasm_bindgen(js_name = onMissing)]
    pub fn on_missing(&self, callback: Option<js_sys::Function>) {
        *self.flags.hook().0.borrow_mut() = callback;
    }

    /// What the compiler left off, and why.
    #[wasm_bindgen(getter, unchecked_return_type = "FlagWarning[]")]
    pub fn warnings(&self) -> Result<JsValue, JsValue> {
        to_js(self.flags.snapshot().warnings())
    }

    /// Whether the flag is on for this context (`false` for an unknown flag).
    #[wasm_bindgen(js_name = isEnabled)]
    pub fn is_enabled(
        &self,
        name: &str,
        #[wasm_bindgen(unchecked_param_type = "FlagContext | undefined")] ctx: JsValue,
        #[wasm_bindgen(unchecked_param_type = "EvaluationOptions | undefined")] options: JsValue,
    ) -> Result<bool, JsValue> {
        let ctx = context(ctx)?;
        let (now, mut random) = env_parts(options)?;
        Ok(self
            .flags
            .is_enabled(name, &ctx, &mut Env::new(now, &mut random)))
    }

    /// The variant handed out, in the Unleash specification's shape (`feature_enabled` verbatim).
    #[wasm_bindgen(unchecked_return_type = "Variant")]
    pub fn variant(
        &self,
        name: &str,
        #[wasm_bindgen(unchecked_param_type = "FlagContext | undefined")] ctx: JsValue,
        #[wasm_bindgen(unchecked_param_type = "EvaluationOptions | undefined")] options: JsValue,
    ) -> Result<JsValue, JsValue> {
        let ctx = context(ctx)?;
        let (now, mut random) = env_parts(options)?;
        to_js(
            &self
                .flags
                .variant(name, &ctx, &mut Env::new(now, &mut random)),
        )
    }

    /// The decision with its reason (static, targetingMatch, split, default, disabled, error) and
    /// error code (flagNotFound, parseError); `defaultValue` for an unknown flag.
    #[wasm_bindgen(unchecked_return_type = "EvaluationDetails<boolean>")]
    pub fn evaluate(
        &self,
        name: &str,
        #[wasm_bindgen(js_name = defaultValue)] default_value: bool,
        #[wasm_bindgen(unchecked_param_type = "FlagContext | undefined")] ctx: JsValue,
        #[wasm_bindgen(unchecked_param_type = "EvaluationOptions | undefined")] options: JsValue,
    ) -> Result<JsValue, JsValue> {
        let ctx = context(ctx)?;
        let (now, mut random) = env_parts(options)?;
        let mut env = Env::new(now, &mut random);
        to_js(&self.flags.evaluate(name, default_value, &ctx, &mut env))
    }

    /// The variant with its reason and error code; `defaultVariant` (or the `disabled` variant)
    /// for an unknown flag.
    #[wasm_bindgen(js_name = evaluateVariant, unchecked_return_type = "EvaluationDetails<Variant>")]
    pub fn evaluate_variant(
        &self,
        name: &str,
        #[wasm_bindgen(js_name = defaultVariant, unchecked_param_type = "Variant | undefined")]
        default_variant: JsValue,
        #[wasm_bindgen(unchecked_param_type = "FlagContext | undefined")] ctx: JsValue,
        #[wasm_bindgen(unchecked_param_type = "EvaluationOptions | undefined")] options: JsValue,
    ) -> Result<JsValue, JsValue> {
        let ctx = context(ctx)?;
        let default = if default_variant.is_undefined() || default_variant.is_null() {
            Variant::disabled(false)
        } else {
            from_js(default_variant, "default variant")?
        };
        let (now, mut random) = env_parts(options)?;
        let mut env = Env::new(now, &mut random);
        to_js(&self.flags.evaluate_variant(name, default, &ctx, &mut env))
    }
}
