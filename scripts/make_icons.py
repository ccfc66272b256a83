"""Draw the app icons for the web manifest into static/icons/ (run once; the PNGs are committed).

The mark is a white map pin with a tick on the Łódź brand colour (#8a1538): readable at 48 px on a
home screen. ``icon-maskable-512.png`` keeps the mark inside the 80 % safe zone that Android's
adaptive icons may crop to a circle (https://w3c.github.io/manifest/#icon-masks).
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

BRAND = (0x8A, 0x15, 0x38)
WHITE = (255, 255, 255)
OUT = Path(__file__).resolve().parent.parent / "static" / "icons"
SUPERSAMPLE = 4  # draw large and scale down for smooth edges


def draw_icon(size: int, *, mark_share: float) -> Image.Image:
    """Return an RGB ``size`` x ``size`` icon; ``mark_share`` is the pin's height / size."""
    big = size * SUPERSAMPLE
    # Full-bleed square: the platform rounds or masks it.
    img = Image.new("RGB", (big, big), BRAND)
    d = ImageDraw.Draw(img)
    pin_h = big * mark_share
    r = pin_h * 0.36  # head radius
    cx = big / 2
    top = (big - pin_h) / 2
    cy = top + r
    tip = (cx, top + pin_h)
    # Pin: a circle plus a triangle down to the tip.
    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=WHITE)
    d.polygon([(cx - r * 0.82, cy + r * 0.58), (cx + r * 0.82, cy + r * 0.58), tip], fill=WHITE)
    # A tick in brand colour inside the head: "reported, handled".
    w = max(2, int(r * 0.22))
    d.line([(cx - r * 0.45, cy + r * 0.02), (cx - r * 0.1, cy + r * 0.38), (cx + r * 0.5, cy - r * 0.35)],
           fill=BRAND, width=w, joint="curve")
    return img.resize((size, size), Image.LANCZOS)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    icons = {
        "icon-192.png": draw_icon(192, mark_share=0.66),
        "icon-512.png": draw_icon(512, mark_share=0.66),
        # Maskable: full-bleed background, mark within the central 80 % circle.
        "icon-maskable-512.png": draw_icon(512, mark_share=0.5),
        "apple-touch-icon.png": draw_icon(180, mark_share=0.62),
    }
    for name, img in icons.items():
        # Two colours plus anti-aliasing: a 32-colour palette looks the same and is a third the size.
        img.quantize(colors=32, method=Image.Quantize.MEDIANCUT).save(OUT / name, optimize=True)
        print(f"wrote static/icons/{name} {img.size[0]}x{img.size[1]}")


if __name__ == "__main__":
    main()
