"""Rate limits per adapter and per citizen, as pure token buckets with an injectable clock."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]  # seconds, monotonic


class TokenBucket:
    """Holds up to ``capacity`` tokens and refills ``rate`` tokens per second."""

    def __init__(self, capacity: float, rate: float, clock: Clock) -> None:
        if capacity <= 0 or rate <= 0:
            raise ValueError("a token bucket needs a positive capacity and refill rate")
        self.capacity = capacity
        self.rate = rate
        self._clock = clock
        self._tokens = capacity
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        # A clock that steps back (it should not) must not drain the bucket.
        elapsed = max(0.0, now - self._stamp)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._stamp = now

    def available(self) -> float:
        self._refill()
        return self._tokens

    def try_take(self, tokens: float = 1.0) -> bool:
        self._refill()
        if self._tokens >= tokens:
            self._tokens -= tokens
            return True
        return False

    def give_back(self, tokens: float = 1.0) -> None:
        """Tokens taken for something that then cost nothing go back (never over capacity)."""
        self._refill()
        self._tokens = min(self.capacity, self._tokens + tokens)

    def retry_after(self, tokens: float = 1.0) -> float:
        """Seconds until ``tokens`` will be available (0 when they already are)."""
        self._refill()
        return max(0.0, (tokens - self._tokens) / self.rate)


class KeyedRateLimiter:
    """One bucket per key, remembering at most ``max_keys`` keys (least recently used go first:
    a forgotten key starts again with a full bucket, which errs on the side of serving people)."""

    def __init__(self, capacity: float, rate: float, clock: Clock, max_keys: int = 100_000) -> None:
        self.capacity, self.rate, self._clock, self._max = capacity, rate, clock, max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def bucket(self, key: str) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self.capacity, self.rate, self._clock)
            self._buckets[key] = bucket
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limited_by: str | None = None  # "adapter" or "citizen"
    retry_after_seconds: float = 0.0


class SubmissionThrottle:
    """Admits a submission only if both the adapter's and the citizen's buckets have a token.

    Defaults: an adapter may burst 1,000 and sustain 600/s (the hotline's peak with headroom);
    a citizen may burst 5 and then send one every 2 minutes. Anonymous submissions count
    against the adapter only.
    """

    def __init__(self, clock: Clock, *, adapter_capacity: float = 1000, adapter_rate: float = 600,
                 citizen_capacity: float = 5, citizen_rate: float = 1 / 120) -> None:
        self.adapters = KeyedRateLimiter(adapter_capacity, adapter_rate, clock)
        self.citizens = KeyedRateLimiter(citizen_capacity, citizen_rate, clock)

    def admit(self, adapter_id: str, citizen: str | None) -> RateDecision:
        adapter_bucket = self.adapters.bucket(adapter_id)
        citizen_bucket = self.citizens.bucket(citizen) if citizen else None
        if adapter_bucket.available() < 1:
            return RateDecision(False, "adapter", adapter_bucket.retry_after())
        if citizen_bucket is not None and citizen_bucket.available() < 1:
            return RateDecision(False, "citizen", citizen_bucket.retry_after())
        # Take from both only once both have room, so a refusal costs nobody a token.
        adapter_bucket.try_take()
        if citizen_bucket is not None:
            citizen_bucket.try_take()
        return RateDecision(True)

    def citizen_replayed(self, citizen: str) -> None:
        """The citizen's token taken for a submission that made nothing goes back: it was an
        adapter's retry of a request already stored (answered with that request's ticket), no
        new request of the citizen's."""
        self.citizens.bucket(citizen).give_back()
