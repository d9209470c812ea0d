"""``pain-gateway concordance report --out report.html|.pdf``: the concordance figures as a document."""

from __future__ import annotations

from typing import Any

import click


def concordance_group(settings: Any) -> click.Group:
    """The ``concordance`` command group, bound to the gateway's settings (database and plugin config)."""

    @click.group("concordance")
    def concordance() -> None:
        """Local concordance of the AI with the reference pain scales (plugin reference_scales)."""

    @concordance.command("report")
    @click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="report.html or report.pdf (the suffix picks the format)")
    @click.option("--tenant", default="default", show_default=True, help="the tenant whose pairs are reported")
    @click.option("--scale", default=None, help="one scale id (default: every scale)")
    @click.option("--since", default=None, help="scores observed at or after this ISO-8601 date-time")
    @click.option("--until", default=None, help="scores observed before this ISO-8601 date-time")
    @click.option("--model-version", default=None, help="only AI assessments of this model version")
    def report(out: str, tenant: str, scale: str | None, since: str | None, until: str | None, model_version: str | None) -> None:
        """Write the concordance report (pairs, kappa, rho, sensitivity/specificity with 95 % CIs,
        confusion matrix, reliability diagram, Bland-Altman) from the gateway's database, as HTML or PDF."""
        import asyncio
        from pathlib import Path

        from plugins.reference_scales import config
        from plugins.reference_scales.report_file import write_report

        target = Path(out)
        if target.suffix.lower() not in (".html", ".pdf"):
            raise click.BadParameter("must end in .html or .pdf", param_hint="--out")
        try:
            asyncio.run(
                write_report(target, settings.database_url, config(settings), tenant, scale=scale, since=since, until=until, model_version=model_version)
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        click.echo(f"wrote {target}")

    return concordance
