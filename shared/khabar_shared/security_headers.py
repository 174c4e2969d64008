"""Headers that tell a browser what a khabar page may do: the page's Content Security Policy.

Pages load scripts, styles and fonts from their own site only, never inline
(the one inline `<script>` is JSON-LD, a data block a browser does not run);
pictures from the site and the image hosts the operator allows; no page may
be framed by another site, none may set its `<base>`, and forms post to the
site only. `X-Content-Type-Options: nosniff` goes on every answer, so no
JSON or text is ever read as script or style.
"""

from collections.abc import Iterable
from typing import Any

ANY_HOST = "*"


def content_security_policy(image_hosts: Iterable[str]) -> str:
    """The pages' policy; `image_hosts` as `ImagePolicy` reads them ('*': any web host)."""
    hosts = sorted(set(image_hosts))
    images = [
        "'self'",
        *(
            ["https:", "http:"]
            if ANY_HOST in hosts
            else [f"https://{host} http://{host}" for host in hosts]
        ),
    ]
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "font-src 'self'",
            "connect-src 'self'",
            f"img-src {' '.join(images)}",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        )
    )


class SecurityHeadersMiddleware:
    """Adds the policy to HTML answers and `nosniff` to every answer.

    Plain ASGI, not Starlette's BaseHTTPMiddleware (which runs each request
    through extra tasks and streams): it only adds headers to the start message.
    """

    def __init__(self, app: Any, image_hosts: Iterable[str] = (ANY_HOST,)) -> None:
        self.app = app
        self.policy = content_security_policy(image_hosts).encode()

    def added_to(self, raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """An answer's raw headers with this policy's (for answers made outside the middleware)."""
        headers = list(raw)
        # Once: a route that sets it itself (render's media) must not get it twice.
        if not any(name.lower() == b"x-content-type-options" for name, _ in headers):
            headers.append((b"x-content-type-options", b"nosniff"))
        content_type = next((v for k, v in headers if k == b"content-type"), b"")
        if content_type.startswith(b"text/html"):
            headers.append((b"content-security-policy", self.policy))
            headers.append((b"referrer-policy", b"strict-origin-when-cross-origin"))
        return headers

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": self.added_to(message.get("headers", []))}
            await send(message)

        await self.app(scope, receive, with_headers)
