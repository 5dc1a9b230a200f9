# JupyterHub for the course on one machine: `jupyterhub -f deploy/jupyterhub_config.py`.
#
# Accounts are the machine's unix accounts (PAM login, one server process per user, run as that
# user). Two hub groups, named as nbgrader expects:
#   formgrade-nn-fundamentals   the instructors: they may open the course service (below)
#   nbgrader-nn-fundamentals    the students
# The course service, named like the course, is a Jupyter server that the hub starts as the unix
# account GRADER_USER in the course root (a clone of this repository owned by that account). It
# serves nbgrader's formgrader at /services/nn-fundamentals/formgrader and a JupyterLab with the
# create-assignment tools at /services/nn-fundamentals/lab; only the instructors' group may open
# it, and several instructors share it (one gradebook, one course folder).
# nbgrader's exchange is the folder EXCHANGE, shared by every account (`install -d -m 1777`).
#
# Each user's server gets the Jupyter configuration of its group (JUPYTER_CONFIG_PATH, folders in
# deploy/jupyter/): students see only the Assignments tab (fetch, validate, submit, feedback);
# nbgrader's create-assignment, formgrader and course-list lab extensions are hidden from them and
# the formgrader and course-list server extensions are off. Instructors also have create-assignment
# and the Courses tab, which links to the course service. The course service has everything it
# grades with. Hiding is a convenience, not a security boundary: what protects the course is that
# the course folder and gradebook belong to GRADER_USER and only the instructors' group may open
# the course service (hub roles below).
#
# What one student can reach of another's files (deploy/README.md, "What one student can see of
# another's work"): at start the hub makes the course root private to its account (0700) and
# creates the course's folder in the exchange for GRADER_USER if it is missing (so that no student
# can create it first); before each server starts it makes that user's home folder private (0700;
# Debian's useradd makes it 0755, which lets every account read a student's notebooks).
#
# Settings come from the environment (defaults in brackets), so that a systemd unit or a shell can
# set them without editing this file:
#   NN_HUB_INSTRUCTORS   hub names of the instructors, space- or comma-separated [instructor]
#   NN_HUB_STUDENTS      hub names of the students [student1 student2]
#   NN_HUB_ADMINS        hub admins (may open every server; keep empty unless needed) []
#   NN_HUB_COURSE_ROOT   the course root the service runs in [/home/grader-nn-fundamentals/course]
#   NN_HUB_GRADER_USER   unix account of the course service ("" = the hub's own account)
#                        [grader-nn-fundamentals]
#   NNGRADER_EXCHANGE    nbgrader's exchange folder [/srv/nbgrader/exchange]
#   NN_HUB_STATE_DIR     where the hub keeps its database and cookie secret [/srv/jupyterhub]
#   NN_HUB_BIND_URL      the public address [http://:8000], e.g. behind a TLS-terminating proxy
#   NN_HUB_SERVICE_PORT  loopback port of the course service [9999]
#   NN_HUB_SUBDOMAIN_HOST  e.g. https://hub.example.org: every server on a subdomain of its own
#                        (needs wildcard DNS and TLS); makes the formgrader iframe safe, see below
#   NN_HUB_FORMGRADER_IFRAME  "yes" lets the formgrader open inside the course service's
#                        JupyterLab without subdomains (see below) [""; yes if a subdomain host]
#
# The JupyterHub >= 4.1 iframe caveat: single-user servers send
# `Content-Security-Policy: frame-ancestors 'none'`, so nbgrader's Formgrader tab in JupyterLab
# (an iframe, also what the Courses tab's link opens: .../lab?formgrader=true) shows a blank panel.
# Without any setting, open the formgrader in a tab of its own: /services/nn-fundamentals/
# (its default page) or /services/nn-fundamentals/formgrader. The fix that keeps the hub's
# protection is subdomains (NN_HUB_SUBDOMAIN_HOST): then the course service alone sends
# `frame-ancestors 'self'` and the iframe works. NN_HUB_FORMGRADER_IFRAME=yes does the same on a
# single domain: acceptable only if no untrusted page is ever served on the hub's domain to an
# instructor (instructors are not admins, and user-initiated sharing stays off). deploy/README.md
# explains the trade-off.
import logging
import os
import pwd
import re
import sys

c = get_config()  # noqa: F821  (provided by JupyterHub when it loads this file)

COURSE_ID = "nn-fundamentals"  # the course_id of nbgrader_config.py; the service has this name
INSTRUCTOR_GROUP = f"formgrade-{COURSE_ID}"
STUDENT_GROUP = f"nbgrader-{COURSE_ID}"

HERE = os.path.dirname(os.path.abspath(__file__))
JUPYTER_CONFIG = os.path.join(HERE, "jupyter")  # per-group Jupyter configuration
# jupyterhub-singleuser, nbgrader and the course live in the environment running the hub.
BIN = os.path.dirname(sys.executable)
SINGLEUSER = os.path.join(BIN, "jupyterhub-singleuser")


def _env(name, default):
    return os.environ.get(name, default)


def _names(value):
    return [n for n in re.split(r"[\s,]+", value) if n]


INSTRUCTORS = _names(_env("NN_HUB_INSTRUCTORS", "instructor"))
STUDENTS = _names(_env("NN_HUB_STUDENTS", "student1 student2"))
ADMINS = _names(_env("NN_HUB_ADMINS", ""))
COURSE_ROOT = _env("NN_HUB_COURSE_ROOT", f"/home/grader-{COURSE_ID}/course")
GRADER_USER = _env("NN_HUB_GRADER_USER", f"grader-{COURSE_ID}")
EXCHANGE = _env("NNGRADER_EXCHANGE", "/srv/nbgrader/exchange")
STATE_DIR = _env("NN_HUB_STATE_DIR", "/srv/jupyterhub")
SERVICE_PORT = int(_env("NN_HUB_SERVICE_PORT", "9999"))
SUBDOMAIN_HOST = _env("NN_HUB_SUBDOMAIN_HOST", "")
FORMGRADER_IFRAME = _env("NN_HUB_FORMGRADER_IFRAME", "yes" if SUBDOMAIN_HOST else "")

# --- the hub -------------------------------------------------------------------------------------
c.JupyterHub.bind_url = _env("NN_HUB_BIND_URL", "http://:8000")
c.JupyterHub.db_url = "sqlite:///" + os.path.join(STATE_DIR, "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(STATE_DIR, "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = os.path.join(STATE_DIR, "jupyterhub-proxy.pid")
if SUBDOMAIN_HOST:
    c.JupyterHub.subdomain_host = SUBDOMAIN_HOST

# --- accounts and groups -------------------------------------------------------------------------
# The default authenticator (PAM) checks unix passwords; every name below is a unix account.
c.Authenticator.allowed_users = set(INSTRUCTORS) | set(STUDENTS)
c.Authenticator.admin_users = set(ADMINS)
c.JupyterHub.load_groups = {
    INSTRUCTOR_GROUP: {"users": INSTRUCTORS},
    STUDENT_GROUP: {"users": STUDENTS},
}
c.JupyterHub.load_roles = [
    {
        # Instructors may use the course service; the two read scopes let the Courses tab find it.
        "name": INSTRUCTOR_GROUP,
        "groups": [INSTRUCTOR_GROUP],
        "scopes": [
            f"access:services!service={COURSE_ID}",
            "list:services",
            f"read:services!service={COURSE_ID}",
        ],
    },
    {
        # A server's own token: the default scopes plus what the Courses tab asks the hub. A token
        # never exceeds its owner's permissions, so a student's server gains nothing from these.
        "name": "server",
        "scopes": [
            "users:activity!user",
            "access:servers!server",
            f"access:services!service={COURSE_ID}",
            "list:services",
            f"read:services!service={COURSE_ID}",
        ],
    },
]

# --- who may read whose files (deploy/README.md, "What one student can see of another's work") --
log = logging.getLogger("JupyterHub")


def make_private(path):
    """Take the group's and everyone's permissions off the folder ``path`` (0755 -> 0700), if it
    has any; a missing folder is left alone."""
    try:
        mode = os.stat(path).st_mode & 0o7777
        if mode & 0o077:
            os.chmod(path, mode & ~0o077)
            log.warning("%s was open to other accounts (mode %o): made it %o", path, mode, mode & ~0o077)
    except FileNotFoundError:
        pass
    except OSError as e:  # e.g. a hub that does not run as root
        log.warning("could not make %s private: %s", path, e)


def private_home(spawner):
    """Make a user's home folder private before their server starts, when servers run as the
    users' own unix accounts (LocalProcessSpawner); a student's notebooks and nbgrader cache (which
    holds the secret that names their feedback in the exchange) are in it."""
    from jupyterhub.spawner import LocalProcessSpawner, SimpleLocalProcessSpawner

    if not isinstance(spawner, LocalProcessSpawner) or isinstance(spawner, SimpleLocalProcessSpawner):
        return
    try:
        make_private(pwd.getpwnam(spawner.user.name).pw_dir)
    except KeyError:
        pass


def course_files():
    """The course root private to its account (solutions, gradebook, submissions, feedback, the
    hidden-case secret); the course's folder in the exchange created for the course service's
    account, so that no student can create it before the first release."""
    make_private(COURSE_ROOT)
    folder = os.path.join(EXCHANGE, COURSE_ID)
    try:
        account = pwd.getpwnam(GRADER_USER) if GRADER_USER else None
    except KeyError:
        account = None
    if os.path.isdir(EXCHANGE) and not os.path.lexists(folder):
        try:
            os.mkdir(folder)
            os.chmod(folder, 0o755)
            if account:
                os.chown(folder, account.pw_uid, account.pw_gid)
        except OSError as e:
            log.warning("could not create %s for the course service: %s", folder, e)
    elif account and os.path.lexists(folder) and os.lstat(folder).st_uid != account.pw_uid:
        log.error("%s does not belong to %s: a student may have created it; remove it and restart "
                  "the hub", folder, GRADER_USER)


course_files()

# --- the users' servers --------------------------------------------------------------------------
c.Spawner.cmd = [SINGLEUSER]
c.Spawner.default_url = "/lab"
c.Spawner.environment = {
    # nbgrader, alembic and the course's tools on every terminal's PATH
    "PATH": BIN + os.pathsep + os.environ.get("PATH", os.defpath),
    "NNGRADER_EXCHANGE": EXCHANGE,
}


def group_config_path(group_names):
    """JUPYTER_CONFIG_PATH for a user in these hub groups: instructors' or students' settings,
    then the settings both share (nbgrader's course id, exchange and student id)."""
    role = "instructors" if INSTRUCTOR_GROUP in group_names else "students"
    return os.pathsep.join(os.path.join(JUPYTER_CONFIG, d) for d in (role, "common"))


def pre_spawn_hook(spawner):
    groups = {g.name for g in spawner.user.groups}
    # a fresh dict: the configured one is shared by every spawner
    spawner.environment = {**spawner.environment, "JUPYTER_CONFIG_PATH": group_config_path(groups)}
    private_home(spawner)


c.Spawner.pre_spawn_hook = pre_spawn_hook

# --- the course service: formgrader and create-assignment for the instructors -------------------
service = {
    "name": COURSE_ID,
    "url": f"http://127.0.0.1:{SERVICE_PORT}",
    "command": [SINGLEUSER],
    "cwd": COURSE_ROOT,
    "oauth_no_confirm": True,
    "environment": {
        "JUPYTERHUB_DEFAULT_URL": "/formgrader",  # /services/nn-fundamentals/ opens the formgrader
        "JUPYTER_CONFIG_PATH": os.path.join(JUPYTER_CONFIG, "grader"),
        "NNGRADER_EXCHANGE": EXCHANGE,  # read by the course's nbgrader_config.py
        "NN_HUB_FORMGRADER_IFRAME": FORMGRADER_IFRAME,  # read by deploy/jupyter/grader/
        "PATH": BIN + os.pathsep + os.environ.get("PATH", os.defpath),  # nbgrader runs `alembic`
    },
}
if GRADER_USER:
    service["user"] = GRADER_USER
c.JupyterHub.services = [service]
