//! 3-SAT with a planted solution.
//!
//! Generation, from `rng = ChaCha20Rng::from_seed(seed)`, with `u(b) = uniform_below(rng, b)`:
//! 1. `n = 4 + u(7)` variables (4..=10), `m = 5 + u(11)` clauses (5..=15);
//! 2. the planted assignment: `bit_i = u(2)` for `i = 1..=n` (1 = true);
//! 3. each clause, in order: three distinct variables, each `1 + u(n)` redrawn while it equals
//!    one already in the clause, kept in draw order; then three signs, `negated = u(2) == 1`
//!    each, all three redrawn together while the clause is false under the planted assignment
//!    (so the signs are uniform over the 7 satisfying patterns).
//!
//! The prompt lists the clauses as `(x1 OR NOT x3 OR x4)` and asks for the bits of x1..xn in
//! `<SOLUTION></SOLUTION>`.
//!
//! Reward components, summed in this order (see [`super::Reward`]):
//!
//! | name | weight | value |
//! |---|---|---|
//! | `correct` | 0.80 | 1 if well-formed and the bits satisfy every clause (any satisfying assignment, not only the planted one) |
//! | `tags` | 0.05 | 1 if there is exactly one `<SOLUTION>` and one `</SOLUTION>`, in that order |
//! | `charset` | 0.05 | 1 if tags, and the block holds at least one bit and only `0`, `1` and ASCII whitespace |
//! | `bit_count` | 0.05 | 1 if charset, and the number of bits equals n |
//! | `no_trailing` | 0.05 | 1 if tags, and only ASCII whitespace follows `</SOLUTION>` |
//!
//! Well-formed means all four format components are 1. So a satisfying answer scores 1.0, a
//! well-formed wrong one 0.2, and a malformed one less than 0.2 with `success = false`.

use grail_protocol::hash::uniform_below;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::Serialize;

use super::answer::single_block;
use super::{
    AnswerKey, ChatMessage, EnvError, Environment, Problem, Reward, RewardComponent, SYSTEM_PROMPT,
};

/// Registry id.
pub const ID: &str = "sat";
/// Bumped on any change to generation or scoring.
pub const VERSION: u32 = 1;
/// Variables per problem, inclusive range.
pub const MIN_VARS: u64 = 4;
pub const MAX_VARS: u64 = 10;
/// Clauses per problem, inclusive range.
pub const MIN_CLAUSES: u64 = 5;
pub const MAX_CLAUSES: u64 = 15;
/// Literals per clause.
pub const CLAUSE_LEN: usize = 3;

const TAG: &str = "SOLUTION";
const W_CORRECT: f64 = 0.80;
const W_TAGS: f64 = 0.05;
const W_CHARSET: f64 = 0.05;
const W_BIT_COUNT: f64 = 0.05;
const W_NO_TRAILING: f64 = 0.05;

/// One literal: variable `var` (1-based), negated or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Literal {
    pub var: u32,
    pub negated: bool,
}

impl Literal {
    fn holds(self, assignment: &[bool]) -> bool {
        assignment[self.var as usize - 1] != self.negated
    }
}

/// The answer key: the formula and the planted assignment that satisfies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SatKey {
    pub num_vars: u32,
    pub clauses: Vec<[Literal; CLAUSE_LEN]>,
    /// Bits of x1..xn; satisfies every clause.
    pub planted: Vec<bool>,
}

impl SatKey {
    /// True iff `assignment` has one bit per variable and satisfies every clause.
    pub fn is_satisfied_by(&self, assignment: &[bool]) -> bool {
        assignment.len() == self.num_vars as usize
            && self.clauses.iter().all(|c| c.iter().any(|l| l.holds(assignment)))
    }
}

/// The SAT environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct SatEnv;

impl Environment for SatEnv {
    fn id(&self) -> &'static str {
        ID
    }

    fn version(&self) -> u32 {
        VERSION
    }

    fn generate(&self, seed: [u8; 32]) -> Problem {
        let key = generate_key(seed);
        let messages =
            vec![ChatMessage::new("system", SYSTEM_PROMPT), ChatMessage::new("user", prompt(&key))];
        Problem { env_id: ID, env_version: VERSION, messages, answer: AnswerKey::Sat(key) }
    }

    fn score(&self, problem: &Problem, completion: &str) -> Result<Reward, EnvError> {
        match &problem.answer {
            AnswerKey::Sat(key) => Ok(score_key(key, completion)),
            _ => Err(EnvError::ProblemMismatch { problem_env: problem.env_id, scorer: ID }),
        }
    }
}

fn generate_key(seed: [u8; 32]) -> SatKey {
    let mut rng = ChaCha20Rng::from_seed(seed);
    let n = MIN_VARS + uniform_below(&mut rng, MAX_VARS - MIN_VARS + 1);
    let m = MIN_CLAUSES + uniform_below(&mut rng, MAX_CLAUSES - MIN_CLAUSES + 1);
    let planted: Vec<bool> = (0..n).map(|_| uniform_below(&mut rng, 2) == 1).collect();
    let clauses = (0..m).map(|_| draw_clause(&mut rng, n, &planted)).collect();
    SatKey { num_vars: n as u32, clauses, planted }
}

fn draw_clause(rng: &mut ChaCha20Rng, n: u64, planted: &[bool]) -> [Literal; CLAUSE_LEN] {
    let mut vars = [0u32; CLAUSE_LEN];
    for i in 0..CLAUSE_LEN {
        vars[i] = loop {
            let v = 1 + uniform_below(rng, n) as u32;
            if !vars[..i].contains(&v) {
                break v;
            }
        };
    }
    loop {
        let clause = vars.map(|var| Literal { var, negated: uniform_below(rng, 2) == 1 });
        if clause.iter().any(|l| l.holds(planted)) {
            return clause;
        }
    }
}

fn prompt(key: &SatKey) -> String {
    let n = key.num_vars;
    let clauses: Vec<String> = key
        .clauses
        .iter()
        .map(|c| {
            let lits: Vec<String> = c
                .iter()
                .map(|l| if l.negated { format!("NOT x{}", l.var) } else { format!("x{}", l.var) })
                .collect();
            format!("({})", lits.join(" OR "))
        })
        .collect();
    format!(
        "Find values for the boolean variables x1 to x{n} that make every one of these {m} \
clauses true. A clause is true when at least one of its parts is true.\n\n{body}\n\n\
Answer with {n} bits, 1 for true and 0 for false, for x1 to x{n} in order, separated by \
spaces, inside <SOLUTION></SOLUTION> tags, like <SOLUTION>b1 b2 ... b{n}</SOLUTION>.",
        m = key.clauses.len(),
        body = clauses.join("\n"),
    )
}

fn score_key(key: &SatKey, completion: &str) -> Reward {
    let block = single_block(completion, TAG);
    let tags = block.is_some();
    let bits: Option<Vec<bool>> = block.and_then(|b| parse_bits(b.content));
    let charset = bits.is_some();
    let bit_count = bits.as_ref().is_some_and(|b| b.len() == key.num_vars as usize);
    let no_trailing = block.is_some_and(|b| b.nothing_trailing);
    let well_formed = tags && charset && bit_count && no_trailing;
    let correct = well_formed && bits.as_deref().is_some_and(|b| key.is_satisfied_by(b));
    let c =
        |name, weight, ok: bool| RewardComponent { name, weight, value: f64::from(u8::from(ok)) };
    Reward::from_components(
        vec![
            c("correct", W_CORRECT, correct),
            c("tags", W_TAGS, tags),
            c("charset", W_CHARSET, charset),
            c("bit_count", W_BIT_COUNT, bit_count),
            c("no_trailing", W_NO_TRAILING, no_trailing),
        ],
        correct,
    )
}

/// The bits of a block holding only `0`, `1` and ASCII whitespace, at least one bit.
fn parse_bits(content: &str) -> Option<Vec<bool>> {
    let mut bits = Vec::new();
    for b in content.bytes() {
        match b {
            b'0' => bits.push(false),
            b'1' => bits.push(true),
            _ if b.is_ascii_whitespace() => {}
            _ => return None,
        }
    }
    (!bits.is_empty()).then_some(bits)
}

/// Renders bits as the expected answer text, `1 0 1`.
pub fn format_bits(bits: &[bool]) -> String {
    bits.iter().map(|&b| if b { "1" } else { "0" }).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(i: u8) -> [u8; 32] {
        let mut s = [0u8; 32];
        s[0] = i;
        s[31] = 0xa5;
        s
    }

    fn key_of(p: &Problem) -> &SatKey {
        match &p.answer {
            AnswerKey::Sat(k) => k,
            AnswerKey::Arith(_) => panic!("not sat"),
        }
    }

    #[test]
    fn generation_is_deterministic_and_in_range() {
        let mut sizes = std::collections::BTreeSet::new();
        for i in 0..=255u8 {
            let p = SatEnv.generate(seed(i));
            assert_eq!(p, SatEnv.generate(seed(i)));
            let k = key_of(&p);
            assert!((MIN_VARS..=MAX_VARS).contains(&u64::from(k.num_vars)));
            assert!((MIN_CLAUSES..=MAX_CLAUSES).contains(&(k.clauses.len() as u64)));
            assert!(k.is_satisfied_by(&k.planted), "planted must satisfy");
            for c in &k.clauses {
                assert!(c.iter().all(|l| (1..=k.num_vars).contains(&l.var)));
                assert!(c[0].var != c[1].var && c[1].var != c[2].var && c[0].var != c[2].var);
            }
            sizes.insert(k.num_vars);
        }
        assert_eq!(sizes.len() as u64, MAX_VARS - MIN_VARS + 1, "every size appears");
        assert_ne!(SatEnv.generate(seed(1)), SatEnv.generate(seed(2)));
    }

    #[test]
    fn prompt_lists_every_clause() {
        let p = SatEnv.generate(seed(3));
        let k = key_of(&p);
        let user = &p.messages[1].content;
        assert_eq!(user.lines().filter(|l| l.starts_with('(')).count(), k.clauses.len());
        assert!(user.contains(&format!("x1 to x{}", k.num_vars)));
        assert!(user.contains("<SOLUTION></SOLUTION>"));
        assert_eq!(p.messages[0].role, "system");
    }

    #[test]
    fn planted_and_other_satisfying_assignments_succeed() {
        for i in 0..64u8 {
            let p = SatEnv.generate(seed(i));
            let k = key_of(&p);
            let text = format!("Let me think.\n<SOLUTION>{}</SOLUTION>\n", format_bits(&k.planted));
            let r = SatEnv.score(&p, &text).expect("sat problem");
            assert!(r.success);
            assert_eq!(r.reward, 1.0);
            // Every satisfying assignment counts, found by brute force.
            for mask in 0u32..(1 << k.num_vars) {
                let bits: Vec<bool> = (0..k.num_vars).map(|v| mask >> v & 1 == 1).collect();
                let text = format!("<SOLUTION>{}</SOLUTION>", format_bits(&bits));
                let r = SatEnv.score(&p, &text).expect("sat problem");
                assert_eq!(r.success, k.is_satisfied_by(&bits));
                assert_eq!(r.reward, if r.success { 1.0 } else { 0.2 });
            }
        }
    }

    #[test]
    fn malformed_answers_never_succeed() {
        let p = SatEnv.generate(seed(9));
        let k = key_of(&p);
        let good = format_bits(&k.planted);
        let tight: String = good.split(' ').collect();
        let mut wrong = k.planted.clone();
        wrong[0] = !wrong[0];
        let wrong = format_bits(&wrong);
        let extra = format!("{good} 1");
        let short = format_bits(&k.planted[1..]);
        let malformed = [
            String::new(),
            good.clone(),
            format!("<SOLUTION>{good}"),
            format!("{good}</SOLUTION>"),
            format!("</SOLUTION>{good}<SOLUTION>"),
            format!("<solution>{good}</solution>"),
            "<SOLUTION></SOLUTION>".to_owned(),
            "<SOLUTION>   </SOLUTION>".to_owned(),
            format!("<SOLUTION>{extra}</SOLUTION>"),
            format!("<SOLUTION>{short}</SOLUTION>"),
            format!("<SOLUTION>{}</SOLUTION>", good.replace('1', "T")),
            format!("<SOLUTION>x{good}</SOLUTION>"),
            format!("<SOLUTION>{}</SOLUTION>", good.replace(' ', ",")),
            format!("<SOLUTION>{good}</SOLUTION><SOLUTION>{good}</SOLUTION>"),
            format!("<SOLUTION>{good}</SOLUTION>\n<SOLUTION>{wrong}</SOLUTION>"),
            format!("<SOLUTION>{wrong}</SOLUTION>\n<SOLUTION>{good}</SOLUTION>"),
            format!("<SOLUTION><SOLUTION>{good}</SOLUTION>"),
            format!("<SOLUTION>{good}</SOLUTION></SOLUTION>"),
            format!("<SOLUTION>{good}</SOLUTION> trailing words"),
            format!("<SOLUTION>{good}</SOLUTION><|im_end|>"),
            format!("<SOLUTION>{good}</SOLUTION>\u{a0}"),
            format!("<SOLUTION>{}</SOLUTION>", good.replace('1', "\u{661}")),
            format!("<SOLUTION>-{good}</SOLUTION>"),
        ];
        for text in &malformed {
            let r = SatEnv.score(&p, text).expect("sat problem");
            assert!(!r.success, "{text:?}");
            assert!(r.reward < 0.2, "{text:?} scored {}", r.reward);
            assert_eq!(r.components[0].value, 0.0, "{text:?}");
        }
        // Bits without spaces, or on several lines, are still well-formed.
        for text in
            [format!("<SOLUTION>{tight}</SOLUTION>"), format!("<SOLUTION>\n{good}\n</SOLUTION>")]
        {
            assert!(SatEnv.score(&p, &text).expect("sat problem").success, "{text:?}");
        }
    }

    #[test]
    fn partial_credit_orders_format_quality() {
        let p = SatEnv.generate(seed(4));
        let k = key_of(&p);
        let good = format_bits(&k.planted);
        let score = |t: &str| SatEnv.score(&p, t).expect("sat problem").reward;
        let none = score("I do not know");
        let tags_only = score("<SOLUTION>maybe</SOLUTION>");
        let bits_wrong_len = score(&format!("<SOLUTION>{good} 0</SOLUTION>"));
        let trailing = score(&format!("<SOLUTION>{good}</SOLUTION> done"));
        assert_eq!(none, 0.0);
        assert!(none < tags_only && tags_only < bits_wrong_len && bits_wrong_len < 0.2);
        assert!(trailing < 0.2 && trailing > tags_only);
        assert_eq!(score("<SOLUTION>maybe</SOLUTION> x"), 0.05);
    }
}
