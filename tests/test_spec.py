"""One obvious way through fit: FitSpec declares each argument once (fit's signature and config.json come from it),
the loop owns callback order and its state, and why a run stopped is a code, not words to parse."""
import dataclasses
import inspect
import json
import math

import pytest
import torch
from torch import nn

import descend as ds
from descend.core.loop import FIRST, LAST, Loop
from descend.fit.spec import FitSpec


def data(n=64, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    return X, X @ torch.tensor([1.0, -2.0, 0.5]) + 0.1


def test_fits_signature_is_the_specs_so_help_lists_every_argument_with_its_default():
    fit_params = inspect.signature(ds.fit).parameters
    spec_fields = [f for f in dataclasses.fields(FitSpec) if f.init]
    assert list(fit_params) == [f.name for f in spec_fields]
    assert fit_params["batch_size"].default == 64 and fit_params["doctor"].default is True
    assert fit_params["lr"].kind is inspect.Parameter.KEYWORD_ONLY
    with pytest.raises(TypeError, match=r"^fit\(\) got an unexpected keyword argument 'lrr'; did you mean 'lr'\?"):
        ds.fit(nn.Linear(3, 1), data(), lrr=0.1)
    with pytest.raises(TypeError, match="'zzz'; fit takes loss, val, optimizer, lr, schedule"):
        ds.fit(nn.Linear(3, 1), data(), zzz=1)


def test_a_spec_is_checked_normalized_and_immutable():
    spec = FitSpec(nn.Linear(3, 1), data(), batch_size=torch.tensor(8).item(), device="cpu")
    assert spec.max_epochs == 20 and spec.device == torch.device("cpu") and spec.clip is None
    assert [type(rule).__name__ for rule in spec.rules] == ["NonFinite", "MaxEpochs"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.lr = 0.1
    with pytest.raises(ValueError, match="checkpoint_every must be a positive integer"):
        FitSpec(nn.Linear(3, 1), data(), checkpoint_every=0)
    with pytest.raises(ValueError, match="resume=True needs run_dir="):
        FitSpec(nn.Linear(3, 1), data(), resume=True)
    with pytest.raises(ValueError, match="doctor must be True"):
        FitSpec(nn.Linear(3, 1), data(), doctor="loud")


def test_config_json_records_exactly_the_specs_recorded_settings(tmp_path):
    ds.fit(nn.Linear(3, 1), data(), max_steps=3, lr=0.01, progress=False, run_dir=str(tmp_path / "run"))
    run = json.loads((tmp_path / "run" / "config.json").read_text())["run"]
    recorded = [f.name for f in dataclasses.fields(FitSpec) if f.metadata.get("recorded")]
    assert list(run) == [*recorded, "processes"]
    assert run["lr"] == 0.01 and run["max_steps"] == 3 and run["max_epochs"] is None and run["processes"] == 1


def test_fits_body_stays_a_short_read():
    source = inspect.getsource(ds.fit)
    body = ast_body_lines(source)
    assert body <= 20, f"fit's body is {body} lines"


def ast_body_lines(source: str) -> int:
    import ast
    function = ast.parse(source).body[0]
    statements = function.body[1:] if isinstance(function.body[0].value, ast.Constant) else function.body
    return statements[-1].end_lineno - statements[0].lineno + 1


@pytest.mark.parametrize("settings, code", [({"max_steps": 4}, "max_steps"), ({"max_epochs": 1}, "max_epochs"),
                                            ({"stop": [ds.stop.Target(1e9)]}, "target")])
def test_the_result_names_the_rule_that_stopped_the_run(settings, code):
    result = ds.fit(nn.Linear(3, 1), data(), progress=False, **settings)
    assert result.stop_code == code


def test_a_nan_from_the_loss_is_a_structured_origin_that_the_doctor_reads():
    def log_loss(out, y):          # finite inputs and outputs; log of a negative number is NaN
        return torch.log(out.squeeze(-1) - y - 1e6).mean()

    result = ds.fit(nn.Linear(3, 1), data(), loss=log_loss, max_steps=5, progress=False)
    assert result.stop_code == "non_finite" and result.stop_reason.startswith("non-finite values at step 1")
    finding = next(f for f in result.findings if f.code == "non_finite")
    assert finding.evidence["from_data"] is False and finding.evidence["origin"].startswith("the loss")


class Logged(ds.loop.Callback):
    def __init__(self, name, log, order=0):
        self.name, self.log, self.order = name, log, order

    def on_step_end(self, state, record):
        self.log.append(self.name)


class Counter(ds.loop.Callback):
    def __init__(self):
        self.count = 0

    def on_step_end(self, state, record):
        self.count += 1

    def state_dict(self):
        return {"count": self.count}

    def load_state_dict(self, state):
        self.count = state["count"]


def test_the_loop_calls_callbacks_by_order_and_keeps_the_given_order_among_equals():
    log = []
    callbacks = [Logged("a", log), Logged("last", log, LAST), Logged("b", log), Logged("first", log, FIRST)]
    ds.fit(nn.Linear(3, 1), data(), max_steps=1, progress=False, doctor=False, callbacks=callbacks)
    assert log == ["first", "a", "b", "last"]


def test_the_loops_state_dict_holds_counters_optimizer_rules_and_callback_memory():
    class Task:
        epoch, non_finite_origin = 0, None

        def __init__(self, model, opt):
            self.model, self.opt = model, opt

        def step(self):
            self.opt.zero_grad()
            loss = (self.model(torch.ones(1, 3)) ** 2).sum()
            loss.backward()
            self.opt.step()
            return {"loss": loss.item()}

        def evaluate(self):
            return {}

    def loop_of(counter):
        model = nn.Linear(3, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        return Loop(Task(model, opt), opt, ds.stop.with_defaults([ds.stop.MaxSteps(3)]), callbacks=[counter])

    first = loop_of(Counter())
    state = first.run()
    saved = first.state_dict()
    assert saved["loop"]["step"] == 3 and saved["callbacks"] == [["Counter", {"count": 3}]]
    assert set(saved) == {"loop", "optimizer", "rules", "callbacks"}
    again = loop_of(counter := Counter())
    again.load_state_dict(saved, state.history)
    assert counter.count == 3 and again.state.step == 3 and len(again.state.history) == 3
    with pytest.raises(ValueError, match="memory of callbacks"):
        Loop(Task(nn.Linear(3, 1), first.optimizer), first.optimizer, []).load_state_dict(saved, state.history)
    assert math.isfinite(state.history[-1]["loss"])


def test_evaluation_weights_swap_back_even_when_the_look_fails():
    model = nn.Linear(3, 1)
    opt = ds.optim.EMA(torch.optim.SGD(model.parameters(), lr=0.5), decay=0.5)
    for _ in range(3):
        opt.zero_grad()
        (model(torch.ones(4, 3)) ** 2).sum().backward()
        opt.step()
    training = model.weight.detach().clone()
    with pytest.raises(RuntimeError, match="look failed"):
        with ds.optim.evaluation_weights(opt):
            assert not torch.equal(model.weight, training)      # the average is in the model
            raise RuntimeError("look failed")
    assert torch.equal(model.weight, training)                  # and the training weights are back


def test_peek_reads_leading_rows_without_drawing_randomness():
    from descend.fit.data import batches, peek
    X, y = data(n=10)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=4, shuffle=True,
                                         generator=torch.Generator().manual_seed(3))
    for source in (batches((X, y), batch_size=4, shuffle=True, generator=torch.Generator(), name="train"), loader):
        before = torch.get_rng_state()
        rows = peek(source, 6)
        assert torch.equal(rows[0], X[:6]) and torch.equal(rows[1], y[:6])
        assert torch.equal(torch.get_rng_state(), before)
    assert peek(torch.utils.data.DataLoader(Stream()), 6) is None


class Stream(torch.utils.data.IterableDataset):
    def __iter__(self):
        yield torch.zeros(3), torch.zeros(())
