# nbgrader settings of every hub user's own server (students and instructors; not the course
# service, which runs in the course root and reads the course's nbgrader_config.py).
# The hub puts this folder on JUPYTER_CONFIG_PATH (deploy/jupyterhub_config.py, deploy/config.yaml).
import os

c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "nn-fundamentals"
c.Exchange.root = os.environ.get("NNGRADER_EXCHANGE", "/srv/nbgrader/exchange")
# The student id is the hub login. nbgrader would take the unix account's name, which is the same
# thing when every user has an account (deploy/jupyterhub_config.py) and which it already replaces
# by the hub login for the shared `jovyan` account of container images (Kubernetes); this line
# makes the two agree everywhere, also where several hub users share one unix account.
if os.environ.get("JUPYTERHUB_USER"):
    c.CourseDirectory.student_id = os.environ["JUPYTERHUB_USER"]
