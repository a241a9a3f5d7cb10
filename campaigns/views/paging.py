"""A paginator that counts no further than it needs: call lists of a million attempts are paged newest first, and
an exact COUNT of every matching row (the paginator's) costs more than the page itself."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property

COUNT_CAP = 10_000  # rows counted exactly; beyond it the list says "more than"


class CappedPaginator(Paginator):
    """Counts at most `cap` rows, or up to the end of the page asked for when it lies further, plus one to know
    whether there are more. `capped` says the count stopped there: the list has more rows than `count`, and the
    next page exists (so paging on past the cap keeps working, counting a little further each time)."""

    def __init__(self, object_list: QuerySet, per_page: int, page: str | None, cap: int | None = None) -> None:
        super().__init__(object_list, per_page)
        asked = int(page) if page and page.isdigit() else 1
        self.limit = max(COUNT_CAP if cap is None else cap, asked * per_page)

    @cached_property
    def count(self) -> int:
        # COUNT over a LIMIT: stops at limit + 1 rows, which makes one more page than the counted rows fill. Any
        # rows will do, so unordered: the planner is free to count through whichever index the filters suit.
        return self.object_list.order_by()[: self.limit + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.limit
