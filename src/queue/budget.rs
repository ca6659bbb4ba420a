//! The budget guard: a batch's spend, reserved in exact amounts when messages are claimed, never
//! passes its budget.

use crate::batch::Amount;

/// Keeps a batch's spend within its budget.
///
/// The spend that counts is **committed**: the estimated cost of every message that was claimed
/// and not given back, i.e. messages `processing`, `sent`, `delivered`, `undelivered` and
/// `in_doubt` (an in-doubt message may have been charged). A message that goes back to
/// `pending` (a retry) or fails before the provider took it releases its reservation. Estimated
/// costs are what the preview computed; the provider's actual prices arrive later and are
/// reported, not guarded.
///
/// A store reserves atomically when it claims (the batch row locked, or one SQL statement):
/// claim messages in their claim order while `committed + cost <= budget`; when the next one does
/// not fit, claim no more and pause the batch with reason `budget`, *before* the spend would pass
/// the budget. [`SpendGuard::admit`] is that rule, for the in-memory store and as the
/// specification of the SQL.
///
/// ```
/// use smsbatch::Amount;
/// use smsbatch::queue::SpendGuard;
///
/// let guard = SpendGuard::new("1.00".parse()?);
/// let cost: Amount = "0.30".parse()?;
/// let admission = guard.admit(Amount::ZERO, [cost; 5]);
/// assert_eq!(admission.admitted, 3);
/// assert_eq!(admission.committed.to_string(), "0.9");
/// assert!(admission.exhausted, "the fourth would pass the budget: pause");
/// assert_eq!(guard.remaining(admission.committed).to_string(), "0.1");
/// # Ok::<(), smsbatch::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpendGuard {
    budget: Amount,
}

/// What [`SpendGuard::admit`] allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Admission {
    /// How many of the candidates (from the first) fit.
    pub admitted: usize,
    /// The committed spend with them reserved.
    pub committed: Amount,
    /// True when a candidate did not fit: the batch pauses (reason `budget`).
    pub exhausted: bool,
}

impl SpendGuard {
    /// A guard for `budget`.
    pub const fn new(budget: Amount) -> Self {
        Self { budget }
    }

    /// The budget.
    pub const fn budget(&self) -> Amount {
        self.budget
    }

    /// Whether `cost` more fits on top of `committed`.
    pub const fn fits(&self, committed: Amount, cost: Amount) -> bool {
        match committed.nanos().checked_add(cost.nanos()) {
            Some(total) => total <= self.budget.nanos(),
            None => false,
        }
    }

    /// What is left of the budget (zero when over it).
    pub const fn remaining(&self, committed: Amount) -> Amount {
        Amount::from_nanos(self.budget.nanos().saturating_sub(committed.nanos()))
    }

    /// Reserves the candidates' costs in order while they fit; stops at the first that does
    /// not (later, cheaper ones are not taken out of order).
    pub fn admit(&self, committed: Amount, costs: impl IntoIterator<Item = Amount>) -> Admission {
        let mut admission = Admission {
            admitted: 0,
            committed,
            exhausted: false,
        };
        for cost in costs {
            if !self.fits(admission.committed, cost) {
                admission.exhausted = true;
                break;
            }
            admission.committed =
                Amount::from_nanos(admission.committed.nanos().saturating_add(cost.nanos()));
            admission.admitted += 1;
        }
        admission
    }

    /// The committed spend after releasing `cost` (a message given back).
    pub const fn release(committed: Amount, cost: Amount) -> Amount {
        Amount::from_nanos(committed.nanos().saturating_sub(cost.nanos()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Amount {
        s.parse().unwrap()
    }

    #[test]
    fn exact_to_the_last_nano() {
        let guard = SpendGuard::new(a("0.0237"));
        let price = a("0.0079");
        let admission = guard.admit(Amount::ZERO, [price; 4]);
        assert_eq!((admission.admitted, admission.exhausted), (3, true));
        assert_eq!(
            admission.committed,
            guard.budget(),
            "3 × 0.0079 is exactly 0.0237"
        );
        assert!(!guard.fits(admission.committed, Amount::from_nanos(1)));
        // Giving one back lets one more in.
        let committed = SpendGuard::release(admission.committed, price);
        assert!(guard.fits(committed, price));
    }

    #[test]
    fn keeps_the_order() {
        let guard = SpendGuard::new(a("1"));
        let admission = guard.admit(a("0.5"), [a("0.4"), a("0.2"), a("0.05")]);
        assert_eq!((admission.admitted, admission.exhausted), (1, true));
        let admission = guard.admit(Amount::ZERO, []);
        assert_eq!((admission.admitted, admission.exhausted), (0, false));
    }

    #[test]
    fn overflow_never_fits() {
        let guard = SpendGuard::new(Amount::from_nanos(u128::MAX));
        assert!(!guard.fits(Amount::from_nanos(u128::MAX), Amount::from_nanos(1)));
        assert_eq!(guard.remaining(Amount::from_nanos(u128::MAX)), Amount::ZERO);
    }
}
