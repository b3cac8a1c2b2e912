//! The faults on a schedule, drawn from the seed before the run: at which block each
//! validator and miner is killed, how long a validator stays down, and when the validator's
//! disk is full. The same seed gives the same schedule.

use crate::proxy::Dice;

/// One scheduled fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// SIGKILL validator `index`, restarted `down` blocks later.
    KillValidator { index: usize, down: u64 },
    /// SIGKILL miner `index`, restarted for the next window.
    KillMiner { index: usize },
    /// Fill validator 0's data disk; freed `blocks` blocks later.
    FillDisk { blocks: u64 },
}

/// The run's shape.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    /// First block of the first window processed.
    pub(crate) first_block: u64,
    /// Block after the last window.
    pub(crate) end_block: u64,
    pub(crate) blocks_per_window: u64,
    pub(crate) validators: usize,
    pub(crate) miners: usize,
    /// Whether the disk fault can be injected.
    pub(crate) disk: bool,
}

/// Events by the block they happen at, in block order.
pub(crate) fn draw(shape: Shape, dice: &Dice) -> Vec<(u64, Event)> {
    let b = shape.blocks_per_window;
    let (start, end) = (shape.first_block + b / 2, shape.end_block.saturating_sub(b));
    let mut events = Vec::new();
    for index in 0..shape.validators {
        let mut at = start + dice.between(0, 2 * b);
        while at < end {
            events.push((at, Event::KillValidator { index, down: dice.between(1, 2 * b) }));
            at += dice.between(3 * b, 5 * b);
        }
    }
    if shape.miners > 0 {
        let mut at = start + dice.between(0, b);
        while at < end {
            let index = dice.between(0, shape.miners as u64 - 1) as usize;
            events.push((at, Event::KillMiner { index }));
            at += dice.between((b / 3).max(1), b);
        }
    }
    if shape.disk {
        for half in [0, 1] {
            let span = (end.saturating_sub(start) / 2).max(1);
            let at = start + half * span + dice.between(0, span / 2);
            events.push((at, Event::FillDisk { blocks: dice.between(b / 2, 2 * b) }));
        }
    }
    events.sort_by_key(|(at, _)| *at);
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_one_schedule_inside_the_run_with_every_kind() {
        let shape = Shape {
            first_block: 120,
            end_block: 120 + 20 * 12,
            blocks_per_window: 12,
            validators: 2,
            miners: 32,
            disk: true,
        };
        let a = draw(shape, &Dice::new(9));
        assert_eq!(a, draw(shape, &Dice::new(9)));
        assert_ne!(a, draw(shape, &Dice::new(10)));
        assert!(a.windows(2).all(|p| p[0].0 <= p[1].0), "in block order");
        assert!(a.iter().all(|(at, _)| (126..348).contains(at)), "{a:?}");
        let kills = |v| {
            a.iter()
                .filter(|(_, e)| matches!(e, Event::KillValidator { index, .. } if *index == v))
                .count()
        };
        assert!(kills(0) >= 3 && kills(1) >= 3, "{a:?}");
        assert!(a.iter().filter(|(_, e)| matches!(e, Event::KillMiner { .. })).count() >= 20);
        assert_eq!(a.iter().filter(|(_, e)| matches!(e, Event::FillDisk { .. })).count(), 2);
        let no_disk = draw(Shape { disk: false, ..shape }, &Dice::new(9));
        assert!(no_disk.iter().all(|(_, e)| !matches!(e, Event::FillDisk { .. })));
    }
}
