"""Interactive lecture demos (ipywidgets 8 + matplotlib/ipympl), built on nnkit's own formulas.

Each builder returns a :class:`nnkit.demos._base.Demo`: display it in a notebook, or drive it
headless by setting ``demo.controls[name].value`` and reading ``demo.state``.
"""
