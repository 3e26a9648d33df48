"""The shared engine's log, per editor: records go to the connection that logged them."""

from __future__ import annotations

import asyncio
import logging

import pytest

from codehearth.shared import editor_log


@pytest.fixture
def forwarder():
    root = logging.getLogger()
    level = root.level
    handler = editor_log.EditorLogHandler()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


async def _connection(name: str, level: int, sent: list[str], ready: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    token = editor_log.open_connection(loop, sent.append, level)
    try:
        log = logging.getLogger(f"codehearth.test.{name}")
        log.debug("%s debug", name)
        log.warning("%s warning", name)
        # A task the connection's handler starts belongs to the same editor.
        await asyncio.create_task(_child(log, name))
        await asyncio.to_thread(log.warning, "%s from a thread", name)
        logging.getLogger("pygls.protocol").warning("%s pygls quoting code", name)
        await asyncio.sleep(0.05)
    finally:
        editor_log.CURRENT_EDITOR.reset(token)
        ready.set()


async def _child(log: logging.Logger, name: str) -> None:
    log.warning("%s child task", name)


async def test_each_editor_gets_its_own_records_at_its_own_level(forwarder):
    debug_sent: list[str] = []
    warn_sent: list[str] = []
    done_a, done_b = asyncio.Event(), asyncio.Event()
    await asyncio.gather(
        _connection("a", logging.DEBUG, debug_sent, done_a),
        _connection("b", logging.WARNING, warn_sent, done_b),
    )
    logging.getLogger("codehearth.test").warning("outside any connection")
    await asyncio.sleep(0.05)

    assert any("a debug" in line for line in debug_sent)
    assert not any("b debug" in line for line in warn_sent)  # below b's level
    for name, sent in (("a", debug_sent), ("b", warn_sent)):
        text = "\n".join(sent)
        assert f"{name} warning" in text and f"{name} child task" in text
        assert f"{name} from a thread" in text
        assert "pygls" not in text  # never forwarded (it quotes the user's code)
        assert "outside any connection" not in text
    assert "codehearth.test.b" not in "\n".join(debug_sent)
    assert "codehearth.test.a" not in "\n".join(warn_sent)


async def test_a_failing_send_is_swallowed(forwarder):
    def broken(_text: str) -> None:
        raise ConnectionResetError("the editor left")

    token = editor_log.open_connection(asyncio.get_running_loop(), broken, logging.INFO)
    try:
        logging.getLogger("codehearth.test").warning("to nobody")
        await asyncio.sleep(0.01)  # the send runs on the loop and must not raise here
    finally:
        editor_log.CURRENT_EDITOR.reset(token)


def test_levels_parse_with_a_default():
    assert editor_log.parse_level("debug") == logging.DEBUG
    assert editor_log.parse_level("WARNING") == logging.WARNING
    assert editor_log.parse_level(None) == logging.WARNING
    assert editor_log.parse_level("loud") == logging.WARNING


async def test_a_job_run_on_the_worker_thread_logs_for_the_editor_that_asked(forwarder):
    # Prompt building and generation run on the engine's worker thread, not in the
    # connection's task: the job carries the asker's context there.
    import threading

    from codehearth.engine.jobs import Job

    sent: list[str] = []
    token = editor_log.open_connection(asyncio.get_running_loop(), sent.append, logging.DEBUG)
    try:
        job = Job(run=lambda _s, _j: logging.getLogger("codehearth.test.job").debug("in job"))
    finally:
        editor_log.CURRENT_EDITOR.reset(token)
    worker = threading.Thread(target=job.context.run, args=(job.run, None, job))
    worker.start()
    worker.join()
    await asyncio.sleep(0.05)
    assert any("in job" in line for line in sent), sent
