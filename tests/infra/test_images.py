"""ID-proof photos lose every trace of where, when and with what they were
taken, keep their pixels, and hostile files are refused before storage."""

from __future__ import annotations

import io
import struct
import time
import zlib

import pytest
from PIL import ExifTags, Image, ImageChops, ImageCms, ImageStat, JpegImagePlugin, PngImagePlugin
from PIL.TiffImagePlugin import IFDRational

from bot.infra.images import ImageUnreadable, strip_metadata

pytestmark = pytest.mark.fast  # no servers: part of the quick inner loop

MAKE = "AcmePhoneMaker"
COMMENT = b"taken at Jl. Sudirman 12 by budi"
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" '
    b'exif:GPSLatitude="6,12.4S"/></rdf:RDF></x:xmpmeta>'
)
ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _photo(size: tuple[int, int] = (96, 64), mode: str = "RGB") -> Image.Image:
    """Smooth gradients with some structure, like a photo rather than a flat fill."""
    red = Image.linear_gradient("L").resize(size)
    green = red.transpose(Image.Transpose.ROTATE_90).resize(size)
    blue = Image.radial_gradient("L").resize(size)
    return Image.merge("RGB", (red, green, blue)).convert(mode)


def _exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = MAKE
    exif[ExifTags.Base.Model] = "X-1000 Pro"
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    # Sub-IFDs assigned as dicts: Pillow 10 does not write ones made by get_ifd().
    exif[ExifTags.IFD.Exif] = {ExifTags.Base.DateTimeOriginal: "2024:05:01 10:00:00"}
    exif[ExifTags.IFD.GPSInfo] = {  # Jakarta: 6°12'S 106°49'E
        ExifTags.GPS.GPSLatitudeRef: "S",
        ExifTags.GPS.GPSLatitude: (IFDRational(6), IFDRational(12), IFDRational(30)),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (IFDRational(106), IFDRational(49), IFDRational(0)),
    }
    return exif


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _after_soi(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    """Splice a marker segment in by hand, independent of Pillow's writer."""
    segment = bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + segment + jpeg[2:]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _png_bomb(width: int, height: int, *, complete: bool) -> bytes:
    """A 1-bit PNG that declares a huge size; complete, it decodes (its zeros
    compress to almost nothing), otherwise it is a header only."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    rows = bytes(1 + (width + 7) // 8) * height if complete else b"\x00"
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(rows))
        + _png_chunk(b"IEND", b"")
    )


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _mean_difference(a: Image.Image, b: Image.Image) -> float:
    return max(ImageStat.Stat(ImageChops.difference(a, b)).mean)


def test_jpeg_loses_gps_device_time_comment_and_xmp_but_keeps_the_picture() -> None:
    original = _photo()
    data = _encode(original, "JPEG", quality=90, exif=_exif(), icc_profile=ICC)
    data = _after_soi(data, 0xFE, COMMENT)
    data = _after_soi(data, 0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP)
    before = _open(data)
    assert before.getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the fixture really has it
    assert before.info["comment"] == COMMENT

    out = strip_metadata(data, "image/jpeg")

    after = _open(out)
    assert after.format == "JPEG"
    assert not after.getexif()
    assert not after.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert "comment" not in after.info and "xmp" not in after.info and "exif" not in after.info
    secrets = (MAKE.encode(), COMMENT, b"2024:05:01", b"Exif\x00\x00", b"ns.adobe.com/xap")
    for secret in secrets:
        assert secret not in out
    assert after.info["icc_profile"] == ICC
    assert after.size == before.size and after.mode == "RGB"
    assert _mean_difference(after, before) < 3


def test_jpeg_without_rotation_keeps_its_quantisation_and_subsampling() -> None:
    data = _encode(_photo(), "JPEG", quality=60, subsampling=0, progressive=True, exif=_exif())
    before = _open(data)

    after = _open(strip_metadata(data, "image/jpeg"))

    assert after.quantization == before.quantization
    assert JpegImagePlugin.get_sampling(after) == JpegImagePlugin.get_sampling(before) == 0
    assert after.info.get("progressive")


def test_jpeg_orientation_is_baked_into_the_pixels() -> None:
    # Stored sideways: red on the left. Orientation 6 means "turn 90° clockwise
    # to view", which puts the red half on top.
    sideways = Image.new("RGB", (64, 32), "blue")
    sideways.paste("red", (0, 0, 32, 32))
    data = _encode(sideways, "JPEG", quality=95, exif=_exif(orientation=6), comment=COMMENT)

    out = strip_metadata(data, "image/jpeg")

    after = _open(out)
    assert not after.getexif() and "comment" not in after.info
    assert MAKE.encode() not in out and COMMENT not in out
    assert after.size == (32, 64)
    assert ExifTags.Base.Orientation not in after.getexif()
    red, _, blue = after.getpixel((16, 8))
    assert red > 200 and blue < 60
    red, _, blue = after.getpixel((16, 56))
    assert red < 60 and blue > 200


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_jpeg_keeps_the_mode(mode: str) -> None:
    data = _encode(_photo(mode=mode), "JPEG", quality=90)
    before = _open(data)

    after = _open(strip_metadata(data, "image/jpeg"))

    assert after.mode == mode
    assert _mean_difference(after, before) < 1


def test_multi_picture_jpeg_keeps_only_the_primary_picture() -> None:
    second = Image.new("RGB", (96, 64), "white")
    data = _encode(_photo(), "MPO", save_all=True, append_images=[second], exif=_exif())
    assert _open(data).format == "MPO"

    out = strip_metadata(data, "image/jpeg")

    after = _open(out)
    assert after.format == "JPEG" and getattr(after, "n_frames", 1) == 1
    assert MAKE.encode() not in out and b"MPF\x00" not in out
    assert _mean_difference(after, _photo()) < 3


def test_png_loses_text_and_exif_chunks_with_identical_pixels() -> None:
    original = _photo(mode="RGBA")
    original.putalpha(Image.linear_gradient("L").resize(original.size))
    text = PngImagePlugin.PngInfo()
    text.add_text("Author", "Budi Santoso")
    text.add_itxt("GPS", "-6.2088, 106.8456", lang="id")
    text.add_text("Comment", "scanned on the office copier", zip=True)
    data = _encode(original, "PNG", pnginfo=text, exif=_exif(), icc_profile=ICC)
    before = _open(data)
    assert before.text and before.getexif()  # the fixture really has them

    out = strip_metadata(data, "image/png")

    after = _open(out)
    assert after.mode == "RGBA" and after.tobytes() == original.tobytes()
    assert after.text == {} and not after.getexif() and "exif" not in after.info
    for chunk in (b"tEXt", b"iTXt", b"zTXt", b"eXIf", b"Budi", MAKE.encode()):
        assert chunk not in out
    assert after.info["icc_profile"] == ICC


def test_png_keeps_palette_transparency_and_gamma() -> None:
    original = _photo().quantize(16)
    data = _encode(original, "PNG", transparency=3)
    data = data[:33] + _png_chunk(b"gAMA", struct.pack(">I", 45455)) + data[33:]
    before = _open(data)

    after = _open(strip_metadata(data, "image/png"))

    assert after.mode == "P" and after.tobytes() == original.tobytes()
    assert after.info["transparency"] == 3
    assert after.info["gamma"] == pytest.approx(0.45455)
    assert after.convert("RGBA").tobytes() == before.convert("RGBA").tobytes()


@pytest.mark.parametrize("mode", ["1", "L", "LA", "RGB", "I;16"])
def test_png_keeps_the_mode(mode: str) -> None:
    if mode == "I;16":  # not every Pillow converts RGB to I;16: build a 16-bit ramp
        ramp = struct.pack("<6144H", *(i * 37 % 65536 for i in range(6144)))
        original = Image.frombytes("I;16", (96, 64), ramp)
    else:
        original = _photo(mode="L").convert(mode)
    data = _encode(original, "PNG")

    after = _open(strip_metadata(data, "image/png"))

    assert after.mode == _open(data).mode
    assert after.tobytes() == _open(data).tobytes()


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
@pytest.mark.parametrize("lossless", [False, True])
def test_webp_loses_exif_and_xmp_with_identical_pixels(mode: str, lossless: bool) -> None:
    original = _photo(mode=mode)
    if mode == "RGBA":
        # A fully transparent row that still has colour: encoders rewrite
        # those unless told to be exact.
        original.putalpha(Image.linear_gradient("L").resize(original.size))
        original.paste((10, 220, 30, 0), (0, 0, original.width, 8))
    data = _encode(
        original, "WEBP", lossless=lossless, exact=True, exif=_exif(), xmp=XMP, icc_profile=ICC
    )
    before = _open(data)
    assert before.getexif() and "xmp" in before.info  # the fixture really has them

    out = strip_metadata(data, "image/webp")

    after = _open(out)
    assert after.mode == before.mode and after.tobytes() == before.tobytes()
    assert not after.getexif() and "exif" not in after.info and "xmp" not in after.info
    assert MAKE.encode() not in out and b"GPSLatitude" not in out
    assert after.info["icc_profile"] == ICC


def test_animated_webp_keeps_only_the_first_frame() -> None:
    frames = [Image.new("RGB", (16, 16), colour) for colour in ("red", "green", "blue")]
    data = _encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    assert Image.open(io.BytesIO(data)).n_frames == 3

    after = _open(strip_metadata(data, "image/webp"))

    assert getattr(after, "n_frames", 1) == 1
    assert after.tobytes() == frames[0].tobytes()


def test_pdf_is_returned_unchanged() -> None:
    pdf = b"%PDF-1.7\n1 0 obj <</Author (Budi)>> endobj\n%%EOF\n"
    assert strip_metadata(pdf, "application/pdf") == pdf


def test_an_unexpected_media_type_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="image/gif"):
        strip_metadata(b"GIF89a", "image/gif")


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(range(256)) * 4, "image/jpeg"),
        (_truncated(_encode(_photo(), "JPEG")), "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n" + b"junk" * 100, "image/png"),
        (_truncated(_encode(_photo(), "PNG")), "image/png"),
        (b"RIFF\x00\x01\x00\x00WEBPVP8 " + b"junk" * 100, "image/webp"),
        (_truncated(_encode(_photo(), "WEBP")), "image/webp"),
        # Declared one format, really another: Pillow must not try other decoders.
        (_encode(_photo(), "PNG"), "image/jpeg"),
        (_encode(_photo(), "JPEG"), "image/webp"),
    ],
    ids=[
        "jpeg-junk",
        "jpeg-cut",
        "png-junk",
        "png-cut",
        "webp-junk",
        "webp-cut",
        "png-as-jpeg",
        "jpeg-as-webp",
    ],
)
def test_undecodable_images_are_refused(data: bytes, media_type: str) -> None:
    with pytest.raises(ImageUnreadable):
        strip_metadata(data, media_type)


@pytest.mark.parametrize(
    "data",
    [
        # 64 MP: over our limit, under both of Pillow's; it would decode fine.
        _png_bomb(8_000, 8_000, complete=True),
        _png_bomb(10_000, 10_000, complete=False),  # 100 MP: where Pillow only warns
        _png_bomb(20_000, 20_000, complete=False),  # 400 MP: where Pillow refuses
    ],
    ids=["64MP", "100MP", "400MP"],
)
def test_decompression_bombs_are_refused_without_decoding(
    data: bytes, recwarn: pytest.WarningsRecorder
) -> None:
    started = time.monotonic()

    with pytest.raises(ImageUnreadable):
        strip_metadata(data, "image/png")

    assert time.monotonic() - started < 0.5
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


def test_webp_bomb_is_refused_before_libwebp_allocates_the_canvas() -> None:
    data = bytearray(_encode(Image.new("RGB", (16, 16)), "WEBP", exif=_exif()))
    assert data[12:16] == b"VP8X"
    data[24:30] = (8_999).to_bytes(3, "little") * 2  # declares a 9000x9000 canvas

    with pytest.raises(ImageUnreadable, match="megapixels"):
        strip_metadata(bytes(data), "image/webp")
