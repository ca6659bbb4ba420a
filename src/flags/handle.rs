//! [`Flags`]: the engine currently in force, swapped atomically, with the missing-flag hook.

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::compile::Engine;
use super::context::Context;
use super::eval::{Details, Env, Variant};

/// Told the key of every flag that was evaluated but does not exist, so that a store can create it
/// (off, see [`FlagRow::off`](crate::store::FlagRow::off)). The evaluator itself never creates anything.
///
/// It is called on every evaluation of an unknown flag until a state containing the flag is
/// swapped in, so it should be cheap and idempotent (remember the keys already queued). Any
/// `Fn(&str)` closure is a hook.
///
/// ```
/// use std::sync::Mutex;
/// use smsbatch::flags::MissingFlag;
///
/// /// Collects the keys to create in the next store write.
/// #[derive(Default)]
/// struct ToCreate(Mutex<Vec<String>>);
///
/// impl MissingFlag for ToCreate {
///     fn flag_missing(&self, key: &str) {
///         let mut keys = self.0.lock().unwrap();
///         if !keys.iter().any(|k| k == key) {
///             keys.push(key.to_owned());
///         }
///     }
/// }
///
/// let hook = ToCreate::default();
/// hook.flag_missing("new-flag");
/// hook.flag_missing("new-flag");
/// assert_eq!(*hook.0.lock().unwrap(), ["new-flag"]);
/// ```
pub trait MissingFlag {
    /// `key` was evaluated and no flag has that name.
    fn flag_missing(&self, key: &str);
}

impl<F: Fn(&str)> MissingFlag for F {
    fn flag_missing(&self, key: &str) {
        self(key)
    }
}

/// The hook that ignores missing flags.
#[derive(Clone, Copy, Debug, Default)]
pub struct IgnoreMissing;

impl MissingFlag for IgnoreMissing {
    fn flag_missing(&self, _key: &str) {}
}

/// The flag set in force: readers evaluate against the current [`Engine`] while a writer swaps in
/// a newly compiled one, atomically.
///
/// `arc-swap` rather than `RwLock<Arc<Engine>>`: a load is a few atomic operations that never
/// block and never make readers contend on one lock word, which matters when every message sent
/// checks a kill-switch; writers (a new state every few seconds at most) pay the cost instead.
/// It is pure Rust and builds for `wasm32-unknown-unknown`.
///
/// `Flags<H>` is `Send + Sync` when the hook is; a browser build can use a `!Send` hook.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use smsbatch::Timestamp;
/// use smsbatch::flags::{Context, Engine, Env, Flags, Reason, SeededRandom};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let hook = {
///     let seen = Arc::clone(&seen);
///     move |key: &str| seen.lock().unwrap().push(key.to_owned())
/// };
/// let flags = Flags::with_hook(Engine::default(), hook);
///
/// let mut random = SeededRandom::new(1);
/// let mut env = Env::new(Timestamp::UNIX_EPOCH, &mut random);
/// let d = flags.evaluate("batch-kill-switch", false, &Context::new(), &mut env);
/// assert_eq!((d.value, d.reason), (false, Reason::Error));
/// assert_eq!(*seen.lock().unwrap(), ["batch-kill-switch"]);
///
/// flags.store(Engine::from_json(
///     r#"{"features": [{"name": "batch-kill-switch", "enabled": true}]}"#,
/// )?);
/// assert!(flags.is_enabled("batch-kill-switch", &Context::new(), &mut env));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Flags<H = IgnoreMissing> {
    current: ArcSwap<Engine>,
    hook: H,
}

impl Flags {
    /// Flags evaluated against `engine`, ignoring missing flags.
    pub fn new(engine: Engine) -> Self {
        Self::with_hook(engine, IgnoreMissing)
    }
}

impl Default for Flags {
    fn default() -> Self {
        Self::new(Engine::default())
    }
}

impl<H: MissingFlag> Flags<H> {
    /// Flags evaluated against `engine`, reporting missing flags to `hook`.
    pub fn with_hook(engine: Engine, hook: H) -> Self {
        Self {
            current: ArcSwap::from_pointee(engine),
            hook,
        }
    }

    /// The engine in force now. Evaluate several flags against one snapshot when they must agree
    /// with each other even if a swap happens meanwhile.
    pub fn snapshot(&self) -> Arc<Engine> {
        self.current.load_full()
    }

    /// Puts `engine` in force; evaluations already running finish on the old one.
    pub fn store(&self, engine: Engine) {
        self.current.store(Arc::new(engine));
    }

    /// Puts `engine` in force and returns the one it replaces.
    pub fn swap(&self, engine: Engine) -> Arc<Engine> {
        self.current.swap(Arc::new(engine))
    }

    /// The hook.
    pub fn hook(&self) -> &H {
        &self.hook
    }

    /// The current engine and the flag's index in it, with `name` reported to the hook when it
    /// has no such flag.
    fn lookup(&self, name: &str) -> (arc_swap::Guard<Arc<Engine>>, Option<usize>) {
        let engine = self.current.load();
        let index = engine.index_of(name);
        if index.is_none() {
            self.hook.flag_missing(name);
        }
        (engine, index)
    }

    /// [`Engine::is_enabled`] on the current engine; an unknown flag is reported to the hook.
    pub fn is_enabled(&self, name: &str, ctx: &Context, env: &mut Env<'_>) -> bool {
        let (engine, index) = self.lookup(name);
        engine.is_enabled_at(index, ctx, env)
    }

    /// [`Engine::variant`] on the current engine; an unknown flag is reported to the hook.
    pub fn variant(&self, name: &str, ctx: &Context, env: &mut Env<'_>) -> Variant {
        let (engine, index) = self.lookup(name);
        engine.variant_at(index, ctx, env)
    }

    /// [`Engine::evaluate`] on the current engine; an unknown flag is reported to the hook.
    pub fn evaluate(
        &self,
        name: &str,
        default: bool,
        ctx: &Context,
        env: &mut Env<'_>,
    ) -> Details<bool> {
        let (engine, index) = self.lookup(name);
        engine.evaluate_at(index, name, default, ctx, env)
    }

    /// [`Engine::evaluate_variant`] on the current engine; an unknown flag is reported to the hook.
    pub fn evaluate_variant(
        &self,
        name: &str,
        default: Variant,
        ctx: &Context,
        env: &mut Env<'_>,
    ) -> Details<Variant> {
        let (engine, index) = self.lookup(name);
        engine.evaluate_variant_at(index, name, default, ctx, env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::SeededRandom;
    use crate::time::Timestamp;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    #[test]
    fn hook_is_object_safe() {
        fn _obj(_: &dyn MissingFlag) {}
    }

    #[test]
    fn flags_are_send_and_sync_with_a_sync_hook() {
        fn check<T: Send + Sync>() {}
        check::<Flags>();
        check::<Flags<fn(&str)>>();
    }

    #[test]
    fn every_entry_point_reports_unknown_flags_and_only_those() {
        let seen = Mutex::new(Vec::new());
        let flags = Flags::with_hook(
            Engine::from_json(r#"{"features": [{"name": "known", "enabled": true}]}"#).unwrap(),
            |key: &str| seen.lock().unwrap().push(key.to_owned()),
        );
        let mut r = SeededRandom::new(1);
        let mut env = Env::new(Timestamp::UNIX_EPOCH, &mut r);
        let ctx = Context::new();
        assert!(flags.is_enabled("known", &ctx, &mut env));
        assert!(!flags.is_enabled("a", &ctx, &mut env));
        assert_eq!(flags.variant("b", &ctx, &mut env), Variant::disabled(false));
        assert!(flags.evaluate("c", true, &ctx, &mut env).value);
        let _ = flags.evaluate_variant("d", Variant::default(), &ctx, &mut env);
        let _ = flags.evaluate("known", false, &ctx, &mut env);
        assert_eq!(*seen.lock().unwrap(), ["a", "b", "c", "d"]);
    }

    #[test]
    fn concurrent_readers_see_one_engine_or_the_other() {
        let on = || Engine::from_json(r#"{"features": [{"name": "f", "enabled": true}]}"#).unwrap();
        let off =
            || Engine::from_json(r#"{"features": [{"name": "f", "enabled": false}]}"#).unwrap();
        let flags = Flags::new(off());
        let stop = AtomicBool::new(false);
        let reads = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for seed in 0..3 {
                let (flags, stop, reads) = (&flags, &stop, &reads);
                s.spawn(move || {
                    let mut r = SeededRandom::new(seed);
                    let mut env = Env::new(Timestamp::UNIX_EPOCH, &mut r);
                    let ctx = Context::new();
                    while !stop.load(Ordering::Relaxed) {
                        // Both answers are legal; the point is no torn read, no panic, no block.
                        let _ = flags.is_enabled("f", &ctx, &mut env);
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            // Keep swapping until the readers have really run alongside the writer.
            let mut i = 0;
            while i < 200 || reads.load(Ordering::Relaxed) < 100 {
                let old = flags.swap(if i % 2 == 0 { on() } else { off() });
                assert!(old.contains("f"));
                i += 1;
            }
            flags.store(off());
            stop.store(true, Ordering::Relaxed);
        });
        let mut r = SeededRandom::new(9);
        let mut env = Env::new(Timestamp::UNIX_EPOCH, &mut r);
        assert!(!flags.is_enabled("f", &Context::new(), &mut env));
        assert!(reads.load(Ordering::Relaxed) > 0);
    }
}
