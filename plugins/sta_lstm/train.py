"""Train the bundled STA-LSTM on synthetic windows and write a versioned checkpoint.

    python -m plugins.sta_lstm.train --out plugins/sta_lstm/checkpoints/sta-lstm-synthetic-0.1

Subjects, not windows, are split (160 train / 40 held out, as in the study), because windows of one
face are correlated and a window-level split would overstate performance. Sized to finish in under
three minutes on two CPU cores.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from gateway.domain import LEVELS
from gateway.landmarks import ANCHORS
from plugins.sta_lstm import synthetic
from plugins.sta_lstm.checkpoint import save_checkpoint
from plugins.sta_lstm.network import STALSTM, infer, sta_lstm_loss

MODEL_ID = "sta-lstm-synthetic"
TRAIN_SUBJECTS = range(0, 160)
HELD_OUT_SUBJECTS = range(1000, 1040)
LAMBDAS = {"alpha": 1e-3, "beta": 1e-4, "l1": 1e-7}
LIMITATIONS = [
    "Trained and evaluated only on synthetic landmark sequences generated from MediaPipe's canonical face "
    "(Apache-2.0) with hand-designed action-unit displacements; performance on real patients is unknown.",
    "Synthetic classes follow a designed AU intensity rule loosely based on the study's observer criteria "
    "(mild: frowning, orbit tightening, levator; significant: additionally tightly closed eyes), not clinical labels.",
    "Not calibrated: temperature is 1.0; the reported ECE is before temperature scaling.",
    "No subgroup analysis (age, sex, skin tone, glasses, oxygen masks) is possible with synthetic faces.",
    "Attention weights (alpha, beta) show where the model looked, not why; the concentration penalty (λ1) "
    "flattens them. Do not present them as causal explanations (Jain & Wallace 2019; Adebayo et al. 2018).",
    "The normalisation anchors 226/446/2 move with orbital tightening and upper-lip raising, which partly "
    "absorbs those expressions.",
]


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Mann–Whitney AUC with ties counted half; no sklearn in the runtime."""
    pos, neg = scores[positive], scores[~positive]
    return float(((pos[:, None] > neg[None]).mean() + 0.5 * (pos[:, None] == neg[None]).mean()))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Top-label ECE over equal-width confidence bins (Guo et al. 2017)."""
    confidence, correct = probs.max(1), probs.argmax(1) == labels
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    return float(
        sum(abs(correct[which == b].mean() - confidence[which == b].mean()) * (which == b).mean() for b in np.unique(which))
    )


def evaluate(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Discrimination per class and macro, the clinically relevant none-vs-significant AUC, and calibration."""
    predicted = probs.argmax(1)
    metrics = {"accuracy": float((predicted == labels).mean())}
    aucs = [roc_auc(probs[:, c], labels == c) for c in range(len(LEVELS))]
    metrics["macro_auc"] = float(np.mean(aucs))
    extreme = labels != 1
    metrics["auc_none_vs_significant"] = roc_auc(probs[extreme, 2], labels[extreme] == 2)
    f1 = []
    for c, level in enumerate(LEVELS):
        tp = float(((predicted == c) & (labels == c)).sum())
        metrics[f"recall_{level}"] = tp / max((labels == c).sum(), 1)
        f1.append(2 * tp / max((predicted == c).sum() + (labels == c).sum(), 1))
    metrics["macro_f1"] = float(np.mean(f1))
    metrics["ece"] = expected_calibration_error(probs, labels)
    metrics["brier"] = float(((probs - np.eye(len(LEVELS))[labels]) ** 2).sum(1).mean())
    return metrics


def train(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    started = time.monotonic()
    pool = synthetic.generate(args.windows, seed=args.seed, subjects=TRAIN_SUBJECTS)
    held_out = synthetic.generate(args.held_out, seed=args.seed + 1, subjects=HELD_OUT_SUBJECTS)
    print(f"generated {args.windows} + {args.held_out} windows in {time.monotonic() - started:.0f} s", flush=True)

    model = STALSTM(masked=ANCHORS)
    flat = torch.from_numpy(pool.data).flatten(0, 1)
    model.set_standardisation(flat.mean(0), flat.std(0))
    data, labels = torch.from_numpy(pool.data), torch.from_numpy(pool.labels)
    steps_per_epoch = -(-len(data) // args.batch)
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, args.lr, total_steps=args.epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.epochs):
        model.train()
        order, total = torch.randperm(len(data), generator=generator), 0.0
        for i in range(0, len(data), args.batch):
            idx = order[i : i + args.batch]
            logits, alpha, beta = model(data[idx])
            loss = sta_lstm_loss(
                logits, alpha, beta, labels[idx], model,
                lambda_alpha=LAMBDAS["alpha"], lambda_beta=LAMBDAS["beta"], lambda_l1=LAMBDAS["l1"],
            )  # fmt: skip
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimiser.step()
            schedule.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch + 1}/{args.epochs} loss {total / len(data):.4f} ({time.monotonic() - started:.0f} s)", flush=True)

    metrics = evaluate(infer(model, held_out.data)[0], held_out.labels)
    print({k: round(v, 4) for k, v in metrics.items()}, flush=True)
    training_data = (
        f"Synthetic only: {args.windows} one-second windows (30 frames x 468 landmarks) from {len(TRAIN_SUBJECTS)} "
        f"synthetic subjects, balanced none/mild/significant, generated by plugins.sta_lstm.synthetic (seed "
        f"{args.seed}) from MediaPipe's canonical face model; evaluated on {args.held_out} windows of "
        f"{len(HELD_OUT_SUBJECTS)} held-out synthetic subjects."
    )
    return save_checkpoint(
        args.out,
        model,
        model_id=MODEL_ID,
        version=args.version,
        name="STA-LSTM pain level (synthetic demonstration weights)",
        training_data=training_data,
        metrics=metrics,
        training={
            "seed": args.seed,
            "epochs": args.epochs,
            "batch": args.batch,
            "lr": args.lr,
            "optimiser": "Adam + one-cycle",
            "lambdas": LAMBDAS,
            "seconds": round(time.monotonic() - started, 1),
        },
        limitations=LIMITATIONS,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train STA-LSTM on synthetic landmark windows.")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--version", default="0.1.0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--windows", type=int, default=4000)
    parser.add_argument("--held-out", type=int, default=900)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    manifest = train(args)
    print(f"wrote {args.out} (sha256 {manifest['sha256'][:12]}...)")


if __name__ == "__main__":
    main()
