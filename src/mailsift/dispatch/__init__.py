"""Handing chunks of jobs to workers: the port and its in-process implementation."""

from mailsift.dispatch.base import ChunkRef, ChunkRunner, Dispatcher
from mailsift.dispatch.inprocess import InProcessDispatcher

__all__ = ["ChunkRef", "ChunkRunner", "Dispatcher", "InProcessDispatcher"]
