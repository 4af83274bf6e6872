"""The API's pagination: DRF's limit/offset, bounded."""

from rest_framework.pagination import LimitOffsetPagination


class Pagination(LimitOffsetPagination):
    """`?limit=` at most MAX_LIMIT rows; an `?offset=` past any table is clamped. Unbounded,
    both go into the SQL as numbers PostgreSQL refuses beyond a bigint (a 500; found by the
    API fuzzer with limit=2.6e37)."""

    max_limit = 1000
    # Far past the end of any table, still a bigint: the answer is the same empty page.
    MAX_OFFSET = 2**31 - 1

    def get_offset(self, request):
        return min(super().get_offset(request), self.MAX_OFFSET)
