"""Fan engine events out to subscribers (audit, metrics, tracing, tests).

A subscriber that raises is reported once through `errors` and never breaks a
request: observing a request must not change its outcome.

A subscriber may name the event kinds it takes with an `events` attribute (a
set of event types); it is then called only with those, and the engine need
not build the others. One that names none takes everything.
"""

from __future__ import annotations

from typing import get_args

from laneway.events import Event, Subscriber

#: the kinds the engine emits, each routed to the subscribers that take it
_KINDS: tuple[type, ...] = get_args(Event)


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._wanted: frozenset[type] | None = frozenset()  # None: someone takes every kind
        #: per event kind, the subscribers that take it (in subscription order)
        self._routes: dict[type, tuple[Subscriber, ...]] = {}
        self.errors: list[str] = []

    @property
    def active(self) -> bool:
        """Whether anyone listens: the engine skips building events nobody reads."""
        return bool(self._subscribers)

    def wants(self, kind: type) -> bool:
        """Whether a subscriber takes events of `kind`, for the per-request kinds that most
        subscribers ignore."""
        wanted = self._wanted
        return wanted is None or kind in wanted

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)
        self._refresh()

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.remove(subscriber)
        self._refresh()

    def _refresh(self) -> None:
        named = [(subscriber, _kinds(subscriber)) for subscriber in self._subscribers]
        self._routes = {
            kind: tuple(s for s, kinds in named if kinds is None or kind in kinds)
            for kind in _KINDS
        }
        wanted: set[type] = set()
        for _, kinds in named:
            if kinds is None:
                self._wanted = None
                return
            wanted.update(kinds)
        self._wanted = frozenset(wanted)

    def emit(self, event: Event) -> None:
        # a kind of event the bus was not told of (a subclass) goes to everyone
        for subscriber in self._routes.get(type(event), self._subscribers):
            try:
                subscriber(event)
            except Exception as exc:  # isolate observers from the request
                if len(self.errors) < 100:
                    self.errors.append(
                        f"{getattr(subscriber, '__qualname__', subscriber)}: {exc!r}"
                    )


def _kinds(subscriber: Subscriber) -> frozenset[type] | None:
    """The kinds `subscriber` names, or None when it names none (or not as a set)."""
    kinds = getattr(subscriber, "events", None)
    return frozenset(kinds) if isinstance(kinds, set | frozenset) else None
