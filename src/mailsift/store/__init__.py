"""Where mailsift keeps its state: SQLAlchemy models, the async store and the migrations."""

from mailsift.store.engine import Store, open_store
from mailsift.store.migrate import downgrade, upgrade
from mailsift.store.url import async_url, database_url, sync_url

__all__ = [
    "Store",
    "async_url",
    "database_url",
    "downgrade",
    "open_store",
    "sync_url",
    "upgrade",
]
