"""The Celery application: broker, routing and reliability settings in one place.

Results live in the database, not a result backend. Tasks are acknowledged
late (after they finish), so a message whose worker dies is delivered again:
at once when a pool process is killed (``task_reject_on_worker_lost``), and
after ``HTR_VISIBILITY_TIMEOUT`` seconds when the whole worker or machine goes
(Redis keeps unacknowledged messages aside until then). Every task is one
page or one document's fan-out, so the timeout only has to outlast one page,
not the longest document.
"""

from __future__ import annotations

from celery import Celery
from celery.schedules import crontab

from ..settings import Settings


def make_app(settings: Settings | None = None) -> Celery:
    s = settings or Settings.from_env()
    app = Celery("htr", broker=s.broker_url, include=["worker.queue.tasks"])
    restore_every = max(1, min(60, s.visibility_timeout // 10))
    app.conf.update(
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue="cpu",
        task_routes={name: {"queue": queue} for name, queue in s.routes.items()},
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # keep trying while the broker is down
        broker_transport_options={
            "visibility_timeout": s.visibility_timeout,
            # look for messages of dead workers every `restore_every` seconds
            "unacked_restore_interval": restore_every,
            "unacked_restore_throttle": 1,
            # the sweep's lock in Redis: a worker killed while holding it (it sweeps every few
            # seconds) must not stop everyone's sweeps for kombu's default 300 s
            "unacked_mutex_expire": max(5, min(300, s.visibility_timeout // 2)),
            "socket_timeout": 30,
            "socket_connect_timeout": 10,
            "health_check_interval": 10,
        },
        task_publish_retry=True,
        task_publish_retry_policy={"max_retries": 10, "interval_start": 0.5, "interval_step": 1.0, "interval_max": 5.0},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        broker_channel_error_retry=True,
    )
    schedule = {}
    if s.scan_url:
        schedule["nightly-scan"] = {"task": "htr.scan", "schedule": _cron(s.scan_schedule), "args": [s.scan_url]}
    if s.finetune_schedule.strip().lower() != "off":
        schedule["nightly-refresh"] = {"task": "htr.refresh", "schedule": _cron(s.finetune_schedule)}
    app.conf.beat_schedule = schedule
    return app


def _cron(spec: str) -> crontab:
    minute, hour, day, month, weekday = (spec.split() + ["*"] * 5)[:5]
    return crontab(minute=minute, hour=hour, day_of_month=day, month_of_year=month, day_of_week=weekday)


app = make_app()
