"""The photo pipeline on real photos: recognition by content, refusal of bad files and bombs,
EXIF orientation, GPS and time, metadata-free public copies, storage and the photo URLs."""
from __future__ import annotations

import hashlib
import io
import struct
import uuid
import warnings
import zlib
from datetime import datetime, timezone
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageOps, ImageStat, features
from PIL.ExifTags import IFD

from tests.factories import make_report
from webapp.photos.pipeline import PhotoError, ProcessedPhoto, process_photo
from webapp.photos.services import save_photo
from webapp.photos.storage import FileStorage, get_storage

LODZ = "derived_lodz_gps_DSCN0025.jpg"
ITALY = "gps_DSCN0010.jpg"
HEIC = "gps_IMG_5195.HEIC"
ORIENT6 = "orientation6_landscape_6.jpg"
ORIENT8 = "orientation8_portrait_8.jpg"
ALL_PHOTOS = [LODZ, ITALY, HEIC, ORIENT6, ORIENT8]
# Same folder as conftest.fixture_photo (not imported: tests/ is not a package here).
PHOTOS = Path(__file__).resolve().parent / "fixtures" / "photos"


def read(name: str) -> bytes:
    return (PHOTOS / name).read_bytes()


def jpeg(size=(320, 240), color=(200, 40, 40), **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG", **save)
    return out.getvalue()


def exif_with(gps: dict | None = None, exif_ifd: dict | None = None) -> Image.Exif:
    exif = Image.Exif()
    if gps:
        exif.get_ifd(IFD.GPSInfo).update(gps)
    if exif_ifd:
        exif.get_ifd(IFD.Exif).update(exif_ifd)
    return exif


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (RGB) with a tiny, useless IDAT."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def png_bomb(side: int = 20000) -> bytes:
    """A real, complete grey PNG of ``side`` x ``side`` zero pixels, compressed row by row
    (a few hundred kB on disk, 400 MB as a bitmap) without ever holding the bitmap."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    comp = zlib.compressobj(9)
    row = b"\0" * (side + 1)  # filter byte + pixels
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def assert_no_metadata(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    assert im.format == "JPEG"
    assert im.mode == "RGB"
    assert dict(im.getexif()) == {}
    for key in ("exif", "icc_profile", "xmp", "comment", "photoshop", "adobe"):
        assert key not in im.info, key
    for marker in (b"Exif\0", b"http://ns.adobe.com/xap", b"ICC_PROFILE", b"NIKON", b"Apple", b"iPhone"):
        assert marker not in data, marker
    return im


# --- recognition and refusal -------------------------------------------------------------

@pytest.mark.parametrize("name, content_type", [(LODZ, "image/jpeg"), (ITALY, "image/jpeg"),
                                                (HEIC, "image/heic")])
def test_real_photos_are_accepted_and_kept_byte_for_byte(name, content_type):
    data = read(name)
    photo = process_photo(data, filename=name)
    assert isinstance(photo, ProcessedPhoto)
    assert photo.content_type == content_type
    assert photo.original == data
    assert photo.sha256 == hashlib.sha256(data).hexdigest()


def test_type_comes_from_content_not_name():
    out = io.BytesIO()
    Image.new("RGB", (50, 40), "blue").save(out, "PNG")
    assert process_photo(out.getvalue(), filename="holiday.jpg").content_type == "image/png"
    assert process_photo(read(HEIC), filename="IMG_5195.jpg").content_type == "image/heic"


def test_webp_is_accepted():
    out = io.BytesIO()
    Image.new("RGB", (80, 60), "green").save(out, "WEBP")
    photo = process_photo(out.getvalue(), filename="a.webp")
    assert photo.content_type == "image/webp"
    assert (photo.width, photo.height) == (80, 60)


def test_mpo_camera_jpeg_counts_as_jpeg():
    frames = [Image.new("RGB", (64, 48), c) for c in ("red", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "MPO", save_all=True, append_images=frames[1:])
    assert Image.open(io.BytesIO(out.getvalue())).format == "MPO"
    photo = process_photo(out.getvalue())
    assert photo.content_type == "image/jpeg"


def test_text_file_named_jpg_is_refused_with_a_clear_message():
    with pytest.raises(PhotoError) as err:
        process_photo(b"This is not a photo, just text.\n" * 20, filename="pothole.jpg")
    assert err.value.filename == "pothole.jpg"
    assert "JPEG, PNG, WebP or HEIC" in str(err.value)
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "AVIF"])
def test_other_image_formats_are_refused(fmt):
    if fmt == "AVIF" and not features.check("avif"):
        pytest.skip("this Pillow cannot write AVIF")
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(out, fmt)
    with pytest.raises(PhotoError, match="JPEG, PNG, WebP or HEIC"):
        process_photo(out.getvalue(), filename="x.jpg")


def test_svg_and_empty_files_are_refused():
    with pytest.raises(PhotoError):
        process_photo(b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    with pytest.raises(PhotoError, match="empty"):
        process_photo(b"", filename="a.jpg")


@pytest.mark.parametrize("name, keep", [(LODZ, 0.5), (HEIC, 0.5), (HEIC, 0.99), (ITALY, 0.9)])
def test_truncated_photo_is_refused(name, keep):
    data = read(name)
    with pytest.raises(PhotoError, match="damaged or incomplete") as err:
        process_photo(data[: int(len(data) * keep)], filename=name)
    assert err.value.filename == name


def test_truncated_png_is_refused():
    out = io.BytesIO()
    Image.effect_noise((300, 300), 60).save(out, "PNG")
    with pytest.raises(PhotoError, match="damaged or incomplete"):
        process_photo(out.getvalue()[:-3000])


def test_decompression_bomb_header_is_refused():
    with pytest.raises(PhotoError, match="too many pixels") as err:
        process_photo(png_header_only(20000, 20000), filename="bomb.png")
    assert err.value.filename == "bomb.png"


def test_real_compressed_20000px_bomb_is_refused_before_decoding():
    data = png_bomb(20000)
    assert len(data) < 1_000_000  # small on the wire, 400 MB as pixels
    with pytest.raises(PhotoError, match="too many pixels"):
        process_photo(data, filename="bomb.png")


@pytest.mark.parametrize("side", [8000, 10000])
@pytest.mark.parametrize("kind, limit", [("png", 25), ("jpeg", 60), ("progressive jpeg", 25)])
def test_images_over_60_megapixels_are_refused_naming_their_limit_without_warnings(side, kind, limit):
    # 64 MP passes Pillow's own limit; 100 MP makes Pillow warn. Both: a clear error, no warning,
    # naming the limit of the image's format (a PNG told "at most 60" would try 30 MP in vain).
    if kind == "png":
        data = png_header_only(side, side)
    else:
        data = jpeg_with_frame_size(small_real_jpeg(progressive=kind != "jpeg"), side, side)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(PhotoError, match=f"at most {limit} megapixels"):
            process_photo(data)
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]


def test_over_20_mb_is_refused_and_limit_is_configurable():
    data = read(LODZ)
    padded = data + b"\0" * (20 * 1024 * 1024 + 1 - len(data))
    with pytest.raises(PhotoError, match="at most 20 MB") as err:
        process_photo(padded, filename="big.jpg")
    assert err.value.filename == "big.jpg"
    with pytest.raises(PhotoError, match="at most 0 MB|too large"):
        process_photo(data, max_bytes=len(data) - 1)
    assert process_photo(data, max_bytes=len(data)).content_type == "image/jpeg"


# --- decode cost and JPEGs whose data stops short ------------------------------------------

def jpeg_with_frame_size(data: bytes, width: int, height: int) -> bytes:
    """``data`` (a JPEG) with its frame header (SOF) patched to claim ``width`` x ``height``;
    the scan data stays as it was."""
    out = bytearray(data)
    pos = 2
    while True:
        assert out[pos] == 0xFF
        marker, length = out[pos + 1], struct.unpack(">H", out[pos + 2:pos + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            struct.pack_into(">HH", out, pos + 5, height, width)
            return bytes(out)
        pos += 2 + length


def small_real_jpeg(**save) -> bytes:
    """A 64x64 JPEG of a real photo (the Łódź fixture scaled down)."""
    out = io.BytesIO()
    Image.open(io.BytesIO(read(LODZ))).convert("RGB").resize((64, 64)).save(out, "JPEG", quality=90, **save)
    return out.getvalue()


# A progressive JPEG over 25 MP is refused for its cost first: 4000x5000 reaches the data check.
@pytest.mark.parametrize("progressive, size", [(False, (7000, 8000)), (True, (4000, 5000))])
def test_jpeg_header_claiming_7000x8000_over_a_64x64_body_is_refused(progressive, size):
    body = small_real_jpeg(progressive=progressive)
    assert process_photo(body).width == 64  # the body alone is a good photo
    claimed = jpeg_with_frame_size(body, *size)
    assert Image.open(io.BytesIO(claimed)).size == size
    with pytest.raises(PhotoError, match="damaged or incomplete") as err:
        process_photo(claimed, filename="grey.jpg")
    assert err.value.filename == "grey.jpg"


@pytest.mark.parametrize("name", [LODZ, ORIENT6])
def test_jpeg_cut_short_but_closed_with_an_end_marker_is_refused(name):
    # A cut upload "repaired" by appending EOI: libjpeg would fill the missing half with grey.
    data = read(name)
    with pytest.raises(PhotoError, match="damaged or incomplete"):
        process_photo(data[: len(data) // 2] + b"\xff\xd9")
    with pytest.raises(PhotoError, match="damaged or incomplete"):
        process_photo(data[:-200] + b"\xff\xd9")


def test_jpeg_without_an_end_marker_but_complete_is_kept():
    data = read(ITALY)
    assert data.endswith(b"\xff\xd9")
    assert process_photo(data[:-2]).public_jpeg == process_photo(data).public_jpeg


def test_truncated_images_must_not_be_loaded_process_wide(monkeypatch):
    from PIL import ImageFile
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        process_photo(read(LODZ))


@pytest.mark.parametrize("optimize", [False, True])
def test_flat_large_jpeg_that_compresses_to_little_is_still_a_photo(optimize):
    # One colour over 36 MP: a few hundred kB, but every block is there.
    out = io.BytesIO()
    Image.new("RGB", (7000, 5200), (90, 120, 60)).save(out, "JPEG", quality=75, optimize=optimize)
    photo = process_photo(out.getvalue())
    assert (photo.width, photo.height) == (2048, 1521)
    assert Image.open(io.BytesIO(photo.public_jpeg)).convert("RGB").getpixel((2000, 1500)) == pytest.approx(
        (90, 120, 60), abs=3)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_full_decode_formats_are_limited_to_25_megapixels(fmt):
    # The 175 kB, 7745x7745 PNG that cost 3 s of CPU: refused from its header now.
    data = png_bomb(7745)
    assert len(data) < 200_000
    with pytest.raises(PhotoError, match="at most 25 megapixels") as err:
        process_photo(data, filename="big.png")
    assert err.value.filename == "big.png"
    if fmt == "WEBP":
        out = io.BytesIO()
        Image.new("RGB", (5001, 5000), "white").save(out, "WEBP", lossless=True)
        with pytest.raises(PhotoError, match="at most 25 megapixels"):
            process_photo(out.getvalue())
    else:
        with pytest.raises(PhotoError, match="at most 25 megapixels"):
            process_photo(png_header_only(5001, 5000))
        # just under the limit: a header-only PNG gets as far as decoding (and is damaged)
        with pytest.raises(PhotoError, match="damaged or incomplete"):
            process_photo(png_header_only(5000, 5000))


def test_progressive_jpeg_has_the_full_decode_limit_but_baseline_has_60_mp():
    img = Image.new("RGB", (7745, 7745), (200, 200, 200))
    baseline, progressive = io.BytesIO(), io.BytesIO()
    img.save(baseline, "JPEG", quality=70)
    img.save(progressive, "JPEG", quality=70, progressive=True)
    assert process_photo(baseline.getvalue()).width == 2048  # decoded at 1/2 scale
    with pytest.raises(PhotoError, match="at most 25 megapixels"):
        process_photo(progressive.getvalue())


def test_the_polish_message_for_a_costly_image(app):
    from flask_babel import force_locale
    with app.test_request_context(), force_locale("pl"):
        with pytest.raises(PhotoError) as err:
            process_photo(png_bomb(7745))
        assert "25 megapikseli" in str(err.value)


def test_decode_gate_bounds_concurrent_decodes():
    from webapp.photos.limits import DecodeBusy, DecodeGate
    gate = DecodeGate(slots=1, wait=0.01)
    with gate.slot():
        with pytest.raises(DecodeBusy):
            with gate.slot():
                pass
    with gate.slot():  # released again
        pass
    two = DecodeGate(slots=2, wait=0.01)
    with two.slot(), two.slot():
        with pytest.raises(DecodeBusy):
            with two.slot():
                pass


def test_busy_photo_decoder_answers_503_and_stores_nothing(make_app):
    from webapp.photos.limits import DECODE_GATE
    from tests.helpers import report_form
    app = make_app(PHOTO_DECODE_WAIT_SECONDS=0.01)
    client = app.test_client()
    with DECODE_GATE.slot():  # every slot taken (one per process by default)
        r = client.post("/report", data=report_form(client, media=[(io.BytesIO(read(LODZ)), "a.jpg")]),
                        headers={"Accept": "application/json"}, content_type="multipart/form-data")
        assert r.status_code == 503
        assert r.headers["Retry-After"] == "30"
        r = client.post("/report", data=report_form(client, media=[(io.BytesIO(read(LODZ)), "a.jpg")]),
                        content_type="multipart/form-data")
        assert r.status_code == 503
        page = r.get_data(as_text=True)
        assert "Trwa przetwarzanie wielu zdjęć" in page
        assert "Piotrkowska 104" in page  # the form comes back filled in
    from sqlalchemy import func, select
    from webapp.extensions import db
    from webapp.reports.models import Report
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Report)) == 0
    r = client.post("/report", data=report_form(client, media=[(io.BytesIO(read(LODZ)), "a.jpg")]),
                    content_type="multipart/form-data")
    assert r.status_code == 303  # free again


# --- orientation -------------------------------------------------------------------------

def edge_brightness(im: Image.Image) -> dict[str, float]:
    grey = im.convert("L")
    w, h = grey.size
    boxes = {"top": (0, 0, w, h // 6), "bottom": (0, h - h // 6, w, h),
             "left": (0, 0, w // 6, h), "right": (w - w // 6, 0, w, h)}
    return {k: ImageStat.Stat(grey.crop(b)).mean[0] for k, b in boxes.items()}


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return ImageStat.Stat(ImageChops.difference(a.convert("L"), b.convert("L"))).mean[0]


@pytest.mark.parametrize("name, size", [(ORIENT6, (600, 450)), (ORIENT8, (450, 600))])
def test_exif_orientation_is_applied(name, size):
    data = read(name)
    stored = Image.open(io.BytesIO(data))
    assert stored.size == (size[1], size[0])  # stored on its side
    photo = process_photo(data)
    assert (photo.width, photo.height) == size
    public = assert_no_metadata(photo.public_jpeg)
    assert public.size == size
    # The test pattern is a waterfall under a bright sky: upright, the sky is at the top.
    edges = edge_brightness(public)
    assert edges["top"] == max(edges.values())
    assert edges["top"] > edges["bottom"] + 30
    # ... and not mirrored: the labelled pattern matches the upright reference, not its mirror.
    upright = ImageOps.exif_transpose(stored)
    assert mean_difference(public, upright) < 20
    assert mean_difference(public, upright.transpose(Image.Transpose.FLIP_LEFT_RIGHT)) > 35
    thumb = Image.open(io.BytesIO(photo.thumb_jpeg))
    assert max(thumb.size) == 400
    assert (thumb.width > thumb.height) == (size[0] > size[1])


def test_large_jpeg_is_reduced_while_decoding_and_still_exact():
    # 4200x2800 lets the decoder work at half scale (2100x1400) and still reach 2048 px.
    img = Image.linear_gradient("L").resize((4200, 2800)).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    img.save(out, "JPEG", quality=80, exif=exif)
    photo = process_photo(out.getvalue())
    assert (photo.width, photo.height) == (1365, 2048)
    public = Image.open(io.BytesIO(photo.public_jpeg)).convert("L")
    # The gradient ran top (dark) to bottom (light); rotated 90 degrees clockwise it runs right to left.
    assert public.getpixel((1300, 1024)) < 40 and public.getpixel((60, 1024)) > 215


# --- GPS and time taken ------------------------------------------------------------------

@pytest.mark.parametrize("name, lat, lon", [(LODZ, 51.7592, 19.4560), (ITALY, 43.467448, 11.885127),
                                            (HEIC, 39.051344, -94.288772)])
def test_gps_position_from_real_photos(name, lat, lon):
    photo = process_photo(read(name))
    assert photo.gps_lat == pytest.approx(lat, abs=2e-6)
    assert photo.gps_long == pytest.approx(lon, abs=2e-6)


def test_photos_without_gps_have_no_position():
    photo = process_photo(read(ORIENT6))
    assert (photo.gps_lat, photo.gps_long) == (None, None)
    assert photo.taken_at is None


def test_south_and_west_are_negative():
    exif = exif_with(gps={1: "S", 2: (33.0, 52.0, 4.2), 3: "W", 4: (151.0, 12.0, 36.0)})
    photo = process_photo(jpeg(exif=exif))
    assert photo.gps_lat == pytest.approx(-(33 + 52 / 60 + 4.2 / 3600))
    assert photo.gps_long == pytest.approx(-(151 + 12 / 60 + 36 / 3600))


@pytest.mark.parametrize("gps", [
    {1: "N", 2: (51.0, 45.0, 33.0)},                                       # no longitude
    {2: (51.0, 45.0, 33.0), 4: (19.0, 27.0, 21.6)},                         # no hemispheres
    {1: "X", 2: (51.0, 45.0, 33.0), 3: "E", 4: (19.0, 27.0, 21.6)},         # bad reference
    {1: "N", 2: (95.0, 0.0, 0.0), 3: "E", 4: (19.0, 27.0, 21.6)},           # latitude > 90
    {1: "N", 2: (51.0, 75.0, 0.0), 3: "E", 4: (19.0, 27.0, 21.6)},          # 75 minutes
    {1: "N", 2: (0.0, 0.0, 0.0), 3: "E", 4: (0.0, 0.0, 0.0)},               # no fix: 0,0
    {1: "N", 2: (51.0, 45.0, 33.0), 3: "E", 4: (19.0, 27.0, 21.6), 9: "V"},  # void fix
])
def test_missing_or_invalid_gps_gives_no_position_but_the_photo_is_kept(gps):
    photo = process_photo(jpeg(exif=exif_with(gps=gps)))
    assert (photo.gps_lat, photo.gps_long) == (None, None)
    assert photo.public_jpeg


def test_rational_with_zero_denominator_gives_no_position():
    from PIL.TiffImagePlugin import IFDRational
    gps = {1: "N", 2: (IFDRational(51, 1), IFDRational(45, 0), IFDRational(0, 1)),
           3: "E", 4: (IFDRational(19, 1), IFDRational(27, 1), IFDRational(216, 10))}
    photo = process_photo(jpeg(exif=exif_with(gps=gps)))
    assert (photo.gps_lat, photo.gps_long) == (None, None)


def test_taken_at_without_offset_is_warsaw_local_time():
    # DSCN0025: DateTimeOriginal 2008:10:22 16:43:21, no offset -> CEST (UTC+2).
    photo = process_photo(read(LODZ))
    assert photo.taken_at == datetime(2008, 10, 22, 14, 43, 21, tzinfo=timezone.utc)
    assert photo.taken_at.utcoffset().total_seconds() == 0
    winter = process_photo(jpeg(exif=exif_with(exif_ifd={0x9003: "2024:01:15 08:00:00"})))
    assert winter.taken_at == datetime(2024, 1, 15, 7, 0, tzinfo=timezone.utc)


def test_taken_at_uses_the_offset_when_present():
    # The iPhone HEIC: 2021:04:11 15:47:53 with OffsetTimeOriginal -05:00.
    photo = process_photo(read(HEIC))
    assert photo.taken_at == datetime(2021, 4, 11, 20, 47, 53, tzinfo=timezone.utc)
    exif = exif_with(exif_ifd={0x9003: "2024:07:01 12:00:00", 0x9011: "+09:00"})
    assert process_photo(jpeg(exif=exif)).taken_at == datetime(2024, 7, 1, 3, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("junk", [
    b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff" + b"\x01" * 40,           # entries run off the end
    b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01\x88\x25\x00\x04\x00\x00\x00\x01\xff\xff\xff\x00",  # GPS IFD out of range
])
def test_corrupt_exif_is_ignored_and_the_photo_kept(junk):
    photo = process_photo(jpeg(exif=junk))
    assert (photo.gps_lat, photo.gps_long, photo.taken_at) == (None, None, None)
    assert_no_metadata(photo.public_jpeg)


@pytest.mark.parametrize("value", ["0000:00:00 00:00:00", "    :  :     :  :  ", "2024:13:40 25:00:00",
                                   "yesterday"])
def test_invalid_time_taken_gives_none(value):
    assert process_photo(jpeg(exif=exif_with(exif_ifd={0x9003: value}))).taken_at is None


# --- public copies -----------------------------------------------------------------------

@pytest.mark.parametrize("name", ALL_PHOTOS)
def test_public_copy_and_thumbnail_carry_no_metadata(name):
    photo = process_photo(read(name))
    public = assert_no_metadata(photo.public_jpeg)
    thumb = assert_no_metadata(photo.thumb_jpeg)
    assert max(public.size) <= 2048
    assert max(thumb.size) <= 400
    assert public.size == (photo.width, photo.height)


def test_heic_public_copy_is_2048_on_the_long_side():
    photo = process_photo(read(HEIC))  # 2566x3313, portrait
    assert (photo.width, photo.height) == (1586, 2048)
    thumb = Image.open(io.BytesIO(photo.thumb_jpeg))
    assert thumb.size == (310, 400)


def test_small_photos_are_not_enlarged():
    photo = process_photo(jpeg(size=(300, 200)))
    assert (photo.width, photo.height) == (300, 200)
    assert Image.open(io.BytesIO(photo.thumb_jpeg)).size == (300, 200)


def test_jpeg_comment_xmp_and_icc_are_stripped():
    from PIL import ImageCms
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><tiff:Model>SecretCam</tiff:Model></x:xmpmeta>'
    exif = exif_with(gps={1: "N", 2: (51.0, 45.0, 33.0), 3: "E", 4: (19.0, 27.0, 21.6)})
    exif[0x0110] = "SecretCam serial 1234"
    data = jpeg(exif=exif, comment=b"owner: Jan Kowalski", icc_profile=icc, xmp=xmp)
    photo = process_photo(data)
    assert photo.gps_lat is not None  # the original's metadata is read...
    for blob in (photo.public_jpeg, photo.thumb_jpeg):
        assert_no_metadata(blob)  # ... and none of it reaches the copies
        assert b"SecretCam" not in blob and b"Kowalski" not in blob
    assert b"SecretCam" in photo.original


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_transparency_is_flattened_on_white(fmt):
    img = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    img.paste((200, 0, 0, 255), (0, 0, 100, 100))  # left half opaque red, right half transparent
    out = io.BytesIO()
    img.save(out, fmt, lossless=True) if fmt == "WEBP" else img.save(out, fmt)
    photo = process_photo(out.getvalue())
    public = assert_no_metadata(photo.public_jpeg)
    r, g, b = public.getpixel((170, 50))
    assert min(r, g, b) >= 245  # white, not black
    r, g, b = public.getpixel((30, 50))
    assert r > 180 and g < 40 and b < 40


def test_palette_png_with_transparency_is_flattened_on_white():
    img = Image.new("P", (60, 60), 0)
    img.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    img.paste(1, (0, 0, 30, 60))
    out = io.BytesIO()
    img.save(out, "PNG", transparency=0)
    public = Image.open(io.BytesIO(process_photo(out.getvalue()).public_jpeg))
    assert min(public.getpixel((50, 30))) >= 245
    assert public.getpixel((10, 30))[2] > 200


def test_cmyk_and_grey_photos_become_rgb():
    for mode, color in (("CMYK", (0, 255, 255, 0)), ("L", 128)):
        out = io.BytesIO()
        Image.new(mode, (64, 64), color).save(out, "JPEG")
        public = assert_no_metadata(process_photo(out.getvalue()).public_jpeg)
        assert public.mode == "RGB"
    r, g, b = public.getpixel((32, 32))
    assert abs(r - 128) < 6 and abs(g - 128) < 6 and abs(b - 128) < 6


def test_16_bit_png_keeps_its_tones():
    img = Image.new("I;16", (64, 64), 40000)
    out = io.BytesIO()
    img.save(out, "PNG")
    public = Image.open(io.BytesIO(process_photo(out.getvalue()).public_jpeg))
    assert abs(public.getpixel((32, 32))[0] - 40000 // 256) < 4  # not clipped to 255


# --- storage -----------------------------------------------------------------------------

def test_file_storage_round_trip_and_atomic_put(tmp_path):
    storage = FileStorage(tmp_path / "media")
    key = "original/ab/" + "ab" * 32 + ".jpg"
    assert not storage.exists(key)
    storage.put(key, b"first")
    storage.put(key, b"second")  # idempotent replace
    assert storage.exists(key)
    assert storage.path(key).read_bytes() == b"second"
    assert storage.get(key) == b"second"
    assert [p.name for p in storage.path(key).parent.iterdir()] == ["ab" * 32 + ".jpg"]  # no tmp left
    storage.delete(key)
    storage.delete(key)  # missing is fine
    assert not storage.exists(key)


@pytest.mark.parametrize("key", ["../secret", "/etc/passwd", "a/../../b", "a/./b", "a//b", "",
                                 "a\\..\\b", "a\x00b", "public/.."])
def test_file_storage_refuses_keys_escaping_the_root(tmp_path, key):
    storage = FileStorage(tmp_path / "media")
    with pytest.raises(ValueError):
        storage.path(key)
    with pytest.raises(ValueError):
        storage.put(key, b"x")
    assert not (tmp_path / "secret").exists()


def test_storage_backend_is_chosen_by_config(make_app, tmp_path):
    from webapp.photos.storage import STORAGE_BACKENDS, register_storage
    app = make_app(MEDIA_ROOT=str(tmp_path / "m1"))
    with app.app_context():
        storage = get_storage()
        assert isinstance(storage, FileStorage) and storage.root == (tmp_path / "m1").resolve()
        assert get_storage() is storage
    register_storage("memory-test", lambda config: FileStorage(tmp_path / "other"))
    try:
        with make_app(MEDIA_STORAGE="memory-test").app_context():
            assert get_storage().root == (tmp_path / "other").resolve()
        with make_app(MEDIA_STORAGE="nope").app_context():
            with pytest.raises(KeyError, match="nope"):
                get_storage()
    finally:
        STORAGE_BACKENDS.pop("memory-test")


def test_file_storage_refuses_symlink_escape(tmp_path):
    (tmp_path / "media").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "media" / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(ValueError):
        FileStorage(tmp_path / "media").put("link/x.jpg", b"x")
    assert not (tmp_path / "outside" / "x.jpg").exists()


# --- saving and serving ------------------------------------------------------------------

def stored_photos(app, names):
    """A report with ``names`` saved through save_photo and committed; returns the photo ids."""
    from webapp.extensions import db
    with app.app_context():
        report = make_report(commit=False)
        db.session.flush()
        photos = [save_photo(process_photo(read(n), filename=n), report=report, position=i)
                  for i, n in enumerate(names)]
        db.session.commit()
        return [p.id for p in photos]


def test_save_photo_writes_content_addressed_files_and_a_row(app):
    from webapp.extensions import db
    from webapp.photos.models import Photo
    data = read(HEIC)
    digest = hashlib.sha256(data).hexdigest()
    with app.app_context():
        report = make_report(commit=False)
        db.session.flush()
        photo = save_photo(process_photo(data), report=report, position=0)
        db.session.commit()
        row = db.session.get(Photo, photo.id)
        assert row.report_id == report.id
        assert row.original_key == f"original/{digest[:2]}/{digest}.heic"
        assert row.public_key == f"public/{digest[:2]}/{digest}.jpg"
        assert row.thumb_key == f"thumb/{digest[:2]}/{digest}.jpg"
        assert (row.width, row.height) == (1586, 2048)
        assert row.gps_long == pytest.approx(-94.288772, abs=2e-6)
        assert row.taken_at == datetime(2021, 4, 11, 20, 47, 53, tzinfo=timezone.utc)
        storage = get_storage()
        assert storage.path(row.original_key).read_bytes() == data
        assert storage.path(row.public_key).is_relative_to(app.config["MEDIA_ROOT"])
        # A retried upload of the same bytes writes the same files, nothing new.
        files_before = sorted(p for p in storage.root.rglob("*"))
        again = save_photo(process_photo(data), report=report, position=1)
        db.session.commit()
        assert again.original_key == row.original_key
        assert sorted(p for p in storage.root.rglob("*")) == files_before


def test_save_photo_does_not_commit(app):
    from webapp.extensions import db
    from webapp.photos.models import Photo
    with app.app_context():
        report = make_report(commit=False)
        db.session.commit()
        save_photo(process_photo(read(LODZ)), report=report, position=0)
        db.session.rollback()
        assert db.session.query(Photo).count() == 0


def test_public_and_thumb_are_served_as_jpeg_cached_for_an_hour(app, client):
    public_id, heic_id = stored_photos(app, [LODZ, HEIC])
    for photo_id in (public_id, heic_id):
        resp = client.get(f"/media/photos/{photo_id}/public.jpg")
        assert resp.status_code == 200
        assert resp.mimetype == "image/jpeg"
        # cached, but not for longer than an operator's hide or rotate may take to show
        assert "immutable" not in resp.headers["Cache-Control"]
        assert 600 <= resp.cache_control.max_age <= 3600 and resp.cache_control.public
        assert_no_metadata(resp.data)
        thumb = client.get(f"/media/photos/{photo_id}/thumb.jpg")
        assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
        assert max(assert_no_metadata(thumb.data).size) == 400
        # Revalidation works with the ETag.
        again = client.get(f"/media/photos/{photo_id}/thumb.jpg",
                           headers={"If-None-Match": thumb.headers["ETag"]})
        assert again.status_code == 304


def test_unknown_photo_is_404(app, client):
    assert client.get("/media/photos/999999/public.jpg").status_code == 404
    assert client.get("/media/photos/999999/thumb.jpg").status_code == 404


def test_missing_file_is_404_not_500(app, client):
    from webapp.extensions import db
    from webapp.photos.models import Photo
    (photo_id,) = stored_photos(app, [ITALY])
    with app.app_context():
        get_storage().delete(db.session.get(Photo, photo_id).public_key)
    assert client.get(f"/media/photos/{photo_id}/public.jpg").status_code == 404


def test_original_has_no_public_url_and_is_sent_privately(app, client):
    from webapp.extensions import db
    from webapp.photos.models import Photo
    from webapp.photos.views import send_original
    jpeg_id, heic_id = stored_photos(app, [LODZ, HEIC])
    # The photos blueprint has only the two public copies; originals go through views that
    # check who is asking (department link, operator) and then call send_original.
    photo_rules = sorted(r.rule for r in app.url_map.iter_rules() if r.endpoint.startswith("photos."))
    assert photo_rules == ["/media/photos/<int:photo_id>/public.jpg",
                           "/media/photos/<int:photo_id>/thumb.jpg"]
    with app.test_request_context():
        resp = send_original(db.session.get(Photo, heic_id))
        resp.direct_passthrough = False
        assert resp.mimetype == "image/heic"
        assert resp.cache_control.private and resp.cache_control.no_store
        assert resp.cache_control.max_age is None and not resp.cache_control.public
        assert "attachment" in resp.headers["Content-Disposition"]
        assert resp.get_data() == read(HEIC)
        resp.close()
        resp = send_original(db.session.get(Photo, jpeg_id))
        resp.direct_passthrough = False
        assert resp.mimetype == "image/jpeg"
        assert "no-store" in resp.headers["Cache-Control"]
        assert resp.get_data() == read(LODZ)  # EXIF and GPS kept for the unit
        resp.close()
