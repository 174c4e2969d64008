"""Search nodes: one Meilisearch node each, fed from the log by its own indexer.

Meilisearch's own replication is an Enterprise feature; the log makes it
ours: every node's indexer reads the whole enriched stream in a consumer group
named after the node (`names.search_group`), so each node holds the whole
index, and a node added later replays the log from its start and catches up.

Each node also has its own version guard (`khabar:{search-<node>}:…`): the
guard remembers which version *this* node's index was given, and a node that
is behind must still apply versions another node has already applied. Node
"1" keeps the keys a single node always had, so a deployment that grows to
more nodes migrates nothing.

The registry in Redis (`khabar_shared.search_nodes`) says which nodes exist
and where their Meilisearch answers; readers (`node_pool.py`), `khabar status`
and an article's trace read it.
"""

from dataclasses import dataclass

from khabar_shared.names import FIRST_SEARCH_NODE, applied_key, search_group

NODE_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"


@dataclass(frozen=True)
class SearchNode:
    """A node's name and the names of everything its indexer keeps in Redis."""

    name: str = FIRST_SEARCH_NODE

    @property
    def group(self) -> str:
        return search_group(self.name)

    @property
    def tag(self) -> str:
        # One hash slot per node: the claim script stays single-slot in a Redis Cluster.
        return "{search}" if self.name == FIRST_SEARCH_NODE else f"{{search-{self.name}}}"

    @property
    def versions_key(self) -> str:
        return f"khabar:{self.tag}:versions"

    @property
    def entries_key(self) -> str:
        """The stream entry of each article's claimed version ("" for a withdrawal)."""
        return f"khabar:{self.tag}:claimed-entries"

    @property
    def key_patterns(self) -> list[str]:
        """Every key that is this node's alone: its version guard and its articles' traces.

        Named one by one: node 1's tag `{search}` also holds the aliases every node shares."""
        return [self.versions_key, self.entries_key, applied_key(self.group, "*")]


FIRST_NODE = SearchNode()
