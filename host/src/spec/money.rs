//! Money, exactly: prices per million tokens and costs as integer
//! picodollars, so per-node and per-run totals add up to their entries to the
//! last digit.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign};

use serde::{Serialize, Serializer};

/// A model's price, stored as picodollars per token (1 USD per million
/// tokens = 1,000,000 pUSD per token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Price {
    /// pUSD per prompt token.
    pub input_pusd_per_token: u64,
    /// pUSD per generated token.
    pub output_pusd_per_token: u64,
}

impl Price {
    /// A model that costs nothing.
    pub const FREE: Price = Price {
        input_pusd_per_token: 0,
        output_pusd_per_token: 0,
    };

    /// From USD per million tokens (the unit providers publish prices in).
    /// Precision is one micro-dollar per million tokens.
    pub fn per_million(input_usd: f64, output_usd: f64) -> Self {
        let conv = |usd: f64| {
            if usd.is_finite() && usd > 0.0 {
                (usd * 1e6).round() as u64
            } else {
                0
            }
        };
        Self {
            input_pusd_per_token: conv(input_usd),
            output_pusd_per_token: conv(output_usd),
        }
    }

    /// The cost of a call with these token counts.
    pub fn cost(&self, input_tokens: u64, output_tokens: u64) -> Cost {
        Cost(
            input_tokens.saturating_mul(self.input_pusd_per_token)
                + output_tokens.saturating_mul(self.output_pusd_per_token),
        )
    }

    /// USD per million prompt tokens.
    pub fn input_per_million(&self) -> f64 {
        self.input_pusd_per_token as f64 / 1e6
    }

    /// USD per million generated tokens.
    pub fn output_per_million(&self) -> f64 {
        self.output_pusd_per_token as f64 / 1e6
    }
}

/// An amount of money in picodollars (10⁻¹² USD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Cost(pub u64);

impl Cost {
    /// Zero.
    pub const ZERO: Cost = Cost(0);

    /// As (lossy) USD, for display.
    pub fn usd(self) -> f64 {
        self.0 as f64 / 1e12
    }
}

impl Add for Cost {
    type Output = Cost;
    fn add(self, rhs: Cost) -> Cost {
        Cost(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign for Cost {
    fn add_assign(&mut self, rhs: Cost) {
        *self = *self + rhs;
    }
}

impl Sum for Cost {
    fn sum<I: Iterator<Item = Cost>>(iter: I) -> Cost {
        iter.fold(Cost::ZERO, Add::add)
    }
}

impl fmt::Display for Cost {
    /// `$0.000123` — six decimals, enough for single calls of small models.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micro = (self.0 + 500_000) / 1_000_000;
        write!(f, "${}.{:06}", micro / 1_000_000, micro % 1_000_000)
    }
}

impl Serialize for Cost {
    /// Serialised as USD (a JSON number); exact values are in `*_pusd` fields.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.usd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_cost_is_exact_in_picodollars() {
        let p = Price::per_million(0.15, 5.0);
        assert_eq!(p.input_pusd_per_token, 150_000);
        assert_eq!(p.cost(1_000_000, 0), Cost(150_000_000_000)); // $0.15
        assert_eq!(p.cost(0, 1_000_000).to_string(), "$5.000000");
        assert_eq!(p.cost(100, 10).to_string(), "$0.000065");
    }

    #[test]
    fn cost_sum_adds_up() {
        let total: Cost = [Cost(1), Cost(2), Cost(3)].into_iter().sum();
        assert_eq!(total, Cost(6));
    }
}
