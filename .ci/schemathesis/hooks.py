"""Schemathesis hooks for the edge (loaded through SCHEMATHESIS_HOOKS by .ci/schemathesis.sh).

- Authentication: the signed-up user of the run logs in again every two minutes, well before
  the 5-minute access token expires; every request carries that token.
- Real data for operations whose success needs what only the server can hand out (mailed
  tokens, a member to act on, a second session, a page token): a positive case of such an operation is
  given it before it is sent, while the operation has had no 2xx answer yet and on every
  third positive case after that, so the other cases stay as generated.
- A valid case names a command of its own: its generated `Idempotency-Key`, if any, is
  replaced by a fresh UUID (generation repeats the same few, and a repeated key replays or
  refuses as REQUEST_ID_REUSED the command another case sent).
- Operations that would end the run's user (erasing it, changing its password, logging its
  session out, cancelling its subscription now) run as a user of their own, signed up for
  the purpose.

Nothing here changes a negative case, and nothing disables or relaxes a check.
"""

import glob
import json
import os
import re
import threading
import time
import urllib.error
import urllib.request
import uuid

import schemathesis

BASE_URL = os.environ["SAAS_ST_BASE_URL"]
MAIL_DIR = os.environ["SAAS_ST_MAIL_DIR"]
EMAIL = os.environ["SAAS_ST_EMAIL"]
PASSWORD = os.environ["SAAS_ST_PASSWORD"]
WORKSPACE_ID = os.environ["SAAS_ST_WORKSPACE_ID"]

_lock = threading.Lock()
_succeeded = set()
_positive_seen = {}
_run_tokens = set()


def _call(method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE_URL + path, data=data, method=method)
    if body is not None:
        request.add_header("content-type", "application/json")
    if token is not None:
        request.add_header("authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode() or "null"
            return response.status, json.loads(text)
    except urllib.error.HTTPError as error:
        text = error.read().decode() or "null"
        return error.code, json.loads(text)


def _ok(method, path, body=None, token=None):
    status, answer = _call(method, path, body, token)
    if status // 100 != 2:
        raise RuntimeError(f"setup call {method} {path} answered {status}: {answer}")
    return answer


def login(email=EMAIL, password=PASSWORD):
    """A fresh session: its access and refresh tokens."""
    return _ok("POST", "/v1/auth/login", {"email": email, "password": password})


class User:
    """A user signed up for one case, with their own workspace."""

    def __init__(self):
        tag = uuid.uuid4().hex[:20]
        self.email = f"st-{tag}@example.com"
        made = _ok(
            "POST",
            "/v1/signup",
            {
                "email": self.email,
                "password": PASSWORD,
                "display_name": "Schemathesis",
                "workspace_name": "Schemathesis",
                "workspace_slug": f"st-{tag}",
            },
        )
        self.id = made["user"]["id"]
        self.workspace_id = made["workspace"]["id"]
        self.token = login(self.email)["access_token"]


def mailed_token(recipient, since):
    """The `X-Saas-Token` of the newest mail to `recipient` written after `since`."""
    deadline = time.time() + 30
    while time.time() < deadline:
        found = []
        for path in glob.glob(os.path.join(MAIL_DIR, "*.eml")):
            if os.path.getmtime(path) < since:
                continue
            with open(path, encoding="utf-8", errors="replace") as mail:
                text = mail.read()
            if recipient in text:
                match = re.search(r"^X-Saas-Token: *(\S+)", text, re.MULTILINE)
                if match:
                    found.append((os.path.getmtime(path), match.group(1)))
        if found:
            return max(found)[1]
        time.sleep(0.2)
    raise RuntimeError(f"no mail with a token for {recipient}")


def invitation_for(user, owner, role="member"):
    """`owner` invites `user` to their workspace as `role`; the invitation and its mailed token."""
    since = time.time() - 1
    invitation = _ok(
        "POST",
        f"/v1/workspaces/{owner.workspace_id}/invitations",
        {"email": user.email, "role": role},
        owner.token,
    )
    return invitation, mailed_token(user.email, since)


def member_of(owner, role="member"):
    """A new user who joined `owner`'s workspace as `role`."""
    user = User()
    _, token = invitation_for(user, owner, role)
    _ok("POST", "/v1/invitations/accept", {"token": token}, user.token)
    return user


_page_token = []


def page_token():
    """A `page_token` the service issued: the run's user also joins a second workspace (once),
    so the first page of one workspace has a next one."""
    with _lock:
        if _page_token:
            return _page_token[0]
        run_user = type("RunUserRef", (), {"email": EMAIL})()
        _, token = invitation_for(run_user, User())
        _ok("POST", "/v1/invitations/accept", {"token": token}, login()["access_token"])
        page = _ok("GET", "/v1/workspaces?page_size=1", None, login()["access_token"])
        _page_token.append(page["next_page_token"])
        return _page_token[0]


@schemathesis.auth(refresh_interval=120)
class RunUser:
    """The run's user, logged in again every two minutes (access tokens last five)."""

    def get(self, case, ctx):
        token = login()["access_token"]
        with _lock:
            _run_tokens.add(token)
        return token

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


# Operations anyone may call: their cases carry no token of interest.
OPEN_OPERATIONS = {
    "POST /v1/auth/login",
    "POST /v1/auth/refresh",
    "POST /v1/email-verification/confirm",
    "POST /v1/password-reset/confirm",
    "POST /v1/signup",
}


# Operations whose valid requests would otherwise mostly meet a business rule (a token only
# the mail knows, the last owner leaving, a plan's seat limit): every positive case gets
# real data.
ALWAYS_REAL = {
    "DELETE /v1/workspaces/{workspace_id}/invitations/{invitation_id}",
    "DELETE /v1/workspaces/{workspace_id}/members/{user_id}",
    "GET /v1/workspaces",
    "GET /v1/workspaces/{workspace_id}/invitations/{invitation_id}",
    "PATCH /v1/workspaces/{workspace_id}/members/{user_id}",
    "POST /v1/email-verification/confirm",
    "POST /v1/invitations/accept",
    "POST /v1/password-reset/confirm",
    "POST /v1/signup",
    "POST /v1/me/feed/read",
    "POST /v1/workspaces/{workspace_id}/invitations",
    "POST /v1/workspaces/{workspace_id}/leave",
    "POST /v1/workspaces/{workspace_id}/subscription/plan",
    "POST /v1/workspaces/{workspace_id}/subscription/seats",
}


def _is_positive(case):
    meta = getattr(case, "meta", None)
    generation = getattr(meta, "generation", None)
    mode = getattr(generation, "mode", None)
    return bool(mode is not None and mode.is_positive)


def _wants_real_data(key, case):
    if not _is_positive(case):
        return False
    with _lock:
        seen = _positive_seen.get(key, 0)
        _positive_seen[key] = seen + 1
        every = 1 if key in ALWAYS_REAL else 3
        return key not in _succeeded or seen % every == 0


def _fresh_idempotency_key(case):
    """A valid case names a command of its own: a generated key (the same few UUIDs come up
    again and again) would replay or refuse as REQUEST_ID_REUSED another case's command."""
    for name in list(case.headers or {}):
        if name.lower() == "idempotency-key":
            case.headers[name] = str(uuid.uuid4())


def _bearer(case, token):
    case.headers = case.headers or {}
    case.headers["Authorization"] = f"Bearer {token}"


def _carries_run_token(case):
    """Whether the case is sent with the run user's token: a case a check sends without a
    token or with a wrong one (missing and ignored authentication) is left alone."""
    header = (case.headers or {}).get("Authorization", "")
    with _lock:
        return header.startswith("Bearer ") and header[len("Bearer ") :] in _run_tokens


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    key = f"{case.method.upper()} {case.operation.path}"
    body = case.body if isinstance(case.body, dict) else None
    open_operation = key in OPEN_OPERATIONS
    if not open_operation and not _carries_run_token(case):
        return
    if _is_positive(case):
        _fresh_idempotency_key(case)

    # Operations that would end the run's user or subscription act as a user of their own.
    if key in ("DELETE /v1/me", "POST /v1/me/password"):
        user = User()
        _bearer(case, user.token)
        if body is not None and key == "POST /v1/me/password" and _wants_real_data(key, case):
            body["old_password"] = PASSWORD
        return
    if key == "POST /v1/auth/logout":
        _bearer(case, login()["access_token"])
        return
    if key.startswith("POST /v1/workspaces/{workspace_id}/subscription/cancel") or key.startswith(
        "POST /v1/workspaces/{workspace_id}/subscription/resume"
    ):
        if case.path_parameters and case.path_parameters.get("workspace_id") == WORKSPACE_ID:
            user = User()
            _bearer(case, user.token)
            case.path_parameters["workspace_id"] = user.workspace_id
            if key.endswith("/resume") and _is_positive(case):
                _ok(
                    "POST",
                    f"/v1/workspaces/{user.workspace_id}/subscription/cancel",
                    {"at_period_end": True},
                    user.token,
                )
        return

    if not _wants_real_data(key, case):
        return
    try:
        _give_real_data(key, case, body)
    except (RuntimeError, OSError, KeyError, ValueError) as error:
        # The case goes as generated; the run's 2xx rule will tell if this keeps happening.
        print(f"hook: no real data for {key}: {error}", flush=True)


def _in_own_workspace(case, owner):
    """Points a workspace operation at `owner`'s workspace, as `owner`."""
    if case.path_parameters is not None and "workspace_id" in case.path_parameters:
        case.path_parameters["workspace_id"] = owner.workspace_id
    _bearer(case, owner.token)


def _give_real_data(key, case, body):
    if key == "POST /v1/auth/login" and body is not None:
        body["email"], body["password"] = EMAIL, PASSWORD
    elif key == "POST /v1/auth/refresh" and body is not None:
        body["refresh_token"] = login()["refresh_token"]
    elif key == "POST /v1/email-verification/confirm" and body is not None:
        user = User()
        since = time.time() - 1
        _ok("POST", "/v1/me/email-verification", None, user.token)
        body["token"] = mailed_token(user.email, since)
    elif key == "POST /v1/password-reset/confirm" and body is not None:
        user = User()
        since = time.time() - 1
        _ok("POST", "/v1/password-reset", {"email": user.email})
        body["token"] = mailed_token(user.email, since)
    elif key == "POST /v1/invitations/accept" and body is not None:
        user = User()
        _, token = invitation_for(user, User())
        body["token"] = token
        _bearer(case, user.token)
    elif key == "POST /v1/workspaces/{workspace_id}/leave":
        owner = User()
        member = member_of(owner)
        _in_own_workspace(case, owner)
        _bearer(case, member.token)
    elif key in (
        "PATCH /v1/workspaces/{workspace_id}/members/{user_id}",
        "DELETE /v1/workspaces/{workspace_id}/members/{user_id}",
    ):
        # A role change must change the role (the same role answers 422 ROLE_UNCHANGED): the
        # member joins with a role other than the one the case asks for.
        asked = body.get("role") if body is not None else None
        owner = User()
        member = member_of(owner, "admin" if asked == "member" else "member")
        _in_own_workspace(case, owner)
        case.path_parameters["user_id"] = member.id
    elif key in (
        "GET /v1/workspaces/{workspace_id}/invitations/{invitation_id}",
        "DELETE /v1/workspaces/{workspace_id}/invitations/{invitation_id}",
    ):
        owner = User()
        invitation, _ = invitation_for(User(), owner)
        _in_own_workspace(case, owner)
        case.path_parameters["invitation_id"] = invitation["id"]
    elif key == "POST /v1/workspaces/{workspace_id}/invitations":
        _in_own_workspace(case, User())
        if body is not None:
            body["email"] = f"st-{uuid.uuid4().hex[:20]}@example.com"
    elif key == "POST /v1/signup" and body is not None:
        tag = uuid.uuid4().hex[:20]
        body["email"], body["workspace_slug"] = f"st-{tag}@example.com", f"st-{tag}"
    elif key == "POST /v1/workspaces/{workspace_id}/subscription/plan" and body is not None:
        # A new workspace is on the Team trial: Business is a change that fits its seats.
        _in_own_workspace(case, User())
        body["plan"] = "business"
    elif key == "POST /v1/workspaces/{workspace_id}/subscription/seats" and body is not None:
        _in_own_workspace(case, User())
        body["seats"] = 3
    elif key == "GET /v1/workspaces" and case.query and "page_token" in case.query:
        case.query["page_token"] = page_token()
        case.query["page_size"] = 1
    elif key == "POST /v1/me/feed/read" and body is not None:
        body["up_to_sequence"] = 0


@schemathesis.hook
def after_call(ctx, case, response):
    if 200 <= response.status_code < 300:
        with _lock:
            _succeeded.add(f"{case.method.upper()} {case.operation.path}")
