"""The best record in words, for a run's summary (print(result), a notebook, report.html)."""
from __future__ import annotations

BATCH_LOSS = "lowest training loss (one step's batch)"


def best_rows(best: dict) -> list[list]:
    """[label, value] rows of the best record: its step and validation values when it was chosen by validation
    (its training loss, one batch's, says nothing next to them and read as a second, worse 'best loss'); without
    validation, its step and the loss that made it best, labelled as what it is: the lowest loss of one step's
    batch, which on mini-batches is partly the luck of that batch."""
    validated = [[f"best {key}", value] for key, value in best.items() if key.startswith("val_")]
    rows = [["best step", best.get("step")]]
    rows += validated if validated else [[BATCH_LOSS, best.get("loss")]]
    return [row for row in rows if row[1] is not None]
