"""Make the caregiver summaries' PDF font: Noto Sans CJK SC (SIL OFL 1.1) cut to what the summaries use.

Run after changing a catalogue (``python scripts/subset_caregiver_font.py``) with Debian's
``fonts-noto-cjk`` installed. Keeps Latin, general and CJK punctuation, full-width forms, the 3,755
most common Chinese characters (GB 2312 level 1) and every character of every bundled catalogue,
so most edits to the Chinese text need no new font. Outlines are converted to TrueType (fpdf2
embeds TrueType outlines) and hinting dropped, which keeps the file small.
"""

from __future__ import annotations

from pathlib import Path

from fontTools import subset
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTCollection, newTable

ROOT = Path(__file__).resolve().parents[1]
SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
FACE = "Noto Sans CJK SC"
TARGET = ROOT / "plugins/caregiver_summary/fonts/NotoSansCJKsc-caregiver.ttf"
RANGES = [(0x20, 0x7E), (0xA0, 0xFF), (0x2000, 0x206F), (0x20AC, 0x20AC), (0x2190, 0x2193), (0x3000, 0x303F), (0xFF01, 0xFF5E)]


def gb2312_level1() -> set[int]:
    chars = set()
    for row in range(0xB0, 0xD8):
        for col in range(0xA1, 0xFF):
            try:
                chars.add(ord(bytes([row, col]).decode("gb2312")))
            except UnicodeDecodeError:
                continue
    return chars


def catalogue_chars() -> set[int]:
    return {ord(c) for po in (ROOT / "plugins/caregiver_summary/catalogues").glob("*.po") for c in po.read_text("utf-8") if ord(c) >= 0x20}


def to_truetype(font) -> None:
    """CFF outlines -> quadratic glyf outlines (max error 1 unit)."""
    glyph_order = font.getGlyphOrder()
    glyph_set = font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder = glyph_order
    glyf.glyphs = {}
    for name in glyph_order:
        pen = TTGlyphPen(glyph_set)
        glyph_set[name].draw(Cu2QuPen(pen, max_err=1.0, reverse_direction=True))
        glyf.glyphs[name] = pen.glyph()
    font["glyf"] = glyf
    font["loca"] = newTable("loca")
    del font["CFF "]
    if "VORG" in font:
        del font["VORG"]
    font["maxp"].tableVersion = 0x00010000
    for attr in (
        "maxZones",
        "maxTwilightPoints",
        "maxStorage",
        "maxFunctionDefs",
        "maxInstructionDefs",
        "maxStackElements",
        "maxSizeOfInstructions",
        "maxComponentElements",
        "maxPoints",
        "maxContours",
        "maxCompositePoints",
        "maxCompositeContours",
        "maxComponentDepth",
    ):
        setattr(font["maxp"], attr, 0)
    font["maxp"].maxZones = 1
    font["head"].indexToLocFormat = 0
    font["post"].formatType = 2.0
    font["post"].extraNames = []
    font["post"].mapping = {}
    font["post"].glyphOrder = glyph_order
    font.sfntVersion = "\x00\x01\x00\x00"


def main() -> None:
    font = next(f for f in TTCollection(SOURCE).fonts if f["name"].getDebugName(4) == FACE)
    unicodes = {c for lo, hi in RANGES for c in range(lo, hi + 1)} | gb2312_level1() | catalogue_chars()
    options = subset.Options()
    options.layout_features = ["kern", "vert"]
    options.hinting = False
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=unicodes)
    subsetter.subset(font)
    to_truetype(font)
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    font.save(TARGET)
    print(f"{TARGET.relative_to(ROOT)}: {len(font.getGlyphOrder())} glyphs, {TARGET.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
