"""The asset graph as an SVG a person can explore: assets in columns by depth (sources left),
edges from each input, colour by PII level. Each node carries its upstream and downstream keys
so the page's script can light up a node's whole lineage when it is clicked."""

from __future__ import annotations

import html
import json

from policies.catalog import Catalog
from policies.propagation import AssetTags

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 210, 34, 70, 14, 10
LEVEL_COLOURS = {"none": "#e8f3ec", "pseudonymous": "#e7effa", "personal": "#fdf0e1",
                 "sensitive": "#fbe4e4"}


def _depths(catalog: Catalog) -> dict[str, int]:
    depth: dict[str, int] = {}
    for asset in catalog.topological():
        ups = [depth[u] for u in asset.upstream if u in depth]
        depth[asset.key] = 1 + max(ups) if ups else 0
    return depth


def _closure(start: str, edges: dict[str, list[str]]) -> list[str]:
    seen, stack = set(), [start]
    while stack:
        for nxt in edges.get(stack.pop(), []):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return sorted(seen)


def render_svg(catalog: Catalog, effective: dict[str, AssetTags]) -> str:
    depth = _depths(catalog)
    columns: dict[int, list[str]] = {}
    for key in sorted(depth, key=lambda k: (depth[k], k)):
        columns.setdefault(depth[key], []).append(key)
    position = {key: (PAD + d * (NODE_W + GAP_X), PAD + i * (NODE_H + GAP_Y))
                for d, keys in columns.items() for i, key in enumerate(keys)}
    width = PAD * 2 + len(columns) * (NODE_W + GAP_X) - GAP_X
    height = PAD * 2 + max(len(k) for k in columns.values()) * (NODE_H + GAP_Y) - GAP_Y
    ups = {a.key: [u for u in a.upstream if u in position] for a in catalog.assets.values()}
    downs: dict[str, list[str]] = {}
    for key, inputs in ups.items():
        for up in inputs:
            downs.setdefault(up, []).append(key)
    edges, nodes = [], []
    for key, inputs in ups.items():
        x2, y2 = position[key][0], position[key][1] + NODE_H / 2
        for up in inputs:
            x1, y1 = position[up][0] + NODE_W, position[up][1] + NODE_H / 2
            middle = (x1 + x2) / 2
            edges.append(f'<path class="edge" data-from="{html.escape(up)}" '
                         f'data-to="{html.escape(key)}" d="M{x1},{y1} C{middle},{y1} '
                         f'{middle},{y2} {x2},{y2}"/>')
    for key, (x, y) in position.items():
        tags = effective[key]
        related = json.dumps({"up": _closure(key, ups), "down": _closure(key, downs)})
        nodes.append(
            f'<g class="node" data-key="{html.escape(key)}" data-related=\'{html.escape(related)}\''
            f' transform="translate({x},{y})" tabindex="0"><title>{html.escape(key)}: owner '
            f'{html.escape(tags.owner or "unset")}, pii {tags.pii}, retention '
            f'{html.escape(tags.retention or "unset")}</title>'
            f'<rect width="{NODE_W}" height="{NODE_H}" rx="6" '
            f'fill="{LEVEL_COLOURS.get(tags.pii, "#eee")}"/>'
            f'<text x="10" y="21">{html.escape(key)}</text></g>')
    return (f'<svg id="lineage-graph" xmlns="http://www.w3.org/2000/svg" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}">{"".join(edges)}'
            f'{"".join(nodes)}</svg>')
