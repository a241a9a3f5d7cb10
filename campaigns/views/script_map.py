"""The script drawn as a graph, server-side, as SVG geometry for a template (no script, no inline style: CSP).

Nodes are laid out in columns by their distance from the start (breadth first), edges carry the intent that
takes them and, when a rehearsal report is given, how many rehearsal calls went that way; nodes show how many
calls reached them. Back edges and self-loops are drawn as arcs above the boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.script import edges

BOX_W, BOX_H = 150, 44
COL, ROW = 230, 78
MARGIN = 20
KIND_COLOURS = {"ask": "#ebf4ff", "say": "#f7fafc", "end": "#f0fff4", "transfer": "#fffaf0"}


@dataclass(frozen=True)
class MapNode:
    name: str
    kind: str
    x: float
    y: float
    reached: int | None
    fill: str
    flag: str  # "never reached" / "dead end" / ""


@dataclass(frozen=True)
class MapEdge:
    path: str
    label: str
    label_x: float
    label_y: float
    calls: int | None
    loop: bool


@dataclass(frozen=True)
class ScriptMap:
    width: float
    height: float
    nodes: list[MapNode]
    edges: list[MapEdge]
    box_w: int = BOX_W
    box_h: int = BOX_H


def script_map(script: dict, report: dict | None = None) -> ScriptMap:
    nodes = script["nodes"]
    depth = {script["start"]: 0}
    order = [script["start"]]
    for name in order:
        for src, _, dst in edges(script):
            if src == name and dst in nodes and dst not in depth:
                depth[dst] = depth[name] + 1
                order.append(dst)
    for name in nodes:  # unreachable nodes: a column of their own at the end
        if name not in depth:
            depth[name] = max(depth.values()) + 1
            order.append(name)
    columns: dict[int, list[str]] = {}
    for name in order:
        columns.setdefault(depth[name], []).append(name)
    top = MARGIN + 60  # room for loop arcs (three over one node)
    pos = {
        name: (MARGIN + col * COL, top + row * ROW) for col, names in columns.items() for row, name in enumerate(names)
    }
    reached = {n["node"]: n["reached"] for n in (report or {}).get("nodes", [])}
    counts = {(t["from"], t["label"], t["to"]): t["calls"] for t in (report or {}).get("transitions", [])}
    never = set((report or {}).get("never_reached", []))
    dead = set((report or {}).get("dead_ends", {}).get("script", []))
    map_nodes = [
        MapNode(
            name,
            nodes[name]["type"],
            *pos[name],
            reached.get(name) if report else None,
            KIND_COLOURS.get(nodes[name]["type"], "#ffffff"),
            "dead end" if name in dead else ("never reached" if name in never else ""),
        )
        for name in order
    ]
    map_edges = []
    fan: dict[tuple[str, str], int] = {}
    arcs: dict[str, int] = {}
    for src, label, dst in edges(script):
        if dst not in pos:
            continue
        (x1, y1), (x2, y2) = pos[src], pos[dst]
        nth = fan[(src, dst)] = fan.get((src, dst), -1) + 1
        calls = counts.get((src, label, dst)) if report else None
        if depth[dst] <= depth[src]:  # back edge or self-loop: an arc over the top
            sx, ex = x1 + BOX_W * 0.7, x2 + BOX_W * 0.3
            # Each arc leaving a node rises above the one before (tops 15 px apart): their labels never overlap.
            arc = arcs[src] = arcs.get(src, -1) + 1
            lift = 30 + 20 * arc + 10 * (depth[src] - depth[dst])
            peak = min(y1, y2) - lift
            path = f"M{sx:.0f},{y1:.0f} C{sx:.0f},{peak:.0f} {ex:.0f},{peak:.0f} {ex:.0f},{y2:.0f}"
            map_edges.append(MapEdge(path, label, (sx + ex) / 2, peak + lift * 0.25 - 2, calls, True))
            continue
        sx, sy = x1 + BOX_W, y1 + BOX_H / 2
        ex, ey = x2, y2 + BOX_H / 2
        path = f"M{sx:.0f},{sy:.0f} L{ex:.0f},{ey:.0f}"
        t = 0.35 + 0.12 * (nth % 3)
        map_edges.append(MapEdge(path, label, sx + (ex - sx) * t, sy + (ey - sy) * t - 3, calls, False))
    width = MARGIN * 2 + (max(columns) + 1) * COL
    height = top + max(len(v) for v in columns.values()) * ROW + MARGIN
    return ScriptMap(width, height, map_nodes, map_edges)
