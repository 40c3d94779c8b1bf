"""The orchestration core: plain functions that both runners call.

``htr process`` runs a document through :func:`process_document` in this
process (:func:`read_document` without a database: ``htr process --no-db``); the Celery tasks (``worker.queue.tasks``) run the same steps one
page per task. Both read pages through ``io.documents.PageSource``, prepare
them with :func:`prepare_page`, recognize them with :func:`recognize_pages`,
store them with :func:`store_page` (which alone decides that a document is
done) and judge errors with :func:`classify`.
"""

from .errors import TRANSIENT, Action, Verdict, classify
from .inprocess import process_document, read_document
from .lifecycle import (
    begin_document,
    fail_document,
    finish_document,
    model_version,
    register_document,
    sha256_file,
    store_page,
    stored_pages,
)
from .pages import PageWork, prepare_page, recognize_pages, save_page_image, segment

__all__ = [
    "TRANSIENT",
    "Action",
    "PageWork",
    "Verdict",
    "begin_document",
    "classify",
    "fail_document",
    "finish_document",
    "model_version",
    "prepare_page",
    "process_document",
    "read_document",
    "recognize_pages",
    "register_document",
    "save_page_image",
    "segment",
    "sha256_file",
    "store_page",
    "stored_pages",
]
