"""Connected components of the near-duplicate graph as pure steps (filters/components.py): the edges a band
bucket turns into, and large-star / small-star iterated to convergence on graphs whose components are known."""
from __future__ import annotations

import random
from collections import defaultdict

from filters.components import edges_to_bucket_hubs, edges_to_bucket_min, large_star, small_star, star_minimum


def _neighbours(edges):
    grouped = defaultdict(list)
    for u, v in edges:
        grouped[u].append(v)
    return grouped


def _both_directions(links):
    return {e for v, m in links for e in ((v, m), (m, v))}


def _star_round(edges):
    """One round as the composite runs it: group by node, large-star, distinct; group, small-star, distinct."""
    edges = _both_directions(link for u, n in _neighbours(edges).items() for link in large_star(u, n))
    return _both_directions(link for u, n in _neighbours(edges).items() for link in small_star(u, n))


def _components(edges, max_rounds=64):
    """(label per node, rounds until a round changed nothing, the fixed point's edges)."""
    current = _both_directions(edges)
    for rounds in range(max_rounds):
        after = _star_round(current)
        if after == current:
            break
        current = after
    labels = {u: star_minimum(u, n) for u, n in _neighbours(current).items()}
    return labels, rounds, current


def _union_find_labels(edges):
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for u, v in edges:
        a, b = find(u), find(v)
        parent[max(a, b)] = min(a, b)
    return {x: find(x) for x in list(parent)}


def test_bucket_edges_point_at_its_smallest_member_and_never_list_the_bucket():
    class Reiterable:  # a lazily paged group, as Dataflow hands large groups to a DoFn
        passes = 0

        def __iter__(self):
            Reiterable.passes += 1
            return (f"id{i:05d}" for i in range(5000, 0, -1))

    edges = list(edges_to_bucket_min(Reiterable()))
    assert len(edges) == 4999 and {v for _, v in edges} == {"id00001"} and Reiterable.passes == 2

    Reiterable.passes = 0  # when verifying: the two smallest members are hubs, 2n - 3 edges, still two passes
    edges = list(edges_to_bucket_hubs(Reiterable()))
    assert Reiterable.passes == 2 and len(edges) == len(set(edges)) == 2 * 5000 - 3
    assert {v for _, v in edges} == {"id00001", "id00002"} and ("id00002", "id00001") in edges
    assert all(u > v for u, v in edges)
    assert list(edges_to_bucket_hubs(["b", "a"])) == [("b", "a")]
    assert sorted(edges_to_bucket_hubs(["c", "a", "b"])) == [("b", "a"), ("c", "a"), ("c", "b")]


def test_a_bucket_of_one_member_or_one_repeated_member_has_no_edges():
    assert list(edges_to_bucket_min(["a"])) == list(edges_to_bucket_hubs(["a"])) == []
    assert list(edges_to_bucket_min(["a", "a"])) == list(edges_to_bucket_hubs(["a", "a"])) == []
    assert list(edges_to_bucket_min([])) == list(edges_to_bucket_hubs([])) == []


def test_star_steps_at_one_node():
    # u = "d" with neighbours b, c, e, f: m = "b"
    assert star_minimum("d", ["e", "b", "f", "c"]) == "b"
    assert star_minimum("a", ["e", "b"]) == "a" and star_minimum("a", []) == "a"
    assert list(large_star("d", ["e", "b", "f", "c"])) == [("e", "b"), ("f", "b")]  # larger neighbours -> m
    assert list(small_star("d", ["e", "b", "f", "c"])) == [("d", "b"), ("c", "b")]  # d itself first, then smaller
    assert list(large_star("a", ["c", "b"])) == [("c", "a"), ("b", "a")]  # a is the minimum: its own edges
    assert list(small_star("a", ["c", "b"])) == []
    assert list(large_star("d", ["e", "b"], minimum="b")) == list(large_star("d", ["e", "b"]))


def test_star_rounds_converge_to_one_star_per_component():
    # a path h - g - ... - a given in a shuffled order, a cycle, a lone edge, and a component whose minimum
    # sits in its middle
    path = [("h", "g"), ("b", "c"), ("f", "e"), ("d", "c"), ("a", "b"), ("e", "d"), ("g", "f")]
    cycle = [("p", "q"), ("q", "r"), ("r", "s"), ("s", "p")]
    middle = [("x", "w"), ("w", "m"), ("m", "y"), ("y", "z")]
    labels, rounds, fixed = _components(path + cycle + [("u", "v")] + middle)
    assert labels == {**{n: "a" for n in "abcdefgh"}, **{n: "p" for n in "pqrs"}, "u": "u", "v": "u",
                      **{n: "m" for n in "mwxyz"}}
    assert 1 <= rounds <= 6
    assert all(min(e) == labels[e[0]] for e in fixed)  # every edge left touches its component's minimum
    assert _star_round(fixed) == fixed  # a star is a fixed point: a further round changes nothing


def test_star_rounds_give_union_find_components_on_random_graphs():
    for seed in range(20):
        rng = random.Random(seed)
        nodes = rng.randint(2, 60)
        edges = [(rng.randrange(nodes), rng.randrange(nodes)) for _ in range(rng.randint(1, nodes))]
        edges = [(u, v) for u, v in edges if u != v]
        labels, rounds, _ = _components(edges)
        assert labels == _union_find_labels(edges), seed
        assert rounds < 20
