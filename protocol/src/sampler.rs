//! The inverse-CDF sampler of DESIGN.md 3.4 and the validator's check of it.
//!
//! With `x_i = f64(logit_i) / f64(temperature)`, `m = max x_i`, `e_i = exp(x_i - m)` and
//! `Z = sum e_i` (accumulated in vocabulary order), the sampled token for a uniform `u` is
//! the first `i` whose running sum `c_i = e_0 + .. + e_i` satisfies `c_i > u·Z`. Tokens of
//! zero mass are never picked. Nothing here copies the logits; [`sample`] keeps the `e_i` of
//! its first pass in a per-thread buffer (grown once to the vocabulary's size) so that the
//! running sum reads them back instead of computing each `exp` twice.

use std::cell::RefCell;

use crate::error::ProtocolError;

thread_local! {
    /// [`sample`]'s `e_i`, reused from call to call on one thread.
    static MASSES: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

/// Default tolerance, in probability mass, by which the validator widens a token's CDF
/// interval to absorb honest numerical drift. Calibrated (docs/SECURITY.md): `u_t` never lies
/// farther than about 5e-7 from its honest token's interval on the CPU, so 1e-5 keeps 20×
/// headroom.
pub const DEFAULT_SAMPLING_TOLERANCE: f64 = 1e-5;

/// A sampled token and its natural-log probability under the sampling distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampled {
    /// Vocabulary index.
    pub token: u32,
    /// `ln p(token)` under `softmax(logits / temperature)`, as f32.
    pub logprob: f32,
}

/// The validator's verdict on one sampled position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleCheck {
    /// `u` lies in `[lo - tol, hi + tol)`.
    pub accepted: bool,
    /// 0 when `u` is inside `[lo, hi)`; `u - lo` (< 0) below it; `u - hi` (>= 0) above it.
    pub distance: f64,
    /// Lower end `lo` of the token's CDF interval (mass of all earlier tokens).
    pub lo: f64,
    /// Upper end `hi` of the token's CDF interval.
    pub hi: f64,
    /// The validator's `ln p(token)` under the sampling distribution, as f32.
    pub logprob: f32,
}

/// Validated inputs of one softmax: the scale `1/T` (as a divisor) and the max scaled logit.
struct Softmax<'a> {
    logits: &'a [f32],
    temperature: f64,
    max: f64,
}

impl<'a> Softmax<'a> {
    fn new(logits: &'a [f32], temperature: f32) -> Result<Self, ProtocolError> {
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(ProtocolError::BadTemperature(temperature));
        }
        if logits.is_empty() {
            return Err(ProtocolError::EmptyLogits);
        }
        let temperature = f64::from(temperature);
        let mut max = f64::NEG_INFINITY;
        for (index, &value) in logits.iter().enumerate() {
            if !value.is_finite() {
                return Err(ProtocolError::NonFiniteLogit { index, value });
            }
            max = max.max(f64::from(value) / temperature);
        }
        Ok(Self { logits, temperature, max })
    }

    /// `e_i`, the unnormalized mass of token `i`.
    fn mass(&self, logit: f32) -> f64 {
        (f64::from(logit) / self.temperature - self.max).exp()
    }

    fn scaled(&self, logit: f32) -> f64 {
        f64::from(logit) / self.temperature - self.max
    }

    fn total(&self) -> f64 {
        self.logits.iter().map(|&l| self.mass(l)).sum()
    }

    fn logprob(&self, logit: f32, total: f64) -> f32 {
        (self.scaled(logit) - total.ln()) as f32
    }
}

fn check_uniform(u: f64) -> Result<(), ProtocolError> {
    if (0.0..1.0).contains(&u) {
        Ok(())
    } else {
        Err(ProtocolError::BadUniform(u))
    }
}

fn token_index(token: u32, vocab: usize) -> Result<usize, ProtocolError> {
    let i = token as usize;
    if i < vocab {
        Ok(i)
    } else {
        Err(ProtocolError::TokenOutOfVocabulary { token, vocab })
    }
}

/// Samples one token by inverse CDF with the uniform `u` in `[0, 1)` (from `uniform_f64`).
///
/// If rounding leaves `u·Z` at or above the final running sum, the last token of positive
/// mass is returned.
pub fn sample(logits: &[f32], temperature: f32, u: f64) -> Result<Sampled, ProtocolError> {
    check_uniform(u)?;
    let sm = Softmax::new(logits, temperature)?;
    let (i, total) = MASSES.with_borrow_mut(|masses| {
        masses.clear();
        masses.extend(logits.iter().map(|&l| sm.mass(l)));
        // The same terms in the same order as `Softmax::total`, so the same `Z` to the bit.
        let total: f64 = masses.iter().sum();
        let target = u * total;
        let mut cumulative = 0.0f64;
        let mut last_positive = 0usize;
        for (i, &e) in masses.iter().enumerate() {
            cumulative += e;
            if e > 0.0 {
                last_positive = i;
                if cumulative > target {
                    return (i, total);
                }
            }
        }
        (last_positive, total)
    });
    Ok(Sampled { token: i as u32, logprob: sm.logprob(logits[i], total) })
}

/// Checks a claimed token against the validator's own logits: is `u` inside the token's
/// interval `[lo, hi)` of the sampling CDF, widened by `tol` on both sides?
pub fn check_sample(
    logits: &[f32],
    temperature: f32,
    u: f64,
    token: u32,
    tol: f64,
) -> Result<SampleCheck, ProtocolError> {
    check_uniform(u)?;
    let index = token_index(token, logits.len())?;
    let sm = Softmax::new(logits, temperature)?;
    let mut before = 0.0f64;
    let mut total = 0.0f64;
    for (i, &l) in logits.iter().enumerate() {
        if i == index {
            before = total;
        }
        total += sm.mass(l);
    }
    let own = sm.mass(logits[index]);
    let lo = before / total;
    let hi = (before + own) / total;
    let distance = if u < lo {
        u - lo
    } else if u >= hi {
        u - hi
    } else {
        0.0
    };
    let accepted = u >= lo - tol && u < hi + tol;
    Ok(SampleCheck { accepted, distance, lo, hi, logprob: sm.logprob(logits[index], total) })
}

/// `ln p(token)` under `softmax(logits / temperature)`, as [`sample`] and [`check_sample`]
/// report it: `f32((x_i − m) − ln Z)`.
pub fn logprob(logits: &[f32], temperature: f32, token: u32) -> Result<f32, ProtocolError> {
    let index = token_index(token, logits.len())?;
    let sm = Softmax::new(logits, temperature)?;
    Ok(sm.logprob(logits[index], sm.total()))
}

/// `p(eos)` under `softmax(logits / temperature)`, in f64. Pass the network's temperature to
/// get the probability under the sampling distribution.
pub fn eos_probability(logits: &[f32], temperature: f32, eos: u32) -> Result<f64, ProtocolError> {
    let index = token_index(eos, logits.len())?;
    let sm = Softmax::new(logits, temperature)?;
    Ok(sm.mass(logits[index]) / sm.total())
}

/// The greedy token: the first index of the largest logit.
pub fn argmax(logits: &[f32]) -> Result<u32, ProtocolError> {
    let mut best: Option<(usize, f32)> = None;
    for (index, &value) in logits.iter().enumerate() {
        if !value.is_finite() {
            return Err(ProtocolError::NonFiniteLogit { index, value });
        }
        if best.is_none_or(|(_, b)| value > b) {
            best = Some((index, value));
        }
    }
    best.map(|(i, _)| i as u32).ok_or(ProtocolError::EmptyLogits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{uniform_f64, DomainHasher};

    const LOGITS: [f32; 5] = [1.0, 2.0, 0.5, -1.0, 2.0];

    /// The sampler without the buffer: every `e_i` computed again in the running sum.
    fn sample_recomputing(logits: &[f32], temperature: f32, u: f64) -> Sampled {
        let sm = Softmax::new(logits, temperature).unwrap();
        let total = sm.total();
        let (mut cumulative, mut last_positive) = (0.0f64, 0usize);
        for (i, &l) in logits.iter().enumerate() {
            let e = sm.mass(l);
            cumulative += e;
            if e > 0.0 {
                last_positive = i;
                if cumulative > u * total {
                    return Sampled { token: i as u32, logprob: sm.logprob(l, total) };
                }
            }
        }
        let l = logits[last_positive];
        Sampled { token: last_positive as u32, logprob: sm.logprob(l, total) }
    }

    #[test]
    fn the_buffered_sampler_is_the_recomputing_one_to_the_bit() {
        let mut rng = DomainHasher::new("grail/v1/test").u64(3).stream();
        for (case, vocab) in [7usize, 64, 1000, 4099].iter().cycle().take(200).enumerate() {
            // Wide logits so that some tokens underflow to zero mass.
            let logits: Vec<f32> =
                (0..*vocab).map(|_| ((uniform_f64(&mut rng) - 0.5) * 1600.0) as f32).collect();
            for temperature in [0.7f32, 1.0, 3.0] {
                let u = uniform_f64(&mut rng);
                let got = sample(&logits, temperature, u).unwrap();
                let want = sample_recomputing(&logits, temperature, u);
                assert_eq!(got.token, want.token, "case {case}");
                assert_eq!(got.logprob.to_bits(), want.logprob.to_bits(), "case {case}");
            }
        }
        // A long vocabulary after a short one and back: the buffer is cleared each call.
        let short = [0.0f32, 0.0];
        assert_eq!(sample(&short, 1.0, 0.75).unwrap(), sample_recomputing(&short, 1.0, 0.75));
    }

    #[test]
    fn sampled_token_is_accepted_with_zero_distance() {
        let mut rng = DomainHasher::new("grail/v1/test").stream();
        for _ in 0..2000 {
            let u = uniform_f64(&mut rng);
            let s = sample(&LOGITS, 0.7, u).unwrap();
            let c = check_sample(&LOGITS, 0.7, u, s.token, 0.0).unwrap();
            assert!(c.accepted, "u={u} {c:?}");
            assert_eq!(c.distance, 0.0);
            assert_eq!(c.logprob, s.logprob);
        }
    }

    #[test]
    fn interval_boundaries_and_tolerance() {
        // Two equal logits: token 0 owns [0, 0.5), token 1 owns [0.5, 1).
        let logits = [3.0f32, 3.0];
        assert_eq!(sample(&logits, 1.0, 0.0).unwrap().token, 0);
        assert_eq!(sample(&logits, 1.0, 0.4999).unwrap().token, 0);
        assert_eq!(sample(&logits, 1.0, 0.5).unwrap().token, 1);
        let c = check_sample(&logits, 1.0, 0.5, 0, 1e-4).unwrap();
        assert!(c.accepted && c.distance == 0.0);
        let c = check_sample(&logits, 1.0, 0.50005, 0, 1e-4).unwrap();
        assert!(c.accepted && c.distance > 0.0);
        let c = check_sample(&logits, 1.0, 0.6, 0, 1e-4).unwrap();
        assert!(!c.accepted && (c.distance - 0.1).abs() < 1e-12);
        let c = check_sample(&logits, 1.0, 0.1, 1, 1e-4).unwrap();
        assert!(!c.accepted && (c.distance + 0.4).abs() < 1e-12);
        assert!((c.logprob - 0.5f32.ln()).abs() < 1e-6);
    }

    #[test]
    fn empirical_frequencies_match_softmax() {
        let mut rng = DomainHasher::new("grail/v1/test/freq").stream();
        let mut counts = [0u32; 5];
        let n = 20_000;
        for _ in 0..n {
            counts[sample(&LOGITS, 1.0, uniform_f64(&mut rng)).unwrap().token as usize] += 1;
        }
        for (t, &c) in counts.iter().enumerate() {
            let p = eos_probability(&LOGITS, 1.0, t as u32).unwrap();
            let sd = (p * (1.0 - p) / f64::from(n)).sqrt();
            assert!((f64::from(c) / f64::from(n) - p).abs() < 6.0 * sd, "token {t}");
        }
    }

    #[test]
    fn zero_mass_tokens_are_never_picked() {
        let logits = [0.0f32, -2000.0, 0.0];
        for u in [0.0, 0.5, 0.999_999_999] {
            assert_ne!(sample(&logits, 1.0, u).unwrap().token, 1);
        }
        let high = 1.0 - f64::EPSILON / 2.0;
        assert_eq!(sample(&[0.0f32, 0.0, -2000.0], 1.0, high).unwrap().token, 1);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(matches!(
            sample(&[0.0, f32::NAN], 1.0, 0.5),
            Err(ProtocolError::NonFiniteLogit { index: 1, .. })
        ));
        assert!(sample(&[f32::INFINITY], 1.0, 0.5).is_err());
        assert!(sample(&[], 1.0, 0.5).is_err());
        assert!(sample(&[1.0], 0.0, 0.5).is_err());
        assert!(sample(&[1.0], f32::NAN, 0.5).is_err());
        assert!(sample(&[1.0], 1.0, 1.0).is_err());
        assert!(sample(&[1.0], 1.0, -0.1).is_err());
        assert!(check_sample(&LOGITS, 1.0, 0.5, 5, 0.0).is_err());
        assert!(eos_probability(&LOGITS, 1.0, 9).is_err());
        assert!(argmax(&[1.0, f32::NEG_INFINITY]).is_err());
        assert!(argmax(&[]).is_err());
    }

    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(argmax(&LOGITS).unwrap(), 1);
        assert_eq!(argmax(&[-5.0]).unwrap(), 0);
    }

    #[test]
    fn extreme_logits_do_not_overflow() {
        let logits = [80.0f32, 3.0e38, -3.0e38];
        let s = sample(&logits, 0.1, 0.3).unwrap();
        assert_eq!(s.token, 1);
        assert_eq!(s.logprob, 0.0);
    }

    #[test]
    fn logprob_is_the_checks_and_the_samplers() {
        let logits = [0.5f32, -1.25, 2.0, 0.0, 3.5];
        for token in 0..5u32 {
            let own = logprob(&logits, 0.7, token).unwrap();
            let checked = check_sample(&logits, 0.7, 0.5, token, 0.0).unwrap().logprob;
            assert_eq!(own.to_bits(), checked.to_bits(), "token {token}");
        }
        let s = sample(&logits, 0.7, 0.9).unwrap();
        assert_eq!(logprob(&logits, 0.7, s.token).unwrap().to_bits(), s.logprob.to_bits());
        assert!(logprob(&logits, 0.7, 5).is_err());
        assert!(logprob(&logits, 0.0, 1).is_err());
    }
}
