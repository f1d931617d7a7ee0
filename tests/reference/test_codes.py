from customhouse.reference import codes


def test_hs_2022_subheadings_include_new_and_exclude_deleted_codes():
    subheadings = codes.hs_subheadings()
    assert len(subheadings) == 5613
    assert {"851713", "851714", "880622", "240411"} <= subheadings  # new in HS 2022
    assert "851712" not in subheadings  # split into 851713/851714 in HS 2022


def test_code_lists():
    assert "KR" in codes.countries() and "XX" not in codes.countries()
    assert {"USD", "KRW", "EUR"} <= codes.currencies()
    assert set(codes.transport_modes()) == set("0123456789")
    assert len(codes.incoterms()) == 11 and codes.incoterms()["CIF"] and not codes.incoterms()["FOB"]
    assert codes.offices()["KR000040"].unlocode == "KRPUS"
