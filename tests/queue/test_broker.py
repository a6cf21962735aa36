"""The broker side of the queue against the session's real Redis: what is waiting, and the one kombu internal."""

from __future__ import annotations

import uuid

from services.queue import broker


def test_waiting_task_ids_sees_every_waiting_message_whatever_its_priority():
    # A queue of this test's own: the session's worker consumes the `gpu` queue.
    queue = f"test-{uuid.uuid4().hex[:8]}"
    app = broker.get_app()
    sent = {f"probe-{uuid.uuid4().hex[:8]}-{priority}": priority for priority in (0, 4, 9)}
    for message_id, priority in sent.items():
        app.send_task(broker.TASK_NAME, args=[0], queue=queue, task_id=message_id, priority=priority)
    try:
        assert broker.waiting_task_ids(queue) == set(sent)
    finally:
        with app.connection_for_write() as connection:
            channel = connection.default_channel
            channel.client.delete(*broker.queue_lists(channel, queue))

    assert broker.waiting_task_ids(queue) == set()


def test_queue_lists_name_one_redis_list_per_priority_step():
    with broker.get_app().connection_for_read() as connection:
        channel = connection.default_channel
        lists = broker.queue_lists(channel, "gpu")

    assert lists[0] == "gpu" and len(lists) == len(set(lists)) == len(channel.priority_steps) > 1
