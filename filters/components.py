"""Connected components of the near-duplicate graph, as pure per-group steps: which edges an LSH band bucket
turns into, and the large-star / small-star steps that shrink every component to a star around its minimum.

Nodes are strings that sort so that the smallest one of a component is the document to keep
(`filters.dedup.representative_key`). Every function here sees one group of a group-by -- a bucket's members,
or one node's neighbours -- and may iterate it twice (Beam's grouped values are re-iterable, and Dataflow pages
large ones), holding only running minima, never the group; pipelines/transforms/dedup.py wires them into
`DedupMinhash` and `ConnectedComponents`.

Bucket edges: a bucket of n members links every member to its smallest one (n - 1 edges, never n^2, the same
components as every pair of the bucket). When the edges are then verified by exact Jaccard, every larger
member also links to the second smallest (2n - 3): a member unlike the minimum but like another member keeps a
second chance to link (recall measured against every pair of every bucket: pipelines/transforms/dedup.py,
step 3 of its docstring).

Star steps (Kiveris et al., "Connected Components in MapReduce and Beyond", 2014): with m the smallest of a
node u and its neighbours N, large-star links every neighbour larger than u to m, small-star links u and its
smaller neighbours to m. A round of large-star then small-star (each over the undirected edge set, grouped by
node) keeps the components and converges in O(log^2 n) rounds, in practice a handful; at the fixed point every
component is a star around its minimum, so a node's label is `star_minimum` of its neighbours. Links are
returned once, as (larger, smaller); the caller emits both directions.
"""
from __future__ import annotations

from typing import Iterable, Iterator, Optional, Tuple, TypeVar

Node = TypeVar("Node", str, int)


def edges_to_bucket_min(members: Iterable[Node]) -> Iterator[Tuple[Node, Node]]:
    """(member, smallest member) for every other member of a band bucket: n - 1 edges, two passes."""
    smallest = None
    for node in members:  # first pass: the minimum, without materialising the bucket
        if smallest is None or node < smallest:
            smallest = node
    for node in members:
        if node != smallest:
            yield node, smallest


def edges_to_bucket_hubs(members: Iterable[Node]) -> Iterator[Tuple[Node, Node]]:
    """Candidate edges to verify: every member to the bucket's smallest node, and every larger member to the
    second smallest too (2n - 3 edges, never n^2; still two running minima, not the bucket, in memory). Same
    components as `edges_to_bucket_min` while nothing is verified; once edges can fail, a member unlike the
    minimum keeps a second chance to link inside the bucket."""
    first = second = None
    for node in members:
        if first is None or node < first:
            first, second = node, first
        elif node != first and (second is None or node < second):
            second = node
    for node in members:
        if node != first:
            yield node, first
            if second is not None and node > second:
                yield node, second


def star_minimum(node: Node, neighbours: Iterable[Node]) -> Node:
    """The smallest of `node` and its neighbours: the star's centre, and after convergence the node's label."""
    smallest = node
    for v in neighbours:
        if v < smallest:
            smallest = v
    return smallest


def large_star(node: Node, neighbours: Iterable[Node], minimum: Optional[Node] = None) -> Iterator[Tuple[Node, Node]]:
    """Large-star at `node`: links (v, m) for every neighbour v larger than `node`, m = `star_minimum` (pass
    `minimum` when it is known already: it costs a pass over the neighbours). Where m is `node` itself these
    are the edges it had; otherwise each one replaces u -- v by m -- v."""
    m = star_minimum(node, neighbours) if minimum is None else minimum
    for v in neighbours:
        if v > node and v != m:
            yield v, m


def small_star(node: Node, neighbours: Iterable[Node], minimum: Optional[Node] = None) -> Iterator[Tuple[Node, Node]]:
    """Small-star at `node`: links `node` and every smaller neighbour v to m = `star_minimum` (the link of
    `node` first), as (v, m); each v -- m replaces u -- v. Nothing when `node` is its neighbourhood's minimum."""
    m = star_minimum(node, neighbours) if minimum is None else minimum
    if m == node:
        return
    yield node, m
    for v in neighbours:
        if v < node and v != m:
            yield v, m
