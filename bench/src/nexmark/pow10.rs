//! `10^x` for the generator's prices without a libm call.
//!
//! `10^x = 2^(x·log2 10)`: the whole octaves go into the exponent bits, the next 64th of an
//! octave comes from a table made at compile time, and what is left (under `ln 2 / 64`) from
//! four terms of the exponential series. libm's `exp` had a fifth of the generator's samples
//! (`perf record` of `nexmark --query gen`) for ~50 instructions a call; this takes ~25, and
//! the generator alone went from 22.5 to 23.8 M events/s per core (PERFORMANCE.md).

use std::f64::consts::{LN_2, LOG2_10};

/// Table steps per octave.
const STEPS_PER_OCTAVE: i64 = 64;

/// `2^(j/64)` for `j` in `0..64`.
const STEPS: [f64; STEPS_PER_OCTAVE as usize] = steps();

const fn steps() -> [f64; STEPS_PER_OCTAVE as usize] {
    let mut out = [0.0; STEPS_PER_OCTAVE as usize];
    let mut j = 0;
    while j < out.len() {
        out[j] = exp_series(j as f64 * LN_2 / STEPS_PER_OCTAVE as f64);
        j += 1;
    }
    out
}

/// `e^x` for `0 ≤ x < 1` by its series, to double precision (30 terms leave under 1e-30).
const fn exp_series(x: f64) -> f64 {
    let (mut sum, mut term, mut n) = (1.0, 1.0, 1.0);
    while n <= 30.0 {
        term = term * x / n;
        sum += term;
        n += 1.0;
    }
    sum
}

/// `10^x` for `0 ≤ x ≤ 20`, within 2e-12 of the exact value (relative). (Prices need
/// `0 ≤ x < 6`; negative `x` would index outside the table.)
#[inline]
pub fn pow10(x: f64) -> f64 {
    debug_assert!((0.0..=20.0).contains(&x), "pow10 of {x}");
    let steps = x * (LOG2_10 * STEPS_PER_OCTAVE as f64);
    // `steps` ≥ 0, so truncating is the floor. (Signed: the processor converts between
    // doubles and i64 in one instruction each, and u64 takes a dozen.)
    let whole = steps as i64;
    let rest = (steps - whole as f64) * (LN_2 / STEPS_PER_OCTAVE as f64);
    // e^rest for 0 ≤ rest < ln 2 / 64 ≈ 0.0108: the terms after rest⁴/24 sum to < 1.3e-12.
    let tail = 1.0 + rest * (1.0 + rest * (0.5 + rest * (1.0 / 6.0 + rest * (1.0 / 24.0))));
    let octaves = f64::from_bits(((1023 + whole / STEPS_PER_OCTAVE) as u64) << 52);
    STEPS[(whole % STEPS_PER_OCTAVE) as usize] * tail * octaves
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relative_error(x: f64) -> f64 {
        let exact = 10f64.powf(x);
        ((pow10(x) - exact) / exact).abs()
    }

    #[test]
    fn the_table_holds_the_steps_of_an_octave() {
        for (j, step) in STEPS.iter().enumerate() {
            let exact = (j as f64 / 64.0).exp2();
            assert!(((step - exact) / exact).abs() < 1e-15, "step {j}: {step}");
        }
    }

    #[test]
    fn whole_powers_and_the_range_between_are_close_to_exact() {
        for k in 0..=20 {
            assert!(relative_error(k as f64) < 2e-12, "10^{k}");
        }
        let worst = (0..=1_000_000)
            .map(|i| relative_error(i as f64 * 20.0 / 1e6))
            .fold(0.0, f64::max);
        assert!(worst < 2e-12, "worst relative error {worst}");
    }

    #[test]
    fn prices_round_to_the_cents_libm_gives_but_for_rare_halves() {
        // The generator's prices: round(10^(6u) × 100) cents. The two can differ only where
        // 10^(6u) × 100 lies within ~1e-4 of a half cent, and then by one cent: rare enough
        // that a million evenly spread draws meet at most a handful.
        let (mut differ, draws) = (0, 1_000_000);
        for i in 0..draws {
            let u = (i as f64 + 0.5) / draws as f64;
            let ours = (pow10(6.0 * u) * 100.0 + 0.5) as i64;
            let libm = ((u * 6.0 * std::f64::consts::LN_10).exp() * 100.0 + 0.5) as i64;
            assert!((ours - libm).abs() <= 1, "u = {u}: {ours} against {libm}");
            differ += usize::from(ours != libm);
        }
        assert!(differ <= 10, "{differ} of {draws} prices differ");
    }
}
