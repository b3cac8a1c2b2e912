//! Arithmetic word problems with an exact integer answer.
//!
//! Generation, from `rng = ChaCha20Rng::from_seed(seed)`, with `u(b) = uniform_below(rng, b)`
//! and `r(lo, hi) = lo + u(hi - lo + 1)` (inclusive): `t = u(6)` picks the template, then
//! `name = NAMES[u(12)]`, `item = ITEMS[u(8)]`, then the template's numbers in the order they
//! are listed in `draw` (each range may depend on earlier numbers). Every template keeps the
//! answer a non-negative integer (divisions are exact by construction).
//!
//! The answer is expected as a base-10 integer inside `<ANSWER></ANSWER>`.
//!
//! Reward components, summed in this order (see [`super::Reward`]):
//!
//! | name | weight | value |
//! |---|---|---|
//! | `correct` | 0.80 | 1 if well-formed and the integer equals the answer |
//! | `tags` | 0.10 | 1 if there is exactly one `<ANSWER>` and one `</ANSWER>`, in that order |
//! | `integer` | 0.05 | 1 if tags, and the block is an optional `-` then 1 to 18 ASCII digits, nothing else (ASCII whitespace around it is ignored) |
//! | `no_trailing` | 0.05 | 1 if tags, and only ASCII whitespace follows `</ANSWER>` |
//!
//! Well-formed means the three format components are 1. A correct answer scores 1.0, a
//! well-formed wrong one 0.2, a malformed one less than 0.2 with `success = false`.

use grail_protocol::hash::uniform_below;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::Serialize;

use super::answer::single_block;
use super::{
    AnswerKey, ChatMessage, EnvError, Environment, Problem, Reward, RewardComponent, SYSTEM_PROMPT,
};

/// Registry id.
pub const ID: &str = "arith";
/// Bumped on any change to generation or scoring.
pub const VERSION: u32 = 1;
/// Most digits accepted in an answer (so parsing never overflows i64).
pub const MAX_DIGITS: usize = 18;

const TAG: &str = "ANSWER";
const W_CORRECT: f64 = 0.80;
const W_TAGS: f64 = 0.10;
const W_INTEGER: f64 = 0.05;
const W_NO_TRAILING: f64 = 0.05;
const TEMPLATES: u64 = 6;

const NAMES: [&str; 12] = [
    "Ada", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hugo", "Iris", "Jonas", "Kira", "Luis",
];
const ITEMS: [&str; 8] =
    ["apples", "marbles", "stickers", "pencils", "cards", "shells", "cookies", "stamps"];

/// The answer key: which template, the numbers drawn for it, and the exact answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArithKey {
    pub template: u32,
    pub numbers: Vec<i64>,
    pub answer: i64,
}

/// The arithmetic environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ArithEnv;

impl Environment for ArithEnv {
    fn id(&self) -> &'static str {
        ID
    }

    fn version(&self) -> u32 {
        VERSION
    }

    fn generate(&self, seed: [u8; 32]) -> Problem {
        let (key, story) = draw(&mut ChaCha20Rng::from_seed(seed));
        let user = format!(
            "{story}\n\nGive the final answer as a single integer inside <ANSWER></ANSWER> \
tags, for example <ANSWER>42</ANSWER>."
        );
        let messages =
            vec![ChatMessage::new("system", SYSTEM_PROMPT), ChatMessage::new("user", user)];
        Problem { env_id: ID, env_version: VERSION, messages, answer: AnswerKey::Arith(key) }
    }

    fn score(&self, problem: &Problem, completion: &str) -> Result<Reward, EnvError> {
        match &problem.answer {
            AnswerKey::Arith(key) => Ok(score_key(key, completion)),
            _ => Err(EnvError::ProblemMismatch { problem_env: problem.env_id, scorer: ID }),
        }
    }
}

/// Inclusive uniform integer in `[lo, hi]`.
fn r(rng: &mut ChaCha20Rng, lo: i64, hi: i64) -> i64 {
    lo + uniform_below(rng, (hi - lo + 1) as u64) as i64
}

/// Draws a template and its numbers; returns the key and the story text.
fn draw(rng: &mut ChaCha20Rng) -> (ArithKey, String) {
    let template = uniform_below(rng, TEMPLATES) as u32;
    let name = NAMES[uniform_below(rng, NAMES.len() as u64) as usize];
    let item = ITEMS[uniform_below(rng, ITEMS.len() as u64) as usize];
    let (numbers, answer, story) = match template {
        0 => {
            let a = r(rng, 5, 50);
            let b = r(rng, 1, 30);
            let c = r(rng, 1, a + b);
            let s = format!(
                "{name} has {a} {item}. {name} gets {b} more, then gives {c} away. \
How many {item} does {name} have now?"
            );
            (vec![a, b, c], a + b - c, s)
        }
        1 => {
            let a = r(rng, 2, 12);
            let b = r(rng, 2, 12);
            let c = r(rng, 1, 20);
            let s = format!(
                "{name} fills {a} boxes with {b} {item} each, then finds {c} more {item}. \
How many {item} does {name} have in total?"
            );
            (vec![a, b, c], a * b + c, s)
        }
        2 => {
            let b = r(rng, 2, 9);
            let q = r(rng, 1, 12);
            let c = r(rng, 1, 10);
            let a = b * q;
            let s = format!(
                "{name} shares {a} {item} equally among {b} friends. Later each friend gets {c} \
more {item}. How many {item} does each friend have now?"
            );
            (vec![b, q, c], q + c, s)
        }
        3 => {
            let a = r(rng, 2, 15);
            let b = r(rng, 2, 9);
            let e = r(rng, 0, 50);
            let c = a * b + e;
            let s = format!(
                "A shop sells {item} for {a} coins each. {name} buys {b} of them and pays with \
{c} coins. How many coins of change does {name} get back?"
            );
            (vec![a, b, e], e, s)
        }
        4 => {
            let a = r(rng, 3, 12);
            let b = r(rng, 4, 20);
            let c = r(rng, 1, a * b);
            let s = format!(
                "A train has {a} cars with {b} seats each, and every seat is taken. At a station \
{c} passengers get off and nobody gets on. How many passengers are still on the train?"
            );
            (vec![a, b, c], a * b - c, s)
        }
        _ => {
            let d = r(rng, 2, 5);
            let a = r(rng, 2, 10);
            let b = r(rng, d, 10);
            let p = a * b;
            // c leaves a positive multiple of d: p - c = d * (p / d - k), 1 <= k < p / d.
            let k = r(rng, 1, p / d - 1);
            let c = p % d + d * k;
            let s = format!(
                "{name} collects {a} {item} every day for {b} days, loses {c} of them, and packs \
the rest equally into {d} bags. How many {item} are in each bag?"
            );
            (vec![d, a, b, k], (p - c) / d, s)
        }
    };
    (ArithKey { template, numbers, answer }, story)
}

fn score_key(key: &ArithKey, completion: &str) -> Reward {
    let block = single_block(completion, TAG);
    let tags = block.is_some();
    let value = block.and_then(|b| parse_integer(b.content));
    let integer = value.is_some();
    let no_trailing = block.is_some_and(|b| b.nothing_trailing);
    let correct = tags && integer && no_trailing && value == Some(key.answer);
    let c =
        |name, weight, ok: bool| RewardComponent { name, weight, value: f64::from(u8::from(ok)) };
    Reward::from_components(
        vec![
            c("correct", W_CORRECT, correct),
            c("tags", W_TAGS, tags),
            c("integer", W_INTEGER, integer),
            c("no_trailing", W_NO_TRAILING, no_trailing),
        ],
        correct,
    )
}

/// `-?[0-9]{1,18}` exactly; no `+`, separators, decimals or non-ASCII digits.
fn parse_integer(content: &str) -> Option<i64> {
    let digits = content.strip_prefix('-').unwrap_or(content);
    if digits.is_empty() || digits.len() > MAX_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    content.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(i: u16) -> [u8; 32] {
        let mut s = [0x3cu8; 32];
        s[..2].copy_from_slice(&i.to_be_bytes());
        s
    }

    fn key_of(p: &Problem) -> &ArithKey {
        match &p.answer {
            AnswerKey::Arith(k) => k,
            AnswerKey::Sat(_) => panic!("not arith"),
        }
    }

    #[test]
    fn generation_is_deterministic_and_answers_are_exact() {
        let mut templates = std::collections::BTreeSet::new();
        for i in 0..600u16 {
            let p = ArithEnv.generate(seed(i));
            assert_eq!(p, ArithEnv.generate(seed(i)));
            let k = key_of(&p);
            let n = &k.numbers;
            // Recompute each answer independently of the generator's expression.
            let expected = match k.template {
                0 => n[0] + n[1] - n[2],
                1 => n[0] * n[1] + n[2],
                2 => (n[0] * n[1]) / n[0] + n[2],
                3 => (n[0] * n[1] + n[2]) - n[0] * n[1],
                4 => n[0] * n[1] - n[2],
                _ => {
                    let (d, p) = (n[0], n[1] * n[2]);
                    let c = p % d + d * n[3];
                    assert_eq!((p - c) % d, 0, "exact division");
                    assert!(c >= 1 && c < p);
                    (p - c) / d
                }
            };
            assert_eq!(k.answer, expected);
            assert!(k.answer >= 0);
            let user = &p.messages[1].content;
            assert!(user.contains("<ANSWER></ANSWER>"));
            templates.insert(k.template);
        }
        assert_eq!(templates.len() as u64, TEMPLATES, "every template appears");
    }

    #[test]
    fn exact_answer_succeeds() {
        for i in 0..50u16 {
            let p = ArithEnv.generate(seed(i));
            let a = key_of(&p).answer;
            for text in [
                format!("{a} apples.\n<ANSWER>{a}</ANSWER>"),
                format!("<ANSWER> {a}\n</ANSWER>\n\n"),
                format!("<ANSWER>00{a}</ANSWER>"),
            ] {
                let r = ArithEnv.score(&p, &text).expect("arith problem");
                assert!(r.success, "{text:?}");
                assert_eq!(r.reward, 1.0);
            }
            let r = ArithEnv.score(&p, &format!("<ANSWER>{}</ANSWER>", a + 1)).expect("arith");
            assert!(!r.success);
            assert_eq!(r.reward, 0.2);
        }
    }

    #[test]
    fn malformed_answers_never_succeed() {
        let p = ArithEnv.generate(seed(7));
        let a = key_of(&p).answer;
        let malformed = [
            String::new(),
            format!("{a}"),
            format!("The answer is {a}."),
            format!("<ANSWER>{a}"),
            format!("{a}</ANSWER>"),
            format!("</ANSWER>{a}<ANSWER>"),
            format!("<answer>{a}</answer>"),
            "<ANSWER></ANSWER>".to_owned(),
            "<ANSWER>-</ANSWER>".to_owned(),
            format!("<ANSWER>+{a}</ANSWER>"),
            format!("<ANSWER>{a}.0</ANSWER>"),
            format!("<ANSWER>{a} {a}</ANSWER>"),
            format!("<ANSWER>{a} coins</ANSWER>"),
            format!("<ANSWER>x={a}</ANSWER>"),
            format!("<ANSWER>1,{a:03}</ANSWER>"),
            format!("<ANSWER>{}{a}</ANSWER>", "0".repeat(MAX_DIGITS)),
            "<ANSWER>99999999999999999999999</ANSWER>".to_owned(),
            format!("<ANSWER>{a}</ANSWER><ANSWER>{a}</ANSWER>"),
            format!("<ANSWER>{a}</ANSWER>\n<ANSWER>{}</ANSWER>", a + 1),
            format!("<ANSWER>{}</ANSWER>\n<ANSWER>{a}</ANSWER>", a + 1),
            format!("<ANSWER><ANSWER>{a}</ANSWER>"),
            format!("<ANSWER>{a}</ANSWER></ANSWER>"),
            format!("<ANSWER>{a}</ANSWER> because I said so"),
            format!("<ANSWER>{a}</ANSWER><|im_end|>"),
            format!("<ANSWER>{a}</ANSWER>\u{a0}"),
            "<ANSWER>\u{663}</ANSWER>".to_owned(),
        ];
        for text in &malformed {
            let r = ArithEnv.score(&p, text).expect("arith problem");
            assert!(!r.success, "{text:?}");
            assert!(r.reward < 0.2, "{text:?} scored {}", r.reward);
        }
    }

    #[test]
    fn parse_integer_bounds() {
        assert_eq!(parse_integer("-12"), Some(-12));
        assert_eq!(parse_integer(&"9".repeat(MAX_DIGITS)), Some(999_999_999_999_999_999));
        assert_eq!(parse_integer(&"9".repeat(MAX_DIGITS + 1)), None);
        assert_eq!(parse_integer("--1"), None);
        assert_eq!(parse_integer(" 1"), None);
    }
}
