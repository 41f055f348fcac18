"""Concurrent writers on PostgreSQL: the policy's invariants hold under real races."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection

from deliverability import services
from deliverability.models import Suppression, SuppressionChange
from deliverability.services import Actor, record_bounce

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def run_together(*jobs: Callable[[], Any]) -> list[Any]:
    """Start every job at the same instant in its own thread (own connection); re-raise."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def runner(i: int, job: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[i] = job()
        except BaseException as error:
            results[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def hard(email: str, event_id: str, minutes: int = 0) -> Callable[[], services.RecordedBounce]:
    return lambda: record_bounce(
        email=email,
        source="api:platform",
        source_event_id=event_id,
        occurred_at=NOW + timedelta(minutes=minutes),
        event_type="hard",
        reason="mailbox_not_found",
        sender_side=False,
        message_id=f"<{event_id}>",
    )


def test_simultaneous_bounces_for_one_address_create_one_active_suppression() -> None:
    results = run_together(*(hard("race@example.com", f"e{i}") for i in range(8)))
    assert not [r for r in results if isinstance(r, BaseException)]
    assert Suppression.objects.active().filter(email="race@example.com").count() == 1
    assert sum(r.suppression is not None for r in results) == 1
    assert SuppressionChange.objects.filter(email="race@example.com").count() == 1


def test_simultaneous_retries_of_one_event_store_it_once() -> None:
    results = run_together(*(hard("race@example.com", "same") for _ in range(6)))
    assert not [r for r in results if isinstance(r, BaseException)]
    assert sum(r.created for r in results) == 1


def test_a_lift_racing_a_new_hard_bounce_ends_suppressed(lead: Any) -> None:
    actor = Actor.of(lead)
    for round_ in range(6):
        email = f"lift{round_}@example.com"
        hard(email, f"{round_}-first")()
        seen = Suppression.objects.active().get(email=email)

        def lift(seen: Suppression = seen) -> Any:
            return services.lift_suppression(
                suppression=seen, actor=actor, note="owner says fixed", expected_updated_at=seen.updated_at
            )

        results = run_together(lift, hard(email, f"{round_}-second", minutes=5))
        assert not [
            r for r in results if not isinstance(r, services.AlreadyDecided | Suppression | services.RecordedBounce)
        ]
        assert Suppression.objects.active().filter(email=email).count() == 1, f"round {round_}: {results}"


def test_a_reader_following_the_change_log_misses_nothing() -> None:
    writers, per_writer = 6, 15
    done = threading.Event()
    seen: list[int] = []

    def write(w: int) -> Callable[[], None]:
        def job() -> None:
            for i in range(per_writer):
                hard(f"user@w{w}-{i}.example", f"w{w}-{i}")()  # one domain each: no incident

        return job

    def read() -> None:
        last = 0
        while True:
            finished = done.is_set()
            batch = list(SuppressionChange.objects.filter(id__gt=last).order_by("id").values_list("id", flat=True))
            seen.extend(batch)
            last = batch[-1] if batch else last
            if finished and not batch:
                return

    def writers_then_done() -> None:
        results = run_together(*(write(w) for w in range(writers)))
        done.set()
        errors = [r for r in results if isinstance(r, BaseException)]
        assert not errors, errors

    def read_then_close() -> None:
        read()
        connection.close()

    reader = threading.Thread(target=read_then_close)
    reader.start()
    writers_then_done()
    reader.join(timeout=60)
    all_ids = list(SuppressionChange.objects.order_by("id").values_list("id", flat=True))
    assert len(all_ids) == writers * per_writer
    assert seen == all_ids
