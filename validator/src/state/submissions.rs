//! Weights sent to the chain, one row per attempt. A row is written (`sent`) before the
//! extrinsic leaves, so a validator killed mid-submission finds it at the next start and
//! settles it from the chain instead of sending a second one.

use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::State;
use crate::error::{sql, Result, ValidatorError};

/// Where an attempt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionStatus {
    /// Written before sending; not yet seen on chain.
    Sent,
    /// In a finalized block, with its storage written.
    Included,
    /// The chain refused it or its call failed.
    Failed,
    /// Never seen on chain within its era.
    Dropped,
}

impl SubmissionStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Included => "included",
            Self::Failed => "failed",
            Self::Dropped => "dropped",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "sent" => Self::Sent,
            "included" => Self::Included,
            "failed" => Self::Failed,
            "dropped" => Self::Dropped,
            other => {
                return Err(ValidatorError::Corrupt {
                    table: "weight_submissions",
                    column: "status",
                    reason: format!("unknown status {other:?}"),
                })
            }
        })
    }
}

/// One attempt at putting a window's weights on chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    pub id: i64,
    pub netuid: u16,
    /// The chain epoch it is for.
    pub epoch: u64,
    /// The window whose weights it carries.
    pub window: u64,
    /// `set_weights` or `commit_timelocked_weights`.
    pub call: String,
    pub reveal_round: Option<u64>,
    /// The best block when it was sent: it lands in a later block, and its era (which starts
    /// at or before this block) is over an era after it.
    pub sent_block: u64,
    /// Unix seconds.
    pub sent_at: u64,
    pub status: SubmissionStatus,
    /// The block that included it.
    pub block: Option<u64>,
    /// `0x` and the extrinsic's blake2-256, once known.
    pub tx_hash: Option<String>,
    pub error: Option<String>,
    pub settled_at: Option<u64>,
}

/// What is known before sending.
#[derive(Debug, Clone)]
pub struct NewSubmission<'a> {
    pub netuid: u16,
    pub epoch: u64,
    pub window: u64,
    pub call: &'a str,
    pub reveal_round: Option<u64>,
    pub sent_block: u64,
    pub sent_at: u64,
}

/// How an attempt settled.
#[derive(Debug, Clone)]
pub struct Settlement {
    pub status: SubmissionStatus,
    /// The epoch it counts for (that of the including block, when included).
    pub epoch: u64,
    pub block: Option<u64>,
    pub tx_hash: Option<[u8; 32]>,
    pub error: Option<String>,
    pub settled_at: u64,
}

const COLUMNS: &str = "id, netuid, epoch, window, call, reveal_round, sent_block, sent_at, status,
    block, tx_hash, error, settled_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<(Submission, String)> {
    let tx_hash: Option<Vec<u8>> = r.get(10)?;
    Ok((
        Submission {
            id: r.get(0)?,
            netuid: r.get(1)?,
            epoch: r.get(2)?,
            window: r.get(3)?,
            call: r.get(4)?,
            reveal_round: r.get(5)?,
            sent_block: r.get(6)?,
            sent_at: r.get(7)?,
            status: SubmissionStatus::Sent,
            block: r.get(9)?,
            tx_hash: tx_hash.map(|h| format!("0x{}", hex::encode(h))),
            error: r.get(11)?,
            settled_at: r.get(12)?,
        },
        r.get(8)?,
    ))
}

fn finish((mut s, status): (Submission, String)) -> Result<Submission> {
    s.status = SubmissionStatus::parse(&status)?;
    Ok(s)
}

impl State {
    /// Records an attempt about to be sent; returns it as stored.
    pub fn submission_sent(&mut self, new: &NewSubmission<'_>) -> Result<Submission> {
        self.conn
            .execute(
                "INSERT INTO weight_submissions
                    (netuid, epoch, window, call, reveal_round, sent_block, sent_at, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'sent')",
                params![
                    new.netuid,
                    new.epoch,
                    new.window,
                    new.call,
                    new.reveal_round,
                    new.sent_block,
                    new.sent_at
                ],
            )
            .map_err(sql("insert weight submission"))?;
        Ok(Submission {
            id: self.conn.last_insert_rowid(),
            netuid: new.netuid,
            epoch: new.epoch,
            window: new.window,
            call: new.call.to_owned(),
            reveal_round: new.reveal_round,
            sent_block: new.sent_block,
            sent_at: new.sent_at,
            status: SubmissionStatus::Sent,
            block: None,
            tx_hash: None,
            error: None,
            settled_at: None,
        })
    }

    /// Settles attempt `id`.
    pub fn submission_settled(&mut self, id: i64, how: &Settlement) -> Result<()> {
        let changed = self
            .conn
            .execute(
                "UPDATE weight_submissions SET status = ?2, epoch = ?3, block = ?4, tx_hash = ?5,
                    error = ?6, settled_at = ?7 WHERE id = ?1",
                params![
                    id,
                    how.status.as_str(),
                    how.epoch,
                    how.block,
                    how.tx_hash.map(|h| h.to_vec()),
                    how.error,
                    how.settled_at
                ],
            )
            .map_err(sql("settle weight submission"))?;
        if changed != 1 {
            return Err(ValidatorError::Corrupt {
                table: "weight_submissions",
                column: "id",
                reason: format!("no attempt {id} to settle"),
            });
        }
        Ok(())
    }

    /// The attempts for `epoch` of `netuid`, oldest first.
    pub fn submissions_in_epoch(&self, netuid: u16, epoch: u64) -> Result<Vec<Submission>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM weight_submissions WHERE netuid = ?1 AND epoch = ?2 ORDER BY id"
            ))
            .map_err(sql("read weight submissions"))?;
        let rows = stmt
            .query_map(params![netuid, epoch], from_row)
            .map_err(sql("read weight submissions"))?;
        rows.map(|r| r.map_err(sql("read weight submission")).and_then(finish)).collect()
    }

    /// The attempts still `sent` (unsettled), oldest first.
    pub fn unsettled_submissions(&self, netuid: u16) -> Result<Vec<Submission>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM weight_submissions WHERE netuid = ?1 AND status = 'sent' ORDER BY id"
            ))
            .map_err(sql("read weight submissions"))?;
        let rows =
            stmt.query_map(params![netuid], from_row).map_err(sql("read weight submissions"))?;
        rows.map(|r| r.map_err(sql("read weight submission")).and_then(finish)).collect()
    }

    /// The most recent attempt, if any.
    pub fn latest_submission(&self) -> Result<Option<Submission>> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM weight_submissions ORDER BY id DESC LIMIT 1"),
                [],
                from_row,
            )
            .optional()
            .map_err(sql("read latest weight submission"))?
            .map(finish)
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_is_recorded_then_settled_and_survives_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut state = State::open(dir.path()).expect("open");
        let new = NewSubmission {
            netuid: 3,
            epoch: 7,
            window: 40,
            call: "commit_timelocked_weights",
            reveal_round: Some(99),
            sent_block: 120,
            sent_at: 1_000,
        };
        let sent = state.submission_sent(&new).expect("sent");
        let id = sent.id;
        assert_eq!(state.unsettled_submissions(3).expect("read"), vec![sent]);
        drop(state);
        let mut state = State::open(dir.path()).expect("reopen");
        let pending = state.unsettled_submissions(3).expect("read");
        assert_eq!(
            (pending[0].id, pending[0].status, pending[0].sent_block),
            (id, SubmissionStatus::Sent, 120)
        );
        let settle = Settlement {
            status: SubmissionStatus::Included,
            epoch: 8,
            block: Some(122),
            tx_hash: Some([5; 32]),
            error: None,
            settled_at: 1_010,
        };
        state.submission_settled(id, &settle).expect("settle");
        assert!(state.unsettled_submissions(3).expect("read").is_empty());
        assert!(state.submissions_in_epoch(3, 7).expect("read").is_empty());
        let done = state.submissions_in_epoch(3, 8).expect("read");
        assert_eq!(done[0].status, SubmissionStatus::Included);
        assert_eq!(done[0].tx_hash.as_deref(), Some(format!("0x{}", "05".repeat(32)).as_str()));
        assert_eq!(state.latest_submission().expect("latest").expect("one").block, Some(122));
        assert!(state.submission_settled(id + 1, &settle).is_err());
    }
}
