"""The url-dedup lab at a tiny size: a real crawl, every store measured, the projection made."""

from __future__ import annotations

from pathlib import Path

from bazaar import lab


def test_url_dedup_lab_tiny(tmp_path: Path) -> None:
    result = lab.run("url-dedup", quick=True, out_dir=tmp_path,
                     params={"hosts": 5, "n": 20_000, "n_probe": 20_000,
                             "shared_hosts": 10, "processes": "1,2"})
    summary = result["summary"]
    results = summary["results"]
    assert summary["crawled_urls"] >= 5 * 3
    assert set(results) == {"Python set", "SQLite UNIQUE index", "Bloom p=0.01", "Bloom p=1e-06"}
    bloom = results["Bloom p=1e-06"]
    assert 3.5 < bloom["bytes_per_url"] < 3.7  # 28.76 bits per URL at 1e-6
    assert results["Python set"]["bytes_per_url"] > 10 * bloom["bytes_per_url"]
    assert 0.003 < results["Bloom p=0.01"]["fp"] < 0.03
    shared = summary["shared"]
    assert set(shared) == {"1", "2"}
    for r in shared.values():  # every page of the 10 hosts once, by one process or two
        assert r["missing"] == 0 and r["fetched_twice"] == 0
        assert r["pages"] >= 10 * 5 * 2 and r["pages_per_s"] > 0
    assert len(result["rows"]) == 6 and "345" in result["verdict"]
    assert (tmp_path / "url-dedup.png").stat().st_size > 0
