"""Languages from gettext catalogues: ``<lang>.po`` files, compiled to ``.mo`` in memory when loaded.

The bundled catalogues sit in ``catalogues/``; a site adds a language by dropping ``<lang>.po`` into
its ``catalogue_dir`` (same keys as ``catalogues/en.po``), no code. A key missing from a catalogue
falls back to English. The header's ``Language`` (e.g. ``zh_Hans_CN``) sets date formats and HTML ``lang``.
"""

from __future__ import annotations

import gettext
import io
import re
from dataclasses import dataclass
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

BUNDLED = Path(__file__).parent / "catalogues"
REFERENCE = "en"
LANG_NAME = re.compile(r"[a-z]{2,3}([_-][A-Za-z0-9]{2,8})*")


@dataclass(frozen=True)
class Language:
    code: str  # what ``?lang=`` takes: the catalogue's file name
    tag: str  # BCP 47, for HTML lang
    locale: Locale  # dates and numbers
    translations: gettext.GNUTranslations

    def text(self, key: str, **values: object) -> str:
        return self.translations.gettext(key).format(**values)

    @property
    def cjk(self) -> bool:
        """Chinese, Japanese or Korean: the PDF sets it in the CJK font (its quotes and punctuation are full width)."""
        return self.locale.language in {"zh", "ja", "ko"}


def _compile(path: Path) -> tuple[gettext.GNUTranslations, dict[str, str]]:
    with path.open("rb") as handle:
        catalog = read_po(handle)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    headers = {k.lower(): v for k, v in catalog.mime_headers}
    return gettext.GNUTranslations(buffer), headers


def _locale(code: str, headers: dict[str, str]) -> Locale:
    for candidate in (headers.get("language", ""), code):
        try:
            return Locale.parse(candidate.replace("-", "_"))
        except (ValueError, UnknownLocaleError):
            continue
    return Locale.parse(REFERENCE)


def load_languages(extra_dir: str = "") -> dict[str, Language]:
    """Every catalogue, bundled first; a site catalogue with the same name replaces the bundled one."""
    paths = {p.stem: p for p in sorted(BUNDLED.glob("*.po"))}
    if extra_dir:
        paths |= {p.stem: p for p in sorted(Path(extra_dir).glob("*.po")) if LANG_NAME.fullmatch(p.stem)}
    compiled = {code: _compile(path) for code, path in paths.items()}
    reference = compiled[REFERENCE][0]
    languages = {}
    for code, (translations, headers) in compiled.items():
        if translations is not reference:
            translations.add_fallback(reference)
        locale = _locale(code, headers)
        tag = "-".join(part for part in (locale.language, locale.script, locale.territory) if part)
        languages[code] = Language(code, tag, locale, translations)
    return languages


def catalogue_keys(path: Path) -> dict[str, str]:
    """key -> text of one catalogue (for checks that every catalogue translates every key)."""
    with path.open("rb") as handle:
        return {m.id: m.string for m in read_po(handle) if m.id}
