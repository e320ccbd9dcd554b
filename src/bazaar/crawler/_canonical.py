"""URL canonicalisation: one spelling per resource, so the seen-set sees duplicates.

Built on w3lib's ``canonicalize_url`` (Scrapy's fingerprinting) plus the RFC 3986 §6 rules it
leaves out. Where they disagree we say which one we follow:

* scheme and host lowercased, IDNA hosts to their ``xn--`` form (both agree);
* the default port dropped (RFC 3986 §6.2.3; w3lib keeps ``:80``: we follow the RFC, since a
  server cannot tell ``:80`` from no port);
* dot segments removed (RFC 3986 §5.2.4, both); an empty path becomes ``/``;
* percent-encoding normalised (RFC 3986 §6.2.2): unreserved characters decoded, hex digits
  uppercased (both);
* the fragment dropped (never sent to the server);
* query arguments sorted (w3lib; RFC 3986 says the query is opaque and order may matter: we
  follow w3lib, because real duplicates by argument order are far more common than servers
  that distinguish them);
* configurable: query parameters dropped by name (session ids, tracking: ``utm_*``,
  ``fbclid``, ``sid``…) and ``;jsessionid=…`` path parameters.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

from bazaar.crawler._errors import InvalidURLError

DEFAULT_DROP_PARAMS: tuple[str, ...] = (
    "utm_*", "fbclid", "gclid", "mc_cid", "mc_eid", "sid", "sessionid", "session_id",
    "phpsessid", "jsessionid", "aspsessionid*",
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PATH_SESSION = re.compile(r";(?:jsessionid|phpsessid|sid)=[^/?#]*", re.IGNORECASE)


@dataclass(frozen=True)
class Canonicalizer:
    """``canonicalizer(url) -> str``: the canonical spelling, or :class:`InvalidURLError`.

    ``drop_params`` are glob patterns matched case-insensitively against query argument names.
    """

    drop_params: tuple[str, ...] = DEFAULT_DROP_PARAMS
    drop_path_sessions: bool = True
    _patterns: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_patterns", tuple(p.lower() for p in self.drop_params))

    def _dropped(self, name: str) -> bool:
        low = name.lower()
        return any(fnmatch.fnmatchcase(low, p) for p in self._patterns)

    def __call__(self, url: str) -> str:
        url = url.strip()
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:  # a bad port, bad brackets
            raise InvalidURLError(f"malformed URL {url[:200]!r}: {exc}") from exc
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise InvalidURLError(f"not an http(s) URL: {url[:200]!r}")
        if not parts.hostname:
            raise InvalidURLError(f"no host in {url[:200]!r}")
        path, query = parts.path, parts.query
        if self.drop_path_sessions and ";" in path:
            path = _PATH_SESSION.sub("", path)
        if query and self._patterns:
            pairs = parse_qsl(query, keep_blank_values=True)
            kept = [(k, v) for k, v in pairs if not self._dropped(k)]
            if len(kept) != len(pairs):  # re-encode only when something went
                query = urlencode(kept)
        netloc = parts.netloc.rpartition("@")[2]  # credentials never identify a resource
        if port is not None and port == _DEFAULT_PORTS[scheme]:
            netloc = netloc.rsplit(":", 1)[0]
        rebuilt = urlunsplit((scheme, netloc, path, query, ""))
        try:
            out = canonicalize_url(rebuilt, keep_fragments=False)
        except (ValueError, UnicodeError) as exc:
            raise InvalidURLError(f"cannot canonicalise {url[:200]!r}: {exc}") from exc
        return out

    def many(self, urls: Iterable[str]) -> list[str]:
        """Canonical forms of the URLs that have one, in order (invalid ones are skipped)."""
        out = []
        for url in urls:
            try:
                out.append(self(url))
            except InvalidURLError:
                continue
        return out


def host_of(canonical_url: str) -> str:
    """The ``host[:port]`` of a canonical URL (its politeness and robots key)."""
    rest = canonical_url.split("://", 1)[1]
    return rest.split("/", 1)[0]
