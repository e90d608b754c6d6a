"""Deduplication: representative choice, line keys (pure), and the Beam composites (MinHash with connected
components and verification, identical across worker counts; line-level boilerplate removal)."""
from __future__ import annotations

import random

import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from filters.dedup import REPRESENTATIVES, exact_dedup_key, id_of_key, representative_key
from filters.lines import LineDedupParams, remove_units, too_short, unit_keys
from filters.minhash import MinHashParams, jaccard, shingle_hash_sets, shingles
from filters.components import edges_to_bucket_hubs, edges_to_bucket_min
from pipelines.transforms.dedup import DedupExact, DedupLines, DedupMinhash, _send_hub_set, _VerifyJaccard
from pipelines.runtime.options import make_pipeline
from pipelines.transforms.counters import counters_by_stage, stage_counts
from schemas import DEDUP_CLUSTER_ID, DEDUP_CLUSTER_SIZE, DETAIL, DUPLICATE_OF, ID, REASON, TEXT, empty_document
from pipelines.transforms.stages import REJECTED


def _words(n, seed):
    rng = random.Random(seed)
    return ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9))) for _ in range(n)]


def test_representative_keys_sort_by_the_recipe_criterion_then_id():
    docs = [empty_document("b", "web", "x" * 50, scores={"q": 0.9}), empty_document("a", "web", "x" * 10, scores={"q": 0.2}),
            empty_document("c", "web", "x" * 50, scores={"q": -1.5}), empty_document("d", "web", "x" * 50)]
    pick = {r: id_of_key(min(representative_key(d, r, "q") for d in docs), r) for r in REPRESENTATIVES}
    assert pick == {"smallest_id": "a", "longest": "b", "quality": "b"}
    ranked = sorted(docs, key=lambda d: representative_key(d, "quality", "q"))
    assert [d[ID] for d in ranked] == ["b", "a", "c", "d"]  # missing score ranks last
    assert [id_of_key(representative_key(d, "longest"), "longest") for d in docs] == ["b", "a", "c", "d"]
    assert exact_dedup_key("Hello,  World 2019") == exact_dedup_key("hello world 2023")
    assert exact_dedup_key("Hello", normalize=False) != exact_dedup_key("hello", normalize=False)


def test_two_hub_verification_keeps_a_pair_that_the_bucket_minimum_would_lose():
    """A bucket {a, b, c}: a is a false positive for both, b and c are near-duplicates. Checked only against
    the minimum a, both edges fail and b, c stay apart; with b as the second hub, c -> b passes."""
    base = _words(120, 7)
    texts = {"a": " ".join(base[:40] + _words(80, 3)), "b": " ".join(base), "c": " ".join(base[:112] + _words(8, 5))}
    sets = dict(zip(texts, (s.tobytes() for s in shingle_hash_sets(list(texts.values()), MinHashParams()))))
    verify = _VerifyJaccard(0.75)
    verify.setup()

    def verified(edges):
        hubs = {}
        for u, v in edges:
            hubs.setdefault(u, []).append((v, sets[v]))
        return sorted(e for u, hs in hubs.items() for e in verify.process((u, {"set": [sets[u]], "hub": hs})))

    assert verified(edges_to_bucket_min(["c", "b", "a"])) == []
    assert verified(edges_to_bucket_hubs(["c", "b", "a"])) == [("c", "b")]


def test_verification_join_holds_ids_at_the_hub_and_at_most_bands_sets_per_member():
    """The hub (a bucket minimum with many members) is grouped with its one set and the members' ids; each
    member then meets its own set and the sets of the (at most `bands`) minima it points at."""
    texts = {"hub": " ".join(_words(120, 7)), "near": " ".join(_words(120, 7)[:110] + _words(10, 8)),
             "far": " ".join(_words(60, 7)[:60] + _words(60, 9))}
    sets = dict(zip(texts, (s.tobytes() for s in shingle_hash_sets(list(texts.values()), MinHashParams()))))
    members = [f"m{i:05d}" for i in range(3000)] + ["near", "far"]
    sent = list(_send_hub_set(("hub", {"member": members, "set": [sets["hub"]]})))
    assert len(sent) == len(members) and all(v == ("hub", sets["hub"]) for _, v in sent)
    assert list(_send_hub_set(("gone", {"member": members, "set": []}))) == []  # a minimum without a set: no edges
    verify = _VerifyJaccard(0.75)
    verify.setup()
    kept = [e for u in ("near", "far") for e in verify.process((u, {"set": [sets[u]], "hub": [("hub", sets["hub"])]}))]
    assert kept == [("near", "hub")]  # Jaccard 0.84 kept, 0.32 rejected


def test_line_keys_and_removal():
    params = LineDedupParams(max_docs=2, min_unit_chars=10, min_words=5)
    text = "Copyright 2019 Example Inc.\nA real sentence about rivers and stones.\n|\nShare on Facebook now"
    keys = unit_keys(text, params)
    assert len(keys) == 3  # "|" is too short to be a key
    assert unit_keys("copyright 2023 example inc", params)[0] == keys[0]  # normalised: digits, case, punctuation
    out, removed = remove_units(text, {keys[0], keys[2]}, params)
    assert out == "A real sentence about rivers and stones.\n|" and removed == 2
    assert not too_short(out, params) and too_short("|", params)
    para = LineDedupParams(unit="paragraph", min_words=0)
    assert len(unit_keys("first paragraph here\nstill first\n\n  \nsecond paragraph text", para)) == 2
    with pytest.raises(ValueError, match="expected one of 'line', 'paragraph'"):
        LineDedupParams(unit="sentence")


def _chain_docs():
    """Six documents, each a 200-word window shifted by 40 words: neighbours have Jaccard ~0.6, the ends 0.
    Plus an unrelated document, an exact duplicate already folded into c3 (size 2), and a pair at Jaccard
    ~0.4 that only a low LSH threshold makes candidates."""
    vocab = _words(600, 1)
    docs = [empty_document(f"c{i}", "web", " ".join(vocab[i * 40:i * 40 + 200])) for i in range(6)]
    docs[3][DEDUP_CLUSTER_SIZE] = 2
    docs.append(empty_document("u", "web", " ".join(_words(200, 2))))
    base = _words(200, 3)
    docs.append(empty_document("p1", "web", " ".join(base)))
    docs.append(empty_document("p2", "web", " ".join(base[:120] + _words(80, 4))))
    return docs


def test_chain_fixture_similarities():
    docs = {d[ID]: shingles(d[TEXT], 5) for d in _chain_docs()}
    assert 0.55 < jaccard(docs["c0"], docs["c1"]) < 0.7 and jaccard(docs["c0"], docs["c5"]) == 0.0
    assert 0.3 < jaccard(docs["p1"], docs["p2"]) < 0.5


def _kept(out, label="kept"):
    return out["kept"] | f"{label}Rows" >> beam.Map(lambda d: (d[ID], d[DEDUP_CLUSTER_ID], d[DEDUP_CLUSTER_SIZE]))


def _rejected(out, label="rejected"):
    return out[REJECTED] | f"{label}Rows" >> beam.Map(lambda r: (r[ID], r[REASON], r[DUPLICATE_OF]))


CHAIN_KEPT = [("c0", "c0", 7), ("u", "u", 1), ("p1", "p1", 1), ("p2", "p2", 1)]
CHAIN_REJECTED = [(f"c{i}", "near_duplicate", "c0") for i in range(1, 6)]


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])  # 2 forked workers: ~13 s
def test_minhash_connected_components_same_result_with_1_and_2_workers(workers):
    """A chain whose ends share no shingle is one cluster (one round of min-propagation would keep several);
    exact verification keeps apart the 0.4 pair that the low-threshold banding made candidates."""
    p = make_pipeline(workers=workers)
    docs = p | beam.Create(_chain_docs())
    # 28 x 4 bands (threshold ~0.43) make the 0.4 pair candidates: merged without verification ...
    out = docs | "Banded" >> DedupMinhash(num_perm=112, bands=28, rows=4, rounds=3, verify_threshold=None)
    assert_that(_kept(out), equal_to(CHAIN_KEPT[:2] + [("p1", "p1", 2)]), label="kept")
    assert_that(_rejected(out), equal_to(CHAIN_REJECTED + [("p2", "near_duplicate", "p1")]), label="rejected")
    # ... and kept apart when candidate pairs must reach an exact Jaccard of 0.5.
    low = docs | "Verified" >> DedupMinhash(num_perm=112, bands=28, rows=4, rounds=3, verify_threshold=0.5)
    assert_that(_kept(low, "low"), equal_to(CHAIN_KEPT), label="kept_verified")
    assert_that(_rejected(low, "lowrej"), equal_to(CHAIN_REJECTED), label="rejected_verified")
    result = p.run()
    result.wait_until_finish()
    counters = counters_by_stage(result)["dedup_minhash"]
    assert counters["pairs_rejected_by_jaccard"] >= 1 and counters["cc_unconverged"] == 0
    c = stage_counts({"dedup_minhash": counters}, ["dedup_minhash"])[0]
    assert c.in_ == c.kept + sum(c.dropped.values()) + c.errors == 2 * len(_chain_docs())


@pytest.mark.slow  # ~8-14 s: 1,501 documents in one band bucket
def test_verified_minhash_on_a_hub_bucket_checks_at_most_two_edges_per_member():
    """1,500 copies of one page (every band bucket holds all of them) and one copy edited below the threshold:
    every copy is checked against the bucket's two smallest nodes only, never against its 1,499 twins."""
    text = " ".join(_words(150, 11))
    docs = [empty_document(f"h{i:04d}", "web", text) for i in range(1500)]
    docs.append(empty_document("edited", "web", " ".join(_words(150, 11)[:100] + _words(50, 12))))
    p = make_pipeline()
    out = p | beam.Create(docs) | DedupMinhash(num_perm=112, bands=28, rows=4, rounds=3, verify_threshold=0.75)
    assert_that(_kept(out), equal_to([("h0000", "h0000", 1500), ("edited", "edited", 1)]), label="kept")
    result = p.run()
    result.wait_until_finish()
    counters = counters_by_stage(result)["dedup_minhash"]
    assert counters["dropped_near_duplicate"] == 1499 and counters["cc_unconverged"] == 0
    # the edited copy ("edited" < "h0000") is the smallest node of the buckets it shares: the 1,500 edges to
    # it fail; the copies pass to h0000 (1,499) and, where h0000 and h0001 are the hubs, to h0001 (1,498)
    assert counters["pairs_rejected_by_jaccard"] == 1500
    assert counters["pairs_verified"] - counters["pairs_rejected_by_jaccard"] == 1499 + 1498


def test_minhash_representative_longest_and_exact_dedup_longest():
    vocab = _words(300, 5)
    text = " ".join(vocab[:200])
    docs = [empty_document("a", "web", text), empty_document("b", "web", text + " " + " ".join(vocab[200:215])),
            empty_document("c", "web", text.upper())]
    p = TestPipeline(runner=FnApiRunner())
    pc = p | beam.Create(docs)
    near = pc | "Near" >> DedupMinhash(representative="longest", rounds=2)
    assert_that(_kept(near, "near"), equal_to([("b", "b", 3)]), label="near")
    exact = pc | "Exact" >> DedupExact(representative="longest")
    assert_that(_rejected(exact, "exact"), equal_to([("c", "exact_duplicate", "a")]), label="exact")  # tie on length -> smallest id
    p.run().wait_until_finish()
    with pytest.raises(ValueError, match="needs `score`"):
        DedupMinhash(representative="quality")
    assert DedupMinhash(threshold=0.8, num_perm=128).params.bands * DedupMinhash(threshold=0.8, num_perm=128).params.rows <= 128


def test_dedup_lines_removes_shared_lines_and_drops_documents_left_too_short():
    nav = "Home | About us | Contact | Privacy policy"
    footer = "Copyright 2024 Example Publishing Ltd. All rights reserved."
    docs = []
    for i in range(12):
        body = " ".join(_words(60 if i else 3, 10 + i))
        docs.append(empty_document(f"d{i:02d}", "web", f"{nav}\n{body}\n{footer.replace('2024', str(2000 + i))}"))
    docs.append(empty_document("solo", "web", "A lone line that appears once.\n" + " ".join(_words(60, 99))))
    p = TestPipeline(runner=FnApiRunner())
    out = p | beam.Create(docs) | DedupLines(max_docs=10, min_words=50)
    assert_that(out["kept"] | beam.Map(lambda d: (d[ID], nav in d[TEXT], "Copyright" in d[TEXT], d[TEXT].count("\n"))),
                equal_to([(f"d{i:02d}", False, False, 0) for i in range(1, 12)] + [("solo", False, False, 1)]),
                label="kept")
    assert_that(_rejected(out), equal_to([("d00", "too_short_after_line_dedup", None)]), label="rejected")
    # the rejected row holds the document as it came in; what the removal left of it is in `detail`
    d00 = docs[0][TEXT]
    assert_that(out[REJECTED] | beam.Map(lambda r: (r[TEXT], r[DETAIL])),
                equal_to([(d00, {"units_removed": "2", "text_left": d00.split("\n")[1]})]), label="rejected text")
    result = p.run()
    result.wait_until_finish()
    counters = counters_by_stage(result)["dedup_lines"]
    assert counters["boilerplate_units"] == 2 and counters["units_removed"] == 24
    c = stage_counts(counters_by_stage(result), ["dedup_lines"])[0]
    assert (c.in_, c.kept, c.dropped, c.errors) == (13, 12, {"too_short_after_line_dedup": 1}, 0)


def _distributions(result, prefix=""):
    from apache_beam.metrics.metric import MetricsFilter
    out = {}
    for d in result.metrics().query(MetricsFilter())["distributions"]:
        if d.key.metric.namespace == "winnow.dedup_minhash" and d.key.metric.name.startswith(prefix):
            out[d.key.metric.name] = d.committed
    return out


@pytest.mark.slow  # ~7 s: three component pipelines, up to 12 rounds
def test_component_rounds_count_changed_edges_until_convergence():
    """A path of 64 nodes with shuffled ids needs several large-star / small-star rounds: `cc_round_<i>_changed`
    is positive while edges are still re-linked and 0 from the round the graph is a star on; a star is 0 at once."""
    from pipelines.transforms.dedup import ConnectedComponents
    rng = random.Random(3)
    nodes = [f"n{i:03d}" for i in range(64)]
    rng.shuffle(nodes)
    path = list(zip(nodes, nodes[1:]))
    star = [(f"s{i:03d}", "s000") for i in range(1, 30)]

    def run(edges, rounds):
        p = make_pipeline()
        parents = p | beam.Create(edges) | ConnectedComponents(rounds=rounds)
        expected = sorted({(u, min(x for e in edges for x in e)) for e in edges for u in e})
        if rounds > 1:
            assert_that(parents, equal_to(expected))
        result = p.run()
        result.wait_until_finish()
        c = counters_by_stage(result).get("dedup_minhash", {})
        return [c.get(f"cc_round_{i}_changed", 0) for i in range(rounds)], c.get("cc_unconverged", 0)

    changed, unconverged = run(path, 12)
    first_zero = changed.index(0)
    assert 2 <= first_zero < 12 and all(changed[:first_zero]) and not any(changed[first_zero:]) and unconverged == 0
    changed, unconverged = run(path, 1)
    assert changed[0] > 0 and unconverged > 0  # one round is not enough: the counter and cc_unconverged say so
    assert run(star, 3) == ([0, 0, 0], 0)


def test_measure_shuffle_counts_the_encoded_bytes_entering_every_group_by_and_keeps_outputs():
    from apache_beam.coders import FastPrimitivesCoder
    from filters.minhash import band_hashes, minhash_signatures
    docs = _chain_docs()
    params = dict(num_perm=112, bands=28, rows=4, rounds=3, verify_threshold=0.5)
    p = make_pipeline()
    out = p | beam.Create(docs) | DedupMinhash(measure_shuffle=True, **params)
    assert_that(_kept(out), equal_to(CHAIN_KEPT), label="kept")
    assert_that(_rejected(out), equal_to(CHAIN_REJECTED), label="rejected")
    result = p.run()
    result.wait_until_finish()
    dist = _distributions(result)
    fpc = FastPrimitivesCoder()
    sigs = minhash_signatures([d[TEXT] for d in docs], MinHashParams(num_perm=112, bands=28, rows=4))
    bands = [(key, d[ID]) for d, sig in zip(docs, sigs) for key in band_hashes(sig, 28, 4)]
    buckets = dist["shuffle_bytes_GroupBuckets"]
    assert buckets.count == 28 * len(docs)
    assert buckets.sum == sum(len(fpc.encode(k)) + len(fpc.encode(v)) for k, v in bands)
    assert dist["shuffle_bytes_JoinDecision_doc"].count == len(docs)
    assert dist["shuffle_bytes_JoinMinimumSet_set"].count == dist["shuffle_bytes_JoinMemberSet_set"].count == len(docs)
    assert dist["group_values_GroupBuckets"].max >= 2 and dist["group_bytes_JoinDecision"].count == len(docs)
    for i in range(3):  # every round's four group-bys are counted, inside the Components composite too
        for step in ("GroupLarge", "DistinctLarge", "GroupSmall", "DistinctSmall"):
            assert dist[f"shuffle_bytes_R{i}{step}"].count > 0
    assert counters_by_stage(result)["dedup_minhash"]["dropped_near_duplicate"] == len(CHAIN_REJECTED)
