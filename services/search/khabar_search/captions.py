"""What a reader may remember of an article's picture: its caption, alt text and credit.

Pictures pushed by a newsroom (Superdesk's media items) reach the article as its
featured image; their words are searchable with the article's, below its body, so
"the fallen crane at dawn" finds the story that the photo illustrates.
"""

from khabar_shared.events import Article


def captions_of(article: Article) -> str:
    image = article.featured_image
    if image is None:
        return ""
    return "\n".join(
        dict.fromkeys(part for part in (image.caption, image.alt, image.credit) if part)
    )
