"""A multipart/form-data body, already read (and its signature checked), split into fields.

The assets request is signed over its raw bytes, so the body is read whole
first and parsed from memory here, not streamed through a form parser.
"""

from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header


class NotMultipart(ValueError):
    pass


@dataclass
class Part:
    name: str
    filename: str | None = None
    content_type: str | None = None
    data: bytearray = field(default_factory=bytearray)


def parse_form(content_type: str, body: bytes, max_parts: int = 16) -> dict[str, Part]:
    """The parts of `body` by field name (the first of each name), or NotMultipart."""
    media_type, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary:
        raise NotMultipart("the body must be multipart/form-data with a boundary")
    parts: list[Part] = []
    headers: dict[bytes, bytes] = {}
    header = [b"", b""]

    def on_part_begin() -> None:
        headers.clear()
        if len(parts) >= max_parts:
            raise NotMultipart(f"more than {max_parts} parts")

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header[0] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header[1] += data[start:end]

    def on_header_end() -> None:
        headers[header[0].strip().lower()] = header[1].strip()
        header[0], header[1] = b"", b""

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        filename = disposition.get(b"filename")
        ctype = headers.get(b"content-type")
        parts.append(
            Part(
                name=name,
                filename=filename.decode("utf-8", "replace") if filename else None,
                content_type=ctype.decode("latin-1") if ctype else None,
            )
        )

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1].data += data[start:end]

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
    })  # fmt: skip
    try:
        parser.write(body)
        parser.finalize()
    except NotMultipart:
        raise
    except Exception as error:  # python-multipart raises its own errors for broken bodies
        raise NotMultipart(f"the multipart body is broken: {error}") from error
    found: dict[str, Part] = {}
    for part in parts:
        found.setdefault(part.name, part)
    return found
