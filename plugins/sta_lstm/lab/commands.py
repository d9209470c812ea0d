"""``pain-gateway synth | train | evaluate | attention-check | real-faces | real-identities | real-calibration | clip-rules |
typicality | frame-rates | acceptance``: the model workflow.

A site needs two commands (train, evaluate); ``attention-check`` decides whether the explainer may
show a model's attention, ``real-faces`` measures graded responses on real photographs,
``real-identities`` on held-out real people with and without a baseline, ``real-calibration`` whether
their probabilities can be calibrated without breaking the synthetic calibration, ``clip-rules`` the clip
summary's false alarms against missed episodes, ``typicality`` fits and measures the off-distribution
reference, and
``acceptance`` repeats training over seeds for the evidence a release quotes.

Heavy imports (torch, matplotlib) wait until a command runs, so listing commands stays fast.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import click

SIGNAL_CHOICES = ("pspi", "brow", "mouth")


@click.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--patients", default=240, show_default=True, help="Synthetic patients (ids 0..N-1).")
@click.option("--clips", default=2, show_default=True, help="Labelled clips per patient.")
@click.option("--seconds", default=8, show_default=True, help="Seconds per clip.")
@click.option("--seed", default=0, show_default=True)
@click.option("--signal", type=click.Choice(SIGNAL_CHOICES), default="pspi", show_default=True, help="Which action units carry the label.")
@click.option("--identity-strength", default=1.0, show_default=True, help="Scale of between-patient face differences.")
@click.option("--calm", is_flag=True, help="No distractors (frontal, steady, no blinks/talking/smiles/drops).")
@click.option("--neutral/--no-neutral", default=True, show_default=True, help="Also write each patient's neutral baseline clip.")
@click.option("--identities", type=click.Choice(["bank", "base"]), default="bank", show_default=True,
              help="Real people from the identity bank and its shape model, or generator 3's single base face.")  # fmt: skip
def synth(out, patients, clips, seconds, seed, signal, identity_strength, calm, neutral, identities):
    """Write a synthetic labelled dataset (gateway.pipeline.dataset format) with known ground truth. Not real patients."""
    from plugins.sta_lstm.lab.synthetic import CALM, Distractors, SynthConfig, write_dataset

    config = SynthConfig(
        seed=seed, seconds=seconds, signal=signal, identity_strength=identity_strength, distractors=CALM if calm else Distractors(),
        identities=identities,
    )  # fmt: skip
    written = write_dataset(out, range(patients), clips, config, neutral)
    described = {"command": _command(), "config": config.describe(), "patients": patients, "clips": clips, "neutral": neutral}
    (out / "synth.json").write_text(json.dumps(described, indent=2) + "\n")
    click.echo(f"wrote {len(written)} clips of {patients} synthetic patients to {out}")


@click.command()
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Checkpoint directory to write.")
@click.option("--model", "model_name", type=click.Choice(["sta-lstm", "plain-lstm"]), default="sta-lstm", show_default=True)
@click.option("--preset", type=click.Choice(["default", "paper"]), default="default", show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--epochs", type=int, default=None, help="Maximum epochs (default: the preset's).")
@click.option("--hidden", type=int, default=None, help="Hidden units (default: the preset's, 64).")
@click.option("--personalised", is_flag=True, help="Train on landmarks relative to each patient's neutral clip.")
@click.option(
    "--without-baseline",
    default=0.0,
    show_default=True,
    help="With --personalised: share of training clips left without the baseline, so patients with no stored neutral clip are scored too.",
)
@click.option("--model-id", default=None, help="Model id served by the gateway (default: the --model name).")
@click.option("--version", default="0.1.0", show_default=True)
@click.option("--threads", default=2, show_default=True)
def train(data_dir, out, model_name, preset, seed, epochs, hidden, personalised, without_baseline, model_id, version, threads):
    """Train on a directory of labelled clips; split by patient, early stopping, temperature on held-out patients."""
    from plugins.sta_lstm.lab.training import TrainConfig, train_checkpoint

    config = TrainConfig(
        model=model_name, preset=preset, seed=seed, personalised=personalised, without_baseline=without_baseline,
        max_epochs=epochs, hidden=hidden, threads=threads,
    )  # fmt: skip
    manifest = train_checkpoint(data_dir, out, config, model_id=model_id or model_name, version=version, command=_command())
    t = manifest["training"]
    click.echo(f"wrote {out}: best epoch {t['best_epoch']}, temperature {manifest['calibration']['temperature']:.3f}, {t['seconds']} s")
    click.echo(f"next: pain-gateway evaluate {out} {data_dir}")


@click.command()
@click.argument("checkpoint", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--split", type=click.Choice(["test", "calibration", "validation", "train", "all"]), default="test", show_default=True,
              help="Patients to evaluate on: a split recorded in the checkpoint, or 'all' for an external dataset.")  # fmt: skip
@click.option("--bootstrap", default=500, show_default=True, help="Patient-level bootstrap resamples for the CIs.")
@click.option("--seed", default=0, show_default=True)
def evaluate(checkpoint, data_dir, split, bootstrap, seed):
    """Metrics with CIs before/after temperature scaling, reliability PNGs and MODEL_CARD.md, next to the weights."""
    from plugins.sta_lstm.lab.evaluation import evaluate_checkpoint

    report = evaluate_checkpoint(checkpoint, data_dir, split, bootstrap, seed)
    for variant in ("uncalibrated", "calibrated"):
        point, ci = report[variant]["point"], report[variant]["ci95"]
        names = ("macro_auc", "macro_f1", "kappa_quadratic", "brier", "nll", "ece_top_label")
        shown = ", ".join(f"{k} {point[k]:.3f} [{ci[k][0]:.3f}, {ci[k][1]:.3f}]" for k in names)
        click.echo(f"{variant}: {shown}")
    click.echo(f"wrote {checkpoint}/metrics.json, reliability_*.png, MODEL_CARD.md")


@click.command("attention-check")
@click.argument("checkpoint", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def attention_check(checkpoint, data_dir):
    """Attention sanity checks with the checkpoint's own preset; records pass/fail in its model.json and card."""
    from plugins.sta_lstm.lab.attention_checks import check_checkpoint

    result = check_checkpoint(checkpoint, data_dir)
    for name, check in result.get("checks", {}).items():
        click.echo(f"{name}: {'passed' if check['passed'] else 'FAILED'} {json.dumps(check.get('ratios', check))}")
    click.echo(f"attention {'informative' if result['informative'] else 'NOT informative'}: {result['reason']}")


@click.command("real-faces")
@click.argument("checkpoint", type=click.Path(exists=True, file_okay=False, path_type=Path))
def real_faces(checkpoint):
    """Dose-response on real photographs with transplanted synthetic action units; recorded in model.json and card."""
    from plugins.sta_lstm.lab.real_faces import check_checkpoint

    record = check_checkpoint(checkpoint)
    for name, doses in record["probabilities"].items():
        shown = "  ".join(f"PSPI {d}: " + "/".join(f"{v:.2f}" for v in p) for d, p in doses.items())
        click.echo(f"{name}: {shown}  {'graded' if record['graded'][name] else 'NOT graded'}")


@click.command("real-identities")
@click.argument("checkpoint", type=click.Path(exists=True, file_okay=False, path_type=Path))
def real_identities(checkpoint):
    """Graded transplants on held-out real people of the identity bank, with and without a baseline; recorded in model.json and card."""
    from plugins.sta_lstm.lab.real_identities import check_checkpoint

    record = check_checkpoint(checkpoint)
    for case in ("with_baseline", "without_baseline"):
        shown = {k: v for k, v in record[case].items() if k not in ("sites", "levels")}
        click.echo(f"{case}: {json.dumps(shown)}")


@click.command("real-calibration")
@click.argument("checkpoint", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--seed", default=0, show_default=True, help="Seed of the person-level split of the held-out real people into calibration and evaluation.")
def real_calibration(checkpoint, seed):
    """Real-identity ECE per dose, its cause, and τ + class bias fitted on held-out real people; recorded in model.json and card."""
    from plugins.sta_lstm.lab.real_calibration import check_checkpoint

    record = check_checkpoint(checkpoint, seed)
    for name, candidate in record["candidates"].items():
        shown = {
            case: {"real": candidate[case]["real"]["ece_top_label"], "synthetic": candidate[case]["synthetic_test"]["ece_top_label"]}
            for case in ("with_baseline", "without_baseline")
        }
        click.echo(f"{name}: ECE {json.dumps(shown)}; meets targets: {candidate['meets_targets']}")


@click.command("clip-rules")
@click.argument("checkpoint", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--patients", default=12, show_default=True, help="Test patients of the checkpoint to build long clips from.")
@click.option("--seconds", default=40, show_default=True, help="Length of each long clip.")
def clip_rules(checkpoint, patients, seconds):
    """False alarms (real no-pain video, long calm clips) against missed 2-30 s episodes for each clip rule; recorded in model.json and card."""
    from plugins.sta_lstm.lab.clip_rules import check_checkpoint, table

    click.echo(table(check_checkpoint(checkpoint, patients, seconds)))


@click.command("frame-rates")
@click.argument("checkpoint", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=False)
@click.option("--seed", default=0, show_default=True, help="Seed of the simulated frame drops.")
def frame_rates(checkpoint, data_dir, seed):
    """Test-split metrics at 30, 15 and 8 fps with frames dropped as slow live clients drop them; recorded in model.json and card.

    Without DATA_DIR a synthetic checkpoint's test patients are regenerated from its recorded generator settings."""
    from plugins.sta_lstm.lab.evaluation import record_in_checkpoint
    from plugins.sta_lstm.lab.frame_rates import evaluate_frame_rates, table

    record = evaluate_frame_rates(checkpoint, data_dir, seed=seed)
    record_in_checkpoint(checkpoint, "frame_rates", record)
    click.echo(table(record))


@click.command()
@click.argument("checkpoint", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=False)
def typicality(checkpoint, data_dir):
    """Fit the typicality reference (off-distribution) on the checkpoint's training and calibration patients and measure what it flags.

    Without DATA_DIR a synthetic checkpoint's patients are regenerated from its recorded generator settings."""
    from plugins.sta_lstm.lab.off_distribution import check_checkpoint, table

    click.echo(table(check_checkpoint(checkpoint, data_dir, _command())))


@click.command()
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--seeds", default="0,1,2", show_default=True, help="Comma-separated training seeds.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Also write the runs as JSON here.")
@click.option("--threads", default=1, show_default=True)
@click.option("--checkpoint", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Also record the runs in this checkpoint's model.json and card.")  # fmt: skip
def acceptance(data_dir, seeds, out, threads, checkpoint):
    """Train STA-LSTM and plain LSTM once per seed, as make model trains, and print the comparison table."""
    from plugins.sta_lstm.lab.acceptance import record, study, table

    rows = study(data_dir, [int(s) for s in seeds.split(",")], threads=threads)
    if out:
        out.write_text(json.dumps(rows, indent=2) + "\n")
    if checkpoint:
        record(checkpoint, rows, _command())
    click.echo(table(rows))


def _command() -> str:
    """The running command with every option spelled out, so the record reproduces it even if defaults change."""
    ctx = click.get_current_context()
    parts = ["pain-gateway", ctx.info_name]
    for param in ctx.command.params:
        value = ctx.params[param.name]
        if isinstance(param, click.Argument):
            parts += [] if value is None else [str(value)]  # an optional argument left out
        elif param.is_flag:
            chosen = param.opts[0] if value else (param.secondary_opts or [None])[0]
            parts += [chosen] if chosen else []
        elif value is not None:
            parts += [param.opts[0], str(value)]
    return shlex.join(parts)


COMMANDS = (synth, train, evaluate, attention_check, real_faces, real_identities, real_calibration, clip_rules, acceptance, frame_rates, typicality)
