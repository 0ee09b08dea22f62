"""Reading a file someone uploads, within bounds fixed before anything is decoded.

A Parquet file is small on the wire and can be huge in memory: 36 KB of zstd held
2 million identical rows and grew a worker by 1.9 GB when read whole. So, before
decoding a single value:

- the footer (the file's own description) must be at most :data:`MAX_FOOTER_BYTES`;
- the rows it declares must be at most ``max_rows``;
- the wanted columns must be flat (a list or a struct can hold any number of values
  per row);
- the pages of the wanted columns, once decompressed, must add up to at most
  ``max_decoded_bytes``. The sizes are taken from each page's own header, which is
  what the reader allocates by (the footer's totals are only the writer's word),
  and the values a page declares must fit the rows of its row group.

Text columns are then read dictionary-encoded (a value repeated on every row is
stored once) and their size once expanded is checked against the same bound
before they become Python strings. A CSV file is its own decoded size (the body
is bounded by ``max_body_bytes``) and is read with a row cap.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import pandas as pd

MAX_FOOTER_BYTES = 1024 * 1024
_MAX_DEPTH = 12  # nesting of a page header's structures (real ones have 3)


class UploadRejected(ValueError):
    """A file that is over a bound (``too_large``) or cannot be read; the message says which, plainly."""

    def __init__(self, message: str, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


# ---------------------------------------------------------------------------
# Parquet page headers (Thrift compact protocol), read without decoding pages
# ---------------------------------------------------------------------------


class _Thrift:
    """Just enough of Thrift's compact protocol to read a Parquet page header."""

    def __init__(self, data: bytes | memoryview, pos: int) -> None:
        self.data = data
        self.pos = pos

    def byte(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 70:
                raise ValueError("varint too long")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def value(self, kind: int, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise ValueError("nested too deep")
        if kind in (1, 2):  # booleans live in the field header
            return kind == 1
        if kind == 3:
            return self.byte()
        if kind in (4, 5, 6):
            return self.zigzag()
        if kind == 7:
            self.pos += 8
            return None
        if kind == 8:
            size = self.varint()
            self.pos += size
            if self.pos > len(self.data):
                raise ValueError("binary past the end")
            return None
        if kind in (9, 10):
            head = self.byte()
            size, elem = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            for _ in range(size):
                self.value(elem, depth + 1)
            return None
        if kind == 11:
            size = self.varint()
            if size:
                types = self.byte()
                for _ in range(size):
                    self.value(types >> 4, depth + 1)
                    self.value(types & 0x0F, depth + 1)
            return None
        if kind == 12:
            return self.struct(depth + 1)
        raise ValueError(f"unknown type {kind}")

    def struct(self, depth: int = 0) -> dict[int, Any]:
        fields: dict[int, Any] = {}
        last = 0
        while True:
            head = self.byte()
            if head == 0:
                return fields
            delta, kind = head >> 4, head & 0x0F
            field = last + delta if delta else self.zigzag()
            fields[field] = self.value(kind, depth)
            last = field


def _page_sizes(data: bytes, start: int, length: int, rows: int) -> int:
    """The decompressed bytes of a column chunk's pages, from their headers; raises
    UploadRejected when a page declares more values than the row group has rows."""
    view = memoryview(data)
    end = min(start + length, len(data))
    pos, total = start, 0
    while pos < end:
        reader = _Thrift(view, pos)
        header = reader.struct()
        uncompressed, compressed = header.get(2), header.get(3)
        if not isinstance(uncompressed, int) or not isinstance(compressed, int) or uncompressed < 0 or compressed < 0:
            raise ValueError("page header without sizes")
        for field in (5, 8):  # data page header v1 and v2: field 1 is the number of values
            page = header.get(field)
            if isinstance(page, dict) and isinstance(page.get(1), int) and page[1] > rows:
                raise UploadRejected(f"a page declares {page[1]:,} values for {rows:,} rows", too_large=True)
        total += uncompressed
        pos = reader.pos + compressed
    return total


def _parquet_footer(data: bytes) -> int:
    if len(data) < 12 or data[-4:] != b"PAR1":
        raise ValueError("no Parquet footer")
    size = int.from_bytes(data[-8:-4], "little")
    if size > len(data) - 12:
        raise ValueError("Parquet footer longer than the file")
    return size


def parquet_columns(data: bytes, wanted: Sequence[str], max_rows: int | None, max_decoded_bytes: int | None,
                    name: str = "the file") -> tuple[list[str], pd.DataFrame]:
    """All the column names of a Parquet file (stripped), and a frame of those of
    ``wanted`` it has, read within the bounds (None: no bound). Text comes out as
    Python strings, numbers and booleans as numpy values.

    Raises UploadRejected naming the bound that is exceeded; other errors mean the
    bytes are not a readable Parquet file."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    footer = _parquet_footer(data)
    if footer > MAX_FOOTER_BYTES:
        raise UploadRejected(f"{name} has a Parquet footer of {footer:,} bytes (at most {MAX_FOOTER_BYTES:,})",
                             too_large=True)
    handle = pq.ParquetFile(io.BytesIO(data))
    meta = handle.metadata
    schema = handle.schema_arrow
    all_names = [str(n).strip() for n in schema.names]
    rows = sum(meta.row_group(i).num_rows for i in range(meta.num_row_groups))
    if max_rows is not None and max(rows, meta.num_rows) > max_rows:
        raise UploadRejected(f"{name} has {max(rows, meta.num_rows):,} rows: the lead card opens at most "
                             f"{max_rows:,}", too_large=True)
    picked = {str(f.name).strip(): f for f in schema if str(f.name).strip() in wanted}
    for column, fld in picked.items():
        if pa.types.is_nested(fld.type):
            raise UploadRejected(f"{name}: column '{column}' holds {fld.type} values, not plain ones")
    indices = {i for i in range(meta.num_columns)
               if meta.schema.column(i).path.split(".")[0].strip() in picked}
    if max_decoded_bytes is not None:
        decoded = 0
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            for i in indices:
                chunk = group.column(i)
                start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
                if start is None or chunk.data_page_offset is None:
                    raise ValueError("column chunk without pages")
                start = min(start, chunk.data_page_offset)
                decoded += max(chunk.total_uncompressed_size, _page_sizes(data, start, chunk.total_compressed_size,
                                                                          group.num_rows))
                if decoded > max_decoded_bytes:
                    raise UploadRejected(f"{name} holds more than {max_decoded_bytes:,} bytes of data once "
                                         "decompressed: the lead card opens at most that much", too_large=True)
    texts = [f.name for f in picked.values() if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
             or pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)]
    reader = pq.ParquetFile(io.BytesIO(data), read_dictionary=texts)
    table = reader.read(columns=[f.name for f in picked.values()], use_pandas_metadata=False)
    if max_decoded_bytes is not None:
        expanded = 0
        for column in table.columns:
            for chunk in column.chunks:
                if pa.types.is_dictionary(chunk.type) and (pa.types.is_string(chunk.type.value_type)
                                                          or pa.types.is_binary(chunk.type.value_type)
                                                          or pa.types.is_large_string(chunk.type.value_type)
                                                          or pa.types.is_large_binary(chunk.type.value_type)):
                    lengths = pc.take(pc.binary_length(chunk.dictionary), chunk.indices)
                    expanded += (pc.sum(lengths).as_py() or 0) + 8 * len(chunk)
                else:
                    expanded += chunk.nbytes
        if expanded > max_decoded_bytes:
            raise UploadRejected(f"{name} holds more than {max_decoded_bytes:,} bytes of data once expanded: "
                                 "the lead card opens at most that much", too_large=True)
    columns = [c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns]
    frame = pa.table(columns, names=[str(n).strip() for n in table.schema.names]).to_pandas()
    return all_names, frame


def csv_columns(data: bytes, wanted: Sequence[str], max_rows: int | None,
                name: str = "the file") -> tuple[list[str], pd.DataFrame]:
    """All the column names of a CSV file (stripped), and a frame of those of ``wanted``
    it has, every value as text as written, at most ``max_rows`` rows (UploadRejected
    beyond)."""
    options = {"dtype": str, "keep_default_na": False, "encoding_errors": "replace"}
    header = pd.read_csv(io.BytesIO(data), nrows=0, **options)
    all_names = [str(c).strip() for c in header.columns]
    keep = set(wanted)
    frame = pd.read_csv(io.BytesIO(data), usecols=lambda c: str(c).strip() in keep,
                        nrows=None if max_rows is None else max_rows + 1, **options)
    if max_rows is not None and len(frame) > max_rows:
        raise UploadRejected(f"{name} has more than {max_rows:,} rows: the lead card opens at most {max_rows:,}",
                             too_large=True)
    frame.columns = [str(c).strip() for c in frame.columns]
    return all_names, frame
