"""Each descend optimizer against a slow NumPy reference written from the paper's update equations.

Gradients come from a fixed noisy quadratic, g_k(w) = w - target + noise_k, evaluated at whatever point the
algorithm asks for (Schedule-Free's y, for instance); both sides see the same sequence. float64 throughout.
"""
import numpy as np
import pytest
import torch

from descend import optim

SHAPES = [(4, 4), (5,)]


def problem(seed=0, shapes=SHAPES, steps=10):
    rng = np.random.default_rng(seed)
    start = [rng.standard_normal(s) for s in shapes]
    target = [rng.standard_normal(s) for s in shapes]
    noise = [[rng.standard_normal(s) for s in shapes] for _ in range(steps)]
    return start, target, noise


def grad(w, target, noise):
    return w - target + noise


def run_descend(make, start, target, noise, steps, switch_eval=False):
    params = [torch.tensor(w, requires_grad=True) for w in start]
    opt = make(params)
    for k in range(steps):
        for p, t, n in zip(params, target, noise[k]):
            p.grad = torch.tensor(grad(p.detach().numpy(), t, n))
        opt.step()
    if switch_eval:
        opt.eval()
    return [p.detach().numpy() for p in params], opt


def lion_ref(w, target, noise, steps, lr, b1, b2, wd):
    out = []
    for i, x in enumerate(w):
        x, m = x.copy(), np.zeros_like(x)
        for k in range(steps):
            g = grad(x, target[i], noise[k][i])
            c = b1 * m + (1 - b1) * g
            x = x - lr * (np.sign(c) + wd * x)
            m = b2 * m + (1 - b2) * g
        out.append(x)
    return out


def lamb_ref(w, target, noise, steps, lr, b1, b2, eps, wd):
    out = []
    for i, x in enumerate(w):
        x, m, v = x.copy(), np.zeros_like(x), np.zeros_like(x)
        for k in range(1, steps + 1):
            g = grad(x, target[i], noise[k - 1][i])
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            r = (m / (1 - b1 ** k)) / (np.sqrt(v / (1 - b2 ** k)) + eps)
            u = r + wd * x
            ratio = np.linalg.norm(x) / np.linalg.norm(u)
            x = x - lr * ratio * u
        out.append(x)
    return out


def schedule_free_ref(w, target, noise, steps, lr, b1, b2, eps, wd, warmup, adam, paper=False):
    """Algorithm 1 of Defazio et al. 2024 with x, y, z stored explicitly; returns x (the evaluation point).

    AdamW debiases v (the authors' package since 1.3) or, with `paper`, scales lr_t by sqrt(1 - b2^t); the
    average weighs each step by the largest lr_t^2 so far, as the authors' code does.
    """
    out = []
    for i, x0 in enumerate(w):
        x, z, v, weight_sum, lr_max = x0.copy(), x0.copy(), np.zeros_like(x0), 0.0, 0.0
        for t in range(1, steps + 1):
            y = (1 - b1) * z + b1 * x
            g = grad(y, target[i], noise[t - 1][i])
            lr_t = lr * min(1.0, t / warmup) if warmup else lr
            if adam:
                v = b2 * v + (1 - b2) * g * g
                if paper:
                    lr_t *= np.sqrt(1 - b2 ** t)
                    d = g / (np.sqrt(v) + eps)
                else:
                    d = g / (np.sqrt(v / (1 - b2 ** t)) + eps)
            else:
                d = g
            z = z - lr_t * d - lr_t * wd * y
            lr_max = max(lr_max, lr_t)
            weight_sum += lr_max ** 2
            c = lr_max ** 2 / weight_sum
            x = (1 - c) * x + c * z
        out.append(x)
    return out


def prodigy_ref(w, target, noise, steps, lr, b1, b2, eps, wd, d0, b3=None, d_coef=1.0):
    """Algorithm (Adam version) of Mishchenko & Defazio 2023, one d for all tensors; beta3 defaults to sqrt(beta2).

    As in the authors' code, the eps term of step k takes the new estimate d_{k+1}.
    """
    b3 = np.sqrt(b2) if b3 is None else b3
    x = [a.copy() for a in w]
    x0 = [a.copy() for a in w]
    m = [np.zeros_like(a) for a in w]
    v = [np.zeros_like(a) for a in w]
    s = [np.zeros_like(a) for a in w]
    d, r = d0, 0.0
    for k in range(steps):
        g = [grad(x[i], target[i], noise[k][i]) for i in range(len(x))]
        r = b3 * r + (1 - b3) * lr * d * d * sum(float(np.sum(gi * (a - b))) for gi, a, b in zip(g, x0, x))
        for i in range(len(x)):
            m[i] = b1 * m[i] + (1 - b1) * d * g[i]
            v[i] = b2 * v[i] + (1 - b2) * d * d * g[i] ** 2
            s[i] = b3 * s[i] + (1 - b3) * lr * d * d * g[i]
        s_norm = sum(float(np.abs(a).sum()) for a in s)
        new_d = max(d, d_coef * r / s_norm)
        x = [xi - lr * d * (mi / (np.sqrt(vi) + new_d * eps) + wd * xi) for xi, mi, vi in zip(x, m, v)]
        d = new_d
    return x, d


def soap_ref(w, target, noise, steps, lr, b1, b2, eps, wd, freq, max_dim=10000, shampoo_beta=None):
    """Adam in the eigenbasis of Shampoo's factors (Vyas et al. 2024); 1-D tensors get plain Adam.

    Step 1 only collects statistics; L and R take each gradient after its step; the basis is refreshed after
    step 1 and every `freq` steps; bias correction scales the step size; decay follows the step. A >2-D
    tensor is the matrix (first dimension, rest); a side longer than `max_dim` keeps the identity basis.
    """
    b = b2 if shampoo_beta is None else shampoo_beta
    out = []
    for i, x in enumerate(w):
        x = x.copy()
        mat = x.ndim >= 2
        rows, cols = (x.shape[0], x.size // x.shape[0]) if mat else (1, x.size)
        L, R = np.zeros((rows, rows)), np.zeros((cols, cols))
        QL, QR = np.eye(rows), np.eye(cols)
        M, V = np.zeros((rows, cols)), np.zeros((rows, cols))
        for t in range(1, steps + 1):
            G = grad(x, target[i], noise[t - 1][i]).reshape(rows, cols)
            if t > 1:
                k = t - 1
                Gr = QL.T @ G @ QR
                M = b1 * M + (1 - b1) * G
                V = b2 * V + (1 - b2) * Gr * Gr
                N = QL @ ((QL.T @ M @ QR) / (np.sqrt(V) + eps)) @ QR.T
                x = x - lr * np.sqrt(1 - b2 ** k) / (1 - b1 ** k) * N.reshape(x.shape)
                x = x * (1 - lr * wd)
            if mat:
                L = b * L + (1 - b) * G @ G.T
                R = b * R + (1 - b) * G.T @ G
                if (t - 1) % freq == 0:
                    QL = np.linalg.eigh(L)[1] if rows <= max_dim else QL
                    QR = np.linalg.eigh(R)[1] if cols <= max_dim else QR
        out.append(x)
    return out


def close(a, b):
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=0, atol=1e-6)


@pytest.mark.parametrize("steps", [1, 10])
def test_lion_matches_reference(steps):
    start, target, noise = problem()
    ours, _ = run_descend(lambda p: optim.Lion(p, lr=0.01, betas=(0.8, 0.95), weight_decay=0.5),
                          start, target, noise, steps)
    close(ours, lion_ref(start, target, noise, steps, 0.01, 0.8, 0.95, 0.5))


@pytest.mark.parametrize("steps", [1, 10])
def test_lamb_matches_reference(steps):
    start, target, noise = problem()
    ours, _ = run_descend(lambda p: optim.LAMB(p, lr=0.05, weight_decay=0.1), start, target, noise, steps)
    close(ours, lamb_ref(start, target, noise, steps, 0.05, 0.9, 0.999, 1e-6, 0.1))


@pytest.mark.parametrize("steps", [1, 10])
@pytest.mark.parametrize("warmup", [0, 4])
@pytest.mark.parametrize("paper", [False, True])
def test_schedule_free_adamw_matches_reference(steps, warmup, paper):
    start, target, noise = problem()
    kind = optim.ScheduleFreeAdamWPaper if paper else optim.ScheduleFreeAdamW
    make = lambda p: kind(p, lr=0.05, betas=(0.9, 0.99), weight_decay=0.1, warmup_steps=warmup)
    ours, _ = run_descend(make, start, target, noise, steps, switch_eval=True)
    close(ours, schedule_free_ref(start, target, noise, steps, 0.05, 0.9, 0.99, 1e-8, 0.1, warmup, adam=True,
                                  paper=paper))


@pytest.mark.parametrize("steps", [1, 10])
def test_schedule_free_sgd_matches_reference(steps):
    start, target, noise = problem()
    make = lambda p: optim.ScheduleFreeSGD(p, lr=0.3, momentum=0.8, weight_decay=0.05, warmup_steps=3)
    ours, _ = run_descend(make, start, target, noise, steps, switch_eval=True)
    close(ours, schedule_free_ref(start, target, noise, steps, 0.3, 0.8, 0.0, 0.0, 0.05, 3, adam=False))


@pytest.mark.parametrize("steps", [1, 10])
def test_prodigy_matches_reference_and_grows_d(steps):
    start, target, noise = problem()
    ours, opt = run_descend(lambda p: optim.Prodigy(p, d0=1e-2, weight_decay=0.01), start, target, noise, steps)
    ref, d = prodigy_ref(start, target, noise, steps, 1.0, 0.9, 0.999, 1e-8, 0.01, 1e-2)
    close(ours, ref)
    assert opt.param_groups[0]["d"] == pytest.approx(d, rel=1e-9)
    if steps == 10:
        assert d > 1e-2  # the estimate moved, so the d update itself was checked


@pytest.mark.parametrize("steps", [1, 10])
def test_prodigy_beta3_matches_reference(steps):
    start, target, noise = problem()
    make = lambda p: optim.Prodigy(p, betas=(0.8, 0.99), beta3=0.5, d0=1e-2)
    ours, opt = run_descend(make, start, target, noise, steps)
    ref, d = prodigy_ref(start, target, noise, steps, 1.0, 0.8, 0.99, 1e-8, 0.0, 1e-2, b3=0.5)
    close(ours, ref)
    assert opt.param_groups[0]["d"] == pytest.approx(d, rel=1e-9)
    default, _ = prodigy_ref(start, target, noise, steps, 1.0, 0.8, 0.99, 1e-8, 0.0, 1e-2)
    if steps == 10:   # beta3 changes the run, so the test above really checked it
        assert max(np.abs(a - b).max() for a, b in zip(ref, default)) > 1e-4


@pytest.mark.parametrize("steps,freq", [(1, 10), (2, 10), (10, 10), (10, 3)])
def test_soap_matches_reference(steps, freq):
    start, target, noise = problem()
    make = lambda p: optim.SOAP(p, lr=0.01, betas=(0.9, 0.95), weight_decay=0.1, precondition_frequency=freq)
    ours, _ = run_descend(make, start, target, noise, steps)
    close(ours, soap_ref(start, target, noise, steps, 0.01, 0.9, 0.95, 1e-8, 0.1, freq))


@pytest.mark.parametrize("steps", [1, 10])
def test_soap_one_sided_flattened_and_shampoo_beta_match_reference(steps):
    """(3, 8) and (8, 3) with max_precond_dim=4 rotate one side only; (3, 2, 2) is preconditioned as (3, 4)."""
    start, target, noise = problem(shapes=[(3, 8), (8, 3), (3, 2, 2), (5,)])
    make = lambda p: optim.SOAP(p, lr=0.01, betas=(0.9, 0.95), weight_decay=0.1, precondition_frequency=3,
                                max_precond_dim=4, shampoo_beta=0.7)
    ours, opt = run_descend(make, start, target, noise, steps)
    close(ours, soap_ref(start, target, noise, steps, 0.01, 0.9, 0.95, 1e-8, 0.1, 3, max_dim=4, shampoo_beta=0.7))
    sides = [sorted(k for k in ("QL", "QR") if k in opt.state[p]) for p in opt.param_groups[0]["params"]]
    assert sides == [["QL"], ["QR"], ["QL", "QR"], []]


@pytest.mark.parametrize("steps", [1, 10])
def test_adamw_flat_matches_torch_adamw(steps):
    start, target, noise = problem(shapes=[(4, 4), (5,), (3, 2, 2)])
    ours, _ = run_descend(lambda p: optim.AdamWFlat(p, lr=0.05, weight_decay=0.1), start, target, noise, steps)
    theirs, _ = run_descend(lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.1, foreach=False),
                            start, target, noise, steps)
    close(ours, theirs)


@pytest.mark.parametrize("steps,sync", [(1, 1), (10, 3)])
def test_lookahead_matches_reference(steps, sync):
    start, target, noise = problem()
    ours, _ = run_descend(lambda p: optim.Lookahead(torch.optim.SGD(p, lr=0.1), k=sync, alpha=0.5),
                          start, target, noise, steps)
    ref = []
    for i, fast in enumerate(start):
        fast, slow = fast.copy(), fast.copy()
        for k in range(1, steps + 1):
            fast = fast - 0.1 * grad(fast, target[i], noise[k - 1][i])
            if k % sync == 0:
                slow = slow + 0.5 * (fast - slow)
                fast = slow.copy()
        ref.append(fast)
    close(ours, ref)


@pytest.mark.parametrize("steps", [1, 10])
def test_ema_eval_holds_the_debiased_average(steps):
    start, target, noise = problem()
    ours, _ = run_descend(lambda p: optim.EMA(torch.optim.SGD(p, lr=0.1), decay=0.9), start, target, noise, steps,
                          switch_eval=True)
    ref = []
    for i, w in enumerate(start):
        w, total, weights = w.copy(), np.zeros_like(w), 0.0
        for k in range(1, steps + 1):
            w = w - 0.1 * grad(w, target[i], noise[k - 1][i])
            total, weights = 0.9 * total + 0.1 * w, 0.9 * weights + 0.1
        ref.append(total / weights)
    close(ours, ref)


def test_adamw_flat_adopts_parameters_rebound_after_construction():
    start, target, noise = problem(shapes=[(3, 3), (4,)], steps=2)
    ours = [torch.tensor(w, requires_grad=True) for w in start]
    theirs = [torch.tensor(w, requires_grad=True) for w in start]
    opt, ref = optim.AdamWFlat(ours, lr=0.1), torch.optim.AdamW(theirs, lr=0.1, foreach=False)
    for k in range(2):
        ours[0].data = ours[0].data.clone() + 1.0   # e.g. model.to() or a hand edit rebinding the storage
        theirs[0].data = theirs[0].data + 1.0
        for group in (ours, theirs):
            for p, t, n in zip(group, target, noise[k]):
                p.grad = torch.tensor(grad(p.detach().numpy(), t, n))
        opt.step()
        ref.step()
    close([p.detach().numpy() for p in ours], [p.detach().numpy() for p in theirs])
    assert ours[0].data_ptr() == opt.buffers[id(ours[0])].values.data_ptr()   # back inside the flat buffer


def test_adamw_flat_clips_fresh_gradients_after_model_zero_grad():
    """model.zero_grad() sets gradients to None; the next backward's new tensors are what gets clipped."""
    start, target, noise = problem(shapes=[(4, 4), (5,)], steps=4)
    ours = [torch.tensor(w, requires_grad=True) for w in start]
    theirs = [torch.tensor(w, requires_grad=True) for w in start]
    opt = optim.AdamWFlat(ours, lr=0.05, grad_clip=0.5)
    ref = torch.optim.AdamW(theirs, lr=0.05, foreach=False)
    for k in range(4):
        for group in (ours, theirs):
            for p, t, n in zip(group, target, noise[k]):
                p.grad = None   # what torch.nn.Module.zero_grad() does
                (0.5 * (k + 1) * ((p - torch.tensor(t + n)) ** 2).sum()).backward()   # growing gradients
        assert torch.nn.utils.clip_grad_norm_(theirs, 0.5) > 0.5
        opt.step()
        ref.step()
    close([p.detach().numpy() for p in ours], [p.detach().numpy() for p in theirs])


def test_adamw_flat_add_param_group_matches_torch_adamw():
    start, target, noise = problem(shapes=[(4, 4), (5,), (3, 2)], steps=5)
    ours = [torch.tensor(w, requires_grad=True) for w in start]
    theirs = [torch.tensor(w, requires_grad=True) for w in start]
    opt = optim.AdamWFlat(ours[:1], lr=0.05)
    ref = torch.optim.AdamW(theirs[:1], lr=0.05, foreach=False)
    for k in range(5):
        if k == 2:   # unfreeze the rest mid-run, with its own lr and decay
            opt.add_param_group({"params": ours[1:], "lr": 0.1, "weight_decay": 0.0})
            ref.add_param_group({"params": theirs[1:], "lr": 0.1, "weight_decay": 0.0})
        live = 1 if k < 2 else 3
        for group in (ours, theirs):
            for p, t, n in zip(group[:live], target, noise[k]):
                p.grad = torch.tensor(grad(p.detach().numpy(), t, n))
        opt.step()
        ref.step()
    close([p.detach().numpy() for p in ours], [p.detach().numpy() for p in theirs])
    assert ours[2].data_ptr() == opt.buffers[id(ours[1])].values.data_ptr() + 5 * 8   # in the new group's buffer
