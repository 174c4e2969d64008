"""The problems the push routes answer with, each saying what a Superdesk administrator can do."""

from khabar_ingest.problems import ProblemDetails
from khabar_shared.problems import FieldProblem

_TYPE_BASE = "urn:khabar:problem:"


def bad_signature(reason: str, instance: str | None = None) -> ProblemDetails:
    """401: the request is not signed with any push secret ingest knows."""
    return ProblemDetails(
        type=_TYPE_BASE + "bad-signature",
        title="The request is not signed with a known push secret",
        status=401,
        detail=reason,
        instance=instance,
        headers={
            "WWW-Authenticate": 'Signature realm="khabar-push", header="x-superdesk-signature"'
        },
    )


MISSING_SIGNATURE = (
    "No x-superdesk-signature header. In Superdesk, set this destination's 'Secret token' "
    "to the secret made by `khabar keys push create NAME` (or KHABAR_BOOTSTRAP_PUSH_SECRET)."
)
WRONG_SIGNATURE = (
    "The x-superdesk-signature (sha1=HMAC-SHA1 of the body) matches no push secret. Check that "
    "the destination's 'Secret token' is the current secret (`khabar keys push list`; a rotated "
    "secret stops working after its grace period)."
)


def media_problem(
    status: int, field: str, message: str, instance: str | None = None
) -> ProblemDetails:
    titles = {
        413: "The media file is too large",
        415: "The media file is not an image khabar takes",
        422: "The media upload is not valid",
        400: "The media upload is not readable",
    }
    return ProblemDetails(
        type=_TYPE_BASE + "invalid-media",
        title=titles.get(status, "The media upload is refused"),
        status=status,
        detail=f"{field}: {message}",
        instance=instance,
        errors=[FieldProblem(pointer="/" + field, detail=message)],
    )


def media_not_held(media_id: str, instance: str | None = None) -> ProblemDetails:
    return ProblemDetails(
        type=_TYPE_BASE + "media-not-found",
        title="No such media file",
        status=404,
        detail=f"No media file {media_id!r} is held; POST it to the assets URL.",
        instance=instance,
    )
