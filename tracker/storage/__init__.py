"""All SQL lives here: the database, its schema and migrations, and one module per concern.

``Store`` is the read-write store, assembled from one part per concern (as lemon24/reader
assembles its storage): ``feeds`` (outlets, feeds and their poll state), ``items`` (items, keys,
versions, sightings), ``articles`` (tracked articles and their links), ``judgements`` (the
analyst's labels for items, and the one place a link is written, under them), ``stories``,
``digest`` (the digest's reads), ``search`` (time zone and full-text search), ``prune``
(retention), ``remove`` (removing a feed or an article), ``alerts`` (what to alert, what was
sent) and ``service_log`` (the service's runs and cycles).
``base`` holds the connection and transactions, ``schema`` the migrations, ``views`` the SQL of
the query views they create,
``readonly`` the connection for user SQL.
"""

from __future__ import annotations

from .alerts import AlertsMixin
from .articles import ArticlesMixin
from .base import APPLICATION_ID, BUSY_TIMEOUT_MS, StoreBase, storage_error
from .digest import DigestMixin
from .feeds import FeedsMixin
from .items import ItemsMixin
from .judgements import JudgedText, JudgementsMixin, check_label, is_marked_reason, judged
from .prune import LOG_TABLES, PRUNED_TABLES, PruneMixin
from .readonly import ReadOnlyStore, Rows
from .remove import ARTICLE_REMOVAL_COUNTS, FEED_REMOVAL_COUNTS, RemoveMixin
from .rows import StoredArticle, from_db, to_db
from .search import SearchMixin
from .service_log import ServiceLogMixin
from .stories import StoriesMixin


class Store(
    FeedsMixin,
    ItemsMixin,
    ArticlesMixin,
    JudgementsMixin,
    StoriesMixin,
    DigestMixin,
    SearchMixin,
    RemoveMixin,
    PruneMixin,
    AlertsMixin,
    ServiceLogMixin,
    StoreBase,
):
    """The tracker's database, read and written by one connection (see ``base``)."""


__all__ = [
    "APPLICATION_ID",
    "ARTICLE_REMOVAL_COUNTS",
    "BUSY_TIMEOUT_MS",
    "FEED_REMOVAL_COUNTS",
    "LOG_TABLES",
    "PRUNED_TABLES",
    "JudgedText",
    "ReadOnlyStore",
    "Rows",
    "Store",
    "StoredArticle",
    "check_label",
    "from_db",
    "is_marked_reason",
    "judged",
    "storage_error",
    "to_db",
]
