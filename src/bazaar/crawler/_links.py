"""Links out of an HTML page (lxml), resolved against the page URL or its ``<base href>``."""

from __future__ import annotations

from urllib.parse import urljoin

import lxml.etree
import lxml.html

_SKIP_SCHEMES = ("mailto:", "javascript:", "tel:", "data:", "ftp:", "#")


def extract_links(body: bytes, url: str, encoding: str | None = None) -> list[str]:
    """Absolute URLs of ``<a href>`` and ``<area href>`` (no ``rel=nofollow``), in page order.

    Garbage is not an error: bytes lxml cannot parse give no links.
    """
    if not body.strip():
        return []
    try:
        parser = lxml.html.HTMLParser(encoding=encoding) if encoding else None
        root = lxml.html.document_fromstring(body, parser=parser)
    except (lxml.etree.ParserError, ValueError, LookupError):
        return []
    base = url
    for href in root.xpath("//base/@href"):
        base = urljoin(url, str(href).strip())
        break
    out = []
    for el in root.xpath("//a[@href] | //area[@href]"):
        if "nofollow" in (el.get("rel") or "").lower():
            continue
        href = (el.get("href") or "").strip()
        if not href or href.lower().startswith(_SKIP_SCHEMES):
            continue
        if href.startswith(("http://", "https://")) and "\\" not in href:
            out.append(href)  # already absolute: urljoin would give it back unchanged
            continue
        try:
            out.append(urljoin(base, href))
        except ValueError:
            continue
    return out
