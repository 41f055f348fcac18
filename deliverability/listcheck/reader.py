"""Reading a contact list as people export it: CSV with any of the usual delimiters, or one
address per line; UTF-8 (with or without a BOM), Windows-1250 or UTF-16; the e-mail column
found by its header or its content. Streams: memory stays bounded whatever the file's size.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import stat
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO, Self

from deliverability.listcheck.rules import header_key, header_score

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

SNIFF_BYTES = 64 * 1024  # the encoding is decided from this much of the file
SAMPLE_LINES = 100  # the delimiter from this many lines ...
SAMPLE_RECORDS = 200  # ... and the header and e-mail column from this many records
SAMPLE_CHARS = 256 * 1024  # whichever comes first
MAX_LINE_CHARS = 1_000_000  # a longer line is reported, not read into memory
# A quoted field may hold line breaks; an opening quote still open after this many lines (or
# characters) is taken as a stray quote and the line is read as it stands.
MAX_RECORD_LINES = 50
MAX_RECORD_CHARS = 1_000_000
DELIMITERS = (",", ";", "\t", "|")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with BOM",
    "cp1250": "Windows-1250",
    "utf-16": "UTF-16",
    "utf-16-le": "UTF-16 LE",
    "utf-16-be": "UTF-16 BE",
}

# What a file is when it is no text (its first bytes), for the error message.
_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (an .xlsx or .ods spreadsheet?)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old-style Office document (an .xls spreadsheet?)"),
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "a program"),
)
# Bytes that don't occur in text files (tab, line feed, form feed, carriage return, escape and
# the DOS end-of-file mark do). More than this share of them in the first bytes: binary.
_CONTROL_BYTES = bytes(set(range(32)) - {9, 10, 11, 12, 13, 26, 27})
_BINARY_CONTROL_SHARE = 0.05
_BINARY_CONTROL_MIN = 32  # a few stray NULs in a short text file don't make it binary
_FALLBACK_ERRORS = "listcheck-cp1250"

# Loosely an address, for telling columns and delimiters apart (validation comes later).
_ADDRESS_LIKE = re.compile(r"[^\s@,;|\"'<>]+@[^\s@,;|\"'<>]+\.[^\s@,;|\"'<>]+")


def _decode_as_cp1250(error: UnicodeError) -> tuple[str, int]:
    """A byte that is not UTF-8 in a UTF-8 file is most often a Windows-1250 character pasted
    in (ł is 0xB3): decode it as such rather than as a replacement character."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start : error.end].decode("cp1250", errors="replace"), error.end


codecs.register_error(_FALLBACK_ERRORS, _decode_as_cp1250)


class ListFileError(Exception):
    """The file can't be read as a list; `str(error)` says why, in words for the person who
    gave it."""


@dataclass(frozen=True)
class ListLayout:
    """What the list looks like: found from its first bytes and rows."""

    encoding: str  # a codec name: utf-8, utf-8-sig, cp1250, utf-16, ...
    delimiter: str | None  # None: one value per line
    header: tuple[str, ...] | None  # the first row, when it names the columns
    email_column: int  # 0-based
    width: int  # columns of the report (the header's, else the most common row length)

    @property
    def encoding_label(self) -> str:
        return ENCODING_NAMES.get(self.encoding, self.encoding)

    @property
    def delimiter_label(self) -> str:
        return DELIMITER_NAMES[self.delimiter] if self.delimiter else "one address per line"

    @property
    def email_column_label(self) -> str:
        """'"E-mail" (column 3)' or 'column 3'."""
        number = f"column {self.email_column + 1}"
        if self.header is not None and self.email_column < len(self.header) and self.header[self.email_column]:
            return f'"{self.header[self.email_column]}" ({number})'
        return number

    def describe(self) -> str:
        parts = [self.encoding_label, self.delimiter_label]
        if self.delimiter is not None:
            parts.append("with a header" if self.header is not None else "no header")
            parts.append(f"e-mail in {self.email_column_label}")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One record of the list. `row` is the line it starts on (1-based, the header counts:
    a spreadsheet's row number); `email` is the raw text of its e-mail cell; `problem` says why
    the row has no address to check (a line too long, a row without the e-mail column)."""

    row: int
    cells: list[str]
    email: str
    problem: str = ""


def looks_like_address(cell: str) -> bool:
    value = cell.strip().strip("\"'")
    if value.endswith(">") and "<" in value:
        value = value[value.rfind("<") + 1 : -1]
    return bool(_ADDRESS_LIKE.fullmatch(value))


# --- bytes to lines --------------------------------------------------------------------------


class _Source(io.RawIOBase):
    """The file's bytes, the sniffed head first, counting what has been read (for progress)."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = memoryview(head)
        self._rest = rest
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        target = memoryview(buffer).cast("B")
        if len(self._head):
            count = min(len(target), len(self._head))
            target[:count] = self._head[:count]
            self._head = self._head[count:]
        else:
            data = self._rest.read(len(target))
            count = len(data)
            target[:count] = data
        self.bytes_read += count
        return count


def _read_head(stream: BinaryIO) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < SNIFF_BYTES:
        chunk = stream.read(SNIFF_BYTES - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _utf16_without_bom(head: bytes) -> str | None:
    if len(head) < 8:
        return None
    even, odd = head[0::2], head[1::2]
    if odd.count(0) > 0.3 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.3 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


def detect_encoding(head: bytes, *, name: str = "the file", complete: bool = False) -> str:
    """The codec for a file that starts with `head` (`complete`: the whole file). Raises
    ListFileError for a binary file."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    utf16 = _utf16_without_bom(head)
    if utf16 is not None:
        return utf16
    for signature, what in _BINARY_SIGNATURES:
        if head.startswith(signature):
            raise ListFileError(f"{name} is {what}, not a CSV or text file: save it as CSV (UTF-8) and try again.")
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    if controls > max(_BINARY_CONTROL_SHARE * len(head), _BINARY_CONTROL_MIN):
        raise ListFileError(f"{name} is not a text file (it holds binary data): save the list as CSV (UTF-8).")
    text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(head, final=complete)
    bad = text.count("\ufffd")
    if not bad:
        return "utf-8"
    # Mostly UTF-8 with a few stray bytes stays UTF-8 (the stray bytes are read as
    # Windows-1250); no valid multi-byte sequence at all means a Windows-1250 file.
    good = sum(1 for char in text if ord(char) > 127) - bad
    return "utf-8" if good > bad else "cp1250"


def _physical_lines(text: io.TextIOBase) -> Iterator[str | None]:
    """The file's lines with their line breaks; None for a line longer than MAX_LINE_CHARS,
    which is skipped without being held in memory."""
    while True:
        line = text.readline(MAX_LINE_CHARS)
        if not line:
            return
        if len(line) >= MAX_LINE_CHARS and not line.endswith(("\n", "\r")):
            while True:
                rest = text.readline(MAX_LINE_CHARS)
                if not rest or rest.endswith(("\n", "\r")):
                    break
            yield None
            continue
        yield line


# --- lines to records ------------------------------------------------------------------------


def _ends_in_open_quote(text: str, delimiter: str) -> bool:
    """Whether `text` ends inside a quoted field (csv's rules: a quote opens a field only as
    its first character; "" inside quotes is a literal quote)."""
    in_quotes = False
    at_field_start = True
    i, length = 0, len(text)
    while i < length:
        char = text[i]
        if in_quotes:
            if char == '"':
                if i + 1 < length and text[i + 1] == '"':
                    i += 1
                else:
                    in_quotes = False
        elif char == '"' and at_field_start:
            in_quotes = True
        at_field_start = not in_quotes and char == delimiter
        i += 1
    return in_quotes


def _split(text: str, delimiter: str | None) -> list[str]:
    """One record's text (without its final line break) as cells. A line of a plain list is
    taken as it stands, unquoted only when quotes enclose all of it (a one-column CSV)."""
    if delimiter is None:
        if len(text) >= 2 and text[0] == text[-1] == '"':
            return [text[1:-1].replace('""', '"')]
        return [text]
    if '"' not in text:
        return text.split(delimiter)
    try:
        return next(csv.reader([text], delimiter=delimiter, strict=False), [""])
    except csv.Error:  # a field over csv's size limit: take the text as it stands
        return text.split(delimiter)


def _strip_line_break(line: str) -> str:
    if line.endswith("\r\n"):
        return line[:-2]
    if line.endswith(("\n", "\r")):
        return line[:-1]
    return line


@dataclass(frozen=True, slots=True)
class _Record:
    row: int
    cells: list[str] | None  # None: the line was too long to read


class ListFile:
    """An open list: `layout` (found on opening) and `rows()`, streamed once. Use
    `open_list()`, which also opens paths."""

    def __init__(
        self,
        stream: BinaryIO,
        *,
        name: str = "the file",
        size: int | None = None,
        column: str | int | None = None,
        owns_stream: bool = False,
    ) -> None:
        self.name = name
        self.size = size
        self.blank_rows = 0
        self._stream = stream
        self._owns_stream = owns_stream
        try:
            head = _read_head(stream)
            encoding = detect_encoding(head, name=name, complete=len(head) < SNIFF_BYTES)
            self._source = _Source(head, stream)
            errors = _FALLBACK_ERRORS if encoding == "utf-8" else "replace"
            self._text: io.TextIOWrapper | None = io.TextIOWrapper(
                io.BufferedReader(self._source), encoding=encoding, errors=errors, newline=""
            )
            self._lines = _physical_lines(self._text)
            self._line_number = 0
            self._pushback: deque[tuple[int, str | None]] = deque()
            delimiter = self._sniff_delimiter()
            self._records = self._read_records(delimiter)
            self._sample = self._sample_records()
            self.layout = _find_layout(self._sample, encoding=encoding, delimiter=delimiter, column=column, name=name)
        except OSError as error:
            self.close()
            raise ListFileError(f"{name} could not be read: {error.strerror or error}") from None
        except ListFileError:
            self.close()
            raise
        self._started = False

    @property
    def bytes_read(self) -> int:
        return self._source.bytes_read

    def _next_line(self) -> tuple[int, str | None] | None:
        if self._pushback:
            return self._pushback.popleft()
        line = next(self._lines, "")
        if line == "":
            return None
        self._line_number += 1
        return self._line_number, line

    def _sniff_delimiter(self) -> str | None:
        sample: list[tuple[int, str | None]] = []
        chars = 0
        while len(sample) < SAMPLE_LINES and chars < SAMPLE_CHARS:
            item = self._next_line()
            if item is None:
                break
            sample.append(item)
            chars += len(item[1] or "")
        self._pushback.extend(sample)
        lines = [_strip_line_break(line) for _, line in sample if line is not None and line.strip()]
        return sniff_delimiter(lines)

    def _read_records(self, delimiter: str | None) -> Iterator[_Record]:
        """Records, blank ones counted and skipped. A quoted field may span lines; a quote still
        open after MAX_RECORD_LINES lines is a stray one, and its line is read literally."""
        while True:
            item = self._next_line()
            if item is None:
                return
            number, line = item
            if line is None:
                yield _Record(number, None)
                continue
            text = line
            if delimiter is not None and '"' in line and _ends_in_open_quote(line, delimiter):
                parts = [line]
                chars = len(line)
                closed = False
                while len(parts) < MAX_RECORD_LINES and chars < MAX_RECORD_CHARS:
                    following = self._next_line()
                    if following is None or following[1] is None:
                        if following is not None:
                            self._pushback.appendleft(following)
                        break
                    parts.append(following[1])
                    chars += len(following[1])
                    if not _ends_in_open_quote("".join(parts), delimiter):
                        closed = True
                        break
                if closed:
                    text = "".join(parts)
                else:
                    for offset, part in reversed(list(enumerate(parts[1:], start=1))):
                        self._pushback.appendleft((number + offset, part))
                    cells = _strip_line_break(line).split(delimiter)
                    yield _Record(number, cells)
                    continue
            cells = _split(_strip_line_break(text), delimiter)
            if all(not cell.strip() for cell in cells):
                self.blank_rows += 1
                continue
            yield _Record(number, cells)

    def _sample_records(self) -> list[_Record]:
        sample: list[_Record] = []
        chars = 0
        while len(sample) < SAMPLE_RECORDS and chars < SAMPLE_CHARS:
            record = next(self._records, None)
            if record is None:
                break
            sample.append(record)
            chars += sum(len(cell) for cell in record.cells or ())
        return sample

    def rows(self) -> Iterator[SourceRow]:
        """The data rows (the header left out), in file order. Raises ListFileError when the
        file can't be read further."""
        if self._started:
            raise RuntimeError("ListFile.rows() streams the file once")
        self._started = True
        layout = self.layout
        records: Iterator[_Record] = iter(self._sample)
        if layout.header is not None:
            next(records)
        try:
            yield from (_source_row(record, layout) for record in records)
            self._sample = []
            yield from (_source_row(record, layout) for record in self._records)
        except OSError as error:
            raise ListFileError(f"{self.name} could not be read: {error.strerror or error}") from None

    def close(self) -> None:
        text: io.TextIOWrapper | None = getattr(self, "_text", None)
        if text is not None:
            self._text = None
            text.detach()  # leaves the caller's stream open
        if self._owns_stream:
            self._stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def _source_row(record: _Record, layout: ListLayout) -> SourceRow:
    if record.cells is None:
        return SourceRow(record.row, [], "", f"line too long (more than {MAX_LINE_CHARS:,} characters)")
    cells = record.cells
    if layout.email_column < len(cells):
        return SourceRow(record.row, cells, cells[layout.email_column])
    # A short row: its one cell with an @, if it has one.
    candidates = [cell for cell in cells if "@" in cell]
    if len(candidates) == 1:
        return SourceRow(record.row, cells, candidates[0])
    return SourceRow(record.row, cells, "", f"no e-mail in this row ({len(cells)} of {layout.width} columns)")


def sniff_delimiter(lines: list[str]) -> str | None:
    """The delimiter of a CSV whose first lines are `lines`, or None for one value per line:
    the one that splits out the most address-like cells, then the one giving the most regular
    rows of two columns or more."""
    if not lines:
        return None
    best: tuple[int, bool, float, int] | None = None
    chosen: str | None = None
    for delimiter in (None, *DELIMITERS):
        rows = [_split(line, delimiter) for line in lines]
        addresses = sum(1 for cells in rows if any(looks_like_address(cell) for cell in cells))
        width, frequency = Counter(len(cells) for cells in rows).most_common(1)[0]
        regularity = frequency / len(rows)
        key = (addresses, width > 1 and regularity >= 0.6, regularity, width)
        if best is None or key > best:
            best, chosen = key, delimiter
    return chosen


def _find_layout(
    records: list[_Record], *, encoding: str, delimiter: str | None, column: str | int | None, name: str
) -> ListLayout:
    rows = [record.cells for record in records if record.cells is not None]
    if not rows:
        return ListLayout(encoding, delimiter, None, 0, 1)
    first, rest = rows[0], rows[1:]
    columns = max(len(cells) for cells in rows)
    at_rest = [sum(1 for cells in rest if i < len(cells) and "@" in cells[i]) for i in range(columns)]
    scores = [header_score(first[i]) if i < len(first) else 0 for i in range(columns)]
    first_has_at = any("@" in cell for cell in first)

    if column is not None:
        index = _named_column(column, first, columns, name)
        header_named = isinstance(column, str) or (not first_has_at and max(scores) > 0)
        is_header = header_named or (not first_has_at and at_rest[index] > 0 and "." not in first[index])
    else:
        at_first = [1 if i < len(first) and "@" in first[i] else 0 for i in range(columns)]
        index = max(range(columns), key=lambda i: (at_rest[i] + at_first[i] > 0, scores[i], at_rest[i], -i))
        if at_rest[index] + at_first[index] == 0 and scores[index] == 0 and columns > 1:
            raise ListFileError(
                f"No column of {name} holds e-mail addresses: none of its first {len(rows)} rows has an @, "
                "and no column is named e-mail, email, mail or adres. Name the e-mail column in the header."
            )
        cell = first[index] if index < len(first) else ""
        # The first row names the columns when it has no @ and either a name for the e-mail
        # column or, below it, addresses where it has a word (not a broken address: no dot).
        is_header = not first_has_at and (scores[index] > 0 or (at_rest[index] > 0 and "." not in cell))

    header = tuple(first) if is_header else None
    data = rest if is_header else rows
    common = Counter(len(cells) for cells in data).most_common(1)[0][0] if data else len(first)
    width = len(first) if is_header else max(common, index + 1)
    return ListLayout(encoding, delimiter, header, index, max(width, index + 1))


def _named_column(column: str | int, first: list[str], columns: int, name: str) -> int:
    if isinstance(column, int):
        if not 1 <= column <= columns:
            raise ListFileError(f"{name} has {columns} column(s); there is no column {column}.")
        return column - 1
    wanted = header_key(column)
    for index, cell in enumerate(first):
        if header_key(cell) == wanted:
            return index
    header = ", ".join(f'"{cell}"' for cell in first)
    raise ListFileError(f'The first row of {name} has no column named "{column}" (it has {header}).')


def open_list(source: str | os.PathLike[str] | BinaryIO, *, column: str | int | None = None) -> ListFile:
    """Open a list from a path or a binary file object (left open: the caller owns it).
    `column`: the e-mail column's header name or 1-based number, else found automatically.
    Raises ListFileError with a message for people."""
    if not isinstance(source, str | os.PathLike):
        size: int | None = None
        try:
            if source.seekable():  # what is left from here on
                position = source.tell()
                size = source.seek(0, io.SEEK_END) - position
                source.seek(position)
        except (AttributeError, OSError, ValueError):
            size = None
        return ListFile(source, name=getattr(source, "name", "the file"), size=size, column=column)
    path = os.fspath(source)
    try:
        stream = open(path, "rb")  # noqa: SIM115 - ListFile closes it
    except FileNotFoundError:
        raise ListFileError(f"{path}: no such file.") from None
    except IsADirectoryError:
        raise ListFileError(f"{path} is a directory, not a file.") from None
    except PermissionError:
        raise ListFileError(f"{path}: permission denied.") from None
    except OSError as error:
        raise ListFileError(f"{path} could not be opened: {error.strerror or error}.") from None
    mode = os.fstat(stream.fileno()).st_mode
    if stat.S_ISDIR(mode):
        stream.close()
        raise ListFileError(f"{path} is a directory, not a file.")
    return ListFile(stream, name=path, size=os.fstat(stream.fileno()).st_size if stat.S_ISREG(mode) else None,
                    column=column, owns_stream=True)  # fmt: skip
