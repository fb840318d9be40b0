"""Checks the links of a built book: every relative link, image, stylesheet
and script names a file of the book, and a link with a fragment names a
heading (an element id) of its page. Prints each broken one; exits 1 if any.

    python3 scripts/book_links.py target/book
"""

import os
import sys
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

# Pages mdBook makes that resolve links against the site's root (404) or
# rewrite them all into one page (print): their sources are checked through
# the ordinary pages.
SKIPPED = {"404.html", "print.html"}


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = set()
        self.links = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for name in ("href", "src"):
            if attrs.get(name):
                self.links.append(attrs[name])


def parse(path):
    page = Page()
    with open(path, encoding="utf-8") as f:
        page.feed(f.read())
    return page


def broken_links(root):
    pages = {}
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".html"):
                path = os.path.join(folder, name)
                pages[os.path.relpath(path, root)] = parse(path)
    broken = []
    for name, page in sorted(pages.items()):
        if name in SKIPPED:
            continue
        for link in page.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith("mailto:"):
                continue  # another site: not checked offline
            target = name
            if parts.path:
                target = os.path.normpath(
                    os.path.join(os.path.dirname(name), unquote(parts.path))
                )
                if os.path.isdir(os.path.join(root, target)):
                    target = os.path.join(target, "index.html")
                if not os.path.exists(os.path.join(root, target)):
                    broken.append(f"{name}: {link} (no file {target})")
                    continue
            fragment = unquote(parts.fragment)
            if fragment and target in pages and fragment not in pages[target].ids:
                broken.append(f"{name}: {link} (no heading #{fragment} in {target})")
    return broken


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "target/book"
    if not os.path.exists(os.path.join(root, "index.html")):
        sys.exit(f"book_links: no book in {root}: run scripts/docs")
    broken = broken_links(root)
    for line in broken:
        print(f"book_links: broken link in {line}", file=sys.stderr)
    if broken:
        sys.exit(1)
    print(f"book_links: every link of {root} resolves", file=sys.stderr)


if __name__ == "__main__":
    main()
