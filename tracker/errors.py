"""One exception root, grouped in families by pipeline step.

Every error a user can cause or a feed can trigger is a ``TrackerError``; anything else escaping
the code is a bug. ``FeedError`` subclasses carry a short machine-readable ``kind`` that is stored
in the ``fetches`` table, so a failing feed can be diagnosed with SQL.
"""

from __future__ import annotations

from collections.abc import Callable


class TrackerError(Exception):
    """Root of every error the tracker raises on purpose."""


class ConfigError(TrackerError):
    """config.yaml is missing, unreadable or holds a bad value."""


class ArticleError(TrackerError):
    """An article could not be read or registered."""


class StorageError(TrackerError):
    """The database cannot be opened or is not a tracker database."""


class NotFoundError(TrackerError):
    """A referenced article, feed or item does not exist."""


class ConflictError(TrackerError):
    """What was asked for clashes with what is stored (a feed URL of another outlet)."""


class FeedCheckError(TrackerError):
    """A URL given as a feed does not serve one (``feeds add`` fetches it once to see)."""

    def __init__(self, url: str, reason: str, announced: tuple[tuple[str, str], ...] = ()) -> None:
        self.url = url
        self.reason = reason
        #: (url, title) of the feeds the page announces, when it is a web page
        self.announced = announced
        offer = ""
        if announced:
            offer = f"; the page announces {_feeds(len(announced))}: " + ", ".join(
                u for u, _ in announced
            )
        super().__init__(f"{url}: not a feed: {reason}{offer}")


def _feeds(count: int) -> str:
    return "1 feed" if count == 1 else f"{count} feeds"


class FeedError(TrackerError):
    """A feed could not be fetched or parsed; recorded against the feed, the cycle goes on."""

    kind = "error"
    #: hard failures count towards disabling a feed; soft ones only back off
    hard = False


class FetchError(FeedError):
    kind = "fetch-error"


class InternalError(FeedError):
    """A tracker bug met on one feed's data: recorded against the feed; the cycle goes on."""

    kind = "internal"


class BlockedURLError(FetchError):
    """The URL's scheme or address is not allowed (private network, file:, …)."""

    kind = "blocked"
    hard = True


class FetchTimeoutError(FetchError):
    kind = "timeout"


class TooLargeError(FetchError):
    kind = "too-large"


class TooManyRedirectsError(FetchError):
    kind = "redirects"


class ConnectionFailedError(FetchError):
    kind = "connection"


class HTTPStatusError(FetchError):
    """The server answered with a status that carries no feed."""

    kind = "http-status"

    def __init__(self, message: str, status: int, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.hard = status in (404, 410)


class ParseError(FeedError):
    kind = "parse"


class EmptyFeedError(ParseError):
    kind = "empty"
    hard = True


class NotAFeedError(ParseError):
    """The body is HTML or some other document, not a feed."""

    kind = "not-a-feed"
    hard = True


class DigestError(TrackerError):
    """A digest was asked for a day it cannot show: one not started yet, or beyond the calendar."""


class OutputError(TrackerError):
    """An output file (a digest) could not be written; the previous file is left intact."""


class OPMLError(TrackerError):
    """A file given to import is not OPML, or lists no feed."""


class Argument(str):
    """An argument's name inside an error message (``since``, ``older_than``): the library
    names its arguments, and the CLI shows the option that sets each one instead (--since)."""


class QueryError(TrackerError):
    """A query, search, export or prune request is not valid, or would write to the database.

    The message is given in pieces, an ``Argument`` for each argument it names, so that each
    caller can name them as it takes them: ``str()`` names the arguments as the library does,
    ``worded`` as the caller says."""

    def __init__(self, *pieces: str) -> None:
        self.pieces = pieces
        super().__init__("".join(pieces))

    def worded(self, name: Callable[[str], str]) -> str:
        """The message with each argument it names given by ``name`` (the CLI: its option)."""
        return "".join(name(p) if isinstance(p, Argument) else p for p in self.pieces)

    def about(self, argument: str) -> QueryError:
        """The same error, said of ``argument``: "since: expected a time …"."""
        return QueryError(Argument(argument), ": ", *self.pieces)


class JudgementError(TrackerError):
    """A judgement cannot be made or undone: an unknown label, or an item that is not marked."""


class AlreadyRunningError(TrackerError):
    """Another ``tracker run`` holds the lock of this database."""


class ArticleNeededError(TrackerError):
    """Several articles are tracked and the request did not say which one it is about."""

    def __init__(self, article_ids: tuple[int, ...], what: str) -> None:
        self.article_ids = article_ids
        self.what = what
        super().__init__(
            f"{len(article_ids)} articles are tracked ({', '.join(map(str, article_ids))}): "
            f"{what} needs article_id to say which"
        )
