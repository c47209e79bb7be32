"""Cursor pagination on every list: a page is a key range on the primary key,
so page 10,000 costs what page 1 does (no OFFSET) and rows added meanwhile
neither repeat nor go missing."""

from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
