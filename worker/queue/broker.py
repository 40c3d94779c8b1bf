"""What the broker (Redis, kombu's transport) holds: the steps of the messages
waiting in the queues and of those workers took and have not acknowledged.

A worker takes a message with BRPOP, which removes it from its queue, and
then records it in the ``unacked`` hash: a worker killed between the two
(the reply already in its socket) takes the message with it, and nothing in
Redis brings it back. ``delivery.recover`` compares these steps with the
work the database says is left, and queues again what is missing.
"""

from __future__ import annotations

import base64
import json

STAGES = {"htr.start": "start", "htr.segment": "segment", "htr.recognize": "recognize"}

Step = tuple[int, str, int]  # (document, stage, page); page -1 for the whole document


def message_step(raw: bytes | str) -> Step | None:
    """The step of one message as kombu stores it: the message itself in a
    queue, or ``[message, exchange, routing key]`` in ``unacked``; None for
    any other task or a message that cannot be read."""
    try:
        msg = json.loads(raw)
        if isinstance(msg, list):
            msg = msg[0]
        stage = STAGES.get(msg["headers"]["task"])
        if stage is None:
            return None
        body = msg["body"]
        if msg.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]  # Celery's message protocol 2: [args, kwargs, embed]
        return (int(args[0]), stage, -1 if stage == "start" else int(args[1]))
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def held_steps(channel, queues: set[str], chunk: int = 500) -> set[Step]:
    """The steps of the messages in ``queues`` (every priority level) and in
    ``unacked``, read through a kombu Redis ``channel``. A queue is read from
    its producing end, so messages pushed or taken meanwhile shift nothing
    unread out of reach; the unacknowledged ones are read last, so a message
    taken from a queue during the read is found there."""
    client = channel.client
    found: set[Step] = set()
    for queue in sorted(queues):
        for key in {channel._q_for_pri(queue, pri) for pri in channel.priority_steps}:
            start = 0
            while batch := client.lrange(key, start, start + chunk - 1):
                found.update(s for raw in batch if (s := message_step(raw)) is not None)
                start += chunk
    for _tag, raw in client.hscan_iter(channel.unacked_key, count=chunk):
        if (s := message_step(raw)) is not None:
            found.add(s)
    return found
