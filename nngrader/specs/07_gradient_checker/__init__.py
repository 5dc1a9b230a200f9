"""Assignment 7, write a gradient checker, then find the bug: checks against nnkit.gradcheck.

Student functions (conventions as the notebook states them):

- ``numerical_gradient(f, x, h=1e-5)``: centred differences ``(f(x + h e_i) - f(x - h e_i)) / 2h``,
  perturbing the float64 array x *in place*, one entry at a time, and writing each entry's saved
  value back after its two probes (also when f raises), so x comes back bit for bit. float32 x
  is refused with a TypeError. Compared with ``nnkit.gradcheck.numerical_gradient``.
- ``relative_error(a, b)``: one error per entry, ``|a - b| / max(1e-8, max(|a| + |b|))``: every
  entry is divided by the *tensor's* scale (its largest ``|a_i| + |b_i|``, floored at 1e-8), so
  its maximum is exactly ``nnkit.gradcheck.rel_error(a, b)``. Different shapes raise ValueError.
- ``check_layer(layer, x, rng, h=1e-5, kinks=())``: ``{"x": err, <param name>: err, ...}``, each
  the largest relative error of that tensor's gradient, with the layer's output projected on
  ``dout = rng.standard_normal(out.shape)``; ``inf`` for a gradient of the wrong shape (or
  missing, or not finite); entries of x within h of a kink skipped. float32 layers are checked
  on float64 copies and left exactly as they were. A tensor disagrees when its error is above
  1e-6. Judged tensor by tensor against ``nnkit.gradcheck.check_layer``.
- ``find_bug(network, X, rng)``: ``(layer index, tensor name, kind)`` for the one layer whose own
  check fails, kind from :data:`nngrader.planted.BUG_KINDS`, or None for a network without a bug.

Every case goes through the notebook's locked drivers (``run_*``), which build the functions of
:mod:`nngrader.planted` from plain data and report what happened to x and to the layers as data.
The layers and networks, bugs included, stay in the grader (:class:`nngrader.remote_layers.Served`
arguments): the drivers get their public descriptions, with no bug in them, and hand the
student's code proxies whose backward pass the grader computes; which layers' backward passes ran
is counted there too. Hidden cases draw fresh functions, shapes, layers and networks (and which
layer is broken) from the secret.

A check that cannot fail must not earn the points of the clean cases, nor one that always fails
those of the broken ones. So every ``check_layer`` case also runs on a *twin*: the same layer with a
bug planted in it (for a clean layer) or without its bug (for a broken one), same x, same seed. A
clean case counts only if the twin's bug is caught; a broken case only if its bug is caught, not
every tensor is flagged, and the clean twin's tensor passes. Every clean ``find_bug`` network has a
twin with a bug planted, which must be located, and every layer must have been checked (its
backward pass run) before the network is called clean. Within a case that counts, credit is per
tensor (``check_layer``) or per location and kind (``find_bug``). Arguments a check left changed
cost one more failed part.
"""
from __future__ import annotations

from .. import Check
from ._common import FORBIDDEN
from .find_bug import fb_hidden, fb_judge, fb_visible
from .layers import cl_hidden, cl_judge, cl_visible
from .numerical import ng_hidden, ng_judge, ng_visible
from .relative import re_hidden, re_judge, re_visible

CHECKS = [
    Check(grade_id="gradcheck_numerical_gradient", functions=("numerical_gradient",),
          helpers=("run_numerical_gradient",), points=3, visible=ng_visible, hidden=ng_hidden, judge=ng_judge,
          forbidden=FORBIDDEN, timeout=5),
    Check(grade_id="gradcheck_relative_error", functions=("relative_error",), helpers=("run_relative_error",),
          points=2, visible=re_visible, hidden=re_hidden, judge=re_judge, forbidden=FORBIDDEN, timeout=5),
    Check(grade_id="gradcheck_check_layer", functions=("check_layer",), helpers=("run_check_layer",), points=4,
          visible=cl_visible, hidden=cl_hidden, judge=cl_judge, forbidden=FORBIDDEN, timeout=5),
    Check(grade_id="gradcheck_find_bug", functions=("find_bug",), helpers=("run_find_bug",), points=4,
          visible=fb_visible, hidden=fb_hidden, judge=fb_judge, forbidden=FORBIDDEN, timeout=5),
]
