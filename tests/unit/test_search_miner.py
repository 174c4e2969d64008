"""Which search node mines aliases: one, so every node does not mine every article again."""

from khabar_search.indexer import miner


def test_node_1_mines_while_it_is_registered_or_nothing_is() -> None:
    assert miner({}) == "1"
    assert miner({"2": "http://b", "1": "http://a", "3": "http://c"}) == "1"


def test_once_node_1_is_retired_the_first_registered_node_mines() -> None:
    assert miner({"3": "http://c", "2": "http://b"}) == "2"
