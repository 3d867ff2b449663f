"""Fast by default: steps that never wait for the device, a NaN still named at its step, the thread policy, and
precision/compile runs that resume bit for bit.

"Waiting for the device" is counted on CPU as conversions of tensors to Python values (item, float, bool, int,
tolist): each of them would stop the host until a GPU's queue drains. They may happen only when the loop settles
(at evaluations and every `sync_every` steps), never inside a step.
"""
import subprocess
import sys

import pytest
import torch
from torch import nn

import descend as ds
from descend.core.loop import Loop
from descend.fit import threads


def _problem(n=160, seed=0):
    torch.manual_seed(seed)
    X = torch.randn(n, 5)
    y = X @ torch.arange(1.0, 6.0) + 0.1 * torch.randn(n)
    return X, y


def _mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 1))


CONVERSIONS = ("item", "__float__", "__bool__", "__int__", "tolist")


@pytest.fixture
def conversions(monkeypatch):
    """Counts tensor-to-Python conversions inside Loop._step (a whole training step and its bookkeeping) and
    inside Loop._tell (where the loop settles)."""
    counts = {"step": 0, "settle": 0, "steps": 0, "settles": 0}
    where = [None]
    for name in CONVERSIONS:
        original = getattr(torch.Tensor, name)

        def counting(self, *args, _original=original, **kwargs):
            if where[0] is not None:
                counts[where[0]] += 1
            return _original(self, *args, **kwargs)
        monkeypatch.setattr(torch.Tensor, name, counting)

    def counted(method, label):
        def wrapper(self, *args, **kwargs):
            where[0] = label
            counts[label + "s"] += 1
            try:
                return method(self, *args, **kwargs)
            finally:
                where[0] = None
        return wrapper
    monkeypatch.setattr(Loop, "_step", counted(Loop._step, "step"))
    monkeypatch.setattr(Loop, "_tell", counted(Loop._tell, "settle"))
    return counts


def test_fit_with_its_defaults_converts_nothing_to_python_inside_steps(conversions):
    X, y = _problem()
    result = ds.fit(_mlp(), (X[:128], y[:128]), val=(X[128:], y[128:]), max_epochs=3, progress=False)
    steps = len(result.history)
    assert steps == 6 and conversions["steps"] == steps   # 2 batches of 64 per epoch
    assert conversions["step"] == 0
    assert conversions["settle"] > 0   # the values were read, when the loop settled
    assert all(isinstance(r["loss"], float) and isinstance(r["grad_norm"], float) for r in result.history)


def test_an_exponential_average_of_the_weights_converts_nothing_inside_steps_either(conversions):
    X, y = _problem()
    model = _mlp()
    averaged = ds.optim.EMA(ds.optim.create(model, "adamw", lr=3e-3), decay=0.95)
    result = ds.fit(model, (X[:128], y[:128]), val=(X[128:], y[128:]), optimizer=averaged, max_epochs=3,
                    progress=False)
    assert len(result.history) == 6 and conversions["steps"] == 6 and conversions["step"] == 0
    assert averaged.count == 6 and all(isinstance(r["loss"], float) for r in result.history)


def test_the_loop_settles_every_sync_every_steps_not_every_step(conversions):
    X, y = _problem(n=640)
    # adamw named: auto's lr sweep reads each of its first steps' loss as it happens (it decides on them)
    result = ds.fit(_mlp(), (X, y), optimizer="adamw", batch_size=8, max_steps=70, progress=False)
    assert len(result.history) == 70 and conversions["step"] == 0
    assert conversions["settles"] == 3   # steps 32, 64 and the last (70)
    assert [r["step"] for r in result.history] == list(range(1, 71))


def test_a_callback_that_looks_at_every_step_still_sees_each_as_it_happens():
    X, y = _problem()
    seen = []

    class Weights(ds.loop.Callback):
        def on_step(self, state, record):
            seen.append((state.step, model[0].weight.detach().clone()))
    model = _mlp()
    ds.fit(model, (X, y), batch_size=32, max_steps=6, progress=False, callbacks=[Weights()])
    reference = []
    for steps in range(1, 7):
        other = _mlp()
        ds.fit(other, (X, y), batch_size=32, max_steps=steps, progress=False)
        reference.append(other[0].weight.detach())
    assert [s for s, _ in seen] == list(range(1, 7))
    assert all(torch.equal(w, r) for (_, w), r in zip(seen, reference))


class NaNFrom(ds.loop.Callback):
    """Makes the loss NaN from step `at` on (set before that step runs)."""

    def __init__(self, at: int):
        self.at, self.on = at, False

    def on_step_begin(self, state):
        self.on = state.step + 1 >= self.at


def test_a_nan_is_named_at_its_step_and_leaves_the_weights_of_the_step_before():
    X, y = _problem()
    switch = NaNFrom(5)

    def loss(out, target):
        value = nn.functional.mse_loss(out.squeeze(-1), target)
        return value * float("nan") if switch.on else value
    broken = _mlp()
    result = ds.fit(broken, (X, y), loss=loss, batch_size=16, max_steps=20, progress=False, callbacks=[switch])
    assert result.stop_reason.startswith("non-finite values at step 5: the loss (inputs and model output were "
                                         "finite)")
    assert len(result.history) == 5 and result.history[-1]["step"] == 5
    healthy = _mlp()
    ds.fit(healthy, (X, y), loss="mse", batch_size=16, max_steps=4, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(broken.state_dict().values(), healthy.state_dict().values()))


def test_a_nan_gradient_is_traced_to_its_parameter_after_the_fact():
    X, y = _problem()

    class Poison(nn.Module):   # finite forward, NaN gradient for its weight once armed
        def __init__(self):
            super().__init__()
            self.inner, self.armed = _mlp(), False

        def forward(self, x):
            out = self.inner(x)
            if self.armed and torch.is_grad_enabled():
                out = out + 0 * torch.sqrt(self.inner[2].bias - self.inner[2].bias - 1).sum().nan_to_num()
            return out

    model = Poison()

    class Arm(ds.loop.Callback):
        def on_step_begin(self, state):
            model.armed = state.step + 1 >= 3
    result = ds.fit(model, (X, y), batch_size=16, max_steps=10, progress=False, callbacks=[Arm()])
    assert result.stop_reason == ("non-finite values at step 3: the gradient of parameter 'inner.2.bias'; try a "
                                  "lower learning rate or grad_clip")


def test_threads_auto_uses_one_thread_for_small_work_and_restores_torchs_setting():
    X, y = _problem()
    seen = []

    class Threads(ds.loop.Callback):
        def on_step_begin(self, state):
            seen.append(torch.get_num_threads())
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        ds.fit(_mlp(), (X, y), max_steps=2, progress=False, callbacks=[Threads()])
        ds.fit(_mlp(), (X, y), max_steps=2, progress=False, callbacks=[Threads()], threads=3)
        ds.fit(_mlp(), (X, y), max_steps=2, progress=False, callbacks=[Threads()], threads=None)
        assert seen == [1, 1, 3, 3, 2, 2] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert threads.choose("auto", 10_000_000, 64, torch.device("cpu")) is None   # large work: torch's own
    with pytest.raises(ds.DescendError, match="threads must be 'auto', None .* or a positive int, got 0"):
        ds.fit(_mlp(), (X, y), max_steps=1, progress=False, threads=0)


@pytest.mark.parametrize("kwargs,match", [
    ({"precision": "fp8"}, "precision must be one of fp32, bf16, fp16, got 'fp8'"),
    ({"precision": "fp16"}, "precision='fp16' needs a CUDA device .* use precision='bf16'"),
    ({"compile": "yes"}, "compile must be True or False, got 'yes'")])
def test_precision_and_compile_mistakes_are_refused_naming_the_fix(kwargs, match):
    X, y = _problem()
    with pytest.raises(ds.DescendError, match=match):
        ds.fit(_mlp(), (X, y), max_steps=1, progress=False, **kwargs)


def _same(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


class Crash(ds.loop.Callback):
    def on_step_end(self, state, record):
        if state.step == 7:
            raise RuntimeError("simulated crash")


def _crash_and_resume(tmp_path, **options):
    """A run killed after step 7 and resumed, and the same run uninterrupted: (resumed, reference)."""
    X, y = _problem()
    settings = dict(val=(X[128:], y[128:]), batch_size=16, max_steps=12, checkpoint_every=4, lr=1e-2,
                    progress=False, **options)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ds.fit(_mlp(), (X[:128], y[:128]), run_dir=str(tmp_path / "run"), callbacks=[Crash()], **settings)
    resumed = ds.fit(_mlp(), (X[:128], y[:128]), run_dir=str(tmp_path / "run"), resume=True, **settings)
    reference = ds.fit(_mlp(), (X[:128], y[:128]), **settings)
    return resumed, reference


def test_bf16_trains_and_resumes_bit_for_bit(tmp_path):
    resumed, reference = _crash_and_resume(tmp_path, precision="bf16")
    fp32 = ds.fit(_mlp(), (_problem()[0][:128], _problem()[1][:128]), batch_size=16, max_steps=12, lr=1e-2,
                  progress=False)
    assert resumed.history == reference.history and _same(resumed.model, reference.model)
    assert reference.history[-1]["loss"] != fp32.history[-1]["loss"]   # bf16 did run in bf16
    assert reference.history[-1]["loss"] < 0.5 * reference.history[0]["loss"]   # and trained
    config = (tmp_path / "run" / "config.json").read_text()
    assert '"precision": "bf16"' in config


@pytest.mark.slow
def test_compile_trains_and_resumes_bit_for_bit(tmp_path):
    resumed, reference = _crash_and_resume(tmp_path, compile=True)
    assert resumed.history == reference.history and _same(resumed.model, reference.model)
    assert reference.history[-1]["loss"] < 0.5 * reference.history[0]["loss"]
    assert '"compile": true' in (tmp_path / "run" / "config.json").read_text()


def test_the_cli_takes_threads_and_refuses_anything_else(capsys):
    from descend.cli import build_parser
    parser = build_parser("fit")
    assert parser.parse_args(["fit", "t.csv", "--target", "y", "--threads", "3"]).threads == 3
    assert parser.parse_args(["fit", "t.csv", "--target", "y", "--threads", "auto"]).threads == "auto"
    with pytest.raises(SystemExit) as stopped:
        parser.parse_args(["fit", "t.csv", "--target", "y", "--threads", "0"])
    assert stopped.value.code == 2
    assert "--threads: expected 'auto' or a positive whole number such as 4, got '0'" in capsys.readouterr().err


def test_compile_where_no_compiler_works_is_refused_saying_what_to_do(monkeypatch):
    from descend.fit import precision

    def no_compiler(*args, **kwargs):
        raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\n(details)")
    precision._compiler_problem.cache_clear()
    monkeypatch.setattr(torch, "compile", no_compiler)
    try:
        with pytest.raises(ds.DescendError, match=r"^compile=True: torch.compile cannot build code on this machine "
                                                  r"\(InvalidCxxCompiler: No working C\+\+ compiler found\); install "
                                                  r"a C\+\+ compiler .* or use compile=False$"):
            ds.fit(_mlp(), _problem(), max_steps=1, progress=False, compile=True)
    finally:
        precision._compiler_problem.cache_clear()


@pytest.mark.parametrize("grad_clip", [None, {"value": 0.01}])
def test_the_recorded_gradient_norm_is_the_joint_norm_read_from_the_flat_buffer(grad_clip):
    """The flat optimizer's one reduction over its gradient buffer gives what torch computes over the parameters'
    gradients (before clipping by value), for the registry's two param groups."""
    X, y = _problem(n=48)
    reference = _mlp()
    nn.functional.mse_loss(reference(X).squeeze(-1), y).backward()
    expected = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in reference.parameters()])).item()
    result = ds.fit(_mlp(), (X, y), loss="mse", batch_size=48, max_steps=2, optimizer="adamw", lr=1e-3,
                    grad_clip=grad_clip, progress=False, doctor=False, threads=None)
    assert result.history[0]["grad_norm"] == pytest.approx(expected, rel=1e-6)
    assert isinstance(ds.optim.create(_mlp(), "adamw"), ds.optim.AdamWFlat)   # the path measured above


DYNAMO_PROBE = """
import sys, torch
from torch import nn
import descend as ds
torch.manual_seed(0)
X, y = torch.randn(64, 5), torch.randn(64)
ds.fit(nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 1)), (X, y), loss="mse", batch_size=16, max_epochs=2,
       run_dir=sys.argv[1], checkpoint_every=3, progress=False)
print("torch._dynamo" in sys.modules)
"""


def test_a_default_fit_with_checkpoints_never_imports_torch_dynamo(tmp_path):
    """torch wraps Optimizer.add_param_group, zero_grad, state_dict and load_state_dict so that on first use they
    import torch._dynamo (as long as importing torch itself); descend's optimizers call them unwrapped outside
    torch.compile, so a fit in a fresh process (optimizer built, stepped, checkpointed) never pays for it."""
    out = subprocess.run([sys.executable, "-c", DYNAMO_PROBE, str(tmp_path / "run")], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"


def _stepped_copies(make):
    """Two equal models with an optimizer each (from `make`) and the same gradients, ready to step."""
    pairs = []
    for _ in range(2):
        model = _mlp()
        opt = make(model)
        X, y = _problem()
        nn.functional.mse_loss(model(X).squeeze(-1), y).backward()
        pairs.append((model, opt))
    return pairs


@pytest.mark.parametrize("make", [lambda m: ds.optim.create(m, "adamw", lr=1e-2),
                                  lambda m: torch.optim.AdamW(m.parameters(), lr=1e-2)])
def test_the_unwrapped_step_makes_torchs_update_and_runs_hooks_when_there_are_any(make):
    from torch.optim.optimizer import register_optimizer_step_post_hook

    from descend.optim.base import step_unwrapped
    (a, opt_a), (b, opt_b) = _stepped_copies(make)
    opt_a.step()
    step_unwrapped(opt_b)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert any(not torch.equal(p, q) for p, q in zip(a.parameters(), _mlp().parameters()))   # it did step
    seen = []
    handles = [opt_b.register_step_pre_hook(lambda *args: seen.append("pre")),
               opt_b.register_step_post_hook(lambda *args: seen.append("post")),
               register_optimizer_step_post_hook(lambda *args: seen.append("global"))]
    try:
        step_unwrapped(opt_b)
    finally:
        for handle in handles:
            handle.remove()
    assert seen == ["pre", "post", "global"]
    torch.optim.lr_scheduler.StepLR(opt_b, step_size=1)   # patches opt_b.step to note that it was called
    opt_b._opt_called = False
    step_unwrapped(opt_b)
    assert opt_b._opt_called


def test_the_unwrapped_step_keeps_torchs_profiler_label_while_profiling():
    from descend.optim.base import step_unwrapped
    (_, opt), _ = _stepped_copies(lambda m: ds.optim.create(m, "adamw", lr=1e-2))
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        step_unwrapped(opt)
    assert any(event.name.startswith("Optimizer.step#") for event in prof.events())


def test_fits_seeding_leaves_torchs_generators_as_torch_manual_seed_would(monkeypatch):
    """Without a usable accelerator only the CPU generator is seeded (torch's queued accelerator seeds cost a
    formatted stack trace each); its state is torch.manual_seed's, and with an accelerator torch's own call runs."""
    from descend.core import seeding
    torch.manual_seed(7)
    expected = torch.get_rng_state()
    torch.manual_seed(0)
    seeding.manual_seed(7)
    assert torch.equal(torch.get_rng_state(), expected)
    calls = []
    monkeypatch.setattr(seeding, "_accelerator_usable", lambda: True)
    monkeypatch.setattr(torch, "manual_seed", calls.append)
    seeding.manual_seed(3)
    assert calls == [3]


@pytest.mark.parametrize("nan_from", [5, 31, 33])   # mid-window, a window's last step (32), the next window's first
def test_the_flat_optimizers_step_count_holds_the_updates_made_when_a_nan_stops_the_run(nan_from):
    X, y = _problem()
    switch = NaNFrom(nan_from)

    def loss(out, target):
        value = nn.functional.mse_loss(out.squeeze(-1), target)
        return value * float("nan") if switch.on else value
    model = _mlp()
    opt = ds.optim.create(model, "adamw_flat", lr=1e-3)
    result = ds.fit(model, (X, y), optimizer=opt, loss=loss, batch_size=16, max_steps=60, progress=False,
                    doctor=False, callbacks=[switch])
    assert result.stop_code == "non_finite" and len(result.history) == nan_from
    counts = [float(state["step"]) for state in opt.state.values()]
    assert counts == [nan_from - 1.0] * len(opt.param_groups)   # every skipped step given back, in both groups
