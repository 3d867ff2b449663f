"""Bad hyperparameters and misuse raise DescendError naming the parameter, before any work starts."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from descend import DescendError, optim

OURS = ["lion", "lamb", "schedule_free_sgd", "schedule_free_adamw", "schedule_free_adamw_paper", "prodigy", "soap",
        "adamw_flat"]
CLASSES = {"lion": optim.Lion, "lamb": optim.LAMB, "schedule_free_adamw": optim.ScheduleFreeAdamW,
           "schedule_free_adamw_paper": optim.ScheduleFreeAdamWPaper, "prodigy": optim.Prodigy, "soap": optim.SOAP,
           "adamw_flat": optim.AdamWFlat}


def params():
    return [torch.zeros(3, 3, requires_grad=True)]


@pytest.mark.parametrize("name", OURS)
def test_registered_with_summary_and_defaults(name):
    assert name in optim.available()
    found = optim.entry(name)
    assert found.summary and found.defaults()["lr"] > 0


@pytest.mark.parametrize("name", OURS)
def test_negative_lr_and_weight_decay_are_named(name):
    with pytest.raises(DescendError, match="lr must be >= 0"):
        optim.create(params(), name, lr=-0.1)
    with pytest.raises(DescendError, match="weight_decay must be >= 0"):
        optim.create(params(), name, weight_decay=-0.1)


@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("betas,which", [((1.0, 0.9), r"betas\[0\]"), ((0.9, -0.1), r"betas\[1\]")])
def test_betas_outside_unit_interval_are_named_by_constructors(name, betas, which):
    with pytest.raises(DescendError, match=which):
        CLASSES[name](params(), betas=betas)
    with pytest.raises(DescendError, match="lr must be >= 0"):
        CLASSES[name](params(), lr=-1.0)


@pytest.mark.parametrize("make,named", [
    (lambda: optim.ScheduleFreeSGD(params(), momentum=1.0), "momentum"),
    (lambda: optim.ScheduleFreeAdamW(params(), warmup_steps=-1), "warmup_steps"),
    (lambda: optim.Prodigy(params(), d0=0.0), "d0"),
    (lambda: optim.Prodigy(params(), beta3=1.5), "beta3"),
    (lambda: optim.SOAP(params(), precondition_frequency=0), "precondition_frequency"),
    (lambda: optim.Lion(params(), grad_clip=0.0), "grad_clip"),
    (lambda: optim.Lookahead(torch.optim.SGD(params(), lr=0.1), k=0), "k"),
    (lambda: optim.Lookahead(torch.optim.SGD(params(), lr=0.1), alpha=0.0), "alpha"),
    (lambda: optim.EMA(torch.optim.SGD(params(), lr=0.1), decay=1.0), "decay"),
])
def test_other_out_of_range_hyperparameters_are_named(make, named):
    with pytest.raises(DescendError, match=rf"^{named} must be"):
        make()


def test_unknown_name_lists_the_new_ones():
    with pytest.raises(DescendError, match="unknown optimizer 'lyon'.*lion.*schedule_free_adamw.*soap"):
        optim.create(params(), "lyon")


def test_wrappers_need_an_optimizer():
    with pytest.raises(TypeError, match="Lookahead wraps a torch.optim.Optimizer"):
        optim.Lookahead(params())


def test_schedule_free_refuses_to_step_in_eval_mode():
    opt = optim.ScheduleFreeSGD(params())
    opt.eval()
    with pytest.raises(DescendError, match=r"call optimizer.train\(\) before step\(\)"):
        opt.step()


def test_ema_refuses_to_step_on_averaged_weights():
    p = params()
    opt = optim.EMA(torch.optim.SGD(p, lr=0.1))
    p[0].grad = torch.ones(3, 3)
    opt.step()
    opt.eval()
    with pytest.raises(DescendError, match=r"call optimizer.train\(\) before step\(\)"):
        opt.step()


def test_adamw_flat_refuses_mixed_dtypes_in_one_group():
    mixed = [torch.zeros(2, requires_grad=True), torch.zeros(2, dtype=torch.float64, requires_grad=True)]
    with pytest.raises(DescendError, match="one dtype and device per param group"):
        optim.AdamWFlat(mixed)


def test_wrapper_state_dict_must_come_from_a_wrapper():
    p = params()
    plain = torch.optim.SGD(p, lr=0.1)
    with pytest.raises(DescendError, match="no 'wrapper' entry"):
        optim.Lookahead(torch.optim.SGD(p, lr=0.1)).load_state_dict(plain.state_dict())


@pytest.mark.parametrize("lr", [float("nan"), float("inf"), "0.1", True, [0.1]])
def test_lr_must_be_a_finite_number(lr):
    with pytest.raises(DescendError, match=r"^lr must be a finite number >= 0, got"):
        optim.Lion(params(), lr=lr)


@pytest.mark.parametrize("betas", [0.9, (0.9,), (0.9, 0.99, 0.999), "ab"])
def test_betas_must_be_a_pair(betas):
    with pytest.raises(DescendError, match=r"^betas must be a pair \(beta1, beta2\)"):
        optim.Lion(params(), betas=betas)
    with pytest.raises(DescendError, match=r"^betas must be a pair"):
        optim.create(params(), "adamw", betas=betas)


@pytest.mark.parametrize("name", CLASSES)
def test_per_group_values_are_checked_and_name_the_group(name):
    with pytest.raises(DescendError, match=r"^lr must be >= 0, got -1.0 in param group 1"):
        CLASSES[name]([{"params": params()}, {"params": params(), "lr": -1.0}])
    opt = CLASSES[name](params())
    with pytest.raises(DescendError, match=r"^weight_decay must be >= 0, got -0.5 in param group 1"):
        opt.add_param_group({"params": params(), "weight_decay": -0.5})
    assert len(opt.param_groups) == 1   # the refused group was not added


@pytest.mark.parametrize("group,named", [({"precondition_frequency": 0}, "precondition_frequency"),
                                         ({"shampoo_beta": 2.0}, "shampoo_beta"),
                                         ({"betas": (0.9, 1.0)}, r"betas\[1\]")])
def test_soap_checks_its_own_hyperparameters_per_group(group, named):
    with pytest.raises(DescendError, match=rf"^{named} must be .* in param group 1"):
        optim.SOAP([{"params": params()}, {"params": params(), **group}])


def test_grad_clip_is_one_global_norm_not_a_group_setting():
    with pytest.raises(DescendError, match="grad_clip is one global norm over all groups"):
        optim.Lion([{"params": params()}, {"params": params(), "grad_clip": 2.0}], grad_clip=1.0)


def test_create_checks_grad_clip_for_torch_optimizers_and_refuses_it_for_lbfgs():
    with pytest.raises(DescendError, match=r"^grad_clip must be a finite number > 0, got -1"):
        optim.create(params(), "adamw", grad_clip=-1)
    with pytest.raises(DescendError, match="lbfgs does not take grad_clip"):
        optim.create(params(), "lbfgs", grad_clip=1.0)
    with pytest.raises(DescendError, match=r"^grad_clip must be"):
        optim.EMA(torch.optim.SGD(params(), lr=0.1), grad_clip=0.0)


def test_muon_names_the_one_dimensional_parameter_and_shows_the_route():
    model = torch.nn.Linear(3, 2)
    with pytest.raises(DescendError, match=r"muon updates 2-D weights only, but parameter 'bias' has shape \(2,\).*"
                                           r"descend\.optim\.route\(model, \{descend\.optim\.ndim\(2\): 'muon'"):
        optim.create(model, "muon")
    assert isinstance(optim.create([model.weight], "muon"), torch.optim.Muon)


def _one_plain_step(name: str) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Embedding(5, 3), torch.nn.Flatten(), torch.nn.Linear(6, 1))
    opt = optim.create(model, name)
    before = [p.detach().clone() for p in model.parameters()]
    for _ in range(2 if name == "soap" else 1):   # SOAP's first step only builds its basis, as the authors'
        opt.zero_grad()
        model(torch.tensor([[1, 2], [3, 4]])).square().mean().backward()
        opt.step()
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))


def test_general_purpose_names_exactly_those_a_plain_loop_can_run():
    names = optim.general_purpose()
    assert {"adamw", "sgd", "lion", "soap", "adamw_flat", "schedule_free_adamw"} <= set(names)
    assert set(names) | {"lbfgs", "sparse_adam", "muon"} == set(optim.available())
    for name in names:
        _one_plain_step(name)
    for name in ("lbfgs", "sparse_adam", "muon"):
        assert optim.entry(name).needs
        with pytest.raises((ValueError, RuntimeError, TypeError)):
            _one_plain_step(name)


def test_adamw_flat_refuses_a_model_converted_after_construction():
    model = torch.nn.Linear(4, 1)
    opt = optim.create(model, "adamw_flat")
    model.double()
    model(torch.randn(8, 4, dtype=torch.float64)).sum().backward()
    with pytest.raises(DescendError, match=r"adamw_flat: parameter 'weight' is now torch.float64 .* buffer holds "
                                           r"torch.float32 .* create the optimizer after moving the model"):
        opt.step()


def test_adamw_flat_refused_group_leaves_the_optimizer_usable():
    p = params()
    opt = optim.AdamWFlat(p)
    with pytest.raises(DescendError, match="one dtype and device per param group"):
        opt.add_param_group({"params": [torch.zeros(2, requires_grad=True),
                                        torch.zeros(2, dtype=torch.float64, requires_grad=True)]})
    p[0].grad = torch.ones(3, 3)
    opt.step()
    assert len(opt.param_groups) == 1 and p[0].detach().lt(0).all()


def test_ema_refuses_new_parameters_after_it_has_stepped():
    p = params()
    opt = optim.EMA(torch.optim.SGD(p, lr=0.1))
    p[0].grad = torch.ones(3, 3)
    opt.step()
    with pytest.raises(DescendError, match="EMA cannot take new parameters once it has stepped"):
        opt.add_param_group({"params": params()})
    assert len(opt.param_groups) == len(opt.inner.param_groups) == len(opt.extra) == 1   # refused: nothing changed


def test_routed_refuses_add_param_group():
    routed = optim.route(torch.nn.Linear(2, 1), {optim.other: "adamw"})
    with pytest.raises(DescendError, match=r"add it to one part \(routed.optimizers\[i\].add_param_group"):
        routed.add_param_group({"params": params()})


def test_import_works_on_a_torch_without_adafactor_and_muon():
    """torch >= 2.4 is supported: entries whose class this torch lacks are left out, not an import error."""
    code = ("import torch; del torch.optim.Adafactor, torch.optim.Muon\n"
            "from descend import optim\n"
            "names = optim.available()\n"
            "assert 'muon' not in names and 'adafactor' not in names and 'adamw' in names and 'lion' in names\n"
            "print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(optim.__file__).parents[2])})
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_schedule_free_sgd_checks_momentum_per_group_like_the_constructor():
    with pytest.raises(DescendError, match=r"^momentum must be in \(0, 1\), got 0.0$"):
        optim.ScheduleFreeSGD(params(), momentum=0.0)
    with pytest.raises(DescendError, match=r"^momentum must be in .*, got 1.5 in param group 1"):
        optim.ScheduleFreeSGD([{"params": params()}, {"params": params(), "momentum": 1.5}])
    opt = optim.ScheduleFreeSGD(params())
    with pytest.raises(DescendError, match=r"^momentum must be in \(0, 1\), got 0.0 in param group 1"):
        opt.add_param_group({"params": params(), "momentum": 0.0})
    opt.add_param_group({"params": params(), "momentum": 0.5})
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.5]


def test_prodigy_d_coef_is_accepted_by_create_and_checked():
    assert optim.create(params(), "prodigy", d_coef=0.5).param_groups[0]["d_coef"] == 0.5
    with pytest.raises(DescendError, match=r"d_coef must be a finite number > 0, got 0"):
        optim.create(params(), "prodigy", d_coef=0)
