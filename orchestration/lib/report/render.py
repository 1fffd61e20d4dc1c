"""The report's HTML, rendered from plain data through the Jinja2 templates beside this module:
the gathering modules never write markup, and every section renders from fixed data without a
store. Autoescaping is on, so a name or value from a store can never become markup."""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2
from markupsafe import Markup

from orchestration.lib.operations.metrics import cell

TEMPLATES = Path(__file__).parent / "templates"


@functools.cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["fmt"] = format  # numbers and datetimes by a format spec
    environment.filters["cell"] = cell
    return environment


def render_section(anchor: str, data: dict) -> Markup:
    """The body of the section `anchor` (templates/sections/<anchor>.html.j2)."""
    return Markup(_environment().get_template(f"sections/{anchor}.html.j2").render(data))


def render_page(sections: list[tuple[str, str, Markup]], assets: int, violations: int,
                generated) -> str:
    """The whole page: a header with the verdict, then each (anchor, title, body) section."""
    return _environment().get_template("page.html.j2").render(
        sections=[{"anchor": anchor, "title": title, "html": body}
                  for anchor, title, body in sections],
        assets=assets, violations=violations, generated=generated)
