import hashlib

from ingestion import reference
from ingestion.sample import generate, months, park_row


def test_months_inclusive_across_years():
    assert months("2024-11", "2025-02") == ["2024-11", "2024-12", "2025-01", "2025-02"]


def test_same_arguments_same_bytes(tmp_path):
    a = generate(tmp_path / "a", "2025-09", "2025-09")
    b = generate(tmp_path / "b", "2025-09", "2025-09")
    assert len(a) == 14
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert [digest(x) for x in a] == [digest(y) for y in b]


def test_parks_fill_up_and_obey_the_rules():
    for park in reference.parks():
        aug, sep = park_row(park, "2025-08", 42), park_row(park, "2025-09", 42)
        assert sep["factory_built_10k_m2"] >= aug["factory_built_10k_m2"]
        assert sep["enterprises"] >= aug["enterprises"]
        for row in (aug, sep):
            assert row["factory_used_10k_m2"] <= row["factory_built_10k_m2"]
            assert row["above_scale_enterprises"] <= row["enterprises"]
    changsha = sum(park_row(p, "2025-09", 42)["tax_ytd_10k_cny"] for p in reference.parks_by_city()["430100"])
    others = max(sum(park_row(p, "2025-09", 42)["tax_ytd_10k_cny"] for p in ps)
                 for c, ps in reference.parks_by_city().items() if c != "430100")
    assert changsha > others  # Changsha dominates
