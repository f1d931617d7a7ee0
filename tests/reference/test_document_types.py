from customhouse.reference import codes


def test_document_types_carry_their_uncl_1001_names():
    """Rows corrected against UNTDID D.96B, UNCL 1001 (github.com/gitpan/XML-Edifact, examples/codes.txt;
    D.01B definitions: github.com/funky-thunks/edi-parser, specification/src/Text/Edifact/D01B/Simples/
    S1001.hs). The list once called 706 a clean bill of lading, 812 an export licence, 856 a transit
    declaration, 865 an origin declaration on invoice and 935 a customs guarantee."""
    names = {code: name for code, (name, _) in codes.document_types().items()}
    assert names["706"] == "Bill of lading original"
    assert names["811"] == "Export licence"
    assert names["812"] == "Exchange control declaration, export"
    assert names["856"] == "Inspection certificate"
    assert names["950"] == "Goods declaration for Customs transit"
    assert names["862"] == "Declaration of origin"
    assert names["865"] == "Certificate of origin form GSP"
    assert names["935"] == "Customs invoice"
    assert names["430"] == "Banker's guarantee"


def test_corrected_codes_keep_the_categories_other_code_reads():
    categories = {code: category for code, (_, category) in codes.document_types().items()}
    assert categories["811"] == "licence"
    assert categories["862"] == categories["865"] == categories["861"] == "origin"
    assert categories["430"] == "guarantee"
    assert categories["935"] == "other"  # a customs invoice does not stand for the commercial invoice
