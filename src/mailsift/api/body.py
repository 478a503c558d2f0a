"""Request bodies as integrators send them: url-encoded forms, multipart forms or JSON.

Every body is read as a stream under a byte limit (413 past it). Uploaded lists in multipart
bodies go straight to files under an upload folder, a block at a time: a body is never held
whole in memory. Plain fields are small and kept in memory, under their own limits.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO
from urllib.parse import parse_qsl

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from mailsift.api.errors import ApiError
from mailsift.jobs.formats.base import describe_size

FILE_FIELD = "file"
_MAX_FIELDS = 100
_MAX_FIELD_BYTES = 64 * 1024
_FLUSH_BYTES = 1024 * 1024
_MAX_FILENAME = 200


@dataclass(frozen=True, slots=True)
class BodyLimits:
    max_bytes: int  # a url-encoded or JSON body (held in memory), or a multipart one without files
    max_files: int = 0  # 0: this call takes no files
    max_upload_bytes: int = 0  # a multipart body with files (streamed to disk)

    def for_multipart(self) -> int:
        return self.max_upload_bytes if self.max_files else self.max_bytes


@dataclass(frozen=True, slots=True)
class Upload:
    """One uploaded list, already on disk."""

    field: str  # the form field it came in (``file``, unless the client misspelled it)
    filename: str
    path: Path


@dataclass
class Body:
    """The parameters of one request: text fields (repeatable) and uploaded files."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    uploads: list[Upload] = field(default_factory=list)
    # What a JSON body said of its parameters' types (checked only for the ones a call reads):
    # given an object or a null in an array, given an array, given a number or a boolean.
    from_json: bool = False
    unreadable: set[str] = field(default_factory=set)
    listed: set[str] = field(default_factory=set)
    numbers: set[str] = field(default_factory=set)

    def add(self, name: str, value: str) -> None:
        self.fields.setdefault(name, []).append(value)

    def names(self) -> set[str]:
        return set(self.fields) | {upload.field for upload in self.uploads}

    def values(self, name: str) -> list[str]:
        return self.fields.get(name, [])


async def read_params(request: Request, limits: BodyLimits) -> Body:
    """The parameters of a call that takes no files."""
    if limits.max_files:
        raise ValueError("a call that takes files reads them with read_body")
    _refuse_declared_size(request, limits.max_bytes)
    return await _parse(request, limits, None)


@asynccontextmanager
async def read_body(
    request: Request, limits: BodyLimits, upload_root: Path | None = None
) -> AsyncIterator[Body]:
    """The request's parameters; uploaded files live until the ``async with`` ends."""
    multipart = _content_type(request)[0] == b"multipart/form-data"
    _refuse_declared_size(request, limits.for_multipart() if multipart else limits.max_bytes)
    folder: Path | None = None
    try:
        if limits.max_files and upload_root is not None:
            folder = await asyncio.to_thread(_upload_folder, upload_root)
        yield await _parse(request, limits, folder)
    finally:
        if folder is not None:
            await asyncio.to_thread(shutil.rmtree, folder, True)


def _refuse_declared_size(request: Request, most: int) -> None:
    """413 before reading anything when the body says it is too large."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > most:
        raise _too_large(most)


def _content_type(request: Request) -> tuple[bytes, dict[bytes, bytes]]:
    return parse_options_header(request.headers.get("content-type"))


def _upload_folder(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=root))


async def _parse(request: Request, limits: BodyLimits, folder: Path | None) -> Body:
    content_type, options = _content_type(request)
    if content_type == b"multipart/form-data":
        boundary = options.get(b"boundary")
        if not boundary:
            raise ApiError(400, "A multipart body needs a boundary in its Content-Type.")
        return await _MultipartReader(boundary, limits, folder).read(request)
    raw = await _read_small(request, limits)
    body = Body()
    if content_type == b"application/json" or content_type.endswith(b"+json"):
        _parse_json(raw, body)
    elif content_type == b"application/x-www-form-urlencoded" or not raw.strip():
        _parse_urlencoded(raw, body)
    elif raw.lstrip().startswith(b"{"):  # JSON sent without its content type
        _parse_json(raw, body)
    else:
        _parse_urlencoded(raw, body)
    return _texts_as_uploads(body, limits, folder)


async def _read_small(request: Request, limits: BodyLimits) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in _stream(request):
        size += len(chunk)
        if size > limits.max_bytes:
            raise _too_large(limits.max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


async def _stream(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect as exc:
        raise ApiError(400, "The request body ended early.") from exc


def _parse_json(raw: bytes, body: Body) -> None:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"The body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "The JSON body must be an object of parameters.")
    body.from_json = True
    for name, value in data.items():
        if isinstance(value, list):
            body.listed.add(name)
        for item in value if isinstance(value, list) else [value]:
            if item is None and not isinstance(value, list):
                continue  # null: as if absent
            if item is None or isinstance(item, dict | list):
                body.unreadable.add(name)  # unknown parameters are ignored, whatever they hold
                continue
            if not isinstance(item, str):
                body.numbers.add(name)
            body.add(name, _json_text(item))
    _check_field_count(body)


def _json_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parse_urlencoded(raw: bytes, body: Body) -> None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "The form body is not valid UTF-8.") from exc
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    except ValueError as exc:
        raise ApiError(400, f"The form has more than {_MAX_FIELDS} fields.") from exc
    for name, value in pairs:
        body.add(name, value)


def _check_field_count(body: Body) -> None:
    if sum(len(values) for values in body.fields.values()) > _MAX_FIELDS:
        raise ApiError(400, f"The request has more than {_MAX_FIELDS} fields.")


def _texts_as_uploads(body: Body, limits: BodyLimits, folder: Path | None) -> Body:
    """A list sent as the text of a ``file`` field (small lists, in JSON or url-encoded)."""
    texts = body.fields.pop(FILE_FIELD, [])
    if not texts:
        return body
    if folder is None or not limits.max_files:
        raise ApiError(400, "This call takes no file.")
    if len(texts) > limits.max_files:
        raise _too_many_files(limits)
    for n, text in enumerate(texts):
        path = folder / f"upload-{n}"
        path.write_text(text, encoding="utf-8")
        body.uploads.append(Upload(FILE_FIELD, "list.txt", path))
    return body


def _too_large(most: int) -> ApiError:
    return ApiError(413, f"The request is larger than {describe_size(most)}, the most allowed.")


def _too_many_files(limits: BodyLimits) -> ApiError:
    return ApiError(400, f"At most {limits.max_files} files may be uploaded at once.")


def _disk_name(n: int, filename: str | None) -> str:
    """``upload-N`` with the upload's extension: the XLSX reader goes by it."""
    suffix = PurePosixPath(filename or "").suffix.lower()
    if not (suffix[1:].isascii() and suffix[1:].isalnum() and len(suffix) <= 6):
        suffix = ""
    return f"upload-{n}{suffix}"


def clean_filename(raw: str) -> str:
    """The uploaded file's base name, without any folder a client put in front of it."""
    name = PureWindowsPath(PurePosixPath(raw).name).name.strip()
    return name[:_MAX_FILENAME] or "list"


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    sink: BinaryIO | None = None  # an upload's file; None for a text field
    text: bytearray = field(default_factory=bytearray)


class _MultipartReader:
    """Feeds the body to python-multipart's streaming parser as it arrives.

    The parser calls back synchronously; uploaded bytes are collected and written to disk in
    a worker thread once a megabyte has piled up, so the event loop never waits on the disk
    for long and memory stays bounded.
    """

    def __init__(self, boundary: bytes, limits: BodyLimits, folder: Path | None) -> None:
        self.limits = limits
        self.folder = folder
        self.body = Body()
        self.part = _Part()
        self.header_name = bytearray()
        self.header_value = bytearray()
        self.headers: dict[bytes, bytes] = {}
        self.pending: list[tuple[BinaryIO, bytes]] = []
        self.pending_bytes = 0
        self.sinks: list[BinaryIO] = []
        self.ended = False
        try:
            self.parser = MultipartParser(
                boundary,
                callbacks={
                    "on_part_begin": self._part_begin,
                    "on_header_field": self._header_name,
                    "on_header_value": self._header_value,
                    "on_header_end": self._header_end,
                    "on_headers_finished": self._headers_finished,
                    "on_part_data": self._part_data,
                    "on_part_end": self._part_end,
                    "on_end": self._end,
                },
            )
        except FormParserError as exc:
            raise ApiError(400, f"Bad multipart boundary: {exc}") from exc

    async def read(self, request: Request) -> Body:
        size = 0
        most = self.limits.for_multipart()
        try:
            async for chunk in _stream(request):
                size += len(chunk)
                if size > most:
                    raise _too_large(most)
                self._write(chunk)
                if self.pending_bytes >= _FLUSH_BYTES:
                    await self._flush()
            await self._flush()
        finally:
            await asyncio.to_thread(self._close_sinks)
        if not self.ended:
            raise ApiError(400, "The multipart body ended before its closing boundary.")
        return self.body

    def _write(self, chunk: bytes) -> None:
        try:
            self.parser.write(chunk)
        except FormParserError as exc:
            raise ApiError(400, f"The multipart body is malformed: {exc}") from exc

    async def _flush(self) -> None:
        if self.pending:
            pending, self.pending, self.pending_bytes = self.pending, [], 0
            await asyncio.to_thread(_write_all, pending)

    def _close_sinks(self) -> None:
        for sink in self.sinks:
            sink.close()

    # --- parser callbacks -------------------------------------------------------------

    def _part_begin(self) -> None:
        self.part = _Part()
        self.headers = {}

    def _header_name(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]
        if len(self.header_value) > _MAX_FIELD_BYTES:
            raise ApiError(400, "A multipart header is too long.")

    def _header_end(self) -> None:
        self.headers[bytes(self.header_name).lower()] = bytes(self.header_value)
        self.header_name.clear()
        self.header_value.clear()

    def _headers_finished(self) -> None:
        disposition, options = parse_options_header(self.headers.get(b"content-disposition"))
        if disposition != b"form-data" or b"name" not in options:
            raise ApiError(400, "A multipart part has no form-data name.")
        self.part.name = options[b"name"].decode("utf-8", "replace")
        filename = options.get(b"filename")
        if filename is not None:
            self.part.filename = clean_filename(filename.decode("utf-8", "replace"))
        if filename is not None or self.part.name == FILE_FIELD:
            self._open_upload()
        elif sum(len(v) for v in self.body.fields.values()) >= _MAX_FIELDS:
            raise ApiError(400, f"The request has more than {_MAX_FIELDS} fields.")

    def _open_upload(self) -> None:
        if self.folder is None or not self.limits.max_files:
            raise ApiError(400, "This call takes no file.")
        if len(self.body.uploads) >= self.limits.max_files:
            raise _too_many_files(self.limits)
        path = self.folder / _disk_name(len(self.body.uploads), self.part.filename)
        sink = path.open("wb")
        self.sinks.append(sink)
        self.part.sink = sink
        self.body.uploads.append(Upload(self.part.name, self.part.filename or "list", path))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part.sink is not None:
            self.pending.append((self.part.sink, data[start:end]))
            self.pending_bytes += end - start
            return
        self.part.text += data[start:end]
        if len(self.part.text) > _MAX_FIELD_BYTES:
            raise ApiError(413, f"The field {self.part.name} is longer than 64 KB.")

    def _part_end(self) -> None:
        if self.part.sink is None and self.part.name:
            self.body.add(self.part.name, self.part.text.decode("utf-8", "replace"))

    def _end(self) -> None:
        self.ended = True


def _write_all(pending: list[tuple[BinaryIO, bytes]]) -> None:
    for sink, data in pending:
        sink.write(data)
