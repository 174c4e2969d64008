"""What a reader says when a document can't become an article.

Every reader collects all the problems it finds before giving up, so a
newsroom tool learns everything wrong with a document in one round trip.
Each problem names its field with a JSON Pointer (RFC 6901), e.g.
`/headline` or `/associations/featuremedia/renditions/original/href`.
"""

from pydantic import BaseModel


class FieldError(BaseModel):
    """One problem with one field."""

    pointer: str
    message: str


class FieldCleaned(BaseModel):
    """Careless but harmless text a reader fixed rather than refused, said back to the sender."""

    pointer: str
    detail: str


class InvalidArticle(ValueError):
    """The document is well-formed JSON but not an article khabar can accept."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        summary = "; ".join(f"{e.pointer or '/'}: {e.message}" for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"invalid article: {summary}{more}")


class MalformedDocument(ValueError):
    """The bytes are not a JSON document at all."""


def pointer(*parts: str | int) -> str:
    """A JSON Pointer from path parts, escaping `~` and `/` as RFC 6901 says."""
    if (
        len(parts) == 1
        and isinstance(parts[0], str)
        and "~" not in parts[0]
        and "/" not in parts[0]
    ):
        return "/" + parts[0]  # the common case (a plain field name), built once per field read
    escaped = (str(part).replace("~", "~0").replace("/", "~1") for part in parts)
    return "".join("/" + part for part in escaped)
