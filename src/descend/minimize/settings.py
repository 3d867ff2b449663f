"""minimize's arguments, checked and assembled before fun is first called: the method and its optimizer, the
tolerances and limits, the callbacks, and one projection over the flat x from `constraint=` and `bounds=`."""
from __future__ import annotations

import inspect
import math
from typing import Callable

import numpy as np
import torch

from .. import optim
from ..core.checks import check_positive_int
from ..core.errors import DescendError, DescendTypeError
from ..core.loop import Callback
from .constraints import Constraint, Intersection, Parts, from_bounds
from .layout import Layout
from .linesearch import LBFGS, ArmijoGD

METHODS = ("lbfgs", "gd", "momentum", "nesterov", "adam")


# A penalty only nears its constraint (on a sphere, rho (x.x - 1)^2 in fun missed ||x|| = 1 by 1.6e-2 at rho 100,
# benchmarks/minimize_fresh.py), while a substitution holds it exactly and leaves an unconstrained problem.
NONLINEAR = ("a nonlinear one is best built into x: minimize over a free z and form x from it inside fun (x = z / "
             "z.norm() keeps ||x|| = 1, x = z.exp() keeps x > 0), then form x from the result's z the same way; a "
             "penalty added to fun holds a constraint only approximately")

SCIPY_ONLY = {   # scipy.optimize.minimize's arguments that minimize has no use for, and what to do instead
    "constraints": "minimize takes one constraint= set, projected onto at every step (linear equalities A x = b "
                   "are Affine(A, b), inequalities A x <= b LinearInequality(A, b), a budget Simplex(total), "
                   "several together Intersection(...); see descend.constraints), not scipy's constraints= list of "
                   f"{{'type': ..., 'fun': ...}}; {NONLINEAR}",
    "jac": "minimize takes gradients from autograd, so it has no jac=: write fun with torch operations on the "
           "tensor x it is given",
    "hess": "minimize takes no hess=: its methods use gradients only (lbfgs builds its own curvature)",
    "args": "minimize passes fun only x: bind the other arguments, minimize(lambda x: fun(x, *args), x0)",
    "tol": "minimize has no tol=: give gtol= (largest gradient component) or ftol= (relative change of f)",
    "options": "minimize takes its options as keywords (max_steps=, gtol=, ftol=, xtol=, max_evals=), not "
               "options={...}",
}


def refuse_scipy_only(given: dict) -> None:
    """Refuse arguments only scipy.optimize.minimize takes, saying what minimize takes instead; any other unknown
    keyword as Python would."""
    for name, value in given.items():
        sets = value if isinstance(value, (list, tuple)) else [value]
        if name == "constraints" and sets and all(isinstance(item, Constraint) for item in sets):
            named = ", ".join(f"{type(item).__name__}(...)" for item in sets)
            raise DescendTypeError(f"constraints=: the argument is constraint= (singular), one set: "
                                   f"constraint={named if len(sets) == 1 else f'Intersection({named})'}")
        if name == "constraints" and _linear_constraints(value):
            raise DescendTypeError(f"constraints=: {_linear_constraints(value)}")
        if name in SCIPY_ONLY:
            raise DescendTypeError(f"{name}=: {SCIPY_ONLY[name]}")
        raise DescendTypeError(f"minimize() got an unexpected keyword argument {name!r}")


def _linear_constraints(value) -> str | None:
    """For scipy.optimize.LinearConstraint objects (lb <= A x <= ub), the constraint= that says the same."""
    items = value if isinstance(value, (list, tuple)) else [value]
    if not items or not all(type(item).__name__ == "LinearConstraint" for item in items):
        return None
    return ("scipy's LinearConstraint(A, lb, ub) is constraint=LinearInequality(A, ub) for A x <= ub, "
            "LinearInequality(-A, -lb) for A x >= lb, Affine(A, b) where lb = ub = b, and Intersection(...) of "
            "them for both sides or several (descend.constraints; rows with an infinite side left out)")


SCIPY_METHODS = {"l-bfgs-b": "lbfgs", "bfgs": "lbfgs", "cg": "lbfgs", "newton-cg": "lbfgs", "trust-constr": "lbfgs",
                 "slsqp": "lbfgs", "tnc": "lbfgs"}   # scipy's gradient methods and descend's nearest one


def _unknown_method(method: str) -> str:
    """What to say of a method name descend lacks: scipy's gradient methods get their counterpart, its
    gradient-free ones (Nelder-Mead, Powell, COBYLA) are said to be out of reach, any other gets the list."""
    if method in SCIPY_METHODS:
        return (f"method {method!r} is scipy's; descend's counterpart is method='lbfgs' (the default: L-BFGS with a "
                "strong-Wolfe line search; bounds= and constraint= are projected onto)")
    if method in ("nelder-mead", "powell", "cobyla", "cobyqa"):
        return (f"method {method!r} is scipy's gradient-free search, which descend does not have: minimize follows "
                "autograd's gradients (method='lbfgs'); for a fun without gradients use scipy.optimize.minimize")
    return (f"unknown method {method!r}; use one of {', '.join(METHODS)} or an optimizer name from "
            f"descend.optim.available(): {', '.join(optim.available())}")


def check_settings(method, lr, gtol, ftol, xtol, max_steps, max_evals, maximize) -> str:
    """The method name, lower-cased; raises naming the first setting that is out of range."""
    if not isinstance(method, str):
        raise DescendTypeError(f"method must be a name, got {method!r}")
    method = method.lower()
    if method not in METHODS and method not in optim.available():
        raise DescendError(_unknown_method(method))
    needs = "" if method in METHODS else optim.entry(method).needs   # what a registry optimizer needs beyond x
    if needs:
        raise DescendError(f"method {method!r} needs {needs}, but minimize's x is one flat dense vector; use "
                           "lbfgs or adam here")
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0):
        raise DescendError(f"lr must be a number > 0 (or None for the method's own choice), got {lr!r}")
    for name, value in (("gtol", gtol), ("ftol", ftol), ("xtol", xtol)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0
                                  or math.isnan(value)):
            raise DescendError(f"{name} must be a number >= 0 (or None to turn the test off), got {value!r}")
    for name, value in (("max_steps", max_steps), ("max_evals", max_evals)):
        check_positive_int(value, name, allow_none=True)
    if not isinstance(maximize, (bool, np.bool_)):
        raise DescendTypeError(f"maximize must be True or False, got {maximize!r}")
    return method


def split_callbacks(callback) -> tuple[list[Callback], list[Callable]]:
    """descend Callbacks (loop hooks) and plain functions callback(x, record) -> stop?, from one or a list."""
    items = [] if callback is None else list(callback) if isinstance(callback, (list, tuple)) else [callback]
    hooks = [item for item in items if isinstance(item, Callback)]
    functions = [item for item in items if not isinstance(item, Callback)]
    for item in functions:
        if not callable(item):
            raise DescendTypeError(f"callback must be a function callback(x, record) returning True to stop, a "
                                   f"descend Callback, or a list of them; got {item!r}")
        _check_takes_two(item)
    return hooks, functions


def _check_takes_two(function: Callable) -> None:
    """Refuse, before the first step, a callback that cannot take (x, record): scipy's callback(xk) habit would
    otherwise fail inside the loop with Python's own words."""
    try:
        inspect.signature(function).bind(None, None)
    except ValueError:   # a builtin without a signature: nothing to check
        return
    except TypeError:
        name = getattr(function, "__name__", type(function).__name__)
        write = "lambda x, record: ..." if name == "<lambda>" else f"def {name}(x, record): ..."
        raise DescendTypeError(f"callback {name}{inspect.signature(function)} cannot take the two arguments minimize "
                               "passes, callback(x, record): x as the caller gave it, record the step's numbers "
                               f"(loss, grad_norm, step, ...); write {write} (scipy's callback(xk) takes x alone), "
                               "returning True to stop") from None


def assemble_constraint(layout: Layout, constraint, bounds) -> Constraint | None:
    """One projection over the flat x from `constraint=` and `bounds=`, each for all of x or per named part."""
    given = {}
    for arg, value, make in (("constraint", constraint, _check_constraint), ("bounds", bounds, from_bounds)):
        if value is None:
            continue
        if arg == "constraint" and _scipy_style(value):
            _check_constraint(value)
        per_part = value.items() if isinstance(value, dict) else [(None, value)]
        for name, spec in per_part:
            if name is not None and name not in layout.slices:
                raise DescendError(f"{arg} names part {name!r}, but x0 has {sorted(map(str, layout.names))}")
            if name in given:   # bounds on a part with a constraint: the points that satisfy both
                given[name] = Intersection(given[name], make(spec))
                continue
            if (name is None and given) or None in given:
                raise DescendError(f"{arg}: give bounds= and constraint= both for all of x or both by part name, "
                                   "not one of each")
            given[name] = make(spec)
    if not given:
        return None
    pieces = []
    for name, con in given.items():
        where = slice(0, layout.x0.numel()) if name is None else layout.slices[name]
        label = "x" if name is None else f"x[{name!r}]"
        pieces.append((where, con.bind(where.stop - where.start, layout.dtype, label, layout.x0.device)))
    return pieces[0][1] if len(pieces) == 1 and None in given else Parts(pieces)


def _scipy_style(value) -> bool:
    """A constraint written for scipy.optimize.minimize: a function, a {'type': ..., 'fun': ...} dict, or a list
    of them."""
    items = value if isinstance(value, (list, tuple)) else [value]
    return bool(items) and all(callable(item) and not isinstance(item, Constraint)
                               or isinstance(item, dict) and "fun" in item for item in items)


def _check_constraint(value) -> Constraint:
    if not isinstance(value, Constraint):
        hint = ("; minimize projects onto sets rather than taking constraint functions (scipy's {'type': 'eq', "
                "'fun': ...}): a linear equality is Affine(A, b), an inequality A x <= b LinearInequality(A, b), a "
                f"budget Simplex(total); {NONLINEAR}" if _scipy_style(value) else "")
        raise DescendTypeError(f"constraint must be a descend.constraints set (Box, NonNegative, Simplex, L2Ball, "
                               f"L1Ball, Affine, LinearInequality, Intersection) or a dict of them by part name "
                               f"(Parts), got {value!r}{hint}")
    return value


FLAT_ADAM = ("adam", "adamw")   # run by descend's flat kernel: torch's update, without torch's step wrapper


def build_optimizer(method: str, x: torch.Tensor, lr: float | None,
                    constraint: Constraint | None) -> torch.optim.Optimizer:
    """The optimizer over the flat x (built before fun first runs)."""
    project, tangent = (None, None) if constraint is None else (constraint.project, constraint.tangent)
    if method == "lbfgs":
        return LBFGS([x], lr=1.0 if lr is None else lr, project=project, tangent=tangent)
    if method == "gd":
        return ArmijoGD([x], project=project) if lr is None else optim.create([x], "sgd", lr=lr)
    if method in ("momentum", "nesterov"):
        return optim.create([x], "sgd", lr=lr, momentum=0.9, nesterov=method == "nesterov")
    if method in FLAT_ADAM:   # torch's own Adam imports torch._dynamo at its first step: ~2 s, most of a small run
        return optim.create([x], method, lr=lr, impl="flat")
    return optim.create([x], method, lr=lr)
