"""Training data in, mini-batches out: tensors, numpy arrays, Datasets and DataLoaders all become one stream."""
from __future__ import annotations

import inspect
import itertools
from typing import Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import (BatchSampler, DataLoader, Dataset, IterableDataset, RandomSampler, SequentialSampler,
                              TensorDataset)

from ..core.checks import all_finite
from ..core.errors import DescendError, DescendTypeError
from ..doctor.inputs import REPEATS


def as_tensor(array, name: str) -> torch.Tensor:
    """A tensor from a tensor, numpy array, pandas object or nested list; floats become torch's default dtype."""
    if isinstance(array, torch.Tensor):
        return array
    try:
        arr = np.asarray(array)
    except (TypeError, ValueError) as err:
        raise DescendTypeError(f"{name}: cannot turn {type(array).__name__} into a tensor ({err})") from err
    if not arr.flags.writeable:   # a pandas column's values (copy-on-write): torch warns it cannot own them
        arr = arr.copy()
    if arr.dtype.kind == "f":
        return torch.as_tensor(arr, dtype=torch.get_default_dtype())
    if arr.dtype.kind in "iub":
        return torch.as_tensor(arr)
    raise DescendTypeError(f"{name}: expected numbers, got an array of dtype {arr.dtype}{_columns_hint(array)}")


def _columns_hint(frame) -> str:
    """For a DataFrame, which columns are not numbers and how to make them so: fit trains on numbers only."""
    dtypes = getattr(frame, "dtypes", None)
    if not hasattr(dtypes, "items"):
        return ""
    named = [f"{column!r} ({dtype})" for column, dtype in dtypes.items() if getattr(dtype, "kind", "O") not in "biuf"]
    return (f"; the DataFrame's columns {', '.join(named)} are not numbers: encode them, pd.get_dummies(df, "
            "columns=[...]) or df[column].astype('category').cat.codes, or drop them") if named else ""


def to_device(inputs, device, non_blocking: bool = False):
    """`inputs` on `device`: a tensor, or the tensors inside a dict, tuple or list of them (a model with several
    inputs); anything else as it is."""
    if isinstance(inputs, torch.Tensor):
        return inputs.to(device, non_blocking=non_blocking)
    if isinstance(inputs, dict):
        return {key: to_device(value, device, non_blocking) for key, value in inputs.items()}
    if isinstance(inputs, (tuple, list)):
        return type(inputs)(to_device(value, device, non_blocking) for value in inputs)
    return inputs


def joined(parts: list):
    """Batches of outputs (or targets) end to end: tensors concatenated along rows, or a dict, tuple or list of
    them joined key by key (a model returning {"logits": ..., "features": ...}); anything else as the list."""
    first = parts[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(parts)
    if isinstance(first, dict):
        return {key: joined([part[key] for part in parts]) for key in first}
    if isinstance(first, (tuple, list)):
        return type(first)(joined([part[i] for part in parts]) for i in range(len(first)))
    return parts


def named_tensors(inputs, name: str) -> list[tuple[str, torch.Tensor]]:
    """The tensors in `inputs` (a tensor, or a dict, tuple or list of them), each with where it sits: inputs['age'],
    inputs[1]."""
    if isinstance(inputs, torch.Tensor):
        return [(name, inputs)]
    if isinstance(inputs, dict):
        return [found for key, value in inputs.items() for found in named_tensors(value, f"{name}[{key!r}]")]
    if isinstance(inputs, (tuple, list)):
        return [found for i, value in enumerate(inputs) for found in named_tensors(value, f"{name}[{i}]")]
    return []


def check_finite(tensor, where: str) -> None:
    """Raise naming the first row (and column) holding NaN or Inf; in a dict, tuple or list of tensors, naming the
    entry too."""
    if not isinstance(tensor, torch.Tensor):
        for name, part in named_tensors(tensor, where):
            check_finite(part, name)
        return
    if not tensor.dtype.is_floating_point or all_finite(tensor):
        return
    bad = ~torch.isfinite(tensor)
    if bad.any():
        first = [int(i) for i in bad.nonzero()[0]]
        kind = "NaN" if torch.isnan(tensor[tuple(first)]) else "Inf"
        cell = f"row {first[0]}" + (f", column {first[1]}" if len(first) > 1 else "")
        raise DescendError(f"{where} contains {kind} at {cell} ({int(bad.sum())} non-finite values in all); "
                           "drop or impute those rows before training")


def holds_batch_norm(model: nn.Module) -> bool:
    """Whether the model has a batch-norm layer, which cannot train on a batch of one row."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


class TensorBatches:
    """Shuffled mini-batches over in-memory tensors: a fresh permutation per pass, as a hand-written loop does.

    With `fold_single`, a last batch of one row joins the batch before it (BatchNorm raises on a one-row batch in
    training mode, so a model with it would stop mid-run whenever the rows are one more than a multiple of the
    batch size)."""

    def __init__(self, tensors: Sequence[torch.Tensor], batch_size: int, shuffle: bool,
                 generator: torch.Generator | None, fold_single: bool = False):
        self.tensors, self.batch_size, self.shuffle, self.generator = list(tensors), batch_size, shuffle, generator
        self.n = len(self.tensors[0])
        self.starts = list(range(0, self.n, batch_size))
        if fold_single and len(self.starts) > 1 and self.n - self.starts[-1] == 1:
            del self.starts[-1]

    def __len__(self) -> int:
        return len(self.starts)

    def _slices(self, first_batch: int) -> list[slice]:
        """The rows of each batch of a pass from batch `first_batch` on, made once a pass (a list, not a generator
        resumed at every batch)."""
        ends = self.starts[1:] + [self.n]
        return [slice(start, end) for start, end in zip(self.starts[first_batch:], ends[first_batch:])]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        return self.iter_from(0)

    def iter_from(self, first_batch: int) -> Iterator[tuple[torch.Tensor, ...]]:
        """One pass starting at batch `first_batch`; the pass's permutation is drawn in full, so a resumed pass
        sees the same order as the one it continues."""
        if not self.shuffle or self.n <= self.batch_size:   # one batch holds every row whatever their order
            for rows in self._slices(first_batch):
                yield tuple(t[rows] for t in self.tensors)
            return
        order = torch.randperm(self.n, generator=self.generator)
        if self.tensors[0].device.type != "cpu":   # index on the data's device, copied without waiting for it
            order = order.to(self.tensors[0].device, non_blocking=True)
        for rows in self._slices(first_batch):
            index = order[rows]   # one view of the order for every tensor
            yield tuple([t.index_select(0, index) for t in self.tensors])   # t[idx]'s rows, at half its cost


def batches(data, *, batch_size: int, shuffle: bool, generator: torch.Generator | None, name: str,
            fold_single: bool = False):
    """An iterable of (inputs, targets) batches with a length, from any accepted data form; validated.
    `fold_single` (for models with BatchNorm) lets tensors' last batch of one row join the one before.

    What training draws in full (see `in_memory`) is scanned for NaN/Inf here, once; other Datasets are checked
    on their first batch by fit, and later batches by the NonFinite rule as they come."""
    source = _source(data, batch_size=batch_size, shuffle=shuffle, generator=generator, name=name,
                     fold_single=fold_single)
    tensors = in_memory(source)
    if tensors:
        for i, t in enumerate(tensors):
            check_finite(t, f"{name} {'inputs' if i == 0 else 'targets'}")
    return source


def in_memory(source) -> list[torch.Tensor] | None:
    """The tensors behind a source when training draws every row of them (tensors and arrays, or a TensorDataset
    under a loader whose sampler visits every row), else None."""
    if isinstance(source, TensorBatches):
        return source.tensors
    if isinstance(source.dataset, TensorDataset) and draws_every_row(source):
        return list(source.dataset.tensors)
    return None


def _source(data, *, batch_size: int, shuffle: bool, generator: torch.Generator | None, name: str,
            fold_single: bool):
    if isinstance(data, DataLoader):
        if _dataset_len(data.dataset) == 0:
            raise DescendError(f"{name} data is empty (its DataLoader's dataset has no items)")
        return data
    if isinstance(data, Dataset):
        if _dataset_len(data) == 0:
            raise DescendError(f"{name} data is empty (the Dataset has no items)")
        if isinstance(data, IterableDataset):   # a stream sets its own order; DataLoader refuses to shuffle it
            return DataLoader(data, batch_size=batch_size)
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator)
    if isinstance(data, list) and (rows := _rows_hint(data)):
        raise DescendTypeError(f"{name} data is a list of {len(data):,} {rows}")
    if isinstance(data, (tuple, list)) and len(data) >= 2:
        tensors = [as_tensor(t, f"{name}[{i}]") for i, t in enumerate(data)]
        sizes = {len(t) if t.dim() else -1 for t in tensors}
        if len(sizes) != 1:
            raise DescendError(f"{name} tensors have different numbers of rows: "
                               f"{', '.join(str(tuple(t.shape)) for t in tensors)}")
        if sizes == {0}:
            raise DescendError(f"{name} data is empty (0 rows)")
        return TensorBatches(tensors, batch_size, shuffle, generator, fold_single)
    if isinstance(data, (tuple, list)):
        raise DescendTypeError(f"{name} data as a {type(data).__name__} needs inputs and targets, (X, y); got "
                               f"{len(data)} item{'' if len(data) == 1 else 's'} (an autoencoder, whose targets "
                               "are its inputs, takes (X, X))")
    raise DescendTypeError(f"{name} data must be a Dataset, a DataLoader or a tuple (X, y) of tensors/arrays, "
                           f"got {type(data).__name__}{_stream_hint(data)}")


def _rows_hint(rows: list) -> str:
    """How to pass a list that holds rows (a dict or an (inputs, target) pair per item) as fit's data, else "";
    [X, y] and [(X_a, X_b), y] are no lists of rows: their second item is the targets, a tensor."""
    if len(rows) < 2 or not all(isinstance(row, Mapping) or _is_pair(row) for row in rows[:2]):
        return ""
    if not isinstance(rows[0], Mapping):
        return ("(inputs, target) pairs, one per row; fit takes (X, y) with the rows stacked, X = torch.stack([x for "
                "x, _ in rows]), y = torch.stack([torch.as_tensor(t) for _, t in rows]), or the list in a loader, "
                "DataLoader(rows, batch_size=64, shuffle=True)")
    keys = ", ".join(repr(k) for k in rows[0])
    return (f"dicts (keys {keys}), one per row; fit takes (X, y) with the rows stacked: X = torch.stack([row[<the "
            "inputs' key>] for row in rows]), and y likewise")


def _is_pair(row) -> bool:
    """Whether a list item is one row's (inputs, target): two items, the first a tensor or array."""
    return isinstance(row, (tuple, list)) and len(row) == 2 and isinstance(row[0], (torch.Tensor, np.ndarray))


def _stream_hint(data) -> str:
    """How to pass batches made by a generator: one is spent after a single pass, and fit reads its data again
    every epoch, so what it takes is an IterableDataset whose __iter__ makes a new one."""
    if not (inspect.isgenerator(data) or inspect.isgeneratorfunction(data)):
        return ""
    maker = data.__name__ if inspect.isgeneratorfunction(data) else data.gi_code.co_name
    return ("; a generator is spent after one pass, and fit reads the data again every epoch: wrap the function "
            f"that makes it, class Batches(torch.utils.data.IterableDataset): def __iter__(self): return {maker}(), "
            "and pass DataLoader(Batches(), batch_size=None) if it yields whole (X, y) batches, Batches() if it "
            "yields single rows")


def draws_every_row(loader: DataLoader) -> bool:
    """True when the loader's sampler visits every row of its dataset (in order or shuffled); a custom sampler
    may leave rows out, and those are no business of the checks."""
    return isinstance(loader.sampler, (SequentialSampler, RandomSampler))


DRAWN_ROWS = 4096   # row indices read from a loader's own sampler (indices only: no row is loaded)


def repeated_draws(source) -> dict | None:
    """{"rows", "distinct"} when a DataLoader's own (batch) sampler, over its first DRAWN_ROWS indices, draws each
    distinct row REPEATS or more times and reaches under half the dataset's rows (a batch list repeated, a sampler
    over a few indices); None for in-memory tensors, for the standard samplers (they visit every row once a pass),
    for samplers that do not repeat, and for those that oversample a small table (they reach most of its rows).
    Random generators are put back, so reading the sampler changes nothing."""
    batches = getattr(source, "batch_sampler", None) if isinstance(source, DataLoader) else None
    if batches is None or _visits_every_row(batches):
        return None
    generator, global_state = source.generator, torch.get_rng_state()
    state = None if generator is None else generator.get_state()
    try:
        drawn = list(itertools.islice((int(i) for batch in batches for i in batch), DRAWN_ROWS))
    except TypeError:
        return None   # a sampler that yields something other than batches of indices
    finally:
        torch.set_rng_state(global_state)
        if generator is not None:
            generator.set_state(state)
    distinct, rows = len(set(drawn)), _dataset_len(source.dataset)
    if len(drawn) < 30 or distinct * REPEATS > len(drawn) or rows is None or distinct > rows / 2:
        return None   # a sampler that oversamples a small table still reaches most of its rows
    return {"rows": len(drawn), "distinct": distinct}


ORDER_WINDOWS, ORDER_ROWS = 8, 32   # runs of consecutive rows read to see how a stored order groups the targets


def stored_order_targets(source) -> torch.Tensor | None:
    """The targets of ORDER_WINDOWS runs of ORDER_ROWS consecutive rows, evenly spaced over the dataset, as
    (runs, rows, ...), when the user's DataLoader serves its rows in stored order (a SequentialSampler, i.e.
    shuffle=False), so training sees them in that order; None otherwise (fit shuffles tensors itself), and when
    the dataset cannot be indexed or holds under two runs' worth of rows."""
    batches = getattr(source, "batch_sampler", None) if isinstance(source, DataLoader) else None
    if not isinstance(batches, BatchSampler) or not isinstance(batches.sampler, SequentialSampler):
        return None   # fit's own tensors (it shuffles them), shuffled loaders, custom batch samplers
    dataset, rows = source.dataset, _dataset_len(source.dataset)
    if rows is None or rows < 2 * ORDER_WINDOWS * ORDER_ROWS:
        return None
    starts = np.linspace(0, rows - ORDER_ROWS, ORDER_WINDOWS).astype(int)
    index = torch.as_tensor((starts[:, None] + np.arange(ORDER_ROWS)).reshape(-1))
    try:
        if isinstance(dataset, TensorDataset) and len(dataset.tensors) >= 2:
            targets = dataset.tensors[1][index]
        else:
            targets = source.collate_fn([dataset[int(i)] for i in index])[1]
    except Exception:  # noqa: BLE001 - a reading for the doctor never costs the run (training meets any bad row)
        return None
    return targets.reshape(ORDER_WINDOWS, ORDER_ROWS, *targets.shape[1:]) if isinstance(targets, torch.Tensor) \
        else None


def _visits_every_row(batches) -> bool:
    sampler = getattr(batches, "sampler", None)
    return isinstance(batches, BatchSampler) and isinstance(sampler, (SequentialSampler, RandomSampler)) and \
        not getattr(sampler, "replacement", False)


def _dataset_len(dataset) -> int | None:
    try:
        return len(dataset)
    except TypeError:
        return None


class BatchStream:
    """An endless stream of batches over passes; `epoch` counts completed passes, `position` batches into this one.

    For resuming it keeps the random states each pass's order came from: the source's shuffle generator at the
    start of the pass, and for a DataLoader (which may shuffle from torch's global generator) the global state
    when the pass's iterator was made and when its first batch was drawn."""

    def __init__(self, source, device: torch.device):
        self.source, self.device = source, device
        self.move = device.type != "cpu"  # CPU batches are used where they are
        self.epoch, self.position = 0, 0
        self.per_epoch = _dataset_len(source)
        self.replays = not hasattr(source, "iter_from")  # skipped batches are drawn again on resume
        self._first_rng = None
        self._ahead = None  # the next batch, already drawn, of a source without a length
        self._start_pass()

    def next(self) -> tuple[torch.Tensor, ...]:
        if self._ahead is not None:
            batch, self._ahead = self._ahead, None
        else:
            try:   # past a pass's first batch there is no random state to keep: the iterator's own next
                batch = self._pull() if self.position == 0 else next(self._it)
            except StopIteration:  # a length that overstates what the source yields ends its pass here
                self._new_pass()
                batch = self._pull()
        self.position += 1
        if self.position == self.per_epoch:
            self._new_pass()
        elif self.per_epoch is None:
            self._look_ahead()
        if self.move:
            return tuple(to_device(t, self.device, non_blocking=True) for t in batch)
        return batch

    def _pull(self):
        if self.position == 0 and self.replays:
            self._first_rng = torch.get_rng_state()  # a RandomSampler without generator= seeds itself here
        return next(self._it)

    def _look_ahead(self) -> None:
        """A source without a length ends its pass only when the next draw fails: draw that batch now, so that
        the pass (and the epoch) ends with its last batch, not one step into the next pass."""
        try:
            self._ahead = self._pull()
        except StopIteration:
            self._new_pass()

    def _new_pass(self) -> None:
        self.epoch += 1
        self.position = 0
        self._start_pass()

    def _start_pass(self) -> None:
        generator = _generator(self.source)
        self._pass_rng = None if generator is None else generator.get_state()
        self._iter_rng = torch.get_rng_state() if self.replays else None
        self._it = iter(self.source)

    def state_dict(self) -> dict:
        """Where the stream stands: passes done, batches into this pass, and the random states this pass's order
        was drawn from, so that a resume draws the same order again."""
        return {"epoch": self.epoch, "position": self.position, "pass_rng": self._pass_rng,
                "iter_rng": self._iter_rng, "first_rng": self._first_rng if self.position else None}

    def load_state_dict(self, state: dict) -> None:
        """Continue exactly where `state` left off: redraw this pass's order and skip the batches already used.

        The pass's iterator is made and its first batch drawn under the random states they had the first time,
        so the order is the same for fit's own batching, a Dataset, and a DataLoader with or without its own
        `generator=`. torch's global generator is left changed: restore it afterwards (runs.state does)."""
        self.epoch, self.position, self._pass_rng = state["epoch"], state["position"], state["pass_rng"]
        self._iter_rng, self._first_rng = state.get("iter_rng"), state.get("first_rng")
        generator = _generator(self.source)
        if generator is not None and self._pass_rng is not None:
            generator.set_state(self._pass_rng)
        if not self.replays:
            self._it = self.source.iter_from(self.position)
            return
        if self._iter_rng is not None:
            torch.set_rng_state(self._iter_rng)
        self._it = iter(self.source)
        if self.position and self._first_rng is not None:
            torch.set_rng_state(self._first_rng)
        for _ in range(self.position):
            next(self._it)
        self._ahead = None
        if self.position and self.per_epoch is None:
            self._look_ahead()   # the uninterrupted stream had drawn it too, before its random state was saved


def _generator(source) -> torch.Generator | None:
    """The shuffle generator of a source, looking through wrappers that keep theirs in `.source` (RankShard)."""
    while source is not None:
        generator = getattr(source, "generator", None)
        if generator is not None:
            return generator
        source = getattr(source, "source", None)
    return None


SAMPLE_ROWS = 4096      # rows input_sample reads from in-memory tensors (a slice: free)
DATASET_ROWS = 256      # items it reads from a Dataset (each may load a file or run transforms)


def peek(source, rows: int) -> tuple | None:
    """The source's first `rows` rows, read without drawing from any random generator (no shuffling is consumed,
    nothing is taken from the stream): a slice of in-memory tensors, or the first items of a map-style Dataset
    put together by the loader's collate_fn; None when the data cannot be read that way. The one way fit, its
    checks and the doctor look at data before training."""
    if isinstance(source, TensorBatches):
        return tuple(t[:rows] for t in source.tensors)
    dataset = getattr(source, "dataset", None)
    if dataset is None or isinstance(dataset, IterableDataset):
        return None
    try:
        return source.collate_fn([dataset[i] for i in range(min(len(dataset), rows))])
    except (TypeError, IndexError, KeyError, NotImplementedError, RuntimeError):
        return None  # keyed by something other than 0..n-1, or no length


def first_batch(source) -> tuple:
    """The first batch training would see, by `peek` where every row is drawn (in-memory tensors, or a loader whose
    sampler visits every row), else one batch iterated with every random generator put back (a custom sampler
    may leave rows out, so its own choice is checked)."""
    if isinstance(source, TensorBatches) or draws_every_row(source) and source.batch_size is not None:
        found = peek(source, source.batch_size)
        if found is not None:
            return found
    generator, global_state = source.generator, torch.get_rng_state()
    state = None if generator is None else generator.get_state()
    try:
        return next(iter(source))
    finally:
        torch.set_rng_state(global_state)
        if generator is not None:
            generator.set_state(state)


def examples(source) -> int | None:
    """How many examples a source holds, when it can tell."""
    tensors = getattr(source, "tensors", None)
    if tensors:
        return len(tensors[0])
    try:
        return len(source.dataset)
    except (AttributeError, TypeError):
        return None


def input_sample(source) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Some training rows (inputs, targets) for the doctor, read by `peek` (so watching a run never changes it);
    None when the data cannot be indexed or a batch is not one input tensor and one target tensor (a model taking
    a dict or tuple of inputs: the doctor's data readings and references read one matrix of rows)."""
    batch = peek(source, SAMPLE_ROWS if isinstance(source, TensorBatches) else DATASET_ROWS)
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        return None
    return (batch[0], batch[1]) if all(isinstance(part, torch.Tensor) for part in batch[:2]) else None
