"""A tiny character-level transformer language model on a pinned corpus that ships with descend.

Corpus: descend/data/charlm_corpus.txt.gz, the sources of five Python standard-library modules (PSF License),
pinned by the SHA-256 of its text; the first 90% trains, the last 10% is held out. The model (2 pre-norm layers,
width 32, 4 heads, context 32) is small enough for a 2-core CPU; the target is a held-out cross-entropy of
2.25 nats per character, which tuned AdamW reaches in about 200 steps (character frequencies alone score 3.02).
"""
from __future__ import annotations

import gzip
import hashlib
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ...core.errors import DescendError
from .workload import Problem, Workload, scored

CORPUS = Path(__file__).resolve().parents[2] / "data" / "charlm_corpus.txt.gz"
SHA256 = "59f8acdcafacdb2a001a28c53667590aee84c025f961531598f294729cf8693a"
CONTEXT, WIDTH, HEADS, LAYERS = 32, 32, 4, 2


@lru_cache(maxsize=1)
def corpus() -> str:
    """The corpus text, refused if its hash differs from the pinned one."""
    raw = gzip.decompress(CORPUS.read_bytes())
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHA256:
        raise DescendError(f"{CORPUS} has SHA-256 {digest}, not the pinned {SHA256}; reinstall descend")
    return raw.decode("utf-8")


def windows(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping (input, next-character) windows of length CONTEXT."""
    count = (len(ids) - 1) // CONTEXT
    inputs = ids[: count * CONTEXT].view(count, CONTEXT)
    return inputs, ids[1: count * CONTEXT + 1].view(count, CONTEXT)


@lru_cache(maxsize=1)
def split() -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor], int]:
    """(training windows, held-out windows, vocabulary size): the first 90% of the characters train."""
    text = corpus()
    vocab = {ch: i for i, ch in enumerate(sorted(set(text)))}
    ids = torch.tensor([vocab[ch] for ch in text])
    cut = int(0.9 * len(ids))
    return windows(ids[:cut]), windows(ids[cut:]), len(vocab)


class CharTransformer(nn.Module):
    """Token and position embeddings, causal pre-norm transformer layers, a linear read-out per position."""

    def __init__(self, vocab: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, WIDTH)
        self.position = nn.Parameter(0.02 * torch.randn(CONTEXT, WIDTH))
        layer = nn.TransformerEncoderLayer(WIDTH, HEADS, 2 * WIDTH, dropout=0.0, batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, vocab)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(CONTEXT))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        length = ids.shape[1]
        hidden = self.embed(ids) + self.position[:length]
        hidden = self.layers(hidden, mask=self.mask[:length, :length], is_causal=True)
        return self.head(self.norm(hidden))


def next_char_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy (nats per character) over every position."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def build(seed: int) -> Problem:
    train, val, vocab = split()
    torch.manual_seed(seed)
    return Problem(CharTransformer(vocab), train, next_char_loss, scored(next_char_loss, *val))


WORKLOAD = Workload(
    name="charlm_transformer", summary="2-layer character transformer on pinned stdlib sources, held-out loss",
    build=build, metric_name="test loss (nats/char)", target=2.25, mode="min", batch_size=16, steps=300,
    quick_steps=100, eval_every=25)
