"""A Streamlit browser tab without the browser: Streamlit's own protocol over its websocket.

The load driver (tests/support/load.py) runs many of these against one ``streamlit run``.
A tab connects to ``ws://host/_stcore/stream`` (sending the cookies a browser would), asks
for runs with ``BackMsg.rerun_script`` (a page, widget values) and reads ``ForwardMsg``s
until the run's ``script_finished``: each run's elements are kept (widgets with their ids,
so the next run can set them, as the browser does), and exceptions and disconnects are
counted as errors. Nothing here knows Modeldesk: the pages are named by their url path.

    one run          client ── BackMsg(rerun_script: page, widget states) ──▶ server
                     client ◀── new_session, navigation, delta…, script_finished ── server
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

FINISHED = ForwardMsg.ScriptFinishedStatus
DONE = (FINISHED.FINISHED_SUCCESSFULLY, FINISHED.FINISHED_WITH_COMPILE_ERROR)


class StreamlitError(Exception):
    """A run that did not finish cleanly: a disconnect, a timeout or a compile error."""


@dataclass(frozen=True)
class Element:
    """One element a run drew: its type (``text_input``, ``alert``…), id, label, text."""

    kind: str
    id: str
    label: str
    text: str
    form_id: str
    proto: Any


@dataclass
class Run:
    """What one interaction asked for and got back."""

    page: str
    seconds: float
    elements: list[Element] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)

    def find(self, kind: str, label: str) -> Element:
        """The first element of this type whose label (or text) starts with label."""
        for element in self.elements:
            if element.kind == kind and (
                element.label.startswith(label) or element.text.startswith(label)
            ):
                return element
        shown = sorted({(e.kind, e.label or e.text[:40]) for e in self.elements})
        raise LookupError(f"no {kind} labelled {label!r} on {self.page}: {shown}")

    def texts(self, kind: str) -> list[str]:
        """The text (or body) of every element of this type."""
        return [e.text for e in self.elements if e.kind == kind]

    def errors(self) -> list[str]:
        """The st.error alerts this run showed."""
        return [
            e.text for e in self.elements if e.kind == "alert" and e.proto.format == Alert.ERROR
        ]


def _element(msg: Any) -> Element:
    kind = msg.WhichOneof("type") or ""
    body = getattr(msg, kind, None)
    text = ""
    for name in ("body", "message", "text"):
        value = getattr(body, name, None)
        if isinstance(value, str) and value:
            text = value
            break
    return Element(
        kind=kind,
        id=getattr(body, "id", "") or "",
        label=getattr(body, "label", "") or "",
        text=text,
        form_id=getattr(body, "form_id", "") or "",
        proto=body,
    )


class Tab:
    """One browser tab on a Streamlit server: connect, run pages, set widgets."""

    def __init__(self, base_url: str, *, cookies: dict[str, str] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.cookies = dict(cookies or {})
        self.pages: dict[str, str] = {}  # url path → page_script_hash (from navigation)
        self.page = ""
        self.ws: ClientConnection | None = None
        self._stack = ExitStack()

    def __enter__(self) -> Tab:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self, timeout: float = 30) -> None:
        """Open the websocket (as a browser on this origin does); close() closes it."""
        url = "ws" + self.base_url.removeprefix("http") + "/_stcore/stream"
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self._stack = ExitStack()
        self.ws = self._stack.enter_context(
            connect(
                url,
                subprotocols=["streamlit"],  # type: ignore[list-item]
                origin=self.base_url,  # type: ignore[arg-type]
                additional_headers=headers,
                open_timeout=timeout,
                max_size=None,
                compression=None,
                # A browser sends no websocket pings (its own heartbeat is a BackMsg), so a
                # server busy for a while is a slow answer here too, not a dropped connection.
                ping_interval=None,
            )
        )

    def close(self) -> None:
        """Close the websocket."""
        if self.ws is not None:
            self.ws = None
            self._stack.close()

    def _request(self, page: str | None, widgets: dict[str, tuple[str, Any]]) -> BackMsg:
        """The rerun a browser sends: the page (by its hash once navigation named it) and
        the widget values."""
        if page is not None:
            self.page = page
        back = BackMsg()
        state = back.rerun_script
        if self.page in self.pages:
            state.page_script_hash = self.pages[self.page]
        else:  # before the first navigation message: by url path, as a deep link does
            state.page_name = self.page
        for widget_id, (kind, value) in widgets.items():
            widget = WidgetState(id=widget_id)
            setattr(widget, kind, value)
            state.widget_states.widgets.append(widget)
        return back

    def _receive(self, deadline: float) -> ForwardMsg:
        assert self.ws is not None
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise StreamlitError(f"{self.page}: the run did not finish in time")
            try:
                data = self.ws.recv(timeout=left)
            except TimeoutError:
                continue
            except ConnectionClosed as exc:
                raise StreamlitError(f"{self.page}: the websocket closed ({exc})") from None
            if isinstance(data, bytes):
                msg = ForwardMsg()
                msg.ParseFromString(data)
                return msg

    def run(
        self,
        page: str | None = None,
        widgets: dict[str, tuple[str, Any]] | None = None,
        *,
        timeout: float = 60,
    ) -> Run:
        """Ask for a run of page (url path; None: the current one) with these widget
        values ({id: (WidgetState value field, value)}) and wait for it to finish."""
        assert self.ws is not None, "connect() first"
        back = self._request(page, widgets or {})
        started = time.perf_counter()
        self.ws.send(back.SerializeToString())
        run = Run(page=self.page, seconds=0.0)
        while True:
            msg = self._receive(started + timeout)
            kind = msg.WhichOneof("type")
            if kind == "new_session":  # a run starts (again, after st.rerun): fresh elements
                run.elements, run.exceptions = [], []
            elif kind == "navigation":
                self.pages.update(
                    {p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages}
                )
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element = _element(msg.delta.new_element)
                run.elements.append(element)
                if element.kind == "exception":
                    run.exceptions.append(f"{element.proto.type}: {element.proto.message}")
            elif kind == "script_finished":
                if msg.script_finished == FINISHED.FINISHED_WITH_COMPILE_ERROR:
                    raise StreamlitError(f"{self.page}: the script did not compile")
                if msg.script_finished in DONE:
                    run.seconds = time.perf_counter() - started
                    return run
