"""The packet worker the recorder and the renditions share (streams/packet_worker.py), on the packets of a real
H.264 file: a full queue drops up to the next keyframe (with the owner's marker before it), a control item is
never lost, what is queued at the stop is done or dropped as the owner says, and a bug in the work ends the
thread through the owner's callbacks.
"""

from __future__ import annotations

import sys

import pytest

from streams.devserver.clips import synthetic_clip
from streams.packet_worker import PacketWorker
from streams.source import TimedPacket
from tests.conftest import wait_until
from tests.streams_helpers import timed_packets

Item = TimedPacket | str


@pytest.fixture(scope="module")
def packets(tmp_path_factory: pytest.TempPathFactory) -> list[TimedPacket]:
    clip = synthetic_clip(tmp_path_factory.mktemp("worker") / "gop10.mp4", width=320, height=180, fps=25, gop=10,
                          seconds=2)
    found = list(timed_packets(clip))
    assert [n for n, p in enumerate(found) if p.keyframe][:3] == [0, 10, 20]
    return found


class Owner:
    """What a recorder or a rendition gives the worker: the handler and the two callbacks, recorded."""

    def __init__(self, *, fail_on: str | None = None) -> None:
        self.handled: list[Item] = []
        self.failures: list[BaseException | None] = []
        self.finished = 0
        self.fail_on = fail_on

    def handle(self, item: Item) -> None:
        if item == self.fail_on:
            raise RuntimeError("a bug in the work")
        self.handled.append(item)

    def failed(self) -> None:
        self.failures.append(sys.exc_info()[1])

    def finish(self) -> None:
        self.finished += 1

    def worker(self, capacity: int, *, drain: bool = True, marker: str | None = None) -> PacketWorker[str]:
        return PacketWorker("test", capacity, self.handle, failed=self.failed, finish=self.finish,
                            drain_on_stop=drain, resume_marker=marker)


def test_a_full_queue_drops_to_the_next_keyframe_and_marks_the_hole(packets: list[TimedPacket]) -> None:
    owner = Owner()
    worker = owner.worker(8, marker="overrun")
    for item in packets[:10]:  # 8 fit; 8 finds the queue full, 9 is no keyframe: both dropped
        worker.offer(item)
    assert worker.dropped == 2
    worker.start()
    assert wait_until(lambda: len(owner.handled) == 8, 5)
    for item in packets[10:15]:  # 10 is a keyframe: the marker goes first, then the packets again
        worker.offer(item)
    assert wait_until(lambda: len(owner.handled) == 14, 5)
    worker.stop(5)
    assert owner.handled == [*packets[:8], "overrun", *packets[10:15]]
    assert worker.dropped == 2 and owner.finished == 1 and owner.failures == [] and not worker.running


def test_a_control_item_is_never_lost_and_a_new_connection_stops_the_skip(packets: list[TimedPacket]) -> None:
    owner = Owner()
    worker = owner.worker(8, marker="overrun")
    for item in packets[:9]:  # the 9th is dropped: skipping to the next keyframe
        worker.offer(item)
    worker.put_control("epoch")  # the queue is full: the oldest packet makes room
    worker.reset_skip()  # a new connection: its next packet is taken whatever it is
    worker.stop(0)
    worker.start()  # told to stop before it started: it only drains
    assert wait_until(lambda: not worker.running, 5)
    assert owner.handled == [*packets[1:8], "epoch"]
    assert worker.dropped == 2


@pytest.mark.parametrize("drain", [True, False])
def test_what_is_queued_at_the_stop_is_done_or_dropped_as_the_owner_says(packets: list[TimedPacket],
                                                                        drain: bool) -> None:
    owner = Owner()
    worker = owner.worker(50, drain=drain)
    for item in packets[:20]:
        worker.offer(item)
    worker.stop(0)
    worker.start()
    assert wait_until(lambda: not worker.running, 5)
    assert owner.handled == (packets[:20] if drain else [])
    assert owner.finished == 1 and worker.cpu_seconds >= 0


def test_a_bug_in_the_work_ends_the_thread_through_the_owners_callbacks(packets: list[TimedPacket]) -> None:
    owner = Owner(fail_on="boom")
    worker = owner.worker(50)
    worker.start()
    worker.offer(packets[0])
    worker.put_control("boom")
    worker.offer(packets[1])
    assert wait_until(lambda: not worker.running, 5)
    assert owner.handled == [packets[0]]
    assert [type(e) for e in owner.failures] == [RuntimeError]  # called inside the except: it may log the trace
    assert owner.finished == 1
