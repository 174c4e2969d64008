"""What a refused upload tells the sender: the reason, never the process's internals."""

import pytest

from khabar_ingest.push.media import MediaRefused, verify_image


@pytest.mark.parametrize(
    "data",
    [b"<html><script>alert(1)</script></html>", b'<svg xmlns="http://www.w3.org/2000/svg"/>'],
)
def test_a_file_that_is_no_image_is_refused_without_pillows_object_repr(data: bytes) -> None:
    # It said "cannot identify image file <_io.BytesIO object at 0x7f1bc13fe0c0>".
    with pytest.raises(MediaRefused) as refused:
        verify_image(data, "image/png", max_pixels=10_000_000)
    message = str(refused.value) + repr(refused.value.args)
    assert refused.value.status == 415
    assert "BytesIO" not in message and "0x" not in message
    assert "JPEG, PNG, GIF or WebP" in message
