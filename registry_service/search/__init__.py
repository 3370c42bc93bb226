"""Search filters, ordering and paging for SearchModelVersions and SearchRegisteredModels.

The filter language is a superset of MLflow's; ``search_query`` turns a request into the WHERE,
ORDER BY and sort columns of the store's query over an ``Entity`` (the columns the store hands
in, see store/search_columns.py) and issues keyset page tokens.
"""

from registry_service.search.query import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    SearchQuery,
    effective_page_size,
    search_query,
)

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "SearchQuery",
    "effective_page_size",
    "search_query",
]
