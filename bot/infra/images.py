"""Strip identifying metadata from the ID-proof photos customers send.

A phone photo of a KTP carries far more than the card: EXIF GPS coordinates of
the customer's home, the phone's make and model, timestamps, an embedded
thumbnail that may show an earlier, uncropped picture, XMP and IPTC packets,
comments and PNG text chunks. None of it is needed to check an identity, so it
is never stored: every image is decoded and re-encoded from its pixels alone.

Decoding also serves as the safety check. A file that only looks like an image
by its first bytes, is truncated, or declares a size that would take gigabytes
to decode is refused with `ImageUnreadable` before it reaches storage, so the
people who review ID proofs never open a hostile file.
"""

from __future__ import annotations

import io
import struct
import warnings
from typing import Any

from PIL import ExifTags, Image, ImageOps, JpegImagePlugin, PngImagePlugin

# An ID card photographed by a 50-megapixel phone camera still fits; anything
# larger is far more likely an attempt to exhaust memory (60 MP of RGBA is
# about 240 MB once decoded).
MAX_PIXELS = 60_000_000

# Lossless re-encoding effort. The defaults (zlib level 6, WEBP method 4) take
# 4-6 s of CPU for a noisy 12-megapixel photo and five times that at the pixel
# limit, a cheap lever for anyone sending many large files; the fastest
# settings need well under a second for about 20% (PNG) to 90% (WEBP) more
# bytes, and ID proofs are few.
_PNG_COMPRESS_LEVEL = 1
_WEBP_LOSSLESS_EFFORT = {"method": 0, "quality": 0}

_PILLOW_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
_TRANSPOSING_ORIENTATIONS = range(2, 9)


class ImageUnreadable(Exception):
    """The bytes claim to be an image but cannot be decoded safely, so the
    customer should be asked to send the photo again."""


def strip_metadata(data: bytes, media_type: str) -> bytes:
    """Return the image re-encoded without metadata, upright, pixels kept.

    `media_type` is what the magic bytes said; Pillow is only allowed to parse
    the file as that format, so a polyglot cannot steer it to another decoder.
    PDFs come back unchanged: they are not images and need other tooling.

    Only the first frame of an animated WEBP or PNG, or the primary picture of
    a multi-picture (MPO) JPEG, is kept: an ID proof is a single still photo,
    and the extra frames (depth maps, gain maps, previews) are exactly the
    kind of hidden content this function exists to drop.

    JPEGs are re-encoded with the original quantisation tables and chroma
    subsampling, which is what the photo's own encoder chose, so a second
    generation barely differs from the first; when the orientation had to be
    baked in, the tables no longer line up with the rotated blocks and quality
    95 is used instead. PNG and WEBP are re-encoded losslessly, so their
    pixels stay identical (a lossy WEBP grows, as the price of not degrading
    it further). ICC profiles are kept because without them colours shift;
    they describe a colour space, not the customer.
    """
    if media_type == "application/pdf":
        return data
    try:
        pillow_format = _PILLOW_FORMATS[media_type]
    except KeyError:
        raise ValueError(f"strip_metadata cannot handle {media_type!r}") from None

    image = _decode(data, pillow_format)
    try:
        upright = _upright(image)
        out = io.BytesIO()
        if pillow_format == "JPEG":
            _save_jpeg(image, upright, out)
        elif pillow_format == "PNG":
            _save_png(image, image if upright is None else upright, out)
        else:
            _save_webp(image, image if upright is None else upright, out)
        return out.getvalue()
    finally:
        image.close()


def _decode(data: bytes, pillow_format: str) -> Image.Image:
    """Decode fully, so every problem shows up here rather than in storage.

    Pillow's plugins report malformed input with many exception types
    (OSError, SyntaxError, ValueError, struct.error, IndexError, ...), so
    anything raised while parsing untrusted bytes counts as unreadable.
    """
    if pillow_format == "WEBP":
        # libwebp allocates the whole canvas as soon as the file is opened,
        # before Pillow's own bomb check can help, so look at the header first.
        canvas = _webp_canvas_size(data)
        if canvas is not None:
            _check_pixels(canvas)
    image: Image.Image | None = None
    try:
        # Pillow only warns between its two bomb limits; a warning would let a
        # hostile file through, so make it an error while opening. (The
        # filter change is process-wide while it lasts; leaking it to another
        # thread only makes that thread refuse a bomb too.)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[pillow_format])
            _check_pixels(image.size)
            image.load()
    except ImageUnreadable:
        if image is not None:
            image.close()
        raise
    except Exception as exc:
        if image is not None:
            image.close()
        raise ImageUnreadable(f"cannot decode {pillow_format} image: {exc}") from exc
    return image


def _check_pixels(size: tuple[int, int]) -> None:
    width, height = size
    if width * height > MAX_PIXELS:
        raise ImageUnreadable(
            f"image of {width}x{height} pixels exceeds the limit of "
            f"{MAX_PIXELS // 1_000_000} megapixels"
        )


def _webp_canvas_size(data: bytes) -> tuple[int, int] | None:
    """Read the declared canvas size from the first chunk of a WEBP file
    (lossy VP8, lossless VP8L or extended VP8X); None when it is not there,
    leaving the verdict to the decoder."""
    if len(data) < 30:
        return None
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and data[20] == 0x2F:
        (bits,) = struct.unpack_from("<I", data, 21)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None


def _upright(image: Image.Image) -> Image.Image | None:
    """The image with its EXIF orientation baked into the pixels, since the
    tag that told viewers to rotate it is about to go; None when it is
    already upright, so a JPEG can keep its quantisation tables."""
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:
        # Unparseable EXIF is dropped like any other; the pixels are fine.
        return None
    if not isinstance(orientation, int) or orientation not in _TRANSPOSING_ORIENTATIONS:
        return None
    try:
        return ImageOps.exif_transpose(image)
    except Exception as exc:
        raise ImageUnreadable(f"cannot apply EXIF orientation: {exc}") from exc


def _no_metadata(image: Image.Image) -> dict[str, Any]:
    """Encoder options shared by every format.

    Metadata is switched off explicitly rather than just left out: some
    Pillow encoders fall back to what the decoder put in `info` (the JPEG
    encoder does so for comments), and a later Pillow may do so for more.
    """
    return {"exif": b"", "xmp": b"", "icc_profile": image.info.get("icc_profile") or None}


def _save_jpeg(image: Image.Image, upright: Image.Image | None, out: io.BytesIO) -> None:
    options = _no_metadata(image)
    options["comment"] = b""
    options["progressive"] = bool(image.info.get("progressive"))
    subsampling = JpegImagePlugin.get_sampling(image)
    if upright is None:
        # Exactly what quality="keep" does. Spelled out because "keep" checks
        # `format == "JPEG"` and so raises for the many phone photos Pillow
        # opens as MPO (format "MPO", a JpegImageFile subclass).
        options["qtables"] = getattr(image, "quantization", None)
        image.save(out, format="JPEG", subsampling=subsampling, **options)
    else:
        upright.save(out, format="JPEG", quality=95, subsampling=subsampling, **options)


def _save_png(source: Image.Image, image: Image.Image, out: io.BytesIO) -> None:
    # Transparency stays: Pillow carries tRNS over from `info` by itself.
    image.save(
        out,
        format="PNG",
        compress_level=_PNG_COMPRESS_LEVEL,
        pnginfo=_png_colour_chunks(source),
        **_no_metadata(source),
    )


def _png_colour_chunks(image: Image.Image) -> PngImagePlugin.PngInfo:
    """gAMA, cHRM and sRGB say how to show the pixels, like an ICC profile;
    Pillow reads them but does not write them back unless asked."""
    chunks = PngImagePlugin.PngInfo()
    info = image.info
    if isinstance(info.get("gamma"), float):
        chunks.add(b"gAMA", struct.pack(">I", round(info["gamma"] * 100_000)))
    chromaticity = info.get("chromaticity")
    if isinstance(chromaticity, tuple) and len(chromaticity) == 8:
        chunks.add(b"cHRM", struct.pack(">8I", *(round(v * 100_000) for v in chromaticity)))
    if isinstance(info.get("srgb"), int) and not info.get("icc_profile"):
        chunks.add(b"sRGB", bytes([info["srgb"]]))
    return chunks


def _save_webp(source: Image.Image, image: Image.Image, out: io.BytesIO) -> None:
    # exact: keep the colour of fully transparent pixels, which the encoder
    # would otherwise rewrite, so the pixels really are identical.
    image.save(
        out,
        format="WEBP",
        lossless=True,
        exact=True,
        **_WEBP_LOSSLESS_EFFORT,
        **_no_metadata(source),
    )
