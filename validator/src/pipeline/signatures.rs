//! Stage 3: the header's signature and every rollout's, under the header's hotkey (which stage
//! 2 matched to the file name). Cheap, so every rollout is checked, not only the sampled ones.

use grail_protocol::hash::Hash32;
use grail_protocol::signing::{verify_header, verify_rollout};
use grail_protocol::window_file::WindowFile;

use super::{Failure, StageResult};
use crate::state::Stage;

/// Verifies every signature of the file; returns the header digest.
pub fn check_signatures(file: &WindowFile) -> StageResult<Hash32> {
    let fail = |e: grail_protocol::ProtocolError| Failure::new(Stage::Signatures, e.to_string());
    let digest = verify_header(&file.header).map_err(fail)?;
    let count = file.rollouts.len();
    for (i, r) in file.rollouts.iter().enumerate() {
        verify_rollout(&file.header, &digest, i, count, r).map_err(fail)?;
    }
    Ok(digest)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::pipeline::testutil::{pair, sample_file};
    use grail_protocol::signing::sign_window_file;

    #[test]
    fn signed_file_passes_and_any_change_fails() {
        let p = pair(3);
        let file = sample_file(&p, 5);
        check_signatures(&file).unwrap();

        let mut header_changed = file.clone();
        header_changed.header.window += 1;
        let err = check_signatures(&header_changed).unwrap_err();
        assert_eq!(err.stage, Stage::Signatures);
        assert!(err.reason.contains("header"), "{err}");

        let mut rollout_changed = file.clone();
        let last = rollout_changed.rollouts.len() - 1;
        rollout_changed.rollouts[last].completion_tokens[0] ^= 1;
        let err = check_signatures(&rollout_changed).unwrap_err();
        assert!(err.reason.contains(&format!("rollout {last}")), "{err}");

        // Signed by another key while naming this one: the header fails.
        let mut forged = file;
        let other = pair(4);
        forged.header.hotkey = other.hotkey();
        sign_window_file(&other, &mut forged).unwrap();
        forged.header.hotkey = p.hotkey();
        assert!(check_signatures(&forged).is_err());
    }
}
