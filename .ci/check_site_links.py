"""Checks the built documentation site without the network: every relative link (href) and
every image or script (src) of every page points to a file of the site, and every #anchor to
an id in the page it names. External links (http:, https:, mailto:) are not followed, and
_static/ (the theme's assets and templates) is not a page.

Usage: python .ci/check_site_links.py docs/_build/html
Prints the number of pages, links and images checked; exits 1 listing the broken ones."""

import html.parser
import pathlib
import sys
import urllib.parse


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.links, self.images = set(), [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.ids.add(attrs[key])
        if tag in ("a", "link") and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag in ("img", "script", "source") and attrs.get("src"):
            self.images.append(attrs["src"])


def main(root):
    root = pathlib.Path(root).resolve()
    pages = {}
    for path in sorted(root.rglob("*.html")):
        if path.relative_to(root).parts[0] == "_static":
            continue
        page = Page()
        page.feed(path.read_text(encoding="utf-8", errors="replace"))
        pages[path] = page
    broken, n_links, n_images = [], 0, 0
    for path, page in pages.items():
        for kind, refs in (("link", page.links), ("image", page.images)):
            for ref in refs:
                url = urllib.parse.urlsplit(ref)
                if url.scheme or url.netloc or ref.startswith("javascript:"):
                    continue  # external: not checked (no network)
                if kind == "link":
                    n_links += 1
                else:
                    n_images += 1
                target = path if not url.path else (path.parent / urllib.parse.unquote(url.path))
                target = target.resolve()
                if target.is_dir():
                    target = target / "index.html"
                if not target.exists() or root not in (target, *target.parents):
                    broken.append(f"{path.relative_to(root)}: {kind} {ref} (no such file)")
                    continue
                if url.fragment and target.suffix == ".html":
                    ids = pages[target].ids if target in pages else set()
                    if urllib.parse.unquote(url.fragment) not in ids:
                        broken.append(f"{path.relative_to(root)}: {kind} {ref} (no such anchor)")
    print(
        f"site check: {len(pages)} pages, {n_links} local links, {n_images} images/scripts, "
        f"{len(broken)} broken"
    )
    for line in broken:
        print("  " + line)
    return 1 if broken or not pages else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/_build/html"))
