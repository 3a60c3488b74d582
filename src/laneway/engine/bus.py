"""Fan engine events out to subscribers (audit, metrics, tracing, tests).

A subscriber that raises is reported once through `errors` and never breaks a
request: observing a request must not change its outcome.
"""

from __future__ import annotations

from laneway.events import Event, Subscriber


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._wanted: frozenset[type] | None = frozenset()  # None: someone takes every kind
        self.errors: list[str] = []

    @property
    def active(self) -> bool:
        """Whether anyone listens: the engine skips building events nobody reads."""
        return bool(self._subscribers)

    def wants(self, kind: type) -> bool:
        """Whether a subscriber takes events of `kind`, for the per-request kinds that most
        subscribers ignore. A subscriber names what it takes with an `events` attribute
        (a set of event types); one without it takes everything."""
        wanted = self._wanted
        return wanted is None or kind in wanted

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)
        self._refresh()

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.remove(subscriber)
        self._refresh()

    def _refresh(self) -> None:
        wanted: set[type] = set()
        for subscriber in self._subscribers:
            kinds = getattr(subscriber, "events", None)
            if not isinstance(kinds, set | frozenset):  # names nothing (or not as a set)
                self._wanted = None
                return
            wanted.update(kinds)
        self._wanted = frozenset(wanted)

    def emit(self, event: Event) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception as exc:  # isolate observers from the request
                if len(self.errors) < 100:
                    self.errors.append(
                        f"{getattr(subscriber, '__qualname__', subscriber)}: {exc!r}"
                    )
