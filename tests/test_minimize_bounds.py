"""bounds= as users write them: scipy's other layout, a swapped pair, text, None and an x0 outside the bounds."""
import re

import numpy as np
import pytest
import scipy.optimize
import torch

import descend
from descend.core.errors import DescendError


def square(x):
    return ((x - 1) ** 2).sum()


@pytest.mark.parametrize("bounds", [[[0, 0, 0], [2, 2, 2]], ([0, 0, 0], [2, 2, 2]), np.array([[0, 0, 0], [2, 2, 2]])])
def test_lows_and_highs_in_two_rows_are_refused_with_the_pairs_they_mean(bounds):
    with pytest.raises(DescendError) as caught:
        descend.minimize(square, [0.5] * 3, bounds=bounds)
    words = str(caught.value)
    assert words.startswith("bounds looks like [lows, highs] (the layout of scipy's Bounds(lb, ub)): two rows of 3")
    assert "bounds=[(0, 2), (0, 2), (0, 2)] (list(zip(lows, highs))), or bounds=(0, 2) since every pair" in words


def test_rows_of_different_lows_and_highs_are_rewritten_pair_by_pair():
    with pytest.raises(DescendError, match=re.escape("bounds=[(0, 1), (-1, 3), (2.5, 4)] (list(zip(lows, highs))), "
                                                     "or bounds=scipy.optimize.Bounds")):
        descend.minimize(square, [0.5] * 3, bounds=[[0, -1, 2.5], [1, 3, 4]])


def test_two_by_two_bounds_stay_two_pairs_as_scipy_reads_them():
    """With two elements [[0, 1], [2, 3]] is both layouts; scipy.optimize.minimize reads pairs, and so does minimize."""
    res = descend.minimize(lambda x: ((x - 10) ** 2).sum(), [0.5, 2.5], bounds=[[0, 1], [2, 3]])
    assert res.x.tolist() == [1.0, 3.0]


@pytest.mark.parametrize("bounds,words", [
    ([(0, 2), (2, 0), (0, 2)], "bounds[1] = (2, 0) has lo > hi, so no x fits it; write (0, 2)"),
    ((2.5, 1), "bounds = (2.5, 1) has lo > hi, so no x fits; write (1, 2.5)"),
    ((np.zeros(3), np.array([1.0, -1.0, 1.0])), "bounds lo[1] = 0 is above bounds hi[1] = -1, so no x fits; swap"),
])
def test_a_swapped_bound_is_named_as_the_user_wrote_it(bounds, words):
    with pytest.raises(DescendError) as caught:
        descend.minimize(square, [0.5] * 3, bounds=bounds)
    assert str(caught.value).startswith(words) and "Box" not in str(caught.value)


def test_a_swapped_two_by_two_pair_also_shows_the_lows_and_highs_reading():
    with pytest.raises(DescendError) as caught:
        descend.minimize(square, [0.5, 0.5], bounds=[[1, 0], [2, 2]])
    assert str(caught.value) == ("bounds[0] = (1, 0) has lo > hi, so no x fits it; write (0, 1); if [[1, 0], "
                                 "[2, 2]] meant [lows, highs] (scipy's Bounds(lb, ub) layout), write the pairs "
                                 "[(1, 2), (0, 2)]")


def test_scipy_bounds_with_a_swapped_element_name_its_lb_and_ub():
    with pytest.raises(DescendError, match=re.escape("bounds.lb[1] = 3 is above bounds.ub[1] = 2, so no x fits")):
        descend.minimize(square, [0.5, 0.5], bounds=scipy.optimize.Bounds([0, 3], [1, 2]))


@pytest.mark.parametrize("bounds,words", [
    ([(0, 2), (0, "2"), (0, 2)], "bounds[1] = (0, '2'): hi '2' is not a number; give numbers, or None (or +-inf) for "
                                 "no bound on that side"),
    (("0", 2), "bounds = ('0', 2): lo '0' is not a number"),
    ([(0, True)] * 3, "bounds[0] = (0, True): hi True is not a number"),
    ((np.zeros(3), np.array(["1", "2", "3"])), "bounds hi[0] is '1', not a number; give numbers"),
])
def test_text_and_true_false_are_refused_as_bounds_naming_where(bounds, words):
    """numpy reads "2" as 2.0 and True as 1.0: such bounds were taken silently."""
    with pytest.raises(TypeError, match=re.escape(words)):
        descend.minimize(square, [0.5] * 3, bounds=bounds)


def test_numbers_of_every_kind_and_none_still_bound():
    """numpy and torch scalars, an array or a tensor for one side, None or inf for no bound (as scipy reads them)."""
    far = lambda x: ((x - 5) ** 2).sum()   # noqa: E731
    for bounds in ([(np.int64(0), np.float32(2))] * 3, [(torch.tensor(0.0), 2)] * 3, (np.zeros(3), 2),
                   (torch.zeros(3), 2.0), scipy.optimize.Bounds([0, 0, 0], [2, 2, 2]), (None, 2)):
        assert descend.minimize(far, [1.0] * 3, bounds=bounds).x.tolist() == [2.0] * 3
    res = descend.minimize(far, [1.0] * 3, bounds=[(None, 2), (0, None), (-np.inf, -1)])
    assert res.x.tolist() == [2.0, 5.0, -1.0]


def test_an_x0_outside_the_bounds_that_converges_at_once_says_it_was_moved_inside():
    """The point that met gtol was the projected x0, and it is what the result holds."""
    res = descend.minimize(lambda x: ((x - 3) ** 2).sum(), [5.0, 2.0, 7.0], bounds=(0, 2))
    assert res.message == ("converged: x0 lay outside the bounds (x[0] 5 -> 2, x[2] 7 -> 2); the nearest point inside, "
                           "which minimize starts from and returns, already meets gtol 1e-06 (largest projected "
                           "gradient component 0.00e+00)")
    assert res.x.tolist() == [2.0, 2.0, 2.0] and res.nit == 0 and res.success
    many = descend.minimize(lambda x: ((x - 3) ** 2).sum(), [5.0] * 6, bounds=(0, 2))
    assert "(x[0] 5 -> 2, x[1] 5 -> 2, x[2] 5 -> 2, x[3] 5 -> 2 and 2 more)" in many.message


def test_moved_elements_of_a_dict_x0_are_named_by_part():
    res = descend.minimize(lambda p: ((p["a"] - 3) ** 2).sum() + ((p["b"] - 3) ** 2).sum(),
                           {"a": [1.0, 2.0], "b": np.full((1, 2), 5.0)}, bounds={"a": (0, 1), "b": (0, 2)})
    assert "x0 lay outside the bounds (x['a'][1] 2 -> 1, x['b'][0, 0] 5 -> 2, x['b'][0, 1] 5 -> 2)" in res.message


def test_an_x0_inside_the_bounds_that_converges_at_once_keeps_the_short_message():
    res = descend.minimize(lambda x: ((x - 3) ** 2).sum(), [2.0, 2.0], bounds=(0, 2))
    assert res.message == "converged: x0 already meets gtol 1e-06 (largest projected gradient component 0.00e+00)"


def test_none_in_scipy_bounds_means_no_bound_on_that_side_as_in_a_pair():
    """scipy.optimize.Bounds([0, None], [2, None]) keeps the Nones (scipy's own minimize then fails comparing them):
    minimize reads them as a (lo, hi) pair's None is read, no bound there."""
    far = lambda x: ((x - 5) ** 2).sum()   # noqa: E731
    assert descend.minimize(far, [1.0, 1.0], bounds=scipy.optimize.Bounds([0, None], [2, None])).x.tolist() == [2, 5]
    assert descend.minimize(far, [1.0, 1.0], bounds=scipy.optimize.Bounds([None, 0], [4, 3])).x.tolist() == [4, 3]
