"""The dialogs the PBX set up towards an agent, kept per agent for every session of that agent in this process.

Pure, no I/O. A dialog the PBX starts (an INVITE, SUBSCRIBE or REFER without a To tag, sent to the browser)
is *offered* until the browser answers it: a 1xx with a To tag or a 2xx makes it *confirmed* with the
browser's tag, the PBX's tag and the URI the PBX addressed the agent by (its To: the agent's address of
record, or the Contact the agent registered, as Asterisk calls a registered phone). A final non-2xx answer
to the offer, a CANCEL, or a BYE in either direction ends it. The identity policy (identity.py) lets a
request from the browser through as *inside* such a dialog when its Call-ID, its From tag, its To tag and its
From URI all match: the From is the agent's own side of a dialog the relay saw set up.

The dialogs an agent starts are not kept: their From passed the identity check (it is the agent's own
username), and every later request of the agent in them carries that same From, so the username rule already
lets them through.

Memory is bounded twice: at most MAX_DIALOGS offered and MAX_DIALOGS confirmed dialogs per agent (the
oldest go first), and at most MAX_AGENTS agents per process (the least recently seen go first).
"""

from __future__ import annotations

MAX_DIALOGS = 32
MAX_AGENTS = 20_000


class Dialog:
    """One dialog the PBX started: the agent's tag (None while offered), the PBX's tag, the agent's URI, and
    the method that started it (upper case)."""

    __slots__ = ("agent_tag", "agent_uri", "method", "pbx_tag")

    def __init__(self, method: bytes, pbx_tag: bytes, agent_uri: str) -> None:
        self.method = method
        self.pbx_tag = pbx_tag
        self.agent_uri = agent_uri
        self.agent_tag: bytes | None = None


class AgentDialogs:
    """One agent's dialogs, by Call-ID, shared by that agent's sessions."""

    __slots__ = ("confirmed", "offered")

    def __init__(self) -> None:
        self.offered: dict[bytes, Dialog] = {}
        self.confirmed: dict[bytes, Dialog] = {}

    def offer(self, call_id: bytes, method: bytes, pbx_tag: bytes, agent_uri: str) -> None:
        """The PBX sent a dialog-creating request to the agent."""
        _put(self.offered, call_id, Dialog(method, pbx_tag, agent_uri))

    def answered(self, call_id: bytes, method: bytes, status: int, agent_tag: bytes | None) -> None:
        """The browser answered a request of the PBX: `status`, with `agent_tag` in its To (None: no tag)."""
        dialog = self.offered.get(call_id)
        if dialog is None or dialog.method != method or status < 101:
            return
        if status >= 300:
            del self.offered[call_id]
            confirmed = self.confirmed.get(call_id)
            if confirmed is not None and confirmed.pbx_tag == dialog.pbx_tag:  # the early dialog ends too
                del self.confirmed[call_id]
            return
        if agent_tag is None:
            return
        dialog.agent_tag = agent_tag
        _put(self.confirmed, call_id, dialog)
        if status >= 200:
            del self.offered[call_id]

    def end(self, call_id: bytes) -> None:
        """A BYE or CANCEL of either side."""
        self.offered.pop(call_id, None)
        self.confirmed.pop(call_id, None)

    def holds(self, call_id: bytes, from_tag: bytes | None, to_tag: bytes | None, from_uri: str) -> bool:
        """Is a request of the agent with these identifiers inside a dialog the PBX set up, From on the agent's
        side?"""
        dialog = self.confirmed.get(call_id)
        return (dialog is not None and from_tag == dialog.agent_tag and to_tag == dialog.pbx_tag
                and from_uri == dialog.agent_uri)


def _put(table: dict[bytes, Dialog], call_id: bytes, dialog: Dialog) -> None:
    table.pop(call_id, None)
    if len(table) >= MAX_DIALOGS:
        del table[next(iter(table))]
    table[call_id] = dialog


class DialogRegistry:
    """Every agent's dialogs in this process, by (customer_id, username): a reconnecting agent finds them."""

    __slots__ = ("_agents", "max_agents")

    def __init__(self, max_agents: int = MAX_AGENTS) -> None:
        self.max_agents = max_agents
        self._agents: dict[tuple[int, str], AgentDialogs] = {}

    def agent(self, customer_id: int, username: str) -> AgentDialogs:
        """The agent's dialogs, made on first use; the least recently used agent's go when the table is full."""
        key = (customer_id, username)
        agents = self._agents
        dialogs = agents.pop(key, None)
        if dialogs is None:
            dialogs = AgentDialogs()
            if len(agents) >= self.max_agents:
                del agents[next(iter(agents))]
        agents[key] = dialogs
        return dialogs

    def __len__(self) -> int:
        return len(self._agents)
