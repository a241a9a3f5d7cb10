"""The script map's geometry: what a manager reads on it must not sit on top of something else."""

import itertools

from campaigns.views.script_map import script_map
from tests.campaigns.test_rehearsals import PLANTED

FONT_PX = 11  # templates/dashboard/script_map.html
CHAR_PX = 6.5  # a generous width per character at that size


def _box(edge):
    text = f"{edge.label} (0)"  # with a count, as after a rehearsal
    half = len(text) * CHAR_PX / 2
    return edge.label_x - half, edge.label_y - FONT_PX, edge.label_x + half, edge.label_y


def test_edge_labels_do_not_overlap_on_a_node_with_a_self_loop_and_a_back_edge():
    drawn = script_map(PLANTED, report={"nodes": [], "transitions": []})
    which_day = [e for e in drawn.edges if e.loop and e.label in {"reschedule", "otherwise"}]
    assert len(which_day) >= 2, [e.label for e in drawn.edges]
    for a, b in itertools.combinations(drawn.edges, 2):
        ax1, ay1, ax2, ay2 = _box(a)
        bx1, by1, bx2, by2 = _box(b)
        overlap = ax1 < bx2 and bx1 < ax2 and ay1 < by2 and by1 < ay2
        assert not overlap, f"labels {a.label!r} and {b.label!r} overlap"
    assert all(e.label_y > 0 for e in drawn.edges), "an arc's label is cut off above the drawing"
