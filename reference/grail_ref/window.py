"""Window arithmetic and the chain clock (spec section 3). All u64; overflow is an error."""

from .errors import ProtocolError
from .hashing import U64_MAX


def _add(a: int, b: int) -> int:
    r = a + b
    if r > U64_MAX:
        raise ProtocolError("u64 overflow")
    return r


def _mul(a: int, b: int) -> int:
    r = a * b
    if r > U64_MAX:
        raise ProtocolError("u64 overflow")
    return r


def _div(a: int, b: int) -> int:
    if b == 0:
        raise ProtocolError("division by zero")
    return a // b


class Network:
    def __init__(self, blocks_per_window, block_time_s, grace_period_s, challenge_buffer_s, genesis_unix):
        self.L = blocks_per_window
        self.block_time_s = block_time_s
        self.grace_period_s = grace_period_s
        self.challenge_buffer_s = challenge_buffer_s
        self.genesis_unix = genesis_unix

    def window_of_block(self, b: int) -> int:
        return _div(b, self.L)

    def first_block_of_window(self, w: int) -> int:
        return _mul(w, self.L)

    def block_start(self, b: int) -> int:
        return _add(self.genesis_unix, _mul(b, self.block_time_s))

    def block_at(self, t: int):
        """None before genesis."""
        if t < self.genesis_unix:
            return None
        return _div(t - self.genesis_unix, self.block_time_s)

    def window_at(self, t: int):
        b = self.block_at(t)
        return None if b is None else self.window_of_block(b)

    def window_start(self, w: int) -> int:
        return self.block_start(self.first_block_of_window(w))

    def upload_deadline(self, w: int) -> int:
        return _add(self.window_start(_add(w, 1)), self.grace_period_s)

    def challenge_time(self, w: int) -> int:
        return _add(self.upload_deadline(w), self.challenge_buffer_s)


def round_at(genesis_time: int, period: int, t: int) -> int:
    """drand's round clock: floor((t - genesis_time) / period) + 1; an error before genesis."""
    if t < genesis_time:
        raise ProtocolError("before the drand genesis")
    return _add(_div(t - genesis_time, period), 1)


def schedule(net: "Network", w: int, drand_genesis: int, drand_period: int) -> dict:
    """WindowSchedule::of(w): the times of window w and its mining and challenge rounds."""
    start = net.window_start(w)
    challenge = net.challenge_time(w)
    return {
        "first_block": net.first_block_of_window(w),
        "start_unix": start,
        "deadline_unix": net.upload_deadline(w),
        "challenge_unix": challenge,
        "mining_round": round_at(drand_genesis, drand_period, start),
        "challenge_round": round_at(drand_genesis, drand_period, challenge),
    }
