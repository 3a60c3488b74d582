"""Fan engine events out to subscribers (audit, metrics, tracing, tests).

A subscriber that raises is reported once through `errors` and never breaks a
request: observing a request must not change its outcome.
"""

from __future__ import annotations

from laneway.events import Event, Subscriber


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self.errors: list[str] = []

    @property
    def active(self) -> bool:
        """Whether anyone listens: the engine skips building events nobody reads."""
        return bool(self._subscribers)

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.remove(subscriber)

    def emit(self, event: Event) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(event)
            except Exception as exc:  # isolate observers from the request
                if len(self.errors) < 100:
                    self.errors.append(
                        f"{getattr(subscriber, '__qualname__', subscriber)}: {exc!r}"
                    )
