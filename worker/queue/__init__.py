"""The queue: the Celery app (``app``), tasks (``tasks``), delivery bookkeeping
(``delivery``), micro-batching of recognition (``batching``), a worker process's
runtime (``runtime``) and producing and watching work (``jobs``)."""
