"""A model as a clinician needs it, on one tablet screen: what it was trained on, what it is for, what it
cannot do and its measured figures, with the full model card (for data scientists) one click away.

Everything comes from the model plugin itself: ``ModelInfo`` (training data, disclaimer, metrics) and the
sections "Intended use" and "Limitations" of its Markdown card (Hugging Face layout, raw HTML shown as
text). A figure the model does not report is left out rather than invented.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from markdown_it import MarkdownIt
from markupsafe import Markup

from gateway.contract.plugin_manager import Plugins
from gateway.web.ui.guard import ui_opt
from gateway.web.ui.render import page

MARKDOWN = MarkdownIt("commonmark", {"html": False})
"""Card sections are Markdown; raw HTML in them is shown as text, never rendered."""
SECTIONS = ("Intended use", "Limitations")
"""The card sections a clinician reads on the summary, in this order."""
HEADING = re.compile(r"^## +(.+?) *$", re.M)


@dataclass(frozen=True)
class Figure:
    """One measured figure in words: the value as shown and what it means."""

    value: str
    meaning: str


FIGURES = (
    ("accuracy", "%", "of test seconds put at the level the label gave"),
    ("recall_significant", "%", "of seconds labelled significant pain that it called significant (recall)"),
    ("precision_significant", "%", "of its 'significant' calls that were labelled significant (precision)"),
    ("recall_none", "%", "of pain-free seconds that it called none"),
    ("kappa_quadratic", "", "agreement with the labels, quadratic κ (1 is perfect, 0 is chance)"),
    ("macro_auc", "", "macro AUC: how well it ranks seconds by level (1 is perfect, 0.5 is chance)"),
    ("ece_top_label", "", "calibration error, ECE (0 means its probabilities match how often it is right)"),
)
"""The figures shown, when the model reports them (``ModelInfo.metrics``), in plain words."""


def figures(metrics: dict[str, float]) -> list[Figure]:
    """The model's reported figures worth a clinician's glance, each with what it means."""
    shown = []
    for key, unit, meaning in FIGURES:
        value = metrics.get(key)
        if isinstance(value, int | float):
            shown.append(Figure(f"{100 * value:.0f} %" if unit == "%" else f"{value:.2f}", meaning))
    return shown


def card_sections(card: str) -> dict[str, Markup]:
    """``SECTIONS`` of a Markdown model card, each rendered to HTML (absent ones are left out)."""
    parts = HEADING.split(card)
    found = {title.strip(): text for title, text in zip(parts[1::2], parts[2::2], strict=True)}
    return {title: Markup(MARKDOWN.render(found[title])) for title in SECTIONS if found.get(title, "").strip()}  # raw HTML disabled


@get("/models/{model_id:str}", opt=ui_opt())
async def model_summary(model_id: FromPath[str], request: Request, plugins: NamedDependency[Plugins]) -> Response:
    """The model's summary for clinicians; its full card is ``/ui/models/{model_id}/card``."""
    if model_id not in plugins.models:
        raise NotFoundException(f"no model {model_id!r}; known: {', '.join(sorted(plugins.models))}")
    model = plugins.models[model_id]
    info = model.info
    return page(request, "model_summary.html", info=info, figures=figures(info.metrics), card_parts=card_sections(model.model_card()))


ROUTES = [model_summary]
