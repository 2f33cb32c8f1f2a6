"""The driver's per-ticket waits: woken by their own ticket's news only, and only when it
satisfies them."""

import asyncio

from tools.simulator.drive.waiting import LatestByTicket


def test_a_wait_ends_on_its_own_tickets_value_that_satisfies_it() -> None:
    async def scenario() -> None:
        board: LatestByTicket[int] = LatestByTicket()
        waiting = asyncio.ensure_future(board.wait_for("a", lambda n: n > 1, timeout=5))
        await asyncio.sleep(0)
        board.put("b", 5)       # another ticket's news
        board.put("a", 1)       # its own, not yet enough
        await asyncio.sleep(0)
        assert not waiting.done()
        board.put("a", 2)
        assert await waiting == 2
        assert board._waiters == {}

    asyncio.run(scenario())


def test_a_value_already_there_answers_at_once_and_a_timeout_gives_none() -> None:
    async def scenario() -> None:
        board: LatestByTicket[int] = LatestByTicket()
        board.put("a", 3)
        assert await board.wait_for("a", lambda n: n >= 3, timeout=5) == 3
        assert await board.wait_for("a", lambda n: n > 3, timeout=0.01) is None
        assert await board.wait_for("z", lambda n: True, timeout=0.01) is None
        assert board._waiters == {}

    asyncio.run(scenario())
