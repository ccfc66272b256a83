"""The photo pipeline: check an upload by its content, make the public copies (EXIF is read by
:mod:`webapp.photos.exif`, the files and the row are stored by :mod:`webapp.photos.services`).

One decode per upload: the original is opened once (JPEG via ``Image.draft`` at a reduced DCT
scale when that still gives at least the public size), resized, turned upright (EXIF
orientation) on the small image, converted to sRGB and encoded; the thumbnail is made from the
public copy, not from the original.

Limits: 20 MB per file (the Core issue), 60 megapixels per image (a 48 MP phone sensor fits;
a decompression bomb does not), and 25 megapixels for what cannot be decoded at a reduced scale
(PNG, WebP, HEIC, progressive JPEG; see :mod:`webapp.photos.limits`). The pixel count is read
from the file header and checked before any bitmap is allocated; the decode itself waits for a
slot of :data:`webapp.photos.limits.DECODE_GATE`.
"""
from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from datetime import datetime

import pillow_heif
from flask_babel import lazy_gettext as _l
from PIL import Image, ImageCms, ImageFile, UnidentifiedImageError

from webapp.photos.exif import TAG_ORIENTATION, read_gps, read_taken_at

from webapp.photos import limits
from webapp.photos.limits import DecodeBusy  # noqa: F401  (re-exported for the views)

pillow_heif.register_heif_opener()

MAX_BYTES = 20 * 1024 * 1024
# Below Pillow's own warning threshold (about 89.5 MP), so the explicit check always fires first.
MAX_PIXELS = 60_000_000
PUBLIC_LONG_SIDE = 2048
THUMB_LONG_SIDE = 400
PUBLIC_QUALITY = 85
THUMB_QUALITY = 80

# Pillow format name -> content type. MPO is a JPEG with extra frames (many phone cameras).
CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "HEIF": "image/heic",
}
# Only these openers are tried: a GIF, TIFF, BMP, SVG... is refused whatever its name says.
OPENERS = ["JPEG", "PNG", "WEBP", "HEIF"]
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/heic": "heic"}

# EXIF orientation -> transpose, the same table as PIL.ImageOps.exif_transpose.
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


class PhotoError(ValueError):
    """An upload that is not an acceptable photo.

    ``message`` is a lazy_gettext string meant for the resident (English msgid); ``filename``
    (may be None) names the file as the browser sent it, so a form with several photos can say
    which one was refused. ``str(error)`` gives the translated message.
    """

    def __init__(self, message, filename: str | None = None):
        super().__init__(message)
        self.message = message
        self.filename = filename

    def __str__(self) -> str:
        return str(self.message)


@dataclass
class ProcessedPhoto:
    """The result of :func:`process_photo`.

    ``original`` is the upload byte for byte (``sha256`` is its hex digest, ``content_type`` its
    type as recognised from the content). ``public_jpeg`` (at most 2048 px on the long side) and
    ``thumb_jpeg`` (at most 400 px) are upright sRGB JPEGs with no metadata at all.
    ``width``/``height`` are pixels of the public copy. ``gps_lat``/``gps_long`` are WGS84
    degrees (south and west negative) or None; ``taken_at`` is an aware UTC datetime or None.
    """

    sha256: str
    content_type: str
    original: bytes
    public_jpeg: bytes
    thumb_jpeg: bytes
    width: int
    height: int
    gps_lat: float | None
    gps_long: float | None
    taken_at: datetime | None

    @property
    def extension(self) -> str:
        """File extension of the original without the dot: ``jpg``, ``png``, ``webp``, ``heic``."""
        return EXTENSIONS[self.content_type]


def process_photo(data: bytes, *, filename: str | None = None,
                  max_bytes: int = MAX_BYTES) -> ProcessedPhoto:
    """Check an uploaded photo and make its public copies.

    ``data`` is the file as uploaded; ``filename`` is used only in error reports (the type is
    recognised from the content, never from the name or the browser's content type).
    Accepts JPEG, PNG, WebP and HEIC up to ``max_bytes`` and :data:`MAX_PIXELS` pixels.

    Raises :class:`PhotoError` for an empty or too large file, an unsupported format, a
    decompression bomb or an image too costly for its format (refused from the header, before
    any bitmap is allocated) and a truncated or corrupt file, including a JPEG whose scan
    stops short of the size its header claims. Raises
    :class:`webapp.photos.limits.DecodeBusy` when no decode slot frees up in time (the
    server is busy: answer 503). Pure: needs no Flask application.
    """
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # something in the process switched it on: fail loudly
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must be False: truncated photos "
                           "would be stored with grey parts")
    if not data:
        raise PhotoError(_l("The file is empty."), filename)
    if len(data) > max_bytes:
        raise PhotoError(_l("The photo is too large: at most %(mb)d MB per photo.",
                            mb=max_bytes // (1024 * 1024)), filename)

    with warnings.catch_warnings():
        # Pillow warns (and only raises above twice its limit) for huge images; refuse instead.
        # Corrupt EXIF is ignored, not reported: the photo itself may still be good.
        # (catch_warnings is process-wide; the explicit MAX_PIXELS check below does not rely on it.)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        try:
            im = Image.open(io.BytesIO(data), formats=OPENERS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            # Pillow refused from the header before saying the format: a JPEG starts with SOI.
            fmt = "JPEG" if data[:2] == b"\xff\xd8" else "other"
            raise PhotoError(_too_many_pixels_message(fmt, data), filename) from None
        except UnidentifiedImageError:
            raise PhotoError(_unsupported_message(), filename) from None
        except Exception:  # a parser failing on a broken header
            raise PhotoError(_corrupt_message(), filename) from None

        with im:
            content_type = CONTENT_TYPES.get(im.format or "")
            if content_type is None:
                raise PhotoError(_unsupported_message(), filename)
            if im.format == "HEIF" and not _isobmff_complete(data):
                # libheif decodes missing tiles as flat colour instead of failing.
                raise PhotoError(_corrupt_message(), filename)
            width, height = im.size
            if width < 1 or height < 1:
                raise PhotoError(_bomb_message(), filename)
            if width * height > MAX_PIXELS:
                raise PhotoError(_too_many_pixels_message(im.format, data), filename)
            jpeg = limits.jpeg_structure(data) if im.format in ("JPEG", "MPO") else None
            if im.format in ("JPEG", "MPO") and jpeg is None:
                raise PhotoError(_corrupt_message(), filename)
            if (limits.full_decode_limit_applies(im.format, jpeg)
                    and width * height > limits.FULL_DECODE_MAX_PIXELS):
                raise PhotoError(_costly_message(), filename)
            if jpeg is not None and jpeg.huffman and jpeg.entropy_bytes < limits.min_entropy_bytes(jpeg):
                # A header claiming far more pixels than the data holds: libjpeg would make grey.
                raise PhotoError(_corrupt_message(), filename)
            try:
                exif = im.getexif()
            except Exception:
                exif = Image.Exif()
            gps_lat, gps_long = read_gps(exif)
            taken_at = read_taken_at(exif)
            # pillow-heif applies HEIF rotation itself and drops the EXIF tag.
            orientation = exif.get(TAG_ORIENTATION) if im.format != "HEIF" else None
            with limits.DECODE_GATE.slot():
                try:
                    public = _public_image(_decodable(im, data, jpeg), orientation)
                except Exception:
                    raise PhotoError(_corrupt_message(), filename) from None
                thumb = public.resize(_fit(public.size, THUMB_LONG_SIDE), Image.Resampling.LANCZOS,
                                      reducing_gap=2.0) if max(public.size) > THUMB_LONG_SIDE else public
                public_jpeg = _encode(public, PUBLIC_QUALITY, optimize=False)
                thumb_jpeg = _encode(thumb, THUMB_QUALITY, optimize=True)

    return ProcessedPhoto(
        sha256=hashlib.sha256(data).hexdigest(),
        content_type=content_type,
        original=data,
        public_jpeg=public_jpeg,
        thumb_jpeg=thumb_jpeg,
        width=public.width,
        height=public.height,
        gps_lat=gps_lat,
        gps_long=gps_long,
        taken_at=taken_at,
    )


def _bomb_message():
    return _l("The image has too many pixels (at most %(mp)d megapixels).",
              mp=MAX_PIXELS // 1_000_000)


def _too_many_pixels_message(fmt: str | None, data: bytes):
    """The message for an image over :data:`MAX_PIXELS`, naming the limit that applies to it:
    60 MP for a sequential JPEG, 25 MP (:func:`_costly_message`) for the rest, so a 64 MP PNG is
    not told "at most 60" when 30 MP would be refused as well."""
    jpeg = limits.jpeg_structure(data) if fmt in ("JPEG", "MPO") else None
    return _costly_message() if limits.full_decode_limit_applies(fmt or "", jpeg) else _bomb_message()


def _costly_message():
    return _l("The image has too many pixels for its format: a PNG, WebP, HEIC or progressive "
              "JPEG may have at most %(mp)d megapixels (a JPEG photo from a camera up to %(max)d). "
              "Send a smaller image or a JPEG.",
              mp=limits.FULL_DECODE_MAX_PIXELS // 1_000_000, max=MAX_PIXELS // 1_000_000)


def _decodable(im: ImageFile.ImageFile, data: bytes, jpeg: limits.JpegStructure | None) -> ImageFile.ImageFile:
    """The image to decode: ``im`` itself, or for a sequential JPEG the same image opened
    without its EOI marker, so that a scan stopping short raises instead of decoding as grey
    (:func:`webapp.photos.limits.without_eoi`)."""
    if jpeg is None or not jpeg.sequential:
        return im
    return Image.open(io.BytesIO(limits.without_eoi(data, jpeg)), formats=["JPEG"])


def _unsupported_message():
    return _l("This file is not a photo we accept. Send a JPEG, PNG, WebP or HEIC photo.")


def _corrupt_message():
    return _l("The photo is damaged or incomplete. Try sending it again.")


def _isobmff_complete(data: bytes) -> bool:
    """Whether the top-level boxes of an ISO BMFF file (HEIF) fit exactly in ``data``.

    Box header: 32-bit big-endian size and 4-byte type; size 1 means a 64-bit size follows,
    size 0 means "to the end of the file" (ISO/IEC 14496-12, 4.2). A file cut short leaves
    its last box (usually ``mdat``) claiming more bytes than there are.
    """
    offset, end = 0, len(data)
    while offset < end:
        if end - offset < 8:
            return False
        size = int.from_bytes(data[offset:offset + 4], "big")
        header = 8
        if size == 1:
            if end - offset < 16:
                return False
            size = int.from_bytes(data[offset + 8:offset + 16], "big")
            header = 16
        elif size == 0:
            return True
        if size < header or offset + size > end:
            return False
        offset += size
    return True


def _fit(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """Scale ``size`` so its long side is at most ``long_side`` (never enlarges)."""
    w, h = size
    scale = min(1.0, long_side / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def _public_image(im: ImageFile.ImageFile, orientation) -> Image.Image:
    """Decode ``im`` once and return the upright, sRGB, RGB public image (no metadata)."""
    target = _fit(im.size, PUBLIC_LONG_SIDE)
    box = None
    if im.format in ("JPEG", "MPO") and target != im.size:
        # DCT scaling while decoding: cheaper and smaller than a full decode, never below target.
        drafted = im.draft("RGB", target)
        if drafted is not None:
            box = drafted[1]
    icc = im.info.get("icc_profile")
    transparency = "transparency" in im.info
    im.load()  # raises OSError for a truncated file (LOAD_TRUNCATED_IMAGES stays False)

    img: Image.Image = _resizable(im, transparency)
    if img.size != target:
        img = img.resize(target, Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
    img = _flatten(img)
    img = _to_srgb(img, icc)
    if orientation in _ORIENTATION:
        img = img.transpose(_ORIENTATION[orientation])
    img.info = {}  # nothing from the original may reach the encoder (comments, XMP, ICC...)
    return img


def _resizable(im: Image.Image, transparency: bool) -> Image.Image:
    """Convert modes Pillow cannot resample well (palette, 1-bit, 16/32-bit) to 8-bit ones."""
    mode = im.mode
    if mode in ("P", "PA"):
        return im.convert("RGBA" if transparency or mode == "PA" else "RGB")
    if mode == "1":
        return im.convert("L")
    if mode.startswith("I;16") or mode == "I":
        # 16-bit grey (PNG): keep the high byte instead of clipping at 255.
        return im.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if mode == "F":
        return im.convert("L")
    if mode == "L" and transparency:
        return im.convert("LA")
    if mode == "RGB" and transparency:
        return im.convert("RGBA")
    return im


def _flatten(img: Image.Image) -> Image.Image:
    """Put an image with alpha onto white (a JPEG has no transparency)."""
    if img.mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img


def _to_srgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    """Convert to RGB in sRGB using the embedded ICC profile when there is one.

    A profile that cannot be read or does not match the pixel mode is ignored (plain convert).
    """
    if icc:
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            description = ImageCms.getProfileDescription(profile).strip()
            if not description.startswith("sRGB") or img.mode != "RGB":
                converted = ImageCms.profileToProfile(img, profile, _SRGB, outputMode="RGB")
                if converted is not None:
                    img = converted
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass
    return img if img.mode == "RGB" else img.convert("RGB")


def _encode(img: Image.Image, quality: int, *, optimize: bool) -> bytes:
    """JPEG bytes with no EXIF, ICC, XMP or comment (only what is passed here is written).

    ``optimize``: optimised Huffman tables, the same pixels in fewer bytes. Worth it for the
    thumbnail (on every list; under 1 ms), not for the public copy: for a 2048 px photo it
    doubled the encode (16 to 35 ms) to save 1.3 % (bench/photo_pipeline.py, issue 12). Not
    progressive: it would save another 3 % but costs as much as the rest of the encode.
    """
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality, optimize=optimize)
    return out.getvalue()
