"""The dashboard: server-rendered pages for list owners, on the API's application."""

from mailsift.web.app import install

__all__ = ["install"]
