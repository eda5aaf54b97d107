"""The viewer's one worker base (viewer.tasks.Worker): how every long job ends, as the GUI hears it."""

from __future__ import annotations

import pytest

from inference.jobs import Job
from inference.loading import LoadCancelled
from viewer.tasks import PROGRESS_STEPS, Worker


class Scripted(Worker):
    expected = (LookupError,)

    def __init__(self, body) -> None:
        super().__init__()
        self.body = body

    def work(self) -> None:
        self.body(self)


def _run(qtbot, body) -> tuple[Scripted, list]:
    heard: list = []
    worker = Scripted(body)
    worker.progress.connect(lambda *args: heard.append(("progress", *args)))
    worker.failed.connect(lambda message: heard.append(("failed", message)))
    worker.stopped.connect(lambda message: heard.append(("stopped", message)))
    with qtbot.waitSignal(worker.finished, timeout=10000):
        worker.start()
    qtbot.wait(10)  # queued signals sent just before finished
    return worker, heard


def test_progress_comes_in_a_progress_bars_terms(qtbot):
    def body(worker: Worker) -> None:
        worker.report_count(3, 12)
        Job(worker.report_fraction).part(0.5, 1.0).report(0.5, "classifying")

    worker, heard = _run(qtbot, body)
    assert heard == [("progress", 3, 12, ""), ("progress", 3 * PROGRESS_STEPS // 4, PROGRESS_STEPS, "classifying")]
    assert not worker.cancelled


@pytest.mark.parametrize("error, said", [(KeyError("no such model"), "'no such model'"),
                                         (ValueError("bad"), "ValueError: bad")])
def test_an_expected_failure_is_said_as_it_is_any_other_with_its_type(qtbot, error, said):
    def body(worker: Worker) -> None:
        raise error

    worker, heard = _run(qtbot, body)
    assert heard == [("failed", said)] and not worker.cancelled


def test_cancel_reaches_the_core_and_ends_the_job_quietly(qtbot):
    def body(worker: Worker) -> None:
        worker.cancel()
        Job(cancel=worker.cancel_event).check()

    worker, heard = _run(qtbot, body)
    assert worker.cancelled and heard == [("stopped", "cancelled by the user")]


def test_the_loaders_cancel_is_a_cancel_too(qtbot):
    def body(worker: Worker) -> None:
        raise LoadCancelled("loading was cancelled")

    worker, heard = _run(qtbot, body)
    assert worker.cancelled and heard == [("stopped", "loading was cancelled")]
