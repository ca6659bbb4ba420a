//! One stable sort for the whole crate.
//!
//! Every `sort_by` on a new element type or with a new comparator compiles the standard library's
//! sort again (driftsort or ipnsort, a few kilobytes of WebAssembly each). The crate's sorts are
//! few and small or rare (a constraint's values, a helper's named arguments, a sample, a query's
//! page), so they share this one instance, which orders positions through a `dyn` comparator:
//! the browser package carries one sort instead of five.

use std::cmp::Ordering;

/// The positions `0..len` in the stable order `cmp` gives them (ties keep their order).
#[inline(never)]
pub(crate) fn sorted_positions(
    len: usize,
    cmp: &mut dyn FnMut(usize, usize) -> Ordering,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    order.sort_by(|&a, &b| cmp(a, b));
    order
}

/// Sorts `v` stably by `cmp`, like `slice::sort_by`, through [`sorted_positions`].
pub(crate) fn sort_by<T>(v: &mut Vec<T>, mut cmp: impl FnMut(&T, &T) -> Ordering) {
    let order = sorted_positions(v.len(), &mut |a, b| cmp(&v[a], &v[b]));
    let mut slots: Vec<Option<T>> = v.drain(..).map(Some).collect();
    v.extend(
        order
            .into_iter()
            .filter_map(|i| slots.get_mut(i).and_then(Option::take)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn sorts_like_the_standard_stable_sort(items in prop::collection::vec((0u8..8, any::<u16>()), 0..64)) {
            // Compare on the first field only, so stability shows in the second.
            let mut ours = items.clone();
            sort_by(&mut ours, |a, b| a.0.cmp(&b.0));
            let mut std = items;
            std.sort_by_key(|a| a.0);
            prop_assert_eq!(ours, std);
        }
    }

    #[test]
    fn positions() {
        let keys = ["b", "a", "c", "a"];
        assert_eq!(
            sorted_positions(4, &mut |a, b| keys[a].cmp(keys[b])),
            [1, 3, 0, 2]
        );
        assert!(sorted_positions(0, &mut |_, _| Ordering::Equal).is_empty());
    }
}
