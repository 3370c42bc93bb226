"""Search filters, ordering and paging for SearchModelVersions and SearchRegisteredModels.

The filter language is a superset of MLflow's; ``model_version_search`` and
``registered_model_search`` turn a request into the WHERE, ORDER BY and sort columns of the
store's query and issue keyset page tokens.
"""

from registry_service.search.query import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    SearchQuery,
    model_version_search,
    registered_model_search,
)

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "SearchQuery",
    "model_version_search",
    "registered_model_search",
]
