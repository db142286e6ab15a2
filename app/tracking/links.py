"""A campaign body's trackable links, and the body rewritten so each recipient's copy is tracked.

Only ``http`` and ``https`` links are tracked: ``mailto:``, ``tel:``, ``#anchors``, other schemes,
the ``{{ unsubscribe_url }}`` placeholder and links to Postroom's own pages are left as written.
In HTML that means the ``href`` of ``<a>`` and ``<area>`` tags (links inside comments, such as
Outlook's conditional blocks, are not seen, nor those after markup the parser cannot read); in
the plain-text part, bare URLs.

``TrackedBody`` does the parsing once per campaign and keeps the body as literal pieces with
slots between them; ``fill`` makes the recipient's tokens with one hash call and joins the
pieces, so a recipient costs a few microseconds, not a parse.
"""

from __future__ import annotations

import html as html_module
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlsplit

from app.tracking import tokens

MAX_URL = 2048  # longer links are left untracked (the column's width)
OWN_PATHS = ("/u/", "/c/", "/t/", "/s/")  # unsubscribe, confirm, tracking, subscribe
_HREF = re.compile(r"""(?<=[\s"'/])href\s*=\s*(?P<value>"[^"]*"|'[^']*'|[^\s"'=<>`]+)""", re.IGNORECASE)
_TEXT_URL = re.compile(r"""https?://[^\s<>"]+""", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'"
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class Tracking:
    """What one campaign's messages track: ``links`` maps each tracked URL to its position in
    ``tracked_links`` (empty when clicks are not tracked); ``opens`` adds the pixel."""

    base_url: str
    key: bytes
    links: Mapping[str, int]
    opens: bool


def trackable(url: str, base_url: str) -> bool:
    """Whether ``url`` (as a browser would read it) is an http(s) link to somewhere else."""
    url = url.strip()
    if len(url) > MAX_URL or url.startswith("{{") or any(ch.isspace() or not ch.isprintable() for ch in url):
        return False  # too long, a placeholder, or characters no Location header may carry
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return False
    return not any(url.startswith(base_url + path) for path in OWN_PATHS)


class _Anchors(HTMLParser):
    """Each ``<a href>`` / ``<area href>`` as (start, end, url): the raw value's span in the source."""

    def __init__(self, source: str):
        super().__init__(convert_charrefs=True)
        self.source = source
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", source)]
        self.found: list[tuple[int, int, str]] = []
        try:
            self.feed(source)
            self.close()
        except AssertionError:
            # html.parser gives up on some broken markup (a "<![" it cannot read): the links
            # found before it stay tracked, the rest are left as written.
            pass

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in ("a", "area"):
            return
        line, column = self.getpos()
        start = self.line_starts[line - 1] + column
        raw = self.get_starttag_text() or ""
        match = _HREF.search(raw, len(tag) + 1)
        if match is None or not self.source.startswith(raw, start):
            return  # no href, or a position we cannot trust: leave the link as written
        value = match.group("value")
        if value[:1] in ("'", '"'):
            value = value[1:-1]
        span = (start + match.start("value"), start + match.end("value"))
        self.found.append((*span, html_module.unescape(value).strip()))


def _text_urls(text: str) -> list[tuple[int, int, str]]:
    found = []
    for match in _TEXT_URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        found.append((match.start(), match.start() + len(url), url))
    return found


def find(html: str, text: str, base_url: str) -> list[str]:
    """The distinct trackable URLs of a body, in order of first appearance (HTML, then text).

    Past ``MAX_LINKS`` the rest are left untracked.
    """
    seen: dict[str, None] = {}
    for _, _, url in _Anchors(html).found if html else []:
        if trackable(url, base_url):
            seen.setdefault(url)
    for _, _, url in _text_urls(text):
        if trackable(url, base_url):
            seen.setdefault(url)
    return list(seen)[: tokens.MAX_LINKS]


def _split(source: str, spans: list[tuple[int, int, str]], links: Mapping[str, int], quote: bool) -> list:
    """``source`` as [literal, position, literal, ..., literal]: each tracked span becomes a slot."""
    mark = '"' if quote else ""
    pieces: list = []
    cursor = 0
    for start, end, url in spans:
        position = links.get(url)
        if position is None or start < cursor:
            continue
        pieces += [source[cursor:start] + mark, position, mark]
        cursor = end
    pieces.append(source[cursor:])
    return _merge(pieces)


def _merge(pieces: list) -> list:
    """Join adjacent literals so literals and slots alternate, starting and ending with a literal."""
    merged: list = [""]
    for piece in pieces:
        if isinstance(piece, str):
            if isinstance(merged[-1], str):
                merged[-1] += piece
            else:
                merged.append(piece)
        else:
            if not isinstance(merged[-1], str):
                merged.append("")
            merged.append(piece)
    if not isinstance(merged[-1], str):
        merged.append("")
    return merged


class TrackedBody:
    """A campaign's HTML and text with tracked links and the pixel as slots, filled per recipient."""

    def __init__(self, html: str, text: str, tracking: Tracking):
        self.tracking = tracking
        self.click_prefix = f"{tracking.base_url}/t/c/"
        self.open_prefix = f"{tracking.base_url}/t/o/"
        html_pieces = _split(html, _Anchors(html).found, tracking.links, quote=True) if html else [html]
        if tracking.opens and html:
            html_pieces = self._with_pixel(html_pieces)
        self.html_pieces = html_pieces
        self.text_pieces = _split(text, _text_urls(text), tracking.links, quote=False)
        self.positions = sorted({p for p in html_pieces[1::2] + self.text_pieces[1::2] if p != tokens.PIXEL})

    def _with_pixel(self, pieces: list) -> list:
        """The pixel goes just before ``</body>`` when there is one, else at the very end."""
        last = pieces[-1]
        ends = list(_BODY_END.finditer(last))
        if not ends:
            return [*pieces[:-1], last + '\n<img src="', tokens.PIXEL, _PIXEL_TAIL]
        before, after = last[: ends[-1].start()], last[ends[-1].start() :]
        return [*pieces[:-1], before + '<img src="', tokens.PIXEL, _PIXEL_TAIL + after]

    def fill(self, email_id: int) -> tuple[str, str]:
        """This recipient's HTML and text."""
        issued = tokens.issue(self.tracking.key, email_id, self.positions, self.tracking.opens)
        urls = {p: self.click_prefix + token for p, token in issued.items()}
        if self.tracking.opens:
            urls[tokens.PIXEL] = self.open_prefix + issued[tokens.PIXEL] + ".gif"
        return _join(self.html_pieces, urls), _join(self.text_pieces, urls)


def _join(pieces: list, urls: dict[int, str]) -> str:
    filled = pieces.copy()
    for i in range(1, len(filled), 2):
        filled[i] = urls[filled[i]]
    return "".join(filled)


_PIXEL_TAIL = '" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0">'
