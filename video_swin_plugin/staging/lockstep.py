"""Batched streaming: several recordings staged in lockstep, one clip of each per forward.

Each unit of work (a session) runs as a generator that yields a request whenever it needs the
model and is sent the answer (or has the forward's error thrown into it). :func:`lockstep`
keeps up to ``batch`` of them active, answers all their requests with one call of ``step``,
and starts the next unit in a slot as soon as one ends, so the device always sees full batches
while recordings of any length come and go. With ``batch=1`` it is the plain loop.
"""
from collections import deque
from typing import Callable, Generator, Iterable, List, Sequence, Tuple

Steps = Generator  # yields requests, is sent answers, returns True to stop the run


def lockstep(units: Iterable, start: Callable[[object], Steps],
             step: Callable[[Sequence], Sequence], batch: int,
             errors: Tuple[type, ...] = (OSError, ValueError, RuntimeError)) -> bool:
    """Run ``start(unit)`` for every unit, ``batch`` at a time; ``step(requests)`` answers one
    request of each active generator. An error of ``step`` (of the ``errors`` types) is thrown
    into every generator it concerned. Once a generator returns True no new unit is started
    (the others finish their requests as they decide). Returns whether one returned True."""
    queue, active, stopped = deque(units), [], False

    def advance(steps: Steps, value) -> None:
        nonlocal stopped
        try:
            request = steps.throw(value) if isinstance(value, BaseException) else \
                steps.send(value)
        except StopIteration as done:
            stopped = stopped or bool(done.value)
            return
        active.append((steps, request))

    while queue or active:
        while len(active) < batch and queue and not stopped:
            advance(start(queue.popleft()), None)
        if not active:
            if stopped:
                break
            continue
        try:
            answers: List = list(step([request for _, request in active]))
        except errors as e:
            answers = [e] * len(active)
        current, active[:] = list(active), []
        for (steps, _), answer in zip(current, answers):
            advance(steps, answer)
    return stopped
