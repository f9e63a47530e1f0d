//! Spend limits that outlive one run (`spend-limit = { usd, tokens, per }`
//! on the pipeline, a node or a client key): the money and tokens every
//! run together may spend per period, counted across runs — and across
//! replicas when `[state]` is shared — and what a budget does when the
//! shared state cannot be reached.

use super::BudgetSpec;

/// The period a spend limit counts over, aligned to UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Each clock minute.
    Minute,
    /// Each clock hour.
    Hour,
    /// Each UTC day.
    Day,
    /// Each week, from Monday 00:00 UTC.
    Week,
    /// Never resets.
    Ever,
}

impl Period {
    /// As written in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Minute => "minute",
            Period::Hour => "hour",
            Period::Day => "day",
            Period::Week => "week",
            Period::Ever => "ever",
        }
    }

    /// Every period, as written.
    pub const NAMES: [&'static str; 5] = ["minute", "hour", "day", "week", "ever"];

    /// The period written `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "minute" => Period::Minute,
            "hour" => Period::Hour,
            "day" => Period::Day,
            "week" => Period::Week,
            "ever" => Period::Ever,
            _ => return None,
        })
    }

    /// Its length in seconds (`None`: never resets).
    pub fn seconds(self) -> Option<u64> {
        match self {
            Period::Minute => Some(60),
            Period::Hour => Some(3600),
            Period::Day => Some(86_400),
            Period::Week => Some(7 * 86_400),
            Period::Ever => None,
        }
    }

    /// Which period `unix_s` falls in: a number that changes when the
    /// period does (0 for `ever`). Weeks start on Monday (the epoch was a
    /// Thursday).
    pub fn bucket(self, unix_s: u64) -> u64 {
        match self {
            Period::Week => (unix_s + 3 * 86_400) / (7 * 86_400),
            p => p.seconds().map_or(0, |len| unix_s / len),
        }
    }
}

/// `spend-limit = { usd = 100.0, tokens = 5000000, per = "day" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpendLimitSpec {
    /// How much may be spent per period.
    pub limit: BudgetSpec,
    /// Over which period.
    pub per: Period,
}

/// What budgets do while the shared state cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BudgetsWhenDown {
    /// Refuse every call a spend limit covers (`budget-exceeded`, never
    /// sent): no replica can overspend. The default.
    #[default]
    FailClosed,
    /// Count in this process alone until the state returns: calls go on,
    /// but each replica may spend the whole limit.
    CountLocally,
}

impl BudgetsWhenDown {
    /// As written in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetsWhenDown::FailClosed => "fail-closed",
            BudgetsWhenDown::CountLocally => "count-locally",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_change_at_utc_boundaries() {
        // 2026-12-02 is a Wednesday.
        let wed = 1_796_169_600; // 2026-12-02T00:00:00Z
        assert_eq!(Period::Day.bucket(wed - 1) + 1, Period::Day.bucket(wed));
        assert_eq!(Period::Day.bucket(wed), Period::Day.bucket(wed + 86_399));
        let mon = wed - 2 * 86_400;
        assert_eq!(Period::Week.bucket(mon - 1) + 1, Period::Week.bucket(mon));
        assert_eq!(Period::Week.bucket(mon), Period::Week.bucket(wed));
        assert_eq!(Period::Ever.bucket(wed), 0);
        for name in Period::NAMES {
            assert_eq!(Period::parse(name).map(Period::as_str), Some(name));
        }
    }
}
