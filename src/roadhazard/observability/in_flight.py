"""The requests this process is serving right now, so a loop-lag warning can name suspects.

The lag monitor runs in its own task and cannot read other tasks' contextvars, where
request_context binds the request id. The metrics middleware registers each request's ASGI scope
here instead, and the id is read from scope["state"] only when a warning needs it, so it works
whether the metrics middleware runs outside or inside RequestIdMiddleware. Only the event-loop
thread touches the registry, so it needs no lock; its size is the number of requests in flight.
"""

from __future__ import annotations

from starlette.types import Scope


class InFlightRequests:
    def __init__(self) -> None:
        self._scopes: dict[int, Scope] = {}

    def add(self, scope: Scope) -> None:
        self._scopes[id(scope)] = scope

    def discard(self, scope: Scope) -> None:
        self._scopes.pop(id(scope), None)

    def __len__(self) -> int:
        return len(self._scopes)

    def request_ids(self, limit: int = 5) -> list[str]:
        """The ids of the oldest requests in flight, at most `limit` of them."""
        ids: list[str] = []
        for scope in self._scopes.values():
            if len(ids) >= limit:
                break
            state = scope.get("state")
            request_id = state.get("request_id") if isinstance(state, dict) else None
            if isinstance(request_id, str):
                ids.append(request_id)
        return ids


IN_FLIGHT = InFlightRequests()
