#!/usr/bin/env python3
"""Writes workloads/payloads/parking.jpg: the request body of the parking chain.

The paper's parking application uploads a camera picture of about 3.7 KB per request. Its
pictures are not at hand, so this draws a small synthetic one (seeded, no input): a grey lot,
white bay lines, and cars of random colours in random bays, seen from above, encoded as a
baseline JPEG at the quality that lands nearest 3,700 bytes. The functions only sleep, so what the
picture shows does not matter; its size and format are the paper's.

Needs Pillow (`pip install pillow`); not run by `make lint` (a different Pillow or libjpeg may
encode other bytes). The committed file is what this wrote with Pillow 13.0.0.

  scripts/gen-parking-jpeg.py
"""
import io
import random
from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent.parent / "workloads" / "payloads" / "parking.jpg"
TARGET = 3700
W, H, BAYS, SEED = 128, 96, 8, 11


def draw():
    rnd = random.Random(SEED)
    img = Image.new("RGB", (W, H), (92, 94, 98))
    d = ImageDraw.Draw(img)
    # Asphalt texture.
    for _ in range(W * H // 6):
        x, y, g = rnd.randrange(W), rnd.randrange(H), rnd.randrange(80, 110)
        d.point((x, y), (g, g, g + 3))
    bay = W // BAYS
    for row, (top, bottom) in enumerate([(4, 40), (56, 92)]):
        for i in range(BAYS + 1):
            d.line([(i * bay, top), (i * bay, bottom)], fill=(235, 235, 225), width=1)
        for i in range(BAYS):
            if rnd.random() < 0.6:
                c = tuple(rnd.randrange(30, 230) for _ in range(3))
                x0 = i * bay + 3
                d.rounded_rectangle([x0, top + 4, x0 + bay - 7, bottom - 4], radius=3, fill=c)
                d.rectangle([x0 + 2, top + 10 + 6 * row, x0 + bay - 9, top + 16 + 6 * row], fill=(40, 50, 60))
    return img


def main():
    img = draw()
    best = None
    for q in range(10, 96):
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=q, optimize=False, progressive=False)
        n = len(buf.getvalue())
        if best is None or abs(n - TARGET) < abs(len(best) - TARGET):
            best = buf.getvalue()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(best)
    print(f"{OUT}: {len(best)} bytes")


if __name__ == "__main__":
    main()
