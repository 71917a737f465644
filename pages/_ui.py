"""The one UI helper module: the cached runtime, database sessions, the signed-in user,
the page registry, and how pages show messages and errors.

Pages import only ``core`` and this module. Nothing secret is ever put in
``st.session_state`` here: only the username, the session epoch and UI flags.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, TypeVar

import streamlit as st

from core import costs
from core.accounts import users
from core.accounts.viewer import Viewer
from core.config import Settings, load_settings
from core.errors import ModeldeskError, NotFoundError
from core.startup import Runtime, Session, open_runtime

log = logging.getLogger("modeldesk.ui")
T = TypeVar("T")

USER_KEY = "username"  # set by streamlit-authenticator
EPOCH_KEY = "md_session_epoch"  # the user's session epoch when this session signed in
FLASH_KEY = "md_flash"


@dataclass(frozen=True)
class PageSpec:
    """One console page: where it lives, how it is shown, who may open it."""

    path: str
    title: str
    icon: str
    section: str
    admin_only: bool = False

    @property
    def url_path(self) -> str:
        """The page's address (/explorer): the signed-out screens answer at it too."""
        return PurePosixPath(self.path).stem


# The single list of pages: navigation, role gating and the tests all derive from it.
PAGES: tuple[PageSpec, ...] = (
    PageSpec("pages/overview.py", "Overview", ":material/dashboard:", "Home"),
    PageSpec("pages/providers.py", "Providers", ":material/hub:", "Catalogue"),
    PageSpec("pages/models.py", "Models", ":material/neurology:", "Catalogue"),
    PageSpec("pages/explorer.py", "Explorer", ":material/query_stats:", "Analysis"),
    PageSpec("pages/costs.py", "Costs", ":material/payments:", "Analysis"),
    PageSpec("pages/health.py", "Health", ":material/monitor_heart:", "Operations"),
    PageSpec(
        "pages/access.py", "Access & audit", ":material/policy:", "Administration", admin_only=True
    ),
    PageSpec("pages/users.py", "Users", ":material/group:", "Administration", admin_only=True),
    PageSpec("pages/account.py", "My account", ":material/person:", "Account"),
)


# --- Showing text that others wrote --------------------------------------------------------
# Names, model ids, base URLs, link text and a provider's own error text reach Markdown in
# alerts, captions, labels and st.table cells, and plotly's pseudo-HTML in chart text. They
# go through these helpers and nowhere else, so they show as typed: never a link, an
# image, HTML, a code span's end, math, a colour or icon directive, or a list or heading.

_MARKUP = re.compile(
    r"[\\`*~\[\]<>&$|@{}]"  # inline syntax (escaped wherever it is)
    r"|(?<![^\W_])_|_(?![^\W_])"  # _ that may emphasise (not inside a word)
    r"|:(?=[^\W\d_]|//[\w-])"  # :directive[, :emoji:, icons; http://host links
    r"|(?<=[wW]{3})\."
)  # www. links
# GFM also links bare URLs and e-mail addresses found in plain text after the escapes are
# read (http://host, www.host, a@b.c): an invisible word joiner breaks each pattern.
_AUTOLINK = re.compile(r"(?<=:)(?=//[\w-])|(?<=[wW]{3})(?=\.)|(?=@)")
JOINER = "\u2060"
_LINE_START = re.compile(r"^(\s*)([#>+\-=])|^(\s*\d+)([.)])")  # a heading, quote, list
_BREAKS = re.compile(r"\s*[\r\n]+\s*")


def literal(text: object) -> str:
    """Any text shown as itself in Markdown (alerts, captions, widget labels, table cells);
    line breaks become spaces, and a word joiner (invisible) keeps a URL from linking."""
    flat = _AUTOLINK.sub(JOINER, _BREAKS.sub(" ", str(text)))
    escaped = _MARKUP.sub(lambda m: "\\" + m.group(0), flat)

    def mark(m: re.Match[str]) -> str:  # the marker escaped, what precedes it kept
        lead, marker = (m.group(1), m.group(2)) if m.group(2) else (m.group(3), m.group(4))
        return f"{lead}\\{marker}"

    return _LINE_START.sub(mark, escaped, count=1)


def code(text: object) -> str:
    """Text as an inline code span in Markdown, whatever backticks it holds (the fence is
    longer than any run inside, so a base URL with a backtick cannot close it early)."""
    flat = _BREAKS.sub(" ", str(text))
    if not flat.strip():
        return literal(flat)
    fence = "`" * (max(map(len, re.findall(r"`+", flat)), default=0) + 1)
    pad = " " if flat[0] in "` " or flat[-1] in "` " else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def literal_frame(frame: Any) -> Any:
    """A copy of a DataFrame for st.table (whose cells are Markdown): every cell, index and
    column label made literal."""
    shown = frame.map(literal)
    shown.index = [literal(i) for i in frame.index]
    shown.columns = [literal(c) for c in frame.columns]
    return shown


def plot_text(text: object) -> str:
    """Text for plotly (hover, tick labels, titles), whose pseudo-HTML would make <a href>
    a live link: shown as typed."""
    return html.escape(str(text), quote=False)


UNKNOWN = costs.UNKNOWN  # the one rendering of a missing value: table placeholders too


def pages_for(user: Viewer) -> list[PageSpec]:
    """The pages a user may open (admin pages' code is not even registered for members)."""
    return [p for p in PAGES if user.is_admin or not p.admin_only]


def _admins_only(title: str) -> Callable[[], None]:
    def page() -> None:
        st.title(title)
        st.error("This page is for admins.", icon=":material/lock:")

    return page


def navigation_sections(user: Viewer) -> dict[str, list[Any]]:
    """st.navigation's sections for user: the pages they may open, by section.

    For a member, each admin page's address is taken by a hidden page that only says it is
    for admins: a bookmarked or shared link then explains itself instead of ending on
    "Page not found", and the admin page's own code never runs for them.
    """
    sections: dict[str, list[Any]] = {}
    for spec in pages_for(user):
        sections.setdefault(spec.section, []).append(
            st.Page(spec.path, title=spec.title, icon=spec.icon, url_path=spec.url_path)
        )
    refused = [
        st.Page(
            _admins_only(spec.title),
            title=spec.title,
            icon=spec.icon,
            url_path=spec.url_path,
            visibility="hidden",
        )
        for spec in PAGES
        if spec not in pages_for(user)
    ]
    if refused:  # filed under a section the member has, so no section header of its own
        sections[next(reversed(sections))].extend(refused)
    return sections


@st.cache_resource(show_spinner="Opening the database…")
def _open(_fingerprint: str) -> Runtime:
    return open_runtime()


def runtime() -> Runtime:
    """The process-wide runtime, opened once per database/secret configuration."""
    settings = load_settings()
    # Keyed by a digest, so tests (and restarts with new settings) get their own runtime;
    # the digest is not reversible into the secret.
    fingerprint = hashlib.sha256(
        repr(
            (settings.resolved_database_url, settings.secret_key, settings.retired_secret_keys)
        ).encode()
    ).hexdigest()
    return _open(fingerprint)


START_FAILED = "Modeldesk cannot start because of an unexpected error. The server log has details."


def hide_error_details(settings: Settings) -> None:
    """Production shows no exception text, type or traceback in the browser, whatever
    .streamlit/config.toml or STREAMLIT_CLIENT_SHOW_ERROR_DETAILS say (a config file
    reload resets options, so every page view sets it again; app.py sets it at server start)."""
    if settings.production:
        st.set_option("client.showErrorDetails", "none")


def start() -> str | None:
    """Open the runtime and start the health scheduler; None when that worked, else what a
    person should be told (a failed start is not cached: the next page view tries again)."""
    try:
        hide_error_details(runtime().settings)
        start_health_scheduler()
    except ModeldeskError as exc:
        return str(exc)
    except Exception:  # never a traceback (or a secret inside one) on the page
        log.exception("Modeldesk cannot start")
        return START_FAILED
    return None


def cannot_start(message: str) -> None:
    """The screen of a failed start: what is wrong, and that a reload tries again."""
    st.title("Modeldesk cannot start")
    st.error(message)
    st.caption("Fix the setting or the database named above, then reload this page.")


@contextmanager
def reading() -> Iterator[Session]:
    """A read-only database session (a lost or unreachable database: a readable error)."""
    with runtime().reading() as session:
        yield session


@contextmanager
def writing() -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any error; a lost
    or unreachable database becomes a DatabaseUnavailableError (a message, not a trace)."""
    with runtime().writing() as session:
        yield session


def current_user(session: Session) -> Viewer:
    """The signed-in user, read in this session (the shell has checked the sign-in)."""
    username = st.session_state.get(USER_KEY)
    user = users.get_by_username(session, username) if username else None
    if user is None or not user.active:
        st.error("Your session has ended. Sign in again.")
        st.stop()
    return Viewer.of(user)


def require_admin(session: Session) -> Viewer:
    """The signed-in user if an admin; otherwise stop the page."""
    user = current_user(session)
    if not user.is_admin:
        st.error("This page is for admins.")
        st.stop()
    return user


def flash(message: str, kind: str = "success") -> None:
    """Show a message on the next run (after st.rerun), as plain text (``literal``)."""
    st.session_state[FLASH_KEY] = (kind, message)


def show_flash() -> None:
    """Render and clear a pending flash message."""
    pending = st.session_state.pop(FLASH_KEY, None)
    if pending:
        kind, message = pending
        {"success": st.success, "info": st.info, "warning": st.warning, "error": st.error}.get(
            kind, st.info
        )(literal(message))


GENERIC_ERROR = "Something went wrong; the change was not saved. The server log has details."


def attempt(action: Callable[[], T], *, where: Any = None, flash_errors: bool = False) -> T | None:
    """Run an action; show a ModeldeskError's message (or a generic one) instead of raising.

    With flash_errors the message is shown after the next st.rerun() instead of now.
    """

    def show(message: str) -> None:
        if flash_errors:
            flash(message, "error")
        else:  # core's messages quote names and providers' own words: plain text
            (where or st).error(literal(message))

    try:
        return action()
    except ModeldeskError as exc:
        show(str(exc))
    except Exception:  # never a traceback (or a secret inside one) on the page
        log.exception("unexpected error in a page action")
        show(GENERIC_ERROR)
    return None


def parse_id(value: object) -> uuid.UUID:
    """A record id from session state or a widget (NotFoundError if malformed)."""
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise NotFoundError("That record no longer exists.") from None


FORGET_KEY = "md_forget"


def forget_widgets(*keys: str) -> None:
    """Blank these text inputs at the start of the next run (write-only inputs such as
    passwords and API keys must not linger in the session); pair with st.rerun().

    The inputs must be created without ``value=``: the blank is assigned through session
    state, which also clears the browser's copy (popping the key would not, and the browser
    would send the old value back with its next message)."""
    st.session_state[FORGET_KEY] = [*st.session_state.get(FORGET_KEY, []), *keys]


RESET_KEY = "md_reset"


def reset_widgets(*keys: str) -> None:
    """Return these widgets to their defaults at the start of the next run (a form reset);
    secret text inputs among them are blanked as forget_widgets does."""
    st.session_state[RESET_KEY] = [*st.session_state.get(RESET_KEY, []), *keys]


def apply_forgets() -> None:
    """Called by the shell before any widget renders."""
    for key in st.session_state.pop(RESET_KEY, []):
        st.session_state.pop(key, None)
    for key in st.session_state.pop(FORGET_KEY, []):
        st.session_state.pop(key, None)  # every server-side copy, the raw widget state too
        st.session_state[key] = ""  # and the browser's copy, through the new value


@st.cache_resource(show_spinner=False)
def _health_scheduler(runtime_id: int) -> Any:
    from core.probes.scheduler import Scheduler  # only processes that serve the console need it

    return Scheduler(runtime()).start()


@st.cache_resource(show_spinner=False)
def _prune_scheduler(runtime_id: int) -> Any:
    from core.probes.scheduler import Scheduler
    from core.usage import retention

    rt = runtime()
    return Scheduler(
        rt,
        interval_s=retention.PRUNE_INTERVAL,
        name=retention.PRUNE_JOB,
        sweep=retention.daily_sweep(rt),
    ).start()


def start_health_scheduler() -> None:
    """Start this process's health scheduler once (it idles while another process holds
    the lease); MODELDESK_HEALTH_INTERVAL=0 (the default under MODELDESK_ENV=test) skips it.
    With MODELDESK_USAGE_RETENTION_DAYS set, a daily usage prune rides on a lease of its own."""
    rt = runtime()
    if rt.settings.health_interval > 0:
        _health_scheduler(id(rt))  # one per opened runtime, i.e. per process and database
    if rt.settings.usage_retention_days:
        _prune_scheduler(id(rt))
