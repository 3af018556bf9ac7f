//! Worst-case cost estimate used for reservations: all input tokens plus the full output cap.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use crate::pricing::ModelPrice;
use crate::types::{MicroUsd, Tokens};

/// Worst-case cost of a call: `input_tokens * price_in + max_output_tokens * price_out`, prices
/// in dollars per million tokens. Dollars per Mtok times tokens is exactly micro-dollars, so no
/// scaling is needed; the result is rounded up (a reservation never under-reserves by rounding)
/// and saturates at `i64::MAX`. Negative prices count as zero.
pub fn estimate_worst_case(
    input_tokens: Tokens,
    max_output_tokens: Tokens,
    price_in_per_mtok: Decimal,
    price_out_per_mtok: Decimal,
) -> MicroUsd {
    let part = |tokens: Tokens, price: Decimal| {
        Decimal::from(tokens.0).checked_mul(price.max(Decimal::ZERO))
    };
    let total = part(input_tokens, price_in_per_mtok)
        .zip(part(max_output_tokens, price_out_per_mtok))
        .and_then(|(a, b)| a.checked_add(b));
    match total {
        Some(t) => MicroUsd(t.ceil().to_i64().unwrap_or(i64::MAX)),
        None => MicroUsd(i64::MAX),
    }
}

/// `estimate_worst_case` with a model's list prices (every input token uncached). Never below
/// `ModelPrice::cost` of any usage with at most these token counts, since it rounds up.
pub fn estimate_for_model(
    price: &ModelPrice,
    input_tokens: Tokens,
    max_output_tokens: Tokens,
) -> MicroUsd {
    estimate_worst_case(
        input_tokens,
        max_output_tokens,
        price.input_per_mtok,
        price.output_per_mtok,
    )
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use proptest::prelude::*;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn gpt4o_mini_prices_give_exact_micros() {
        // 1000 in at $0.15/Mtok = 150 µ$, 500 out at $0.60/Mtok = 300 µ$.
        let m = estimate_worst_case(Tokens(1000), Tokens(500), d("0.15"), d("0.60"));
        assert_eq!(m, MicroUsd(450));
    }

    #[test]
    fn fractions_round_up_and_overflow_saturates() {
        assert_eq!(
            estimate_worst_case(Tokens(1), Tokens(0), d("0.15"), d("0")),
            MicroUsd(1)
        );
        let huge = estimate_worst_case(Tokens(u64::MAX), Tokens(u64::MAX), d("1000000"), d("1"));
        assert_eq!(huge, MicroUsd(i64::MAX));
    }

    proptest! {
        #[test]
        fn estimate_matches_naive_integer_math(i in 0u64..10_000_000, o in 0u64..1_000_000,
                                               pi in 0u64..100_000, po in 0u64..100_000) {
            // Prices with 3 decimals: p/1000 dollars per Mtok → tokens*p/1000 micros, rounded up.
            let got = estimate_worst_case(Tokens(i), Tokens(o), Decimal::new(pi as i64, 3), Decimal::new(po as i64, 3));
            let exact = u128::from(i) * u128::from(pi) + u128::from(o) * u128::from(po);
            prop_assert_eq!(got.0 as u128, exact.div_ceil(1000));
        }

        #[test]
        fn estimate_covers_priced_cost_of_any_smaller_usage(i in 0u64..2_000_000, o in 0u64..200_000,
                                                          fi in 0u64..=100, fo in 0u64..=100, fc in 0u64..=100) {
            let table = crate::pricing::PriceTable::builtin().unwrap();
            for price in table.entries() {
                let input = i * fi / 100;
                let usage = crate::pricing::TokenUsage {
                    input: Tokens(input),
                    cached_input: Tokens(input * fc / 100),
                    output: Tokens(o * fo / 100),
                };
                let est = estimate_for_model(price, Tokens(i), Tokens(o));
                prop_assert!(est >= price.cost(&usage), "{}: {est:?} < {:?}", price.model, price.cost(&usage));
            }
        }
    }
}
