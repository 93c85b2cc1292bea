"""Finding the provider route of a request: what the server and the recording proxy's journal
share."""

from __future__ import annotations

import re
from collections.abc import Mapping

from llmfake.providers._base import ProviderSpec, Route


class Router:
    """Finds the route for a method and a path."""

    def __init__(self, providers: tuple[ProviderSpec, ...]) -> None:
        self.exact: dict[tuple[str, str], list[tuple[Route, ProviderSpec]]] = {}
        self.patterns: list[tuple[str, re.Pattern[str], Route, ProviderSpec]] = []
        routes = [(r, p) for p in providers for r in p.routes]
        routes.sort(key=lambda rp: rp[0].accepts is None)  # conditional routes first
        for route, provider in routes:
            if "{" in route.pattern:
                regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(route.pattern))
                self.patterns.append((route.method, re.compile(regex + r"\Z"), route, provider))
            else:
                self.exact.setdefault((route.method, route.pattern), []).append((route, provider))
        self.plain: dict[tuple[str, str], tuple[Route, ProviderSpec]] = {
            key: found[0] for key, found in self.exact.items()
            if found[0][0].accepts is None and found[0][0].plain is not None}
        """The routes that answer plain requests (``Route.plain``), by method and path: exact
        ones that win whatever the headers say."""

    def find(self, method: str, path: str, headers: Mapping[str, str]
             ) -> tuple[Route, ProviderSpec, dict[str, str]] | None:
        """The route, its provider and the path parameters, or None."""
        for route, provider in self.exact.get((method, path), ()):
            if route.accepts is None or route.accepts(headers):
                return route, provider, {}
        for m, regex, route, provider in self.patterns:
            if m == method and (route.accepts is None or route.accepts(headers)):
                match = regex.match(path)
                if match:
                    return route, provider, match.groupdict()
        return None
