"""Interactive lecture demos (ipywidgets 8 + matplotlib/ipympl), built on nnkit's own formulas.

Each builder returns a :class:`nnkit.demos._base.Demo`: display it in a notebook, or drive it
headless by setting ``demo.controls[name].value`` and reading ``demo.state``.

Every demo module reads the same way. Its docstring says what the demo teaches, what the
controls do and what ``demo.state`` holds. The builder, named like the module, checks its
arguments, makes the controls and hands them to a small class that owns the figure (built in
``_figure``) and the callback ``update``: read the controls, compute with nnkit, draw, fill
``state``. :func:`~nnkit.demos._base.assemble` wires the two together. What several demos share
lives once: ``_base`` (the Demo record, figures, Play controls, :func:`~nnkit.demos._base.memo`
for results kept per setting, :class:`~nnkit.demos._base.Busy`,
:func:`~nnkit.demos._base.show_frame` for trainings computed lazily), ``_layout`` (pixel layouts,
contour boards, loss axes, a classifier's plane colours) and ``_backdrop`` (the static parts of a
figure replayed as pixels).
"""
