"""Reference pain scales beside the AI: record NRS, PAINAD, CPOT, Abbey or FLACC scores, pair them with
the AI's assessments of the same patient and report the local concordance.

The bundled model is trained on synthetic data; this plugin is how a site finds out, on its own
patients, whether the AI agrees with the scales its nurses already use (as PainChek was validated
against the Abbey Pain Scale). Scales are data (``fhir_mappings/scales/*.yaml`` plus a site's own
directory), checked at start-up; scores live in the plugin's own table (``tables.py``, its own Alembic
branch); pairs are found by patient and time (``pairing.py``) and the statistics come from scipy and
scikit-learn (``statistics.py``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import msgspec

from fhir_mappings.scales import Scale, ScaleError, load_scales
from gateway import Migrations, hookimpl

PLUGIN = "reference_scales"
DEFAULT_SCALES = ["nrs", "painad", "cpot", "abbey", "flacc"]


@lru_cache(maxsize=8)
def _load(site_dir: str) -> dict[str, Scale]:
    return load_scales(site_dir or None)


class ReferenceScalesSettings(msgspec.Struct):
    """Which scales a site records, where its own scale files are, and how pairs are made."""

    scales: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_SCALES))
    """Scale ids offered for recording and reporting (packaged: nrs, painad, cpot, abbey, flacc; a site's own files add more)."""
    scales_dir: str = ""
    """A directory of the site's own scale files (``*.yaml``, shaped as ``fhir_mappings/scales/``): a file with a
    packaged id replaces that scale (e.g. to fix the site's level mapping), any other id adds one."""
    pair_minutes: float = 10.0
    """A scale score is paired with the AI assessment of the same patient whose capture period is within this many minutes of it."""
    bootstrap_resamples: int = 1000
    """Patient-clustered bootstrap resamples behind each 95 % confidence interval of the concordance figures."""
    min_pairs: int = 50
    """Below this many pairs a concordance figure is marked unreliable."""
    min_patients: int = 10
    """Below this many patients a concordance figure is marked unreliable."""

    def __post_init__(self) -> None:
        if not 0 < self.pair_minutes <= 24 * 60:
            raise ValueError("pair_minutes must be more than 0 and at most 1440 (a day)")
        if not 100 <= self.bootstrap_resamples <= 20000:
            raise ValueError("bootstrap_resamples must be between 100 and 20000")
        if self.min_pairs < 1 or self.min_patients < 1:
            raise ValueError("min_pairs and min_patients must be at least 1")
        try:
            known = _load(self.scales_dir)
        except ScaleError as exc:
            raise ValueError(f"scales_dir: {exc}") from None
        unknown = [s for s in self.scales if s not in known]
        if unknown:
            raise ValueError(f"scales: unknown scale id(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        if not self.scales:
            raise ValueError("scales: name at least one scale id, e.g. nrs")

    def enabled(self) -> dict[str, Scale]:
        """The site's scales, in the order the settings name them."""
        known = _load(self.scales_dir)
        return {s: known[s] for s in dict.fromkeys(self.scales)}


def config(settings) -> ReferenceScalesSettings:
    return settings.plugin_config(PLUGIN)


@hookimpl
def register_settings(register):
    register(PLUGIN, ReferenceScalesSettings)


@hookimpl
def register_event_types(register, settings):
    register("reference_scale.recorded", "a clinician recorded a reference pain-scale score (NRS, PAINAD...): its Observation and ORU")


def fhir_base(settings) -> str:
    """The base of our identifiers in the EMR: the FHIR output's, as the AI results use."""
    try:
        return str(settings.plugin_config("fhir_observation").base_url).rstrip("/") or "urn:pain-gateway"
    except Exception:  # the FHIR output disabled: its default
        return "urn:pain-gateway"


@hookimpl
def register_event_documents(register, settings):
    from plugins.reference_scales.documents import ScoreDocuments

    try:
        hl7 = settings.plugin_config("hl7v2")
    except Exception:  # HL7 disabled: the ORU takes the default header fields
        hl7 = None
    register(ScoreDocuments(config(settings).enabled(), fhir_base(settings), hl7))


@hookimpl
def register_trajectory_sources(register, settings):
    from plugins.reference_scales.trajectory import ScoreEntries

    register(ScoreEntries(config(settings).enabled()))


@hookimpl
def register_migrations(register, settings):
    register(Migrations(branch=PLUGIN, directory=Path(__file__).with_name("migrations")))


@hookimpl
def register_routes(register, settings):
    from plugins.reference_scales.routes import controller
    from plugins.reference_scales.ui import pages

    register(controller(config(settings)))
    for page in pages(config(settings)):
        register(page)


@hookimpl
def register_ui_links(register, settings):
    register("Concordance", "/ui/concordance")


@hookimpl
async def ui_sections(page, context):
    """The scale form (with the patient's recent scores) on the patient and assessment pages."""
    if page not in ("patient", "assessment"):
        return None
    from plugins.reference_scales.ui import section

    found = await section(context, config(context.settings))
    return [found] if found is not None else None


@hookimpl
def register_commands(register, settings):
    from plugins.reference_scales.commands import concordance_group

    register(concordance_group(settings))
