# Jupyter server settings of the course service (the instructors' formgrader), on top of the
# course's own. JupyterHub >= 4.1 makes every single-user server and service send
# `Content-Security-Policy: frame-ancestors 'none'`, which blanks nbgrader's Formgrader tab (an
# iframe inside JupyterLab). The hub sets NN_HUB_FORMGRADER_IFRAME=yes for this service alone when
# iframes are safe (per-server subdomains) or explicitly trusted: see deploy/README.md.
import os

c = get_config()  # noqa: F821  (provided by Jupyter when it loads this file)

if os.environ.get("NN_HUB_FORMGRADER_IFRAME") == "yes":
    c.ServerApp.tornado_settings = {"headers": {"Content-Security-Policy": "frame-ancestors 'self'"}}
