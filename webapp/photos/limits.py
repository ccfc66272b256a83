"""What one photo may cost to decode, and how many decodes one process runs at once.

A small upload must not buy a large amount of work. The cost of a photo is in its decode, and
that depends on the format:

* a sequential (baseline) JPEG is decoded at a reduced DCT scale (``Image.draft``: 1/2, 1/4 or
  1/8, never below the 2048 px public size), so even 60 megapixels decode as at most a few;
* PNG, WebP and HEIC have no reduced-scale decode in Pillow, and a progressive JPEG (or a
  sequential one in several scans) keeps a coefficient buffer of the whole image (2 bytes per
  sample) before the scaled IDCT: these are
  decoded at full size. A 175 kB PNG of 7745x7745 px took 3 s of CPU and about 300 MB, so they
  get a lower limit, :data:`FULL_DECODE_MAX_PIXELS` (25 MP: an iPhone's 24 MP HEIC fits; phones
  running the offline app send at most 2048 px anyway).

And one structural check no decoder does: libjpeg fills whatever a scan lacks with flat grey
and only *warns* (Pillow ignores its warnings), so a JPEG whose header claims 7000x8000 px with a
64x64 body decodes "successfully" as a grey image. :func:`jpeg_structure` reads the markers
(ITU-T T.81, B.1) so that :mod:`webapp.photos.pipeline` can refuse such a file before decoding
(a Huffman-coded image needs at least one bit per 8x8 block: :func:`min_entropy_bytes`) and can
decode a sequential JPEG without its end marker, which turns a missing tail into Pillow's
ordinary "truncated" error (:func:`without_eoi`).

:class:`DecodeGate` bounds the CPU-heavy part (decode, resize, encode) per process, so that
uploads use at most ``slots`` cores and public reads keep the rest.
"""
from __future__ import annotations

import re
import struct
import threading
from contextlib import contextmanager
from dataclasses import dataclass

# Full-size decodes (PNG, WebP, HEIC, progressive JPEG): pixels at most.
FULL_DECODE_MAX_PIXELS = 25_000_000
# Zero bytes put where a sequential JPEG's EOI was: libjpeg reads a few bytes ahead of the
# last block it needs (at most 8 on 64-bit builds); a file that lacks blocks consumes them as
# data and then runs out, which Pillow reports as truncated.
_EOI_PADDING = b"\0" * 16

# SOF markers (T.81 table B.1): 0xC0-0xC3, 0xC5-0xC7 Huffman, 0xC9-0xCB, 0xCD-0xCF arithmetic.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_SEQUENTIAL = {0xC0, 0xC1, 0xC9}
_HUFFMAN = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7}
_SOS, _EOI, _SOI = 0xDA, 0xD9, 0xD8
# The end of a scan's entropy-coded data: 0xFF (any fill bytes) followed by a marker that is
# neither a stuffed zero nor a restart marker (RST0-7 sit inside the scan).
# The first 0xFF of a run that ends in a marker (not a stuffed 0xFF00 nor a restart marker).
# Written with a literal first byte so the regex engine skips ahead to each 0xFF (a fast search)
# instead of trying every position: 3 ms instead of 50 for a 2048 px photo (issue 12).
_SCAN_END = re.compile(rb"\xff(?=\xff*[^\x00\xd0-\xd7\xff])")


@dataclass(frozen=True)
class JpegStructure:
    """The markers of a JPEG's first image (for an MPO, its first frame).

    ``sof`` is the frame marker (0xC0 baseline, 0xC2 progressive, ...); ``width``/``height``
    are the frame's pixels; ``sampling`` is one ``(h, v)`` factor pair per component;
    ``entropy_bytes`` counts the bytes of all scans' entropy-coded data; ``eoi`` is the offset
    of the EOI marker ending the image, None when the file ends before it; ``scans`` counts
    the SOS markers.
    """

    sof: int
    width: int
    height: int
    sampling: tuple[tuple[int, int], ...]
    entropy_bytes: int
    eoi: int | None
    scans: int = 1

    @property
    def sequential(self) -> bool:
        """A sequential (baseline or extended) JPEG in a single scan: decoded line by line, with
        no buffer for the whole image. (libjpeg buffers a sequential JPEG in several scans, one
        per component, like a progressive one.)"""
        return self.sof in _SEQUENTIAL and self.scans == 1

    @property
    def huffman(self) -> bool:
        return self.sof in _HUFFMAN


def jpeg_structure(data: bytes) -> JpegStructure | None:
    """Walk the markers of the JPEG in ``data`` up to the EOI of its first image.

    Returns None when ``data`` does not start with SOI, a segment runs past the end, or no frame
    header (SOF) comes before the first scan (bytes between segments that are not a marker are
    skipped, as Pillow and libjpeg skip them). Reads headers only: fast even for 20 MB (the scan
    data is skipped with a regular expression).
    """
    if data[:2] != b"\xff\xd8":
        return None
    pos, end = 2, len(data)
    frame = None
    entropy = scans = 0
    while pos < end:
        if data[pos] != 0xFF:  # junk between segments: skipped, as Pillow and libjpeg do
            pos += 1
            continue
        while pos < end and data[pos] == 0xFF:  # fill bytes before a marker
            pos += 1
        if pos >= end:
            break
        marker = data[pos]
        pos += 1
        if marker == _EOI:
            if frame is None:
                return None
            return JpegStructure(*frame, entropy_bytes=entropy, eoi=pos - 2, scans=scans)
        if marker in (_SOI, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            continue
        if pos + 2 > end:
            break
        length = struct.unpack(">H", data[pos:pos + 2])[0]
        if length < 2 or pos + length > end:
            return None
        if marker in _SOF:
            frame = _frame(marker, data[pos + 2:pos + length])
            if frame is None:
                return None
        pos += length
        if marker == _SOS:
            if frame is None:
                return None
            found = _SCAN_END.search(data, pos)
            scan_end = found.start() if found else end
            entropy += scan_end - pos
            scans += 1
            pos = scan_end
    if frame is None:
        return None
    return JpegStructure(*frame, entropy_bytes=entropy, eoi=None, scans=scans)


def _frame(marker: int, body: bytes):
    if len(body) < 6:
        return None
    _precision, height, width, count = struct.unpack(">BHHB", body[:6])
    if len(body) < 6 + 3 * count or count < 1:
        return None
    sampling = tuple((body[7 + 3 * i] >> 4, body[7 + 3 * i] & 0x0F) for i in range(count))
    if any(h < 1 or v < 1 for h, v in sampling):
        return None
    return marker, width, height, sampling


def min_entropy_bytes(jpeg: JpegStructure) -> int:
    """The fewest bytes of entropy-coded data a complete Huffman-coded image can have.

    Every 8x8 block of every component is coded in some scan with at least one Huffman code
    for its DC coefficient, and no Huffman code is shorter than one bit (T.81, F.1.2.1 and
    G.1.2.1), so the scans hold at least one bit per block. A component's blocks: its size is
    the image's scaled by its sampling factor over the largest factor (T.81, A.1.1).
    """
    hmax = max(h for h, _ in jpeg.sampling)
    vmax = max(v for _, v in jpeg.sampling)
    blocks = 0
    for h, v in jpeg.sampling:
        cols = -(-jpeg.width * h // hmax)
        rows = -(-jpeg.height * v // vmax)
        blocks += -(-cols // 8) * -(-rows // 8)
    return blocks // 8


def without_eoi(data: bytes, jpeg: JpegStructure) -> bytes:
    """The first image of a sequential JPEG with its EOI marker (when it has one) replaced by a
    little padding.

    A complete image has all its lines decoded before the decoder looks for EOI; an image
    whose scan stops early (libjpeg would fill the rest with grey on meeting EOI) runs out of
    data instead, and Pillow raises ``OSError("image file is truncated")`` as it does for any
    file cut short (``ImageFile.LOAD_TRUNCATED_IMAGES`` must stay False). Not for progressive
    JPEGs: their decoder needs EOI to know the last scan has come.
    """
    assert jpeg.sequential
    return (data if jpeg.eoi is None else data[:jpeg.eoi]) + _EOI_PADDING


def full_decode_limit_applies(fmt: str, jpeg: JpegStructure | None) -> bool:
    """Whether a photo of Pillow format ``fmt`` is decoded at full size (so
    :data:`FULL_DECODE_MAX_PIXELS` applies): everything but a sequential JPEG."""
    if fmt in ("JPEG", "MPO"):
        return jpeg is None or not jpeg.sequential
    return True


# --- concurrency ------------------------------------------------------------------------------

class DecodeBusy(Exception):
    """No decode slot became free within the gate's wait: the server is busy with photos."""


class DecodeGate:
    """A process-wide bound on concurrent photo decodes.

    Pillow releases the GIL while it decodes, resizes and encodes, so under a threaded server
    (werkzeug, gunicorn ``gthread``) every upload would take a core of its own and public reads
    would queue behind them. ``slots`` decodes run at once (default 1); a request waits for a
    slot at most ``wait`` seconds, then :meth:`slot` raises :class:`DecodeBusy` (answered 503
    with ``Retry-After``; the phone's outbox retries it). ``configure`` is called by the app
    factory with ``PHOTO_DECODE_SLOTS`` and ``PHOTO_DECODE_WAIT_SECONDS``.
    """

    def __init__(self, slots: int = 1, wait: float = 20.0):
        self.configure(slots, wait)

    def configure(self, slots: int, wait: float) -> None:
        if slots < 1:
            raise ValueError("PHOTO_DECODE_SLOTS must be at least 1")
        self.slots = slots
        self.wait = float(wait)
        self._semaphore = threading.BoundedSemaphore(slots)

    @contextmanager
    def slot(self):
        semaphore = self._semaphore  # the one acquired is the one released, even if reconfigured
        if not semaphore.acquire(timeout=self.wait):
            raise DecodeBusy()
        try:
            yield
        finally:
            semaphore.release()


DECODE_GATE = DecodeGate()
