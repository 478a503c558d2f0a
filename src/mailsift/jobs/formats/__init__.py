"""Readers for the list formats intake accepts: delimited text and XLSX."""
