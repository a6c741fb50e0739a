"""Data Docs: GX's HTML page for a validation run, made to render offline.

GX's templates load Bootstrap, jQuery, Font Awesome, bootstrap-table and Vega from CDNs, and its
logo from S3. The page is rendered with GX's own renderer, every such URL is pointed at the copy
shipped in ``mltoolkit/data/docs_assets`` (see its README), and those files are copied beside it.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import warnings
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from mltoolkit.cli.context import log
from mltoolkit.data.results import Outcome
from mltoolkit.errors import ExternalError, InputError

ASSETS = Path(__file__).with_name("docs_assets")
VENDOR = "static/vendor"

# CDN URL (a regex over the whole attribute value) -> the shipped file, relative to VENDOR.
_LOCAL: tuple[tuple[str, str], ...] = (
    (r"https://[^\"']*/bootstrap/4\.3\.1/css/bootstrap\.min\.css", "css/bootstrap.min.css"),
    (r"https://[^\"']*/bootstrap/4\.3\.1/js/bootstrap\.min\.js", "js/bootstrap.min.js"),
    (
        r"https://[^\"']*bootstrap-dark@[^\"']*/bootstrap-prefers-dark\.css",
        "css/bootstrap-prefers-dark.min.css",
    ),
    (
        r"https://[^\"']*bootstrap-table@[^\"']*/filter-control/bootstrap-table-filter-control(\.min)?\.css",
        "css/bootstrap-table-filter-control.min.css",
    ),
    (
        r"https://[^\"']*bootstrap-table@[^\"']*/filter-control/bootstrap-table-filter-control(\.min)?\.js",
        "js/bootstrap-table-filter-control.min.js",
    ),
    (
        r"https://[^\"']*bootstrap-table@[^\"']*/dist/bootstrap-table\.min\.css",
        "css/bootstrap-table.min.css",
    ),
    (
        r"https://[^\"']*bootstrap-table@[^\"']*/dist/bootstrap-table\.min\.js",
        "js/bootstrap-table.min.js",
    ),
    (r"https://[^\"']*bootstrap-datepicker/[^\"']*\.css", "css/bootstrap-datepicker.min.css"),
    (r"https://[^\"']*bootstrap-datepicker/[^\"']*\.js", "js/bootstrap-datepicker.min.js"),
    (r"https://[^\"']*font-awesome/[^\"']*/all\.min\.css", "css/fontawesome-all.min.css"),
    (r"https://[^\"']*jquery-[0-9.]+\.min\.js", "js/jquery.min.js"),
    (r"https://[^\"']*popper[^\"']*/popper\.min\.js", "js/popper.min.js"),
    (r"https://[^\"']*/vega-embed@[^\"']*", "js/vega-embed.min.js"),
    (r"https://[^\"']*/vega-lite@[^\"']*", "js/vega-lite.min.js"),
    (r"https://[^\"']*/vega@[^\"']*", "js/vega.min.js"),
)
_LOGO = r"https://great-expectations-web-assets[^\"']*/logo-long\.png[^\"']*"
_RELATIVE = r"(\.\./)+static/"
_GX_IMAGES = ("favicon.ico", "logo-long.png")


class _AssetFinder(HTMLParser):
    """Collects the URLs a browser would fetch to render the page (scripts, styles, images)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("script", "img", "iframe", "source") and values.get("src"):
            self.urls.append(str(values["src"]))
        if tag == "link" and values.get("href"):
            self.urls.append(str(values["href"]))


def asset_urls(html: str) -> list[str]:
    """Every script, stylesheet, icon and image URL in ``html``."""
    finder = _AssetFinder()
    finder.feed(html)
    return finder.urls


def offline_html(html: str) -> str:
    """``html`` with every known CDN asset pointed at the shipped copy under ``static/``."""
    for pattern, local in _LOCAL:
        html = re.sub(pattern, f"{VENDOR}/{local}", html)
    html = re.sub(_LOGO, "static/images/logo-long.png", html)
    html = re.sub(_RELATIVE, "static/", html)
    # The page links to GX site pages this single-page site does not have.
    html = re.sub(r"href=\"(\.\./)+index\.html\"", 'href="index.html"', html)
    return re.sub(r"href=\"(\.\./)+expectations/[^\"]*\"", 'href="#"', html)


def render_html(outcome: Outcome) -> str:
    """GX's validation results page for ``outcome``."""
    from great_expectations.render.renderer.page_renderer import ValidationResultsPageRenderer
    from great_expectations.render.view.view import DefaultJinjaPageView

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        document = ValidationResultsPageRenderer().render(outcome.raw)
        page: Any = DefaultJinjaPageView()
        return str(page.render(document))


def write_data_docs(outcome: Outcome, directory: Path) -> Path:
    """Write the offline Data Docs site of ``outcome`` into ``directory``; return index.html."""
    import great_expectations

    if not (ASSETS / "css" / "bootstrap.min.css").is_file():
        raise ExternalError(
            "the Data Docs assets are missing from this installation",
            where=str(ASSETS),
            fix="reinstall mltoolkit (its package data includes mltoolkit/data/docs_assets)",
        )
    html = offline_html(render_html(outcome))
    remote = [url for url in asset_urls(html) if re.match(r"(?i)https?:", url)]
    for url in remote:
        log(f"warning: Data Docs still load {url}: the page may not render offline")
    gx_static = Path(great_expectations.__file__).parent / "render" / "view" / "static"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=directory, prefix=".docs-"))
        shutil.copytree(ASSETS, staging / VENDOR, ignore=shutil.ignore_patterns("README.md"))
        (staging / "static" / "images").mkdir(parents=True, exist_ok=True)
        for name in _GX_IMAGES:
            if (gx_static / "images" / name).exists():
                shutil.copy2(gx_static / "images" / name, staging / "static" / "images" / name)
        (staging / "index.html").write_text(html, encoding="utf-8")
        target_static = directory / "static"
        if target_static.exists():
            shutil.rmtree(target_static)
        (staging / "static").replace(target_static)
        (staging / "index.html").replace(directory / "index.html")
        shutil.rmtree(staging, ignore_errors=True)
    except OSError as exc:
        raise InputError(
            f"cannot write the Data Docs: {exc.strerror}", where=str(directory)
        ) from None
    return directory / "index.html"
